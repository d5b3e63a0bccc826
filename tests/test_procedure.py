"""The procedure: steps enforced, four eyes, crash-safe resume under SIGKILL, reconciliation that catches tampering."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader

from airlock import dburl, model
from airlock.cli.demo import demo_mandate
from airlock.errors import AirlockError
from airlock.mandate import sign_mandate
from airlock.procedure.lifecycle import State, StepRefused
from airlock.procedure.records import RunStore
from airlock.procedure.report import write_report
from airlock.procedure.runner import Procedure, Targets
from airlock.procedure.scheduler import ACTOR, PurgeWorker, purge_due
from airlock.signing import SigningIdentity
from airlock.store import open_store
from airlock.synth import blis
from airlock.vault import PassphraseKeyring, Vault
from airlock.vault.certificate import DeletionCertificate
from airlock.vault.delivery import keygen, open_delivery

PASSPHRASE = "a passphrase for the tests only"


class Lab:
    """A synthetic source, a signed mandate, keys on disk and a procedure over a private AIRLOCK_HOME."""

    def __init__(self, root: Path, patients: int = 120, seed: int = 9, target: str | None = None):
        self.root = root
        self.home = root / "home"
        self.home.mkdir(mode=0o700)
        self.source = f"sqlite:///{root / 'source.db'}"
        blis.generate(self.source, patients=patients, seed=seed)
        self.controller = SigningIdentity.generate("Dr Anne Martin", "controller")
        self.processor = SigningIdentity.generate("Karim Benali", "processor")
        self.keys = root / "keys"
        self.controller_key = self.controller.save(self.keys, PASSPHRASE.encode())[0]
        self.processor_key = self.processor.save(self.keys, PASSPHRASE.encode())[0]
        self.identity = root / "lab-age-identity.txt"
        self.mandate = root / "mandate.yaml"
        body = demo_mandate(dt.date.today(), keygen(self.identity))
        self.mandate.write_text(yaml.safe_dump(body, allow_unicode=True, sort_keys=False))
        sign_mandate(self.mandate, self.controller)
        sign_mandate(self.mandate, self.processor)
        self.target = target or f"sqlite:///{root / 'target.db'}"
        self.keyring = PassphraseKeyring.create(self.home / "keyring.json", PASSPHRASE)
        self.store = open_store(f"sqlite:///{self.home / 'airlock.db'}")
        self.procedure = Procedure(RunStore(self.store), Vault(self.home / "vault"), self.keyring, batch_rows=40)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "AIRLOCK_HOME": str(self.home),
            "AIRLOCK_DATABASE_URL": f"sqlite:///{self.home / 'airlock.db'}",
            "AIRLOCK_KEY_PASSPHRASE": PASSPHRASE,
            "AIRLOCK_KEYRING_PASSPHRASE": PASSPHRASE,
            "AIRLOCK_BATCH_ROWS": "40",
        }

    def approved_run(self, fhir: bool = False) -> str:
        run = self.procedure.create(self.mandate, self.source, Targets(self.target, self.root / "fhir" if fhir else None), self.processor)
        self.procedure.approve(run.id, self.controller)
        return run.id


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    lab = Lab(tmp_path)
    yield lab
    lab.store.close()


def test_steps_cannot_be_skipped_and_four_eyes_hold(lab: Lab) -> None:
    p = lab.procedure
    run = p.create(lab.mandate, lab.source, Targets(lab.target), lab.processor)
    assert run.status == State.PLANNED
    with pytest.raises(StepRefused, match="must be plan-approved by the controller first"):
        p.extract(run.id, lab.processor)
    with pytest.raises(StepRefused, match="must be staged first"):
        p.load(run.id, lab.processor)
    with pytest.raises(AirlockError, match="only the controller who signed the mandate"):
        p.approve(run.id, lab.processor)  # the operator approving their own plan
    intruder = SigningIdentity.generate("Someone Else", "controller")
    with pytest.raises(AirlockError, match="only the controller who signed the mandate"):
        p.approve(run.id, intruder)
    p.approve(run.id, lab.controller)
    with pytest.raises(AirlockError, match="operated with key"):
        p.extract(run.id, intruder)
    p.extract(run.id, lab.processor)
    with pytest.raises(StepRefused, match="must be reconciled first"):
        p.accept(run.id, lab.controller)
    p.load(run.id, lab.processor)
    with pytest.raises(StepRefused, match="must be reconciled first"):
        p.accept(run.id, lab.controller)
    p.reconcile(run.id, lab.processor)
    with pytest.raises(AirlockError, match="only the controller who signed the mandate"):
        p.accept(run.id, lab.processor)
    assert p.accept(run.id, lab.controller).status == State.ACCEPTED
    events = [(e.step, e.actor_role) for e in p.store.events(run.id)]
    assert ("approve plan", "controller") in events and ("accept", "controller") in events


def _manifest_lines(lab: Lab, run_id: str) -> int:
    path = lab.home / "vault" / run_id / "manifest.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _step(lab: Lab, *args: str, kill_when=None) -> int | None:
    """Run an airlock command in a child process; SIGKILL it as soon as ``kill_when()`` holds."""
    child = subprocess.Popen(
        [sys.executable, "-c", "from airlock.cli import main; main()", *args],
        env=lab.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    while child.poll() is None:
        if kill_when is not None and kill_when():
            child.send_signal(signal.SIGKILL)
            child.wait()
            return None
        time.sleep(0.002)
    assert child.returncode == 0, child.stderr.read().decode()
    return child.returncode


def _target_rows(url: str) -> dict[str, list[str]]:
    path = dburl.parse(url).database
    with sqlite3.connect(path) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'lab_%'")]
        return {t: [k for (k,) in db.execute(f'SELECT "{model.entity(t.removeprefix("lab_")).key}" FROM "{t}"')] for t in tables}


@pytest.mark.parametrize("seed", [1, 2])
def test_sigkill_anywhere_then_resume_is_exact(lab: Lab, seed: int) -> None:
    """Ten kills during extraction and six during loading per seed; each resume continues, and the result
    reconciles exactly with no duplicate and no loss."""
    run_id = lab.approved_run(fhir=True)
    rng = random.Random(seed)
    key = str(lab.processor_key)
    kills = 0
    for point in sorted(rng.sample(range(3, 150), 10)):
        finished = _step(lab, "run", "extract", run_id, "--key", key, kill_when=lambda: _manifest_lines(lab, run_id) >= point)
        kills += finished is None
        if finished is not None:
            break
    else:
        _step(lab, "run", "extract", run_id, "--key", key)
    assert lab.procedure.store.get(run_id).status == State.STAGED
    for delay in sorted(rng.uniform(0.3, 2.0) for _ in range(6)):
        started = time.monotonic()
        kills += _step(lab, "run", "load", run_id, "--key", key, kill_when=lambda: time.monotonic() - started > delay) is None
    if lab.procedure.store.get(run_id).status != State.LOADED:
        _step(lab, "resume", run_id, "--key", key)
    else:
        _step(lab, "run", "reconcile", run_id, "--key", key)
    assert kills >= 8, "the kills must land while the work is under way"
    run = lab.procedure.store.get(run_id)
    assert run.status == State.RECONCILED and run.reconciled_ok
    # Independently of the procedure's own fingerprints: keys in the target are unique, and as many as staged.
    rows = _target_rows(lab.target)
    figures = {e.entity: e for e in lab.procedure.store.entities(run_id)}
    for table, keys in rows.items():
        assert len(keys) == len(set(keys)) == figures[table.removeprefix("lab_")].rows_read
    assert not list(lab.root.glob("fhir.partial-*"))
    assert not list((lab.root / "fhir").glob("*.ndjson")), "file deliveries are encrypted"
    opened = open_delivery(lab.root / "fhir", lab.identity, lab.root / "opened")
    lines = (opened / "Observation.ndjson").read_text().splitlines()
    assert len(lines) == len({json.loads(line)["id"] for line in lines}) == figures["result"].rows_read


def test_reconciliation_catches_a_deleted_an_altered_and_a_duplicated_record(lab: Lab) -> None:
    p = lab.procedure
    run_id = lab.approved_run()
    p.extract(run_id, lab.processor)
    p.load(run_id, lab.processor)
    path = dburl.parse(lab.target).database
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM lab_patient WHERE rowid = (SELECT min(rowid) FROM lab_patient)")
        db.execute("UPDATE lab_result SET value_text = 'tampered' WHERE rowid = (SELECT min(rowid) FROM lab_result)")
        # The primary key forbids an exact duplicate: rebuild lab_specimen without it, then duplicate a row.
        db.execute("CREATE TABLE s AS SELECT * FROM lab_specimen")
        db.execute("DROP TABLE lab_specimen")
        db.execute("ALTER TABLE s RENAME TO lab_specimen")
        db.execute("INSERT INTO lab_specimen SELECT * FROM lab_specimen LIMIT 1")
    run = p.reconcile(run_id, lab.processor)
    assert run.reconciled_ok is False
    diffs = {e.entity: json.loads(e.differences) for e in p.store.entities(run_id) if e.differences}
    assert diffs["patient"]["missing"] == 1
    assert diffs["result"]["altered"] == 1
    assert diffs["specimen"]["duplicated"] == 1
    assert set(diffs) == {"patient", "result", "specimen"}
    with pytest.raises(AirlockError, match="needs a written waiver"):
        p.accept(run_id, lab.controller)
    accepted = p.accept(run_id, lab.controller, waiver="Known test tampering, accepted for the test")
    assert accepted.status == State.ACCEPTED and accepted.waiver


def test_a_postgresql_target_reads_back_as_loaded_and_its_tampering_is_caught(tmp_path: Path, postgres_database) -> None:
    """The production target: read back (timestamps with time zone, text[] tags, dates), it fingerprints as
    the transformed staging did; an altered and a deleted record are named."""
    lab = Lab(tmp_path, target=postgres_database())
    try:
        p = lab.procedure
        run_id = lab.approved_run()
        p.extract(run_id, lab.processor)
        p.load(run_id, lab.processor)
        assert p.reconcile(run_id, lab.processor).reconciled_ok
        engine = dburl.engine(lab.target)
        with engine.begin() as db:
            db.exec_driver_sql("UPDATE lab_result SET value_text = 'tampered' WHERE result_id = (SELECT min(result_id) FROM lab_result)")
            db.exec_driver_sql("DELETE FROM lab_patient WHERE patient_id = (SELECT min(patient_id) FROM lab_patient)")
        engine.dispose()
        assert p.reconcile(run_id, lab.processor).reconciled_ok is False
        diffs = {e.entity: json.loads(e.differences) for e in p.store.entities(run_id) if e.differences}
        assert diffs == {"result": {"missing": 0, "unexpected": 0, "altered": 1, "duplicated": 0},
                         "patient": {"missing": 1, "unexpected": 0, "altered": 0, "duplicated": 0}}
    finally:
        lab.store.close()


@pytest.mark.parametrize("earlier", ["not recorded", "another version's"])
def test_a_run_loaded_by_an_earlier_airlock_still_reconciles(lab: Lab, earlier: str) -> None:
    """Runs loaded by an earlier Airlock have no expected digest in the store, or one hashed by another
    polars version or scheme: reconciliation computes it from the staging, and still names what differs."""
    p = lab.procedure
    run_id = lab.approved_run()
    p.extract(run_id, lab.processor)
    p.load(run_id, lab.processor)
    recorded = {e.entity: (e.staged_digest, e.fields, e.expected_digest) for e in p.store.entities(run_id)}
    assert all(all(r) for r in recorded.values()), "the load records what reconciliation compares against"
    for entity, (staged, _, expected) in recorded.items():
        if earlier == "not recorded":
            p.store.update_entity(run_id, entity, staged_digest=None, fields=None, expected_digest=None)
        else:
            # Digests as another version would have made them: other values, another scheme.
            p.store.update_entity(run_id, entity, staged_digest=staged[::-1], fields=None, expected_digest=expected[::-1])
    with sqlite3.connect(dburl.parse(lab.target).database) as db:
        db.execute("UPDATE lab_result SET value_text = 'tampered' WHERE rowid = (SELECT min(rowid) FROM lab_result)")
    run = p.reconcile(run_id, lab.processor)
    assert run.reconciled_ok is False
    entities = {e.entity: e for e in p.store.entities(run_id)}
    assert {e for e, r in entities.items() if not r.reconciled} == {"result"}
    assert json.loads(entities["result"].differences)["altered"] == 1
    assert {e: (r.staged_digest, r.fields, r.expected_digest) for e, r in entities.items()} == recorded


def test_a_tampered_chunk_fails_the_load_and_nothing_is_written(lab: Lab) -> None:
    """The chunks are opened ahead on another thread; their integrity failure still fails the run and rolls
    the target back."""
    from airlock.vault import VaultIntegrityError

    p = lab.procedure
    run_id = lab.approved_run()
    p.extract(run_id, lab.processor)
    last = sorted((lab.home / "vault" / run_id / "result").glob("*.chunk"))[-1]
    sealed = bytearray(last.read_bytes())
    sealed[-1] ^= 1
    last.write_bytes(bytes(sealed))
    with pytest.raises(VaultIntegrityError, match=f"chunk result/{last.stem}") as failed:
        p.load(run_id, lab.processor)
    assert "\n" not in str(failed.value)
    assert p.store.get(run_id).status == State.FAILED
    assert not _target_rows(lab.target), "the load's transaction was rolled back"


def test_report_pdf_names_every_actor(lab: Lab) -> None:
    p = lab.procedure
    run_id = lab.approved_run()
    p.extract(run_id, lab.processor)
    p.load(run_id, lab.processor)
    p.reconcile(run_id, lab.processor)
    p.accept(run_id, lab.controller)
    p.purge(run_id, lab.processor, "accepted")
    md, pdf = write_report(p.store, run_id, lab.root / "reports")
    text = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    for event in p.store.events(run_id):
        assert event.step in text and event.actor_name in text and event.actor_key in text
    assert "Deletion" in md.read_text() and run_id in text
    # The scope report: every delivered field of every entity, with its count of values.
    for e in p.store.entities(run_id):
        fields = json.loads(e.fields)
        assert fields and all(f["values"] <= e.rows_read for f in fields.values())
        assert f"- {e.entity}: " in md.read_text()


def test_deadline_purge_needs_no_person(lab: Lab) -> None:
    p = lab.procedure
    run_id = lab.approved_run()
    p.extract(run_id, lab.processor)
    chunks = list((lab.home / "vault" / run_id).glob("**/*.chunk"))
    assert chunks
    assert purge_due(p, lab.processor, dt.date.today()) == []  # not yet due
    later = dt.date.today() + dt.timedelta(days=400)  # past the mandate's deadline
    purged = purge_due(p, lab.processor, later)
    assert [r.id for r in purged] == [run_id] and purged[0].status == State.PURGED
    assert not any(c.exists() for c in chunks)
    certificate = DeletionCertificate.load(lab.home / "vault" / run_id / "certificate.json")
    certificate.verify(lab.processor.public)
    assert certificate.actor == ACTOR and certificate.reason == "mandate deadline passed"


def test_the_vault_tool_leaves_a_runs_staging_to_the_procedure(lab: Lab, monkeypatch) -> None:
    """`airlock vault purge` is for staging no run owns: a staged run that is neither accepted nor past its
    deadline keeps its staging (reconciliation still needs it), and the refusal says which command purges it."""
    from typer.testing import CliRunner

    from airlock.cli.vault import app as vault_cli

    run_id = lab.approved_run()
    lab.procedure.extract(run_id, lab.processor)
    chunks = list((lab.home / "vault" / run_id).glob("**/*.chunk"))
    for name, value in lab.env().items():
        monkeypatch.setenv(name, value)
    refused = CliRunner().invoke(vault_cli, ["purge", run_id, "--actor", "ops", "--reason", "tidying up",
                                             "--key", str(lab.processor_key), "--mandate-digest", "abc"])
    assert refused.exit_code != 0 and isinstance(refused.exception, AirlockError)
    assert f"airlock purge {run_id}" in str(refused.exception) and "staged" in str(refused.exception)
    assert chunks and all(c.exists() for c in chunks)
    assert lab.procedure.store.get(run_id).status == State.STAGED


def test_the_background_worker_purges_due_runs(lab: Lab) -> None:
    p = lab.procedure
    run_id = lab.approved_run()
    p.extract(run_id, lab.processor)

    @contextmanager
    def procedure():
        yield p

    worker = PurgeWorker(procedure, lab.processor, interval=0.05, today=lambda: dt.date.today() + dt.timedelta(days=400))
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while p.store.get(run_id).status != State.PURGED and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
        worker.join()
    assert p.store.get(run_id).status == State.PURGED


def test_a_file_delivery_needs_the_controllers_recipient(lab: Lab) -> None:
    body = yaml.safe_load(lab.mandate.read_text())
    body["delivery"] = {"channel": "database"}
    unencrypted = lab.root / "database-only.yaml"
    unencrypted.write_text(yaml.safe_dump(body, allow_unicode=True, sort_keys=False))
    sign_mandate(unencrypted, lab.controller)
    sign_mandate(unencrypted, lab.processor)
    with pytest.raises(AirlockError, match="names no delivery.recipient"):
        lab.procedure.create(unencrypted, lab.source, Targets(lab.target, lab.root / "fhir"), lab.processor)


def test_a_source_lost_mid_run_stops_resumably_and_resumes(lab: Lab) -> None:
    p = lab.procedure
    run_id = lab.approved_run()
    source_file = lab.root / "source.db"
    moved = source_file.rename(lab.root / "elsewhere.db")
    with pytest.raises(AirlockError) as stopped:
        p.extract(run_id, lab.processor)
    assert "\n" not in str(stopped.value) and "does not exist" in str(stopped.value)
    run = p.store.get(run_id)
    assert run.status == State.EXTRACTING and run.error == str(stopped.value)
    moved.rename(source_file)
    p.extract(run_id, lab.processor)
    p.load(run_id, lab.processor)
    run = p.reconcile(run_id, lab.processor)
    assert run.reconciled_ok and run.error is None


def test_a_scope_violation_fails_the_run(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    from airlock.guard import ScopeGuard, ScopeViolation

    p = lab.procedure
    run_id = lab.approved_run()
    p.extract(run_id, lab.processor)

    def violated(self, entity, batch):
        raise ScopeViolation(f"scope violation in {entity}.test: planted by the test")

    monkeypatch.setattr(ScopeGuard, "check", violated)
    with pytest.raises(ScopeViolation):
        p.load(run_id, lab.processor)
    assert p.store.get(run_id).status == State.FAILED
    assert not _target_rows(lab.target), "nothing of the batch was written"
    assert p.purge(run_id, lab.processor, "failed").status == State.PURGED
