"""The independent scope check: every batch, after transformation, is checked against the signed scope.

This module reads the mandate's scope directly and shares no code with the
scope compiler (:mod:`airlock.scope`), the predicates (:mod:`airlock.predicate`)
or the source connector: a bug there that lets an out-of-scope row or field
through is caught here, before the batch is written anywhere. A violation stops
the run with :class:`ScopeViolation` and emits a ``scope.violation`` security
event; nothing of the offending batch is written.
"""

from __future__ import annotations

from datetime import datetime, time

import pyarrow as pa
import pyarrow.compute as pc

from airlock.errors import AirlockError
from airlock.mandate.document import DateRange, FreeTextPolicy, Scope, Transformation
from airlock.vault.events import SecurityEvent, emit


class ScopeViolation(AirlockError):
    """A batch holds something the mandate does not allow; names entity and field, never values."""


class ScopeGuard:
    def __init__(self, scope: Scope, run_id: str = ""):
        self.scope = scope
        self.run_id = run_id

    def check(self, entity: str, batch: pa.RecordBatch) -> None:
        problem = self._problem(entity, batch)
        if problem is not None:
            field, what = problem
            emit(SecurityEvent("scope.violation", self.run_id, {"entity": entity, "field": field, "rule": what}))
            raise ScopeViolation(f"scope violation in {entity}.{field}: {what}; the run is stopped and this batch was not written")

    def _problem(self, entity: str, batch: pa.RecordBatch) -> tuple[str, str] | None:
        allowed = self.scope.entities.get(entity)
        if allowed is None:
            return "*", "the mandate does not name this entity"
        for f in batch.schema:
            if f.name not in allowed.fields:
                return f.name, "field not in the mandate's allow-list"
            if (f.metadata or {}).get(b"category") == b"credential":
                return f.name, "credential data (hard limit)"
        emptied = {n for n, p in allowed.free_text.items() if p is FreeTextPolicy.DROP}
        emptied |= {n for n, t in allowed.transformations.items() if t is Transformation.DROP}
        for name in emptied & set(batch.schema.names):
            if batch.column(name).null_count != batch.num_rows:
                return name, "field the mandate drops carries values"
        if batch.num_rows == 0:
            return None
        checks: list[tuple[str, str | None]] = []
        if entity in ("specimen", "result"):
            checks.append(("collected_at", _outside(batch, "collected_at", self.scope.collected)))
        if entity == "result":
            checks.append(("result_at", _outside(batch, "result_at", self.scope.resulted)))
            checks.append(("test_code", self._tests(batch)))
            checks.append(("sensitivity", self._sensitivity(batch)))
        if self.scope.sites is not None and entity in ("site", "order", "specimen", "result"):
            checks.append(("site_id", _not_among(batch, "site_id", self.scope.sites)))
        for field, what in checks:
            if what:
                return field, what
        return None

    def _tests(self, batch: pa.RecordBatch) -> str | None:
        codes = self.scope.test_codes
        if codes.include is not None:
            bad = _not_among(batch, "test_code", codes.include)
            if bad:
                return bad
        if codes.exclude and "test_code" in batch.schema.names:
            if pc.any(pc.is_in(batch.column("test_code"), value_set=pa.array(list(codes.exclude), pa.string()))).as_py():
                return "an excluded test"
        return None

    def _sensitivity(self, batch: pa.RecordBatch) -> str | None:
        if "sensitivity" not in batch.schema.names:
            # Without the tags the guard cannot tell; the connector always computes them for results.
            return None
        excluded = pa.array(sorted(t.value for t in self.scope.excluded_sensitivity), pa.string())
        if len(excluded) and pc.any(pc.is_in(pc.list_flatten(batch.column("sensitivity")), value_set=excluded)).as_py():
            return "a result of a sensitive category the mandate does not opt in"
        return None


def _outside(batch: pa.RecordBatch, field: str, r: DateRange | None) -> str | None:
    if r is None or field not in batch.schema.names:
        return None
    column = batch.column(field)
    if column.null_count == len(column):
        return "dates missing where the mandate sets a range"
    bounds = pc.min_max(column)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if r.first is not None and (column.null_count or low < datetime.combine(r.first, time.min)):
        return "a date before the mandate's range (or none)"
    if r.last is not None and (column.null_count or high > datetime.combine(r.last, time.max)):
        return "a date after the mandate's range (or none)"
    return None


def _not_among(batch: pa.RecordBatch, field: str, allowed: tuple[str, ...] | list[str]) -> str | None:
    if field not in batch.schema.names:
        return None
    column = batch.column(field)
    inside = pc.is_in(column, value_set=pa.array(list(allowed), pa.string()))
    if column.null_count or not pc.all(inside).as_py():
        return f"a value outside the mandate's {field.replace('_id', '')}s"
    return None

