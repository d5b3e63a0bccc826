"""`airlock demo`, the README's first command: a whole secure migration on the embedded default."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from airlock.cli import app
from airlock.signing import PublicIdentity
from airlock.vault.certificate import DeletionCertificate
from airlock.vault.delivery import open_delivery


def test_demo_runs_the_whole_procedure(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--patients", "60", "--seed", "4"])
    assert result.exit_code == 0, result.output
    certificate = DeletionCertificate.load(out / "deletion-certificate.json")
    certificate.verify(PublicIdentity.load(out / "keys" / "processor.pub.json"))
    run_id = certificate.run_id
    report = (out / f"{run_id}.report.md").read_text()
    assert "reconciled" in report and "| result |" in report and "controller" in report
    # Staging is gone; the mandate's exclusions hold in the target.
    assert not list((out / "airlock-home" / "vault" / run_id).glob("**/*.chunk"))
    with sqlite3.connect(out / "target-canonical.db") as db:
        tags = {t for (s,) in db.execute("SELECT sensitivity FROM lab_result") for t in json.loads(s or "[]")}
        columns = {r[1] for r in db.execute("PRAGMA table_info(lab_patient)")}
        years = {y for (y,) in db.execute("SELECT DISTINCT substr(collected_at, 1, 4) FROM lab_specimen")}
    assert tags <= {"pregnancy"}
    assert "address_line" not in columns and "phone" not in columns
    assert years <= {str(y) for y in range(2015, 2021)}
    # The FHIR delivery is encrypted to the lab, and opens with the lab's identity only.
    assert not list((out / "fhir").glob("*.ndjson")) and (out / "fhir" / "Observation.ndjson.age").exists()
    opened = open_delivery(out / "fhir", out / "keys" / "controller-age-identity.txt", tmp_path / "opened")
    assert len((opened / "Observation.ndjson").read_text().splitlines()) > 0


def test_demo_refuses_a_directory_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code != 0 and (tmp_path / "mine.txt").exists()
