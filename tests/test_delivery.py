"""Encrypted deliverables: an age-encrypted tar of a delivery directory, and opening it."""

from __future__ import annotations

import filecmp
import os
import stat

import pytest
from typer.testing import CliRunner

from airlock.cli.delivery import app as delivery_cli
from airlock.errors import AirlockError
from airlock.vault.delivery import encrypt_directory, keygen, open_delivery

SENTINEL = b"ZQXDELIVERYSENTINEL-Patient/4411"


@pytest.fixture
def delivery(tmp_path):
    out = tmp_path / "fhir"
    (out / "nested").mkdir(parents=True)
    (out / "Patient.ndjson").write_bytes(b'{"resourceType":"Patient","id":"' + SENTINEL + b'"}\n' * 200)
    (out / "nested" / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # spans many age chunks
    return out


def _same_tree(a, b) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)[1:] != ([], []):
        return False
    return all(_same_tree(a / d, b / d) for d in cmp.common_dirs)


def test_round_trip_and_nothing_in_clear(delivery, tmp_path):
    recipient = keygen(tmp_path / "key.txt")
    assert recipient.startswith("age1") and stat.S_IMODE((tmp_path / "key.txt").stat().st_mode) == 0o600
    sealed = encrypt_directory(delivery, recipient)
    assert SENTINEL not in sealed.read_bytes()
    opened = open_delivery(sealed, tmp_path / "key.txt", tmp_path / "received")
    assert _same_tree(delivery, opened)


def test_wrong_identity_fails_and_leaves_nothing(delivery, tmp_path):
    sealed = encrypt_directory(delivery, keygen(tmp_path / "key.txt"))
    keygen(tmp_path / "other.txt")
    with pytest.raises(AirlockError, match="cannot open this delivery"):
        open_delivery(sealed, tmp_path / "other.txt", tmp_path / "received")
    assert list((tmp_path / "received").iterdir()) == []


def test_truncated_delivery_fails_and_leaves_nothing(delivery, tmp_path):
    sealed = encrypt_directory(delivery, keygen(tmp_path / "key.txt"))
    cut = tmp_path / "cut.tar.age"
    cut.write_bytes(sealed.read_bytes()[:-1000])
    with pytest.raises(AirlockError, match="damaged or truncated"):
        open_delivery(cut, tmp_path / "key.txt", tmp_path / "received")
    assert list((tmp_path / "received").iterdir()) == []


def test_bad_recipient_and_bad_identity_file(delivery, tmp_path):
    with pytest.raises(AirlockError, match="recipient is not valid"):
        encrypt_directory(delivery, "age1notakey")
    assert not (tmp_path / "fhir.tar.age").exists()
    (tmp_path / "junk.txt").write_text("# nothing here\n")
    sealed = encrypt_directory(delivery, keygen(tmp_path / "key.txt"))
    with pytest.raises(AirlockError, match="no age identity"):
        open_delivery(sealed, tmp_path / "junk.txt", tmp_path / "received")


def test_cli_keygen_seal_open(delivery, tmp_path):
    cli = CliRunner()
    made = cli.invoke(delivery_cli, ["keygen", "--out", str(tmp_path / "key.txt")])
    assert made.exit_code == 0
    recipient = made.output.strip()
    assert recipient in (tmp_path / "key.txt").read_text()
    sealed = cli.invoke(delivery_cli, ["seal", str(delivery), "--recipient", recipient])
    assert sealed.exit_code == 0
    opened = cli.invoke(
        delivery_cli, ["open", sealed.output.strip(), "--identity", str(tmp_path / "key.txt"), "--out", str(tmp_path / "in")]
    )
    assert opened.exit_code == 0 and _same_tree(delivery, tmp_path / "in")
