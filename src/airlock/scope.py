"""The scope compiler: a mandate's signed scope as extractions a source connector executes.

Default deny: an entity the mandate does not name yields no extraction, and
each extraction lists only the fields the mandate allows. Row predicates go
with the extraction; the connector pushes what it can into its query and
re-checks all of them in memory.
"""

from __future__ import annotations

from datetime import date, datetime, time

from airlock import model
from airlock.mandate.document import DateRange, Scope
from airlock.predicate import Extraction, Predicate


def _between(field: str, r: DateRange | None) -> list[Predicate]:
    if r is None:
        return []
    if r.first is not None and r.last is not None:
        return [Predicate(field, "between", (_start(r.first), _end(r.last)))]
    if r.first is not None:
        return [Predicate(field, "ge", _start(r.first))]
    if r.last is not None:
        return [Predicate(field, "le", _end(r.last))]
    return []


def _start(d: date) -> datetime:
    return datetime.combine(d, time.min)


def _end(d: date) -> datetime:
    return datetime.combine(d, time(23, 59, 59))


def predicates(scope: Scope, entity: str) -> tuple[Predicate, ...]:
    """The row predicates the scope puts on ``entity``."""
    out: list[Predicate] = []
    if entity in ("specimen", "result"):
        out += _between("collected_at", scope.collected)
    if entity == "result":
        out += _between("result_at", scope.resulted)
        if scope.test_codes.include is not None:
            out.append(Predicate("test_code", "in", tuple(scope.test_codes.include)))
        if scope.test_codes.exclude:
            out.append(Predicate("test_code", "not_in", tuple(scope.test_codes.exclude)))
        excluded = sorted(t.value for t in scope.excluded_sensitivity)
        if excluded:
            out.append(Predicate("sensitivity", "none_of", tuple(excluded)))
    if scope.sites is not None and entity in ("order", "specimen", "result"):
        out.append(Predicate("site_id", "in", tuple(scope.sites)))
    if entity == "site" and scope.sites is not None:
        out.append(Predicate("site_id", "in", tuple(scope.sites)))
    return tuple(out)


def compile_scope(scope: Scope) -> list[Extraction]:
    """One extraction per entity the scope names, in model (load) order."""
    return [
        Extraction(name, tuple(f for f in model.ENTITIES[name].field_names if f in scope.entities[name].fields), predicates(scope, name))
        for name in model.ENTITIES
        if name in scope.entities
    ]
