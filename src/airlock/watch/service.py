"""Switching the watch on for a process: every security event goes to the ledger, every ledger entry to the rules.

Called where Airlock opens its store to act — the server and the CLI's procedure commands — so that what they
do is recorded and watched without each step having to remember it.
"""

from __future__ import annotations

from collections.abc import Callable

from airlock.ledger import Ledger, connect
from airlock.store import Store
from airlock.watch.alerts import Watch, WatchSettings
from airlock.watch.notifications import Notifier


def watch(store: Store) -> tuple[Watch, Callable[[], None]]:
    """The running watch over ``store`` (notifications from AIRLOCK_* settings) and a function that stops it."""
    ledger = Ledger(store)
    watcher = Watch(store, ledger, Notifier.from_environ(), settings=WatchSettings.from_environ())
    return watcher, connect(ledger)
