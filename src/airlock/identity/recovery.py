"""Single-use recovery codes: the way back in when the TOTP device is lost; only their hashes are kept.

>>> codes = new_codes()
>>> len(codes), len(codes[0])
(10, 14)
>>> digest(codes[0]) == digest(codes[0].lower().replace("-", ""))
True
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["COUNT", "digest", "new_codes"]

COUNT = 10
# Crockford-like alphabet without look-alikes (0/O, 1/I/L): read off paper without mistakes.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_codes(count: int = COUNT) -> list[str]:
    """``count`` codes of 12 random characters (about 59 bits each), shown once as ``XXXX-XXXX-XXXX``."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    return codes


def digest(code: str) -> str:
    """What is stored: SHA-256 of the code without separators, upper-cased (59 random bits need no slow hash)."""
    normalized = "".join(c for c in code.upper() if c.isalnum())
    return hashlib.sha256(normalized.encode()).hexdigest()
