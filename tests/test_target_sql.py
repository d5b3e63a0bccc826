"""The canonical SQL target on SQLite and on the real PostgreSQL: what lands, and what never half-lands."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from airlock import dburl, model
from airlock.errors import TargetError
from airlock.predicate import Extraction
from airlock.sources import profile as profiles
from airlock.sources.sql import SqlSource
from airlock.targets.sql import SqlTarget

from conftest import query

PATIENT_FIELDS = ["birth_name", "sex", "birth_date"]  # the mandate left out NIR and contact data


def batch(entity: model.Entity, rows: dict[str, list]) -> pa.RecordBatch:
    return pa.record_batch(rows, schema=entity.projection(list(rows)))


SITES = batch(model.SITE, {"site_id": ["s1", "s2"], "name": ["Central lab", "L'annexe"]})
PATIENTS = batch(
    model.PATIENT,
    {
        "patient_id": ["p1", "p2", "p3"],
        "birth_name": ["Martin", None, "Durand"],
        "sex": ["female", "male", "unknown"],
        "birth_date": [date(1961, 2, 28), date(2001, 12, 31), None],
    },
)
ORDERS = batch(
    model.ORDER,
    {"order_id": ["o1", "o2"], "patient_id": ["p1", "p2"], "ordered_at": [datetime(2024, 3, 1, 8, 15, 30), None]},
)
SPECIMENS = batch(model.SPECIMEN, {"specimen_id": ["sp1"], "order_id": ["o1"], "patient_id": ["p1"]})
RESULT_FIELDS = ["specimen_id", "order_id", "patient_id", "sensitivity", "value_numeric", "collected_at"]


def results(ids: list[str], values: list[float | None], tags: list[list[str] | None]) -> pa.RecordBatch:
    n = len(ids)
    return batch(
        model.RESULT,
        {
            "result_id": ids,
            "order_id": ["o1"] * n,
            "specimen_id": ["sp1"] * n,
            "patient_id": ["p1"] * n,
            "collected_at": [datetime(2024, 3, 1, 7, 0, 0)] * n,
            "sensitivity": tags,
            "value_numeric": values,
        },
    )


RESULTS = [
    results(["r1", "r2"], [4.25, None], [["hiv", "sti"], []]),
    results(["r3"], [-0.001], [None]),
]
LOAD = [("site", SITES), ("patient", PATIENTS), ("order", ORDERS), ("specimen", SPECIMENS)] + [
    ("result", b) for b in RESULTS
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lab.db'}"
    make: Callable[[], str] = request.getfixturevalue("postgres_database")
    return make()


def load(url: str, batches: list[tuple[str, pa.RecordBatch]] = LOAD) -> SqlTarget:
    with SqlTarget(url) as target:
        for entity, b in batches:
            target.write(entity, b)
    return target



def lab_tables(url: str) -> list[str]:
    engine = dburl.engine(url)
    try:
        return sorted(t for t in sa.inspect(engine).get_table_names() if t.startswith("lab_"))
    finally:
        engine.dispose()


def test_counts_are_counted_in_the_target(target_url: str) -> None:
    target = load(target_url)
    delivered: dict[str, int] = {}
    for entity, b in LOAD:
        delivered[f"lab_{entity}"] = delivered.get(f"lab_{entity}", 0) + b.num_rows
    assert target.counts() == delivered
    assert {t: query(target_url, f"SELECT count(*) FROM {t}")[0][0] for t in lab_tables(target_url)} == delivered


def test_values_read_back_with_their_types(target_url: str) -> None:
    load(target_url)
    sqlite = target_url.startswith("sqlite")
    patients = query(target_url, "SELECT patient_id, birth_name, birth_date FROM lab_patient ORDER BY patient_id")
    orders = query(target_url, "SELECT order_id, ordered_at FROM lab_order ORDER BY order_id")
    result_rows = query(target_url, "SELECT result_id, value_numeric, sensitivity FROM lab_result ORDER BY result_id")
    if sqlite:  # ISO text and JSON, as documented
        assert patients == [("p1", "Martin", "1961-02-28"), ("p2", None, "2001-12-31"), ("p3", "Durand", None)]
        assert orders == [("o1", "2024-03-01 08:15:30"), ("o2", None)]
        result_rows = [(i, v, None if s is None else json.loads(s)) for i, v, s in result_rows]
        assert query(target_url, "SELECT date(birth_date, '+1 day') FROM lab_patient WHERE patient_id = 'p1'") == [("1961-03-01",)]
    else:
        assert patients == [("p1", "Martin", date(1961, 2, 28)), ("p2", None, date(2001, 12, 31)), ("p3", "Durand", None)]
        assert orders == [("o1", datetime(2024, 3, 1, 8, 15, 30)), ("o2", None)]
    assert result_rows == [("r1", 4.25, ["hiv", "sti"]), ("r2", None, []), ("r3", -0.001, None)]
    assert query(target_url, "SELECT name FROM lab_site WHERE site_id = 's2'") == [("L'annexe",)]


def test_tables_have_only_the_delivered_columns_a_key_and_reference_indexes(target_url: str) -> None:
    load(target_url)
    engine = dburl.engine(target_url)
    try:
        inspector = sa.inspect(engine)
        columns = {c["name"]: c for c in inspector.get_columns("lab_patient")}
        assert list(columns) == PATIENTS.schema.names
        assert not {"nir", "phone", "email", "address_line"} & set(columns)
        assert inspector.get_pk_constraint("lab_result")["constrained_columns"] == ["result_id"]
        assert [c["name"] for c in inspector.get_columns("lab_result")] == RESULTS[0].schema.names
        indexed = {tuple(i["column_names"]) for i in inspector.get_indexes("lab_result")}
        assert {("patient_id",), ("order_id",), ("specimen_id",)} <= indexed
        assert {tuple(i["column_names"]) for i in inspector.get_indexes("lab_specimen")} == {("order_id",), ("patient_id",)}
        if engine.dialect.name == "postgresql":
            assert columns["birth_date"]["comment"] == "identity: Date of birth"
            assert str(columns["birth_date"]["type"]) == "DATE"
            types = dict(query(target_url, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                                           " WHERE attrelid = 'lab_result'::regclass AND attnum > 0"))
            assert types["sensitivity"] == "text[]" and types["value_numeric"] == "double precision"
            assert types["collected_at"] == "timestamp without time zone"
    finally:
        engine.dispose()


def test_an_exception_inside_the_load_leaves_no_table(target_url: str) -> None:
    with pytest.raises(RuntimeError, match="stop"):
        with SqlTarget(target_url) as target:
            target.write("site", SITES)
            target.write("patient", PATIENTS)
            raise RuntimeError("stop")
    assert lab_tables(target_url) == []


@pytest.mark.parametrize("after", [False, True], ids=["last", "followed by another entity"])
def test_a_rejected_batch_rolls_back_what_was_written(target_url: str, after: bool) -> None:
    """PostgreSQL streams each table's COPY on a thread: its failure still names that entity, whether it
    shows at the end of the load or when the next entity starts."""
    duplicate = results(["r1", "r1"], [1.0, 2.0], [None, None])
    with pytest.raises(TargetError, match="result: cannot write to lab_result") as raised:
        load(target_url, [("site", SITES), ("result", duplicate)] + ([("patient", PATIENTS)] if after else []))
    assert "\n" not in str(raised.value)
    assert lab_tables(target_url) == []


def test_a_second_load_into_the_same_database_is_refused(target_url: str) -> None:
    load(target_url)
    with pytest.raises(TargetError, match=r"already has table lab_\w+; load into an empty database"):
        load(target_url, [("site", SITES)])
    assert query(target_url, "SELECT count(*) FROM lab_site")[0][0] == SITES.num_rows


def test_batches_must_be_projections_of_the_model(target_url: str) -> None:
    stray = pa.record_batch({"site_id": ["s1"], "password": ["x"]})
    with pytest.raises(TargetError, match="field password is not in the canonical model"):
        load(target_url, [("site", stray)])
    with pytest.raises(TargetError, match="every batch of an entity must have the same fields"):
        load(target_url, [("site", SITES), ("site", batch(model.SITE, {"site_id": ["s3"], "city": ["Lyon"]}))])
    assert lab_tables(target_url) == []


def test_unreachable_postgresql_is_one_line_without_password() -> None:
    started = time.monotonic()
    with pytest.raises(TargetError) as raised:
        with SqlTarget("postgresql://loader:s3cret@127.0.0.1:1/lab"):
            pass
    message = str(raised.value)
    assert time.monotonic() - started < 10
    assert "postgresql://loader:***@127.0.0.1:1/lab" in message and "s3cret" not in message
    assert "\n" not in message


def test_description_hides_the_password() -> None:
    assert SqlTarget("postgresql+psycopg://loader:s3cret@db:5432/lab").description == "postgresql://loader:***@db:5432/lab"


def test_other_databases_are_not_sql_targets() -> None:
    with pytest.raises(TargetError, match="use postgresql"):
        SqlTarget("mysql://root@127.0.0.1:3306/lab")
    with pytest.raises(TargetError, match="needs a file"):
        SqlTarget("sqlite://").__enter__()


def test_a_new_sqlite_file_is_private(tmp_path: Path) -> None:
    load(f"sqlite:///{tmp_path / 'lab.db'}", [("site", SITES)])
    assert stat.S_IMODE((tmp_path / "lab.db").stat().st_mode) == 0o600


def test_replace_swaps_a_previous_load_only_when_the_new_one_commits(target_url: str) -> None:
    load(target_url)
    again = [("site", batch(model.SITE, {"site_id": ["s9"], "city": ["Lyon"]}))]
    with pytest.raises(RuntimeError, match="stop"):
        with SqlTarget(target_url, replace=True) as target:
            target.write(*again[0])
            raise RuntimeError("stop")
    assert query(target_url, "SELECT count(*) FROM lab_result")[0][0] == sum(b.num_rows for b in RESULTS)
    with SqlTarget(target_url, replace=True) as target:
        target.write(*again[0])
    assert lab_tables(target_url) == ["lab_site"]
    assert query(target_url, "SELECT site_id, city FROM lab_site") == [("s9", "Lyon")]


def test_the_real_blis_seed_loads_whole(target_url: str, blis_seed: str) -> None:
    blis = profiles.load("blis-1.27")
    source = SqlSource(blis_seed, blis, on_bad_record="reject")  # the seed has a few malformed records
    delivered: dict[str, int] = {}
    with SqlTarget(target_url) as target:
        for entity in model.ENTITIES:
            fields = tuple(f for f in model.ENTITIES[entity].field_names if f in blis.entities[entity].fields)
            for b in source.stream(Extraction(entity, fields)):
                target.write(entity, b)
                delivered[f"lab_{entity}"] = delivered.get(f"lab_{entity}", 0) + b.num_rows
    assert target.counts() == delivered
    assert {t: query(target_url, f"SELECT count(*) FROM {t}")[0][0] for t in delivered} == delivered
    assert delivered["lab_result"] > 0 and delivered["lab_patient"] > 0


def test_replace_never_drops_a_table_airlock_did_not_make(target_url: str) -> None:
    load(target_url, [("site", SITES)])
    engine = dburl.engine(target_url)
    try:
        with engine.begin() as c:
            c.exec_driver_sql("CREATE TABLE lab_notes (note TEXT)")
    finally:
        engine.dispose()
    with pytest.raises(TargetError, match="already has table lab_notes"):
        with SqlTarget(target_url, replace=True) as target:
            target.write("site", SITES)
    assert lab_tables(target_url) == ["lab_notes", "lab_site"]
