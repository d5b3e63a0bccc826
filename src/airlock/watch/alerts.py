"""The watch: rules evaluated as ledger entries arrive and on each tick; alerts deduplicated, escalated, notified.

An alert is open → acknowledged → resolved (who, when, note). The same rule
on the same subject within the deduplication window adds to the open alert's
count instead of raising another one. An open alert left unacknowledged past
its severity's limit is escalated: one severity up, notified again. Every
change of an alert is itself a ledger entry. Time comes from ``clock``, so
tests control it.

>>> import tempfile
>>> from airlock.store import open_store
>>> from airlock.ledger import Actor, LedgerEntry, Ledger
>>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/airlock.db")
>>> ledger = Ledger(store)
>>> watch = Watch(store, ledger)
>>> _ = ledger.append(LedgerEntry("identity.shared_account", Actor("acc-1", "account", "account"), outcome="failure"))
>>> [(a.rule, a.severity, a.state) for a in watch.alerts()]
[('shared_account', 'HIGH', 'open')]
>>> store.close()
"""

from __future__ import annotations

import json
import os
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from airlock.errors import AirlockError
from airlock.ledger import SYSTEM, Actor, Kind, Ledger, LedgerEntry, Recorded
from airlock.ledger.entry import NotAnId, looks_like
from airlock.ledger.models import EntryRow
from airlock.procedure.lifecycle import State
from airlock.store import Store
from airlock.store.models import Run, utcnow
from airlock.watch.models import AlertRow
from airlock.watch.notifications import Notice, Notifier
from airlock.watch.rules import RULES, Rule, Severity

__all__ = ["ACTIVE_STATES", "Watch", "WatchSettings", "WorkingHours", "check_note"]

#: Run states in which opening the vault is expected.
ACTIVE_STATES = frozenset({State.PLAN_APPROVED, State.EXTRACTING, State.STAGED, State.LOADING, State.LOADED, State.RECONCILED, State.ACCEPTED})
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WorkingHours:
    """Working hours in the laboratory's time zone: ``AIRLOCK_WORKING_HOURS=07:00-20:00``, ``AIRLOCK_WORKING_DAYS=mon-fri``.

    >>> hours = WorkingHours()
    >>> hours.contains(datetime(2026, 11, 30, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))), hours.contains(datetime(2026, 11, 29, 9, 0, tzinfo=ZoneInfo("UTC")))
    (True, False)
    """

    start: time = time(7, 0)
    end: time = time(20, 0)
    days: frozenset[int] = frozenset(range(5))  # Monday = 0
    zone: str = "Europe/Paris"

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.zone))
        return local.weekday() in self.days and self.start <= local.time() < self.end

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> WorkingHours:
        try:
            start, end = (time.fromisoformat(t.strip()) for t in env.get("AIRLOCK_WORKING_HOURS", "07:00-20:00").split("-"))
            first, _, last = env.get("AIRLOCK_WORKING_DAYS", "mon-fri").lower().partition("-")
            days = frozenset(range(_DAYS.index(first), _DAYS.index(last or first) + 1))
            zone = env.get("AIRLOCK_TIMEZONE", "Europe/Paris")
            ZoneInfo(zone)
        except (ValueError, LookupError):
            raise AirlockError("AIRLOCK_WORKING_HOURS is like 07:00-20:00, AIRLOCK_WORKING_DAYS like mon-fri, AIRLOCK_TIMEZONE a zone name") from None
        return cls(start, end, days, zone)


@dataclass(frozen=True)
class WatchSettings:
    working_hours: WorkingHours = WorkingHours()
    #: The same rule on the same subject within this window adds to one alert.
    dedup_window: timedelta = timedelta(hours=1)
    #: An open alert unacknowledged for this long is escalated (and again after as long).
    escalate_after: Mapping[Severity, timedelta] = field(default_factory=lambda: {
        Severity.LOW: timedelta(hours=24), Severity.MEDIUM: timedelta(hours=4),
        Severity.HIGH: timedelta(minutes=30), Severity.CRITICAL: timedelta(minutes=15)})

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> WatchSettings:
        return cls(WorkingHours.from_environ(os.environ if environ is None else environ))


def check_note(note: str | None) -> str | None:
    """A staff note, refused if it looks like it carries a NIR, an e-mail address or a phone number."""
    if note is None:
        return None
    if len(note) > 2000 or looks_like(note):
        raise NotAnId("a note is about the alert or incident, at most 2000 characters, with no NIR, e-mail address or phone number")
    return " ".join(note.split())


class Watch:
    """Evaluates :data:`~airlock.watch.rules.RULES`; listens to ``ledger`` when given one."""

    def __init__(self, store: Store, ledger: Ledger | None = None, notifier: Notifier | None = None, *,
                 clock: Callable[[], datetime] = utcnow, settings: WatchSettings | None = None, rules: Mapping[str, Rule] = RULES):
        self.store, self.ledger, self.clock = store, ledger, clock
        self.notifier = notifier or Notifier()
        self.settings = settings or WatchSettings()
        self.rules = rules
        self._windows: dict[tuple[str, str], deque[tuple[datetime, int]]] = defaultdict(deque)
        if ledger is not None:
            ledger.listeners.append(self.observe)

    # -- evaluation -----------------------------------------------------------------------------

    def observe(self, rec: Recorded) -> list[AlertRow]:
        """Evaluate the event-driven rules on one ledger entry; returns the alerts raised or counted."""
        raised = []
        for rule in self.rules.values():
            if rec.kind not in rule.kinds or (rule.outcome and rec.outcome != rule.outcome):
                continue
            if rule.when is not None and not rule.when(self, rec):
                continue
            subject = rec.actor.id if rule.subject == "actor" else rec.objects.get(rule.subject, "-")
            window = self._windows[(rule.name, subject)]
            while window and window[0][0] <= rec.at - rule.window:
                window.popleft()
            window.append((rec.at, int(rec.objects.get(rule.measure, "0")) if rule.measure else 1))
            if sum(amount for _, amount in window) >= rule.threshold:
                raised.append(self.raise_alert(rule.name, subject, rec.objects.get("run"), at=rec.at))
        return raised

    def tick(self, now: datetime | None = None) -> list[AlertRow]:
        """The time-driven rules: escalation, overdue purges, ledger verification, breach reminders."""
        from airlock.watch.breaches import Breaches

        now = now or self.clock()
        raised = self._escalate(now)
        with self.store.session() as s:
            overdue = s.scalars(sa.select(Run.id).where(Run.deadline < now.date(), Run.status != State.PURGED)).all()
        raised += [self.raise_alert("purge_overdue", run_id, run_id, at=now) for run_id in overdue]
        if self.ledger is not None and not self.ledger.verify().ok:
            raised.append(self.raise_alert("ledger_unverifiable", "ledger", None, at=now))
        for breach, hours in Breaches(self.store).due_reminders(now):
            severity = Severity.CRITICAL if hours >= 72 else None
            raised.append(self.raise_alert("breach_deadline", f"{breach.id}-{hours}h", breach.run_id, at=now, severity=severity))
        return raised

    def is_new_client(self, rec: Recorded) -> bool:
        """A login whose client or address this account never logged in from before (its first login sets the baseline)."""
        seen = set()
        with self.store.session() as s:
            rows = s.scalars(sa.select(EntryRow.objects).where(EntryRow.actor_id == rec.actor.id, EntryRow.kind.in_(RULES["new_client"].kinds),
                                                                EntryRow.outcome == "success", EntryRow.seq < rec.seq))
            for objects in rows:
                o = json.loads(objects)
                seen.add((o.get("client"), o.get("address")))
        return bool(seen) and (rec.objects.get("client"), rec.objects.get("address")) not in seen

    def run_is_active(self, run_id: str | None) -> bool:
        if not run_id:
            return False
        with self.store.session() as s:
            status = s.scalar(sa.select(Run.status).where(Run.id == run_id))
        return status in ACTIVE_STATES

    # -- alerts ---------------------------------------------------------------------------------

    def raise_alert(self, rule: str, subject: str, run_id: str | None = None, *, at: datetime | None = None,
                    severity: Severity | None = None) -> AlertRow:
        """Open an alert, or count one more on the open alert of the same rule and subject within the window."""
        at = at or self.clock()
        subject = subject[:128]
        with self.store.session.begin() as s:
            query = sa.select(AlertRow).where(AlertRow.rule == rule, AlertRow.subject == subject, AlertRow.state != "resolved")
            if self.rules[rule].kinds:
                # A condition found on each tick (an overdue purge) stays one alert until resolved; events are grouped by window.
                query = query.where(AlertRow.last_at >= at - self.settings.dedup_window)
            alert = s.scalars(query.order_by(AlertRow.last_at.desc()).limit(1)).first()
            new = alert is None
            if new:
                alert = AlertRow(rule=rule, severity=(severity or self.rules[rule].severity).name, subject=subject, run_id=run_id,
                                 count=1, state="open", first_at=at, last_at=at)
                s.add(alert)
            else:
                alert.count, alert.last_at = alert.count + 1, max(alert.last_at, at)
        if new:
            self._record(alert, "open", SYSTEM)
            self._notify(alert, "open", at)
        return alert

    def acknowledge(self, alert_id: str, by: Actor, note: str | None = None) -> AlertRow:
        return self._change(alert_id, "acknowledged", by, note, allowed=("open",))

    def resolve(self, alert_id: str, by: Actor, note: str | None = None) -> AlertRow:
        return self._change(alert_id, "resolved", by, note, allowed=("open", "acknowledged"))

    def alerts(self, state: str | None = None) -> list[AlertRow]:
        with self.store.session() as s:
            query = sa.select(AlertRow).order_by(AlertRow.first_at, AlertRow.id)
            return list(s.scalars(query.where(AlertRow.state == state) if state else query))

    def alert(self, alert_id: str) -> AlertRow:
        with self.store.session() as s:
            alert = s.get(AlertRow, alert_id)
        if alert is None:
            raise AirlockError(f"no alert {alert_id!r}; 'airlock alerts list' shows them")
        return alert

    def _change(self, alert_id: str, state: str, by: Actor, note: str | None, allowed: tuple[str, ...]) -> AlertRow:
        note, now = check_note(note), self.clock()
        with self.store.session.begin() as s:
            alert = s.get(AlertRow, alert_id)
            if alert is None:
                raise AirlockError(f"no alert {alert_id!r}; 'airlock alerts list' shows them")
            if alert.state not in allowed:
                raise AirlockError(f"alert {alert_id} is {alert.state}; it can be {state} only when {' or '.join(allowed)}")
            alert.state = state
            who = f"{by.name} ({by.id})"
            if state == "acknowledged":
                alert.acknowledged_by, alert.acknowledged_at = who, now
            else:
                alert.resolved_by, alert.resolved_at = who, now
            if note:
                alert.note = f"{alert.note}\n{note}" if alert.note else note
        self._record(alert, state, by)
        return alert

    def _escalate(self, now: datetime) -> list[AlertRow]:
        escalated = []
        with self.store.session.begin() as s:
            for alert in s.scalars(sa.select(AlertRow).where(AlertRow.state == "open")):
                since = alert.escalated_at or alert.first_at
                severity = Severity.named(alert.severity)
                if now - since >= self.settings.escalate_after[severity]:
                    alert.severity, alert.escalated_at = severity.raised().name, now
                    escalated.append(alert)
        for alert in escalated:
            self._record(alert, "escalated", SYSTEM)
            self._notify(alert, "escalated", now)
        return escalated

    def _record(self, alert: AlertRow, state: str, by: Actor) -> None:
        if self.ledger is not None:
            objects = {"alert": alert.id, "rule": alert.rule, "severity": alert.severity, "state": state}
            self.ledger.append(LedgerEntry(Kind.ALERT, by, objects | ({"run": alert.run_id} if alert.run_id else {})))

    def _notify(self, alert: AlertRow, state: str, at: datetime) -> None:
        notice = Notice(alert.id, alert.rule, alert.severity, alert.subject, alert.count, state, at.isoformat(), alert.run_id)
        self.notifier.notify(notice)
        with self.store.session.begin() as s:
            s.get(AlertRow, alert.id).notified_at = at
