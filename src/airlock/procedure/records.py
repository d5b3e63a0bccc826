"""Persistence of the procedure: runs, their per-entity figures and their events, in the metadata store.

A state change and its event are written in one transaction, so the event list
is exactly the history of the state (the ledger will chain these events).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from airlock.errors import AirlockError
from airlock.store import Store
from airlock.store.models import Run as RunRecord
from airlock.store.models import RunEntity as RunEntityRecord
from airlock.store.models import RunEvent, utcnow
from airlock.vault.events import SecurityEvent, emit

__all__ = ["RunEntityRecord", "RunEvent", "RunRecord", "RunStore"]


class RunStore:
    def __init__(self, store: Store):
        self.store = store

    def create(self, run: RunRecord) -> RunRecord:
        run.created_at = utcnow()
        run.source = run.source or ""
        run.target = run.target or ""
        with self.store.session.begin() as session:
            session.add(run)
        return self.get(run.id)

    def get(self, run_id: str) -> RunRecord:
        with self.store.session() as session:
            run = session.get(RunRecord, run_id)
            if run is None:
                raise AirlockError(f"no run {run_id!r} in the metadata store {self.store.description}; 'airlock run list' shows them")
            return run

    def list(self) -> list[RunRecord]:
        with self.store.session() as session:
            return list(session.scalars(sa.select(RunRecord).order_by(RunRecord.created_at, RunRecord.id)))

    def save(self, run: RunRecord, event: RunEvent) -> None:
        """The run's new state and fields, and the event that led there, atomically."""
        event.at = utcnow()
        with self.store.session.begin() as session:
            # Columns only: merging the object would also replace its entities collection (delete-orphan).
            current = session.get(RunRecord, run.id)
            if current is None:
                raise AirlockError(f"no run {run.id!r} in the metadata store {self.store.description}")
            for column in RunRecord.__table__.columns.keys():
                setattr(current, column, getattr(run, column))
            session.add(event)
        # Once committed, the step is published for the ledger (airlock.ledger.connect) and the watch.
        emit(SecurityEvent("run.transition", run.id, {"step": event.step.replace(" ", "_"), "from_state": event.from_state, "to_state": event.to_state,
                                                      "actor_key": event.actor_key, "actor_name": event.actor_name,
                                                      "actor_role": event.actor_role, **json.loads(event.detail or "{}")}))

    def record_error(self, run_id: str, message: str) -> None:
        """Keep a stopped step's one-line error on the run (the state does not change: it can resume)."""
        with self.store.session.begin() as session:
            run = session.get(RunRecord, run_id)
            if run is not None:
                run.error = message[:2000]

    def update_entity(self, run_id: str, entity: str, **fields: Any) -> None:
        with self.store.session.begin() as session:
            record = session.get(RunEntityRecord, (run_id, entity))
            if record is None:
                record = RunEntityRecord(run_id=run_id, entity=entity, rows_read=0, rows_written=0)
                session.add(record)
            for name, value in fields.items():
                setattr(record, name, value)

    def entities(self, run_id: str) -> list[RunEntityRecord]:
        with self.store.session() as session:
            return list(session.scalars(sa.select(RunEntityRecord).where(RunEntityRecord.run_id == run_id)))

    def events(self, run_id: str) -> list[RunEvent]:
        with self.store.session() as session:
            return list(session.scalars(sa.select(RunEvent).where(RunEvent.run_id == run_id).order_by(RunEvent.id)))
