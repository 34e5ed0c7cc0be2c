"""Initial reader-study schema: users, cases, methods, runs, evaluations, lesion detections,
studies, study readers, items, assignments, scores and the append-only audit events.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "users",
        _id(),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.Column("password_changed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("role IN ('coordinator', 'reader')", name="ck_users_role"),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    op.create_table(
        "cases",
        _id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("image_path", sa.Text(), nullable=False),
        sa.Column("label_path", sa.Text(), nullable=True),
        sa.Column("split", sa.String(16), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("name", name="uq_cases_name"),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
    )
    op.create_table(
        "methods",
        _id(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("name", name="uq_methods_name"),
        sa.PrimaryKeyConstraint("id", name="pk_methods"),
    )
    op.create_table(
        "runs",
        _id(),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("method_id", sa.Integer(), nullable=False),
        sa.Column("prediction_path", sa.Text(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("method_version", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_runs_case_id_cases"),
        sa.ForeignKeyConstraint(["method_id"], ["methods.id"], name="fk_runs_method_id_methods"),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_case_method", "runs", ["case_id", "method_id"])
    op.create_table(
        "evaluations",
        _id(),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("structure", sa.String(16), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.CheckConstraint("structure IN ('liver', 'tumour')", name="ck_evaluations_structure"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_evaluations_run_id_runs"),
        sa.UniqueConstraint(
            "run_id", "structure", "metric", name="uq_evaluations_run_id_structure_metric"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_evaluations"),
    )
    op.create_table(
        "lesion_detections",
        _id(),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("lesion", sa.Integer(), nullable=False),
        sa.Column("detected", sa.Boolean(), nullable=False),
        sa.Column("diameter_mm", sa.Float(), nullable=True),
        sa.Column("volume_ml", sa.Float(), nullable=True),
        sa.Column("size_bin", sa.String(16), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_lesion_detections_run_id_runs"),
        sa.UniqueConstraint("run_id", "lesion", name="uq_lesion_detections_run_id_lesion"),
        sa.PrimaryKeyConstraint("id", name="pk_lesion_detections"),
    )
    op.create_table(
        "studies",
        _id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("anchors", sa.JSON(), nullable=False),
        sa.Column("comment_allowed", sa.Boolean(), nullable=False),
        sa.Column("edit_policy", sa.String(16), nullable=False),
        sa.Column("washout_days", sa.Float(), nullable=False),
        sa.Column("retest_fraction", sa.Float(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'open', 'closed')", name="ck_studies_status"),
        sa.CheckConstraint("edit_policy IN ('locked', 'editable')", name="ck_studies_edit_policy"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name="fk_studies_created_by_users"),
        sa.UniqueConstraint("name", name="uq_studies_name"),
        sa.PrimaryKeyConstraint("id", name="pk_studies"),
    )
    op.create_table(
        "study_readers",
        _id(),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("reader_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name="fk_study_readers_study_id_studies"
        ),
        sa.ForeignKeyConstraint(
            ["reader_id"], ["users.id"], name="fk_study_readers_reader_id_users"
        ),
        sa.UniqueConstraint("study_id", "reader_id", name="uq_study_readers_study_id_reader_id"),
        sa.PrimaryKeyConstraint("id", name="pk_study_readers"),
    )
    op.create_table(
        "items",
        _id(),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("method_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], name="fk_items_study_id_studies"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_items_case_id_cases"),
        sa.ForeignKeyConstraint(["method_id"], ["methods.id"], name="fk_items_method_id_methods"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_items_run_id_runs"),
        sa.UniqueConstraint("study_id", "code", name="uq_items_study_id_code"),
        sa.UniqueConstraint(
            "study_id", "case_id", "method_id", name="uq_items_study_id_case_id_method_id"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_items"),
    )
    op.create_table(
        "assignments",
        _id(),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("reader_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("session_number", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.CheckConstraint("session_number IN (1, 2)", name="ck_assignments_session_number"),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name="fk_assignments_study_id_studies"
        ),
        sa.ForeignKeyConstraint(["reader_id"], ["users.id"], name="fk_assignments_reader_id_users"),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name="fk_assignments_item_id_items"),
        sa.UniqueConstraint(
            "reader_id", "study_id", "position", name="uq_assignments_reader_id_study_id_position"
        ),
        sa.UniqueConstraint(
            "study_id",
            "reader_id",
            "item_id",
            "session_number",
            name="uq_assignments_study_id_reader_id_item_id_session_number",
        ),
        sa.UniqueConstraint("study_id", "code", name="uq_assignments_study_id_code"),
        sa.PrimaryKeyConstraint("id", name="pk_assignments"),
    )
    op.create_table(
        "scores",
        _id(),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("seconds_spent", sa.Float(), nullable=False),
        sa.Column("client_token", sa.String(64), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("value BETWEEN 1 AND 5", name="ck_scores_value"),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignments.id"], name="fk_scores_assignment_id_assignments"
        ),
        sa.UniqueConstraint("assignment_id", name="uq_scores_assignment_id"),
        sa.PrimaryKeyConstraint("id", name="pk_scores"),
    )
    op.create_table(
        "audit_events",
        _id(),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name="fk_audit_events_actor_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_entity", "audit_events", ["entity", "entity_id"])
    _append_only_triggers()


def _append_only_triggers() -> None:
    """Refuse UPDATE and DELETE on audit_events in the database itself."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_events is append-only'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    for table in (
        "audit_events",
        "scores",
        "assignments",
        "items",
        "study_readers",
        "studies",
        "lesion_detections",
        "evaluations",
        "runs",
        "methods",
        "cases",
        "users",
    ):
        op.drop_table(table)
