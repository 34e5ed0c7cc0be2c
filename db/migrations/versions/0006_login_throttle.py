"""Sign-in throttling per username, known or not: ``login_throttle`` replaces the users' lock.

Failed sign-ins used to be counted on ``users.failed_logins`` / ``users.locked_until``, so
unknown names were never throttled (and answered differently: username enumeration). They
are now counted in ``login_throttle``, keyed by the sha256 of the normalised username, for
every name. An account's current count and lock are carried over, then the two users
columns are dropped (plain ALTER TABLE ... DROP COLUMN: SQLite >= 3.35, PostgreSQL).

Revision ID: 0006_login_throttle
Revises: 0005_first_displayed
Create Date: 2026-12-02
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0006_login_throttle"
down_revision = "0005_first_displayed"
branch_labels = None
depends_on = None


def _name_sha256(username: str) -> str:
    # the same key as db.auth.throttle_key (copied: migrations do not import the app)
    return hashlib.sha256(username.strip().lower().encode("utf-8")).hexdigest()


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("name_sha256", sa.String(64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name_sha256", name="pk_login_throttle"),
    )
    op.create_index("ix_login_throttle_last_attempt_at", "login_throttle", ["last_attempt_at"])
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT username, failed_logins, locked_until, created_at FROM users "
            "WHERE failed_logins > 0"
        )
    ).all()
    throttle = sa.table(
        "login_throttle",
        sa.column("name_sha256", sa.String),
        sa.column("failures", sa.Integer),
        sa.column("locked_until", sa.DateTime),
        sa.column("last_attempt_at", sa.DateTime),
    )
    for username, failures, locked_until, created_at in rows:
        conn.execute(
            throttle.insert().values(
                name_sha256=_name_sha256(username),
                failures=int(failures),
                locked_until=locked_until,
                last_attempt_at=locked_until or created_at,
            )
        )
    for column in ("locked_until", "failed_logins"):
        op.drop_column("users", column)


def downgrade() -> None:
    op.add_column(
        "users",
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("users", sa.Column("locked_until", sa.DateTime(), nullable=True))
    op.drop_index("ix_login_throttle_last_attempt_at", table_name="login_throttle")
    op.drop_table("login_throttle")
