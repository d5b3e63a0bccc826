"""airlock records: the processor's Art. 30(2) record, per controller, from the mandates and the live settings."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import typer
import yaml
from pypdf import PdfReader
from typer.testing import CliRunner

from airlock import model
from airlock.cli.records import records
from airlock.mandate import load_mandate
from airlock.paperwork import current
from airlock.paperwork.records import entries, to_csv, to_document

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def mandates(tmp_path) -> list[Path]:
    """The example mandate, and a second controller's mandate with one sub-processor outside the EEA."""
    body = yaml.safe_load((ROOT / "examples" / "mandate.yaml").read_text())
    first = tmp_path / "bio-sud.yaml"
    first.write_text(yaml.safe_dump(body, allow_unicode=True))
    body["id"] = "lab-nord-2026-02"
    body["controller"] = {"name": "Laboratoire Nord Biologie", "address": "1 rue de Lille, 59000 Lille, France",
                          "dpo": {"name": "Paul Durand", "email": "dpo@nord.example"}}
    body["sub_processors"] = [{"name": "Support Desk Inc", "country": "US", "role": "remote support"},
                              {"name": "Stockage Santé", "country": "FR", "role": "HDS hosting"}]
    second = tmp_path / "nord.yaml"
    second.write_text(yaml.safe_dump(body, allow_unicode=True))
    return [second, first]


def test_one_entry_per_mandate_grouped_by_controller_with_transfers_outside_the_eea(mandates):
    loaded = [load_mandate(m) for m in mandates]
    rows = entries(loaded, current({}), "en")
    assert [r.controller for r in rows] == sorted(m.controller.name for m in loaded)
    by_controller = {r.controller: r for r in rows}
    assert by_controller["Laboratoire Nord Biologie"].transfers == "Support Desk Inc (US): remote support"
    assert "Stockage Santé" not in by_controller["Laboratoire Nord Biologie"].transfers  # FR is in the EEA
    assert by_controller["Laboratoire de biologie médicale Bio Sud (SELAS)"].transfers == "none"
    for row, mandate in ((by_controller[m.controller.name], m) for m in loaded):
        assert mandate.id in row.mandate and mandate.controller.dpo.email in row.controller_dpo
        categories = {model.entity(e).field(f).category.value for e, s in mandate.scope.entities.items() for f in s.fields}
        assert set(row.data_categories.split(", ")) == categories


def test_security_description_follows_the_settings(mandates):
    loaded = [load_mandate(m) for m in mandates]
    on = entries(loaded, current({"AIRLOCK_MFA": "required"}), "en")[0].security_measures
    off = entries(loaded, current({"AIRLOCK_MFA": "off", "AIRLOCK_KEY_PROVIDER": "pkcs11"}), "en")[0].security_measures
    assert "multi-factor" in on and "multi-factor" not in off
    assert "PKCS#11" in off and "PKCS#11" not in on


def test_csv_md_and_pdf_forms(mandates, tmp_path):
    loaded = [load_mandate(m) for m in mandates]
    rows = entries(loaded, current({}), "fr")
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert [r["controller"] for r in parsed] == [r.controller for r in rows]
    assert parsed[0]["transfers"] == rows[0].transfers
    doc = to_document(rows, "fr")
    md = doc.markdown()
    assert md.count("\n## ") == 2 and md.count("\n### ") == 2  # two controllers, one mandate each
    doc.write_pdf(tmp_path / "r.pdf")
    text = " ".join(p.extract_text() for p in PdfReader(tmp_path / "r.pdf").pages)
    assert all(m.controller.name in text for m in loaded)


def test_cli_records(mandates, tmp_path, monkeypatch):
    monkeypatch.delenv("AIRLOCK_MFA", raising=False)
    cli = typer.Typer()
    cli.command()(records)
    runner = CliRunner()
    result = runner.invoke(cli, [*map(str, mandates), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert len(list(csv.DictReader(io.StringIO(result.output)))) == len(mandates)
    out = tmp_path / "registre.pdf"
    assert runner.invoke(cli, [*map(str, mandates), "--format", "pdf", "--out", str(out)]).exit_code == 0
    assert out.read_bytes().startswith(b"%PDF")
    refused = runner.invoke(cli, [*map(str, mandates), "--format", "pdf"])
    assert refused.exit_code != 0 and "--out" in str(refused.exception)
