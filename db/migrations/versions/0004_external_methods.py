"""Methods from outside LivSeg: a readable title, a kind and a small JSON record.

``kind`` is 'builtin' (shipped with LivSeg), 'external' (runs imported from a folder of
predictions, ``db.external_runs``) or 'plugin' (an installed package's ``livseg.methods``
entry point). ``meta`` keeps what the import recorded (label mapping, source folder,
version); like the name, none of it ever reaches a reader.

Revision ID: 0004_external_methods
Revises: 0003_study_design
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_external_methods"
down_revision = "0003_study_design"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE ... ADD COLUMN on both backends (no table copy: runs and items
    # reference methods by foreign key)
    op.add_column("methods", sa.Column("title", sa.String(length=128), nullable=True))
    op.add_column(
        "methods",
        sa.Column("kind", sa.String(length=16), nullable=False, server_default="builtin"),
    )
    op.add_column("methods", sa.Column("meta", sa.JSON(), nullable=True))


def downgrade() -> None:
    for column in ("meta", "kind", "title"):
        op.drop_column("methods", column)
