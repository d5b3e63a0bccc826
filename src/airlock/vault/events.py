"""Security events: what the vault reports when something is wrong (or destroyed).

A tiny publish/subscribe point so the vault does not depend on whoever records
events (the ledger subscribes; tests subscribe). Details name runs, entities,
chunk indexes and key ids, never record content.

>>> seen = []
>>> unsubscribe = subscribe(seen.append)
>>> emit(SecurityEvent("vault.integrity_failure", "run-1", {"entity": "patient", "index": "3"}))
>>> seen[0].kind, seen[0].detail["index"]
('vault.integrity_failure', '3')
>>> unsubscribe()
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["SecurityEvent", "emit", "subscribe"]


@dataclass(frozen=True)
class SecurityEvent:
    kind: str
    run_id: str
    detail: dict[str, str] = field(default_factory=dict)


_subscribers: list[Callable[[SecurityEvent], None]] = []


def subscribe(callback: Callable[[SecurityEvent], None]) -> Callable[[], None]:
    """Call ``callback`` with every event from now on; returns a function that unsubscribes it."""
    _subscribers.append(callback)
    return lambda: _subscribers.remove(callback)


def emit(event: SecurityEvent) -> None:
    """Deliver ``event`` to every subscriber; a failing subscriber is not hidden (its error propagates)."""
    for callback in list(_subscribers):
        callback(event)
