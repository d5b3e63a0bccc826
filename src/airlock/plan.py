"""The dry run: what a mandate's scope would extract from a source, and what it leaves behind and why.

Nothing is staged or written: the source is read batch by batch and only
counted. The plan has a digest (SHA-256 of its RFC 8785 canonical JSON) that a
run records and the controller approves.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow.compute as pc
import rfc8785

from airlock import model, predicate, scope
from airlock.mandate.document import Mandate
from airlock.predicate import Extraction, Predicate
from airlock.sources.sql import SqlSource


@dataclass
class EntityPlan:
    entity: str
    in_source: int
    extracted: int = 0
    #: Non-null values per delivered field.
    fields: dict[str, int] = field(default_factory=dict)
    #: Fields the source maps but the mandate does not allow (they stay in the source).
    not_allowed: list[str] = field(default_factory=list)
    #: Fields the mandate allows but the source does not have.
    unavailable: list[str] = field(default_factory=list)
    #: The row conditions, in words.
    conditions: list[str] = field(default_factory=list)
    #: Results per sensitive category in the rest of the scope: (in scope otherwise, extracted).
    sensitive: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class Plan:
    mandate: str
    mandate_digest: str
    source: str
    profile: str
    entities: list[EntityPlan]
    #: Entities the source has that the mandate does not name (nothing of them is extracted).
    not_named: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def digest(self) -> str:
        return hashlib.sha256(rfc8785.dumps(self.to_json())).hexdigest()


def describe(p: Predicate) -> str:
    if p.op == "in_extraction":
        sub: Extraction = p.value
        inner = "; ".join(describe(q) for q in sub.predicates) or "any"
        return f"{p.field} among the {sub.fields[0]} of {sub.entity} records where {inner}"
    value = p.value
    if p.op == "between":
        value = f"{value[0]:%Y-%m-%d} to {value[1]:%Y-%m-%d}"
    elif isinstance(value, tuple):
        value = ", ".join(map(str, value))
    elif hasattr(value, "strftime"):
        value = f"{value:%Y-%m-%d}"
    words = {"between": "from", "in": "in", "not_in": "not in", "none_of": "none of", "ge": "on or after", "le": "on or before", "eq": "is"}
    return f"{p.field} {words.get(p.op, p.op)} {value}"


def _count(source: SqlSource, extraction: Extraction) -> int:
    return sum(b.num_rows for b in source.stream(extraction))


def make_plan(source: SqlSource, mandate: Mandate) -> Plan:
    entities = []
    for ex in scope.compile_scope(mandate.scope):
        ent = model.entity(ex.entity)
        em = source.profile.entities[ex.entity]
        ep = EntityPlan(
            ex.entity,
            # Counted by the database where one source row is one record; packed rows unpack into several.
            in_source=source.count(Extraction(ex.entity, (ent.key,))) if em.packed is None else _count(source, Extraction(ex.entity, (ent.key,))),
            not_allowed=[f for f in em.fields if f not in ex.fields],
            unavailable=list(source.unmapped(ex)),
            conditions=[describe(p) for p in ex.predicates],
        )
        counts: Counter[str] = Counter()
        for batch in source.stream(ex):
            ep.extracted += batch.num_rows
            for name in batch.schema.names:
                counts[name] += batch.num_rows - batch.column(name).null_count
        ep.fields = dict(counts)
        if ex.entity == "result":
            ep.sensitive = _sensitive(source, ex)
        entities.append(ep)
    return Plan(
        mandate=f"{mandate.id} v{mandate.version}",
        mandate_digest=mandate.digest,
        source=source.description,
        profile=source.profile.name,
        entities=entities,
        not_named=[e for e in source.profile.entities if e not in mandate.scope.entities],
    )


def _sensitive(source: SqlSource, ex: Extraction) -> dict[str, dict[str, int]]:
    """Per tag: results the rest of the scope would take, and how many of them are extracted."""
    others = tuple(p for p in ex.predicates if p.field != "sensitivity")
    excluded = {t for p in ex.predicates if p.field == "sensitivity" for t in p.value}
    tagged: Counter[str] = Counter()
    taken: Counter[str] = Counter()
    kept = [Predicate("sensitivity", "none_of", tuple(sorted(excluded)))]
    for batch in source.stream(Extraction("result", ("result_id", "sensitivity"), others)):
        for counter, rows in ((tagged, batch), (taken, predicate.apply(batch, kept))):
            flat = pc.list_flatten(rows.column("sensitivity"))
            if len(flat):
                counts = pc.value_counts(flat)
                counter.update(dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist())))
    return {t: {"in_scope_otherwise": n, "extracted": taken[t]} for t, n in sorted(tagged.items())}

