"""Mapping profiles: how a SQL LIS's tables map onto the canonical model (docs/profiles.md).

A profile is YAML, parsed here into frozen dataclasses and checked against the
model, so that a mistake is reported once, at load time, with the YAML path of
the offending key. Checking against the live source (tables and columns that
exist) is the connector's job, since it needs the connection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from airlock import model
from airlock.errors import ProfileError

CONVERTS = ("text", "date", "datetime", "digest", "family_name", "given_names")
#: Fields computed from other canonical fields rather than read from a column.
KINDS = ("column", "attribute", "part", "compose", "classify", "derive")
_REF = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class FieldMap:
    """How one canonical field is obtained."""

    kind: str
    source: str | tuple[str, ...]  # "table.column", attribute name, part name or canonical field names
    convert: str | None = None
    mapping: Mapping[str, str | None] | None = None
    default: str | None = None
    if_null: str | None = None
    nullif: str | None = None
    lookup: str | None = None
    separator: str = ":"


@dataclass(frozen=True)
class Join:
    table: str
    on: tuple[tuple[str, str], ...]  # (left "t.c", right "t.c") pairs, ANDed


@dataclass(frozen=True)
class Condition:
    column: str
    op: str  # not_empty


@dataclass(frozen=True)
class Packed:
    """A column packing one value per part (BLIS: one value per measure of the test type)."""

    column: str
    separator: str
    trailer: str
    group: str
    parts_from: str
    parts_joins: tuple[Join, ...]
    parts_group: str
    parts_order_by: str
    parts_fields: Mapping[str, FieldMap]


@dataclass(frozen=True)
class Attributes:
    """An entity-attribute-value table holding extra fields of an entity, one row per value."""

    table: str
    key: str
    attribute: str
    value: str
    names_table: str
    names_id: str
    names_name: str


@dataclass(frozen=True)
class EntityMap:
    entity: str
    table: str
    fields: Mapping[str, FieldMap]
    joins: tuple[Join, ...] = ()
    where: tuple[Condition, ...] = ()
    order_by: str = ""  # a column giving a stable order: runs checkpoint and resume by it
    distinct: bool = False
    packed: Packed | None = None
    attributes: Attributes | None = None


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    credentials: frozenset[str]
    entities: Mapping[str, EntityMap]
    codes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    sensitivity: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: The source can only dump everything (a legacy export): nothing is pushed into its queries,
    #: and the in-stream check alone keeps out what the mandate does not allow.
    full_export_only: bool = False

    def columns(self, entity: str) -> set[str]:
        """Every "table.column" the profile may read for ``entity`` (for checks against the source)."""
        e = self.entities[entity]
        refs = {f.source for f in e.fields.values() if f.kind == "column"}
        refs |= {a for j in e.joins for pair in j.on for a in pair}
        refs |= {c.column for c in e.where}
        if e.order_by:
            refs.add(e.order_by)
        if e.packed:
            p = e.packed
            refs |= {p.column, p.group, p.parts_group, p.parts_order_by}
            refs |= {f.source for f in p.parts_fields.values() if f.kind == "column"}
            refs |= {a for j in p.parts_joins for pair in j.on for a in pair}
        if e.attributes:
            a = e.attributes
            refs |= {f"{a.table}.{a.key}", f"{a.table}.{a.attribute}", f"{a.table}.{a.value}", f"{e.table}.{a.key}"}
            refs |= {f"{a.names_table}.{a.names_id}", f"{a.names_table}.{a.names_name}"}
        return refs  # type: ignore[return-value]


class _Reader:
    """Walks the YAML, naming the path of whatever is wrong."""

    def __init__(self, origin: str):
        self.origin = origin

    def fail(self, path: str, problem: str) -> ProfileError:
        return ProfileError(f"{self.origin}: {path}: {problem}")

    def ref(self, path: str, value: Any) -> str:
        if not isinstance(value, str) or not _REF.match(value):
            raise self.fail(path, "expected a column reference written table.column")
        return value

    def mapping(self, path: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, "expected a mapping")
        return value

    def joins(self, path: str, value: Any) -> tuple[Join, ...]:
        out = []
        for i, j in enumerate(value or []):
            j = self.mapping(f"{path}[{i}]", j)
            # YAML 1.1 reads a bare `on` key as the boolean true.
            on = self.mapping(f"{path}[{i}].on", j.get("on", j.get(True)))
            out.append(
                Join(
                    table=str(j.get("table") or self.fail(f"{path}[{i}]", "a join needs a table")),
                    on=tuple((self.ref(f"{path}[{i}].on", a), self.ref(f"{path}[{i}].on", b)) for a, b in on.items()),
                )
            )
        return tuple(out)

    def field(self, path: str, value: Any, allowed: tuple[str, ...] = KINDS) -> FieldMap:
        if isinstance(value, str):
            return FieldMap("column", self.ref(path, value))
        spec = self.mapping(path, value)
        kinds = [k for k in KINDS if k in spec]
        if len(kinds) != 1 or kinds[0] not in allowed:
            raise self.fail(path, f"say exactly one of {', '.join(allowed)}")
        kind = kinds[0]
        source = spec[kind]
        if kind == "column":
            source = self.ref(path, source)
        elif kind in ("compose", "classify"):
            source = tuple(source)
        convert = spec.get("convert")
        if convert is not None and convert not in CONVERTS:
            raise self.fail(f"{path}.convert", f"unknown conversion {convert!r}; use one of {', '.join(CONVERTS)}")
        mapping = spec.get("map")
        if mapping is not None:
            mapping = {str(k): (None if v is None else str(v)) for k, v in self.mapping(f"{path}.map", mapping).items()}
        return FieldMap(
            kind=kind,
            source=source,
            convert=convert,
            mapping=mapping,
            default=spec.get("default"),
            if_null=spec.get("null"),
            nullif=None if spec.get("nullif") is None else str(spec["nullif"]),
            lookup=spec.get("lookup"),
            separator=str(spec.get("separator", ":")),
        )


def parse(data: Any, origin: str) -> Profile:
    r = _Reader(origin)
    data = r.mapping("(top)", data)
    for key in ("name", "entities"):
        if key not in data:
            raise r.fail("(top)", f"missing key {key!r}")
    attributes = {
        name: Attributes(
            table=a["table"],
            key=a["key"],
            attribute=a["attribute"],
            value=a["value"],
            names_table=a["names"]["table"],
            names_id=a["names"]["id"],
            names_name=a["names"]["name"],
        )
        for name, a in r.mapping("attributes", data.get("attributes") or {}).items()
    }
    codes = {k: {str(a): str(b) for a, b in r.mapping(f"codes.{k}", v).items()} for k, v in (data.get("codes") or {}).items()}
    entities: dict[str, EntityMap] = {}
    for name, spec in r.mapping("entities", data["entities"]).items():
        path = f"entities.{name}"
        if name not in model.ENTITIES:
            raise r.fail(path, f"unknown entity; the model has {', '.join(model.ENTITIES)}")
        ent = model.ENTITIES[name]
        spec = r.mapping(path, spec)
        fields: dict[str, FieldMap] = {}
        for fname, fspec in r.mapping(f"{path}.fields", spec.get("fields")).items():
            if fname not in ent.field_names:
                raise r.fail(f"{path}.fields.{fname}", f"{name} has no such field; it has {', '.join(ent.field_names)}")
            fields[fname] = r.field(f"{path}.fields.{fname}", fspec)
            fm = fields[fname]
            if fm.lookup is not None and fm.lookup not in codes:
                raise r.fail(f"{path}.fields.{fname}.lookup", f"no code table {fm.lookup!r} under codes")
            if fm.kind == "attribute" and name not in attributes:
                raise r.fail(f"{path}.fields.{fname}", f"no attributes table declared for {name}")
        if ent.key not in fields:
            raise r.fail(f"{path}.fields", f"the key field {ent.key} must be mapped")
        packed = None
        if "packed" in spec:
            p = r.mapping(f"{path}.packed", spec["packed"])
            parts = r.mapping(f"{path}.packed.parts", p.get("parts"))
            packed = Packed(
                column=r.ref(f"{path}.packed.column", p.get("column")),
                separator=str(p.get("separator", ",")),
                trailer=str(p.get("trailer", "$^")),
                group=r.ref(f"{path}.packed.group", p.get("group")),
                parts_from=str(parts.get("from")),
                parts_joins=r.joins(f"{path}.packed.parts.joins", parts.get("joins")),
                parts_group=r.ref(f"{path}.packed.parts.group", parts.get("group")),
                parts_order_by=r.ref(f"{path}.packed.parts.order_by", parts.get("order_by")),
                parts_fields={
                    k: r.field(f"{path}.packed.parts.fields.{k}", v, allowed=("column",))
                    for k, v in r.mapping(f"{path}.packed.parts.fields", parts.get("fields")).items()
                },
            )
            try:
                re.compile(packed.trailer)
            except re.error as e:
                raise r.fail(f"{path}.packed.trailer", f"not a regular expression ({e})") from None
        for fname, fm in fields.items():
            if fm.kind == "part" and (packed is None or (fm.source != "value" and fm.source not in packed.parts_fields)):
                raise r.fail(f"{path}.fields.{fname}", f"no packed part named {fm.source!r}")
            if fm.kind in ("compose", "classify"):
                missing = [s for s in fm.source if s not in fields]
                if missing:
                    raise r.fail(f"{path}.fields.{fname}", f"needs fields that are not mapped: {', '.join(missing)}")
        em_table = str(spec.get("from") or r.fail(path, "missing 'from' (the source table)"))
        reachable = {em_table} | {j.table for j in r.joins(f"{path}.joins", spec.get("joins"))}
        credentials = set(data.get("credentials") or ())
        for fname, fm in fields.items():
            if fm.kind == "column" and fm.source in credentials:
                raise r.fail(f"{path}.fields.{fname}", f"{fm.source} is credential data (listed under credentials); no mapping may read it")
            if fm.kind == "column" and str(fm.source).split(".")[0] not in reachable:
                raise r.fail(f"{path}.fields.{fname}", f"table {str(fm.source).split('.')[0]} is neither the 'from' table nor joined")
        entities[name] = EntityMap(
            entity=name,
            table=em_table,
            fields=fields,
            joins=r.joins(f"{path}.joins", spec.get("joins")),
            where=tuple(
                Condition(r.ref(f"{path}.where[{i}]", c.get("column")), str(c.get("op")))
                for i, c in enumerate(spec.get("where") or [])
            ),
            order_by=r.ref(f"{path}.order_by", spec.get("order_by")),
            distinct=bool(spec.get("distinct", False)),
            packed=packed,
            attributes=attributes.get(name),
        )
    sensitivity = {str(k): tuple(v or ()) for k, v in (data.get("sensitivity") or {}).items()}
    bad_tags = {t for tags in sensitivity.values() for t in tags} - {s.value for s in model.Sensitivity}
    if bad_tags:
        raise r.fail("sensitivity", f"unknown tags {', '.join(sorted(bad_tags))}; use {', '.join(s.value for s in model.Sensitivity)}")
    return Profile(
        name=str(data["name"]),
        description=str(data.get("description", "")),
        credentials=frozenset(data.get("credentials") or ()),
        entities=entities,
        codes=codes,
        sensitivity=sensitivity,
        full_export_only=bool(data.get("full_export_only", False)),
    )


def load(name_or_path: str) -> Profile:
    """A built-in profile by name (``blis-1.27``) or a profile YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            text = path.read_text()
        except OSError as e:
            raise ProfileError(f"{path}: cannot read profile ({e.strerror})") from None
        origin = str(path)
    else:
        res = resources.files("airlock") / "profiles" / f"{name_or_path}.yaml"
        if not res.is_file():
            raise ProfileError(f"no built-in profile {name_or_path!r}; built-in: {', '.join(builtin())}, or give a YAML file")
        text, origin = res.read_text(), f"profile {name_or_path}"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(top)"
        raise ProfileError(f"{origin}: {where}: not valid YAML") from None
    return parse(data, origin)


def builtin() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in (resources.files("airlock") / "profiles").iterdir() if p.name.endswith(".yaml"))
