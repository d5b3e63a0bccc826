"""Incidents: an alert (or a report) raised to an incident, with a journal of who did what, when.

>>> import tempfile
>>> from airlock.store import open_store
>>> from airlock.ledger import Actor
>>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/airlock.db")
>>> officer = Actor("acc-9", "Claire Dubois", "security_officer")
>>> incidents = Incidents(store)
>>> incident = incidents.open("Staging left readable on a share", officer)
>>> incidents.update(incident.id, officer, state="contained", note="share closed, vault purged").state
'contained'
>>> store.close()
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from airlock.errors import AirlockError
from airlock.ledger import Actor, Kind, Ledger, LedgerEntry
from airlock.store import Store
from airlock.store.models import utcnow
from airlock.watch.alerts import check_note
from airlock.watch.models import AlertRow, IncidentRow

__all__ = ["STATES", "Incidents"]

STATES = ("open", "investigating", "contained", "closed")


class Incidents:
    def __init__(self, store: Store, ledger: Ledger | None = None, *, clock: Callable[[], datetime] = utcnow):
        self.store, self.ledger, self.clock = store, ledger, clock

    def open(self, title: str, by: Actor, *, alert_id: str | None = None, run_id: str | None = None) -> IncidentRow:
        """Open an incident, from an alert (its run is taken over) or from a report."""
        title = check_note(title) or ""
        if not title or len(title) > 200:
            raise AirlockError("an incident needs a title of 200 characters at most")
        now = self.clock()
        with self.store.session.begin() as s:
            if alert_id is not None:
                alert = s.get(AlertRow, alert_id)
                if alert is None:
                    raise AirlockError(f"no alert {alert_id!r}; 'airlock alerts list' shows them")
                run_id = run_id or alert.run_id
            incident = IncidentRow(alert_id=alert_id, run_id=run_id, title=title, state="open", opened_by=f"{by.name} ({by.id})", opened_at=now,
                                   journal=json.dumps([{"at": now.isoformat(), "by": by.name, "state": "open"}]))
            s.add(incident)
        self._record(incident, by)
        return incident

    def update(self, incident_id: str, by: Actor, *, state: str | None = None, note: str | None = None) -> IncidentRow:
        if state is not None and state not in STATES:
            raise AirlockError(f"an incident's state is one of {', '.join(STATES)}")
        note = check_note(note)
        with self.store.session.begin() as s:
            incident = self._get(s, incident_id)
            incident.state = state or incident.state
            journal = json.loads(incident.journal)
            journal.append({"at": self.clock().isoformat(), "by": by.name, "state": incident.state, **({"note": note} if note else {})})
            incident.journal = json.dumps(journal)
        self._record(incident, by)
        return incident

    def get(self, incident_id: str) -> IncidentRow:
        with self.store.session() as s:
            return self._get(s, incident_id)

    def list(self) -> list[IncidentRow]:
        with self.store.session() as s:
            return list(s.scalars(sa.select(IncidentRow).order_by(IncidentRow.opened_at, IncidentRow.id)))

    def _get(self, s: sa.orm.Session, incident_id: str) -> IncidentRow:
        incident = s.get(IncidentRow, incident_id)
        if incident is None:
            raise AirlockError(f"no incident {incident_id!r}; 'airlock incidents register' lists breaches, 'airlock alerts list' alerts")
        return incident

    def _record(self, incident: IncidentRow, by: Actor) -> None:
        if self.ledger is not None:
            objects = {"incident": incident.id, "state": incident.state} | ({"run": incident.run_id} if incident.run_id else {})
            self.ledger.append(LedgerEntry(Kind.INCIDENT, by, objects))
