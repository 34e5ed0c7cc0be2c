"""What a reader does: fetch her next item, view it, submit a score.

Every function re-checks that the acting user is an active reader and that the assignment
is hers; nothing here ever returns the method, the run, file paths (except
``item_files_for_display``, server-side only) or anything else that identifies the method.

``submit_score`` is one transaction, retried on a locked SQLite database. A repeated submit
of the same item (double click, two tabs, network retry) never creates a second score: it
returns the stored score ("duplicate"), or, when the study's edit policy is "editable" and
the answer differs, updates it ("updated", recorded in the audit log); with the default
policy "locked" a different answer raises ``ScoreLocked``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import audit
from db import questions as study_questions
from db.access import require_reader
from db.engine import is_sqlite, write_transaction
from db.errors import (
    InvalidInput,
    ItemNotAvailable,
    NotFound,
    ScoreLocked,
    StudyClosed,
    StudyStateError,
)
from db.models import FLAG_REASONS, Assignment, Case, Item, ItemFlag, Run, Score, Study, utcnow
from db.questions import Question
from db.text import check_text

MAX_COMMENT_CHARS = 2000
MAX_SECONDS_SPENT = 30 * 24 * 3600.0  # an item left open for days is kept, not refused
MAX_FLAG_NOTE_CHARS = 500
# why a reader flags an item (``flag_item``): stored code -> what the page shows
FLAG_REASON_LABELS = {
    "image_problem": "The images do not display or look wrong",
    "segmentation_problem": "The segmentation is missing or does not fit this scan",
    "unsure": "I cannot judge this item",
    "other": "Other (please explain)",
}


@dataclass(frozen=True)
class ReaderItem:
    """Exactly what a reader may see about one item (no method identity of any kind).

    position / total: "item k of N" in her own order (all sessions), or, when ``practice``,
    "practice item k of P" (a practice item: scored but never analysed). anchors: ((1, text),
    ..., (5, text)). existing_score / existing_comment: her answer if she already gave one;
    can_change: whether submitting a different answer is allowed now. questions: what she
    answers, in order (the first is the Likert score); existing_answers: {key: answer}.
    """

    study_name: str
    assignment_id: int
    code: str
    position: int
    total: int
    session_number: int
    question: str
    anchors: tuple[tuple[int, str], ...]
    comment_allowed: bool
    existing_score: int | None
    existing_comment: str | None
    can_change: bool
    questions: tuple[Question, ...] = ()
    existing_answers: dict[str, object] | None = None
    flag_reason: str | None = None
    practice: bool = False


@dataclass(frozen=True)
class SubmitResult:
    """Outcome of ``submit_score``: status is "created", "duplicate" or "updated"."""

    score_id: int
    assignment_id: int
    status: str
    score: int


@dataclass(frozen=True)
class FlagResult:
    """Outcome of ``flag_item``: status is "created", "duplicate" or "updated"; of
    ``withdraw_flag``: "withdrawn", or "absent" (no flag to withdraw: flag_id and reason
    None)."""

    flag_id: int | None
    assignment_id: int
    status: str
    reason: str | None


@dataclass(frozen=True)
class ScoredItem:
    """One of her scored items in the "Review my answers" list (opaque code only)."""

    assignment_id: int
    code: str
    position: int
    score: int


@dataclass(frozen=True)
class ItemDisplay:
    """SERVER-SIDE ONLY (holds file paths): what the reading page needs to show one of her
    items (see ``open_for_display``); never send it to the browser."""

    shown_at: datetime
    files: tuple[str, str]
    upcoming: list[tuple[str, str, str]]


# ------------------------------------------------------------------------- validation


def validate_score(score: object) -> int:
    """The Likert score as int if it is a whole number 1-5 (not bool, not text), else
    InvalidInput."""
    if isinstance(score, bool) or not isinstance(score, numbers.Integral):
        raise InvalidInput(f"The score must be a whole number from 1 to 5, got {score!r}.")
    value = int(score)
    if not 1 <= value <= 5:
        raise InvalidInput(f"The score must be from 1 to 5, got {value}.")
    return value


def _validate_comment(comment: object) -> str | None:
    if comment is None:
        return None
    text = check_text(comment, "The comment").strip()
    if len(text) > MAX_COMMENT_CHARS:
        raise InvalidInput(f"The comment is longer than {MAX_COMMENT_CHARS} characters.")
    return text or None


def _validate_seconds(seconds: object) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        raise InvalidInput(f"seconds_spent must be a number of seconds, got {seconds!r}.")
    value = float(seconds)
    if not math.isfinite(value) or not 0.0 <= value <= MAX_SECONDS_SPENT:
        raise InvalidInput(
            f"seconds_spent must be between 0 and {MAX_SECONDS_SPENT:g}, got {seconds!r}."
        )
    return value


def _validate_id(assignment_id: object) -> int:
    if isinstance(assignment_id, bool) or not isinstance(assignment_id, numbers.Integral):
        raise InvalidInput(f"The item id must be an integer, got {assignment_id!r}.")
    return int(assignment_id)


# ------------------------------------------------------------------------- access


def _first_unscored_position(session: Session, reader_id: int, study_id: int) -> int | None:
    stmt = (
        select(func.min(Assignment.position))
        .outerjoin(Score, Score.assignment_id == Assignment.id)
        .where(
            Assignment.reader_id == reader_id, Assignment.study_id == study_id, Score.id.is_(None)
        )
    )
    return session.scalar(stmt)


def session_two_opens_at(session: Session, reader_id: int, study: Study) -> datetime | None:
    """When the reader's session 2 of ``study`` becomes available: washout_days after her
    last session-1 score (None while session 1 is unfinished)."""
    left = session.scalar(
        select(func.count())
        .select_from(Assignment)
        .outerjoin(Score, Score.assignment_id == Assignment.id)
        .where(
            Assignment.reader_id == reader_id,
            Assignment.study_id == study.id,
            Assignment.session_number == 1,
            Score.id.is_(None),
        )
    )
    if left:
        return None
    last = session.scalar(
        select(func.max(Score.created_at))
        .join(Assignment, Assignment.id == Score.assignment_id)
        .where(
            Assignment.reader_id == reader_id,
            Assignment.study_id == study.id,
            Assignment.session_number == 1,
        )
    )
    if last is None:
        return None
    return last + timedelta(days=study.washout_days)


def _check_available(
    session: Session,
    reader_id: int,
    assignment: Assignment,
    study: Study,
    scored: bool,
    now: datetime,
) -> None:
    if scored:
        return
    first = _first_unscored_position(session, reader_id, study.id)
    if first is not None and assignment.position > first:
        earlier = "your practice items" if first <= 0 else f"item {first}"  # db.practice
        raise ItemNotAvailable(
            f"Item {assignment.position} is not available yet: please score {earlier} "
            "first (items are read in your own order)."
        )
    if assignment.session_number == 2:
        opens = session_two_opens_at(session, reader_id, study)
        if opens is None or opens > now:
            when = "" if opens is None else f" on {opens:%Y-%m-%d %H:%M} UTC"
            raise ItemNotAvailable(
                f"Session 2 of '{study.name}' opens after the washout period{when}."
            )


def _authorised(session: Session, reader, assignment_id: object) -> tuple[int, Assignment, Study]:
    """(reader id, assignment, study) after every check; raises otherwise."""
    aid = _validate_id(assignment_id)
    user = require_reader(session, reader)
    assignment = session.get(Assignment, aid, populate_existing=True)
    if assignment is None or assignment.reader_id != user.id:
        # one answer for both: ids are sequential, so "denied" would reveal the study's size
        raise NotFound(f"No item #{aid} in your reading list.")
    study = session.get(Study, assignment.study_id, populate_existing=True)
    if study.status == "closed":
        raise StudyClosed(f"The study '{study.name}' is closed: it accepts no more scores.")
    if study.status != "open":
        raise StudyStateError(f"The study '{study.name}' is not open for reading yet.")
    return user.id, assignment, study


def _score_of(session: Session, assignment_id: int, *, lock: bool = False) -> Score | None:
    stmt = select(Score).where(Score.assignment_id == assignment_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt.execution_options(populate_existing=True))


def _view(
    session: Session, assignment: Assignment, study: Study, score: Score | None
) -> ReaderItem:
    total = session.scalar(
        select(func.count())
        .select_from(Assignment)
        .where(
            Assignment.reader_id == assignment.reader_id,
            Assignment.study_id == assignment.study_id,
            Assignment.practice.is_(assignment.practice),
        )
    )
    # practice positions are 1-P .. 0: practice item k of P is at position k - P
    position = assignment.position + total if assignment.practice else assignment.position
    anchors = tuple(sorted((int(k), str(v)) for k, v in study.anchors.items()))
    return ReaderItem(
        study_name=study.name,
        assignment_id=assignment.id,
        code=assignment.code,
        position=position,
        total=total,
        session_number=assignment.session_number,
        question=study.question,
        anchors=anchors,
        comment_allowed=study.comment_allowed,
        existing_score=None if score is None else score.value,
        existing_comment=None if score is None else score.comment,
        can_change=score is None or study.edit_policy == "editable",
        questions=study_questions.study_questions(session, study.id),
        existing_answers=None
        if score is None
        else study_questions.stored_answers(session, assignment.id),
        flag_reason=session.scalar(
            select(ItemFlag.reason).where(ItemFlag.assignment_id == assignment.id)
        ),
        practice=assignment.practice,
    )


# ------------------------------------------------------------------------- public API


def reader_item_view(
    session: Session, reader, assignment_id: int, *, now: datetime | None = None
) -> ReaderItem:
    """The reader-facing view of one of HER items (the only item data pages may show).

    Raises NotFound (no such item, or another reader's: the same answer), AccessDenied (not
    a reader),
    StudyClosed / StudyStateError (study not open), ItemNotAvailable (later in her order,
    or session 2 before the washout ends).
    """
    reader_id, assignment, study = _authorised(session, reader, assignment_id)
    score = _score_of(session, assignment.id)
    _check_available(session, reader_id, assignment, study, score is not None, now or utcnow())
    return _view(session, assignment, study, score)


def next_item(
    session: Session, reader, study_id: int | None = None, *, now: datetime | None = None
) -> ReaderItem | None:
    """The reader's next unscored item (lowest position) in an open study, or None.

    With ``study_id`` None, studies are taken in id order. Resumes exactly where she
    stopped; a session 2 waiting for its washout is skipped (see
    ``db.progress.reader_progress`` for when it opens).
    """
    user = require_reader(session, reader)
    now = now or utcnow()
    stmt = (
        select(Assignment, Study)
        .join(Study, Study.id == Assignment.study_id)
        .outerjoin(Score, Score.assignment_id == Assignment.id)
        .where(Assignment.reader_id == user.id, Study.status == "open", Score.id.is_(None))
    )
    if study_id is not None:
        stmt = stmt.where(Assignment.study_id == _validate_id(study_id))
    open_studies = (
        session.scalars(
            select(Assignment.study_id)
            .join(Study, Study.id == Assignment.study_id)
            .where(Assignment.reader_id == user.id, Study.status == "open")
            .group_by(Assignment.study_id)
            .order_by(Assignment.study_id)
        ).all()
        if study_id is None
        else [_validate_id(study_id)]
    )
    for sid in open_studies:
        row = session.execute(
            stmt.where(Assignment.study_id == sid).order_by(Assignment.position).limit(1)
        ).first()
        if row is None:
            continue
        assignment, study = row
        if assignment.session_number == 2:
            opens = session_two_opens_at(session, user.id, study)
            if opens is None or opens > now:
                continue
        return _view(session, assignment, study, None)
    return None


def item_files_for_display(
    session: Session, reader, assignment_id: int, *, now: datetime | None = None
) -> tuple[str, str]:
    """SERVER-SIDE ONLY: (CT image path, predicted label map path) of one of her items.

    The same checks as ``reader_item_view``. The paths name the method's run folder: load
    the arrays on the server and send only rendered pixels to the browser, never these.
    """
    assignment = _available(session, reader, assignment_id, now)
    return _files_of(session, assignment)


def _available(session: Session, reader, assignment_id: object, now: datetime | None):
    """Her assignment after ``reader_item_view``'s checks."""
    reader_id, assignment, study = _authorised(session, reader, assignment_id)
    score = _score_of(session, assignment.id)
    _check_available(session, reader_id, assignment, study, score is not None, now or utcnow())
    return assignment


def _files_of(session: Session, assignment: Assignment) -> tuple[str, str]:
    row = session.execute(
        select(Case.image_path, Run.prediction_path)
        .select_from(Item)
        .join(Case, Case.id == Item.case_id)
        .join(Run, Run.id == Item.run_id)
        .where(Item.id == assignment.item_id)
    ).one()
    return str(row[0]), str(row[1])


def upcoming_files_for_display(
    session: Session, reader, assignment_id: int, *, count: int = 1
) -> list[tuple[str, str, str]]:
    """SERVER-SIDE ONLY: [(item code, CT path, prediction path)] of the reader's next ``count``
    unscored items after ``assignment_id`` in her order (same study and session), so the app
    can prepare their images while she reads the current one. Nothing of it may reach the
    browser before the item itself is shown (the code is only a cache key).
    """
    _, assignment, _ = _authorised(session, reader, assignment_id)
    return _upcoming_of(session, assignment, count)


def _upcoming_of(
    session: Session, assignment: Assignment, count: int
) -> list[tuple[str, str, str]]:
    rows = session.execute(
        select(Assignment.code, Case.image_path, Run.prediction_path)
        .join(Item, Item.id == Assignment.item_id)
        .join(Case, Case.id == Item.case_id)
        .join(Run, Run.id == Item.run_id)
        .outerjoin(Score, Score.assignment_id == Assignment.id)
        .where(
            Assignment.reader_id == assignment.reader_id,
            Assignment.study_id == assignment.study_id,
            Assignment.session_number == assignment.session_number,
            Assignment.position > assignment.position,
            Score.id.is_(None),
        )
        .order_by(Assignment.position)
        .limit(max(0, int(count)))
    ).all()
    return [(str(code), str(image), str(pred)) for code, image, pred in rows]


def mark_displayed(
    session: Session, reader, assignment_id: int, *, now: datetime | None = None
) -> datetime:
    """When one of her items was first shown to her (UTC, naive): stored at the first call,
    returned unchanged by every later one (a reload, a second tab), so the reading time
    counts from the server's first display. One small transaction on the first call only;
    not audited (it is a measurement, not an answer). Same checks as ``reader_item_view``.
    """
    _, assignment, _ = _authorised(session, reader, assignment_id)
    return _mark_displayed(session, reader, assignment, now)


def _mark_displayed(
    session: Session, reader, assignment: Assignment, now: datetime | None
) -> datetime:
    if assignment.first_displayed_at is not None:
        return assignment.first_displayed_at

    def work() -> datetime:
        _, row, _ = _authorised(session, reader, assignment.id)
        if row.first_displayed_at is None:  # another tab may have set it meanwhile
            row.first_displayed_at = now or utcnow()
        return row.first_displayed_at

    return write_transaction(session, work)


def open_for_display(
    session: Session, reader, assignment_id: int, *, upcoming: int = 1, now: datetime | None = None
) -> ItemDisplay:
    """SERVER-SIDE ONLY: ``mark_displayed``, ``item_files_for_display`` and
    ``upcoming_files_for_display(count=upcoming)`` of one of her items behind one set of
    ``reader_item_view``'s checks (the reading page needs all three on every full run: with
    30 readers each saved check is one query less per rerun, bench/app_load.py)."""
    assignment = _available(session, reader, assignment_id, now)
    shown_at = _mark_displayed(session, reader, assignment, now)
    return ItemDisplay(
        shown_at=shown_at,
        files=_files_of(session, assignment),
        upcoming=_upcoming_of(session, assignment, upcoming),
    )


def seconds_since(moment: datetime, *, now: datetime | None = None) -> float:
    """Seconds from ``moment`` (UTC, naive) to ``now`` (default: the current time), >= 0."""
    return max(0.0, ((now or utcnow()) - moment).total_seconds())


def _insert_unless_raced(session: Session, row, find_winner: Callable[[], Any]) -> Any:
    """Add and flush ``row``; None when inserted. When a concurrent transaction inserted the
    same unique key first (PostgreSQL; on SQLite BEGIN IMMEDIATE means no other writer can
    race us), the winner's row from ``find_winner()``; any other integrity error re-raises."""
    try:
        if is_sqlite(session):
            session.add(row)
            session.flush()
        else:
            with session.begin_nested():
                session.add(row)
                session.flush()
    except IntegrityError:
        winner = find_winner()
        if winner is None:
            raise
        return winner
    return None


def submit_score(
    session: Session,
    reader,
    assignment_id: int,
    score: int,
    comment: str | None = None,
    seconds_spent: float = 0.0,
    client_token: str | None = None,
    *,
    answers: Mapping[str, object] | None = None,
    now: datetime | None = None,
) -> SubmitResult:
    """Store the reader's Likert score (1-5) for one of her items, in one transaction.

    seconds_spent: reading time in s measured by the page. client_token: optional id of the
    page's submission (e.g. a UUID made when the item was shown), stored with the score for
    tracing. A submit with the same score and comment as the stored one is a repeat
    ("duplicate", nothing written, whatever its seconds or token); a different answer is an
    edit: "updated" (audited; seconds added up) in an editable study, else ScoreLocked.
    answers: {question key: answer} of the study's other questions (``db.questions``; the
    first question's answer is ``score``), stored per question with the score and compared
    with the stored ones for the repeat / edit decision.
    Raises InvalidInput (bad score / comment / seconds / answers), NotFound, AccessDenied,
    StudyClosed, ItemNotAvailable or ScoreLocked, with nothing written.
    """
    value = validate_score(score)
    text = _validate_comment(comment)
    seconds = _validate_seconds(seconds_spent)
    if client_token is not None and (not isinstance(client_token, str) or len(client_token) > 64):
        raise InvalidInput("client_token must be text of at most 64 characters.")
    aid = _validate_id(assignment_id)

    def work() -> SubmitResult:
        moment = now or utcnow()
        reader_id, assignment, study = _authorised(session, reader, aid)
        if text is not None and not study.comment_allowed:
            raise InvalidInput(f"The study '{study.name}' does not take comments.")
        asked = study_questions.study_questions(session, study.id)
        given = study_questions.check_answers(asked, value, answers) if asked else {}
        existing = _score_of(session, aid, lock=not is_sqlite(session))
        if existing is None:
            _check_available(session, reader_id, assignment, study, False, moment)
            row = Score(
                assignment_id=aid,
                value=value,
                comment=text,
                seconds_spent=seconds,
                client_token=client_token,
                revision=1,
                created_at=moment,
                updated_at=moment,
            )
            # another transaction may have stored this assignment's score first (PostgreSQL)
            existing = _insert_unless_raced(
                session, row, lambda: _score_of(session, aid, lock=not is_sqlite(session))
            )
            if existing is None:
                study_questions.write_answers(session, study.id, aid, given, moment)
                audit.record(
                    session,
                    reader_id,
                    "score.create",
                    "score",
                    row.id,
                    after={
                        "assignment_id": aid,
                        "value": value,
                        "comment": text,
                        "seconds_spent": seconds,
                        "answers": given,
                    },
                )
                return SubmitResult(row.id, aid, "created", value)
        stored = study_questions.stored_answers(session, aid)
        if existing.value == value and existing.comment == text and stored == given:
            # a double click, a second tab or a network retry: the stored score stands
            return SubmitResult(existing.id, aid, "duplicate", existing.value)
        if study.edit_policy != "editable":
            raise ScoreLocked(
                f"Item {assignment.code} was already scored ({existing.value}); this study "
                "does not allow changes."
            )
        before = {
            "value": existing.value,
            "comment": existing.comment,
            "seconds_spent": existing.seconds_spent,
            "revision": existing.revision,
            "answers": stored,
        }
        study_questions.write_answers(session, study.id, aid, given, moment)
        existing.value = value
        existing.comment = text
        existing.seconds_spent = existing.seconds_spent + seconds
        existing.client_token = client_token
        existing.revision = existing.revision + 1
        existing.updated_at = moment
        audit.record(
            session,
            reader_id,
            "score.update",
            "score",
            existing.id,
            before=before,
            after={
                "value": value,
                "comment": text,
                "seconds_spent": existing.seconds_spent,
                "revision": existing.revision,
                "answers": given,
            },
        )
        return SubmitResult(existing.id, aid, "updated", value)

    return write_transaction(session, work)


def _validate_flag(reason: object, note: object) -> tuple[str, str | None]:
    if reason not in FLAG_REASONS:
        raise InvalidInput(f"The reason must be one of {', '.join(FLAG_REASONS)}, got {reason!r}.")
    text = "" if note is None else check_text(note, "The note").strip()
    if len(text) > MAX_FLAG_NOTE_CHARS:
        raise InvalidInput(f"The note is longer than {MAX_FLAG_NOTE_CHARS} characters.")
    if reason == "other" and not text:
        raise InvalidInput("Please say in the note why you flag the item.")
    return str(reason), text or None


def flag_item(
    session: Session,
    reader,
    assignment_id: int,
    reason: str,
    note: str | None = None,
    *,
    now: datetime | None = None,
) -> FlagResult:
    """Flag one of her items for the coordinator, in one transaction (audited).

    reason: a key of ``FLAG_REASON_LABELS``; note: optional text (needed for "other"), at
    most ``MAX_FLAG_NOTE_CHARS`` characters. At most one flag per item: the same reason and
    note again is a repeat ("duplicate", nothing written); a different one replaces it
    ("updated", audited with the values before; a flag the coordinator had marked resolved
    is open again). Same checks as ``reader_item_view`` (another reader's item: NotFound);
    raises InvalidInput with nothing written.
    """
    why, text = _validate_flag(reason, note)
    aid = _validate_id(assignment_id)

    def work() -> FlagResult:
        moment = now or utcnow()
        reader_id, stmt = _flag_checks(session, reader, aid, moment)
        existing = session.scalar(stmt)
        if existing is None:
            row = ItemFlag(
                assignment_id=aid, reason=why, note=text, created_at=moment, updated_at=moment
            )
            # another tab may have stored this item's flag first (PostgreSQL)
            existing = _insert_unless_raced(session, row, lambda: session.scalar(stmt))
            if existing is None:
                after = {"assignment_id": aid, "reason": why, "note": text}
                audit.record(session, reader_id, "flag.create", "item_flag", row.id, after=after)
                return FlagResult(row.id, aid, "created", why)
        if (existing.reason, existing.note) == (why, text):
            return FlagResult(existing.id, aid, "duplicate", why)
        before = {"reason": existing.reason, "note": existing.note}
        after = {"reason": why, "note": text}
        if existing.resolved_at is not None:  # a new reason: the coordinator looks again
            before["resolved_at"], after["resolved_at"] = existing.resolved_at.isoformat(), None
        existing.reason, existing.note, existing.updated_at = why, text, moment
        existing.resolved_at = None
        audit.record(
            session, reader_id, "flag.update", "item_flag", existing.id, before=before, after=after
        )
        return FlagResult(existing.id, aid, "updated", why)

    return write_transaction(session, work)


def _flag_checks(session: Session, reader, aid: int, moment: datetime):
    """(reader id, the locking select of the item's flag) after ``flag_item``'s checks."""
    reader_id, assignment, study = _authorised(session, reader, aid)
    scored = _score_of(session, aid) is not None
    _check_available(session, reader_id, assignment, study, scored, moment)
    stmt = select(ItemFlag).where(ItemFlag.assignment_id == aid)
    if not is_sqlite(session):
        stmt = stmt.with_for_update()
    return reader_id, stmt.execution_options(populate_existing=True)


def withdraw_flag(
    session: Session, reader, assignment_id: int, *, now: datetime | None = None
) -> FlagResult:
    """Withdraw her flag of one of her items, in one transaction: the flag is deleted,
    audited as "flag.withdraw" with its values before ("withdrawn"). No flag (never flagged,
    or already withdrawn: a double click, a second tab) is a repeat: "absent", nothing
    written. The same checks and answers as ``flag_item`` (another reader's item or a
    missing one: the same NotFound)."""
    aid = _validate_id(assignment_id)

    def work() -> FlagResult:
        reader_id, stmt = _flag_checks(session, reader, aid, now or utcnow())
        existing = session.scalar(stmt)
        if existing is None:
            return FlagResult(None, aid, "absent", None)
        before = {
            "assignment_id": aid,
            "reason": existing.reason,
            "note": existing.note,
            "resolved_at": None
            if existing.resolved_at is None
            else existing.resolved_at.isoformat(),
        }
        flag_id, reason = existing.id, existing.reason
        session.delete(existing)
        session.flush()
        audit.record(session, reader_id, "flag.withdraw", "item_flag", flag_id, before=before)
        return FlagResult(flag_id, aid, "withdrawn", reason)

    return write_transaction(session, work)


def scored_items(session: Session, reader, study_id: int) -> list[ScoredItem]:
    """Her scored items of one open study, in her order, for "Review my answers": empty
    unless the study's edit policy is "editable" (a locked study offers no review). Opaque
    codes and positions only; open one with ``reader_item_view``, change it with
    ``submit_score`` (audited as "score.update")."""
    user = require_reader(session, reader)
    sid = _validate_id(study_id)
    study = session.get(Study, sid)
    if study is None or study.status != "open" or study.edit_policy != "editable":
        return []
    rows = session.execute(
        select(Assignment.id, Assignment.code, Assignment.position, Score.value)
        .join(Score, Score.assignment_id == Assignment.id)
        .where(
            Assignment.reader_id == user.id,
            Assignment.study_id == sid,
            Assignment.practice.is_(False),
        )
        .order_by(Assignment.position)
    ).all()
    return [ScoredItem(int(a), str(c), int(p), int(v)) for a, c, p, v in rows]
