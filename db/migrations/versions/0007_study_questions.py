"""Several questions per study: ``study_questions`` and one ``answers`` row per question.

Every existing study gets one Likert question (key 'quality', position 1) with its own
question text and anchors, and every existing score one answer to it (its value and
timestamps), so each study reads and analyses exactly as before.

Revision ID: 0007_study_questions
Revises: 0006_login_throttle
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_study_questions"
down_revision = "0006_login_throttle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "study_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("anchors", sa.JSON(), nullable=True),
        sa.Column("structure", sa.String(16), nullable=True),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("min_value", sa.Float(), nullable=True),
        sa.Column("max_value", sa.Float(), nullable=True),
        sa.Column("max_chars", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('likert', 'likert_structure', 'yes_no', 'number', 'text')",
            name="ck_study_questions_kind",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name="fk_study_questions_study_id_studies"
        ),
        sa.UniqueConstraint("study_id", "key", name="uq_study_questions_study_id_key"),
        sa.UniqueConstraint("study_id", "position", name="uq_study_questions_study_id_position"),
        sa.PrimaryKeyConstraint("id", name="pk_study_questions"),
    )
    op.create_table(
        "answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignments.id"], name="fk_answers_assignment_id_assignments"
        ),
        sa.ForeignKeyConstraint(
            ["question_id"], ["study_questions.id"], name="fk_answers_question_id_study_questions"
        ),
        sa.UniqueConstraint(
            "assignment_id", "question_id", name="uq_answers_assignment_id_question_id"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_answers"),
    )
    conn = op.get_bind()
    conn.execute(
        sa.text(
            "INSERT INTO study_questions (study_id, position, key, kind, prompt, anchors, "
            "required) SELECT id, 1, 'quality', 'likert', question, anchors, TRUE FROM studies"
        )
    )
    conn.execute(
        sa.text(
            "INSERT INTO answers (assignment_id, question_id, number, created_at, updated_at) "
            "SELECT s.assignment_id, q.id, s.value, s.created_at, s.updated_at FROM scores s "
            "JOIN assignments a ON a.id = s.assignment_id "
            "JOIN study_questions q ON q.study_id = a.study_id AND q.position = 1"
        )
    )


def downgrade() -> None:
    op.drop_table("answers")
    op.drop_table("study_questions")
