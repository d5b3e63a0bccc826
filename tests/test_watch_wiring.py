"""The watch on a real server: what the server emits reaches the ledger and fires the rules, no hand-made events."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from airlock.identity.directory import Directory, Policy
from airlock.identity.seeds import SeedKey
from airlock.ledger import Ledger
from airlock.server import create_app
from airlock.store import open_store
from airlock.watch.service import watch


def test_failed_logins_and_probing_raise_alerts_and_are_ledgered(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'airlock.db'}") as store:
        watcher, stop = watch(store)
        try:
            client = TestClient(create_app(Directory(store, Policy(), seeds=SeedKey.generate())))
            assert not watcher.alerts("open")
            for _ in range(6):
                answer = client.post("/api/login", json={"email": "someone@lab.example", "password": "not the password", "totp": "000000"})
                assert answer.status_code == 401
            for _ in range(21):
                assert client.get("/api/me").status_code == 401
            rules = {a.rule for a in watcher.alerts("open")}
            assert {"failed_logins", "probing"} <= rules
            entries = list(Ledger(store).entries())
            assert {e.kind for e in entries} >= {"identity.login_failure", "http.unauthenticated"}
            assert Ledger(store).verify().ok
            assert not any("someone@lab.example" in str(e.objects) for e in entries)
        finally:
            stop()


def test_opening_a_runs_staging_outside_the_run_raises_an_alert(tmp_path: Path) -> None:
    from airlock.vault import PassphraseKeyring, Vault

    keyring = PassphraseKeyring.create(tmp_path / "keyring.json", "a passphrase for the tests only")
    vault = Vault(tmp_path / "vault")
    vault.create_run("run-nobody-runs", keyring).close()
    with open_store(f"sqlite:///{tmp_path / 'airlock.db'}") as store:
        watcher, stop = watch(store)
        try:
            vault.open("run-nobody-runs", keyring)
            assert [a.rule for a in watcher.alerts("open")] == ["vault_outside_run"]
        finally:
            stop()
