"""Hard limits: what no mandate can authorise, whoever signs it.

Credential data (passwords, their hashes, tokens, logins of staff or of a
patient portal) is of no use to a new LIS and is the first thing an attacker
wants; CNIL SAN-2022-009 found such data in an exported file. A source column
is refused by its name, a canonical field by its model category.

>>> credential_reason("user.password")
'user.password is credential data; no mandate can authorise extracting it (hard limit)'
>>> credential_reason("patient.hash_value") is not None
True
>>> credential_reason("patient.portalLogin") is not None
True
>>> credential_reason("test_type.name") is None
True
"""

from __future__ import annotations

import re

# Stems found inside a column name ("userpassword", "pwd_hash", "api_token").
_STEMS = ("passw", "passphrase", "pwd", "hash", "token", "secret", "login", "logon", "username",
          "credential", "apikey", "portal", "session")
# Short words that are credentials only as a whole word ("otp", not "hotpath").
_WORDS = {"otp", "totp", "hotp", "pin", "salt", "mfa", "2fa", "auth", "cookie", "nonce"}

_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def credential_reason(name: str) -> str | None:
    """Why ``name`` (a source column ``table.column`` or a canonical ``entity.field``) may never be extracted, or None."""
    lowered = name.lower()
    words = set(_WORD_SPLIT.split(_CAMEL.sub("_", name).lower()))
    if any(stem in lowered for stem in _STEMS) or words & _WORDS:
        return f"{name} is credential data; no mandate can authorise extracting it (hard limit)"
    return None
