"""A ledger entry: who did what, when, to which objects — ids and digests only, validated at construction.

An entry cannot carry a patient's data by construction: object values must look
like ids or digests (short, no spaces, a restricted alphabet) and must not look
like a NIR, an e-mail address or a phone number (the patterns of
:mod:`airlock.redact`); the actor's name is a staff member's, short, with the
same checks.

>>> e = LedgerEntry("run_transition", Actor("3f2a9c0d1e2b4a5c", "Karim Benali", "processor"), {"run": "run-20261129-abc123"})
>>> e.objects["run"]
'run-20261129-abc123'
>>> LedgerEntry("export", Actor("k1", "Karim Benali", "processor"), {"note": "Mme Dupont, rappeler"})
Traceback (most recent call last):
...
airlock.ledger.entry.NotAnId: ledger entry export: object 'note' is not an id or a digest; ledger entries hold ids and digests only
>>> LedgerEntry("export", Actor("k1", "Karim Benali", "processor"), {"who": "2840578123456"})
Traceback (most recent call last):
...
airlock.ledger.entry.NotAnId: ledger entry export: object 'who' looks like a NIR; ledger entries hold ids and digests only
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from airlock import redact
from airlock.errors import AirlockError

__all__ = ["SYSTEM", "Actor", "Kind", "LedgerEntry", "NotAnId", "check_id", "looks_like"]

#: Longest object value: a SHA-256 hex digest with a short prefix fits.
MAX_ID = 80
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=/-]*")
_KIND = re.compile(r"[a-z][a-z0-9_.]{0,47}")
_NAME = re.compile(r"[^\W\d_][\w .'-]{0,99}")
_LOOKS_LIKE = {"a NIR": redact._NIR, "an e-mail address": redact._EMAIL, "a phone number": redact._PHONE}


class NotAnId(AirlockError):
    """A value offered to the ledger is not an id or a digest (it might be someone's data)."""


class Kind(StrEnum):
    """The kinds of entries Airlock writes itself; events of the bus keep their own dotted kind."""

    LOGIN = "login"
    LOGIN_FAILURE = "login_failure"
    MFA = "mfa"
    ACCOUNT = "account"
    ROLE = "role"
    MANDATE_SIGNATURE = "mandate_signature"
    PLAN_APPROVAL = "plan_approval"
    RUN_TRANSITION = "run_transition"
    KEY_USE = "key_use"
    VAULT_OPEN = "vault_open"
    PURGE = "purge"
    CERTIFICATE = "certificate"
    EXPORT = "export"
    ALERT = "alert"
    INCIDENT = "incident"
    LEDGER_PRUNE = "ledger_prune"


def looks_like(value: str) -> str | None:
    """What ``value`` looks like among a NIR, an e-mail address and a phone number, or None."""
    return next((what for what, pattern in _LOOKS_LIKE.items() if re.search(pattern.removeprefix("(?i)"), value, re.IGNORECASE)), None)


def check_id(kind: str, name: str, value: str) -> str:
    """``value`` if it is an id or a digest, else :class:`NotAnId` naming ``name`` (never the value)."""
    if not isinstance(value, str) or len(value) > MAX_ID or not _ID.fullmatch(value):
        raise NotAnId(f"ledger entry {kind}: object {name!r} is not an id or a digest; ledger entries hold ids and digests only")
    what = looks_like(value)
    if what:
        raise NotAnId(f"ledger entry {kind}: object {name!r} looks like {what}; ledger entries hold ids and digests only")
    return value


@dataclass(frozen=True)
class Actor:
    """Who acted: an account id or a signing key id, the staff member's name and role (``system`` for Airlock itself)."""

    id: str
    name: str
    role: str

    def __post_init__(self) -> None:
        check_id("actor", "actor id", self.id)
        check_id("actor", "actor role", self.role)
        if not _NAME.fullmatch(self.name) or looks_like(self.name):
            raise NotAnId("ledger actor: the name must be a person's or service's name (letters, 100 characters at most)")


SYSTEM = Actor("airlock", "Airlock", "system")


@dataclass(frozen=True)
class LedgerEntry:
    """What is appended; the ledger gives it a sequence number, a time and its place in the chain."""

    kind: str
    actor: Actor
    objects: dict[str, str] = field(default_factory=dict)
    outcome: str = "success"

    def __post_init__(self) -> None:
        if not _KIND.fullmatch(self.kind):
            raise NotAnId("ledger entry: a kind is a short lower-case word (letters, digits, '_' and '.')")
        if self.outcome not in ("success", "failure"):
            raise NotAnId(f"ledger entry {self.kind}: outcome is 'success' or 'failure'")
        for name, value in self.objects.items():
            if not _KIND.fullmatch(name):
                raise NotAnId(f"ledger entry {self.kind}: object names are short lower-case words")
            check_id(self.kind, name, value)

    @classmethod
    def lenient(cls, kind: str, actor: Actor, objects: dict[str, Any], outcome: str = "success") -> LedgerEntry:
        """An entry from someone else's detail: values that are not ids or digests are replaced by ``withheld``."""
        kept = {}
        for name, value in objects.items():
            if _KIND.fullmatch(name):
                try:
                    kept[name] = check_id(kind, name, str(value))
                except NotAnId:
                    kept[name] = "withheld"
        return cls(kind, actor, kept, outcome)
