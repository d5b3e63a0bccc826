"""The synthetic BLIS generator: deterministic, valid French identities, BLIS conventions, same rows in SQLite and MariaDB."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from stdnum.fr import nir as stdnum_nir
from typer.testing import CliRunner

from airlock import dburl
from airlock.cli.synth import app
from airlock.errors import AirlockError, TargetError
from airlock.synth import blis
from airlock.synth.schema import TABLES

from conftest import query

N = 300
SEED = 7

SENSITIVE_FAMILIES = {
    "HIV serology": r"Sérologie VIH",
    "HIV viral load": r"Charge virale VIH",
    "CD4": r"CD4",
    "pregnancy": r"hCG",
    "hepatitis B": r"HBs",
    "hepatitis C": r"VHC|hépatite C",
    "syphilis": r"TPHA|VDRL",
    "genetics": r"Leiden|BRCA|Caryotype",
    "tumour markers": r"PSA|CA 125|ACE",
}


def content(url: str) -> dict[str, list[tuple]]:
    """Every row of every generated table, in a fixed order."""
    engine = dburl.engine(url)
    try:
        with engine.connect() as conn:
            return {name: [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.columns))] for name, t in TABLES.items()}
    finally:
        engine.dispose()


def digest(rows: dict[str, list[tuple]]) -> str:
    return hashlib.sha256(repr(sorted(rows.items())).encode()).hexdigest()


def scalar(url: str, sql: str) -> object:
    engine = dburl.engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(sql).scalar()
    finally:
        engine.dispose()



@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, blis.Summary]:
    url = f"sqlite:///{tmp_path_factory.mktemp('synth') / 'blis.db'}"
    return url, blis.generate(url, patients=N, seed=SEED)


def test_same_seed_same_rows_other_seed_other_rows(generated: tuple[str, blis.Summary], tmp_path: Path) -> None:
    url, _ = generated
    again, other = f"sqlite:///{tmp_path / 'again.db'}", f"sqlite:///{tmp_path / 'other.db'}"
    blis.generate(again, patients=N, seed=SEED)
    blis.generate(other, patients=N, seed=SEED + 1)
    assert digest(content(url)) == digest(content(again))
    first, second = content(url), content(other)
    assert first["patient"] != second["patient"]
    assert first["test"] != second["test"]


def test_every_nir_is_valid_and_matches_the_patient(generated: tuple[str, blis.Summary]) -> None:
    url, _ = generated
    rows = query(
        url,
        "SELECT d.field_value, p.sex, p.dob FROM patient_custom_data d JOIN patient_custom_field f ON f.id = d.field_id "
        "JOIN patient p ON p.patient_id = d.patient_id WHERE f.field_name = 'NIR'",
    )
    assert len(rows) > N * 0.9
    for number, sex, dob in rows:
        assert stdnum_nir.is_valid(number), "invalid NIR generated"
        assert number[0] == {"M": "1", "F": "2"}[sex]
        assert number[1:5] == dob[2:4] + dob[5:7]
    departments = {number[5:7] for number, _, _ in rows}
    # Documented guarantee: patients 1 and 2 are born in 2A and 2B.
    assert {"2A", "2B"} <= departments
    assert len(departments) > 20


def test_custom_fields_are_the_french_identity_fields(generated: tuple[str, blis.Summary]) -> None:
    url, _ = generated
    assert query(url, "SELECT id, field_name FROM patient_custom_field ORDER BY id") == list(enumerate(blis.CUSTOM_FIELDS, start=1))
    emails = [r[0] for r in query(url, "SELECT field_value FROM patient_custom_data WHERE field_id = 6")]
    assert emails and all(re.fullmatch(r"[a-z0-9._-]+@[a-z0-9.-]+\.[a-z]+", e) for e in emails)
    phones = [r[0] for r in query(url, "SELECT field_value FROM patient_custom_data WHERE field_id = 5")]
    assert phones and all(re.fullmatch(r"(0\d|\+33 \d)( ?\d\d){4}", p) for p in phones)
    names = [r[0] for r in query(url, "SELECT name FROM patient")]
    # "First Last" in one column; the family name is the last word, as the BLIS profile reads it.
    assert all(re.fullmatch(r"\S+ \S+", n) for n in names)
    assert any("-" in n.split(" ")[0] for n in names), "no compound first name"


def test_catalogue_has_the_sensitive_families_and_they_are_tested(generated: tuple[str, blis.Summary]) -> None:
    url, _ = generated
    performed = query(
        url,
        "SELECT tt.name, m.name, COUNT(DISTINCT t.test_id) FROM test_type tt JOIN test_type_measure tm ON tm.test_type_id = tt.test_type_id "
        "JOIN measure m ON m.measure_id = tm.measure_id LEFT JOIN test t ON t.test_type_id = tt.test_type_id GROUP BY tt.name, m.name",
    )
    for family, pattern in SENSITIVE_FAMILIES.items():
        matching = [count for test, measure, count in performed if re.search(pattern, f"{test} {measure}")]
        assert matching, f"the catalogue lacks {family}"
        assert sum(matching) > 0, f"no {family} test generated"


def test_results_pack_one_value_per_measure_and_a_checksum(generated: tuple[str, blis.Summary]) -> None:
    url, summary = generated
    measures = dict(query(url, "SELECT test_type_id, COUNT(*) FROM test_type_measure GROUP BY test_type_id"))
    results = query(url, "SELECT test_type_id, result FROM test")
    packed = [(t, r) for t, r in results if r != ""]
    assert 0.05 < 1 - len(packed) / len(results) < 0.3, "pending share far from 15%"
    for test_type, result in packed:
        *values, checksum = result.split(",")
        assert len(values) == measures[test_type]
        assert re.fullmatch(r"[0-9a-f]{40}", checksum)
        assert all(values)
    assert summary.results == sum(measures[t] for t, _ in packed)


def test_counts_and_ranges(generated: tuple[str, blis.Summary]) -> None:
    url, summary = generated
    assert scalar(url, "SELECT COUNT(*) FROM patient") == N
    for table, rows in summary.counts.items():
        assert scalar(url, f'SELECT COUNT(*) FROM "{table}"') == rows
    low, high, mean = query(url, "SELECT MIN(c), MAX(c), AVG(c) FROM (SELECT COUNT(*) c FROM specimen GROUP BY patient_id)")[0]
    assert 1 <= low and high <= 8 and 2.5 < mean < 3.5
    assert scalar(url, "SELECT COUNT(DISTINCT patient_id) FROM specimen") == N
    assert query(url, "SELECT MIN(c), MAX(c) FROM (SELECT COUNT(*) c FROM test GROUP BY specimen_id)")[0][0] >= 1
    assert query(url, "SELECT MAX(c) FROM (SELECT COUNT(*) c FROM test GROUP BY specimen_id)")[0][0] <= 4
    assert scalar(url, "SELECT COUNT(*) FROM specimen WHERE date_collected < '2015-01-01' OR date_collected > '2020-12-31'") == 0
    assert scalar(url, "SELECT COUNT(*) FROM specimen WHERE date_recvd < date_collected OR julianday(date_recvd) - julianday(date_collected) > 1") == 0
    assert scalar(url, "SELECT COUNT(*) FROM specimen WHERE site_id NOT BETWEEN 1 AND 28") == 0
    assert 10 <= scalar(url, "SELECT COUNT(DISTINCT doctor) FROM specimen") <= blis.PRESCRIBERS
    passwords = [r[0] for r in query(url, 'SELECT password FROM "user"')]
    assert passwords and all(re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{32}", p) for p in passwords)


def test_comments_hold_the_mess_of_a_real_lis(generated: tuple[str, blis.Summary]) -> None:
    url, _ = generated
    comments = [r[0] for r in query(url, "SELECT comments FROM specimen")]
    written = [c for c in comments if c]
    assert 0 < len(written) < len(comments) / 2, "comments should be mostly empty"
    assert any("VIH" in c or "enceinte" in c or "cancer" in c for c in written)
    assert any(re.search(r"\d\d \d\d \d\d \d\d|\d{10}", c) for c in written), "no phone number in comments"


def test_refuses_a_database_that_already_has_blis_tables(generated: tuple[str, blis.Summary]) -> None:
    url, _ = generated
    with pytest.raises(TargetError, match="already has table"):
        blis.generate(url, patients=5, seed=1)
    assert scalar(url, "SELECT COUNT(*) FROM patient") == N


@pytest.mark.parametrize("kwargs", [{"patients": 0, "seed": 1}, {"patients": 5, "seed": -1}, {"patients": 5, "seed": 1, "sites": 999}])
def test_bad_arguments_are_one_line_errors(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(AirlockError):
        blis.generate(f"sqlite:///{tmp_path / 'x.db'}", **kwargs)
    assert not (tmp_path / "x.db").exists()


@pytest.mark.mariadb
def test_mariadb_gets_the_same_rows_as_sqlite(generated: tuple[str, blis.Summary], mariadb_database: Callable[[], str]) -> None:
    url, summary = generated
    mariadb = mariadb_database()
    assert blis.generate(mariadb, patients=N, seed=SEED).counts == summary.counts
    assert content(mariadb) == content(url)


def test_cli_help_and_run(tmp_path: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["blis", "--help"])
    assert shown.exit_code == 0 and "Example" in shown.output and "--patients" in shown.output
    run = runner.invoke(app, ["blis", "--patients", "20", "--seed", "3", "--out", f"sqlite:///{tmp_path / 'cli.db'}"])
    assert run.exit_code == 0, run.output
    assert "patient" in run.output
    assert scalar(f"sqlite:///{tmp_path / 'cli.db'}", "SELECT COUNT(*) FROM patient") == 20
