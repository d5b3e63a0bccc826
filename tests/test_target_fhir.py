"""The FHIR R4 target: valid R4 resources, resolvable references, bundles a server accepts, atomic output."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.fr import nir as stdnum_nir

from airlock import model
from airlock.errors import TargetError
from airlock.targets.fhir import FhirTarget
from airlock.targets.fhir_ids import fhir_ids

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")

R4B = "fhir.resources.R4B"
TYPES = ["Organization", "Patient", "Practitioner", "ServiceRequest", "Specimen", "Observation", "DiagnosticReport"]


def _model_of(resource_type: str):
    return getattr(importlib.import_module(f"{R4B}.{resource_type.lower()}"), resource_type)


def _nir(body: str) -> str:
    """A NIR with its key, built from its 13-digit body."""
    return body + f"{97 - int(body) % 97:02d}"


def _batch(entity: str, rows: list[dict], fields: list[str] | None = None) -> pa.RecordBatch:
    e = model.entity(entity)
    schema = e.schema if fields is None else e.projection(fields)
    return pa.RecordBatch.from_pylist([{k: r.get(k) for k in schema.names} for r in rows], schema=schema)


SITES = [
    {"site_id": "1", "name": "Laboratoire Central", "city": "Lyon", "finess": "690000880"},
    {"site_id": "2", "name": "Site de prélèvement Nord", "city": "Villeurbanne"},
]
PATIENTS = [
    {
        "patient_id": "101", "nir": _nir("2850375123456"), "local_identifier": "P-0042",
        "birth_name": "Lefèvre", "first_names": "Marie Claire", "sex": "female", "birth_date": date(1985, 3, 14),
        "address_line": "12 rue des Lilas", "postal_code": "69003", "city": "Lyon",
        "phone": "+33 4 78 00 00 01", "email": "marie.lefevre@example.org",
    },
    {"patient_id": "102", "birth_name": "Martin", "first_names": "Jean", "sex": "male", "birth_date": date(1950, 11, 2)},
    {"patient_id": "103", "sex": "unknown"},
]
PRACTITIONERS = [
    {"practitioner_id": "d41d8cd98f00b204", "name": "Dr Sophie Bernard", "rpps": "10003456789"},
    {"practitioner_id": "9e107d9d372bb682", "name": "Dr Karim Haddad"},
]
ORDERS = [
    {"order_id": "5001", "patient_id": "101", "practitioner_id": "d41d8cd98f00b204", "site_id": "1",
     "ordered_at": datetime(2024, 1, 15, 8, 5), "accession": "24-000123"},
    {"order_id": "5002", "patient_id": "102", "practitioner_id": "9e107d9d372bb682", "site_id": "2",
     "ordered_at": datetime(2024, 7, 2, 10, 40), "accession": "24-000456"},
    {"order_id": "5003", "patient_id": "103", "site_id": "1", "ordered_at": datetime(2024, 10, 27, 2, 30)},
]
SPECIMENS = [
    {"specimen_id": "5001", "order_id": "5001", "patient_id": "101", "type_code": "3", "type_name": "Sérum",
     "collected_at": datetime(2024, 1, 15, 8, 30), "received_at": datetime(2024, 1, 15, 9, 10), "site_id": "1",
     "comment": "Hémolyse légère"},
    {"specimen_id": "5002", "order_id": "5002", "patient_id": "102", "type_code": "1", "type_name": "Sang total",
     "collected_at": datetime(2024, 7, 2, 10, 45), "received_at": datetime(2024, 7, 2, 11, 0), "site_id": "2"},
    {"specimen_id": "5003", "order_id": "5003", "patient_id": "103", "type_code": "7", "type_name": "Urine",
     "collected_at": datetime(2024, 3, 31, 2, 30), "site_id": "1"},
]


def _result(report: str, measure: str, **values) -> dict:
    return {"result_id": f"{report}:{measure}", "report_id": report, "measure_code": measure, "status": "final",
            "value_type": "numeric", **values}


RESULTS_1 = [
    _result("9001", "11", order_id="5001", specimen_id="5001", patient_id="101", site_id="1",
            collected_at=datetime(2024, 1, 15, 8, 30), test_code="21", test_name="Glycémie à jeun",
            measure_name="Glucose", loinc="15074-8", value_numeric=5.4, unit="mmol/L", reference_low=3.9,
            reference_high=5.5, abnormal_flag="N", result_at=datetime(2024, 1, 15, 11, 2), sensitivity=[]),
    _result("9002", "31", order_id="5001", specimen_id="5001", patient_id="101", site_id="1",
            collected_at=datetime(2024, 1, 15, 8, 30), test_code="40", test_name="Sérologie VIH",
            measure_name="Ac anti-VIH 1/2", value_type="coded", value_text="Négatif", reference_text="Négatif",
            result_at=datetime(2024, 1, 16, 9, 0), sensitivity=["hiv", "sti"], comment="Contrôle à 6 semaines"),
]
RESULTS_2 = [
    _result("9003", "12", order_id="5002", specimen_id="5002", patient_id="102", site_id="2",
            collected_at=datetime(2024, 7, 2, 10, 45), test_code="22", test_name="Numération formule sanguine",
            measure_name="Hémoglobine", loinc="718-7", value_numeric=11.2, unit="g/dL", reference_low=13.0,
            reference_high=17.0, abnormal_flag="L", result_at=datetime(2024, 7, 2, 14, 0), status="preliminary"),
    _result("9003", "13", order_id="5002", specimen_id="5002", patient_id="102", site_id="2",
            collected_at=datetime(2024, 7, 2, 10, 45), test_code="22", test_name="Numération formule sanguine",
            measure_name="Leucocytes", loinc="6690-2", value_numeric=12.5, unit="10*9/L", reference_high=10.0,
            abnormal_flag="H", result_at=datetime(2024, 7, 2, 14, 0)),
    _result("9004", "50", order_id="5003", specimen_id="5003", patient_id="103", site_id="1",
            collected_at=datetime(2024, 3, 31, 2, 30), test_code="60", test_name="ECBU", measure_name="Culture",
            value_type="text", value_text="Absence de germe", status="registered", result_at=None),
]


def _full_load() -> list[tuple[str, pa.RecordBatch]]:
    return [
        ("site", _batch("site", SITES)),
        ("patient", _batch("patient", PATIENTS)),
        ("practitioner", _batch("practitioner", PRACTITIONERS)),
        ("order", _batch("order", ORDERS)),
        ("specimen", _batch("specimen", SPECIMENS)),
        ("result", _batch("result", RESULTS_1)),
        ("result", _batch("result", RESULTS_2)),
    ]


def _load(out: Path, batches: list[tuple[str, pa.RecordBatch]], **options) -> Path:
    with FhirTarget(out, **options) as target:
        for entity, batch in batches:
            target.write(entity, batch)
    return out


def _ndjson(out: Path) -> dict[str, list[dict]]:
    return {p.stem: [json.loads(line) for line in p.read_text().splitlines()] for p in out.glob("*.ndjson")}


def _bundles(out: Path) -> list[dict]:
    manifest = json.loads((out / "manifest.json").read_text())
    return [json.loads((out / name).read_text()) for name in manifest["extension"]["bundles"]]


def _walk(value, path: str = "") -> Iterator[tuple[str, object]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, f"{path}[]")


def _references(resource: dict) -> list[str]:
    return [v["reference"] for _, v in _walk(resource) if isinstance(v, dict) and "reference" in v]


def _fid(canonical: str) -> str:
    return fhir_ids(pl.Series([canonical]))[0]


def _assert_valid(resource: dict) -> None:
    _model_of(resource["resourceType"]).model_validate(resource)
    # fhir.resources accepts JSON nulls and empty containers; FHIR servers do not.
    empty = [p for p, v in _walk(resource) if v is None or v == [] or v == {} or v == ""]
    assert not empty, f"{resource['resourceType']} has empty values at {empty}"


@pytest.fixture
def full(tmp_path: Path) -> Path:
    return _load(tmp_path / "fhir", _full_load(), bundle_size=4)


def test_every_resource_and_bundle_entry_is_valid_r4(full: Path):
    files = _ndjson(full)
    assert sorted(files) == sorted(TYPES)
    for resources in files.values():
        for r in resources:
            _assert_valid(r)
    bundle_model = _model_of("Bundle")
    for bundle in _bundles(full):
        bundle_model.model_validate(bundle)
        assert bundle["type"] == "transaction"
        assert 1 <= len(bundle["entry"]) <= 4
        assert len({e["fullUrl"] for e in bundle["entry"]}) == len(bundle["entry"])
        for entry in bundle["entry"]:
            _assert_valid(entry["resource"])
            assert entry["fullUrl"].startswith("urn:uuid:")
            resource = entry["resource"]
            assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}


def test_counts_match_the_input_and_the_manifest(full: Path):
    files = _ndjson(full)
    results = pa.Table.from_batches([_batch("result", RESULTS_1), _batch("result", RESULTS_2)])
    expected = {
        "Organization": len(SITES), "Patient": len(PATIENTS), "Practitioner": len(PRACTITIONERS),
        "ServiceRequest": len(ORDERS), "Specimen": len(SPECIMENS), "Observation": results.num_rows,
        "DiagnosticReport": pc.count_distinct(results["report_id"]).as_py(),
    }
    assert {t: len(rs) for t, rs in files.items()} == expected
    manifest = json.loads((full / "manifest.json").read_text())
    assert {o["type"]: o["count"] for o in manifest["output"]} == expected
    assert {o["url"] for o in manifest["output"]} == {f"{t}.ndjson" for t in expected}
    in_bundles = [e["resource"]["resourceType"] for b in _bundles(full) for e in b["entry"]]
    assert {t: in_bundles.count(t) for t in expected} == expected


def test_references_resolve_and_bundles_come_referenced_first(full: Path):
    written = {f"{r['resourceType']}/{r['id']}" for rs in _ndjson(full).values() for r in rs}
    all_references = [ref for rs in _ndjson(full).values() for r in rs for ref in _references(r)]
    assert all_references and set(all_references) <= written
    # Every target appears in the same or an earlier transaction bundle.
    seen: set[str] = set()
    for bundle in _bundles(full):
        seen |= {e["request"]["url"] for e in bundle["entry"]}
        for entry in bundle["entry"]:
            assert set(_references(entry["resource"])) <= seen


def test_observations_carry_loinc_where_set_and_local_codes(full: Path):
    observations = {o["id"]: o for o in _ndjson(full)["Observation"]}
    for r in RESULTS_1 + RESULTS_2:
        o = observations[_fid(r["result_id"])]
        codings = o["code"]["coding"]
        loinc = [c["code"] for c in codings if c["system"] == "http://loinc.org"]
        assert loinc == ([r["loinc"]] if r.get("loinc") else [])
        local = {"system": "urn:airlock:local:measure", "code": r["measure_code"], "display": r["measure_name"]}
        assert local in codings
        assert o["category"][0]["coding"][0]["code"] == "laboratory"
        if r["value_type"] == "numeric":
            assert o["valueQuantity"] == {"value": r["value_numeric"], "unit": r["unit"],
                                          "system": "http://unitsofmeasure.org", "code": r["unit"]}
            assert "valueString" not in o
        else:
            assert o["valueString"] == r["value_text"] and "valueQuantity" not in o
        assert [t["code"] for t in o.get("meta", {}).get("tag", [])] == (r.get("sensitivity") or [])


def test_diagnostic_reports_group_the_observations_of_one_test(full: Path):
    reports = {d["id"]: d for d in _ndjson(full)["DiagnosticReport"]}
    by_report: dict[str, set[str]] = {}
    for r in RESULTS_1 + RESULTS_2:
        by_report.setdefault(r["report_id"], set()).add(f"Observation/{_fid(r['result_id'])}")
    assert set(reports) == {_fid(k) for k in by_report}
    for report_id, observations in by_report.items():
        d = reports[_fid(report_id)]
        assert {ref["reference"] for ref in d["result"]} == observations
        assert d["category"][0]["coding"] == [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]
    assert reports[_fid("9003")]["status"] == "partial"  # one preliminary, one final measure
    assert reports[_fid("9001")]["basedOn"] == [{"reference": "ServiceRequest/5001"}]


def test_patient_mapping(full: Path):
    p = {r["id"]: r for r in _ndjson(full)["Patient"]}["101"]
    assert {"use": "official", "system": "urn:oid:1.2.250.1.213.1.4.8", "value": PATIENTS[0]["nir"]} in p["identifier"]
    assert stdnum_nir.is_valid(PATIENTS[0]["nir"])
    assert p["name"] == [{"use": "official", "family": "Lefèvre", "given": ["Marie", "Claire"]}]
    assert (p["gender"], p["birthDate"]) == ("female", "1985-03-14")
    assert p["address"] == [{"line": ["12 rue des Lilas"], "postalCode": "69003", "city": "Lyon", "country": "FR"}]
    assert {t["system"] for t in p["telecom"]} == {"phone", "email"}
    practitioners = {r["id"]: r for r in _ndjson(full)["Practitioner"]}
    rpps = [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "10003456789"}]
    assert practitioners["d41d8cd98f00b204"]["identifier"] == rpps
    assert "identifier" not in practitioners["9e107d9d372bb682"]


def test_times_carry_the_lab_offset(full: Path):
    specimens = {s["id"]: s for s in _ndjson(full)["Specimen"]}
    paris = ZoneInfo("Europe/Paris")
    for s in SPECIMENS[:2]:
        expected = s["collected_at"].replace(tzinfo=paris).isoformat()
        assert specimens[s["specimen_id"]]["collection"]["collectedDateTime"] == expected
    # 2024-03-31 02:30 does not exist in Paris (clocks jump from 02:00 to 03:00): kept, moved on.
    assert specimens["5003"]["collection"]["collectedDateTime"] == "2024-03-31T03:30:00+02:00"


def test_a_projection_without_patients_writes_valid_resources_without_dangling_references(tmp_path: Path):
    out = _load(tmp_path / "fhir", [
        ("site", _batch("site", SITES, ["name"])),
        ("order", _batch("order", ORDERS, ["site_id", "ordered_at"])),
        ("specimen", _batch("specimen", SPECIMENS, ["order_id", "type_name", "collected_at"])),
        ("result", _batch("result", RESULTS_1 + RESULTS_2, ["report_id", "order_id", "value_numeric"])),
    ])
    files = _ndjson(out)
    assert "Patient" not in files and "Practitioner" not in files
    written = {f"{r['resourceType']}/{r['id']}" for rs in files.values() for r in rs}
    for resources in files.values():
        for r in resources:
            _assert_valid(r)
            assert set(_references(r)) <= written
            assert "subject" not in r or "reference" not in r["subject"]
    masked = [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "masked"}]
    assert all(s["subject"] == {"extension": masked} for s in files["ServiceRequest"])
    assert all(o["code"] == {"extension": masked} for o in files["Observation"])


def test_an_exception_inside_the_block_leaves_no_directory(tmp_path: Path):
    out = tmp_path / "fhir"
    with pytest.raises(RuntimeError):
        with FhirTarget(out) as target:
            for entity, batch in _full_load():
                target.write(entity, batch)
            raise RuntimeError("the source failed")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_non_empty_directory_is_refused(tmp_path: Path):
    out = tmp_path / "fhir"
    out.mkdir()
    (out / "previous.ndjson").write_text("{}\n")
    with pytest.raises(TargetError, match="not empty"):
        with FhirTarget(out):
            pass
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["fhir", "previous.ndjson"]


def test_an_existing_empty_directory_is_used(tmp_path: Path):
    out = tmp_path / "fhir"
    out.mkdir()
    _load(out, [("site", _batch("site", SITES))])
    assert len(_ndjson(out)["Organization"]) == len(SITES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fhir"]


def test_batches_out_of_model_order_are_refused(tmp_path: Path):
    with pytest.raises(TargetError, match="model order"):
        _load(tmp_path / "fhir", [("result", _batch("result", RESULTS_1)), ("site", _batch("site", SITES))])
    assert list(tmp_path.iterdir()) == []


@given(st.lists(st.text(max_size=80), unique=True, max_size=30))
def test_fhir_ids_are_valid_and_distinct_for_distinct_canonical_ids(canonical: list[str]):
    ids = fhir_ids(pl.Series(canonical, dtype=pl.String)).to_list()
    assert all(FHIR_ID.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(canonical)
    assert ids == fhir_ids(pl.Series(canonical, dtype=pl.String)).to_list()


def test_two_loads_of_the_same_data_give_the_same_resources(tmp_path: Path):
    first, second = (_ndjson(_load(tmp_path / name, _full_load())) for name in ("a", "b"))
    assert first == second


def test_the_parent_directory_is_created_and_bad_options_are_refused(tmp_path: Path):
    out = _load(tmp_path / "exports" / "2024" / "fhir", [("site", _batch("site", SITES))])
    assert (out / "Organization.ndjson").exists()
    assert out.stat().st_mode & 0o077 == 0, "personal data: the output is readable by its owner only"
    with pytest.raises(TargetError, match="bundle size"):
        FhirTarget(tmp_path / "x", bundle_size=0)
    with pytest.raises(TargetError, match="time zone"):
        FhirTarget(tmp_path / "x", timezone="Europe/Lutece")


@pytest.mark.mariadb
def test_the_real_blis_seed_becomes_valid_resolvable_fhir(blis_seed: str, tmp_path: Path):
    from airlock.predicate import Extraction
    from airlock.sources import profile as profiles
    from airlock.sources.sql import SqlSource

    blis = profiles.load("blis-1.27")
    source = SqlSource(blis_seed, blis, on_bad_record="reject")
    delivered: dict[str, list[pa.RecordBatch]] = {}
    with FhirTarget(tmp_path / "fhir") as target:
        for entity in model.ENTITIES:
            if entity in blis.entities:
                for batch in source.stream(Extraction(entity, tuple(blis.entities[entity].fields))):
                    delivered.setdefault(entity, []).append(batch)
                    target.write(entity, batch)
    files = _ndjson(tmp_path / "fhir")
    results = pa.Table.from_batches(delivered["result"])
    assert len(files["Observation"]) == results.num_rows > 0
    assert len(files["DiagnosticReport"]) == pc.count_distinct(results["report_id"]).as_py()
    for entity, resource_type in [("patient", "Patient"), ("order", "ServiceRequest"), ("specimen", "Specimen")]:
        assert len(files[resource_type]) == sum(b.num_rows for b in delivered[entity])
    written = {f"{r['resourceType']}/{r['id']}" for rs in files.values() for r in rs}
    assert len(written) == sum(len(rs) for rs in files.values()), "FHIR ids collide"
    for resources in files.values():
        for r in resources:
            assert set(_references(r)) <= written
        for r in resources[:: max(1, len(resources) // 200)]:  # a spread sample: pydantic is slow
            _assert_valid(r)
    with_loinc = pc.sum(pc.is_valid(results["loinc"])).as_py()
    coded = [{c["system"] for c in o["code"].get("coding", [])} for o in files["Observation"]]
    assert sum("http://loinc.org" in systems for systems in coded) == with_loinc > 0
