"""Readers flag items for the coordinator: one ``item_flags`` row per assignment at most.

Revision ID: 0008_item_flags
Revises: 0007_study_questions
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_item_flags"
down_revision = "0007_study_questions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "reason IN ('image_problem', 'segmentation_problem', 'unsure', 'other')",
            name="ck_item_flags_reason",
        ),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignments.id"], name="fk_item_flags_assignment_id_assignments"
        ),
        sa.UniqueConstraint("assignment_id", name="uq_item_flags_assignment_id"),
        sa.PrimaryKeyConstraint("id", name="pk_item_flags"),
    )


def downgrade() -> None:
    op.drop_table("item_flags")
