"""The dangerous layer under the vault: keys derived from a run's DEK, chunk encryption, schema digests.

Only :mod:`airlock.vault.staging` calls this module. Each entity of a run gets
its own AES-256-GCM key, derived from the run's DEK with HKDF-SHA256 (info
names the run and the entity), and the manifest its own HMAC key.

Nonces are 96 random bits per chunk. Under one key (one entity of one run)
the vault writes at most 10**6 chunks (six-digit index), re-seals after a
resumed run included; the chance that two of them share a nonce is below
n**2 / 2**97 < 2**-57, far under NIST SP 800-38D's 2**-32 bound. Random
nonces, unlike a counter, stay unique when a crashed run re-seals an index it
had already written.

The associated data binds the run id, the entity, the chunk index and the
schema digest, so a chunk moved to another place, another run or another
schema does not open.

>>> dek = new_dek()
>>> sealed = seal_chunk(dek, "run-1", "patient", 0, "ab" * 32, b"arrow ipc bytes")
>>> open_chunk(dek, "run-1", "patient", 0, "ab" * 32, sealed)
b'arrow ipc bytes'
>>> open_chunk(dek, "run-1", "patient", 1, "ab" * 32, sealed)
Traceback (most recent call last):
...
cryptography.exceptions.InvalidTag
"""

from __future__ import annotations

import hashlib
import os

import pyarrow as pa
import rfc8785
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"airlock-chunk/1\n"
NONCE = 12


def new_dek() -> bytes:
    return AESGCM.generate_key(256)


def derive(dek: bytes, purpose: str, *names: str, length: int = 32) -> bytes:
    info = "\0".join(("airlock/vault/v1", purpose, *names)).encode()
    return HKDF(hashes.SHA256(), length, salt=None, info=info).derive(dek)


def dek_id(dek: bytes) -> str:
    """A public name for a DEK (for certificates and logs) that reveals nothing of it."""
    return "dek-" + derive(dek, "key-id", length=8).hex()


def wrap_context(run_id: str) -> bytes:
    """Associated data for wrapping a run's DEK: a wrapped DEK moved to another run does not unwrap."""
    return f"airlock/vault/v1/dek\0{run_id}".encode()


def schema_digest(schema: pa.Schema) -> str:
    return hashlib.sha256(schema.serialize().to_pybytes()).hexdigest()


def _aad(run_id: str, entity: str, index: int, schema: str) -> bytes:
    return rfc8785.dumps({"format": "airlock-vault-chunk/1", "run": run_id, "entity": entity, "index": index, "schema": schema})


def seal_chunk(dek: bytes, run_id: str, entity: str, index: int, schema: str, plaintext: bytes | pa.Buffer) -> bytes:
    nonce = os.urandom(NONCE)
    key = AESGCM(derive(dek, "chunk", run_id, entity))
    return MAGIC + nonce + key.encrypt(nonce, memoryview(plaintext).cast("B"), _aad(run_id, entity, index, schema))


def open_chunk(dek: bytes, run_id: str, entity: str, index: int, schema: str, sealed: bytes) -> bytes:
    """The plaintext, or cryptography's InvalidTag (also for a chunk that is not one of ours)."""
    if not sealed.startswith(MAGIC) or len(sealed) < len(MAGIC) + NONCE + 16:
        raise InvalidTag()
    nonce, body = sealed[len(MAGIC) : len(MAGIC) + NONCE], sealed[len(MAGIC) + NONCE :]
    key = AESGCM(derive(dek, "chunk", run_id, entity))
    return key.decrypt(nonce, body, _aad(run_id, entity, index, schema))
