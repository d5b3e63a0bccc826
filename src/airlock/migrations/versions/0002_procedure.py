"""The migration procedure: run lifecycle, mandate and plan, approvals, reconciliation, events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUN_COLUMNS = [
    sa.Column("mandate_id", sa.String(200)),
    sa.Column("mandate_digest", sa.String(64)),
    sa.Column("mandate_path", sa.Text),
    sa.Column("targets", sa.Text),
    sa.Column("plan", sa.Text),
    sa.Column("plan_digest", sa.String(64)),
    sa.Column("plan_approval", sa.Text),
    sa.Column("operator_key", sa.String(16)),
    sa.Column("controller_key", sa.String(16)),
    sa.Column("deadline", sa.Date),
    sa.Column("accepted_at", sa.DateTime(timezone=True)),
    sa.Column("waiver", sa.Text),
    sa.Column("reconciled_ok", sa.Boolean),
    sa.Column("certificate", sa.Text),
]
ENTITY_COLUMNS = [
    sa.Column("source_rows", sa.BigInteger),
    sa.Column("source_digest", sa.String(32)),
    sa.Column("staged_digest", sa.String(32)),
    sa.Column("target_rows", sa.BigInteger),
    sa.Column("target_digest", sa.String(32)),
    sa.Column("reconciled", sa.Boolean),
    sa.Column("differences", sa.Text),
    sa.Column("fields", sa.Text),
]


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        for column in RUN_COLUMNS:
            batch.add_column(sa.Column(column.name, column.type))
    with op.batch_alter_table("run_entity") as batch:
        for column in ENTITY_COLUMNS:
            batch.add_column(sa.Column(column.name, column.type))
    op.create_table(
        "run_event",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("run.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor_key", sa.String(16), nullable=False),
        sa.Column("actor_name", sa.String(200), nullable=False),
        sa.Column("actor_role", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_event")
    with op.batch_alter_table("run_entity") as batch:
        for column in ENTITY_COLUMNS:
            batch.drop_column(column.name)
    with op.batch_alter_table("run") as batch:
        for column in RUN_COLUMNS:
            batch.drop_column(column.name)
