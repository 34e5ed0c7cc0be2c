"""The coordinator marks a reader's flag resolved: ``item_flags.resolved_at`` (UTC, nullable).

Existing flags are open (NULL). A reader withdraws her flag by deleting its row (audited as
``flag.withdraw``); no column is needed for that.

Revision ID: 0010_flag_resolution
Revises: 0009_practice_items
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_flag_resolution"
down_revision = "0009_practice_items"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("item_flags", sa.Column("resolved_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    # in place (SQLite >= 3.35 drops a column itself), as in 0009
    op.drop_column("item_flags", "resolved_at")
