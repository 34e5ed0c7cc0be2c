"""SQLAlchemy 2.x ORM models of the reader-study database.

Portable between SQLite and PostgreSQL: plain column types, JSON for small structured
values, naive UTC datetimes (``db.models.utcnow``). The schema itself is created and
upgraded by the Alembic migrations in ``db/migrations`` (``db.engine.init_db``); a test
checks that migrations and these models agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES = ("coordinator", "reader")
STUDY_STATUSES = ("draft", "open", "closed")
EDIT_POLICIES = ("locked", "editable")
STRUCTURES = ("liver", "tumour")
METHOD_KINDS = ("builtin", "external", "plugin")  # Method.kind (migration 0004)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Now in UTC as a naive datetime (how every timestamp is stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    """An account: a study coordinator or a reader (radiologist)."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('coordinator', 'reader')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime)


class LoginThrottle(Base):
    """Sign-in attempts counted per username, known or not (migration 0006).

    Keyed by the sha256 of the normalised name, so a name typed by mistake (or a password
    typed into the name field) is never stored in clear, and unknown names are throttled
    exactly like accounts. ``failures`` counts attempts reserved before their password was
    checked (see ``db.auth.authenticate``); ``locked_until`` refuses attempts until then.
    """

    __tablename__ = "login_throttle"

    name_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_attempt_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class WebSession(Base):
    """A browser's sign-in that survives a reload: only the sha256 of its cookie token is kept.

    Active while not revoked, before ``expires_at`` (absolute) and while ``last_seen_at`` is
    recent enough (idle expiry; see ``db.web_sessions``).
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    user_agent: Mapped[str | None] = mapped_column(String(256))


class Case(Base):
    """A CT case: the image file and its optional reference label map (paths on the server)."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    image_path: Mapped[str] = mapped_column(Text)
    label_path: Mapped[str | None] = mapped_column(Text)
    split: Mapped[str] = mapped_column(String(16), default="test")
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Method(Base):
    """A segmentation method (its name is never shown to readers)."""

    __tablename__ = "methods"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # migration 0004: readable title (coordinator only), 'builtin' | 'external' | 'plugin',
    # and what an import recorded (label mapping, source folder, version)
    title: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16), default="builtin", server_default="builtin")
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Run(Base):
    """A method applied to a case: the predicted label map, wall seconds, device, version."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_case_method", "case_id", "method_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    method_id: Mapped[int] = mapped_column(ForeignKey("methods.id"))
    prediction_path: Mapped[str] = mapped_column(Text)
    seconds: Mapped[float | None] = mapped_column(Float)
    device: Mapped[str] = mapped_column(String(64), default="")
    method_version: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    case: Mapped[Case] = relationship()
    method: Mapped[Method] = relationship()


class Evaluation(Base):
    """One metric of one structure of one run (e.g. run 7, tumour, dsc = 0.91)."""

    __tablename__ = "evaluations"
    __table_args__ = (
        UniqueConstraint("run_id", "structure", "metric"),
        CheckConstraint("structure IN ('liver', 'tumour')", name="structure"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    structure: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)


class LesionDetection(Base):
    """Whether one reference tumour lesion of a case was detected by one run."""

    __tablename__ = "lesion_detections"
    __table_args__ = (UniqueConstraint("run_id", "lesion"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    lesion: Mapped[int] = mapped_column(Integer)
    detected: Mapped[bool] = mapped_column(Boolean)
    diameter_mm: Mapped[float | None] = mapped_column(Float)
    volume_ml: Mapped[float | None] = mapped_column(Float)
    size_bin: Mapped[str | None] = mapped_column(String(16))


class Study(Base):
    """A reader study: cases x methods x readers, question, blinding seed, status, policies."""

    __tablename__ = "studies"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'open', 'closed')", name="status"),
        CheckConstraint("edit_policy IN ('locked', 'editable')", name="edit_policy"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    seed: Mapped[int] = mapped_column(BigInteger)
    question: Mapped[str] = mapped_column(Text)
    anchors: Mapped[dict[str, str]] = mapped_column(JSON)
    comment_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    edit_policy: Mapped[str] = mapped_column(String(16), default="locked")
    washout_days: Mapped[float] = mapped_column(Float, default=0.0)
    retest_fraction: Mapped[float] = mapped_column(Float, default=0.0)
    # the design as created, so a reader added later gets the order create_study would give
    # her: cases per reader (None = all) and the case / method ids in the order chosen
    cases_per_reader: Mapped[int | None] = mapped_column(Integer)
    case_order: Mapped[list[int] | None] = mapped_column(JSON)
    method_order: Mapped[list[int] | None] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    opened_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)


class StudyReader(Base):
    """A reader taking part in a study."""

    __tablename__ = "study_readers"
    __table_args__ = (UniqueConstraint("study_id", "reader_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    reader_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Item(Base):
    """One (case, method) result of a study, known to readers only by an opaque code."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("study_id", "code"),
        UniqueConstraint("study_id", "case_id", "method_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    method_id: Mapped[int] = mapped_column(ForeignKey("methods.id"))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    code: Mapped[str] = mapped_column(String(16))


class Assignment(Base):
    """One reading to do: reader x item x session, at ``position`` in that reader's order.

    ``code`` is the opaque code shown to the reader for this reading (a fresh one per
    assignment, so a re-read in session 2 does not show the code she saw in session 1).
    ``practice``: a practice reading at the start of her order (positions 1-P .. 0, before
    the real items at 1 .. N), scored like the others but never analysed (``db.practice``).
    """

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("reader_id", "study_id", "position"),
        UniqueConstraint("study_id", "reader_id", "item_id", "session_number"),
        UniqueConstraint("study_id", "code"),
        CheckConstraint("session_number IN (1, 2)", name="session_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    reader_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    session_number: Mapped[int] = mapped_column(Integer, default=1)
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(16))
    practice: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # when the item was first shown to its reader (UTC): the reading clock starts here
    first_displayed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Score(Base):
    """A reader's answer for one assignment (at most one: unique assignment_id)."""

    __tablename__ = "scores"
    __table_args__ = (
        UniqueConstraint("assignment_id"),
        CheckConstraint("value BETWEEN 1 AND 5", name="value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    value: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    seconds_spent: Mapped[float] = mapped_column(Float)
    client_token: Mapped[str | None] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


QUESTION_KINDS = ("likert", "likert_structure", "yes_no", "number", "text")


class StudyQuestion(Base):
    """One question a study asks per item (migration 0007), at ``position`` 1, 2, ...

    kind: 'likert' (1-5 with ``anchors``), 'likert_structure' (1-5 for one ``structure``),
    'yes_no', 'number' (``min_value`` to ``max_value``) or 'text' (up to ``max_chars``).
    The first question is the study's main Likert score (``Score.value``); shown to readers.
    """

    __tablename__ = "study_questions"
    __table_args__ = (
        UniqueConstraint("study_id", "key"),
        UniqueConstraint("study_id", "position"),
        CheckConstraint(
            "kind IN ('likert', 'likert_structure', 'yes_no', 'number', 'text')", name="kind"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(24))
    prompt: Mapped[str] = mapped_column(Text)
    anchors: Mapped[dict[str, str] | None] = mapped_column(JSON)
    structure: Mapped[str | None] = mapped_column(String(16))
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    min_value: Mapped[float | None] = mapped_column(Float)
    max_value: Mapped[float | None] = mapped_column(Float)
    max_chars: Mapped[int | None] = mapped_column(Integer)


class Answer(Base):
    """A reader's answer to one question of one assignment (migration 0007).

    ``number`` holds Likert, yes / no (1 / 0) and number answers, ``text`` free text; written
    with the item's Score in one transaction (``db.reading.submit_score``).
    """

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("assignment_id", "question_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    question_id: Mapped[int] = mapped_column(ForeignKey("study_questions.id"))
    number: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


FLAG_REASONS = ("image_problem", "segmentation_problem", "unsure", "other")


class ItemFlag(Base):
    """A reader's flag of one of her items for the coordinator (migration 0008): at most one
    per assignment, with a ``reason`` from ``FLAG_REASONS`` and an optional ``note``.
    ``resolved_at``: when the coordinator marked it resolved (migration 0010), else None; a
    reader who withdraws her flag deletes the row (audited)."""

    __tablename__ = "item_flags"
    __table_args__ = (
        UniqueConstraint("assignment_id"),
        CheckConstraint(
            "reason IN ('image_problem', 'segmentation_problem', 'unsure', 'other')",
            name="reason",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)


class AuditEvent(Base):
    """Append-only log: who did what, when, with the values before and after.

    The migration adds database triggers that refuse UPDATE and DELETE on this table.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
