"""Key encryption keys (KEKs): what wraps each run's data encryption key (DEK).

A run's DEK never reaches disk in clear: the vault stores it wrapped by a KEK
from a :class:`KeyProvider`. Two providers ship:

* :class:`PassphraseKeyring`, the embedded default: a local file (mode 0600)
  of random 256-bit KEKs, each encrypted with AES-256-GCM under a key derived
  from a passphrase with argon2id (:data:`ARGON2ID`, RFC 9106's second
  recommended setting).
* :class:`Pkcs11Keyring`: a non-extractable AES key in a PKCS#11 token (an HSM,
  or SoftHSM2); wrapping happens inside the token with CKM_AES_GCM.

A wrapped blob names the KEK that made it, so after :meth:`KeyProvider.rotate`
old blobs still unwrap until they are re-wrapped (``Vault.rewrap_all``) and
the old KEK is retired. Every unwrap failure is one opaque :class:`UnwrapError`.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from airlock.errors import AirlockError
from airlock.home import airlock_home

__all__ = [
    "ARGON2ID",
    "Argon2Cost",
    "KeyProvider",
    "PassphraseKeyring",
    "Pkcs11Keyring",
    "UnwrapError",
    "airlock_home",
]

PASSPHRASE_ENV = "AIRLOCK_KEYRING_PASSPHRASE"
_FORMAT = "airlock-keyring/1"
_NONCE = 12


class UnwrapError(AirlockError):
    """A wrapped key does not open: wrong KEK, unknown KEK, wrong context or damaged blob."""


@runtime_checkable
class KeyProvider(Protocol):
    """Wraps and unwraps DEKs under a KEK the provider keeps; ``context`` is bound as associated data."""

    @property
    def key_id(self) -> str:
        """The id of the current KEK (the one :meth:`wrap` uses)."""

    def wrap(self, dek: bytes, context: bytes) -> bytes: ...

    def unwrap(self, blob: bytes, context: bytes) -> bytes:
        """The DEK, or :class:`UnwrapError`; works with any KEK not yet retired."""

    def rotate(self) -> str:
        """Make a new KEK current; return its id. Older KEKs still unwrap until retired."""

    def retire(self, key_id: str) -> None:
        """Destroy an old KEK (never the current one): blobs it wrapped become undecryptable."""


def _pack(key_id: str, nonce: bytes, sealed: bytes) -> bytes:
    kid = key_id.encode()
    return bytes([len(kid)]) + kid + nonce + sealed


def _unpack(blob: bytes) -> tuple[str, bytes, bytes]:
    try:
        n = blob[0]
        kid = blob[1 : 1 + n].decode("ascii")
        nonce, sealed = blob[1 + n : 1 + n + _NONCE], blob[1 + n + _NONCE :]
    except (IndexError, UnicodeDecodeError):
        raise UnwrapError("wrapped key is malformed") from None
    if len(nonce) != _NONCE or not sealed:
        raise UnwrapError("wrapped key is malformed")
    return kid, nonce, sealed


@dataclass(frozen=True)
class Argon2Cost:
    """argon2id parameters; stored in the keyring file so a file keeps opening if defaults change."""

    time_cost: int
    memory_cost_kib: int
    parallelism: int


#: RFC 9106 §4, second recommended option: t=3, m=64 MiB, p=4 (about 0.2 s here, once per keyring opening).
ARGON2ID = Argon2Cost(time_cost=3, memory_cost_kib=64 * 1024, parallelism=4)


def _derive(passphrase: bytes, salt: bytes, cost: Argon2Cost) -> bytes:
    return hash_secret_raw(
        passphrase, salt, cost.time_cost, cost.memory_cost_kib, cost.parallelism, hash_len=32, type=Type.ID
    )


def _kek_aad(key_id: str) -> bytes:
    return b"airlock/keyring/v1/kek\0" + key_id.encode()


class PassphraseKeyring:
    """A local keyring file of random KEKs, encrypted under an argon2id-derived key.

    Open an existing file with ``PassphraseKeyring(path, passphrase)``; make one
    with :meth:`create`. The passphrase should come from
    ``AIRLOCK_KEYRING_PASSPHRASE`` or a prompt, never from a command-line argument.
    """

    def __init__(self, path: Path, passphrase: bytes | str):
        self.path = Path(path)
        try:
            doc = json.loads(self.path.read_text())
            if doc["format"] != _FORMAT:
                raise ValueError(doc["format"])
            kdf = doc["kdf"]
            self._salt = base64.b64decode(kdf["salt"])
            self._cost = Argon2Cost(kdf["time_cost"], kdf["memory_cost_kib"], kdf["parallelism"])
            current, wrapped = doc["current"], {k: base64.b64decode(v) for k, v in doc["keys"].items()}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise AirlockError(
                f"{self.path}: cannot read keyring ({type(e).__name__}); make one with 'airlock vault init'"
            ) from None
        self._master = AESGCM(_derive(_bytes(passphrase), self._salt, self._cost))
        try:
            self._keks = {k: self._master.decrypt(b[:_NONCE], b[_NONCE:], _kek_aad(k)) for k, b in wrapped.items()}
        except InvalidTag:
            raise AirlockError(f"{self.path}: cannot open keyring (wrong passphrase or damaged file)") from None
        if current not in self._keks:
            raise AirlockError(f"{self.path}: keyring's current key is missing; restore the file from backup")
        self._current = current

    @classmethod
    def create(cls, path: Path, passphrase: bytes | str, cost: Argon2Cost = ARGON2ID) -> "PassphraseKeyring":
        """Make a new keyring file with one random KEK; refuses to overwrite an existing file."""
        secret = _bytes(passphrase)
        if len(secret) < 12:
            raise AirlockError("the keyring passphrase must have at least 12 characters")
        path = Path(path)
        if path.exists():
            raise AirlockError(f"{path}: a keyring already exists; open it instead of creating one")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        salt = os.urandom(16)
        master = AESGCM(_derive(secret, salt, cost))
        kid = _new_kek_id()
        _write_keyring(path, salt, cost, kid, {kid: _seal_kek(master, kid, AESGCM.generate_key(256))})
        return cls(path, secret)

    @property
    def key_id(self) -> str:
        return self._current

    def wrap(self, dek: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return _pack(self._current, nonce, AESGCM(self._keks[self._current]).encrypt(nonce, dek, context))

    def unwrap(self, blob: bytes, context: bytes) -> bytes:
        kid, nonce, sealed = _unpack(blob)
        if kid not in self._keks:
            raise UnwrapError(f"wrapped key needs KEK {kid}, which keyring {self.path} does not hold")
        try:
            return AESGCM(self._keks[kid]).decrypt(nonce, sealed, context)
        except InvalidTag:
            raise UnwrapError(f"wrapped key does not open with KEK {kid}") from None

    def rotate(self) -> str:
        kid = _new_kek_id()
        self._keks[kid] = AESGCM.generate_key(256)
        self._current = kid
        self._save()
        return kid

    def retire(self, key_id: str) -> None:
        if key_id == self._current:
            raise AirlockError(f"KEK {key_id} is the current key; rotate before retiring it")
        if self._keks.pop(key_id, None) is None:
            raise AirlockError(f"keyring {self.path} has no KEK {key_id}")
        self._save()

    def _save(self) -> None:
        sealed = {k: _seal_kek(self._master, k, v) for k, v in self._keks.items()}
        _write_keyring(self.path, self._salt, self._cost, self._current, sealed)


def _bytes(passphrase: bytes | str) -> bytes:
    return passphrase.encode() if isinstance(passphrase, str) else passphrase


def _new_kek_id() -> str:
    return f"kek-{secrets.token_hex(8)}"


def _seal_kek(master: AESGCM, kid: str, kek: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + master.encrypt(nonce, kek, _kek_aad(kid))


def _write_keyring(path: Path, salt: bytes, cost: Argon2Cost, current: str, sealed: dict[str, bytes]) -> None:
    doc = {
        "format": _FORMAT,
        "kdf": {"algorithm": "argon2id", "salt": base64.b64encode(salt).decode(), **cost.__dict__},
        "current": current,
        "keys": {k: base64.b64encode(v).decode() for k, v in sealed.items()},
    }
    write_private(path, (json.dumps(doc, indent=2) + "\n").encode())


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data``, mode 0600, synced to disk before the rename."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class Pkcs11Keyring:
    """KEKs as non-extractable AES-256 keys in a PKCS#11 token; wrapping runs inside the token.

    KEK generations are token objects labelled ``<key_label>#<n>``; the highest
    ``n`` is current. The first use generates ``#1`` when the token has none.
    """

    def __init__(self, module_path: str | Path, token_label: str, pin: str, key_label: str = "airlock-kek"):
        import pkcs11
        from pkcs11 import Attribute, ObjectClass

        self._pkcs11 = pkcs11
        self.token_label, self.key_label = token_label, key_label
        try:
            token = pkcs11.lib(str(module_path)).get_token(token_label=token_label)
            try:
                self._session = token.open(user_pin=pin, rw=True)
            except pkcs11.UserAlreadyLoggedIn:
                # PKCS#11 login is per process: another session of ours already logged in.
                self._session = token.open(rw=True)
        except (pkcs11.PKCS11Error, RuntimeError, OSError) as e:
            raise AirlockError(
                f"PKCS#11 token {token_label!r} via {module_path}: cannot open a session ({type(e).__name__}); "
                "check the module path, the token label and the PIN"
            ) from None
        self._keys = {}
        for key in self._session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY}):
            label = key[Attribute.LABEL]
            if label.startswith(f"{key_label}#"):
                self._keys[label] = key
        if not self._keys:
            self.rotate()

    @property
    def key_id(self) -> str:
        return max(self._keys, key=_generation)

    def wrap(self, dek: bytes, context: bytes) -> bytes:
        kid = self.key_id
        nonce = os.urandom(_NONCE)
        return _pack(kid, nonce, self._keys[kid].encrypt(dek, mechanism=self._gcm(), mechanism_param=self._param(nonce, context)))

    def unwrap(self, blob: bytes, context: bytes) -> bytes:
        kid, nonce, sealed = _unpack(blob)
        if kid not in self._keys:
            raise UnwrapError(f"wrapped key needs KEK {kid}, which token {self.token_label!r} does not hold")
        try:
            return bytes(self._keys[kid].decrypt(sealed, mechanism=self._gcm(), mechanism_param=self._param(nonce, context)))
        except self._pkcs11.PKCS11Error:
            raise UnwrapError(f"wrapped key does not open with KEK {kid}") from None

    def rotate(self) -> str:
        from pkcs11 import Attribute, KeyType, MechanismFlag

        label = f"{self.key_label}#{max(map(_generation, self._keys), default=0) + 1}"
        self._keys[label] = self._session.generate_key(
            KeyType.AES,
            256,
            label=label,
            store=True,
            capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
            template={Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True, Attribute.PRIVATE: True},
        )
        return label

    def retire(self, key_id: str) -> None:
        if key_id == self.key_id:
            raise AirlockError(f"KEK {key_id} is the current key; rotate before retiring it")
        if key_id not in self._keys:
            raise AirlockError(f"token {self.token_label!r} has no KEK {key_id}")
        self._keys.pop(key_id).destroy()

    def close(self) -> None:
        self._session.close()

    def _gcm(self):
        return self._pkcs11.Mechanism.AES_GCM

    def _param(self, nonce: bytes, context: bytes):
        return self._pkcs11.mechanisms.GCMParams(nonce, context, 128)


def _generation(label: str) -> int:
    return int(label.rpartition("#")[2])
