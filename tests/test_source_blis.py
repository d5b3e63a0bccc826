"""The SQL source on the real C4G BLIS 1.27 seed: counts against independent SQL, records field by field, bad input."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from airlock import dburl, model
from airlock.errors import ProfileError, RecordError, SourceError
from airlock.predicate import Extraction, Predicate
from airlock.sources import profile as profiles
from airlock.sources.sql import Rejected, SqlSource

from conftest import load_mysql_dump
from conftest import query as sql

BLIS = profiles.load("blis-1.27")
NO_CLASSIFY = {"sensitivity"}  # classification has its own tests; keep these independent of it


def everything(entity: str) -> Extraction:
    return Extraction(entity, tuple(f for f in BLIS.entities[entity].fields if f not in NO_CLASSIFY))


def read(source: SqlSource, extraction: Extraction) -> pa.Table:
    return pa.Table.from_batches(list(source.stream(extraction)))



# Results per measure computed in SQL alone: the n-th comma-separated value of test.result belongs to the
# n-th measure of the test type in measure_id order; a well-formed result has one comma per measure
# (the values, then the checksum trailer).
RESULTS_PER_MEASURE = """
WITH m AS (
  SELECT test_type_id, measure_id,
         ROW_NUMBER() OVER (PARTITION BY test_type_id ORDER BY measure_id) AS pos,
         COUNT(*) OVER (PARTITION BY test_type_id) AS nm
  FROM test_type_measure)
SELECT m.measure_id, COUNT(*)
FROM test t JOIN m ON m.test_type_id = t.test_type_id
WHERE t.result <> ''
  AND LENGTH(t.result) - LENGTH(REPLACE(t.result, ',', '')) = m.nm
  AND TRIM(SUBSTRING_INDEX(SUBSTRING_INDEX(t.result, ',', m.pos), ',', -1)) <> ''
GROUP BY m.measure_id
"""


@pytest.fixture(scope="module")
def seed_source(blis_seed: str) -> SqlSource:
    return SqlSource(blis_seed, BLIS, on_bad_record="reject", batch_rows=2000)


def test_counts_match_independent_sql(seed_source: SqlSource, blis_seed: str) -> None:
    (patients,), = sql(blis_seed, "SELECT COUNT(*) FROM patient")
    (specimens,), = sql(blis_seed, "SELECT COUNT(*) FROM specimen")
    (doctors,), = sql(blis_seed, "SELECT COUNT(DISTINCT doctor) FROM specimen WHERE doctor <> ''")
    assert read(seed_source, everything("patient")).num_rows == patients
    assert read(seed_source, everything("specimen")).num_rows == specimens
    assert read(seed_source, everything("order")).num_rows == specimens
    assert read(seed_source, everything("practitioner")).num_rows == doctors

    results = read(seed_source, everything("result"))
    expected = {str(measure): n for measure, n in sql(blis_seed, RESULTS_PER_MEASURE)}
    got = results.group_by("measure_code").aggregate([("result_id", "count")])
    assert dict(zip(got["measure_code"].to_pylist(), got["result_id_count"].to_pylist())) == expected
    # Tests: every well-formed non-empty test is one report.
    (tests,), = sql(
        blis_seed,
        "SELECT COUNT(*) FROM test t JOIN (SELECT test_type_id, COUNT(*) nm FROM test_type_measure GROUP BY 1) m "
        "USING (test_type_id) WHERE t.result <> '' AND LENGTH(t.result) - LENGTH(REPLACE(t.result, ',', '')) = m.nm "
        "AND t.result REGEXP '[^,]+,'",
    )
    assert len(set(results["report_id"].to_pylist())) == tests
    assert len(set(results["result_id"].to_pylist())) == results.num_rows


def test_malformed_packed_result_is_named_and_quarantined(blis_seed: str) -> None:
    rejects: list[Rejected] = []
    read(SqlSource(blis_seed, BLIS, on_bad_record="reject", on_reject=rejects.append), everything("result"))
    bad = sql(
        blis_seed,
        "SELECT t.test_id FROM test t JOIN (SELECT test_type_id, COUNT(*) nm FROM test_type_measure GROUP BY 1) m "
        "USING (test_type_id) WHERE t.result <> '' AND LENGTH(t.result) - LENGTH(REPLACE(t.result, ',', '')) <> m.nm",
    )
    assert bad, "the real seed has a malformed packed result; this test relies on it"
    assert sorted(r.key for r in rejects) == sorted(str(t) for (t,) in bad)

    strict = SqlSource(blis_seed, BLIS)
    with pytest.raises(RecordError) as e:
        read(strict, everything("result"))
    message = str(e.value)
    assert "\n" not in message and f"result {bad[0][0]}" in message and "--on-bad-record reject" in message


def test_records_field_by_field(seed_source: SqlSource, blis_seed: str) -> None:
    patients = read(seed_source, everything("patient")).to_pylist()
    by_id = {p["patient_id"]: p for p in patients}
    for pid, name, sex, dob, surr in sql(blis_seed, "SELECT patient_id, name, sex, dob, surr_id FROM patient ORDER BY patient_id LIMIT 5"):
        p = by_id[str(pid)]
        assert f"{p['first_names']} {p['birth_name']}" == name
        assert p["sex"] == {"M": "male", "F": "female"}[sex]
        assert p["birth_date"] == dob
        assert p["local_identifier"] == surr

    specimens = {s["specimen_id"]: s for s in read(seed_source, everything("specimen")).to_pylist()}
    for sid, pid, collected, type_name in sql(
        blis_seed,
        "SELECT s.specimen_id, s.patient_id, s.date_collected, st.name FROM specimen s "
        "JOIN specimen_type st USING (specimen_type_id) ORDER BY s.specimen_id DESC LIMIT 5",
    ):
        s = specimens[str(sid)]
        assert s["patient_id"] == str(pid)
        assert s["collected_at"] == datetime.combine(collected, datetime.min.time())
        assert s["type_name"] == type_name

    # A full blood count: seven measures unpacked in measure_id order, with units, ranges and LOINC codes.
    (test_id, packed), = sql(blis_seed, "SELECT test_id, result FROM test WHERE test_type_id = 39 AND result <> '' ORDER BY test_id LIMIT 1")
    values = packed.split(",")[:-1]
    measures = sql(blis_seed, "SELECT m.measure_id, m.name, m.unit FROM test_type_measure JOIN measure m USING (measure_id) WHERE test_type_id = 39 ORDER BY m.measure_id")
    results = read(seed_source, Extraction("result", everything("result").fields, (Predicate("report_id", "eq", str(test_id)),)))
    rows = {r["measure_code"]: r for r in results.to_pylist()}
    for value, (measure_id, name, unit) in zip(values, measures):
        r = rows[str(measure_id)]
        assert (r["value_text"], r["measure_name"], r["unit"]) == (value, name, unit or None)
        assert r["value_numeric"] == float(value) and r["value_type"] == "numeric"
    assert rows["2"]["loinc"] == "6690-2" and rows["34"]["loinc"] == "718-7"


def test_pushdown_and_full_export_agree(blis_seed: str) -> None:
    scope = Extraction(
        "result",
        ("result_id", "test_code", "collected_at", "value_text"),
        (
            Predicate("collected_at", "between", (datetime(2010, 1, 1), datetime(2010, 12, 31, 23, 59, 59))),
            Predicate("test_code", "not_in", ("41", "42", "43", "44")),
        ),
    )
    pushed = read(SqlSource(blis_seed, BLIS, on_bad_record="reject"), scope)
    dumped = read(SqlSource(blis_seed, BLIS, on_bad_record="reject", full_export_only=True), scope)
    assert pushed.num_rows > 0
    assert pushed.column_names == dumped.column_names == ["result_id", "collected_at", "test_code", "value_text"]
    assert sorted(pushed["result_id"].to_pylist()) == sorted(dumped["result_id"].to_pylist())
    assert all(datetime(2010, 1, 1) <= d <= datetime(2010, 12, 31, 23, 59, 59) for d in pushed["collected_at"].to_pylist())
    assert not {"41", "42", "43", "44"} & set(pushed["test_code"].to_pylist())


def test_queries_name_their_columns(seed_source: SqlSource) -> None:
    em = BLIS.entities["patient"]
    query, _ = seed_source._query(em, {"patient_id", "birth_date"}, [])
    assert "*" not in query and "name" not in query.lower().replace("field_name", "")
    assert "password" not in query


def bad_profile(tmp_path: Path, edit) -> str:
    data = yaml.safe_load((Path(profiles.__file__).parents[1] / "profiles" / "blis-1.27.yaml").read_text())
    edit(data)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return str(path)


def test_profile_naming_a_missing_column_or_table(tmp_path: Path, blis_seed: str) -> None:
    def missing_column(d):
        d["entities"]["patient"]["fields"]["birth_date"] = {"column": "patient.birthday", "convert": "date"}

    def missing_table(d):
        d["entities"]["site"]["from"] = "labsites"
        d["entities"]["site"]["order_by"] = "labsites.id"
        for name, spec in d["entities"]["site"]["fields"].items():
            ref = spec["column"] if isinstance(spec, dict) else spec
            d["entities"]["site"]["fields"][name] = ref.replace("sites.", "labsites.") if isinstance(spec, str) else {**spec, "column": ref.replace("sites.", "labsites.")}

    def unjoined_table(d):
        d["entities"]["patient"]["fields"]["birth_name"] = "specimen.doctor"

    with pytest.raises(ProfileError, match=r"column patient\.birthday does not exist in the source"):
        SqlSource(blis_seed, profiles.load(bad_profile(tmp_path, missing_column))).check()
    with pytest.raises(ProfileError, match=r"table labsites does not exist"):
        SqlSource(blis_seed, profiles.load(bad_profile(tmp_path, missing_table))).check()
    with pytest.raises(ProfileError, match=r"fields\.birth_name: table specimen is neither the 'from' table nor joined"):
        profiles.load(bad_profile(tmp_path, unjoined_table))


def test_profile_mapping_a_credential_is_refused(tmp_path: Path) -> None:
    def password_as_name(d):
        d["entities"]["practitioner"]["joins"] = [{"table": "user", "on": {"specimen.user_id": "user.user_id"}}]
        d["entities"]["practitioner"]["fields"]["name"] = "user.password"

    with pytest.raises(ProfileError, match=r"fields\.name: user\.password is credential data"):
        profiles.load(bad_profile(tmp_path, password_as_name))


def test_profile_errors_name_the_yaml_path(tmp_path: Path) -> None:
    def unknown_field(d):
        d["entities"]["patient"]["fields"]["shoe_size"] = "patient.age"

    with pytest.raises(ProfileError, match=r"entities\.patient\.fields\.shoe_size: patient has no such field"):
        profiles.load(bad_profile(tmp_path, unknown_field))


def test_unreachable_database_is_one_line() -> None:
    with pytest.raises(SourceError) as e:
        SqlSource("mysql://root:secret@127.0.0.1:1/blis", BLIS).check()
    assert "\n" not in str(e.value) and "secret" not in str(e.value) and "127.0.0.1:1" in str(e.value)


def test_zero_dates_are_null_and_malformed_dates_named(mariadb_database, shared_data: Path) -> None:
    url = mariadb_database()
    name = dburl.parse(url).database
    load_mysql_dump(name, shared_data / "blis" / "structure.sql")
    engine = dburl.engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'")
        c.exec_driver_sql("INSERT INTO patient (patient_id, name, sex, dob) VALUES (1, 'Ann Lee', 'F', '1980-02-03')")
        c.exec_driver_sql("INSERT INTO specimen (specimen_id, patient_id, specimen_type_id, date_collected, daily_num) VALUES (10, 1, 1, '0000-00-00', '')")
        c.exec_driver_sql("INSERT INTO specimen (specimen_id, patient_id, specimen_type_id, date_collected, daily_num) VALUES (11, 1, 1, '2019-00-12', '')")
    engine.dispose()
    with pytest.raises(RecordError) as e:
        read(SqlSource(url, BLIS), everything("specimen"))
    assert str(e.value).startswith("specimen 11: field collected_at: not a valid date in specimen.date_collected")
    assert "2019" not in str(e.value)

    rejects: list[Rejected] = []
    rows = read(SqlSource(url, BLIS, on_bad_record="reject", on_reject=rejects.append), everything("specimen")).to_pylist()
    assert [(r["specimen_id"], r["collected_at"]) for r in rows] == [("10", None)]  # 11 quarantined, not loaded
    assert [(r.key, r.field) for r in rejects] == [("11", "collected_at")]


def test_batches_are_bounded_and_typed(blis_seed: str) -> None:
    source = SqlSource(blis_seed, BLIS, batch_rows=500)
    sizes = [b.num_rows for b in source.stream(everything("patient"))]
    assert len(sizes) > 1 and max(sizes) <= 500
    batch = next(source.stream(everything("patient")))
    assert batch.schema.equals(model.PATIENT.projection(everything("patient").fields), check_metadata=True)
    assert batch.schema.field("birth_date").type == pa.date32()
    assert date(1900, 1, 1) < batch.column("birth_date")[0].as_py() < date.today()
