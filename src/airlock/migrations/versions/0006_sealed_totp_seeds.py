"""Room for sealed TOTP seeds (airlock.identity.seeds); the Directory seals the seeds already stored.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.alter_column("totp_secret", type_=sa.String(128), existing_type=sa.String(64), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.alter_column("totp_secret", type_=sa.String(64), existing_type=sa.String(128), existing_nullable=False)
