"""The Art. 28 agreement: the generator's output passes the checker, each clause carries exactly its element,
hand-written agreements in both languages and formats are read and judged, Annex III follows the live settings."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from typer.testing import CliRunner

from airlock.cli.dpa import app
from airlock.errors import AirlockError
from airlock.mandate import load_mandate
from airlock.paperwork import (
    agreement,
    check_agreement,
    check_text,
    current,
    read_agreement,
)
from airlock.paperwork.document import Document, Part
from airlock.paperwork.rules import ELEMENTS
from airlock.vault import PassphraseKeyring
from airlock.vault.keyring import Argon2Cost

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "data" / "agreements"
EXAMPLE = ROOT / "examples" / "mandate.yaml"
ELEMENT_KEYS = [e.key for e in ELEMENTS]

#: Which article of the hand-written samples carries which element (both languages number alike).
SAMPLE_ARTICLES = {
    1: "subject_matter_duration", 2: "nature_purpose", 3: "personal_data_types", 4: "data_subjects",
    5: "controller_rights", 6: "a_instructions", 7: "infringing_instruction", 8: "b_confidentiality",
    9: "c_security", 10: "d_sub_processors", 11: "e_data_subject_rights", 12: "f_assistance",
    13: "g_deletion_return", 14: "h_audits",
}


@pytest.fixture(scope="module")
def mandate():
    return load_mandate(EXAMPLE)


def without_article(text: str, number: int) -> str:
    variant, n = re.subn(rf"\n## Article {number} - .*?(?=\n## )", "\n", text, flags=re.DOTALL)
    assert n == 1
    return variant


def docx(path: Path, text: str) -> Path:
    """A minimal WordprocessingML document, one w:p per paragraph, as a word processor would save it."""
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = "".join(f"<w:p><w:r><w:t xml:space=\"preserve\">{escape(p)}</w:t></w:r></w:p>" for p in text.split("\n\n"))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
        z.writestr("word/document.xml", f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{w}"><w:body>{body}</w:body></w:document>')
    return path


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_generated_agreement_passes_the_checker_in_md_and_pdf(mandate, lang, tmp_path):
    doc = agreement(mandate, current({}), lang)
    assert check_text(doc.markdown()).complete
    doc.write_pdf(tmp_path / "a.pdf")
    report = check_agreement(tmp_path / "a.pdf")
    assert report.complete, report.missing


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_removing_any_part_of_the_generated_agreement_names_exactly_its_element(mandate, lang):
    doc = agreement(mandate, current({}), lang)
    carried = [e for p in doc.parts for e in p.elements]
    assert sorted(carried) == sorted(ELEMENT_KEYS)  # each element carried by exactly one part
    for part in doc.parts:
        assert check_text(doc.without(part.title).markdown()).missing == part.elements, part.title


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_generated_agreement_follows_the_mandate(mandate, lang):
    text = agreement(mandate, current({}), lang).markdown()
    assert mandate.digest in text and mandate.controller.name in text and mandate.processor.name in text
    for scope in mandate.scope.entities.values():
        assert all(f"{scope.entity}.{f}" in text for f in scope.fields)
    assert "patient.email" not in text  # not in the example's scope: never described as processed
    for tag in mandate.scope.excluded_sensitivity | mandate.scope.sensitivity:
        assert tag in text
    assert all(s.name in text for s in mandate.sub_processors)
    assert mandate.deadline.isoformat() in text


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_complete_sample_passes_and_each_variant_misses_exactly_one_element(lang):
    text = (SAMPLES / f"complete.{lang}.md").read_text()
    report = check_text(text)
    assert report.complete, report.missing
    assert {f.language for f in report.findings} == {lang}
    for number, element in SAMPLE_ARTICLES.items():
        assert check_text(without_article(text, number)).missing == (element,)


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_docx_and_pdf_agreements_are_read(lang, tmp_path):
    text = (SAMPLES / f"complete.{lang}.md").read_text()
    variant = without_article(text, 10)
    assert check_agreement(docx(tmp_path / "a.docx", text)).complete
    assert check_agreement(docx(tmp_path / "b.docx", variant)).missing == ("d_sub_processors",)
    paragraphs = tuple(p for p in variant.split("\n\n") if not p.startswith("#"))
    Document("Contract", (Part(2, "Clauses", paragraphs),)).write_pdf(tmp_path / "b.pdf")
    assert check_agreement(tmp_path / "b.pdf").missing == ("d_sub_processors",)


def test_general_maintenance_terms_lack_the_art28_mentions():
    report = check_agreement(SAMPLES / "maintenance.fr.txt")
    assert {"a_instructions", "d_sub_processors", "g_deletion_return", "h_audits", "infringing_instruction"} <= set(report.missing)
    found = {f.element.key: f.excerpt for f in report.findings if f.found}
    assert "confidentialite" in found["b_confidentiality"]  # the excerpt shows where it was found


def test_unreadable_files_are_named(tmp_path):
    for name, content in (("a.rtf", b"{\\rtf1}"), ("a.pdf", b"not a pdf"), ("a.docx", b"not a zip"), ("a.txt", b"\xff\xfe\x00")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(AirlockError, match=re.escape(str(tmp_path / name))):
            read_agreement(tmp_path / name)


def annex3(mandate, env) -> str:
    doc = agreement(mandate, current(env), "en")
    part, = [p for p in doc.parts if p.title.startswith("Annex III")]
    return "\n".join(part.items)


def test_annex3_follows_the_settings_and_never_lists_a_disabled_measure(mandate, tmp_path):
    home = {"AIRLOCK_HOME": str(tmp_path)}
    everything_on = annex3(mandate, {**home, "AIRLOCK_MFA": "required", "AIRLOCK_ALERT_EMAIL": "secu@processor.example",
                                     "AIRLOCK_ALERT_WEBHOOK": "https://hooks.example.net/T0/secret-token",
                                     "AIRLOCK_TLS_CERT": "/etc/airlock/cert.pem", "AIRLOCK_TLS_KEY": "/etc/airlock/key.pem",
                                     "AIRLOCK_LOG_RETENTION_MONTHS": "6"})
    for claim in ("multi-factor", "secu@processor.example", "hooks.example.net", "TLS", "kept 6 months", "argon2id", "AES-256-GCM"):
        assert claim in everything_on
    assert "secret-token" not in everything_on  # the webhook's secret is not written into a contract

    everything_off = annex3(mandate, {**home, "AIRLOCK_MFA": "off", "AIRLOCK_KEY_PROVIDER": "pkcs11"})
    for claim in ("multi-factor", "alert", "TLS", "argon2id", "webhook"):
        assert claim not in everything_off
    assert "PKCS#11" in everything_off and "kept 12 months" in everything_off
    assert "PKCS#11" not in everything_on

    for variable, value, claim in (("AIRLOCK_MFA", "off", "multi-factor"), ("AIRLOCK_ALERT_EMAIL", "", "mailed"),
                                   ("AIRLOCK_ALERT_WEBHOOK", "", "webhook"), ("AIRLOCK_TLS_KEY", "", "TLS")):
        flipped = annex3(mandate, {**home, "AIRLOCK_ALERT_EMAIL": "a@b.example", "AIRLOCK_ALERT_WEBHOOK": "https://h.example/x",
                                   "AIRLOCK_TLS_CERT": "c.pem", "AIRLOCK_TLS_KEY": "k.pem", variable: value})
        assert claim not in flipped, variable


def test_annex3_reads_the_argon2id_cost_of_the_real_keyring(mandate, tmp_path):
    PassphraseKeyring.create(tmp_path / "keyring.json", "correct horse battery", Argon2Cost(2, 8 * 1024, 1))
    assert "argon2id (t=2, m=8 MiB, p=1)" in annex3(mandate, {"AIRLOCK_HOME": str(tmp_path)})


def test_settings_refuse_unknown_values():
    for variable, value in (("AIRLOCK_MFA", "sometimes"), ("AIRLOCK_KEY_PROVIDER", "kms"), ("AIRLOCK_LOG_RETENTION_MONTHS", "-1")):
        with pytest.raises(AirlockError, match=variable):
            current({variable: value})


def test_cli_generate_then_check(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRLOCK_HOME", str(tmp_path))
    runner = CliRunner()
    md, pdf = tmp_path / "a.md", tmp_path / "a.pdf"
    assert runner.invoke(app, ["generate", str(EXAMPLE), "--lang", "en", "--out", str(md)]).exit_code == 0
    assert runner.invoke(app, ["generate", str(EXAMPLE), "--lang", "fr", "--format", "pdf", "--out", str(pdf)]).exit_code == 0
    for path in (md, pdf):
        result = runner.invoke(app, ["check", str(path)])
        assert result.exit_code == 0, result.output
    variant = tmp_path / "variant.md"
    variant.write_text(without_article((SAMPLES / "complete.fr.md").read_text(), 14))
    result = runner.invoke(app, ["check", str(variant)])
    assert result.exit_code == 1
    assert "h_audits" in result.output and result.output.count("missing") == 2  # the table row and the summary
