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
    op.add_column(
        "assignments",
        sa.Column("practice", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # in place (SQLite >= 3.35 drops a column itself): batch mode would copy the assignments
    # table, which scores, answers and flags reference, and fail on the foreign keys
    op.drop_column("assignments", "practice")
