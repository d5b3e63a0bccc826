"""Purge without anyone asking: runs past their mandate's deadline, accepted and past the grace period,
aborted or failed lose their staged data. Used by ``airlock purge --due`` (cron, a systemd timer) and by the
server's background worker."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

from airlock.errors import AirlockError
from airlock.mandate import load_mandate
from airlock.procedure.lifecycle import State
from airlock.procedure.records import RunRecord
from airlock.procedure.runner import Procedure
from airlock.signing import SigningIdentity

log = logging.getLogger(__name__)
ACTOR = "scheduler (purge of due runs)"


def _grace_days(run: RunRecord) -> int:
    try:
        return load_mandate(run.mandate_path).grace_days
    except AirlockError:
        return 0  # the mandate file is gone: no grace to honour, the deadline rule still holds


def purge_due(procedure: Procedure, signer: SigningIdentity, today: dt.date) -> list[RunRecord]:
    """Purge every due run; returns them. The processor's ``signer`` signs each deletion certificate."""
    purged = []
    for run in procedure.due(today, _grace_days):
        reason = "mandate deadline passed" if run.deadline and run.deadline < today else f"{run.status.replace('_', ' ')}: staging no longer needed"
        if run.status not in (State.ACCEPTED, State.ABORTED, State.FAILED):
            run = procedure.abort(run.id, signer, reason)
        purged.append(procedure.purge(run.id, signer, reason, actor_name=ACTOR))
    return purged


class PurgeWorker(threading.Thread):
    """Every ``interval`` seconds, :func:`purge_due` on a fresh procedure; stops when ``stop()`` is called."""

    def __init__(
        self,
        procedure: Callable[[], AbstractContextManager[Procedure]],
        signer: SigningIdentity,
        interval: float = 3600,
        today: Callable[[], dt.date] = dt.date.today,
    ):
        super().__init__(name="airlock-purge", daemon=True)
        self._procedure, self._signer, self._interval, self._today = procedure, signer, interval, today
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                with self._procedure() as p:
                    for run in purge_due(p, self._signer, self._today()):
                        log.warning("purged run %s (its deadline or grace period is over)", run.id)
            except AirlockError as e:  # one line, no values; tried again at the next interval
                log.error("purge of due runs failed: %s", e)
            self._stopped.wait(self._interval)

    def stop(self) -> None:
        self._stopped.set()
