"""The alert rules, in one reviewable table: what fires, on which ledger entries, above which threshold.

A rule with ``kinds`` is evaluated as each ledger entry arrives: entries of
those kinds (and ``outcome``, if set) that pass ``when`` are counted — or their
``measure`` object summed — per subject over ``window``; at ``threshold`` the
rule fires. Rules without kinds are evaluated by :meth:`airlock.watch.alerts.Watch.tick`.

>>> RULES["failed_logins"].threshold, RULES["failed_logins"].severity.name
(5, 'HIGH')
>>> Severity.HIGH.raised().name, Severity.CRITICAL.raised().name
('CRITICAL', 'CRITICAL')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airlock.ledger import Recorded
    from airlock.watch.alerts import Watch

__all__ = ["RULES", "Rule", "Severity"]


class Severity(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    def raised(self) -> Severity:
        return Severity(min(self + 1, Severity.CRITICAL))

    @classmethod
    def named(cls, name: str) -> Severity:
        return cls[name.upper()]


@dataclass(frozen=True)
class Rule:
    name: str
    severity: Severity
    description: str
    kinds: frozenset[str] = frozenset()  # empty: evaluated on tick
    outcome: str | None = None
    threshold: int = 1
    window: timedelta = timedelta(minutes=15)
    subject: str = "actor"  # "actor", "run" or the name of an object of the entry
    measure: str | None = None  # an object to sum instead of counting entries
    when: Callable[[Watch, Recorded], bool] | None = None


def _new_client(watch: Watch, rec: Recorded) -> bool:
    return watch.is_new_client(rec)


def _outside_run(watch: Watch, rec: Recorded) -> bool:
    return not watch.run_is_active(rec.objects.get("run"))


def _off_hours(watch: Watch, rec: Recorded) -> bool:
    return rec.actor.role != "system" and not watch.settings.working_hours.contains(rec.at)


_LOGIN = frozenset({"login", "identity.login"})
_TABLE = (
    Rule("failed_logins", Severity.HIGH, "a burst of failed logins on one account",
         frozenset({"login_failure", "identity.login_failure"}), threshold=5, window=timedelta(minutes=15)),
    Rule("lockout", Severity.HIGH, "an account locked out", frozenset({"identity.lockout"})),
    Rule("mfa_failures", Severity.HIGH, "wrong second-factor codes after a right password",
         frozenset({"mfa"}), outcome="failure", threshold=3, window=timedelta(minutes=15)),
    Rule("mfa_throttled", Severity.HIGH, "second factor throttled: someone holds this person's password",
         frozenset({"identity.second_factor_failures"})),
    Rule("new_client", Severity.MEDIUM, "a login from a client or address never seen for this account",
         _LOGIN, outcome="success", when=_new_client),
    Rule("shared_account", Severity.HIGH, "one account used from two clients at once", frozenset({"identity.shared_account"})),
    Rule("probing", Severity.MEDIUM, "many unauthenticated requests from one address",
         frozenset({"http.unauthenticated"}), threshold=20, window=timedelta(minutes=5), subject="address"),
    Rule("scope_violation", Severity.CRITICAL, "data outside the mandate's scope stopped by the guard",
         frozenset({"scope.violation"}), subject="run"),
    Rule("mandate_refused", Severity.HIGH, "a mandate refused (signature, scope or limits)", frozenset({"mandate.refused"}), subject="run"),
    Rule("vault_outside_run", Severity.HIGH, "the vault opened while no run is in progress",
         frozenset({"vault_open", "vault.opened"}), when=_outside_run),
    Rule("large_read", Severity.MEDIUM, "one person read unusually many rows in a day",
         frozenset({"export", "data.read"}), threshold=100_000, window=timedelta(hours=24), measure="rows"),
    Rule("off_hours", Severity.LOW, "activity by a person outside working hours",
         frozenset({"login", "identity.login", "export", "data.read", "vault_open", "vault.opened", "run.transition", "key_use", "purge"}),
         when=_off_hours, window=timedelta(hours=8)),
    Rule("tls_off", Severity.HIGH, "the server answering without TLS beyond loopback", frozenset({"server.tls_off"}), subject="run"),
    Rule("integrity_failure", Severity.CRITICAL, "a sealed chunk or manifest of the vault altered",
         frozenset({"vault.integrity_failure"}), subject="run"),
    Rule("purge_overdue", Severity.HIGH, "a run past its mandate deadline and not purged"),
    Rule("ledger_unverifiable", Severity.CRITICAL, "ledger verification fails"),
    Rule("breach_deadline", Severity.HIGH, "a breach's 72-hour notification clock is running out"),
)
#: Every rule by name.
RULES: dict[str, Rule] = {r.name: r for r in _TABLE}
