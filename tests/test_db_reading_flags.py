"""Reader workflow: flag an item for the coordinator; review her own answers (editable studies)."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import text

from db import audit, progress, reading
from db.engine import session_scope
from db.errors import AccessDenied, InvalidInput, ItemNotAvailable, NotFound, ScoreLocked
from db.models import FLAG_REASONS
from tests.db_support import backend_params, open_test_engine, populate


@pytest.fixture(params=backend_params())
def db_engine(request, monkeypatch):
    yield from open_test_engine(request.param, monkeypatch)


def _flags(engine):
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT assignment_id, reason, note FROM item_flags ORDER BY id")
        ).all()


def test_flag_is_stored_once_per_item_changed_with_audit_and_shown_to_the_coordinator(db_engine):
    setup = populate(db_engine, n_cases=2, methods=("unet2d",), n_readers=2)
    reader = setup.readers[0]
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        first = reading.flag_item(s, reader, item.assignment_id, "image_problem")
        again = reading.flag_item(s, reader, item.assignment_id, "image_problem")  # double click
        changed = reading.flag_item(s, reader, item.assignment_id, "other", "  wrong patient?  ")
        view = reading.reader_item_view(s, reader, item.assignment_id)
        flags = progress.study_flags(s, setup.coordinator, setup.study_id)
        log = audit.audit_events(s, setup.coordinator, entity="item_flag")
    assert (first.status, again.status, changed.status) == ("created", "duplicate", "updated")
    assert first.flag_id == again.flag_id == changed.flag_id
    assert _flags(db_engine) == [(item.assignment_id, "other", "wrong patient?")]
    assert view.flag_reason == "other"
    assert list(log["action"]) == ["flag.create", "flag.update"]
    assert log.iloc[1]["before"] == {"reason": "image_problem", "note": None}
    assert log.iloc[1]["actor"] == reader.username
    assert flags[["code", "reader", "position", "session", "reason", "note"]].values.tolist() == [
        [item.code, reader.username, 1, 1, "other", "wrong patient?"]
    ]


@pytest.mark.parametrize(
    ("reason", "note", "message"),
    [
        ("bad", None, "The reason must be one of"),
        ("other", None, "Please say in the note"),
        ("other", "   ", "Please say in the note"),
        ("unsure", "a\x00b", "NUL"),
        ("unsure", "x" * 501, "longer than 500"),
        ("unsure", 7, "must be text"),
    ],
)
def test_bad_flag_input_is_refused_and_nothing_written(db_engine, reason, note, message):
    setup = populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1)
    reader = setup.readers[0]
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        with pytest.raises(InvalidInput, match=message):
            reading.flag_item(s, reader, item.assignment_id, reason, note)
    assert _flags(db_engine) == []


def test_a_reader_flags_only_her_own_available_items(db_engine):
    setup = populate(db_engine, n_cases=2, methods=("unet2d",), n_readers=2)
    alice, bob = setup.readers[:2]
    with session_scope(db_engine) as s:
        hers = reading.next_item(s, alice)
        with pytest.raises(NotFound) as other:
            reading.flag_item(s, bob, hers.assignment_id, "unsure")
        with pytest.raises(NotFound) as missing:
            reading.flag_item(s, bob, 10**6, "unsure")
        # the same answer for another reader's item and for no item at all
        assert str(other.value).replace(str(hers.assignment_id), "#") == str(missing.value).replace(
            str(10**6), "#"
        )
        later = [a for a in _her_assignments(db_engine, alice) if a != hers.assignment_id]
        with pytest.raises(ItemNotAvailable):
            reading.flag_item(s, alice, later[0], "unsure")
        with pytest.raises(AccessDenied):
            progress.study_flags(s, alice, setup.study_id)
    assert _flags(db_engine) == []


def _her_assignments(engine, reader) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT a.id FROM assignments a JOIN users u ON u.id = a.reader_id "
                    "WHERE u.username = :name ORDER BY a.position"
                ),
                {"name": reader.username},
            ).scalars()
        )


def test_flag_reasons_are_the_stored_codes_and_the_view_names_no_method():
    assert tuple(reading.FLAG_REASON_LABELS) == FLAG_REASONS
    fields = {f.name for f in dataclasses.fields(reading.ReaderItem)}
    assert not fields & {"method", "method_id", "run_id", "run", "path", "version"}
    assert {f.name for f in dataclasses.fields(reading.ScoredItem)} == {
        "assignment_id",
        "code",
        "position",
        "score",
    }


def test_review_lists_her_scored_items_only_in_editable_studies(db_engine):
    setup = populate(db_engine, n_cases=3, methods=("unet2d",), n_readers=2, edit_policy="editable")
    alice, bob = setup.readers[:2]
    with session_scope(db_engine) as s:
        assert reading.scored_items(s, alice, setup.study_id) == []
        done = []
        for value in (2, 4):
            item = reading.next_item(s, alice)
            reading.submit_score(s, alice, item.assignment_id, value, None, 3.0)
            done.append((item.assignment_id, item.code, item.position, value))
        listed = reading.scored_items(s, alice, setup.study_id)
        assert [dataclasses.astuple(x) for x in listed] == done
        assert reading.scored_items(s, bob, setup.study_id) == []  # not hers
        # she goes back to her first item and changes it: audited as an update
        back = reading.reader_item_view(s, alice, done[0][0])
        assert (back.existing_score, back.can_change) == (2, True)
        changed = reading.submit_score(s, alice, done[0][0], 5, None, 1.0)
        assert changed.status == "updated"
        log = audit.audit_events(s, setup.coordinator, entity="score")
    assert list(log["action"]) == ["score.create", "score.create", "score.update"]
    assert log.iloc[2]["before"]["value"] == 2 and log.iloc[2]["after"]["value"] == 5


def test_locked_studies_offer_no_review(db_engine):
    setup = populate(db_engine, n_cases=2, methods=("unet2d",), n_readers=1)
    reader = setup.readers[0]
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        reading.submit_score(s, reader, item.assignment_id, 3, None, 2.0)
        assert reading.scored_items(s, reader, setup.study_id) == []
        with pytest.raises(ScoreLocked):
            reading.submit_score(s, reader, item.assignment_id, 4, None, 2.0)


def test_a_reader_withdraws_her_flag_once_audited_and_may_flag_again(db_engine):
    setup = populate(db_engine, n_cases=2, methods=("unet2d",), n_readers=1)
    reader = setup.readers[0]
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        made = reading.flag_item(s, reader, item.assignment_id, "other", "wrong side")
        gone = reading.withdraw_flag(s, reader, item.assignment_id)
        again = reading.withdraw_flag(s, reader, item.assignment_id)  # double click / 2nd tab
        view = reading.reader_item_view(s, reader, item.assignment_id)
        listed = progress.study_flags(s, setup.coordinator, setup.study_id)
        log = audit.audit_events(s, setup.coordinator, entity="item_flag")
    assert (gone.status, gone.flag_id, gone.reason) == ("withdrawn", made.flag_id, "other")
    assert (again.status, again.flag_id, again.reason) == ("absent", None, None)
    assert _flags(db_engine) == [] and view.flag_reason is None and listed.empty
    assert list(log["action"]) == ["flag.create", "flag.withdraw"]
    assert log.iloc[1]["before"] == {
        "assignment_id": item.assignment_id,
        "reason": "other",
        "note": "wrong side",
        "resolved_at": None,
    }
    assert log.iloc[1]["actor"] == reader.username and int(log.iloc[1]["entity_id"]) == made.flag_id
    with session_scope(db_engine) as s:  # withdrawn is not final: she may flag it again
        anew = reading.flag_item(s, reader, item.assignment_id, "unsure")
    assert anew.status == "created"
    assert _flags(db_engine) == [(item.assignment_id, "unsure", None)]


def test_only_her_own_flag_can_be_withdrawn_with_the_same_not_found(db_engine):
    setup = populate(db_engine, n_cases=2, methods=("unet2d",), n_readers=2)
    alice, bob = setup.readers[:2]
    with session_scope(db_engine) as s:
        hers = reading.next_item(s, alice)
        reading.flag_item(s, alice, hers.assignment_id, "unsure")
        with pytest.raises(NotFound) as other:
            reading.withdraw_flag(s, bob, hers.assignment_id)
        with pytest.raises(NotFound) as missing:
            reading.withdraw_flag(s, bob, 10**6)
        assert str(other.value).replace(str(hers.assignment_id), "#") == str(missing.value).replace(
            str(10**6), "#"
        )
        with pytest.raises(AccessDenied):  # a coordinator is not a reader
            reading.withdraw_flag(s, setup.coordinator, hers.assignment_id)
    assert _flags(db_engine) == [(hers.assignment_id, "unsure", None)]


def test_a_withdrawal_is_one_transaction(db_engine, monkeypatch):
    """The audit event fails: the flag is still there (the delete was rolled back)."""
    setup = populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1)
    reader = setup.readers[0]
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        reading.flag_item(s, reader, item.assignment_id, "unsure")

    def broken(*args, **kwargs):
        raise RuntimeError("audit down")

    monkeypatch.setattr(reading.audit, "record", broken)
    with pytest.raises(RuntimeError, match="audit down"):
        with session_scope(db_engine) as s:
            reading.withdraw_flag(s, reader, item.assignment_id)
    assert _flags(db_engine) == [(item.assignment_id, "unsure", None)]


def test_the_coordinator_marks_a_flag_resolved_and_a_new_reason_opens_it_again(db_engine):
    setup = populate(db_engine, n_cases=2, methods=("unet2d",), n_readers=1)
    reader = setup.readers[0]
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        flag = reading.flag_item(s, reader, item.assignment_id, "image_problem")
        first = progress.resolve_flag(s, setup.coordinator, flag.flag_id)
        again = progress.resolve_flag(s, setup.coordinator, flag.flag_id)
        resolved = progress.study_flags(s, setup.coordinator, setup.study_id)
        with pytest.raises(AccessDenied):
            progress.resolve_flag(s, reader, flag.flag_id)
        with pytest.raises(NotFound):
            progress.resolve_flag(s, setup.coordinator, 10**6)
        same = reading.flag_item(s, reader, item.assignment_id, "image_problem")  # a repeat
        still = progress.study_flags(s, setup.coordinator, setup.study_id)
        reading.flag_item(s, reader, item.assignment_id, "unsure")  # a new reason
        reopened = progress.study_flags(s, setup.coordinator, setup.study_id)
        log = audit.audit_events(s, setup.coordinator, entity="item_flag")
    assert (first, again, same.status) == ("resolved", "duplicate", "duplicate")
    assert resolved["flag"].tolist() == [flag.flag_id]
    assert resolved["resolved_at"].notna().all() and still["resolved_at"].notna().all()
    assert reopened["resolved_at"].isna().all()
    assert list(log["action"]) == ["flag.create", "flag.resolve", "flag.update"]
    assert log.iloc[1]["actor"] == setup.coordinator.username
    assert log.iloc[2]["after"] == {"reason": "unsure", "note": None, "resolved_at": None}
    with session_scope(db_engine) as s:  # her withdrawal of a resolved flag removes it too
        assert reading.withdraw_flag(s, reader, item.assignment_id).status == "withdrawn"
        with pytest.raises(NotFound):
            progress.resolve_flag(s, setup.coordinator, flag.flag_id)
