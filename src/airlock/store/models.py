"""What the metadata store records: runs and, per run, the rows read and written per entity.

Descriptions of sources and targets never carry credentials, and nothing here
holds record values: the store can sit on an ordinary disk and be backed up
like any configuration.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def new_run_id() -> str:
    """A short random id, unguessable so that it can name files and appear in reports.

    >>> len(new_run_id())
    12
    """
    return secrets.token_hex(6)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite hands back naive ones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Run(Base):
    """One migration: where from, where to, with which profile, and how it ended."""

    __tablename__ = "run"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_run_id)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    # Plain text: a one-shot migration's RunStatus, or a procedure run's lifecycle state
    # (airlock.procedure.lifecycle.State).
    status: Mapped[str] = mapped_column(sa.String(16), default=RunStatus.RUNNING)
    source: Mapped[str] = mapped_column(sa.Text)
    target: Mapped[str] = mapped_column(sa.Text)
    profile: Mapped[str] = mapped_column(sa.String(200))
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    error: Mapped[str | None] = mapped_column(sa.Text)
    # The procedure (migration 0002): the mandate and plan a run executes, who operates and approves it,
    # and how it ended. Digests and key ids only; the plan holds counts, never values.
    mandate_id: Mapped[str | None] = mapped_column(sa.String(200))
    mandate_digest: Mapped[str | None] = mapped_column(sa.String(64))
    mandate_path: Mapped[str | None] = mapped_column(sa.Text)
    targets: Mapped[str | None] = mapped_column(sa.Text)
    plan: Mapped[str | None] = mapped_column(sa.Text)
    plan_digest: Mapped[str | None] = mapped_column(sa.String(64))
    plan_approval: Mapped[str | None] = mapped_column(sa.Text)
    operator_key: Mapped[str | None] = mapped_column(sa.String(16))
    controller_key: Mapped[str | None] = mapped_column(sa.String(16))
    deadline: Mapped[date | None] = mapped_column(sa.Date)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    waiver: Mapped[str | None] = mapped_column(sa.Text)
    reconciled_ok: Mapped[bool | None] = mapped_column(sa.Boolean)
    certificate: Mapped[str | None] = mapped_column(sa.Text)

    entities: Mapped[list[RunEntity]] = relationship(
        back_populates="run", lazy="selectin", order_by="RunEntity.entity", cascade="all, delete-orphan"
    )


class RunEntity(Base):
    """Rows read from the source and written to the targets for one entity of one run."""

    __tablename__ = "run_entity"

    run_id: Mapped[str] = mapped_column(sa.ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    entity: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    rows_read: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    rows_written: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    source_rows: Mapped[int | None] = mapped_column(sa.BigInteger)
    source_digest: Mapped[str | None] = mapped_column(sa.String(32))
    staged_digest: Mapped[str | None] = mapped_column(sa.String(32))
    #: What the targets should hold once transformed (migration 0005); with staged_digest and fields, recorded
    #: by the load, which opens every staged batch anyway, so that reconciliation need not open them again.
    expected_digest: Mapped[str | None] = mapped_column(sa.String(32))
    target_rows: Mapped[int | None] = mapped_column(sa.BigInteger)
    target_digest: Mapped[str | None] = mapped_column(sa.String(32))
    reconciled: Mapped[bool | None] = mapped_column(sa.Boolean)
    differences: Mapped[str | None] = mapped_column(sa.Text)
    #: The scope report: per field, values extracted and a digest (JSON).
    fields: Mapped[str | None] = mapped_column(sa.Text)

    run: Mapped[Run] = relationship(back_populates="entities")


class RunEvent(Base):
    """One step of a run's procedure: who took it, from which state to which, with ids and digests as detail."""

    __tablename__ = "run_event"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(sa.ForeignKey("run.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    step: Mapped[str] = mapped_column(sa.String(32))
    from_state: Mapped[str] = mapped_column(sa.String(16))
    to_state: Mapped[str] = mapped_column(sa.String(16))
    actor_key: Mapped[str] = mapped_column(sa.String(16))
    actor_name: Mapped[str] = mapped_column(sa.String(200))
    actor_role: Mapped[str] = mapped_column(sa.String(32))
    detail: Mapped[str] = mapped_column(sa.Text, default="{}")
