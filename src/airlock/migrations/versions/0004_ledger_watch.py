"""Ledger, watch and incidents: hash-chained ledger entries, signed checkpoints and anchors, alerts, incidents, breaches.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ledger_entry",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", WHEN, nullable=False, index=True),
        sa.Column("kind", sa.String(48), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_name", sa.String(100), nullable=False),
        sa.Column("actor_role", sa.String(32), nullable=False),
        sa.Column("objects", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "ledger_checkpoint",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("first_seq", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("signer", sa.Text, nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
    )
    op.create_table(
        "alert",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("rule", sa.String(48), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("first_at", WHEN, nullable=False),
        sa.Column("last_at", WHEN, nullable=False),
        sa.Column("notified_at", WHEN),
        sa.Column("escalated_at", WHEN),
        sa.Column("acknowledged_by", sa.String(100)),
        sa.Column("acknowledged_at", WHEN),
        sa.Column("resolved_by", sa.String(100)),
        sa.Column("resolved_at", WHEN),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_alert_rule_subject", "alert", ["rule", "subject"])
    op.create_table(
        "incident",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("alert_id", sa.String(32), sa.ForeignKey("alert.id")),
        sa.Column("run_id", sa.String(64)),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_by", sa.String(100), nullable=False),
        sa.Column("opened_at", WHEN, nullable=False),
        sa.Column("journal", sa.Text, nullable=False),
    )
    op.create_table(
        "breach",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("incident_id", sa.String(32), sa.ForeignKey("incident.id"), nullable=False, unique=True),
        sa.Column("run_id", sa.String(64)),
        sa.Column("mandate_id", sa.String(200)),
        sa.Column("aware_at", WHEN, nullable=False),
        sa.Column("nature", sa.Text, nullable=False),
        sa.Column("categories", sa.Text, nullable=False),
        sa.Column("data_subjects", sa.BigInteger, nullable=False),
        sa.Column("records", sa.BigInteger, nullable=False),
        sa.Column("dpo", sa.Text, nullable=False),
        sa.Column("consequences", sa.Text, nullable=False),
        sa.Column("measures", sa.Text, nullable=False),
        sa.Column("controller_told_at", WHEN),
        sa.Column("authority_notified_at", WHEN),
        sa.Column("reminders", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("breach", "incident", "alert", "ledger_checkpoint", "ledger_entry"):
        op.drop_table(table)
