"""Deletion certificates: the processor's signed statement that a run's staged data was destroyed.

The certificate names the run, the mandate it served (digest), every sealed
chunk deleted with its ciphertext digest, the data keys destroyed, when (UTC),
who triggered the purge and why. Its body is canonicalised with RFC 8785 (JCS)
and signed with the processor's Ed25519 identity, so anyone holding the
processor's public identity can check it offline; a PDF rendering is for the
DPO's files. No patient data is in it: counts, digests and ids only.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785

from airlock.errors import AirlockError
from airlock.signing import BadSignature, PublicIdentity, SigningIdentity, verify
from airlock.vault.keyring import write_private

__all__ = ["DeletedChunk", "DeletionCertificate"]

FORMAT = "airlock-deletion-certificate/1"


@dataclass(frozen=True)
class DeletedChunk:
    entity: str
    index: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class DeletionCertificate:
    run_id: str
    mandate_digest: str
    chunks: tuple[DeletedChunk, ...]
    destroyed_keys: tuple[str, ...]
    deleted_at: str  # ISO 8601, UTC
    actor: str
    reason: str
    processor: PublicIdentity
    signature: bytes

    @classmethod
    def issue(
        cls,
        *,
        run_id: str,
        mandate_digest: str,
        chunks: list[DeletedChunk],
        destroyed_keys: list[str],
        deleted_at: datetime,
        actor: str,
        reason: str,
        signer: SigningIdentity,
    ) -> "DeletionCertificate":
        unsigned = cls(
            run_id, mandate_digest, tuple(chunks), tuple(destroyed_keys),
            deleted_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            actor, reason, signer.public, b"",
        )
        return cls(**{**unsigned.__dict__, "signature": signer.sign(unsigned.signed_bytes())})

    def body(self) -> dict[str, Any]:
        """Everything the signature covers."""
        return {
            "format": FORMAT,
            "run_id": self.run_id,
            "mandate_digest": self.mandate_digest,
            "chunks": [asdict(c) for c in self.chunks],
            "chunk_count": len(self.chunks),
            "destroyed_keys": list(self.destroyed_keys),
            "deleted_at": self.deleted_at,
            "actor": self.actor,
            "reason": self.reason,
            "processor": self.processor.to_json(),
        }

    def signed_bytes(self) -> bytes:
        return rfc8785.dumps(self.body())

    def verify(self, processor: PublicIdentity) -> None:
        """Raise BadSignature unless ``processor`` (the key you trust, not the one inside) signed this."""
        if processor.key_id != self.processor.key_id:
            raise BadSignature(
                f"certificate for run {self.run_id} was signed by key {self.processor.key_id}, "
                f"not by the processor key {processor.key_id} you gave"
            )
        verify(processor, self.signature, self.signed_bytes())

    def to_json(self) -> dict[str, Any]:
        return self.body() | {"signature": base64.b64encode(self.signature).decode()}

    def save(self, path: Path) -> None:
        """Write atomically: a purge interrupted while saving must not leave half a certificate."""
        write_private(Path(path), (json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n").encode())

    @classmethod
    def load(cls, path: Path) -> "DeletionCertificate":
        try:
            doc = json.loads(Path(path).read_text())
            if doc["format"] != FORMAT:
                raise ValueError(doc["format"])
            return cls(
                doc["run_id"],
                doc["mandate_digest"],
                tuple(DeletedChunk(**c) for c in doc["chunks"]),
                tuple(doc["destroyed_keys"]),
                doc["deleted_at"],
                doc["actor"],
                doc["reason"],
                PublicIdentity.from_json(doc["processor"]),
                base64.b64decode(doc["signature"], validate=True),
            )
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise AirlockError(f"{path}: not a readable deletion certificate ({type(e).__name__})") from None

    def render_pdf(self, path: Path) -> None:
        """Write a one-document PDF a DPO can file: the facts, the chunk list and the signature."""
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.units import mm
        from reportlab.pdfgen.canvas import Canvas

        canvas = Canvas(str(path), pagesize=A4, invariant=1)
        canvas.setTitle(f"Deletion certificate - run {self.run_id}")
        width, height = A4
        y = height - 20 * mm

        def line(text: str, size: int = 10, font: str = "Helvetica") -> None:
            nonlocal y
            if y < 20 * mm:
                canvas.showPage()
                y = height - 20 * mm
            canvas.setFont(font, size)
            canvas.drawString(20 * mm, y, text)
            y -= size * 0.5 * mm + 2 * mm

        line("Deletion certificate", 16, "Helvetica-Bold")
        line("Staged data of a migration run destroyed by crypto-shredding (GDPR Art. 28(3)(g)).", 9)
        y -= 3 * mm
        for label, value in (
            ("Run", self.run_id),
            ("Mandate digest", self.mandate_digest),
            ("Deleted at (UTC)", self.deleted_at),
            ("Triggered by", self.actor),
            ("Reason", self.reason),
            ("Processor", f"{self.processor.name} ({self.processor.role}), key {self.processor.key_id}"),
            ("Data keys destroyed", ", ".join(self.destroyed_keys) or "none left"),
            ("Chunks deleted", str(len(self.chunks))),
        ):
            line(f"{label}: {value}")
        y -= 3 * mm
        line("Chunks (entity/index, bytes, SHA-256 of the ciphertext)", 10, "Helvetica-Bold")
        for c in self.chunks:
            line(f"{c.entity}/{c.index:06d}  {c.bytes}  {c.sha256}", 7, "Courier")
        y -= 3 * mm
        line("Ed25519 signature over the RFC 8785 canonical JSON body", 10, "Helvetica-Bold")
        sig = base64.b64encode(self.signature).decode()
        for start in range(0, len(sig), 64):
            line(sig[start : start + 64], 7, "Courier")
        line("Check offline: airlock certificate verify CERT.json --processor PROCESSOR.pub.json", 8)
        canvas.save()
