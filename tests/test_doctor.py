"""airlock doctor: the default deployment (signed mandate, generated agreement, keyring) passes; each weakening
fails its own check; checks without inputs yet are skipped, never passed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from airlock.cli.doctor import doctor
from airlock.identity.directory import Directory, Policy
from airlock.identity.seeds import SeedKey
from airlock.mandate import load_mandate, sign_mandate, signature_path
from airlock.paperwork import agreement, current
from airlock.paperwork.doctor import agreement_path, diagnose
from airlock.signing import SigningIdentity
from airlock.store import open_store
from airlock.vault import PassphraseKeyring, Vault
from airlock.vault.keyring import Argon2Cost

ROOT = Path(__file__).resolve().parents[1]
TODAY = dt.date(2026, 11, 29)
NOT_YET_CHECKABLE: set[str] = set()

ADMIN_PASSWORD = "Correct-Horse-Battery-Staple-2026!"


@pytest.fixture
def deployment(tmp_path, monkeypatch) -> Path:
    """A default deployment: keyring (0600) next to the vault, a signed mandate and its generated agreement."""
    for name in [n for n in os.environ if n.startswith("AIRLOCK_")]:
        monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("AIRLOCK_HOME", str(home))
    monkeypatch.chdir(tmp_path)  # no stray .env
    PassphraseKeyring.create(home / "keyring.json", "correct horse battery", Argon2Cost(1, 8 * 1024, 1))
    Vault(home / "vault")
    with open_store(f"sqlite:///{home / 'airlock.db'}") as store:  # the server's store, with its first administrator
        Directory(store, Policy(), seeds=SeedKey.generate()).bootstrap("Claire Dubois", "claire.dubois@passerelle.example", "Passerelle", ADMIN_PASSWORD)
    mandate = tmp_path / "mandate.yaml"
    shutil.copy(ROOT / "examples" / "mandate.yaml", mandate)
    for name, role in (("Dr Anne Martin", "controller"), ("Karim Benali", "processor")):
        sign_mandate(mandate, SigningIdentity.generate(name, role), today=TODAY)
    agreement_path(mandate, "md").write_text(agreement(load_mandate(mandate), current(), "fr").markdown())
    return mandate


def statuses(mandate: Path | None, *, today=TODAY, **replace) -> dict[str, str]:
    settings = dataclasses.replace(current(), **replace)
    checks = diagnose(settings, [load_mandate(mandate)] if mandate else [], today=today)
    return {c.key: c.status for c in checks}


def failing(mandate: Path | None, **kw) -> set[str]:
    return {k for k, v in statuses(mandate, **kw).items() if v == "fail"}


def test_default_deployment_passes_and_unready_checks_are_skipped(deployment):
    result = statuses(deployment)
    assert {k for k, v in result.items() if v == "skip"} == NOT_YET_CHECKABLE
    assert {k for k, v in result.items() if v == "pass"} == set(result) - NOT_YET_CHECKABLE


def test_without_mandates_their_checks_are_skipped_not_passed(deployment):
    result = statuses(None)
    assert result["mandates_signed"] == result["agreements_complete"] == result["no_overdue_purge"] == "skip"


@pytest.mark.parametrize("variable, value, check", [
    ("AIRLOCK_BIND", "0.0.0.0:8443", "tls"),
    ("AIRLOCK_BIND", "lis-gateway.lab.example:8443", "tls"),
    ("AIRLOCK_MFA", "off", "mfa"),
    ("AIRLOCK_LOG_RETENTION_MONTHS", "24", "log_retention"),
    ("AIRLOCK_LOG_RETENTION_MONTHS", "3", "log_retention"),
])
def test_each_settings_weakening_fails_its_check(deployment, monkeypatch, variable, value, check):
    monkeypatch.setenv(variable, value)
    assert failing(deployment) == {check}


def test_tls_on_a_public_bind_passes_only_with_existing_files(deployment, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRLOCK_BIND", "0.0.0.0:8443")
    monkeypatch.setenv("AIRLOCK_TLS_CERT", str(tmp_path / "cert.pem"))
    monkeypatch.setenv("AIRLOCK_TLS_KEY", str(tmp_path / "key.pem"))
    assert failing(deployment) == {"tls"}
    (tmp_path / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    assert failing(deployment) == set()


def test_keyring_readable_by_others_fails(deployment):
    current().keyring.chmod(0o644)
    assert failing(deployment) == {"kek_protected"}


def test_missing_keyring_fails(deployment):
    current().keyring.unlink()
    assert failing(deployment) == {"kek_protected"}


def test_keyring_inside_the_vault_fails(deployment):
    settings = current()
    inside = settings.vault / "keyring.json"
    settings.keyring.rename(inside)
    assert failing(deployment, keyring=inside) == {"kek_protected"}


@pytest.mark.parametrize("where", ["home", "dotenv", "given"])
def test_persisted_passphrase_fails(deployment, tmp_path, where):
    line = "export AIRLOCK_KEYRING_PASSPHRASE='correct horse battery'\n"
    path = {"home": current().home / "airlock.env", "dotenv": tmp_path / ".env", "given": tmp_path / "svc.conf"}[where]
    path.write_text("AIRLOCK_MFA=required\n" + line)
    configs = [path] if where == "given" else []
    checks = diagnose(current(), [load_mandate(deployment)], configs=configs, today=TODAY)
    kek, = [c for c in checks if c.key == "kek_protected"]
    assert kek.status == "fail" and str(path) in kek.detail and "correct horse" not in kek.detail
    assert [c.key for c in checks if c.status == "fail"] == ["kek_protected"]


def test_pkcs11_provider_needs_no_keyring_file(deployment, monkeypatch):
    current().keyring.unlink()
    monkeypatch.setenv("AIRLOCK_KEY_PROVIDER", "pkcs11")
    assert failing(deployment) == set()


def test_unsigned_or_half_signed_mandate_fails(deployment):
    signature_path(deployment).unlink()
    assert failing(deployment) == {"mandates_signed"}
    sign_mandate(deployment, SigningIdentity.generate("Dr Anne Martin", "controller"), today=TODAY)
    assert failing(deployment) == {"mandates_signed"}


def test_mandate_without_complete_agreement_fails(deployment):
    path = agreement_path(deployment, "md")
    text = path.read_text()
    start = text.index("### Clause 7.7")
    path.write_text(text[:start] + text[text.index("### Clause 7.8"):])  # drop the sub-processor clause
    assert failing(deployment) == {"agreements_complete"}
    path.unlink()
    assert failing(deployment) == {"agreements_complete"}


def test_live_run_past_the_mandate_deadline_fails_until_purged(deployment):
    home = current().home
    keyring = PassphraseKeyring(home / "keyring.json", "correct horse battery")
    vault = Vault(home / "vault")
    vault.create_run("run-1", keyring).close()
    deadline = load_mandate(deployment).deadline
    assert failing(deployment, today=deadline) == set()
    assert failing(deployment, today=deadline + dt.timedelta(days=1)) == {"no_overdue_purge"}
    vault.purge("run-1", "ops@processor", "deadline", SigningIdentity.generate("Karim Benali", "processor"),
                mandate_digest=load_mandate(deployment).digest)
    assert failing(deployment, today=deadline + dt.timedelta(days=1)) == set()


def test_cli_doctor_json_and_exit_status(deployment, monkeypatch):
    cli = typer.Typer()
    cli.command()(doctor)
    runner = CliRunner()
    ok = runner.invoke(cli, ["--mandate", str(deployment), "--json"])
    assert ok.exit_code == 0, ok.output
    checks = json.loads(ok.output)
    assert {c["status"] for c in checks} == {"pass"} and all(c["article"] for c in checks)
    monkeypatch.setenv("AIRLOCK_MFA", "off")
    weak = runner.invoke(cli, ["--mandate", str(deployment)])
    assert weak.exit_code == 1 and "AIRLOCK_MFA=off" in weak.output


def test_a_generic_account_fails_its_check(deployment, tmp_path):
    import sqlite3

    with sqlite3.connect(tmp_path / "home" / "airlock.db") as db:  # slipped in behind the directory's back
        db.execute("UPDATE account SET name = 'admin', email = 'admin@passerelle.example'")
    assert failing(deployment) == {"no_shared_accounts"}


def test_a_public_route_fails_its_check(deployment, monkeypatch):
    from airlock.server import mandates

    monkeypatch.setattr(mandates.router, "routes", [*mandates.router.routes])
    mandates.router.add_api_route("/api/open-door", lambda: {"open": True}, methods=["GET"])
    assert failing(deployment) == {"authenticated_routes"}


def test_a_tampered_ledger_fails_its_check(deployment, tmp_path):
    import sqlite3

    from airlock.ledger import Ledger
    from airlock.ledger.entry import Actor, LedgerEntry

    with open_store(f"sqlite:///{tmp_path / 'home' / 'airlock.db'}") as store:
        ledger = Ledger(store)
        for n in range(3):
            ledger.append(LedgerEntry("run_transition", Actor("k1", "Karim Benali", "processor"), {"run": f"run-{n}"}))
    assert failing(deployment) == set()
    with sqlite3.connect(tmp_path / "home" / "airlock.db") as db:
        table = next(t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'ledger%entr%'"))
        db.execute(f"DELETE FROM {table} WHERE rowid = (SELECT min(rowid) + 1 FROM {table})")
    assert failing(deployment) == {"ledger_verifies"}


def test_an_alert_left_unacknowledged_fails_its_check(deployment, tmp_path):
    from airlock.watch.alerts import Watch

    with open_store(f"sqlite:///{tmp_path / 'home' / 'airlock.db'}") as store:
        Watch(store).raise_alert("purge_overdue", "run-x", "run-x", at=dt.datetime.now(dt.UTC) - dt.timedelta(days=3))
    assert failing(deployment) == {"alerts_acknowledged"}
