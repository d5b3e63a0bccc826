"""The mandate as typed objects: who instructs whom, for what, on which data, until when.

Built only from a body that passed the JSON Schema (:mod:`airlock.mandate.schema`);
this module adds what a schema cannot say: entity and field names exist in the
canonical model (:mod:`airlock.model`), the hard limits hold
(:mod:`airlock.mandate.limits`), and the parts agree with each other (a
transformation names a field the scope extracts, a date range is not reversed).

Default deny: an entity not named in ``scope.entities`` is not extracted; a
field not listed in its ``fields`` is not extracted; a sensitive test category
not opted in under ``scope.sensitivity`` is excluded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pyarrow as pa
import pyrage
from stdnum.fr import siret as stdnum_siret

from airlock import model
from airlock.mandate.canonical import digest
from airlock.mandate.errors import MandateError
from airlock.mandate.limits import credential_reason
from airlock.mandate.schema import read_body


class FreeTextPolicy(StrEnum):
    """What happens to a free-text field (comments may say anything, including diagnoses)."""

    DROP = "drop"  # delivered empty
    KEEP = "keep"  # delivered as written
    REDACT = "redact"  # health terms and direct identifiers replaced before the text reaches the target


class Transformation(StrEnum):
    """A change applied to a field before it reaches the target (staged data stays encrypted)."""

    PSEUDONYMISE = "pseudonymise"  # keyed hash: joins still work, the value cannot be read back
    BIRTH_YEAR = "birth_year"  # a birth date reduced to its year (delivered as 1 January)
    DROP = "drop"  # delivered empty


class Channel(StrEnum):
    DATABASE = "database"  # written straight into the target LIS database
    FILES = "files"  # age-encrypted files for the recipient's key


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    phone: str | None = None


@dataclass(frozen=True)
class Controller:
    """The laboratory: decides purpose and means (GDPR Art. 4(7))."""

    name: str
    address: str
    dpo: Person
    siret: str | None = None
    finess: str | None = None


@dataclass(frozen=True)
class Processor:
    """Who moves the data on the controller's instruction (GDPR Art. 28)."""

    name: str
    address: str
    contact: Person


@dataclass(frozen=True)
class System:
    name: str
    kind: str
    description: str = ""


@dataclass(frozen=True)
class SubProcessor:
    name: str
    country: str
    role: str


@dataclass(frozen=True)
class Delivery:
    channel: Channel
    recipient: str | None = None  # age public key (age1...) for channel "files"


@dataclass(frozen=True)
class DateRange:
    """Inclusive dates; an open end is None."""

    first: dt.date | None
    last: dt.date | None

    def __contains__(self, day: dt.date) -> bool:
        return (self.first is None or self.first <= day) and (self.last is None or day <= self.last)


@dataclass(frozen=True)
class TestCodes:
    """Local test codes: ``include`` None means every test (still subject to sensitivity)."""

    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntityScope:
    """What of one canonical entity may leave the source: its fields (key included) and their treatment."""

    entity: str
    fields: tuple[str, ...]
    free_text: Mapping[str, FreeTextPolicy]
    transformations: Mapping[str, Transformation]


@dataclass(frozen=True)
class Scope:
    """The signed scope: entities and fields (default deny) and the row predicates."""

    entities: Mapping[str, EntityScope]
    collected: DateRange | None = None  # specimen collection date
    resulted: DateRange | None = None  # result date
    sites: tuple[str, ...] | None = None  # site ids; None = every site
    test_codes: TestCodes = TestCodes()
    sensitivity: frozenset[model.Sensitivity] = frozenset()  # opted in
    patients_seen_since: dt.date | None = None  # cohort: a specimen collected on/after
    source_fields: tuple[str, ...] = ()  # raw source columns requested, credentials refused

    @property
    def excluded_sensitivity(self) -> frozenset[model.Sensitivity]:
        """Sensitive test categories whose results must not leave the source."""
        return frozenset(model.Sensitivity) - self.sensitivity


@dataclass(frozen=True)
class Mandate:
    """A parsed, checked mandate; not necessarily signed (see :func:`airlock.mandate.verify_mandate`)."""

    body: Mapping[str, Any]  # JSON-compatible, exactly what is signed
    id: str
    version: int
    predecessor: str | None
    controller: Controller
    processor: Processor
    purpose: str
    source: System
    target: System
    scope: Scope
    deadline: dt.date
    grace_days: int
    sub_processors: tuple[SubProcessor, ...]
    delivery: Delivery
    path: Path | None = None

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the canonical body: names this exact version."""
        return digest(dict(self.body))

    @classmethod
    def from_body(cls, body: dict[str, Any], path: Path | None = None) -> "Mandate":
        """The typed mandate of a schema-valid body; MandateError naming the YAML path otherwise."""
        where = f"{path}: " if path else ""

        def fail(at: str, problem: str) -> MandateError:
            return MandateError(f"{where}{at}: {problem}")

        c, p, s = body["controller"], body["processor"], body["scope"]
        if "siret" in c and not stdnum_siret.is_valid(c["siret"]):
            raise fail("controller.siret", "is not a valid SIRET (check digit); copy it from the lab's Kbis or INSEE notice")
        recipient = body["delivery"].get("recipient")
        if recipient is not None:
            try:
                pyrage.x25519.Recipient.from_str(recipient)
            except Exception:  # pyrage raises its own untyped errors for a malformed key
                raise fail("delivery.recipient", "is not a valid age public key (age1...); ask the recipient for it") from None
        return cls(
            body=MappingProxyType(body),
            id=body["id"],
            version=body["version"],
            predecessor=body.get("predecessor"),
            controller=Controller(c["name"], c["address"], Person(**c["dpo"]), c.get("siret"), c.get("finess")),
            processor=Processor(p["name"], p["address"], Person(**p["contact"])),
            purpose=body["purpose"],
            source=System(**body["source"]),
            target=System(**body["target"]),
            scope=_scope(s, fail),
            deadline=dt.date.fromisoformat(body["deadline"]),
            grace_days=body.get("grace_days", 0),
            sub_processors=tuple(SubProcessor(**x) for x in body.get("sub_processors", ())),
            delivery=Delivery(Channel(body["delivery"]["channel"]), recipient),
            path=path,
        )


def load_mandate(path: Path | str) -> Mandate:
    """Read, schema-check, model-check and hard-limit-check the mandate at ``path`` (signed or not)."""
    path = Path(path)
    return Mandate.from_body(read_body(path), path)


def _range(data: dict[str, str] | None, at: str, fail) -> DateRange | None:
    if data is None:
        return None
    first, last = (dt.date.fromisoformat(data[k]) if k in data else None for k in ("from", "to"))
    if first and last and first > last:
        raise fail(at, "'from' is after 'to'; both dates are inclusive")
    return DateRange(first, last)


def _entity(name: str, data: dict[str, Any], fail) -> EntityScope:
    entity = model.entity(name)
    at = f"scope.entities.{name}"
    for i, field in enumerate(data["fields"]):
        if field not in entity.field_names:
            raise fail(f"{at}.fields[{i}]", f"{name} has no field {field!r}; valid fields: {', '.join(entity.field_names)} (docs/model.md)")
    if entity.key not in data["fields"]:
        raise fail(f"{at}.fields", f"must list the key {entity.key}: every delivered {name} record carries it")
    for field in data["fields"]:
        if entity.field(field).category is model.Category.CREDENTIAL:
            raise fail(f"{at}.fields", f"{name}.{field} is credential data; no mandate can authorise extracting it (hard limit)")
    listed = set(data["fields"])
    free = {f for f in listed if entity.field(f).category is model.Category.FREE_TEXT}
    policies = data.get("free_text", {})
    for field in policies:
        if field not in free:
            raise fail(f"{at}.free_text.{field}", f"is not a free-text field listed in {at}.fields; free-text fields of {name}: "
                       f"{', '.join(f.name for f in entity.fields if f.category is model.Category.FREE_TEXT) or 'none'}")
    if missing := sorted(free - set(policies)):
        raise fail(f"{at}.free_text", f"says nothing about {missing[0]}; a free-text field needs a policy: drop, keep or redact")
    changes = data.get("transformations", {})
    for field, how in changes.items():
        here = f"{at}.transformations.{field}"
        if field not in listed:
            raise fail(here, f"names a field not listed in {at}.fields")
        if field in free:
            raise fail(here, f"{field} is free text: give its policy under {at}.free_text instead")
        if field == entity.key and how != Transformation.PSEUDONYMISE:
            raise fail(here, f"the key {field} can only be pseudonymised, records must stay distinct")
        type_ = entity.field(field).type
        if how == Transformation.BIRTH_YEAR and not pa.types.is_date(type_):
            raise fail(here, "birth_year applies to a date field (patient.birth_date)")
        if how == Transformation.PSEUDONYMISE and not pa.types.is_string(type_):
            raise fail(here, "pseudonymise applies to a text field (an id, a name, a NIR)")
    return EntityScope(
        entity=name,
        fields=tuple(data["fields"]),
        free_text=MappingProxyType({f: FreeTextPolicy(v) for f, v in policies.items()}),
        transformations=MappingProxyType({f: Transformation(v) for f, v in changes.items()}),
    )


def _scope(s: dict[str, Any], fail) -> Scope:
    # Model order, so that consumers see entities in load order whatever the YAML order.
    entities = {name: _entity(name, s["entities"][name], fail) for name in model.ENTITIES if name in s["entities"]}
    for i, column in enumerate(s.get("source_fields", ())):
        if reason := credential_reason(column):
            raise fail(f"scope.source_fields[{i}]", reason)
    codes = s.get("test_codes", {})
    if overlap := set(codes.get("include", ())) & set(codes.get("exclude", ())):
        raise fail("scope.test_codes", f"{', '.join(sorted(overlap))} both included and excluded")
    seen = s.get("patients", {}).get("seen_since")
    return Scope(
        entities=MappingProxyType(entities),
        collected=_range(s.get("collected"), "scope.collected", fail),
        resulted=_range(s.get("resulted"), "scope.resulted", fail),
        sites=tuple(s["sites"]) if "sites" in s else None,
        test_codes=TestCodes(tuple(codes["include"]) if "include" in codes else None, tuple(codes.get("exclude", ()))),
        sensitivity=frozenset(model.Sensitivity(t) for t in s.get("sensitivity", ())),
        patients_seen_since=dt.date.fromisoformat(seen) if seen else None,
        source_fields=tuple(s.get("source_fields", ())),
    )
