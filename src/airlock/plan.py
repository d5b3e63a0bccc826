"""The dry run: what a mandate's scope would extract from a source, and what it leaves behind and why.

Nothing is staged or written, and no record leaves the source: the database
counts (``COUNT`` with the scope pushed down, :meth:`SqlSource.census`). Only a
source that cannot filter (full export only) is read batch by batch and counted.
The plan has a digest (SHA-256 of its RFC 8785 canonical JSON) that a run
records and the controller approves.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
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
    #: The fields delivered (their values are counted per field in the scope report, once extracted).
    fields: list[str] = field(default_factory=list)
    #: Fields the source maps but the mandate does not allow (they stay in the source).
    not_allowed: list[str] = field(default_factory=list)
    #: Fields the mandate allows but the source does not have.
    unavailable: list[str] = field(default_factory=list)
    #: The row conditions, in words.
    conditions: list[str] = field(default_factory=list)
    #: Results per sensitive category in the rest of the scope: (in scope otherwise, extracted).
    sensitive: dict[str, dict[str, int]] = field(default_factory=dict)
    #: False when the counts are upper bounds (see SqlSource.census): the extraction then counts exactly.
    exact: bool = True


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


def make_plan(source: SqlSource, mandate: Mandate) -> Plan:
    source.check()
    extractions = scope.compile_scope(mandate.scope)
    # The database counts every entity at once, one connection each: the longest count sets the plan's time
    # (BLIS results at 500,000 patients), not the sum of them.
    with ThreadPoolExecutor(max_workers=len(extractions) or 1, thread_name_prefix="airlock-plan") as pool:
        entities = list(pool.map(lambda ex: _entity_plan(source, ex), extractions))
    return Plan(
        mandate=f"{mandate.id} v{mandate.version}",
        mandate_digest=mandate.digest,
        source=source.description,
        profile=source.profile.name,
        entities=entities,
        not_named=[e for e in source.profile.entities if e not in mandate.scope.entities],
    )


def _entity_plan(source: SqlSource, ex: Extraction) -> EntityPlan:
    em = source.profile.entities[ex.entity]
    ep = EntityPlan(
        ex.entity,
        in_source=0,
        fields=[f for f in ex.fields if f in em.fields],
        not_allowed=[f for f in em.fields if f not in ex.fields],
        unavailable=list(source.unmapped(ex)),
        conditions=[describe(p) for p in ex.predicates],
    )
    counted = source.census(ex)
    if counted is not None:
        ep.in_source, ep.extracted, ep.exact = counted.in_source, counted.rows, counted.exact
        ep.sensitive = {t: {"in_scope_otherwise": a, "extracted": b} for t, (a, b) in counted.tags.items()}
    else:
        # Only reading the records can tell (a full-export-only source): exact, and as slow as an extraction.
        ep.in_source = sum(b.num_rows for b in source.stream(Extraction(ex.entity, (model.entity(ex.entity).key,))))
        ep.extracted = sum(b.num_rows for b in source.stream(ex))
        if ex.entity == "result":
            ep.sensitive = _sensitive(source, ex)
    return ep


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

