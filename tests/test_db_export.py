"""Exports and progress against hand-computed values; catalogue input checks."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest
from medpy.metric.binary import dc, jc
from sqlalchemy import text

from db import catalog, export, progress, reading
from db.access import SYSTEM
from db.engine import session_scope
from db.errors import InvalidInput, NotFound
from tests.db_support import backend_params, open_test_engine, populate


@pytest.fixture(params=backend_params())
def db_engine(request, monkeypatch):
    yield from open_test_engine(request.param, monkeypatch)


def _item_truth(engine):
    with engine.connect() as conn:
        return {
            r.aid: (r.reader, r.case_name, r.method, r.session_number, r.code)
            for r in conn.execute(
                text(
                    "SELECT a.id AS aid, u.username AS reader, c.name AS case_name, "
                    "m.name AS method, a.session_number, a.code FROM assignments a "
                    "JOIN users u ON u.id = a.reader_id JOIN items i ON i.id = a.item_id "
                    "JOIN cases c ON c.id = i.case_id JOIN methods m ON m.id = i.method_id"
                )
            )
        }


def test_scores_long_scores_table_csv_and_progress(db_engine, tmp_path):
    setup = populate(
        db_engine,
        n_cases=2,
        methods=("unet2d", "classical"),
        n_readers=2,
        retest_fraction=0.25,
        washout_days=0,
        confirm_short_washout=True,
    )
    truth = _item_truth(db_engine)
    given = {}  # aid -> (score, comment, seconds)
    plan = {
        "r00": [(5, "clean", 10.0), (4, None, 20.0), (2, "misses lesion", 40.0)],
        "r01": [(3, None, 7.0)],
    }
    with session_scope(db_engine) as s:
        for reader in setup.readers:
            for score, comment, secs in plan[reader.username]:
                item = reading.next_item(s, reader)
                reading.submit_score(s, reader, item.assignment_id, score, comment, secs)
                given[item.assignment_id] = (score, comment, secs)
        long = export.scores_long(s, setup.coordinator, setup.study_id)
        table = export.scores_table(s, setup.coordinator, setup.study_id)
        path = export.write_scores_csv(s, setup.coordinator, tmp_path / "out" / "scores.csv")
        per_reader = progress.study_progress(s, setup.coordinator, setup.study_id)
        summary = progress.study_summary(s, setup.coordinator, setup.study_id)

    expected = pd.DataFrame(
        [
            {
                "study": "Pilot",
                "reader": truth[a][0],
                "session": truth[a][3],
                "case": truth[a][1],
                "method": truth[a][2],
                "reading_code": truth[a][4],
                "score": v[0],
                "comment": v[1],
                "seconds": v[2],
            }
            for a, v in sorted(given.items())
        ]
    )
    got = long[list(expected.columns)]
    pd.testing.assert_frame_equal(
        got.sort_values(["reader", "case", "method"]).reset_index(drop=True),
        expected.sort_values(["reader", "case", "method"]).reset_index(drop=True),
        check_dtype=False,
    )
    assert list(long.columns) == export.SCORES_LONG_COLUMNS
    assert long["created_at"].notna().all() and (long["revision"] == 1).all()
    assert list(table.columns) == ["case", "method", "reader", "score"]
    assert sorted(table["score"]) == [2, 3, 4, 5]
    csv = pd.read_csv(path)
    assert len(csv) == 4 and sorted(csv["score"]) == [2, 3, 4, 5]
    assert set(csv["comment"].dropna()) == {"clean", "misses lesion"}

    # progress: 4 items + 1 re-read per reader; hand-computed medians
    assert list(per_reader["reader"]) == ["r00", "r01"]
    assert list(per_reader["done"]) == [3, 1] and list(per_reader["total"]) == [5, 5]
    assert per_reader["median_seconds"].tolist() == [20.0, 7.0]
    assert per_reader["fraction"].tolist() == pytest.approx([3 / 5, 1 / 5])
    assert summary["done"] == 4 and summary["total"] == 10
    assert summary["median_seconds"] == statistics.median([10.0, 20.0, 40.0, 7.0]) == 15.0


def test_metrics_table_uses_newest_runs_and_the_chosen_structure(db_engine):
    setup = populate(db_engine, n_cases=2, methods=("unet2d", "classical"), n_readers=1)
    with db_engine.connect() as conn:
        run_ids = {
            (r.case_name, r.method): r.id
            for r in conn.execute(
                text(
                    "SELECT r.id, c.name AS case_name, m.name AS method FROM runs r "
                    "JOIN cases c ON c.id = r.case_id JOIN methods m ON m.id = r.method_id"
                )
            )
        }
    with session_scope(db_engine) as s:
        for (case, method), rid in run_ids.items():
            k = setup.cases.index(case) + 10 * setup.methods.index(method)
            catalog.add_evaluations(
                s,
                SYSTEM,
                rid,
                "tumour",
                {
                    "dsc": 0.5 + k / 100,
                    "jaccard": 0.3,
                    "hd_mm": float("nan"),
                    "volume_error_pct": -4.0 - k,
                    "lesions": {"detected": 1},
                    "lesion_table": [],
                },
            )
            catalog.add_evaluations(s, SYSTEM, rid, "liver", {"dsc": 0.95, "hd_mm": 7.5})
        # a newer run of case_000 x unet2d (12.5 s) replaces the old one in the table
        newer = catalog.register_run(
            s,
            SYSTEM,
            "case_000",
            "unet2d",
            "/runs/v2.nii.gz",
            12.5,
            method_version="unet2d-v2",
            check_files=False,
        )
        catalog.add_evaluations(s, SYSTEM, newer, "tumour", {"dsc": 0.99, "volume_error_pct": 2.0})
        tumour = export.metrics_table(s, setup.coordinator, "tumour")
        liver = export.metrics_table(s, setup.coordinator, structure="liver")
        in_study = export.metrics_table(s, setup.coordinator, "tumour", study_id=setup.study_id)
        with pytest.raises(InvalidInput, match="structure"):
            export.metrics_table(s, setup.coordinator, "spleen")
    assert list(tumour.columns[:7]) == ["case", "method", "DSC", "JI", "HD_mm", "time_s", "VER_pct"]
    row = tumour.set_index(["case", "method"])
    # populate: run seconds 10 + method index
    assert row.loc[
        ("case_000", "unet2d"), ["DSC", "VER_pct", "VE_signed_pct", "time_s"]
    ].tolist() == [0.99, 2.0, 2.0, 12.5]
    assert math.isnan(row.loc[("case_000", "unet2d"), "JI"])
    assert row.loc[
        ("case_001", "classical"), ["DSC", "JI", "VER_pct", "time_s"]
    ].tolist() == pytest.approx([0.61, 0.3, 15.0, 11.0])
    assert math.isnan(row.loc[("case_001", "classical"), "HD_mm"])  # NaN stored as NULL
    # the newest case_000 x unet2d run has no liver evaluation: NaN there
    assert liver["DSC"].isna().tolist() == [False, True, False, False]
    assert sorted(liver["HD_mm"].dropna().tolist()) == [7.5, 7.5, 7.5]
    # the study still shows the runs its items were created with
    study_row = in_study.set_index(["case", "method"])
    assert study_row.loc[("case_000", "unet2d"), "DSC"] == pytest.approx(0.5)
    assert study_row.loc[("case_000", "unet2d"), "time_s"] == 10.0


def test_evaluate_case_output_round_trips_against_medpy(db_engine):
    from livseg.metrics import evaluate_case, lesion_table

    setup = populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1)
    ref = np.zeros((24, 24, 12), np.uint8)
    ref[4:20, 4:20, 2:10] = 1
    ref[6:10, 6:10, 4:8] = 2
    ref[14:17, 14:17, 5:7] = 2
    pred = ref.copy()
    pred[4:20, 4:8, 2:10] = 0
    pred[14:17, 14:17, 5:7] = 1  # second lesion missed
    spacing = (0.8, 0.8, 2.5)
    result = evaluate_case(pred, ref, spacing)
    with db_engine.connect() as conn:
        rid = conn.execute(text("SELECT id FROM runs")).scalar_one()
    with session_scope(db_engine) as s:
        for structure in ("liver", "tumour"):
            catalog.add_evaluations(s, SYSTEM, rid, structure, result[structure])
        catalog.add_lesion_detections(s, SYSTEM, rid, lesion_table(pred, ref, spacing))
        tumour = export.metrics_table(s, setup.coordinator, "tumour").iloc[0]
        liver = export.metrics_table(s, setup.coordinator, "liver").iloc[0]
        lesions = export.lesions_table(s, setup.coordinator)
    assert tumour["DSC"] == pytest.approx(dc(pred == 2, ref == 2))
    assert tumour["JI"] == pytest.approx(jc(pred == 2, ref == 2))
    assert liver["DSC"] == pytest.approx(dc(pred > 0, ref > 0))
    assert lesions[["case", "lesion", "method"]].values.tolist() == [
        ["case_000", "case_000#1", "unet2d"],
        ["case_000", "case_000#2", "unet2d"],
    ]
    assert sorted(lesions["detected"].tolist()) == [False, True]
    assert lesions["volume_ml"].sum() == pytest.approx((64 + 18) * 0.8 * 0.8 * 2.5 / 1000)


def test_catalogue_bad_input_is_refused(db_engine, tmp_path):
    setup = populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1)
    with db_engine.connect() as conn:
        rid = conn.execute(text("SELECT id FROM runs")).scalar_one()
        n_eval = conn.execute(text("SELECT COUNT(*) FROM evaluations")).scalar_one()
    real = tmp_path / "ct.nii.gz"
    real.write_bytes(b"x")
    with session_scope(db_engine) as s:
        with pytest.raises(InvalidInput, match="does not exist"):
            catalog.register_case(s, SYSTEM, "case_new", tmp_path / "missing.nii.gz")
        assert catalog.register_case(s, SYSTEM, "case_new", real) > 0
        with pytest.raises(InvalidInput, match="name"):
            catalog.register_case(s, SYSTEM, "  ", real)
        with pytest.raises(InvalidInput, match="split"):
            catalog.register_case(s, SYSTEM, "case_x", real, split="validation")
        with pytest.raises(NotFound, match="No case named 'ghost'"):
            catalog.register_run(s, SYSTEM, "ghost", "unet2d", real, 1.0)
        with pytest.raises(NotFound, match="No method named 'magic'"):
            catalog.register_run(s, SYSTEM, "case_new", "magic", real, 1.0)
        for bad in (-1.0, float("nan"), "fast"):
            with pytest.raises(InvalidInput, match="seconds"):
                catalog.register_run(s, SYSTEM, "case_new", "unet2d", real, bad)
        with pytest.raises(InvalidInput, match="structure"):
            catalog.add_evaluations(s, SYSTEM, rid, "spleen", {"dsc": 0.9})
        with pytest.raises(InvalidInput, match="must be a number"):
            catalog.add_evaluations(s, SYSTEM, rid, "liver", {"dsc": "high"})
        with pytest.raises(NotFound, match="No run"):
            catalog.add_evaluations(s, SYSTEM, 99_999, "liver", {"dsc": 0.9})
        with pytest.raises(InvalidInput, match="lesion"):
            catalog.add_lesion_detections(s, SYSTEM, rid, [{"lesion": 0, "detected": True}])
        with pytest.raises(InvalidInput, match="detected"):
            catalog.add_lesion_detections(s, SYSTEM, rid, [{"lesion": 1, "detected": "yes"}])
        assert list(catalog.list_cases(s, setup.coordinator)["name"]) == ["case_000", "case_new"]
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM evaluations")).scalar_one() == n_eval
        assert conn.execute(text("SELECT COUNT(*) FROM runs")).scalar_one() == 1
