"""The ledger: a tamper-evident record of every security-relevant event (ids and digests, never patient data).

:class:`Ledger` appends, checkpoints, prunes and verifies; :func:`connect`
feeds it the security events of :mod:`airlock.vault.events` (vault, scope
guard, identity, procedure steps).
"""

from __future__ import annotations

from collections.abc import Callable

from airlock.ledger.chain import Checkpoint, Ledger, Problem, Recorded, Verification
from airlock.ledger.entry import SYSTEM, Actor, Kind, LedgerEntry, NotAnId
from airlock.vault.events import SecurityEvent, subscribe

__all__ = ["SYSTEM", "Actor", "Checkpoint", "Kind", "Ledger", "LedgerEntry", "NotAnId", "Problem", "Recorded", "Verification",
           "connect", "entry_for"]

#: Events that report something refused or wrong; the rest record something done.
FAILURES = frozenset({"vault.integrity_failure", "scope.violation", "mandate.refused", "identity.login_failure",
                      "identity.second_factor_failures", "identity.shared_account", "identity.lockout", "http.unauthenticated"})


def entry_for(event: SecurityEvent) -> LedgerEntry:
    """The ledger entry for a bus event: actor from its detail (signing key or account), the rest as objects."""
    detail = dict(event.detail)
    if "actor_key" in detail:
        try:
            actor = Actor(detail.pop("actor_key"), detail.pop("actor_name", "unknown"), detail.pop("actor_role", "unknown"))
        except NotAnId:
            actor = SYSTEM
    elif "account" in detail:
        try:
            actor = Actor(detail.pop("account"), "account", "account")
        except NotAnId:
            actor = SYSTEM
    else:
        actor = SYSTEM
    objects = {"run": event.run_id} if event.run_id else {}
    objects.update({k.replace("-", "_"): v for k, v in detail.items() if k != "outcome"})
    outcome = "failure" if event.kind in FAILURES or detail.get("outcome") == "failure" else "success"
    return LedgerEntry.lenient(event.kind, actor, objects, outcome)


def connect(ledger: Ledger) -> Callable[[], None]:
    """Append every security event from now on to ``ledger``; returns a function that disconnects it."""
    def record(event: SecurityEvent) -> None:
        ledger.append(entry_for(event))

    return subscribe(record)
