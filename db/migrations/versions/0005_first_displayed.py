"""Reading time from the server's first display of an item: ``assignments.first_displayed_at``.

The Reading page stores when an item was first shown to its reader (UTC, naive like every
timestamp) and counts the time spent from it, so a reload does not restart the clock.
Existing assignments keep NULL (their scores already hold the page's own measurement).

Revision ID: 0005_first_displayed
Revises: 0004_external_methods
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_first_displayed"
down_revision = "0004_external_methods"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE ... ADD COLUMN on both backends (scores reference assignments)
    op.add_column("assignments", sa.Column("first_displayed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("assignments", "first_displayed_at")
