"""Deletion certificates: signed by the processor, checked offline, rendered as a PDF for the DPO."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from airlock.cli.certificate import app as certificate_cli
from airlock.signing import BadSignature, SigningIdentity
from airlock.vault import DeletionCertificate, PassphraseKeyring, Vault

MANDATE_DIGEST = "5f0c" * 16


@pytest.fixture(scope="module")
def processor() -> SigningIdentity:
    return SigningIdentity.generate("Transfert Santé SAS", "processor")


@pytest.fixture(scope="module")
def purged(tmp_path_factory, processor):
    """A real run sealed then purged: (certificate path, certificate, processor public identity path)."""
    home = tmp_path_factory.mktemp("cert")
    ring = PassphraseKeyring.create(home / "keyring.json", "certificate tests")
    run = Vault(home / "vault").create_run("run-2026-11-29-001", ring)
    for i in range(40):  # enough chunks for the PDF to need a second page
        run.seal("result", pa.record_batch({"result_id": [f"r{i}"]}))
    run.seal_rejects("patient", pa.record_batch({"patient_id": ["p9"]}), "nir: bad key")
    run.close()
    cert = run.purge("dpo@lab", "migration accepted by the controller", processor, mandate_digest=MANDATE_DIGEST)
    processor.public.save(home / "processor.pub.json")
    return run.path / "certificate.json", cert, home / "processor.pub.json"


def test_certificate_says_what_was_destroyed_and_verifies(purged, processor):
    path, cert, _ = purged
    assert DeletionCertificate.load(path) == cert
    cert.verify(processor.public)
    doc = json.loads(path.read_text())
    assert doc["run_id"] == "run-2026-11-29-001" and doc["mandate_digest"] == MANDATE_DIGEST
    assert doc["chunk_count"] == 41 and {c["entity"] for c in doc["chunks"]} == {"result", "rejects/patient"}
    assert doc["destroyed_keys"][0].startswith("dek-") and doc["deleted_at"].endswith("Z")
    assert (doc["actor"], doc["reason"]) == ("dpo@lab", "migration accepted by the controller")


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(reason="routine"),
        lambda d: d["chunks"].pop(),
        lambda d: d["chunks"][0].update(sha256="0" * 64),
        lambda d: d.update(deleted_at="2020-01-01T00:00:00Z"),
        lambda d: d["destroyed_keys"].append("dek-0000000000000000"),
    ],
    ids=["reason", "dropped chunk", "digest", "time", "keys"],
)
def test_any_change_breaks_the_signature(purged, processor, tmp_path, edit):
    path, _, _ = purged
    doc = json.loads(path.read_text())
    edit(doc)
    (tmp_path / "cert.json").write_text(json.dumps(doc))
    with pytest.raises(BadSignature):
        DeletionCertificate.load(tmp_path / "cert.json").verify(processor.public)


def test_a_certificate_signed_by_someone_else_is_refused(purged, tmp_path):
    _, cert, _ = purged
    forger = SigningIdentity.generate("Transfert Santé SAS", "processor")
    forged = DeletionCertificate.issue(
        run_id=cert.run_id, mandate_digest=cert.mandate_digest, chunks=list(cert.chunks),
        destroyed_keys=list(cert.destroyed_keys), deleted_at=dt.datetime.now(dt.UTC),
        actor=cert.actor, reason=cert.reason, signer=forger,
    )
    forged.verify(forger.public)
    with pytest.raises(BadSignature, match="not by the processor key"):
        forged.verify(cert.processor)


def test_cli_verify(purged, tmp_path):
    path, cert, pub = purged
    cli = CliRunner()
    ok = cli.invoke(certificate_cli, ["verify", str(path), "--processor", str(pub)])
    assert ok.exit_code == 0 and "valid: run run-2026-11-29-001, 41 chunk(s)" in ok.output
    doc = json.loads(path.read_text())
    doc["actor"] = "nobody"
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    bad = cli.invoke(certificate_cli, ["verify", str(tmp_path / "bad.json"), "--processor", str(pub)])
    assert isinstance(bad.exception, BadSignature)


def test_pdf_renders_the_facts(purged, tmp_path):
    path, cert, _ = purged
    result = CliRunner().invoke(certificate_cli, ["pdf", str(path), "--out", str(tmp_path / "cert.pdf")])
    assert result.exit_code == 0
    reader = PdfReader(tmp_path / "cert.pdf")
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) >= 2
    for fact in (cert.run_id, cert.mandate_digest, cert.actor, cert.reason, cert.destroyed_keys[0], cert.processor.key_id):
        assert fact in text
    for chunk in cert.chunks:
        assert chunk.sha256 in text
