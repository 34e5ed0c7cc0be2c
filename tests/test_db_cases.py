"""Case names are identities (issue 13 defect 2): an existing name is never replaced
silently, a replace is explicit and refused while a study uses the case, and the Cases
page's files of a case come from one query (reference first, newest run per method).
Checked with plain SQL on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from db import catalog
from db.access import SYSTEM
from db.engine import session_scope
from db.errors import CaseExists, CaseInUse
from tests.db_support import backend_params, open_test_engine, populate


@pytest.fixture(params=backend_params())
def db_engine(request, monkeypatch):
    yield from open_test_engine(request.param, monkeypatch)


def _case_row(engine, name: str):
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT id, image_path, label_path FROM cases WHERE name = :n"), {"n": name}
        ).one()


def _register(engine, name, image, labels, **options) -> int:
    with session_scope(engine) as s:
        return catalog.register_case(s, SYSTEM, name, image, labels, check_files=False, **options)


def test_an_existing_name_is_refused_and_the_case_kept(db_engine):
    first = _register(db_engine, "liver-1", "/a/ct.nii.gz", "/a/seg.nii.gz")
    assert _register(db_engine, "liver-1", "/a/ct.nii.gz", "/a/seg.nii.gz") == first  # a repeat
    with pytest.raises(CaseExists, match="A case named 'liver-1' already exists"):
        _register(db_engine, "liver-1", "/b/other.nii.gz", None)
    assert tuple(_case_row(db_engine, "liver-1")) == (first, "/a/ct.nii.gz", "/a/seg.nii.gz")


def test_an_explicit_replace_of_an_unused_case_is_audited(db_engine):
    first = _register(db_engine, "liver-1", "/a/ct.nii.gz", "/a/seg.nii.gz")
    again = _register(db_engine, "liver-1", "/b/ct.nii.gz", "/b/seg.nii.gz", replace=True)
    assert again == first
    assert tuple(_case_row(db_engine, "liver-1")) == (first, "/b/ct.nii.gz", "/b/seg.nii.gz")
    with db_engine.connect() as conn:
        actions = conn.execute(
            text("SELECT action FROM audit_events WHERE entity = 'case' ORDER BY id")
        ).scalars()
        assert list(actions) == ["case.create", "case.update"]


def test_a_case_a_study_uses_is_never_replaced(db_engine):
    setup = populate(db_engine, n_cases=2, methods=("unet2d",), n_readers=1)
    name = setup.cases[0]
    before = tuple(_case_row(db_engine, name))
    with pytest.raises(CaseInUse, match="used by the study 'Pilot'"):
        _register(db_engine, name, "/new/ct.nii.gz", None, replace=True)
    assert tuple(_case_row(db_engine, name)) == before  # its reference labels stay attached


def test_case_display_files_reference_then_newest_run_per_method(db_engine):
    setup = populate(db_engine, n_cases=1, methods=("unet2d", "classical"), n_readers=1)
    name = setup.cases[0]
    with session_scope(db_engine) as s:
        catalog.register_run(
            s, SYSTEM, name, "unet2d", "/runs/newer/unet2d.nii.gz", 2.0, check_files=False
        )
        image, panels = catalog.case_display_files(s, setup.coordinator, name)
    with db_engine.connect() as conn:
        truth = dict(
            conn.execute(
                text(
                    "SELECT m.name, r.prediction_path FROM runs r JOIN methods m "
                    "ON m.id = r.method_id WHERE r.id IN (SELECT max(id) FROM runs "
                    "GROUP BY case_id, method_id)"
                )
            ).all()
        )
    row = _case_row(db_engine, name)
    assert image == row.image_path
    assert list(panels) == ["Reference", "classical", "unet2d"]
    assert panels == {"Reference": row.label_path, **truth}
    assert panels["unet2d"] == "/runs/newer/unet2d.nii.gz"


def test_case_display_files_of_a_case_without_reference_has_no_reference_panel(db_engine):
    _register(db_engine, "no-labels", "/a/ct.nii.gz", None)
    with session_scope(db_engine) as s:
        image, panels = catalog.case_display_files(s, SYSTEM, "no-labels")
    assert (image, panels) == ("/a/ct.nii.gz", {})
