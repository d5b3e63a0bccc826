"""The BLIS profile on a synthetic French BLIS: custom-field identity data per patient, LOINC on French names."""

from __future__ import annotations


import pyarrow as pa
import pytest

from airlock import dburl
from airlock.predicate import Extraction
from airlock.sources import profile as profiles
from airlock.sources.sql import SqlSource
from airlock.synth import blis


@pytest.fixture(scope="module")
def synth_source(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('synth') / 'blis.db'}"
    blis.generate(url, patients=200, seed=11)
    return url


def test_custom_field_identity_belongs_to_each_patient(synth_source: str) -> None:
    source = SqlSource(synth_source, profiles.load("blis-1.27"))
    fields = ("nir", "address_line", "postal_code", "city", "phone", "email")
    got = {r["patient_id"]: r for r in pa.Table.from_batches(list(source.stream(Extraction("patient", fields)))).to_pylist()}
    engine = dburl.engine(synth_source)
    with engine.connect() as c:
        rows = c.exec_driver_sql(
            "SELECT d.patient_id, f.field_name, d.field_value FROM patient_custom_data d "
            "JOIN patient_custom_field f ON f.id = d.field_id"
        ).all()
    engine.dispose()
    names = {"NIR": "nir", "Adresse": "address_line", "Code postal": "postal_code", "Ville": "city", "Téléphone": "phone", "Email": "email"}
    expected: dict[str, dict[str, str]] = {}
    for pid, name, value in rows:
        expected.setdefault(str(pid), {})[names[name]] = value
    assert len(got) == 200
    for pid, record in got.items():
        assert {k: record[k] for k in fields if record[k] is not None} == expected.get(pid, {})


def test_french_analytes_get_loinc_codes(synth_source: str) -> None:
    source = SqlSource(synth_source, profiles.load("blis-1.27"))
    results = pa.Table.from_batches(list(source.stream(Extraction("result", ("measure_name", "loinc")))))
    by_name = dict(zip(results["measure_name"].to_pylist(), results["loinc"].to_pylist()))
    assert by_name.get("Hémoglobine") == "718-7" and by_name.get("Créatinine") == "2160-0"


def test_sqlite_source_where_the_first_record_lacks_a_custom_field(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'blis.db'}"
    blis.generate(url, patients=20, seed=3)
    engine = dburl.engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("DELETE FROM patient_custom_data WHERE patient_id = 1")
    engine.dispose()
    rows = pa.Table.from_batches(list(SqlSource(url, profiles.load("blis-1.27")).stream(Extraction("patient", ("nir", "city"))))).to_pylist()
    assert rows[0] == {"patient_id": "1", "nir": None, "city": None}
    assert all(r["nir"] for r in rows[1:])
