"""A small reader study for the app's tests, made without the segmentation methods.

Phantom cases (``livseg.phantom``, size "small") and two stand-in "methods" whose results are
the reference label map altered in known ways; then the real ``livseg.demo`` evaluation and
``db.demo.register_demo`` (cases, runs, metrics, three readers, an open study). The stand-in
method names are deliberately distinctive so blinding tests can search for them.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from livseg.demo import DemoConfig, DemoFiles, write_demo_tables
from livseg.evaluation import load_label_map
from livseg.inference import RunRecord
from livseg.metrics import evaluate_case
from livseg.pipeline import EvaluatedRun

FAKE_METHODS = ("zebra_method_one", "quokka_method_two")
FAKE_VERSIONS = {"zebra_method_one": "a1b2c3d4e5f6a7b8", "quokka_method_two": "0f9e8d7c6b5a4f3e"}
COORDINATOR = ("coord", "coordinator-pass-1")


def _altered(labels: np.ndarray, method: str) -> np.ndarray:
    """zebra: liver eroded by one voxel; quokka: tumours dilated by one voxel (inside the
    liver) and the smallest reference lesion missed (called liver) when there are several."""
    out = labels.copy()
    if method == FAKE_METHODS[0]:
        inside = ndimage.binary_erosion(labels > 0)
        out[(labels > 0) & ~inside] = 0
        return out
    lesions, n = ndimage.label(labels == 2, structure=np.ones((3, 3, 3)))
    out[ndimage.binary_dilation(labels == 2) & (labels > 0)] = 2
    if n >= 2:
        sizes = ndimage.sum_labels(np.ones_like(lesions), lesions, index=range(1, n + 1))
        smallest = lesions == 1 + int(np.argmin(sizes))
        out[ndimage.binary_dilation(smallest, iterations=2) & (out == 2)] = 1
    return out


def make_demo_files(root: Path, n_cases: int = 2, seed: int = 11) -> DemoFiles:
    """Write cases and stand-in runs under ``root``; their evaluations (``evaluate_case`` on
    the files read back) are handed over in memory as ``livseg.demo.prepare_demo`` does."""
    from livseg.phantom import write_dataset

    cases_dir, runs_dir = root / "cases", root / "runs"
    write_dataset(cases_dir, n_cases, seed, size="small")
    case_ids = [str(i) for i in range(n_cases)]
    runs = []
    for method in FAKE_METHODS:
        (runs_dir / method).mkdir(parents=True, exist_ok=True)
        for case_id in case_ids:
            ref = nib.load(cases_dir / f"segmentation-{case_id}.nii.gz")
            labels = np.asarray(ref.dataobj).astype(np.uint8)
            pred = nib.Nifti1Image(_altered(labels, method), ref.affine)
            pred_path = runs_dir / method / f"{case_id}.nii.gz"
            nib.save(pred, pred_path)
            info = {
                "method": method,
                "case": case_id,
                "seconds": 1.0 + 0.5 * int(case_id) + (0.25 if method == FAKE_METHODS[0] else 0.0),
                "device": "cpu",
                "version": FAKE_VERSIONS[method],
            }
            info_path = runs_dir / method / f"{case_id}.json"
            info_path.write_text(json.dumps(info))
            reference = load_label_map(cases_dir / f"segmentation-{case_id}.nii.gz")
            predicted = load_label_map(pred_path)
            record = RunRecord(
                method=method,
                case=case_id,
                labels_path=pred_path,
                info_path=info_path,
                seconds=info["seconds"],
                device="cpu",
                version=FAKE_VERSIONS[method],
                threads=None,
            )
            evaluation = evaluate_case(predicted.labels, reference.labels, reference.spacing)
            runs.append(EvaluatedRun(case_id, method, record, evaluation))
    metrics_csv, lesions_csv = write_demo_tables(runs, root)
    return DemoFiles(
        root=root,
        cases_dir=cases_dir,
        runs_dir=runs_dir,
        metrics_csv=metrics_csv,
        lesions_csv=lesions_csv,
        case_ids=case_ids,
        methods=list(FAKE_METHODS),
        config=DemoConfig(n_cases=n_cases, size="small", seed=seed),
        runs=runs,
    )


def seed_study(workspace: Path, n_cases: int = 2):
    """Coordinator account + the stand-in demo registered in the workspace's database.

    Returns (coordinator Actor, DemoFiles, DemoResult with the readers' initial passwords).
    """
    from db import auth
    from db.demo import register_demo
    from db.engine import get_engine, init_db, session_scope

    engine = get_engine(f"sqlite:///{workspace / 'livseg.db'}")
    init_db(engine)
    files = make_demo_files(workspace / "demo", n_cases=n_cases)
    with session_scope(engine) as session:
        coordinator = auth.create_first_coordinator(session, *COORDINATOR)
        result = register_demo(session, coordinator, files)
    return coordinator, files, result
