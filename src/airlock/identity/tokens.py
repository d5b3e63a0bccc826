"""Personal API tokens and session ids: 32 random bytes shown once, stored as their SHA-256.

A token starts with a prefix saying what it is, so a leaked one is easy to
recognise in a scanner or a log and to revoke.

>>> token = new_token()
>>> token.startswith("airlock_pat_"), len(digest(token))
(True, 64)
>>> digest(token) == digest(token), digest(token) == digest(new_token())
(True, False)
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["PREFIX", "digest", "new_token"]

PREFIX = "airlock_pat_"


def new_token(prefix: str = PREFIX) -> str:
    """A new secret: ``prefix`` then 32 random bytes, URL-safe base64."""
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What is stored and looked up: hex SHA-256 (a 256-bit random secret needs no slow hash)."""
    return hashlib.sha256(token.encode()).hexdigest()
