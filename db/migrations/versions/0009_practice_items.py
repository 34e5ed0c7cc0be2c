"""Practice items at the start of a reader's order: ``assignments.practice`` (not analysed).

Existing assignments are real readings: the column defaults to false on upgrade.

Revision ID: 0009_practice_items
Revises: 0008_item_flags
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_practice_items"
down_revision = "0008_item_flags"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(
            sa.Column("practice", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("practice")
