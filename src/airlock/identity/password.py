"""Password policy after CNIL deliberation 2022-100, case no. 1: a password alone carries 80 bits of entropy.

Airlock takes the deliberation's "password alone" option, so no account is ever
locked out by someone else's failed attempts (login is still rate-limited, see
:mod:`airlock.server.ratelimit`). Entropy is estimated as the deliberation's
examples do, from the length and the classes of characters used:
``round(length * log2(alphabet))``, the alphabet being the sum of the classes
present: 26 lower-case letters, 26 upper-case letters, 10 digits, 37 special
characters (the deliberation's minimum list), anything else counting as special.

>>> entropy("Tr0mbone&Kiwi")   # 13 characters from the four classes
86
>>> entropy("correct-horse-battery")  # lower-case and special
126
>>> check("Tr0mbone&Kiwi", name="Marie Curie", email="marie.curie@lab.example")
>>> check("Short1!", name="Marie Curie", email="marie.curie@lab.example")
Traceback (most recent call last):
...
airlock.errors.AirlockError: password: about 46 bits of entropy, 80 are required (CNIL 2022-100); use at least 12 characters mixing upper- and lower-case letters, digits and symbols, or a phrase of 7 words
>>> verify(hash_password("Tr0mbone&Kiwi"), "Tr0mbone&Kiwi"), verify(hash_password("Tr0mbone&Kiwi"), "tr0mbone&kiwi")
(True, False)
"""

from __future__ import annotations

import math
import re

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from airlock.errors import AirlockError

__all__ = ["MINIMUM_BITS", "check", "entropy", "hash_password", "needs_rehash", "verify"]

#: CNIL 2022-100, case no. 1 (password alone, no restriction of access to the account).
MINIMUM_BITS = 80

_CLASSES = ((re.compile(r"[a-z]"), 26), (re.compile(r"[A-Z]"), 26), (re.compile(r"[0-9]"), 10), (re.compile(r"[^a-zA-Z0-9]"), 37))
# argon2id with the library's RFC 9106 low-memory profile (64 MiB, 3 passes).
_hasher = PasswordHasher(type=Type.ID)


def entropy(password: str) -> int:
    """Estimated entropy in bits of ``password``, as CNIL 2022-100 estimates it (length and character classes)."""
    alphabet = sum(size for pattern, size in _CLASSES if pattern.search(password))
    return round(len(password) * math.log2(alphabet)) if alphabet else 0


def check(password: str, *, name: str, email: str) -> None:
    """Refuse a password below :data:`MINIMUM_BITS` or built on the person's own name or e-mail."""
    bits = entropy(password)
    if bits < MINIMUM_BITS:
        raise AirlockError(
            f"password: about {bits} bits of entropy, {MINIMUM_BITS} are required (CNIL 2022-100); use at least 12 characters "
            "mixing upper- and lower-case letters, digits and symbols, or a phrase of 7 words"
        )
    lowered = password.lower()
    personal = {w for w in re.split(r"[^a-z0-9]+", f"{name} {email.split('@')[0]}".lower()) if len(w) >= 4}
    if any(w in lowered for w in personal):
        raise AirlockError("password: it contains the account's own name or e-mail, which an attacker tries first; choose another")


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted, self-describing)."""
    return _hasher.hash(password)


def verify(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; never raises for a wrong password."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)
