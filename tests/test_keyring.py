"""Key hierarchy: the passphrase keyring, KEK rotation with re-wrapping, and a real PKCS#11 token (SoftHSM2)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from airlock.cli.vault import app as vault_cli
from airlock.errors import AirlockError
from airlock.vault import PassphraseKeyring, Pkcs11Keyring, UnwrapError, Vault, VaultIntegrityError

from conftest import IN_CI

SOFTHSM = Path("/usr/lib/softhsm/libsofthsm2.so")
PASSPHRASE = "keyring test passphrase"


def _batches(run, n: int = 3) -> None:
    for i in range(n):
        run.seal("patient", pa.record_batch({"patient_id": [f"p{i}", f"q{i}"]}))
    run.close()


def _chunk_bytes(vault: Vault) -> dict[str, bytes]:
    return {str(p.relative_to(vault.root)): p.read_bytes() for p in vault.root.rglob("*.chunk")}


# -- passphrase keyring --------------------------------------------------------------------------------


def test_keyring_file_is_private_and_holds_no_key_in_clear(tmp_path):
    ring = PassphraseKeyring.create(tmp_path / "keyring.json", PASSPHRASE)
    path = tmp_path / "keyring.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["kdf"] == doc["kdf"] | {"algorithm": "argon2id", "time_cost": 3, "memory_cost_kib": 65536, "parallelism": 4}
    dek = os.urandom(32)
    blob = ring.wrap(dek, b"ctx")
    assert dek not in blob and ring.unwrap(blob, b"ctx") == dek
    reopened = PassphraseKeyring(path, PASSPHRASE)
    assert reopened.key_id == ring.key_id and reopened.unwrap(blob, b"ctx") == dek


def test_wrong_passphrase_is_one_opaque_error(tmp_path):
    PassphraseKeyring.create(tmp_path / "keyring.json", PASSPHRASE)
    with pytest.raises(AirlockError, match="wrong passphrase or damaged file"):
        PassphraseKeyring(tmp_path / "keyring.json", PASSPHRASE + "!")


def test_keyring_refuses_short_passphrases_and_overwriting(tmp_path):
    with pytest.raises(AirlockError, match="at least 12"):
        PassphraseKeyring.create(tmp_path / "k.json", "short")
    PassphraseKeyring.create(tmp_path / "k.json", PASSPHRASE)
    with pytest.raises(AirlockError, match="already exists"):
        PassphraseKeyring.create(tmp_path / "k.json", PASSPHRASE)


def test_unwrap_is_bound_to_its_context(tmp_path):
    ring = PassphraseKeyring.create(tmp_path / "k.json", PASSPHRASE)
    blob = ring.wrap(os.urandom(32), b"run-1")
    with pytest.raises(UnwrapError):
        ring.unwrap(blob, b"run-2")
    with pytest.raises(UnwrapError):
        ring.unwrap(blob[:-1] + bytes([blob[-1] ^ 1]), b"run-1")


def test_rotation_rewraps_every_run_without_touching_chunks(tmp_path):
    ring = PassphraseKeyring.create(tmp_path / "k.json", PASSPHRASE)
    vault = Vault(tmp_path / "vault")
    for run_id in ("run-1", "run-2"):
        _batches(vault.create_run(run_id, ring))
    chunks_before = _chunk_bytes(vault)
    old = ring.key_id

    new = ring.rotate()
    assert new != old and vault.kek_ids() == {"run-1": old, "run-2": old}
    assert vault.rewrap_all(ring) == ["run-1", "run-2"]
    assert vault.kek_ids() == {"run-1": new, "run-2": new}
    ring.retire(old)

    assert _chunk_bytes(vault) == chunks_before
    reopened = PassphraseKeyring(tmp_path / "k.json", PASSPHRASE)
    assert reopened.key_id == new
    assert sum(b.num_rows for b in vault.open("run-1", reopened).chunks("patient")) == 6


def test_a_retired_kek_no_longer_opens_what_it_wrapped(tmp_path):
    ring = PassphraseKeyring.create(tmp_path / "k.json", PASSPHRASE)
    vault = Vault(tmp_path / "vault")
    _batches(vault.create_run("run-1", ring))
    old = ring.key_id
    with pytest.raises(AirlockError, match="current key"):
        ring.retire(old)
    ring.rotate()
    ring.retire(old)  # without re-wrapping first: run-1 is lost, as crypto-shredding intends
    with pytest.raises(VaultIntegrityError, match="wrapped key"):
        vault.open("run-1", PassphraseKeyring(tmp_path / "k.json", PASSPHRASE))


def test_cli_rewrap_then_retire(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRLOCK_KEYRING_PASSPHRASE", PASSPHRASE)
    keyring, vault_dir = tmp_path / "k.json", tmp_path / "vault"
    cli = CliRunner()
    assert cli.invoke(vault_cli, ["init", "--keyring", str(keyring)]).exit_code == 0
    ring = PassphraseKeyring(keyring, PASSPHRASE)
    _batches(Vault(vault_dir).create_run("run-1", ring))
    old = ring.key_id

    refused = cli.invoke(vault_cli, ["retire", old, "--keyring", str(keyring), "--vault", str(vault_dir)])
    assert isinstance(refused.exception, AirlockError) and "still wraps run(s) run-1" in str(refused.exception)
    result = cli.invoke(vault_cli, ["rewrap", "--keyring", str(keyring), "--vault", str(vault_dir)])
    assert result.exit_code == 0 and "1 run key(s) re-wrapped" in result.output
    assert cli.invoke(vault_cli, ["retire", old, "--keyring", str(keyring), "--vault", str(vault_dir)]).exit_code == 0
    status = cli.invoke(vault_cli, ["status", "--keyring", str(keyring), "--vault", str(vault_dir)], terminal_width=200)
    assert status.exit_code == 0 and "run-1" in status.output and "finished" in status.output


# -- PKCS#11 (SoftHSM2) -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def token(tmp_path_factory):
    """A throwaway SoftHSM2 token in a temporary directory: (module path, label, PIN)."""
    if shutil.which("softhsm2-util") is None or not SOFTHSM.exists():
        message = "SoftHSM2 is not installed; run 'make system-deps' (apt-get install softhsm2)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    home = tmp_path_factory.mktemp("softhsm")
    (home / "tokens").mkdir()
    conf = home / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    label, pin = f"airlock-{secrets.token_hex(3)}", secrets.token_hex(6)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(conf))
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", secrets.token_hex(6)],
            check=True, capture_output=True,
        )
        yield SOFTHSM, label, pin


def test_pkcs11_kek_stays_in_the_token_and_round_trips_a_run(token, tmp_path):
    from pkcs11 import Attribute

    ring = Pkcs11Keyring(*token, key_label="round-trip")
    key = ring._keys[ring.key_id]
    assert key[Attribute.EXTRACTABLE] is False and key[Attribute.SENSITIVE] is True and key[Attribute.TOKEN] is True

    vault = Vault(tmp_path / "vault")
    _batches(vault.create_run("run-1", ring))
    reopened = Pkcs11Keyring(*token, key_label="round-trip")
    assert reopened.key_id == ring.key_id == "round-trip#1"
    assert sum(b.num_rows for b in vault.open("run-1", reopened).chunks("patient")) == 6
    with pytest.raises(VaultIntegrityError, match="wrapped key"):
        vault.open("run-1", Pkcs11Keyring(*token, key_label="another-kek"))


def test_pkcs11_rotation_rewraps_and_retires(token, tmp_path):
    ring = Pkcs11Keyring(*token, key_label="rotating")
    vault = Vault(tmp_path / "vault")
    _batches(vault.create_run("run-1", ring))
    chunks_before, old = _chunk_bytes(vault), ring.key_id

    assert ring.rotate() == "rotating#2"
    assert vault.rewrap_all(ring) == ["run-1"]
    ring.retire(old)
    assert _chunk_bytes(vault) == chunks_before
    assert sum(b.num_rows for b in vault.open("run-1", Pkcs11Keyring(*token, key_label="rotating")).chunks("patient")) == 6
