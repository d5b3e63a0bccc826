"""Ed25519 signing identities: who signed a mandate, a plan approval or a deletion certificate.

An identity is a private key kept in a PEM file encrypted with a passphrase
(never stored in clear), and a public key that can be shared freely. The key id
is the first 16 hex digits of the SHA-256 of the raw public key, so a signature
can say which key made it without carrying the key.

>>> ident = SigningIdentity.generate("Dr Anne Martin", "controller")
>>> sig = ident.sign(b"mandate body")
>>> verify(ident.public, sig, b"mandate body")
>>> verify(ident.public, sig, b"widened mandate body")
Traceback (most recent call last):
...
airlock.signing.BadSignature: signature does not verify with key ...
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from airlock.errors import AirlockError


class BadSignature(AirlockError):
    """A signature does not verify; deliberately says nothing more about why."""


@dataclass(frozen=True)
class PublicIdentity:
    """The shareable half: a name, a role and an Ed25519 public key."""

    name: str
    role: str
    key: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        return key_id(self.key)

    def to_json(self) -> dict[str, str]:
        raw = self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"name": self.name, "role": self.role, "key_id": self.key_id, "public_key": base64.b64encode(raw).decode()}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> "PublicIdentity":
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(data["public_key"], validate=True))
            ident = cls(data["name"], data["role"], key)
        except (KeyError, ValueError, TypeError) as e:
            raise AirlockError(f"public identity is malformed ({type(e).__name__}); export it again with 'airlock keys show'") from None
        if data.get("key_id", ident.key_id) != ident.key_id:
            raise AirlockError("public identity's key_id does not match its key; export it again with 'airlock keys show'")
        return ident

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "PublicIdentity":
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise AirlockError(f"{path}: cannot read public identity ({type(e).__name__}); give the .pub.json file made by 'airlock keys new'") from None


@dataclass(frozen=True)
class SigningIdentity:
    """A private signing key with its public identity."""

    public: PublicIdentity
    _private: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str, role: str) -> "SigningIdentity":
        private = Ed25519PrivateKey.generate()
        return cls(PublicIdentity(name, role, private.public_key()), private)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def save(self, directory: Path, passphrase: bytes) -> tuple[Path, Path]:
        """Write ``<key_id>.key.pem`` (encrypted, mode 0600) and ``<key_id>.pub.json``."""
        if len(passphrase) < 12:
            raise AirlockError("the passphrase protecting a signing key must have at least 12 characters")
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
        meta = json.dumps({"name": self.public.name, "role": self.public.role}).encode()
        key_path = directory / f"{self.public.key_id}.key.pem"
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"# airlock-identity " + base64.b64encode(meta) + b"\n" + pem)
        pub_path = directory / f"{self.public.key_id}.pub.json"
        self.public.save(pub_path)
        return key_path, pub_path

    @classmethod
    def load(cls, path: Path, passphrase: bytes) -> "SigningIdentity":
        try:
            first, pem = path.read_bytes().split(b"\n", 1)
            meta = json.loads(base64.b64decode(first.removeprefix(b"# airlock-identity ")))
            private = serialization.load_pem_private_key(pem, password=passphrase)
        except (OSError, ValueError, TypeError):
            # One opaque error for a wrong passphrase, a corrupt file or a wrong file.
            raise AirlockError(f"{path}: cannot open signing key (wrong passphrase or not an airlock key file)") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise AirlockError(f"{path}: not an Ed25519 signing key")
        return cls(PublicIdentity(meta["name"], meta["role"], private.public_key()), private)


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def verify(public: PublicIdentity, signature: bytes, message: bytes) -> None:
    """Raise BadSignature unless ``signature`` is ``public``'s signature of ``message``."""
    try:
        public.key.verify(signature, message)
    except InvalidSignature:
        raise BadSignature(f"signature does not verify with key {public.key_id} ({public.role} {public.name})") from None
