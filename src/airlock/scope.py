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


def _cohort(scope: Scope) -> list[Predicate]:
    """Patients seen since a date: those with a specimen collected on or after it."""
    if scope.patients_seen_since is None:
        return []
    seen = Extraction("specimen", ("patient_id",), (Predicate("collected_at", "ge", _start(scope.patients_seen_since)),))
    return [Predicate("patient_id", "in_extraction", seen)]


def _sites(scope: Scope) -> list[Predicate]:
    return [] if scope.sites is None else [Predicate("site_id", "in", tuple(scope.sites))]


def predicates(scope: Scope, entity: str) -> tuple[Predicate, ...]:
    """The row predicates the scope puts on ``entity``.

    Specimens and results are selected by their own fields (collection and result dates, site, test,
    sensitivity) and by the patient cohort. Orders, patients and practitioners follow the specimens in
    scope, so that nothing is extracted about a person or a request the scope does not reach.
    """
    specimen = tuple(_between("collected_at", scope.collected) + _sites(scope) + _cohort(scope))
    if entity == "specimen":
        return specimen
    if entity == "result":
        out = _between("collected_at", scope.collected) + _between("result_at", scope.resulted)
        if scope.test_codes.include is not None:
            out.append(Predicate("test_code", "in", tuple(scope.test_codes.include)))
        if scope.test_codes.exclude:
            out.append(Predicate("test_code", "not_in", tuple(scope.test_codes.exclude)))
        excluded = sorted(t.value for t in scope.excluded_sensitivity)
        if excluded:
            out.append(Predicate("sensitivity", "none_of", tuple(excluded)))
        return tuple(out + _sites(scope) + _cohort(scope))
    if entity == "site":
        return tuple(_sites(scope))
    if not specimen:
        return ()
    if entity == "order":
        return (Predicate("order_id", "in_extraction", Extraction("specimen", ("order_id",), specimen)),)
    if entity == "patient":
        return (Predicate("patient_id", "in_extraction", Extraction("specimen", ("patient_id",), specimen)),)
    if entity == "practitioner":
        orders = Extraction("order", ("practitioner_id",), predicates(scope, "order"))
        return (Predicate("practitioner_id", "in_extraction", orders),)
    return ()


def compile_scope(scope: Scope) -> list[Extraction]:
    """One extraction per entity the scope names, in model (load) order."""
    return [
        Extraction(name, tuple(f for f in model.ENTITIES[name].field_names if f in scope.entities[name].fields), predicates(scope, name))
        for name in model.ENTITIES
        if name in scope.entities
    ]
