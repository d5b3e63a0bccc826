"""The ledger's tables in the metadata store (migration 0004): entries and signed checkpoints."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from airlock.store.models import Base, UtcDateTime


class EntryRow(Base):
    """One ledger entry as stored; :class:`airlock.ledger.entry.LedgerEntry` is its validated form."""

    __tablename__ = "ledger_entry"

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    kind: Mapped[str] = mapped_column(sa.String(48))
    outcome: Mapped[str] = mapped_column(sa.String(8))
    actor_id: Mapped[str] = mapped_column(sa.String(64))
    actor_name: Mapped[str] = mapped_column(sa.String(100))
    actor_role: Mapped[str] = mapped_column(sa.String(32))
    objects: Mapped[str] = mapped_column(sa.Text)  # JSON object of ids and digests
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class CheckpointRow(Base):
    """A signed statement over entries first_seq..last_seq: a checkpoint (Merkle root) or a pruning anchor."""

    __tablename__ = "ledger_checkpoint"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # "checkpoint" or "anchor"
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    first_seq: Mapped[int] = mapped_column(sa.BigInteger)
    last_seq: Mapped[int] = mapped_column(sa.BigInteger)
    root: Mapped[str] = mapped_column(sa.String(64))
    last_hash: Mapped[str] = mapped_column(sa.String(64))
    signer: Mapped[str] = mapped_column(sa.Text)  # the signer's public identity (JSON)
    signature: Mapped[str] = mapped_column(sa.String(128))  # base64
