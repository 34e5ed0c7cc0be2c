"""Studies keep their design (cases per reader, case and method order) for adding readers.

Existing studies get the values from their ``study.create`` audit record.

Revision ID: 0003_study_design
Revises: 0002_web_sessions
Create Date: 2026-11-24
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003_study_design"
down_revision = "0002_web_sessions"
branch_labels = None
depends_on = None


def _backfill() -> None:
    """Copy cases_per_reader and the case / method order of each study's creation record."""
    conn = op.get_bind()
    case_id = dict(conn.execute(sa.text("SELECT name, id FROM cases")).all())
    method_id = dict(conn.execute(sa.text("SELECT name, id FROM methods")).all())
    records = conn.execute(
        sa.text(
            "SELECT entity_id, after FROM audit_events WHERE action = 'study.create' "
            "AND entity = 'study' ORDER BY id"
        )
    ).all()
    studies = sa.table(
        "studies",
        sa.column("id", sa.Integer),
        sa.column("cases_per_reader", sa.Integer),
        sa.column("case_order", sa.JSON),
        sa.column("method_order", sa.JSON),
    )
    for study_id, after in records:
        design = json.loads(after) if isinstance(after, str) else after
        if study_id is None or not isinstance(design, dict):
            continue
        names_c, names_m = design.get("cases") or [], design.get("methods") or []
        if not all(n in case_id for n in names_c) or not all(n in method_id for n in names_m):
            continue
        conn.execute(
            studies.update()
            .where(studies.c.id == study_id)
            .values(
                cases_per_reader=design.get("cases_per_reader"),
                case_order=[case_id[n] for n in names_c],
                method_order=[method_id[n] for n in names_m],
            )
        )


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("cases_per_reader", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("case_order", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("method_order", sa.JSON(), nullable=True))
    _backfill()


def downgrade() -> None:
    # plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): batch mode would copy and drop the
    # studies table, which the foreign keys of items and assignments refuse
    for column in ("method_order", "case_order", "cases_per_reader"):
        op.drop_column("studies", column)
