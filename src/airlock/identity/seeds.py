"""TOTP seeds sealed at rest, so that a copy of the metadata store does not carry everyone's second factor.

The store keeps each account's seed encrypted with AES-256-GCM under a key kept outside the store, and bound to
the account's id (a seed copied onto another account's row does not open). Someone holding a dump, a backup or
a replica of the database gets the argon2id password hashes and no usable seed; someone who also reads the key
file gets both (see docs/security.md).

The key is ``$AIRLOCK_HOME/identity.key`` (32 random bytes, readable by its owner only), made on first use, or
the file ``AIRLOCK_IDENTITY_KEY_FILE`` names (a secret mounted into a container, say). Every failure to open a
seed is the one opaque :class:`SeedError`.

>>> key = SeedKey.generate()
>>> sealed = key.seal("acc-1", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
>>> sealed.startswith(PREFIX), "JBSWY3DP" in sealed
(True, False)
>>> key.open("acc-1", sealed)
'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP'
>>> key.open("acc-2", sealed)
Traceback (most recent call last):
...
airlock.identity.seeds.SeedError: a TOTP seed does not open with this identity key (another key, or a row altered)
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from airlock.errors import AirlockError
from airlock.home import airlock_home

__all__ = ["KEY_FILE_ENV", "PREFIX", "SeedError", "SeedKey"]

KEY_FILE_ENV = "AIRLOCK_IDENTITY_KEY_FILE"
#: What a sealed seed starts with; a value without it was stored before seeds were sealed.
PREFIX = "v1:"
_NONCE = 12


class SeedError(AirlockError):
    """A sealed seed that does not open: the wrong key file, or a row that was altered."""


class SeedKey:
    """The key TOTP seeds are sealed under; made with :meth:`load` (the key file) or :meth:`generate`."""

    def __init__(self, key: bytes):
        if len(key) != 32:
            raise AirlockError("identity key: 32 bytes expected; restore the key file from its backup")
        self._aead = AESGCM(key)

    @classmethod
    def generate(cls) -> SeedKey:
        """A key that lives in memory only (for tests and throwaway directories)."""
        return cls(AESGCM.generate_key(256))

    @classmethod
    def load(cls, path: Path | None = None) -> SeedKey:
        """The key in ``path`` (default: ``AIRLOCK_IDENTITY_KEY_FILE``, else ``$AIRLOCK_HOME/identity.key``),
        made there, readable by its owner only, when the file does not exist yet."""
        path = path or Path(os.environ.get(KEY_FILE_ENV) or airlock_home() / "identity.key")
        try:
            # O_EXCL: two processes starting at once do not each write a key of their own.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if path.stat().st_mode & 0o077:
                raise AirlockError(f"{path}: readable by others; chmod 600 it (it opens every account's TOTP seed)") from None
            return cls(path.read_bytes())
        key = AESGCM.generate_key(256)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        return cls(key)

    def seal(self, account_id: str, seed: str) -> str:
        nonce = os.urandom(_NONCE)
        return PREFIX + base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, seed.encode(), account_id.encode())).decode()

    def open(self, account_id: str, sealed: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(sealed.removeprefix(PREFIX).encode())
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], account_id.encode()).decode()
        except (InvalidTag, ValueError):
            raise SeedError("a TOTP seed does not open with this identity key (another key, or a row altered)") from None
