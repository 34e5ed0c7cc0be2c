"""Reading: next item / resume, submit semantics, bad input, authorisation, blinding, washout."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from db import audit, auth, catalog, export, progress, reading, studies
from db.engine import session_scope
from db.errors import (
    AccessDenied,
    AuthError,
    InvalidInput,
    ItemNotAvailable,
    NotFound,
    ScoreLocked,
    StudyClosed,
    StudyStateError,
)
from db.models import utcnow
from tests.db_support import backend_params, open_test_engine, populate


@pytest.fixture(params=backend_params())
def db_engine(request, monkeypatch):
    yield from open_test_engine(request.param, monkeypatch)


def _count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


def _scores(engine):
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT assignment_id, value, comment, seconds_spent, revision FROM scores "
                "ORDER BY assignment_id"
            )
        ).all()


def test_next_item_resumes_exactly_where_she_stopped(db_engine):
    setup = populate(db_engine, n_cases=3, methods=("unet2d", "classical"), n_readers=2)
    reader = setup.readers[0]
    with session_scope(db_engine) as s:
        seen = []
        for k in range(1, 4):
            item = reading.next_item(s, reader)
            assert (item.position, item.total, item.session_number) == (k, 6, 1)
            seen.append(item.assignment_id)
            reading.submit_score(s, reader, item.assignment_id, k, None, 5.0)
    # a new sign-in, a new session: she continues at item 4 of 6
    with session_scope(db_engine) as s:
        again = auth.authenticate(s, reader.username, setup.passwords[reader.username])
        item = reading.next_item(s, again)
        assert (item.position, item.total) == (4, 6)
        assert item.assignment_id not in seen
        # the other reader has her own queue, untouched
        assert reading.next_item(s, setup.readers[1]).position == 1
        (mine,) = [p for p in progress.reader_progress(s, reader)]
        assert (mine.done, mine.total, mine.finished, mine.next_opens_at) == (3, 6, False, None)
        # scored items can be re-opened with her answer; later ones cannot be opened yet
        view = reading.reader_item_view(s, reader, seen[1])
        assert (view.existing_score, view.position, view.can_change) == (2, 2, False)
    with session_scope(db_engine) as s:
        for _ in range(3):
            item = reading.next_item(s, reader)
            reading.submit_score(s, reader, item.assignment_id, 4, "ok", 1.0)
        assert reading.next_item(s, reader) is None
        assert progress.reader_progress(s, reader)[0].finished


def test_repeated_submit_never_creates_a_second_score(db_engine):
    setup = populate(db_engine, n_cases=2, methods=("unet2d",), n_readers=1)
    reader = setup.readers[0]
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        first = reading.submit_score(s, reader, item.assignment_id, 4, "slight leak", 12.0, "tok-1")
        again = reading.submit_score(s, reader, item.assignment_id, 4, "slight leak", 13.0)
        retry = reading.submit_score(s, reader, item.assignment_id, 4, "slight leak", 9.0, "tok-2")
        assert first.status == "created"
        assert (again.status, again.score_id) == ("duplicate", first.score_id)
        assert (retry.status, retry.score_id) == ("duplicate", first.score_id)
        n_audit = _count(db_engine, "audit_events")
        with pytest.raises(ScoreLocked):  # same token, changed comment: an edit, refused
            reading.submit_score(s, reader, item.assignment_id, 4, "edited box", 14.0, "tok-1")
        with pytest.raises(ScoreLocked, match=r"already scored \(4\); this study does not allow"):
            reading.submit_score(s, reader, item.assignment_id, 2, None, 3.0)
    assert _scores(db_engine) == [(item.assignment_id, 4, "slight leak", 12.0, 1)]
    assert _count(db_engine, "audit_events") == n_audit


def test_editable_study_updates_the_score_and_audits_the_change(db_engine):
    setup = populate(db_engine, n_cases=2, methods=("unet2d",), n_readers=1, edit_policy="editable")
    reader = setup.readers[0]
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        created = reading.submit_score(s, reader, item.assignment_id, 3, None, 10.0, "tok")
        # the page keeps one token per item: an edit with the same token is still an edit
        updated = reading.submit_score(s, reader, item.assignment_id, 5, "looked again", 4.5, "tok")
        assert (updated.status, updated.score_id) == ("updated", created.score_id)
        view = reading.reader_item_view(s, reader, item.assignment_id)
        assert (view.existing_score, view.existing_comment, view.can_change) == (
            5,
            "looked again",
            True,
        )
        log = audit.audit_events(s, setup.coordinator, entity="score")
    assert _scores(db_engine) == [(item.assignment_id, 5, "looked again", 14.5, 2)]
    assert list(log["action"]) == ["score.create", "score.update"]
    change = log.iloc[1]
    assert change["before"]["value"] == 3 and change["after"]["value"] == 5
    assert change["actor"] == reader.username


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"score": 0}, "from 1 to 5"),
        ({"score": 6}, "from 1 to 5"),
        ({"score": 3.5}, "whole number"),
        ({"score": 3.0}, "whole number"),
        ({"score": "3"}, "whole number"),
        ({"score": "good"}, "whole number"),
        ({"score": True}, "whole number"),
        ({"score": None}, "whole number"),
        ({"seconds_spent": -1}, "seconds_spent"),
        ({"seconds_spent": float("nan")}, "seconds_spent"),
        ({"seconds_spent": float("inf")}, "seconds_spent"),
        ({"seconds_spent": "12"}, "seconds_spent"),
        ({"comment": "x" * 2001}, "longer than 2000"),
        ({"comment": 42}, "must be text"),
        ({"client_token": "t" * 65}, "client_token"),
    ],
)
def test_bad_score_input_is_refused_and_nothing_written(db_engine, kwargs, message):
    setup = populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1)
    reader = setup.readers[0]
    n_audit = _count(db_engine, "audit_events")
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        args = {"score": 4, "comment": None, "seconds_spent": 3.0, "client_token": None, **kwargs}
        with pytest.raises(InvalidInput, match=message) as err:
            reading.submit_score(s, reader, item.assignment_id, **args)
        assert isinstance(err.value, ValueError)
    assert _count(db_engine, "scores") == 0
    assert _count(db_engine, "audit_events") == n_audit


def test_unknown_item_wrong_password_and_comment_policy(db_engine):
    setup = populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1, comment_allowed=False)
    reader = setup.readers[0]
    with session_scope(db_engine) as s:
        for bad_id in (999_999, -1):
            with pytest.raises(NotFound, match="No item"):
                reading.submit_score(s, reader, bad_id, 4)
            with pytest.raises(NotFound):
                reading.reader_item_view(s, reader, bad_id)
        with pytest.raises(InvalidInput, match="integer"):
            reading.submit_score(s, reader, "1", 4)
        with pytest.raises(AuthError, match="Wrong username or password"):
            auth.authenticate(s, reader.username, "not-the-password")
        item = reading.next_item(s, reader)
        assert item.comment_allowed is False
        with pytest.raises(InvalidInput, match="does not take comments"):
            reading.submit_score(s, reader, item.assignment_id, 4, "a comment")
    assert _count(db_engine, "scores") == 0


def test_items_are_read_in_order_and_closed_or_draft_studies_refuse(db_engine):
    setup = populate(db_engine, n_cases=2, methods=("unet2d", "classical"), n_readers=1)
    reader, boss = setup.readers[0], setup.coordinator
    with db_engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM assignments ORDER BY position")).scalars().all()
    with session_scope(db_engine) as s:
        with pytest.raises(ItemNotAvailable, match="please score item 1 first"):
            reading.reader_item_view(s, reader, ids[2])
        with pytest.raises(ItemNotAvailable):
            reading.submit_score(s, reader, ids[2], 4)
        with pytest.raises(ItemNotAvailable):
            reading.item_files_for_display(s, reader, ids[2])
        reading.submit_score(s, reader, ids[0], 4)
        studies.close_study(s, boss, setup.study_id)
        with pytest.raises(StudyClosed, match="closed: it accepts no more scores"):
            reading.submit_score(s, reader, ids[1], 4)
        with pytest.raises(StudyClosed):
            reading.reader_item_view(s, reader, ids[1])
        assert reading.next_item(s, reader) is None
        draft = studies.create_study(
            s, boss, "Draft", cases=setup.cases, methods=setup.methods, readers=[reader.username]
        )
        assert reading.next_item(s, reader) is None  # drafts are invisible
        with db_engine.connect() as conn:
            draft_id = conn.execute(
                text("SELECT MIN(id) FROM assignments WHERE study_id = :s"), {"s": draft}
            ).scalar_one()
        with pytest.raises(StudyStateError, match="not open"):
            reading.submit_score(s, reader, draft_id, 4)
    assert _count(db_engine, "scores") == 1


def test_reader_functions_refuse_another_readers_items(db_engine):
    setup = populate(db_engine, n_cases=2, methods=("unet2d",), n_readers=2)
    alice, bob = setup.readers
    with session_scope(db_engine) as s:
        bobs = reading.next_item(s, bob)
        reading.submit_score(s, bob, bobs.assignment_id, 2, "bob's note", 8.0)
        for call in (
            lambda: reading.reader_item_view(s, alice, bobs.assignment_id),
            lambda: reading.item_files_for_display(s, alice, bobs.assignment_id),
            lambda: reading.submit_score(s, alice, bobs.assignment_id, 5),
        ):
            # the same answer as for an item that does not exist (issue 14 item 11)
            with pytest.raises(NotFound, match="No item #[0-9]+ in your reading list"):
                call()
        # coordinators are not readers: reading functions refuse them too
        for call in (
            lambda: reading.next_item(s, setup.coordinator),
            lambda: reading.reader_item_view(s, setup.coordinator, bobs.assignment_id),
            lambda: reading.item_files_for_display(s, setup.coordinator, bobs.assignment_id),
            lambda: reading.submit_score(s, setup.coordinator, bobs.assignment_id, 5),
            lambda: progress.reader_progress(s, setup.coordinator),
        ):
            with pytest.raises(AccessDenied):
                call()
        # a forged or stale identity is refused
        fake = auth.Actor(id=bob.id, username="alice", role="coordinator")
        with pytest.raises(AccessDenied, match="reader"):
            studies.list_studies(s, fake)
        with pytest.raises(AccessDenied):
            reading.next_item(s, object())
        auth.set_active(s, setup.coordinator, "r01", False)
        with pytest.raises(AccessDenied, match="deactivated"):
            reading.next_item(s, bob)
    assert _scores(db_engine) == [(bobs.assignment_id, 2, "bob's note", 8.0, 1)]


def test_coordinator_only_functions_refuse_readers(db_engine):
    from db.access import SYSTEM

    setup = populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1)
    reader, sid = setup.readers[0], setup.study_id
    calls = {
        "create_study": lambda s: studies.create_study(
            s, reader, "Mine", cases=setup.cases, methods=setup.methods, readers=["r00"]
        ),
        "open_study": lambda s: studies.open_study(s, reader, sid),
        "close_study": lambda s: studies.close_study(s, reader, sid),
        "get_study": lambda s: studies.get_study(s, reader, sid),
        "list_studies": lambda s: studies.list_studies(s, reader),
        "study_id_by_name": lambda s: studies.study_id_by_name(s, reader, "Pilot"),
        "study_progress": lambda s: progress.study_progress(s, reader, sid),
        "study_summary": lambda s: progress.study_summary(s, reader, sid),
        "scores_long": lambda s: export.scores_long(s, reader, sid),
        "write_scores_csv": lambda s: export.write_scores_csv(s, reader, "/tmp/x.csv", sid),
        "metrics_table": lambda s: export.metrics_table(s, reader, "liver"),
        "scores_table": lambda s: export.scores_table(s, reader, sid),
        "lesions_table": lambda s: export.lesions_table(s, reader),
        "register_case": lambda s: catalog.register_case(s, reader, "c9", "/x", check_files=False),
        "register_method": lambda s: catalog.register_method(s, reader, "m9"),
        "register_run": lambda s: catalog.register_run(
            s, reader, "case_000", "unet2d", "/x", 1.0, check_files=False
        ),
        "add_evaluations": lambda s: catalog.add_evaluations(s, reader, 1, "liver", {"dsc": 1}),
        "add_lesion_detections": lambda s: catalog.add_lesion_detections(
            s, reader, 1, [{"lesion": 1, "detected": True}]
        ),
        "list_cases": lambda s: catalog.list_cases(s, reader),
        "list_methods": lambda s: catalog.list_methods(s, reader),
        "list_runs": lambda s: catalog.list_runs(s, reader),
        "create_reader": lambda s: auth.create_reader(s, reader, "r99"),
        "list_users": lambda s: auth.list_users(s, reader),
        "audit_events": lambda s: audit.audit_events(s, reader),
    }
    before = {
        t: _count(db_engine, t)
        for t in (
            "studies",
            "cases",
            "methods",
            "runs",
            "users",
            "evaluations",
            "lesion_detections",
        )
    }
    with session_scope(db_engine) as s:
        for name, call in calls.items():
            with pytest.raises(AccessDenied, match="only a study coordinator"):
                call(s)
            assert name
        # ... and the same calls work for the coordinator / the command line
        assert len(studies.list_studies(s, setup.coordinator)) == 1
        assert len(catalog.list_runs(s, SYSTEM)) == 1
    assert before == {t: _count(db_engine, t) for t in before}


def test_reader_facing_view_carries_no_method_identity(db_engine):
    setup = populate(
        db_engine,
        n_cases=3,
        n_readers=2,
        retest_fraction=0.25,
        washout_days=0,
        confirm_short_washout=True,
        edit_policy="editable",
    )
    with db_engine.connect() as conn:
        forbidden = set(conn.execute(text("SELECT name FROM methods")).scalars())
        forbidden |= set(conn.execute(text("SELECT description FROM methods")).scalars())
        for col in ("prediction_path", "method_version", "device"):
            forbidden |= {v for v in conn.execute(text(f"SELECT {col} FROM runs")).scalars() if v}
        forbidden |= set(conn.execute(text("SELECT image_path FROM cases")).scalars())
        forbidden |= set(conn.execute(text("SELECT label_path FROM cases")).scalars())
        forbidden |= set(conn.execute(text("SELECT code FROM items")).scalars())
        n_assign = conn.execute(text("SELECT COUNT(*) FROM assignments")).scalar_one()
    forbidden |= {"/runs/", "nii", "unet", "attention", "classical", "method"}
    allowed_fields = {
        "study_name",
        "assignment_id",
        "code",
        "position",
        "total",
        "session_number",
        "question",
        "anchors",
        "comment_allowed",
        "existing_score",
        "existing_comment",
        "can_change",
        "questions",
        "existing_answers",
        "flag_reason",
        "practice",
    }
    payloads = []
    with session_scope(db_engine) as s:
        for reader in setup.readers:
            while (item := reading.next_item(s, reader)) is not None:
                assert {f.name for f in dataclasses.fields(item)} == allowed_fields
                payloads.append(item)
                payloads.append(reading.reader_item_view(s, reader, item.assignment_id))
                result = reading.submit_score(s, reader, item.assignment_id, 3, "fine", 2.0)
                payloads.append(result)
                payloads.append(reading.reader_item_view(s, reader, item.assignment_id))
                payloads.append(reading.flag_item(s, reader, item.assignment_id, "unsure"))
            payloads.extend(reading.scored_items(s, reader, setup.study_id))
            payloads.extend(progress.reader_progress(s, reader))
    assert sum(isinstance(p, reading.ReaderItem) for p in payloads) == 3 * n_assign
    blob = json.dumps([dataclasses.asdict(p) for p in payloads], default=str)

    # whole-word search (case-insensitive): a random code like "XCPU-7K2M" is not a leak of
    # the device "cpu", but "cpu", "unet2d" or "/runs/unet2d/case_000.nii.gz" anywhere is
    def pattern(word: str) -> str:
        left = r"(?<![A-Za-z0-9])" if word[0].isalnum() else ""
        right = r"(?![A-Za-z0-9])" if word[-1].isalnum() else ""
        return left + re.escape(word) + right

    leaks = sorted(word for word in forbidden if re.search(pattern(word), blob, re.IGNORECASE))
    assert leaks == []


def test_item_files_for_display_gives_the_server_the_right_files(db_engine):
    setup = populate(db_engine, n_cases=2, n_readers=1, seed=9)
    reader = setup.readers[0]
    with db_engine.connect() as conn:
        truth = {
            r.aid: (r.img, r.pred)
            for r in conn.execute(
                text(
                    "SELECT a.id AS aid, c.image_path AS img, r.prediction_path AS pred "
                    "FROM assignments a JOIN items i ON i.id = a.item_id "
                    "JOIN cases c ON c.id = i.case_id JOIN runs r ON r.id = i.run_id"
                )
            )
        }
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        image, prediction = reading.item_files_for_display(s, reader, item.assignment_id)
    assert (image, prediction) == truth[item.assignment_id]
    case = image.split("/")[-1].removesuffix("_ct.nii.gz")
    assert prediction.endswith(f"/{case}.nii.gz")


def test_upcoming_files_are_her_next_unscored_items_in_order(db_engine):
    setup = populate(db_engine, n_cases=3, n_readers=2, seed=4)
    reader, other = setup.readers
    with db_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.id, a.position, a.code, c.image_path, r.prediction_path "
                "FROM assignments a JOIN items i ON i.id = a.item_id "
                "JOIN cases c ON c.id = i.case_id JOIN runs r ON r.id = i.run_id "
                "JOIN users u ON u.id = a.reader_id WHERE u.username = :name "
                "ORDER BY a.position"
            ),
            {"name": reader.username},
        ).all()
    by_position = {r.position: (r.code, r.image_path, r.prediction_path) for r in rows}
    with session_scope(db_engine) as s:
        first = reading.next_item(s, reader)
        assert reading.upcoming_files_for_display(s, reader, first.assignment_id, count=2) == [
            by_position[2],
            by_position[3],
        ]
        # item 3 scored out of band is skipped: the next unscored after item 1 is 2, then 4
        s.execute(
            text(
                "INSERT INTO scores (assignment_id, value, seconds_spent, revision, created_at, "
                "updated_at) SELECT id, 3, 1.0, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP "
                "FROM assignments WHERE code = :code"
            ),
            {"code": by_position[3][0]},
        )
    with session_scope(db_engine) as s:
        assert reading.upcoming_files_for_display(s, reader, first.assignment_id, count=2) == [
            by_position[2],
            by_position[4],
        ]
        last = max(by_position)
        last_id = next(r.id for r in rows if r.position == last)
        assert reading.upcoming_files_for_display(s, reader, last_id) == []
        with pytest.raises(NotFound):  # another reader's item: as if it did not exist
            reading.upcoming_files_for_display(s, other, first.assignment_id)


def test_second_session_waits_for_the_washout(db_engine):
    setup = populate(
        db_engine,
        n_cases=2,
        methods=("unet2d", "classical"),
        n_readers=1,
        retest_fraction=0.5,
        washout_days=14,
    )
    reader = setup.readers[0]
    t0 = utcnow()
    with session_scope(db_engine) as s:
        for k in range(4):
            item = reading.next_item(s, reader, now=t0)
            assert item.session_number == 1
            reading.submit_score(
                s, reader, item.assignment_id, 4, None, 1.0, now=t0 + timedelta(minutes=k)
            )
        last = t0 + timedelta(minutes=3)
        assert reading.next_item(s, reader, now=last + timedelta(days=13)) is None
        (prog,) = progress.reader_progress(s, reader, now=last + timedelta(days=13))
        assert (prog.done, prog.total, prog.finished) == (4, 6, False)
        assert abs((prog.next_opens_at - (last + timedelta(days=14))).total_seconds()) < 1e-3
        with db_engine.connect() as conn:
            second = (
                conn.execute(
                    text("SELECT id FROM assignments WHERE session_number = 2 ORDER BY position")
                )
                .scalars()
                .all()
            )
        with pytest.raises(ItemNotAvailable, match="washout"):
            reading.submit_score(s, reader, second[0], 3, now=last + timedelta(days=13))
        item = reading.next_item(s, reader, now=last + timedelta(days=14, seconds=1))
        assert (item.session_number, item.position, item.total) == (2, 5, 6)
        assert item.assignment_id == second[0]


def test_first_display_is_stored_once_and_only_for_her_own_item(db_engine):
    """Issue 13 defect 6: the reading clock starts at the server's first display."""
    setup = populate(db_engine, n_cases=2, methods=("unet2d",), n_readers=2)
    reader, other = setup.readers
    t0 = utcnow().replace(microsecond=0)
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        first = reading.mark_displayed(s, reader, item.assignment_id, now=t0)
        again = reading.mark_displayed(s, reader, item.assignment_id, now=t0 + timedelta(minutes=5))
        assert first == again == t0  # a reload (5 min later) keeps the first display
        assert reading.seconds_since(first, now=t0 + timedelta(seconds=16.25)) == 16.25
        with pytest.raises((AccessDenied, NotFound)):  # another reader's item: not hers
            reading.mark_displayed(s, other, item.assignment_id)
    with db_engine.connect() as conn:
        stored = conn.execute(
            text("SELECT first_displayed_at FROM assignments WHERE id = :i"),
            {"i": item.assignment_id},
        ).scalar_one()
        assert stored is not None and str(t0.date()) in str(stored)
        n_shown = conn.execute(
            text("SELECT COUNT(*) FROM assignments WHERE first_displayed_at IS NOT NULL")
        ).scalar_one()
    assert n_shown == 1
