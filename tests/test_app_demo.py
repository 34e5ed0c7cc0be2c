"""The demo set-up (livseg.demo, python -m livseg demo, db.demo): configuration, bad input,
the orchestration (phantoms -> runs -> metrics files) with stand-in methods, and the database
part (accounts, open study)."""

from __future__ import annotations

import csv
import json
import sqlite3

import nibabel as nib
import numpy as np
import pytest
from medpy.metric.binary import dc

import livseg.demo as demo
from livseg.cli import main as livseg_main
from livseg.demo import DemoConfig, DemoError, prepare_demo


def test_config_from_environment():
    env = {"LIVSEG_DEMO_CASES": "3", "LIVSEG_DEMO_SIZE": "small", "LIVSEG_DEMO_SEED": "5"}
    assert DemoConfig.from_env(env) == DemoConfig(n_cases=3, size="small", seed=5)
    assert DemoConfig.from_env({}) == DemoConfig(n_cases=4, size="full", seed=demo.DEFAULT_SEED)
    assert DemoConfig.from_env({"LIVSEG_DEMO_METHODS": " unet2d, classical "}).methods == (
        "unet2d",
        "classical",
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LIVSEG_DEMO_CASES": "two"}, "must be integers"),
        ({"LIVSEG_DEMO_CASES": "0"}, "number of cases must be an integer 1-50, got 0"),
        ({"LIVSEG_DEMO_CASES": "51"}, "got 51"),
        ({"LIVSEG_DEMO_SIZE": "huge"}, "size must be one of ('small', 'full'), got 'huge'"),
    ],
)
def test_bad_configuration_is_refused_clearly(env, message):
    with pytest.raises(ValueError) as err:
        DemoConfig.from_env(env)
    assert message in str(err.value)


def test_cli_refuses_bad_arguments(capsys):
    assert livseg_main(["demo", "--cases", "0"]) == 2
    assert "number of cases must be an integer 1-50" in capsys.readouterr().err


def test_unknown_method_is_named(monkeypatch):
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['nonsense'\]"):
        demo.available_methods(("nonsense",))


def _standin_run_method(method_name, volume, device="auto", threads=None):
    """Stand-in for livseg.inference.run_method: 'erode' = the reference liver eroded one
    voxel; 'broken' fails like a method whose weights cannot load."""
    from scipy import ndimage

    from livseg.inference import RunResult
    from livseg.io import load_labels

    if method_name == "broken":
        raise RuntimeError("weights damaged")
    image = str(volume.source["path"])
    labels = load_labels(image.replace("volume-", "segmentation-"), like=volume)
    out = labels.copy()
    out[(labels > 0) & ~ndimage.binary_erosion(labels > 0)] = 0
    return RunResult(labels=out, seconds=0.5, device="cpu", version="v1", params={})


def test_prepare_demo_writes_cases_runs_and_metrics(tmp_path, monkeypatch):
    monkeypatch.setattr(
        demo,
        "available_methods",
        lambda wanted=None: (["erode", "broken"], {"absent": "FileNotFoundError: no weights"}),
    )
    monkeypatch.setattr("livseg.pipeline.run_method", _standin_run_method)
    fractions = []
    files = prepare_demo(
        DemoConfig(n_cases=2, size="small", seed=3),
        out_dir=tmp_path / "demo",
        progress=lambda f, text: fractions.append(f),
    )
    assert files.case_ids == ["0", "1"]
    assert files.practice_case_ids == ["2"]  # one more phantom, for the practice item
    assert files.methods == ["erode"]
    assert files.skipped == {
        "absent": "FileNotFoundError: no weights",
        "broken": "RuntimeError: weights damaged",
    }
    assert not (files.runs_dir / "broken").exists()
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    rows = list(csv.DictReader(files.metrics_csv.open()))
    assert {(r["case_id"], r["method"], r["structure"]) for r in rows} == {
        (c, "erode", s) for c in ("0", "1") for s in ("liver", "tumour")
    }  # the practice case "2" is run (its item needs it) but never analysed
    for row in rows:
        if row["structure"] != "liver":
            continue
        ref = np.asarray(
            nib.load(files.cases_dir / f"segmentation-{row['case_id']}.nii.gz").dataobj
        )
        pred = np.asarray(nib.load(files.runs_dir / "erode" / f"{row['case_id']}.nii.gz").dataobj)
        assert float(row["dsc"]) == pytest.approx(dc(pred > 0, ref > 0), abs=1e-9)
        assert float(row["seconds"]) == 0.5
    # the same runs are handed over in memory (what the database records)
    assert [(r.case, r.method) for r in files.runs] == [
        ("0", "erode"),
        ("1", "erode"),
        ("2", "erode"),
    ]
    for item in files.runs:
        ref = np.asarray(nib.load(files.cases_dir / f"segmentation-{item.case}.nii.gz").dataobj)
        pred = np.asarray(nib.load(item.run.labels_path).dataobj)
        assert item.evaluation["liver"]["dsc"] == pytest.approx(dc(pred > 0, ref > 0), abs=1e-9)
    lesions = list(csv.DictReader(files.lesions_csv.open()))
    manifest = json.loads((files.cases_dir / "manifest.json").read_text())
    analysed = [c for c in manifest["cases"] if str(c["index"]) in files.case_ids]
    assert len(analysed) == 2 and {r["case_id"] for r in lesions} <= set(files.case_ids)
    assert len(lesions) == sum(len(c["lesions"]) for c in analysed)
    record = json.loads((files.root / "demo.json").read_text())
    assert record["methods"] == ["erode"] and record["config"]["n_cases"] == 2


def test_prepare_demo_without_any_method_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(
        demo, "available_methods", lambda wanted=None: ([], {"unet2d": "FileNotFoundError: x"})
    )
    with pytest.raises(DemoError, match="no segmentation method can be loaded here"):
        prepare_demo(DemoConfig(n_cases=1, size="small"), out_dir=tmp_path / "demo")


def test_register_demo_creates_readers_and_an_open_study(tmp_path, monkeypatch):
    from tests.apps.study_fixture import FAKE_METHODS, seed_study

    monkeypatch.setenv("LIVSEG_BCRYPT_ROUNDS", "4")
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.setenv("LIVSEG_WORKSPACE", str(ws))
    _, files, result = seed_study(ws)
    assert [u for u, _ in result.new_passwords] == ["reader1", "reader2", "reader3"]
    assert result.study_name == "Demo study" and result.runs == 4
    with sqlite3.connect(ws / "livseg.db") as con:
        assert con.execute("select status from studies").fetchall() == [("open",)]
        per_reader = con.execute(
            "select u.username, count(*) from assignments a join users u on u.id = a.reader_id "
            "group by u.username order by u.username"
        ).fetchall()
        n_eval = con.execute("select count(*) from evaluations").fetchone()[0]
        n_lesions = con.execute("select count(*) from lesion_detections").fetchone()[0]
    assert per_reader == [("reader1", 4), ("reader2", 4), ("reader3", 4)]
    assert n_eval > 0 and n_lesions == 2 * 2 * len(FAKE_METHODS)  # 2 lesions per case

    # a second demo is refused unless confirmed; confirmed, it reuses the readers (no new
    # passwords), names its cases apart and opens "Demo study 2"
    from db.access import SYSTEM
    from db.demo import register_demo
    from db.engine import get_engine, session_scope
    from db.errors import DemoExists

    with session_scope(get_engine()) as session, pytest.raises(DemoExists, match="Demo study"):
        register_demo(session, SYSTEM, files)
    with session_scope(get_engine()) as session:
        again = register_demo(session, SYSTEM, files, another=True)
    assert again.new_passwords == [] and again.study_name == "Demo study 2"
    assert again.cases == ["demo2-0", "demo2-1"]


def test_livseg_demo_does_not_replace_an_earlier_demo_unless_asked(tmp_path, monkeypatch, capsys):
    """The files of a demo may be used by a study: a second run into the same folder is
    refused (nothing touched) unless --replace."""
    monkeypatch.setattr(demo, "available_methods", lambda wanted=None: (["erode"], {}))
    monkeypatch.setattr("livseg.pipeline.run_method", _standin_run_method)
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--cases", "1", "--size", "small", "--methods", "all"]
    assert livseg_main(args) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert livseg_main(args) == 1
    assert "already holds a demo" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert livseg_main([*args, "--replace"]) == 0
