"""The canonical form of a mandate body: what is signed and what the digest is computed on.

The body is the YAML loaded as JSON-compatible data (dates as ISO strings),
serialised with RFC 8785 (JSON Canonicalization Scheme), so that layout, key
order, quoting and comments of the YAML do not change what is signed.

>>> import datetime as dt
>>> body = json_compatible({"id": "lab-1", "deadline": dt.date(2026, 12, 31), "version": 1})
>>> canonical_form(body)
b'{"deadline":"2026-12-31","id":"lab-1","version":1}'
>>> digest(body) == digest({"version": 1, "id": "lab-1", "deadline": "2026-12-31"})
True
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import rfc8785


def json_compatible(data: Any, path: str = "") -> Any:
    """``data`` (as loaded from YAML) with dates as ISO strings; TypeError naming the path of anything else non-JSON."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if not isinstance(key, str):
                raise TypeError(f"{path or '(top)'}: key {key!r} must be text")
            out[key] = json_compatible(value, f"{path}.{key}" if path else key)
        return out
    if isinstance(data, list):
        return [json_compatible(v, f"{path}[{i}]") for i, v in enumerate(data)]
    if isinstance(data, dt.datetime):
        raise TypeError(f"{path}: give a date (YYYY-MM-DD), not a time")
    if isinstance(data, dt.date):
        return data.isoformat()
    if data is None or isinstance(data, (str, bool, int, float)):
        return data
    raise TypeError(f"{path}: {type(data).__name__} values are not allowed in a mandate")


def canonical_form(body: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of a JSON-compatible body."""
    return rfc8785.dumps(body)


def digest(body: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical form: names one exact version of a mandate."""
    return hashlib.sha256(canonical_form(body)).hexdigest()
