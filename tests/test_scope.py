"""Scope enforcement on the real BLIS seed: pushdown equals full export, the guard stops what slips through."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airlock import model
from airlock.guard import ScopeGuard, ScopeViolation
from airlock.mandate.document import DateRange, EntityScope, Scope
from airlock.mandate.document import TestCodes as Codes  # not a test class
from airlock.scope import compile_scope
from airlock.sources import profile as profiles
from airlock.sources.sql import SqlSource
from airlock.vault import events

BLIS = profiles.load("blis-1.27")
TEST_CODES = ["9", "39", "41", "60", "61", "63", "71", "84", "86", "100"]


def full_scope(**row_rules) -> Scope:
    entities = {
        name: EntityScope(name, tuple(f for f in e.field_names if e.field(f).category is not model.Category.FREE_TEXT), {}, {})
        for name, e in model.ENTITIES.items()
    }
    return Scope(entities=entities, **row_rules)


def read_all(source: SqlSource, scope: Scope) -> dict[str, pa.Table]:
    return {ex.entity: pa.Table.from_batches(list(source.stream(ex))) for ex in compile_scope(scope)}


dates = st.dates(min_value=dt.date(2008, 6, 1), max_value=dt.date(2012, 6, 1))


@st.composite
def scopes(draw) -> Scope:
    first, last = sorted([draw(dates), draw(dates)])
    collected = draw(st.sampled_from([None, DateRange(first, last), DateRange(first, None), DateRange(None, last)]))
    exclude = tuple(draw(st.lists(st.sampled_from(TEST_CODES), max_size=3, unique=True)))
    include = draw(st.one_of(st.none(), st.lists(st.sampled_from(TEST_CODES), min_size=1, max_size=5, unique=True).map(tuple)))
    include = None if include is None else tuple(c for c in include if c not in exclude) or None
    opted = frozenset(draw(st.sets(st.sampled_from(list(model.Sensitivity)))))
    seen = draw(st.one_of(st.none(), dates))
    return full_scope(collected=collected, test_codes=Codes(include, exclude), sensitivity=opted, patients_seen_since=seen)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scope=scopes())
def test_pushdown_and_in_stream_guard_give_identical_output(blis_seed: str, scope: Scope) -> None:
    pushed = read_all(SqlSource(blis_seed, BLIS, on_bad_record="reject"), scope)
    dumped = read_all(SqlSource(blis_seed, BLIS, on_bad_record="reject", full_export_only=True), scope)
    for entity, table in pushed.items():
        key = model.entity(entity).key
        assert table.sort_by(key).equals(dumped[entity].sort_by(key)), entity


def test_default_deny_entities_and_fields(blis_seed: str) -> None:
    scope = Scope(entities={"patient": EntityScope("patient", ("patient_id", "birth_date"), {}, {})})
    out = read_all(SqlSource(blis_seed, BLIS), scope)
    assert list(out) == ["patient"] and out["patient"].column_names == ["patient_id", "birth_date"]


def test_guard_stops_what_the_compiler_would_let_through() -> None:
    scope = full_scope(collected=DateRange(dt.date(2010, 1, 1), dt.date(2010, 12, 31)))
    seen: list[events.SecurityEvent] = []
    unsubscribe = events.subscribe(seen.append)
    guard = ScopeGuard(scope, run_id="r1")
    try:
        ok = pa.record_batch({"result_id": ["1:2"], "collected_at": pa.array([dt.datetime(2010, 5, 1)], pa.timestamp("s"))})
        guard.check("result", ok)
        late = pa.record_batch({"result_id": ["1:2"], "collected_at": pa.array([dt.datetime(2011, 1, 1)], pa.timestamp("s"))})
        with pytest.raises(ScopeViolation, match=r"result\.collected_at: a date after"):
            guard.check("result", late)
        hiv = pa.record_batch({"result_id": ["1:2"], "sensitivity": pa.array([["hiv"]], pa.list_(pa.string()))})
        with pytest.raises(ScopeViolation, match=r"result\.sensitivity"):
            guard.check("result", hiv)
        narrow = Scope(entities={"patient": EntityScope("patient", ("patient_id",), {}, {})})
        with pytest.raises(ScopeViolation, match=r"patient\.nir: field not in the mandate's allow-list"):
            ScopeGuard(narrow).check("patient", pa.record_batch({"patient_id": ["1"], "nir": ["x"]}))
        with pytest.raises(ScopeViolation, match=r"does not name this entity"):
            ScopeGuard(narrow).check("result", ok)
    finally:
        unsubscribe()
    assert [e.kind for e in seen] == ["scope.violation"] * 4
    assert all(set(e.detail) == {"entity", "field", "rule"} for e in seen)
