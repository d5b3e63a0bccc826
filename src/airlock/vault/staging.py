"""Encrypted staging of a run's record batches, and their purge by crypto-shredding.

A :class:`Vault` is a directory (mode 0700) with one sub-directory per run::

    <run>/key.json                  the run's DEK, wrapped by a KEK (never in clear)
    <run>/manifest.jsonl            MAC-chained list of chunks (see airlock.vault.manifest)
    <run>/<entity>/000000.chunk     AES-256-GCM sealed Arrow IPC stream of one batch
    <run>/rejects/<entity>/...      quarantined records, sealed the same way
    <run>/purge.json, certificate.json   left after a purge: no data, no key

Batches are serialised to Arrow IPC in memory and sealed before they touch
disk. Reading verifies the manifest, then each chunk's length, SHA-256 and GCM
tag, in manifest order; any failure is one :class:`VaultIntegrityError` naming
the chunk, which also emits a ``vault.integrity_failure`` security event.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from cryptography.exceptions import InvalidTag

from airlock.errors import AirlockError
from airlock.signing import SigningIdentity
from airlock.vault import sealing
from airlock.vault.certificate import DeletedChunk, DeletionCertificate
from airlock.vault.events import SecurityEvent, emit
from airlock.vault.keyring import KeyProvider, UnwrapError, airlock_home, write_private
from airlock.vault.manifest import Manifest, ManifestBroken

__all__ = ["ChunkRef", "RunVault", "Vault", "VaultError", "VaultIntegrityError"]

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ENTITY = re.compile(r"(rejects/)?[a-z][a-z0-9_]{0,63}")
_MAX_CHUNKS = 1_000_000  # six-digit file names; also the nonce-collision bound in airlock.vault.sealing
_KEY_FORMAT = "airlock-vault-key/1"
REJECT_REASON = b"airlock.reject_reason"
_IPC = pa.ipc.IpcWriteOptions(compression="zstd")


class VaultError(AirlockError):
    """The vault cannot do what was asked (unknown run, purged run, finished entity...)."""


class VaultIntegrityError(VaultError):
    """A chunk, the manifest or the wrapped key fails verification: tampered, truncated, foreign or wrong key.

    Deliberately one type with one message shape: it names the place, never why
    in detail and never content. The security event carries the failed check.
    """

    def __init__(self, run_id: str, entity: str | None, index: int | None, what: str):
        self.run_id, self.entity, self.index = run_id, entity, index
        super().__init__(
            f"vault run {run_id}: {what} failed its integrity check (tampered, truncated, from another run "
            "or wrong key); its data cannot be trusted: purge the run and extract again"
        )


@dataclass(frozen=True)
class ChunkRef:
    """One sealed chunk as the manifest records it (no content: counts and digests only)."""

    run_id: str
    entity: str
    index: int
    rows: int
    length: int
    sha256: str
    schema_digest: str

    @property
    def name(self) -> str:
        return f"{self.entity}/{self.index:06d}"


def _integrity_failure(run_id: str, entity: str | None, index: int | None, what: str, check: str) -> VaultIntegrityError:
    detail = {"what": what, "check": check}
    if entity is not None:
        detail["entity"] = entity
    if index is not None:
        detail["index"] = str(index)
    emit(SecurityEvent("vault.integrity_failure", run_id, detail))
    return VaultIntegrityError(run_id, entity, index, what)


class Vault:
    """The staging area: runs' sealed chunks under one directory."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else airlock_home() / "vault"
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.root.stat().st_mode & 0o077:
            raise VaultError(f"{self.root}: the vault directory is readable by others; run: chmod 700 {self.root}")

    def create_run(self, run_id: str, keyring: KeyProvider) -> "RunVault":
        """Start a run's staging with a fresh DEK, wrapped by ``keyring``'s current KEK."""
        path = self._run_path(run_id)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            raise VaultError(f"vault run {run_id} already exists in {self.root}; open it to resume") from None
        dek = sealing.new_dek()
        _write_key(path, run_id, keyring, dek)
        manifest = Manifest.create(path / "manifest.jsonl", sealing.derive(dek, "manifest", run_id), run_id)
        return RunVault(self, run_id, dek, manifest)

    def open(self, run_id: str, keyring: KeyProvider) -> "RunVault":
        """Reopen a run (to resume sealing, read it, or finish a purge); verifies the key and manifest."""
        path = self._run_path(run_id)
        if not path.is_dir():
            raise VaultError(f"vault {self.root} has no run {run_id}")
        if (path / "purge.json").exists():
            return RunVault(self, run_id, None, None)
        dek = _read_key(path, run_id, keyring)
        # The watch alerts when a run's staging is opened while the run is not in progress.
        emit(SecurityEvent("vault.opened", run_id, {}))
        return RunVault(self, run_id, dek, _verified_manifest(path, run_id, dek))

    def purge(
        self, run_id: str, actor: str, reason: str, signer: SigningIdentity, *, mandate_digest: str
    ) -> DeletionCertificate:
        """Crypto-shred a run: destroy its wrapped DEK, delete chunks and manifest, sign a certificate.

        Needs no KEK, so a damaged or tampered run can be purged too. Crash-safe and idempotent:
        a journal (``purge.json``) listing what will be destroyed is written first; purging an
        interrupted run again finishes it, and purging a purged run returns its certificate.
        """
        path = self._run_path(run_id)
        journal_path, certificate_path = path / "purge.json", path / "certificate.json"
        if certificate_path.exists():
            return DeletionCertificate.load(certificate_path)
        if not path.is_dir():
            raise VaultError(f"vault {self.root} has no run {run_id}")
        if not journal_path.exists():
            _write_journal(journal_path, {
                "state": "destroying key",
                "run": run_id,
                "mandate_digest": mandate_digest,
                "actor": actor,
                "reason": reason,
                "destroyed_keys": _key_ids(path),
                "chunks": [_describe(path, chunk) for chunk in sorted(path.glob("**/*.chunk"))],
            })
        journal = json.loads(journal_path.read_text())
        _shred(path / "key.json")
        if journal["state"] == "destroying key":
            journal["state"] = "key destroyed"
            _write_journal(journal_path, journal)
        for child in path.iterdir():
            if child.name not in ("purge.json", "certificate.json"):
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        journal["state"] = "files deleted"
        _write_journal(journal_path, journal)
        certificate = DeletionCertificate.issue(
            run_id=run_id,
            mandate_digest=journal["mandate_digest"],
            chunks=[DeletedChunk(**c) for c in journal["chunks"]],
            destroyed_keys=journal["destroyed_keys"],
            deleted_at=datetime.now(UTC),
            actor=journal["actor"],
            reason=journal["reason"],
            signer=signer,
        )
        certificate.save(certificate_path)
        emit(SecurityEvent("vault.purged", run_id, {"actor": journal["actor"], "keys": ",".join(journal["destroyed_keys"])}))
        return certificate

    def runs(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _RUN_ID.fullmatch(p.name))

    def rewrap_all(self, keyring: KeyProvider) -> list[str]:
        """Re-wrap every live run's DEK under ``keyring``'s current KEK; chunks are not touched.

        Returns the run ids re-wrapped. Call after ``keyring.rotate()``, then retire the old KEK.
        """
        done = []
        for run_id in self.runs():
            path = self.root / run_id
            if (path / "key.json").exists() and not (path / "purge.json").exists():
                _write_key(path, run_id, keyring, _read_key(path, run_id, keyring))
                done.append(run_id)
        emit(SecurityEvent("vault.rewrapped", "", {"kek": keyring.key_id, "runs": str(len(done))}))
        return done

    def kek_ids(self) -> dict[str, str]:
        """For each live run, the id of the KEK its DEK is wrapped under (what stops a KEK's retirement)."""
        ids = {}
        for run_id in self.runs():
            key_file = self.root / run_id / "key.json"
            if key_file.exists():
                ids[run_id] = json.loads(key_file.read_text())["kek"]
        return ids

    def _run_path(self, run_id: str) -> Path:
        if not _RUN_ID.fullmatch(run_id):
            raise VaultError(f"run id {run_id!r} is not valid: use letters, digits, '.', '_' and '-' (at most 128)")
        return self.root / run_id


def _write_key(path: Path, run_id: str, keyring: KeyProvider, dek: bytes) -> None:
    doc = {
        "format": _KEY_FORMAT,
        "run": run_id,
        "dek": sealing.dek_id(dek),
        "kek": keyring.key_id,
        "wrapped": base64.b64encode(keyring.wrap(dek, sealing.wrap_context(run_id))).decode(),
    }
    write_private(path / "key.json", (json.dumps(doc, indent=2) + "\n").encode())


def _read_key(path: Path, run_id: str, keyring: KeyProvider) -> bytes:
    try:
        doc = json.loads((path / "key.json").read_text())
        blob = base64.b64decode(doc["wrapped"], validate=True)
    except FileNotFoundError:
        raise VaultError(f"vault run {run_id} has no key file: its data cannot be opened (purged or damaged)") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise _integrity_failure(run_id, None, None, "wrapped key", "malformed") from None
    try:
        return keyring.unwrap(blob, sealing.wrap_context(run_id))
    except UnwrapError:
        raise _integrity_failure(run_id, None, None, "wrapped key", "unwrap") from None


class RunVault:
    """One run's staging: seal batches per entity, read them back verified, purge them.

    Obtained from :meth:`Vault.create_run` or :meth:`Vault.open`, never built directly.
    """

    def __init__(self, vault: Vault, run_id: str, dek: bytes | None, manifest: Manifest | None):
        self.vault, self.run_id = vault, run_id
        self.path = vault.root / run_id
        self._dek, self._manifest = dek, manifest

    # -- sealing ---------------------------------------------------------------------------------

    def seal(self, entity: str, batch: pa.RecordBatch | pa.Table) -> ChunkRef:
        """Encrypt one batch (or a table's batches) as the entity's next chunk and record it in the manifest."""
        dek, manifest = self._live()
        if not _ENTITY.fullmatch(entity):
            raise VaultError(f"entity name {entity!r} is not valid in the vault")
        if manifest.closed or manifest.ended(entity):
            raise VaultError(f"vault run {self.run_id}: entity {entity} is already finished; nothing more can be sealed")
        index = sum(1 for _ in manifest.chunks(entity))
        if index >= _MAX_CHUNKS:
            raise VaultError(f"vault run {self.run_id}: entity {entity} has {_MAX_CHUNKS} chunks; seal larger batches")
        digest = sealing.schema_digest(batch.schema)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema, options=_IPC) as writer:
            writer.write(batch)
        sealed = sealing.seal_chunk(dek, self.run_id, entity, index, digest, sink.getvalue())
        chunk_dir = self.path / entity
        chunk_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(chunk_dir / f"{index:06d}.chunk", sealed)
        ref = ChunkRef(self.run_id, entity, index, batch.num_rows, len(sealed), hashlib.sha256(sealed).hexdigest(), digest)
        manifest.append(
            {"type": "chunk", "entity": entity, "index": index, "rows": ref.rows, "bytes": ref.length,
             "sha256": ref.sha256, "schema": digest}
        )
        return ref

    def seal_rejects(self, entity: str, batch: pa.RecordBatch | pa.Table, reason: str) -> ChunkRef:
        """Quarantine records of ``entity`` under ``rejects/<entity>``; the reason is sealed with them.

        The reason travels in the sealed schema's metadata (key ``airlock.reject_reason``), not in
        the manifest, so it may name fields freely.
        """
        metadata = dict(batch.schema.metadata or {}) | {REJECT_REASON: reason.encode()}
        return self.seal(f"rejects/{entity}", batch.replace_schema_metadata(metadata))

    def finish_entity(self, entity: str) -> None:
        """Record that ``entity`` is complete (with its chunk count); readers require this."""
        _, manifest = self._live()
        if manifest.ended(entity) is None and not manifest.closed:
            manifest.append({"type": "end", "entity": entity, "chunks": sum(1 for _ in manifest.chunks(entity))})

    def close(self) -> None:
        """Finish every entity still open and close the run: nothing more can be sealed."""
        _, manifest = self._live()
        if not manifest.closed:
            for entity in manifest.entities:
                self.finish_entity(entity)
            manifest.append({"type": "close"})

    # -- what is there (for resuming) ------------------------------------------------------------

    @property
    def purged(self) -> bool:
        return self._dek is None

    @property
    def entities(self) -> list[str]:
        return self._live()[1].entities

    def is_finished(self, entity: str) -> bool:
        manifest = self._live()[1]
        return manifest.closed or manifest.ended(entity) is not None

    def chunk_refs(self, entity: str) -> list[ChunkRef]:
        """The chunks recorded so far for ``entity``, in order (a resumed run continues after the last)."""
        return [
            ChunkRef(self.run_id, entity, r["index"], r["rows"], r["bytes"], r["sha256"], r["schema"])
            for r in self._live()[1].chunks(entity)
        ]

    def derived_key(self, purpose: str) -> bytes:
        """A 32-byte secret of this run for ``purpose`` (e.g. keyed pseudonyms), derived from its DEK.

        It exists as long as the run's staging does: after purge nobody can derive it again, so
        pseudonyms made with it can no longer be linked back to the source ids.
        """
        dek, _ = self._live()
        return sealing.derive(dek, f"run-secret:{purpose}", self.run_id)

    def last_batch(self, entity: str) -> pa.RecordBatch | None:
        """The last chunk sealed for ``entity``, verified, finished or not: where a resumed run continues."""
        dek, manifest = self._live()
        records = list(manifest.chunks(entity))
        if not records:
            return None
        batches = list(self._open_chunk(dek, entity, records[-1]))
        return batches[-1] if batches else None

    # -- reading -----------------------------------------------------------------------------------

    def chunks(self, entity: str) -> Iterator[pa.RecordBatch]:
        """The entity's batches in sealing order, each verified before it is yielded.

        The manifest is re-read and verified first; the first chunk that fails stops the
        iteration with :class:`VaultIntegrityError` (nothing further from that entity).
        """
        dek, _ = self._live()
        manifest = _verified_manifest(self.path, self.run_id, dek)
        if not manifest.closed and manifest.ended(entity) is None:
            raise VaultError(
                f"vault run {self.run_id}: entity {entity} was not finished (sealing stopped midway); resume the run"
            )
        for record in list(manifest.chunks(entity)):
            yield from self._open_chunk(dek, entity, record)

    def _open_chunk(self, dek: bytes, entity: str, record: dict[str, Any]) -> Iterator[pa.RecordBatch]:
        index = record["index"]
        what = f"chunk {entity}/{index:06d}"
        try:
            sealed = (self.path / entity / f"{index:06d}.chunk").read_bytes()
        except OSError:
            raise _integrity_failure(self.run_id, entity, index, what, "missing") from None
        if len(sealed) != record["bytes"] or hashlib.sha256(sealed).hexdigest() != record["sha256"]:
            raise _integrity_failure(self.run_id, entity, index, what, "digest")
        try:
            plain = sealing.open_chunk(dek, self.run_id, entity, index, record["schema"], sealed)
        except InvalidTag:
            raise _integrity_failure(self.run_id, entity, index, what, "tag") from None
        yield from pa.ipc.open_stream(plain)

    # -- purge ---------------------------------------------------------------------------------------

    def purge(self, actor: str, reason: str, signer: SigningIdentity, *, mandate_digest: str) -> DeletionCertificate:
        """Crypto-shred this run (see :meth:`Vault.purge`); afterwards this object refuses everything else."""
        self._dek = self._manifest = None
        return self.vault.purge(self.run_id, actor, reason, signer, mandate_digest=mandate_digest)

    def _live(self) -> tuple[bytes, Manifest]:
        if self._dek is None or self._manifest is None:
            raise VaultError(f"vault run {self.run_id} was purged; its data no longer exists")
        return self._dek, self._manifest


def _verified_manifest(path: Path, run_id: str, dek: bytes) -> Manifest:
    try:
        return Manifest.load(path / "manifest.jsonl", sealing.derive(dek, "manifest", run_id), run_id)
    except ManifestBroken as e:
        raise _integrity_failure(run_id, None, None, f"manifest line {e.line}", e.check) from None
    except OSError:
        raise _integrity_failure(run_id, None, None, "manifest", "missing") from None


def _key_ids(path: Path) -> list[str]:
    try:
        return [json.loads((path / "key.json").read_text())["dek"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # key file already gone or unreadable: nothing left that could open the chunks


def _describe(path: Path, chunk: Path) -> dict[str, Any]:
    data = chunk.read_bytes()
    entity, index = str(chunk.parent.relative_to(path)), int(chunk.stem)
    return {"entity": entity, "index": index, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _write_journal(path: Path, journal: dict[str, Any]) -> None:
    write_private(path, (json.dumps(journal, indent=2) + "\n").encode())


def _shred(path: Path) -> None:
    """Overwrite a key file with random bytes, sync, then delete it; nothing to do if it is gone.

    On copy-on-write or flash storage an overwrite may not reach the old blocks: the guarantee
    is that the wrapped DEK is useless once its KEK is retired (see docs/security.md).
    """
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        os.pwrite(fd, os.urandom(max(os.fstat(fd).st_size, 1)), 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
