"""Incidents and breaches on a real procedure run: the breach record's counts are the run's store figures (checked
against the target), the 72-hour reminders fire on a controlled clock, the notice, drafts and register are written;
nothing in the ledger, its exports, the alerts or the notifications carries a patient's data."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_procedure import Lab

from airlock import dburl
from airlock.ledger import Actor, Ledger, connect
from airlock.ledger.export import audit_events_ndjson, syslog_line
from airlock.targets.sql import table_name
from airlock.watch.alerts import Watch
from airlock.watch.breaches import Breaches
from airlock.watch.incidents import Incidents
from airlock.watch.notifications import Notice, Notifier
from airlock.watch.rules import Severity

SENTINELS = ("Zephyrinaqx Quorvelline", "299122A99999947")
OFFICER = Actor("acc-claire", "Claire Dubois", "security_officer")


class Sent:
    name = "memory"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def send(self, notice: Notice) -> None:
        self.texts += [notice.to_json().decode(), notice.summary()]


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def ran(tmp_path: Path) -> Iterator[tuple[Lab, str, Ledger, Watch, Sent, Clock]]:
    """A procedure run up to reconciliation, on a source holding the sentinels, with the ledger and the watch listening."""
    lab = Lab(tmp_path, patients=40)
    engine = dburl.engine(lab.source)
    with engine.begin() as c:
        c.exec_driver_sql(f"UPDATE patient SET name = '{SENTINELS[0]}' WHERE patient_id = 1")
        c.exec_driver_sql(f"UPDATE patient_custom_data SET field_value = '{SENTINELS[1]}' WHERE patient_id = 1 AND field_id = 1")
    engine.dispose()
    clock = Clock(datetime.now(UTC))
    ledger, sent = Ledger(lab.store, clock=clock), Sent()
    watch = Watch(lab.store, ledger, Notifier([sent], Severity.LOW), clock=clock)
    disconnect = connect(ledger)
    try:
        run_id = lab.approved_run()
        lab.procedure.extract(run_id, lab.processor)
        lab.procedure.load(run_id, lab.processor)
        lab.procedure.reconcile(run_id, lab.processor)
    finally:
        disconnect()
    yield lab, run_id, ledger, watch, sent, clock
    lab.store.close()


def test_breach_record_reminders_notice_and_register(ran) -> None:
    lab, run_id, ledger, watch, sent, clock = ran
    steps = [r.objects["step"] for r in ledger.entries() if r.kind == "run.transition"]
    assert steps == [e.step.replace(" ", "_") for e in lab.procedure.store.events(run_id)] and "reconcile" in steps

    # The run outlives its mandate's deadline without being purged: an alert, raised to an incident, judged a breach.
    deadline = lab.procedure.store.get(run_id).deadline
    clock.now = datetime.combine(deadline + timedelta(days=1), time(9), UTC)
    (overdue,) = [a for a in watch.tick() if a.rule == "purge_overdue"]
    assert (overdue.rule, overdue.subject) == ("purge_overdue", run_id)
    incidents, breaches = Incidents(lab.store, ledger, clock=clock), Breaches(lab.store, ledger, clock=clock)
    incident = incidents.open("Staging kept past the mandate deadline", OFFICER, alert_id=overdue.id)
    assert incident.run_id == run_id
    aware = clock.now
    breach = breaches.declare(incident.id, OFFICER)

    with lab.store.engine.connect() as c:
        read = dict(c.execute(sa.text("SELECT entity, rows_read FROM run_entity WHERE run_id = :r"), {"r": run_id}).all())
    target = dburl.engine(lab.target)
    with target.connect() as c:
        loaded_patients = c.execute(sa.text(f'SELECT count(*) FROM "{table_name("patient")}"')).scalar()
    target.dispose()
    assert breach.data_subjects == read["patient"] == loaded_patients > 0
    assert breach.records == sum(read.values())
    assert {"identity", "clinical"} <= set(json.loads(breach.categories)) and "credential" not in breach.categories
    assert "dpo@labo-exemple.invalid" in breach.dpo

    notice = breaches.notice_to_controller(breach.id, OFFICER)
    assert f"{breach.data_subjects}" in notice and (aware + timedelta(hours=72)).strftime("%Y-%m-%d %H:%M") in notice
    assert breaches.get(breach.id).controller_told_at == aware
    french, english = breaches.communication(breach.id, "fr"), breaches.communication(breach.id, "en")
    assert "délégué à la protection des données" in french and "data protection officer" in english

    # The 72-hour clock, on the test's clock.
    def reminders_at(hours: float) -> list[str]:
        clock.now = aware + timedelta(hours=hours)
        return [a.subject.removeprefix(f"{breach.id}-") for a in watch.tick() if a.rule == "breach_deadline" and a.first_at == clock.now]

    assert reminders_at(23) == []
    assert reminders_at(24) == ["24h"]
    assert reminders_at(30) == []
    assert reminders_at(48) == ["48h"]
    assert reminders_at(66) == ["66h"]
    assert reminders_at(72) == ["72h"]
    assert next(a for a in watch.alerts() if a.subject == f"{breach.id}-72h").severity == "CRITICAL"
    breaches.update(breach.id, OFFICER, authority_notified_at=aware + timedelta(hours=71))
    assert reminders_at(100) == []

    rows = list(csv.DictReader(io.StringIO(breaches.register_csv())))
    assert [(r["breach"], r["run"], r["data_subjects"]) for r in rows] == [(breach.id, run_id, str(read["patient"]))]
    assert breach.id in breaches.register_markdown()
    assert ledger.verify().ok

    # Nothing of a patient anywhere the ledger, the watch and the incidents write or send.
    with lab.store.engine.connect() as c:
        tables = [str(c.execute(sa.text(f"SELECT * FROM {t}")).all()) for t in ("ledger_entry", "ledger_checkpoint", "alert", "incident", "breach")]
    written = tables + list(audit_events_ndjson(ledger.entries())) + [syslog_line(r) for r in ledger.entries()]
    written += sent.texts + [notice, french, english, breaches.register_csv()]
    assert SENTINELS[1].encode() in Path(lab.target.removeprefix("sqlite:///")).read_bytes()  # the scan below could fail
    assert sent.texts and all(s not in text for s in SENTINELS for text in written)


def test_incident_updates_are_journaled_and_checked(ran) -> None:
    lab, run_id, ledger, _, _, _ = ran
    incidents = Incidents(lab.store, ledger)
    incident = incidents.open("Suspicious export", OFFICER, run_id=run_id)
    incidents.update(incident.id, OFFICER, state="investigating", note="export logs collected")
    with pytest.raises(Exception, match="no NIR, e-mail address or phone number"):
        incidents.update(incident.id, OFFICER, note="patient reachable at 06 12 34 56 78")
    with pytest.raises(Exception, match="state is one of"):
        incidents.update(incident.id, OFFICER, state="forgotten")
    journal = json.loads(incidents.get(incident.id).journal)
    assert [(j["state"], j.get("note")) for j in journal] == [("open", None), ("investigating", "export logs collected")]
    assert [r.objects["state"] for r in ledger.entries() if r.kind == "incident"] == ["open", "investigating"]


def test_cli_from_alert_to_breach_register(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from airlock.cli.alerts import app as alerts
    from airlock.cli.incidents import app as incidents
    from airlock.signing import SigningIdentity
    from airlock.store import open_store

    url = f"sqlite:///{tmp_path / 'airlock.db'}"
    monkeypatch.setenv("AIRLOCK_DATABASE_URL", url)
    monkeypatch.setenv("AIRLOCK_KEY_PASSPHRASE", "a passphrase for the tests only")
    monkeypatch.setenv("COLUMNS", "160")
    key = SigningIdentity.generate("Claire Dubois", "processor").save(tmp_path / "keys", b"a passphrase for the tests only")[0]
    with open_store(url) as store:
        alert = Watch(store, Ledger(store)).raise_alert("shared_account", "acc-anne")
    runner = CliRunner()

    def ok(app, *args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output + repr(result.exception)
        return result.output

    assert alert.id in ok(alerts, "list", "--state", "open")
    assert "acknowledged by Claire Dubois" in ok(alerts, "ack", alert.id, "--key", str(key), "--note", "calling her")
    incident = ok(incidents, "open", "--title", "Shared account", "--alert", alert.id, "--key", str(key)).split()[1]
    ok(incidents, "update", incident, "--state", "investigating", "--key", str(key))
    breach = ok(incidents, "breach", incident, "--key", str(key), "--aware-at", "2026-11-29T08:00:00").split()[1].rstrip(":")
    ok(incidents, "export", breach, "--key", str(key), "--out", str(tmp_path / "breach"))
    assert "2026-12-02 08:00 UTC" in (tmp_path / "breach" / "notice.md").read_text()
    assert {p.name for p in (tmp_path / "breach").iterdir()} == {"notice.md", "communication.fr.md", "communication.en.md"}
    rows = list(csv.DictReader(io.StringIO(ok(incidents, "register", "--format", "csv"))))
    assert [(r["breach"], r["incident"]) for r in rows] == [(breach, incident)] and rows[0]["controller_told_at"]
    assert "resolved by Claire Dubois" in ok(alerts, "resolve", alert.id, "--key", str(key))
    with open_store(url) as store:
        assert Ledger(store).verify().ok
