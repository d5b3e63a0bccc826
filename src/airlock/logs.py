"""Logging with a redaction filter: defence in depth against personal data in logs.

Airlock code never logs record values; this filter catches the mistakes. It
rewrites each record before any handler formats it: NIR-like numbers, e-mail
addresses and French phone numbers are replaced (same patterns and tokens as
:mod:`airlock.redact`), and any string argument longer than
:data:`LONG_ARGUMENT` characters is withheld unless wrapped in :class:`Safe`.

>>> f = RedactingFilter()
>>> record = logging.LogRecord("airlock", logging.INFO, __file__, 1, "patient %s mailed %s", ("1 84 12 75 123 456 78", "a@b.fr"), None)
>>> f.filter(record), record.getMessage()
(True, 'patient [NIR] mailed [e-mail]')
>>> record = logging.LogRecord("airlock", logging.INFO, __file__, 1, "wrote %s", (Safe("/var/lib/airlock/vault/run-2026-11-29-001/result"),), None)
>>> f.filter(record), record.getMessage()
(True, 'wrote /var/lib/airlock/vault/run-2026-11-29-001/result')
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from airlock.redact import _EMAIL, _NIR, _PHONE, TOKENS

__all__ = ["LONG_ARGUMENT", "RedactingFilter", "Safe", "configure_logging"]

#: String arguments longer than this are withheld unless marked Safe: free text is where data hides.
LONG_ARGUMENT = 40
WITHHELD = "[withheld]"

# Each compiled on its own: the NIR pattern starts with a global (?i) flag.
_PATTERNS = [(re.compile(p), TOKENS[k]) for k, p in (("email", _EMAIL), ("nir", _NIR), ("phone", _PHONE))]


class Safe(str):
    """A string the caller vouches for (a path, a run id...): never withheld for its length."""


def _scrub(text: str) -> str:
    for pattern, token in _PATTERNS:
        text = pattern.sub(token, text)
    return text


def _clean(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if isinstance(value, Safe):
        return Safe(_scrub(value))
    return WITHHELD if len(value) > LONG_ARGUMENT else _scrub(value)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and arguments in place; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _scrub(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_clean(v) for v in record.args)
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when set: the traceback is scrubbed once, here.
            record.exc_text = _scrub(logging.Formatter().formatException(record.exc_info))
        return True


def configure_logging(level: int = logging.INFO) -> None:
    """Set up root logging (if nothing did) and put the redaction filter on every root handler.

    On the handlers, not the root logger: a logger's filters do not see records
    that propagate up from child loggers, a handler's filters see them all.
    """
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root.setLevel(level)
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
