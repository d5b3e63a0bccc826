"""The vault: encrypted staging of a run's data, its keys, its purge and the proof of deletion.

>>> import tempfile, pyarrow as pa
>>> from airlock.signing import SigningIdentity
>>> home = Path(tempfile.mkdtemp())
>>> keyring = PassphraseKeyring.create(home / "keyring.json", "correct horse battery")
>>> run = Vault(home / "vault").create_run("run-1", keyring)
>>> run.seal("site", pa.record_batch({"site_id": ["s1", "s2"]})).rows
2
>>> run.close()
>>> [b.num_rows for b in run.chunks("site")]
[2]
>>> processor = SigningIdentity.generate("Transfert SAS", "processor")
>>> cert = run.purge("ops@processor", "migration done", processor, mandate_digest="ab12")
>>> cert.verify(processor.public)
>>> cert.chunks[0].entity, len(cert.destroyed_keys)
('site', 1)
"""

from pathlib import Path  # noqa: F401 - the doctest above uses it

from airlock.vault.certificate import DeletedChunk, DeletionCertificate
from airlock.vault.events import SecurityEvent, emit, subscribe
from airlock.vault.keyring import KeyProvider, PassphraseKeyring, Pkcs11Keyring, UnwrapError
from airlock.vault.staging import ChunkRef, RunVault, Vault, VaultError, VaultIntegrityError

__all__ = [
    "ChunkRef",
    "DeletedChunk",
    "DeletionCertificate",
    "KeyProvider",
    "PassphraseKeyring",
    "Pkcs11Keyring",
    "RunVault",
    "SecurityEvent",
    "UnwrapError",
    "Vault",
    "VaultError",
    "VaultIntegrityError",
    "emit",
    "subscribe",
]
