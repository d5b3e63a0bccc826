"""Per entity of a run, the fingerprint of what the load wrote, recorded by the load for reconciliation.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run_entity") as batch:
        batch.add_column(sa.Column("expected_digest", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("run_entity") as batch:
        batch.drop_column("expected_digest")
