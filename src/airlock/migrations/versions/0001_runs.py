"""Runs and per-entity row counts.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("profile", sa.String(200), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_run_created_at", "run", ["created_at"])
    op.create_table(
        "run_entity",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("run.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("entity", sa.String(64), primary_key=True),
        sa.Column("rows_read", sa.BigInteger, nullable=False),
        sa.Column("rows_written", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_entity")
    op.drop_index("ix_run_created_at", table_name="run")
    op.drop_table("run")
