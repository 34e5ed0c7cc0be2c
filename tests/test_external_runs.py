"""``python -m db import-runs`` / ``db.external_runs``: another program's predictions become
runs of an external method (SQLite and PostgreSQL). Metrics are checked against MedPy on the
arrays the test wrote; the database is read back with plain SQL."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from medpy.metric import binary as medpy_binary
from sqlalchemy import text

from db import catalog
from db.access import SYSTEM
from db.engine import session_scope
from db.errors import InvalidInput
from db.external_runs import import_runs
from livseg.label_mapping import map_labels, parse_mapping
from tests.db_support import backend_params, open_test_engine
from tests.dicom_support import write_series

AFFINE = np.diag([-0.8, 0.8, 2.0, 1.0])  # canonical LAS+: loads unchanged


@pytest.fixture(params=backend_params())
def db_engine(request, monkeypatch):
    yield from open_test_engine(request.param, monkeypatch)


def _reference(shape=(20, 18, 8)) -> np.ndarray:
    ref = np.zeros(shape, dtype=np.uint8)
    ref[3:15, 4:14, 1:7] = 1
    ref[6:9, 6:9, 3:5] = 2
    return ref


def _save(array, path, affine=AFFINE):
    nib.save(nib.Nifti1Image(np.asarray(array), affine), str(path))
    return path


@pytest.fixture
def cases(tmp_path, db_engine):
    """Cases c1, c2 (NIfTI) and d1 (a DICOM series) with references, registered."""
    rng = np.random.default_rng(1)
    ref = _reference()
    folder = tmp_path / "cases"
    folder.mkdir()
    with session_scope(db_engine) as s:
        for name in ("c1", "c2"):
            image = _save(
                rng.normal(50, 20, ref.shape).astype(np.float32), folder / f"{name}_ct.nii.gz"
            )
            label = _save(ref, folder / f"{name}_seg.nii.gz")
            catalog.register_case(s, SYSTEM, name, image, label)
        native = rng.integers(-100, 200, size=ref.shape).astype(np.float32)
        write_series(folder / "d1", native)
        from livseg.io import load_volume, save_labels

        vol = load_volume(folder / "d1")
        save_labels(ref, vol, folder / "d1_seg.nii.gz")
        catalog.register_case(
            s, SYSTEM, "d1", str(folder / "d1"), folder / "d1_seg.nii.gz", check_files=False
        )
    return ref, vol


def _total_segmentator_like(ref: np.ndarray) -> np.ndarray:
    """Liver = 5 (one slab missed), spleen = 1 next to it, as TotalSegmentator numbers them."""
    out = np.zeros(ref.shape, dtype=np.uint8)
    out[ref > 0] = 5
    out[:, :, 1] = np.where(out[:, :, 1] == 5, 0, out[:, :, 1])
    out[16:19, 2:6, 2:6] = 1
    return out


def test_import_maps_checks_each_file_and_evaluates(db_engine, cases, tmp_path):
    ref, _ = cases
    preds = tmp_path / "preds"
    preds.mkdir()
    pred = _total_segmentator_like(ref)
    _save(pred, preds / "c1.nii.gz")
    (preds / "c1.json").write_text(json.dumps({"seconds": 12.5, "version": "TotalSegmentator 2.4"}))
    _save(pred[:-2], preds / "prediction-c2.nii.gz")  # wrong grid
    _save(pred, preds / "stranger.nii.gz")  # no such case
    with session_scope(db_engine) as s:
        report = import_runs(
            s, SYSTEM, "totalseg", "TotalSegmentator 2", preds, parse_mapping(["liver=5"])
        )
    assert [r["case"] for r in report.imported] == ["c1"]
    assert len(report.problems) == 1
    file, message = report.problems[0]
    assert file.endswith("prediction-c2.nii.gz") and "shape (18, 18, 8) differs" in message
    assert report.unmatched and report.unmatched[0].endswith("stranger.nii.gz")
    expected = float(medpy_binary.dc(pred == 5, ref > 0))
    assert report.imported[0]["liver_dsc"] == pytest.approx(expected, abs=1e-9)
    with db_engine.connect() as conn:
        method = conn.execute(
            text("SELECT id, title, kind FROM methods WHERE name = 'totalseg'")
        ).one()
        assert (method.title, method.kind) == ("TotalSegmentator 2", "external")
        run = conn.execute(
            text(
                "SELECT id, seconds, method_version, prediction_path FROM runs WHERE method_id = :m"
            ),
            {"m": method.id},
        ).one()
        assert run.seconds == 12.5 and run.method_version == "TotalSegmentator 2.4"
        dsc = conn.execute(
            text(
                "SELECT value FROM evaluations WHERE run_id = :r AND structure = 'liver' AND metric = 'dsc'"
            ),
            {"r": run.id},
        ).scalar_one()
        assert dsc == pytest.approx(expected, abs=1e-9)
        tumour = conn.execute(
            text(
                "SELECT value FROM evaluations WHERE run_id = :r AND structure = 'tumour' AND metric = 'dsc'"
            ),
            {"r": run.id},
        ).scalar_one()
        assert tumour == pytest.approx(0.0)  # no tumour mapped: all of it missed
        audit = conn.execute(
            text("SELECT count(*) FROM audit_events WHERE action = 'runs.import'")
        ).scalar_one()
        assert audit == 1
    with session_scope(db_engine) as s:
        listed = catalog.list_methods(s, SYSTEM).set_index("name")
    assert listed.loc["totalseg", "title"] == "TotalSegmentator 2"
    assert listed.loc["totalseg", "kind"] == "external"
    # the stored prediction is LivSeg's 0/1/2 map on the image grid
    stored = np.asarray(nib.load(run.prediction_path).dataobj)
    np.testing.assert_array_equal(stored, np.where(pred == 5, 1, 0))
    # importing again updates the same run
    with session_scope(db_engine) as s:
        again = import_runs(
            s, SYSTEM, "totalseg", "TotalSegmentator 2", preds, parse_mapping(["liver=5"])
        )
    assert again.imported[0]["run_id"] == report.imported[0]["run_id"]
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM runs")).scalar_one() == 1


def test_binary_mask_is_liver_and_seconds_unknown_without_sidecar(db_engine, cases, tmp_path):
    ref, _ = cases
    preds = tmp_path / "preds"
    preds.mkdir()
    _save((ref > 0).astype(np.uint8), preds / "0c2.nii.gz")  # no such case
    _save((ref > 0).astype(np.uint8), preds / "c2.nii")
    with session_scope(db_engine) as s:
        report = import_runs(s, SYSTEM, "binary_tool", None, preds)
    assert [r["case"] for r in report.imported] == ["c2"]
    assert report.imported[0]["liver_dsc"] == pytest.approx(1.0)
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT seconds FROM runs")).scalar_one() is None
        assert (
            conn.execute(text("SELECT title FROM methods WHERE name = 'binary_tool'")).scalar_one()
            == "binary_tool"
        )


def test_dicom_seg_prediction_for_a_dicom_case(db_engine, cases, tmp_path):
    ref, vol = cases
    from livseg.dicom.seg import write_segmentation

    pred = ref.copy()
    pred[3:6] = 0  # miss part of the liver
    preds = tmp_path / "preds"
    write_segmentation(pred, vol, preds / "d1.dcm", "vendor-x", "3.1")
    with session_scope(db_engine) as s:
        report = import_runs(s, SYSTEM, "vendor_x", "Vendor X", preds)
    assert [r["case"] for r in report.imported] == ["d1"], report.lines()
    expected = float(medpy_binary.dc(pred > 0, ref > 0))
    assert report.imported[0]["liver_dsc"] == pytest.approx(expected, abs=1e-9)


def test_multilabel_without_mapping_and_builtin_names_are_refused(db_engine, cases, tmp_path):
    ref, _ = cases
    preds = tmp_path / "preds"
    preds.mkdir()
    _save(_total_segmentator_like(ref), preds / "c1.nii.gz")
    with session_scope(db_engine) as s:
        report = import_runs(s, SYSTEM, "ts", "TS", preds)
        assert not report.imported
        assert "label values 0, 1, 5: give a mapping" in report.problems[0][1]
        catalog.register_method(s, SYSTEM, "unet2d")
        with pytest.raises(InvalidInput, match="'unet2d' is a builtin method"):
            import_runs(s, SYSTEM, "unet2d", "x", preds, parse_mapping(["liver=5"]))
        with pytest.raises(InvalidInput, match="not usable"):
            import_runs(s, SYSTEM, "../evil", "x", preds)
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM runs")).scalar_one() == 0


def test_cli_import_runs(db_engine, cases, tmp_path, capsys):
    from db.__main__ import main

    ref, _ = cases
    preds = tmp_path / "preds"
    preds.mkdir()
    _save(_total_segmentator_like(ref), preds / "c1.nii.gz")
    url = db_engine.url.render_as_string(hide_password=False)
    code = main(
        [
            "--url",
            url,
            "import-runs",
            "--method",
            "ts",
            "--title",
            "Total Seg",
            "--dir",
            str(preds),
            "--label",
            "liver=5",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ts: 1 runs imported" in out and "c1: c1.nii.gz (liver DSC" in out
    assert (
        main(
            [
                "--url",
                url,
                "import-runs",
                "--method",
                "ts",
                "--dir",
                str(preds),
                "--label",
                "lung=3",
            ]
        )
        == 2
    )
    assert "expected liver=N" in capsys.readouterr().err


def test_label_mapping_rules():
    values = np.array([0, 1, 5, 6, 7, 5])
    out = map_labels(values, parse_mapping(["liver=5", "tumour=6,7"]))
    np.testing.assert_array_equal(out, [0, 0, 1, 2, 2, 1])
    np.testing.assert_array_equal(map_labels(np.array([0, 1, 2]), None), [0, 1, 2])
    with pytest.raises(ValueError, match="both liver and tumour"):
        parse_mapping(["liver=5", "tumour=5"])
    with pytest.raises(ValueError, match="none of the mapped values"):
        map_labels(values, parse_mapping(["liver=9"]))
