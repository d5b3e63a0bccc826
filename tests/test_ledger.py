"""The ledger: tampering in the database is caught and named, checkpoints are signed, pruning keeps it verifiable,
entries refuse patient data, exports are valid FHIR AuditEvents and RFC 5424 lines, procedure steps land in it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fhir.resources.R4B.auditevent import AuditEvent

from airlock.ledger import (
    SYSTEM,
    Actor,
    Ledger,
    LedgerEntry,
    NotAnId,
    connect,
    entry_for,
)
from airlock.ledger.export import audit_event, audit_events_ndjson, syslog_line
from airlock.signing import SigningIdentity
from airlock.store import Store, open_store
from airlock.vault.events import SecurityEvent, emit

OPERATOR = Actor("acc-7f3a", "Karim Benali", "operator")


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'airlock.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_database")()
    with open_store(url) as store:
        yield store


def filled(store: Store, n: int = 10, clock: Callable[[], datetime] | None = None) -> Ledger:
    ledger = Ledger(store, **({"clock": clock} if clock else {}))
    for i in range(n):
        ledger.append(LedgerEntry("run_transition", OPERATOR, {"run": f"run-{i}", "plan_digest": f"{i:064x}"}))
    return ledger


def sql(store: Store, statement: str, **params: object) -> None:
    with store.engine.begin() as c:
        c.execute(sa.text(statement), params)


def test_an_intact_ledger_verifies(store: Store) -> None:
    ledger = filled(store)
    signer = SigningIdentity.generate("Airlock processor", "processor")
    ledger.checkpoint(signer)
    ledger.append(LedgerEntry("login", OPERATOR))
    result = ledger.verify(processor=signer.public)
    with store.engine.connect() as c:
        assert result.entries == c.scalar(sa.text("SELECT count(*) FROM ledger_entry"))
    assert result.ok and result.checkpoints == 1


def test_a_changed_entry_is_named(store: Store) -> None:
    ledger = filled(store)
    sql(store, "UPDATE ledger_entry SET objects = :o WHERE seq = 4", o=json.dumps({"run": "run-other"}))
    assert str(ledger.verify().first_problem).startswith("entry 4: content does not match its hash")


def test_a_changed_entry_with_its_hash_recomputed_breaks_the_next_link(store: Store) -> None:
    ledger = filled(store)
    rec = next(r for r in ledger.entries() if r.seq == 4)
    forged = type(rec)(**{**rec.__dict__, "objects": {"run": "run-other"}, "hash": ""})
    sql(store, "UPDATE ledger_entry SET objects = :o, hash = :h WHERE seq = 4", o=json.dumps(forged.objects), h=forged.computed_hash())
    assert str(ledger.verify().first_problem).startswith("entry 5: previous hash is not entry 4's hash")


def test_a_deleted_entry_is_named(store: Store) -> None:
    ledger = filled(store)
    sql(store, "DELETE FROM ledger_entry WHERE seq = 6")
    assert str(ledger.verify().first_problem) == "entry 6: missing (entry 6 deleted)"


def test_a_deleted_tail_is_caught_by_the_checkpoint(store: Store) -> None:
    ledger = filled(store)
    ledger.checkpoint(SigningIdentity.generate("Airlock processor", "processor"))
    sql(store, "DELETE FROM ledger_entry WHERE seq >= 9")
    assert str(ledger.verify().first_problem).startswith("entry 9: covered by the checkpoint of entries 1 to 10 but not in the ledger")


def test_an_inserted_entry_is_named(store: Store) -> None:
    ledger = filled(store)
    # Make room after entry 3 and insert a well-formed entry chained to entry 3, as a forger would.
    with store.engine.begin() as c:
        for seq in range(10, 3, -1):
            c.execute(sa.text("UPDATE ledger_entry SET seq = :n WHERE seq = :o"), {"n": seq + 1, "o": seq})
    third = next(r for r in ledger.entries() if r.seq == 3)
    fake = type(third)(4, third.at, "login", "success", OPERATOR, {}, third.hash, "")
    sql(store, "INSERT INTO ledger_entry (seq, at, kind, outcome, actor_id, actor_name, actor_role, objects, prev_hash, hash) "
               "VALUES (4, :at, 'login', 'success', :a, :n, :r, '{}', :p, :h)",
        at=third.at, a=OPERATOR.id, n=OPERATOR.name, r=OPERATOR.role, p=third.hash, h=fake.computed_hash())
    assert str(ledger.verify().first_problem).startswith("entry 5: content does not match its hash")


def test_reordered_entries_are_named(store: Store) -> None:
    ledger = filled(store)
    with store.engine.begin() as c:
        c.execute(sa.text("UPDATE ledger_entry SET seq = 1000 WHERE seq = 3"))
        c.execute(sa.text("UPDATE ledger_entry SET seq = 3 WHERE seq = 7"))
        c.execute(sa.text("UPDATE ledger_entry SET seq = 7 WHERE seq = 1000"))
    result = ledger.verify()
    assert str(result.first_problem).startswith("entry 3: content does not match its hash")
    assert any(p.seq == 7 for p in result.problems)


def test_a_rewritten_chain_fails_the_signed_checkpoint(store: Store) -> None:
    ledger = filled(store, 4)
    signer = SigningIdentity.generate("Airlock processor", "processor")
    ledger.checkpoint(signer)
    # Rewrite entry 2 and re-chain everything after it: the chain is consistent again, the signed root is not.
    prev = None
    for rec in list(ledger.entries()):
        if rec.seq >= 2:
            objects = {"run": "run-forged"} if rec.seq == 2 else rec.objects
            rec = type(rec)(**{**rec.__dict__, "objects": objects, "prev_hash": prev})
            sql(store, "UPDATE ledger_entry SET objects = :o, prev_hash = :p, hash = :h WHERE seq = :s",
                o=json.dumps(rec.objects), p=rec.prev_hash, h=rec.computed_hash(), s=rec.seq)
            prev = rec.computed_hash()
        else:
            prev = rec.hash
    assert str(ledger.verify().first_problem).startswith("entry 1: the entries 1 to 4 do not give their checkpoint's Merkle root")


def test_checkpoint_signatures_are_checked(store: Store) -> None:
    ledger = filled(store, 3)
    signer = SigningIdentity.generate("Airlock processor", "processor")
    ledger.checkpoint(signer)
    other = SigningIdentity.generate("Someone Else", "processor")
    assert "not by the processor's key" in str(ledger.verify(processor=other.public).first_problem)
    sql(store, "UPDATE ledger_checkpoint SET last_seq = 2")
    assert "signature does not verify" in str(ledger.verify().first_problem)


def test_prune_keeps_the_ledger_verifiable_and_respects_retention(store: Store) -> None:
    clock = Clock(datetime(2025, 1, 10, 9, tzinfo=UTC))
    ledger = filled(store, 5, clock)
    signer = SigningIdentity.generate("Airlock processor", "processor")
    clock.now = datetime(2026, 3, 1, 9, tzinfo=UTC)
    for _ in range(3):
        ledger.append(LedgerEntry("login", OPERATOR))
    with pytest.raises(Exception, match="at least 6 months"):
        ledger.prune(clock.now - timedelta(days=30), signer)
    assert ledger.prune(clock.now - timedelta(days=365), signer) == 5
    result = ledger.verify(processor=signer.public)
    assert result.ok and result.anchor == 5
    assert next(r.seq for r in ledger.entries()) == 6
    # After pruning, deleting the first kept entry is still named.
    sql(store, "DELETE FROM ledger_entry WHERE seq = 6")
    assert str(ledger.verify().first_problem) == "entry 6: missing (entry 6 deleted)"


@pytest.mark.parametrize("value", ["2840578123456", "299122A99999947", "anne.martin@example.fr", "06 12 34 56 78",
                                   "Zephyrinaqx Quorvelline", "x" * 200])
def test_entries_refuse_what_is_not_an_id(value: str) -> None:
    with pytest.raises(NotAnId) as caught:
        LedgerEntry("export", OPERATOR, {"subject": value})
    assert value not in str(caught.value)
    assert entry_for(SecurityEvent("export", "run-1", {"subject": value})).objects["subject"] == "withheld"


def test_exports_are_fhir_audit_events_and_rfc5424_lines(store: Store) -> None:
    ledger = filled(store, 2)
    ledger.append(LedgerEntry("login_failure", OPERATOR, {"address": "10.0.0.7"}, outcome="failure"))
    entries = list(ledger.entries())
    for line, rec in zip(audit_events_ndjson(entries), entries):
        event = AuditEvent.model_validate(json.loads(line))
        assert event.recorded.isoformat().startswith(rec.at.strftime("%Y-%m-%dT%H:%M:%S"))
        assert event.agent[0].who.identifier.value == OPERATOR.id
    assert audit_event(entries[-1])["outcome"] == "4"
    rfc5424 = re.compile(r'<(\d{1,3})>1 \S+Z \S+ airlock - \S+ \[airlock@32473( [a-z_]+="(?:[^"\\\]]|\\.)*")+\] \S+')
    for rec in entries:
        assert rfc5424.fullmatch(syslog_line(rec))


def test_security_events_and_procedure_steps_land_in_the_ledger(store: Store) -> None:
    ledger = Ledger(store)
    disconnect = connect(ledger)
    try:
        emit(SecurityEvent("scope.violation", "run-9", {"entity": "patient", "field": "name", "rule": "field outside scope"}))
        emit(SecurityEvent("run.transition", "run-9", {"step": "approve_plan", "actor_key": "0123456789abcdef",
                                                       "actor_name": "Dr Anne Martin", "actor_role": "controller"}))
    finally:
        disconnect()
    violation, step = list(ledger.entries())
    assert violation.outcome == "failure" and violation.objects == {"run": "run-9", "entity": "patient", "field": "name", "rule": "withheld"}
    assert step.actor == Actor("0123456789abcdef", "Dr Anne Martin", "controller") and step.objects["step"] == "approve_plan"
    assert SYSTEM.role == "system"


def test_cli_verifies_exports_checkpoints_and_names_the_bad_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from airlock.cli.ledger import app

    url = f"sqlite:///{tmp_path / 'airlock.db'}"
    monkeypatch.setenv("AIRLOCK_DATABASE_URL", url)
    monkeypatch.setenv("AIRLOCK_KEY_PASSPHRASE", "a passphrase for the tests only")
    signer = SigningIdentity.generate("Airlock processor", "processor")
    key, pub = signer.save(tmp_path / "keys", b"a passphrase for the tests only")
    with open_store(url) as store:
        filled(store, 3)
    runner = CliRunner()
    assert "checkpoint of entries 1 to 3" in runner.invoke(app, ["checkpoint", "--key", str(key)]).output
    assert runner.invoke(app, ["verify", "--processor", str(pub)]).output.startswith("ledger intact: 3 entries")
    exported = runner.invoke(app, ["export", "--format", "fhir"]).output.splitlines()
    assert [AuditEvent.model_validate_json(line).id for line in exported] == ["airlock-ledger-1", "airlock-ledger-2", "airlock-ledger-3"]
    assert runner.invoke(app, ["prune", "--key", str(key), "--months", "3"]).exception.args[0].startswith("ledger retention is 6 to 12 months")
    with open_store(url) as store:
        sql(store, "DELETE FROM ledger_entry WHERE seq = 2")
    failed = runner.invoke(app, ["verify"])
    assert "entry 2: missing" in str(failed.exception)
