"""The vault: sealed round trips of the canonical model, every tampering case, purge by crypto-shredding."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import shutil
import stat
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from airlock import model
from airlock.cli.vault import app as vault_cli
from airlock.logs import Safe, configure_logging
from airlock.signing import SigningIdentity
from airlock.vault import (
    DeletionCertificate,
    PassphraseKeyring,
    SecurityEvent,
    Vault,
    VaultError,
    VaultIntegrityError,
    subscribe,
)
from airlock.vault.staging import REJECT_REASON

SENTINELS = ["ZQXSENTINELNAME7731", "zqx.sentinel.4419@example.org", "1 84 12 75 998 877 31", "ZQXCOMMENT hypertension"]


@pytest.fixture(scope="module")
def keyring(tmp_path_factory) -> PassphraseKeyring:
    return PassphraseKeyring.create(tmp_path_factory.mktemp("keys") / "keyring.json", "vault test passphrase")


@pytest.fixture
def vault(tmp_path) -> Vault:
    return Vault(tmp_path / "vault")


@pytest.fixture
def events():
    seen: list[SecurityEvent] = []
    unsubscribe = subscribe(seen.append)
    yield seen
    unsubscribe()


@pytest.fixture(scope="module")
def processor() -> SigningIdentity:
    return SigningIdentity.generate("Transfert Santé SAS", "processor")


def results(n: int, start: int = 0, comment: str = "ok") -> pa.RecordBatch:
    """Results of the canonical model: strings, floats, timestamps, list<string>, with nulls."""
    schema = model.entity("result").schema
    ids = range(start, start + n)
    columns = {f.name: [None] * n for f in schema}
    columns |= {
        "result_id": [f"r{i}" for i in ids],
        "patient_id": [f"p{i % 7}" for i in ids],
        "collected_at": [dt.datetime(2024, 1, 1) + dt.timedelta(hours=i) for i in ids],
        "test_name": ["Hémoglobine glyquée"] * n,
        "sensitivity": [["hiv", "sti"] if i % 3 == 0 else [] if i % 3 == 1 else None for i in ids],
        "value_numeric": [i / 3 if i % 4 else None for i in ids],
        "reference_low": [4.0] * n,
        "comment": [comment] * n,
    }
    return pa.RecordBatch.from_pydict(columns, schema=schema)


def sealed_run(vault: Vault, keyring, run_id: str = "run-1", chunks: int = 3):
    run = vault.create_run(run_id, keyring)
    for i in range(chunks):
        run.seal("result", results(5, start=5 * i))
    run.seal("site", pa.record_batch({"site_id": ["s1"]}))
    run.close()
    return run


def test_round_trip_keeps_types_values_and_order(vault, keyring):
    run = vault.create_run("run-1", keyring)
    batches = [results(10), results(1, start=10), results(7, start=11)]
    refs = [run.seal("result", b) for b in batches]
    run.seal("patient", pa.Table.from_batches([], schema=model.entity("patient").schema))
    run.close()

    assert [r.index for r in refs] == [0, 1, 2] and [r.rows for r in refs] == [10, 1, 7]
    got = list(vault.open("run-1", keyring).chunks("result"))
    assert pa.Table.from_batches(got).equals(pa.Table.from_batches(batches), check_metadata=True)
    assert got[0].schema.field("sensitivity").type == pa.list_(pa.string())
    assert [b.num_rows for b in vault.open("run-1", keyring).chunks("patient")] == []


def test_files_are_private_and_named_by_entity_and_index(vault, keyring):
    run = sealed_run(vault, keyring)
    assert stat.S_IMODE(vault.root.stat().st_mode) == 0o700
    for path in run.path.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    assert sorted(p.name for p in (run.path / "result").iterdir()) == ["000000.chunk", "000001.chunk", "000002.chunk"]


def test_vault_refuses_a_directory_others_can_read(tmp_path):
    (tmp_path / "open").mkdir(mode=0o755)
    os.chmod(tmp_path / "open", 0o755)
    with pytest.raises(VaultError, match="chmod 700"):
        Vault(tmp_path / "open")


def test_no_plaintext_on_disk(vault, keyring):
    """Sentinel values sealed as data and as a reject reason appear in no file under the vault."""
    run = vault.create_run("run-1", keyring)
    batch = results(50, comment=" ".join(SENTINELS))
    run.seal("result", batch)
    patients = pa.record_batch(
        {"patient_id": ["p1"], "birth_name": [SENTINELS[0]], "email": [SENTINELS[1]], "nir": [SENTINELS[2]]}
    )
    run.seal_rejects("patient", patients, reason=f"invalid NIR {SENTINELS[3]}")
    run.close()

    files = [p for p in vault.root.rglob("*") if p.is_file()]
    assert len(files) >= 4
    for path in files:
        data = path.read_bytes()
        for sentinel in SENTINELS:
            for encoding in ("utf-8", "utf-16-le"):
                assert sentinel.encode(encoding) not in data, f"{sentinel!r} in clear in {path}"


def test_rejects_are_sealed_apart_with_their_reason(vault, keyring):
    run = vault.create_run("run-1", keyring)
    run.seal("result", results(3))
    ref = run.seal_rejects("result", results(2, start=3), reason="value_numeric not a number")
    run.close()

    assert ref.entity == "rejects/result" and (run.path / "rejects" / "result" / "000000.chunk").exists()
    (rejected,) = vault.open("run-1", keyring).chunks("rejects/result")
    assert rejected.num_rows == 2
    assert rejected.schema.metadata[REJECT_REASON] == b"value_numeric not a number"
    assert sum(b.num_rows for b in run.chunks("result")) == 3


def test_resume_continues_after_the_last_recorded_chunk(vault, keyring):
    run = vault.create_run("run-1", keyring)
    run.seal("result", results(4))
    # A crash while appending the next manifest line leaves a partial line behind.
    with open(run.path / "manifest.jsonl", "ab") as fh:
        fh.write(b'{"record":{"type":"chunk","ent')
    with pytest.raises(VaultError, match="not finished"):
        list(run.chunks("result"))

    resumed = vault.open("run-1", keyring)
    assert [r.index for r in resumed.chunk_refs("result")] == [0]
    assert not resumed.is_finished("result")
    assert resumed.seal("result", results(2, start=4)).index == 1
    resumed.finish_entity("result")
    with pytest.raises(VaultError, match="already finished"):
        resumed.seal("result", results(1))
    assert [b.num_rows for b in vault.open("run-1", keyring).chunks("result")] == [4, 2]


def test_run_ids_and_entity_names_cannot_escape_the_vault(vault, keyring):
    with pytest.raises(VaultError, match="run id"):
        vault.create_run("../elsewhere", keyring)
    run = vault.create_run("run-1", keyring)
    with pytest.raises(VaultError, match="entity name"):
        run.seal("../../etc", results(1))


# -- tampering ---------------------------------------------------------------------------------------


def _chunk(run, index: int) -> Path:
    return run.path / "result" / f"{index:06d}.chunk"


def flip_byte(run, vault, keyring):
    path = _chunk(run, 1)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(run, vault, keyring):
    path = _chunk(run, 1)
    path.write_bytes(path.read_bytes()[:-20])


def drop(run, vault, keyring):
    _chunk(run, 1).unlink()


def swap(run, vault, keyring):
    a, b = _chunk(run, 1).read_bytes(), _chunk(run, 2).read_bytes()
    _chunk(run, 1).write_bytes(b)
    _chunk(run, 2).write_bytes(a)


def replay_from_another_run(run, vault, keyring):
    other = sealed_run(vault, keyring, "run-2")
    shutil.copy(_chunk(other, 1), _chunk(run, 1))


@pytest.mark.parametrize("tamper", [flip_byte, truncate, drop, swap, replay_from_another_run])
def test_tampered_chunk_is_named_and_stops_the_entity(vault, keyring, events, tamper):
    run = sealed_run(vault, keyring)
    tamper(run, vault, keyring)

    yielded = []
    with pytest.raises(VaultIntegrityError) as caught:
        for batch in vault.open("run-1", keyring).chunks("result"):
            yielded.append(batch)
    assert (caught.value.entity, caught.value.index) == ("result", 1)
    assert "result/000001" in str(caught.value)
    assert [b["result_id"][0].as_py() for b in yielded] == ["r0"], "only chunks before the bad one"
    (event,) = [e for e in events if e.kind == "vault.integrity_failure"]
    assert (event.run_id, event.detail["entity"], event.detail["index"]) == ("run-1", "result", "1")
    # Other entities of the run are unaffected.
    assert [b.num_rows for b in vault.open("run-1", keyring).chunks("site")] == [1]


def _manifest_lines(run) -> list[bytes]:
    return (run.path / "manifest.jsonl").read_bytes().splitlines(keepends=True)


def edit_rows(lines):
    entry = json.loads(lines[2])
    entry["record"]["rows"] += 1
    lines[2] = json.dumps(entry).encode() + b"\n"
    return lines


def drop_middle_line(lines):
    return lines[:2] + lines[3:]


def reorder_lines(lines):
    return [lines[0], lines[2], lines[1], *lines[3:]]


@pytest.mark.parametrize("edit", [edit_rows, drop_middle_line, reorder_lines])
def test_tampered_manifest_is_detected(vault, keyring, events, edit):
    run = sealed_run(vault, keyring)
    (run.path / "manifest.jsonl").write_bytes(b"".join(edit(_manifest_lines(run))))

    with pytest.raises(VaultIntegrityError, match="manifest line"):
        vault.open("run-1", keyring)
    with pytest.raises(VaultIntegrityError, match="manifest line"):
        list(run.chunks("result"))  # an open RunVault re-reads the manifest before yielding
    assert any(e.kind == "vault.integrity_failure" for e in events)


def test_manifest_of_another_run_is_detected(vault, keyring):
    run = sealed_run(vault, keyring)
    other = sealed_run(vault, keyring, "run-2")
    shutil.copy(other.path / "manifest.jsonl", run.path / "manifest.jsonl")
    with pytest.raises(VaultIntegrityError, match="run-1: manifest line 1"):
        vault.open("run-1", keyring)


def test_wrong_keyring_is_an_integrity_error(vault, keyring, tmp_path, events):
    sealed_run(vault, keyring)
    stranger = PassphraseKeyring.create(tmp_path / "other.json", "another passphrase")
    with pytest.raises(VaultIntegrityError, match="wrapped key"):
        vault.open("run-1", stranger)
    assert events[-1].detail["what"] == "wrapped key"


def test_wrapped_key_moved_to_another_run_does_not_open(vault, keyring):
    sealed_run(vault, keyring)
    other = sealed_run(vault, keyring, "run-2")
    shutil.copy(vault.root / "run-1" / "key.json", other.path / "key.json")
    with pytest.raises(VaultIntegrityError, match="run-2: wrapped key"):
        vault.open("run-2", keyring)


# -- purge ---------------------------------------------------------------------------------------------


def test_purge_leaves_nothing_that_opens(vault, keyring, processor, tmp_path):
    run = sealed_run(vault, keyring)
    sealed_run(vault, keyring, "run-2")
    before = {p.relative_to(run.path): p.read_bytes() for p in run.path.rglob("*") if p.is_file()}
    wrapped = json.loads(before[Path("key.json")])["wrapped"].encode()

    cert = run.purge("ops@transfert", "migration accepted", processor, mandate_digest="m" * 64)

    assert sorted(p.name for p in run.path.iterdir()) == ["certificate.json", "purge.json"]
    assert {(c.entity, c.index) for c in cert.chunks} == {("result", 0), ("result", 1), ("result", 2), ("site", 0)}
    for c in cert.chunks:
        assert hashlib.sha256(before[Path(c.entity) / f"{c.index:06d}.chunk"]).hexdigest() == c.sha256
    # The wrapped DEK is nowhere in the vault any more.
    for path in vault.root.rglob("*"):
        if path.is_file():
            assert wrapped not in path.read_bytes()
    with pytest.raises(VaultError, match="purged"):
        list(run.chunks("result"))

    # Put every chunk and the manifest back: with the KEK still at hand, nothing opens them.
    for rel, data in before.items():
        if rel.name != "key.json":
            (run.path / rel).parent.mkdir(exist_ok=True)
            (run.path / rel).write_bytes(data)
    (run.path / "purge.json").unlink()
    with pytest.raises(VaultError, match="no key file"):
        vault.open("run-1", keyring)
    assert sum(b.num_rows for b in vault.open("run-2", keyring).chunks("result")) == 15, "the KEK itself still works"


def test_purge_is_idempotent(vault, keyring, processor):
    run = sealed_run(vault, keyring)
    first = run.purge("ops", "done", processor, mandate_digest="abc")
    again = vault.purge("run-1", "someone else", "again", processor, mandate_digest="abc")
    assert again == first
    assert vault.open("run-1", keyring).purged


def test_interrupted_purge_finishes_when_run_again(vault, keyring, processor, monkeypatch):
    run = sealed_run(vault, keyring)
    files = sorted(str(p.relative_to(run.path)) for p in run.path.rglob("*.chunk"))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    # The process dies right after the key was destroyed, before any chunk is deleted.
    monkeypatch.setattr("airlock.vault.staging.shutil.rmtree", crash)
    with pytest.raises(KeyboardInterrupt):
        run.purge("ops", "migration accepted", processor, mandate_digest="abc")
    monkeypatch.undo()

    assert not (run.path / "key.json").exists()
    assert json.loads((run.path / "purge.json").read_text())["state"] == "key destroyed"
    assert (run.path / "result" / "000000.chunk").exists()

    reopened = vault.open("run-1", keyring)
    assert reopened.purged
    cert = reopened.purge("ops", "migration accepted", processor, mandate_digest="abc")
    assert sorted(f"{c.entity}/{c.index:06d}.chunk" for c in cert.chunks) == files
    assert sorted(p.name for p in run.path.iterdir()) == ["certificate.json", "purge.json"]
    assert cert.destroyed_keys and cert.actor == "ops"
    cert.verify(processor.public)
    assert DeletionCertificate.load(run.path / "certificate.json") == cert


def test_a_tampered_run_can_still_be_purged(vault, keyring, processor):
    run = sealed_run(vault, keyring)
    (run.path / "manifest.jsonl").write_bytes(b"garbage\n")
    cert = vault.purge("run-1", "ops", "integrity failure", processor, mandate_digest="abc")
    assert len(cert.chunks) == 4 and len(cert.destroyed_keys) == 1


# -- logs ----------------------------------------------------------------------------------------------


@pytest.fixture
def root_log():
    """The root logger with one handler writing to a buffer, restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    root.handlers = [logging.StreamHandler(buffer)]
    yield buffer
    root.handlers, root.level = saved_handlers, saved_level


def test_logging_filter_redacts_planted_values(root_log):
    configure_logging()
    configure_logging()  # idempotent: one filter per handler
    log = logging.getLogger("airlock.some.module")
    nir, email, phone = "2 84 12 2A 123 456 78", "jeanne.zqx@example.org", "06 12 34 56 78"
    long_text = "Patiente ZQXLONGFREETEXT suivie pour diabète de type 2 depuis 2019"
    path = Safe("/var/lib/airlock/vault/run-2026-11-29-001/result/000001.chunk")
    log.info("found %s and %s", nir, email)
    log.warning("call %(phone)s", {"phone": phone})
    log.error("comment was %s", long_text)
    log.info("sealed %s (%d rows)", path, 12)
    log.info(f"careless f-string with {email}")
    try:
        raise ValueError(f"bad value {nir}")
    except ValueError:
        log.exception("failed")

    out = root_log.getvalue()
    for planted in (nir, email, phone, "ZQXLONGFREETEXT"):
        assert planted not in out
    assert "[NIR]" in out and "[e-mail]" in out and "[withheld]" in out
    assert f"sealed {path} (12 rows)" in out
    assert len(logging.getLogger().handlers[0].filters) == 1


def test_cli_status_flags_a_tampered_run_and_purge_removes_it(tmp_path, monkeypatch, processor):
    monkeypatch.setenv("AIRLOCK_HOME", str(tmp_path))
    monkeypatch.setenv("AIRLOCK_KEYRING_PASSPHRASE", "cli vault passphrase")
    monkeypatch.setenv("AIRLOCK_KEY_PASSPHRASE", "processor key passphrase")
    cli = CliRunner()
    assert cli.invoke(vault_cli, ["init"]).exit_code == 0
    ring = PassphraseKeyring(tmp_path / "keyring.json", "cli vault passphrase")
    run = sealed_run(Vault(), ring)
    sealed_run(Vault(), ring, "run-2")
    (run.path / "manifest.jsonl").write_bytes(b"")
    key_file, _ = processor.save(tmp_path / "ids", b"processor key passphrase")

    status = cli.invoke(vault_cli, ["status"], terminal_width=200)
    assert status.exit_code == 0, status.output
    assert "integrity failure" in status.output and "finished" in status.output
    purged = cli.invoke(
        vault_cli,
        ["purge", "run-1", "--actor", "ops", "--reason", "integrity failure", "--key", str(key_file),
         "--mandate-digest", "abc", "--out", str(tmp_path / "cert.json")],
    )
    assert purged.exit_code == 0, purged.output
    DeletionCertificate.load(tmp_path / "cert.json").verify(processor.public)
    assert "purged" in cli.invoke(vault_cli, ["status", "run-1"], terminal_width=200).output
