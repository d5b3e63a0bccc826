"""The watch: each rule fires on its pattern and stays quiet on normal activity; alerts deduplicate, go through
their lifecycle and escalate on a controlled clock; notifications reach real loopback SMTP, HTTP and syslog servers."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from airlock.errors import AirlockError
from airlock.identity.seeds import SeedKey
from airlock.ledger import SYSTEM, Actor, Ledger, LedgerEntry, NotAnId
from airlock.procedure.lifecycle import State
from airlock.store import Store, open_store
from airlock.store.models import Run
from airlock.watch.alerts import Watch
from airlock.watch.notifications import (
    SIGNATURE_HEADER,
    Email,
    Notice,
    Notifier,
    Syslog,
    Webhook,
)
from airlock.watch.rules import RULES, Severity

# A Monday morning in Paris.
WORKDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ANNE = Actor("acc-anne", "Anne Martin", "operator")
KARIM = Actor("acc-karim", "Karim Benali", "operator")
OFFICER = Actor("acc-claire", "Claire Dubois", "security_officer")


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Sent:
    """A channel keeping what it was asked to send (alongside the real channels tested below)."""

    name = "memory"

    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def send(self, notice: Notice) -> None:
        self.notices.append(notice)


class Setup:
    def __init__(self, store: Store):
        self.store = store
        self.clock = Clock(WORKDAY)
        self.ledger = Ledger(store, clock=self.clock)
        self.sent = Sent()
        self.watch = Watch(store, self.ledger, Notifier([self.sent], Severity.LOW), clock=self.clock)

    def event(self, kind: str, actor: Actor = ANNE, outcome: str = "success", **objects: str) -> None:
        self.ledger.append(LedgerEntry(kind, actor, objects, outcome))

    def fired(self) -> list[str]:
        return [a.rule for a in self.watch.alerts()]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with open_store(f"sqlite:///{tmp_path / 'airlock.db'}") as store:
        yield Setup(store)


def test_failed_logins_fire_at_the_threshold_within_the_window(setup: Setup) -> None:
    threshold = RULES["failed_logins"].threshold
    for _ in range(threshold - 1):
        setup.event("login_failure", outcome="failure", address="10.0.0.7")
        setup.clock.advance(minutes=1)
    assert setup.fired() == []
    setup.event("login_failure", outcome="failure", address="10.0.0.7")
    assert setup.fired() == ["failed_logins"]


def test_failed_logins_spread_over_the_day_do_not_fire(setup: Setup) -> None:
    for _ in range(RULES["failed_logins"].threshold * 2):
        setup.event("login_failure", outcome="failure")
        setup.clock.advance(minutes=20)
    setup.event("login", client="firefox", address="10.0.0.7")
    assert setup.fired() == []


@pytest.mark.parametrize(("kind", "rule", "objects"), [
    ("identity.lockout", "lockout", {}),
    ("identity.second_factor_failures", "mfa_throttled", {}),
    ("identity.shared_account", "shared_account", {"session": "s1", "other_session": "s2"}),
    ("scope.violation", "scope_violation", {"run": "run-1", "entity": "patient", "field": "nir"}),
    ("mandate.refused", "mandate_refused", {"run": "run-1"}),
    ("server.tls_off", "tls_off", {}),
    ("vault.integrity_failure", "integrity_failure", {"run": "run-1", "entity": "result"}),
])
def test_single_event_rules_fire_once_and_only_on_their_event(setup: Setup, kind: str, rule: str, objects: dict[str, str]) -> None:
    setup.event("login", client="firefox", address="10.0.0.7")
    setup.event("run.transition", KARIM, run="run-1", step="extract")
    assert setup.fired() == []
    setup.event(kind, outcome="failure", **objects)
    assert setup.fired() == [rule]


def test_mfa_failures(setup: Setup) -> None:
    setup.event("mfa", outcome="failure")
    setup.event("mfa", outcome="success")
    setup.event("mfa", outcome="failure")
    assert setup.fired() == []
    setup.event("mfa", outcome="failure")
    assert setup.fired() == ["mfa_failures"]


def test_a_login_from_a_new_client_or_address(setup: Setup) -> None:
    setup.event("login", client="firefox", address="10.0.0.7")  # the first login sets the baseline
    setup.event("login", client="firefox", address="10.0.0.7")
    setup.event("login", KARIM, client="chrome", address="10.0.0.8")
    assert setup.fired() == []
    setup.event("login", client="firefox", address="203.0.113.9")
    assert [(a.rule, a.subject) for a in setup.watch.alerts()] == [("new_client", ANNE.id)]


def test_probing_from_one_address(setup: Setup) -> None:
    threshold = RULES["probing"].threshold
    for i in range(threshold - 1):
        setup.event("http.unauthenticated", SYSTEM, "failure", address="198.51.100.4")
        setup.event("http.unauthenticated", SYSTEM, "failure", address=f"198.51.100.{10 + i}")
    assert setup.fired() == []
    setup.event("http.unauthenticated", SYSTEM, "failure", address="198.51.100.4")
    assert [(a.rule, a.subject) for a in setup.watch.alerts()] == [("probing", "198.51.100.4")]


def test_vault_opened_outside_a_run(setup: Setup) -> None:
    with setup.store.session.begin() as s:
        s.add(Run(id="run-live", source="s", target="t", profile="blis", status=State.EXTRACTING))
        s.add(Run(id="run-done", source="s", target="t", profile="blis", status=State.PURGED))
    setup.event("vault_open", KARIM, run="run-live")
    assert setup.fired() == []
    setup.event("vault_open", KARIM, run="run-done")
    assert setup.fired() == ["vault_outside_run"]


def test_large_reads_by_one_person(setup: Setup) -> None:
    limit = RULES["large_read"].threshold
    setup.event("export", ANNE, rows=str(limit // 2))
    setup.event("export", KARIM, rows=str(limit // 2))
    setup.clock.advance(hours=25)
    setup.event("export", ANNE, rows=str(limit // 2))
    assert setup.fired() == []
    setup.event("export", ANNE, rows=str(limit // 2))
    assert [(a.rule, a.subject) for a in setup.watch.alerts()] == [("large_read", ANNE.id)]


def test_activity_outside_working_hours(setup: Setup) -> None:
    setup.event("login", client="firefox", address="10.0.0.7")
    setup.clock.now = datetime(2026, 11, 29, 2, 30, tzinfo=UTC)  # a Sunday night
    setup.event("run.transition", SYSTEM, run="run-1")  # Airlock's own work is not a person's
    assert setup.fired() == []
    setup.event("export", KARIM, rows="10")
    assert setup.fired() == ["off_hours"]


def test_purge_overdue(setup: Setup) -> None:
    with setup.store.session.begin() as s:
        s.add(Run(id="run-late", source="s", target="t", profile="blis", status=State.ACCEPTED, deadline=date(2026, 11, 1)))
        s.add(Run(id="run-purged", source="s", target="t", profile="blis", status=State.PURGED, deadline=date(2026, 11, 1)))
        s.add(Run(id="run-current", source="s", target="t", profile="blis", status=State.LOADED, deadline=date(2026, 12, 31)))
    setup.watch.tick()
    setup.clock.advance(hours=3)
    setup.watch.tick()  # still overdue: the same alert, counted again
    assert [(a.rule, a.subject, a.count) for a in setup.watch.alerts()] == [("purge_overdue", "run-late", 2)]


def test_ledger_verification_failing(setup: Setup) -> None:
    setup.event("login", client="firefox", address="10.0.0.7")
    setup.watch.tick()
    assert setup.fired() == []
    with setup.store.engine.begin() as c:
        c.exec_driver_sql("UPDATE ledger_entry SET actor_id = 'acc-someone' WHERE seq = 1")
    setup.watch.tick()
    assert setup.fired() == ["ledger_unverifiable"]


def test_alerts_deduplicate_then_acknowledge_resolve_and_escalate(setup: Setup) -> None:
    for _ in range(3):
        setup.event("identity.shared_account", outcome="failure")
        setup.clock.advance(minutes=5)
    (alert,) = setup.watch.alerts()
    assert alert.count == 3 and len(setup.sent.notices) == 1
    # Left unacknowledged past its limit: one severity up, notified again.
    setup.clock.advance(minutes=31)
    setup.watch.tick()
    alert = setup.watch.alert(alert.id)
    assert alert.severity == "CRITICAL" and [n.state for n in setup.sent.notices] == ["open", "escalated"]
    setup.watch.acknowledge(alert.id, OFFICER, "called the account holder")
    setup.clock.advance(hours=5)
    setup.watch.tick()
    assert len(setup.sent.notices) == 2  # acknowledged: no more escalation
    with pytest.raises(AirlockError, match="can be acknowledged only when open"):
        setup.watch.acknowledge(alert.id, OFFICER)
    with pytest.raises(NotAnId):
        setup.watch.resolve(alert.id, OFFICER, "patient NIR 2 84 05 2A 123 456 64")
    resolved = setup.watch.resolve(alert.id, OFFICER, "password changed, sessions ended")
    assert (resolved.state, resolved.resolved_by) == ("resolved", "Claire Dubois (acc-claire)")
    assert resolved.note == "called the account holder\npassword changed, sessions ended"
    # After resolution the same pattern opens a new alert.
    setup.event("identity.shared_account", outcome="failure")
    assert [a.state for a in setup.watch.alerts()] == ["resolved", "open"]
    states = [r.objects["state"] for r in setup.ledger.entries() if r.kind == "alert"]
    assert states == ["open", "escalated", "acknowledged", "resolved", "open"]
    assert setup.ledger.verify().ok


# -- notifications through real loopback servers ------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd checks readiness by connecting to its port: it needs a real one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def receiver() -> Iterator[tuple[list[tuple[dict[str, str], bytes]], int]]:
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


SECRET = "a webhook secret for the tests"


def test_high_alert_is_mailed_posted_signed_and_logged(setup: Setup, smtp, receiver) -> None:
    inbox, smtp_port = smtp
    received, http_port = receiver
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(5)
    notifier = Notifier.from_environ({
        "AIRLOCK_ALERT_EMAIL": "securite@labo.invalid", "AIRLOCK_SMTP_HOST": "127.0.0.1", "AIRLOCK_SMTP_PORT": str(smtp_port),
        "AIRLOCK_ALERT_WEBHOOK": f"http://127.0.0.1:{http_port}/alerts", "AIRLOCK_WEBHOOK_SECRET": SECRET,
        "AIRLOCK_SYSLOG": f"127.0.0.1:{udp.getsockname()[1]}", "AIRLOCK_ALERT_MIN_SEVERITY": "high",
    })
    setup.ledger.listeners.remove(setup.watch.observe)
    watch = Watch(setup.store, setup.ledger, notifier, clock=setup.clock)
    setup.event("off_hours_probe", ANNE)  # an unknown kind: no rule, nothing sent
    setup.clock.now = datetime(2026, 11, 29, 2, 30, tzinfo=UTC)
    setup.event("export", KARIM, rows="10")  # off hours: LOW, under the notifier's minimum
    setup.event("scope.violation", SYSTEM, "failure", run="run-7", entity="patient", field="nir")
    alert = next(a for a in watch.alerts() if a.rule == "scope_violation")

    (mail,) = inbox.messages
    assert b"scope_violation" in mail and alert.id.encode() in mail and b"securite@labo.invalid" in mail
    ((headers, body),) = received
    assert headers[SIGNATURE_HEADER] == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert json.loads(body) | {} == {"alert": alert.id, "rule": "scope_violation", "severity": "CRITICAL", "subject": "run-7",
                                     "count": 1, "state": "open", "at": json.loads(body)["at"], "run": "run-7"}
    line = udp.recv(4096).decode()
    udp.close()
    assert line.startswith("<106>1 ") and f'alert="{alert.id}"' in line  # facility 13, critical (2)


def test_webhooks_and_mail_refuse_insecure_settings() -> None:
    with pytest.raises(AirlockError, match="https"):
        Webhook("http://alerts.example.org/hook", SECRET)
    with pytest.raises(AirlockError, match="16 characters"):
        Webhook("https://alerts.example.org/hook", "short")
    with pytest.raises(AirlockError, match="host:port"):
        Notifier.from_environ({"AIRLOCK_SYSLOG": "nowhere"})
    assert [c.name for c in Notifier.from_environ({}).channels] == []
    assert isinstance(Notifier.from_environ({"AIRLOCK_ALERT_EMAIL": "a@b.invalid"}).channels[0], Email)
    assert isinstance(Notifier.from_environ({"AIRLOCK_SYSLOG": "[::1]:514"}).channels[0], Syslog)


def test_read_only_api_for_the_security_officer_and_the_auditor(setup: Setup) -> None:
    from fastapi.testclient import TestClient
    from test_identity import strong_password

    from airlock.identity.directory import Directory
    from airlock.identity.models import Role
    from airlock.server import create_app
    from airlock.server.watch import router

    directory = Directory(setup.store, seeds=SeedKey.generate())
    admin = directory.bootstrap("Ada Lovelace", "ada.lovelace@processor.example", "Processor SA", strong_password())
    processor = admin.account.organisation_id
    tokens = {}
    for name, email, role in (("Grace Hopper", "grace.hopper@processor.example", Role.SECURITY_OFFICER),
                              ("Alan Turing", "alan.turing@processor.example", Role.PROCESSOR_OPERATOR)):
        account = directory.enrol(name, email, processor, role, strong_password()).account
        tokens[role] = directory.issue_token(account.id, "watch", ["read"], 1)[1]
    app = create_app(directory)
    app.router.routes.extend(router.routes)
    client = TestClient(app)
    setup.event("identity.shared_account", outcome="failure")

    assert client.get("/api/alerts").status_code == 401
    assert client.get("/api/alerts", headers={"Authorization": f"Bearer {tokens[Role.PROCESSOR_OPERATOR]}"}).status_code == 403
    officer = {"Authorization": f"Bearer {tokens[Role.SECURITY_OFFICER]}"}
    assert [a["rule"] for a in client.get("/api/alerts", headers=officer).json()] == ["shared_account"]
    assert client.get("/api/incidents", headers=officer).json() == []
    assert client.get("/api/ledger/verify", headers=officer).json()["ok"] is True
