"""The watch's tables in the metadata store (migration 0004): alerts, incidents, breaches. Ids, counts and staff only."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from airlock.store.models import Base, UtcDateTime, new_run_id


class AlertRow(Base):
    __tablename__ = "alert"
    __table_args__ = (sa.Index("ix_alert_rule_subject", "rule", "subject"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_run_id)
    rule: Mapped[str] = mapped_column(sa.String(48))
    severity: Mapped[str] = mapped_column(sa.String(16))
    subject: Mapped[str] = mapped_column(sa.String(128))
    run_id: Mapped[str | None] = mapped_column(sa.String(64))
    count: Mapped[int] = mapped_column(sa.Integer, default=1)
    state: Mapped[str] = mapped_column(sa.String(16), index=True)
    first_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_at: Mapped[datetime] = mapped_column(UtcDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(100))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_by: Mapped[str | None] = mapped_column(sa.String(100))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(sa.Text)


class IncidentRow(Base):
    __tablename__ = "incident"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_run_id)
    alert_id: Mapped[str | None] = mapped_column(sa.ForeignKey("alert.id"))
    run_id: Mapped[str | None] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.String(200))
    state: Mapped[str] = mapped_column(sa.String(16))
    opened_by: Mapped[str] = mapped_column(sa.String(100))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    journal: Mapped[str] = mapped_column(sa.Text, default="[]")  # JSON list of {at, by, state, note}


class BreachRow(Base):
    __tablename__ = "breach"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_run_id)
    incident_id: Mapped[str] = mapped_column(sa.ForeignKey("incident.id"), unique=True)
    run_id: Mapped[str | None] = mapped_column(sa.String(64))
    mandate_id: Mapped[str | None] = mapped_column(sa.String(200))
    aware_at: Mapped[datetime] = mapped_column(UtcDateTime)
    nature: Mapped[str] = mapped_column(sa.Text)
    categories: Mapped[str] = mapped_column(sa.Text)  # JSON list
    data_subjects: Mapped[int] = mapped_column(sa.BigInteger)
    records: Mapped[int] = mapped_column(sa.BigInteger)
    dpo: Mapped[str] = mapped_column(sa.Text)
    consequences: Mapped[str] = mapped_column(sa.Text)
    measures: Mapped[str] = mapped_column(sa.Text)
    controller_told_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    authority_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reminders: Mapped[str] = mapped_column(sa.Text, default="[]")  # JSON list of hours elapsed already reminded
