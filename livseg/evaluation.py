"""Evaluate folders of predicted label maps against a reference folder (NIfTI files).

Two layouts (both give one row per case x structure, as ``livseg.metrics.flatten_evaluation``):

- ``evaluate_folder(pred_dir, ref_dir)``: two folders of label maps matched by case id.
- ``evaluate_runs(runs_dir, cases_dir)``: the runs layout ``RUNS/<method>/<case_id>.nii.gz``
  (+ ``<case_id>.json`` with {"method", "case", "seconds", "device", "version", ...}) against
  a LiTS folder ``CASES/segmentation-<case_id>.nii.gz``; one row per case x method x
  structure with the run's seconds, device and version.

Case ids: ``livseg.naming.case_id`` (the file name without ``.nii`` / ``.nii.gz``, any
letter case, and without a leading ``segmentation-``, ``volume-`` or ``prediction-``). Ids
made only of digits are matched by their integer value (``naming.case_key``), so ``segmentation-0007.nii.gz``, ``segmentation-7.nii.gz`` and
``7.nii.gz`` are the same case; rows carry the reference file's own spelling (``"0007"``).
In a reference folder that holds ``segmentation-*`` files only those are references
(LiTS folders also hold ``volume-*`` CT files); otherwise every NIfTI file is one.

Both files of a pair are brought to livseg's canonical (LAS+) orientation
(``livseg.volume`` convention, loaded with ``livseg.io``) and must have the same shape
and affine (to ``livseg.io.AFFINE_TOLERANCE_MM`` = 0.01 mm),
otherwise a ``ValueError`` names the two files and what differs.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livseg import metrics
from livseg.io import AFFINE_TOLERANCE_MM, read_label_map
from livseg.naming import case_id, case_key, is_nifti_name, safe_child, strip_nifti_suffix

Progress = Callable[[int, int], None]


@dataclass
class LabelMap:
    """A label map (uint8, 0/1/2) on the canonical grid with its spacing (mm) and affine."""

    labels: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray
    path: Path


def load_label_map(path: Path | str) -> LabelMap:
    """Load a NIfTI label map with ``livseg.io`` (validated, canonical LAS+ grid), labels 0/1/2;
    a ``.dcm`` file as a DICOM-SEG (``livseg.dicom.seg``).

    Raises ``livseg.io.LivSegInputError`` (a ValueError) naming the file and the problem.
    """
    if Path(path).name.lower().endswith(".dcm"):  # DICOM-SEG: on the grid its frames span
        from livseg.dicom.seg import read_segmentation

        seg = read_segmentation(path)
        return LabelMap(seg.labels(), seg.spacing, seg.affine, Path(path))
    labels, affine, spacing = read_label_map(path)  # the stored values, not a float32 copy
    return LabelMap(labels, spacing, affine, Path(path))


def check_same_grid(pred: LabelMap, ref: LabelMap) -> None:
    """Raise ValueError when two label maps are not on the same voxel grid."""
    if pred.labels.shape != ref.labels.shape:
        raise ValueError(
            f"shape mismatch: prediction {pred.path} has {pred.labels.shape}, "
            f"reference {ref.path} has {ref.labels.shape}"
        )
    if not np.allclose(pred.affine, ref.affine, atol=AFFINE_TOLERANCE_MM, rtol=0):
        raise ValueError(
            f"affine mismatch (voxel -> mm differs by up to "
            f"{np.abs(pred.affine - ref.affine).max():.4g}): prediction {pred.path}\n"
            f"{np.array2string(pred.affine, precision=4)}\nreference {ref.path}\n"
            f"{np.array2string(ref.affine, precision=4)}"
        )


def evaluate_files(pred_path: Path | str, ref_path: Path | str) -> dict[str, dict]:
    """``livseg.metrics.evaluate_case`` for two NIfTI files (grid checked, reference spacing)."""
    pred = load_label_map(pred_path)
    ref = load_label_map(ref_path)
    check_same_grid(pred, ref)
    return metrics.evaluate_case(pred.labels, ref.labels, ref.spacing)


def _nifti_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_nifti_name(p))


def _index_by_case(files: list[Path], what: str) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in files:
        key = case_key(path)
        if key in index:
            raise ValueError(f"two {what} files for case {key!r}: {index[key].name}, {path.name}")
        index[key] = path
    return index


def reference_files(ref_dir: Path | str) -> dict[str, Path]:
    """Reference label maps of a folder by case key (``segmentation-*`` when there are any)."""
    folder = Path(ref_dir)
    if not folder.is_dir():
        raise ValueError(f"reference folder not found: {folder}")
    files = _nifti_files(folder)
    seg = [p for p in files if p.name.lower().startswith("segmentation-")]
    files = seg or [p for p in files if not p.name.lower().startswith("volume-")]
    if not files:
        raise ValueError(f"no reference label maps (segmentation-*.nii.gz / *.nii.gz) in {folder}")
    return _index_by_case(files, "reference")


def _prediction_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise ValueError(f"prediction folder not found: {folder}")
    files = [p for p in _nifti_files(folder) if not p.name.lower().startswith("volume-")]
    return _index_by_case(files, f"prediction (in {folder})")


def _rows(
    case_id: str, result: dict[str, dict], method: str | None = None, run: dict | None = None
) -> list[dict]:
    """Flat rows: case_id, [method], structure, metrics, lesion counts, [run fields]."""
    head = {"case_id": case_id} if method is None else {"case_id": case_id, "method": method}
    return [{**head, **row, **(run or {})} for row in metrics.flatten_evaluation(result)]


def evaluate_folder(
    pred_dir: Path | str, ref_dir: Path | str, progress: Progress | None = None
) -> list[dict]:
    """Rows (case_id, structure, metrics, lesion counts) for every prediction in ``pred_dir``.

    Predictions are matched to references by case id (see the module docstring). A
    prediction without a reference is an error; references without a prediction are
    skipped with a warning. ``progress(done, total)`` is called after each case.
    """
    refs = reference_files(ref_dir)
    preds = _prediction_files(Path(pred_dir))
    if not preds:
        raise ValueError(f"no prediction label maps (*.nii.gz) in {pred_dir}")
    orphans = sorted(p.name for k, p in preds.items() if k not in refs)
    if orphans:
        raise ValueError(f"no reference in {ref_dir} for predictions: {', '.join(orphans)}")
    missing = sorted(refs[k].name for k in refs if k not in preds)
    if missing:
        warnings.warn(f"no prediction for references: {', '.join(missing)}", stacklevel=2)
    keys = sorted(preds, key=_sort_key)
    rows: list[dict] = []
    if progress:
        progress(0, len(keys))
    for done, key in enumerate(keys, start=1):
        result = evaluate_files(preds[key], refs[key])
        rows += _rows(case_id(refs[key]), result)
        if progress:
            progress(done, len(keys))
    return rows


def _sort_key(key: str) -> tuple[int, int | str]:
    return (0, int(key)) if key.isdigit() else (1, key)


def read_run_info(pred_path: Path) -> dict:
    """The run's sidecar JSON (``<case_id>.json`` beside the prediction), {} if absent."""
    sidecar = pred_path.with_name(strip_nifti_suffix(pred_path.name) + ".json")
    if not sidecar.exists():
        return {}
    try:
        info = json.loads(sidecar.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read run file {sidecar}: {exc}") from exc
    if not isinstance(info, dict):
        raise ValueError(f"run file {sidecar} must hold a JSON object")
    return info


def _run_fields(info: dict) -> dict:
    seconds = info.get("seconds")
    try:
        seconds = float(seconds) if seconds is not None else math.nan
    except (TypeError, ValueError):
        seconds = math.nan
    return {"seconds": seconds, "device": info.get("device"), "version": info.get("version")}


def evaluate_runs(
    runs_dir: Path | str, cases_dir: Path | str, progress: Progress | None = None
) -> list[dict]:
    """Rows (case_id, method, structure, metrics, lesion counts, seconds, device, version).

    ``runs_dir/<method>/<case_id>.nii.gz`` against ``cases_dir/segmentation-<case_id>.nii.gz``;
    every sub-folder of ``runs_dir`` with NIfTI files is a method. Each reference is loaded
    once for all methods. ``progress(done, total)`` counts (case, method) pairs.
    """
    return evaluate_runs_with_lesions(runs_dir, cases_dir, progress=progress)[0]


def _method_folders(runs: Path, methods: list[str] | None) -> dict[str, dict[str, Path]]:
    """Predictions by case key for each method folder (all folders with NIfTI files, or
    the named ones)."""
    if methods is None:
        folders = [
            d for d in sorted(runs.iterdir()) if d.is_dir() and any(map(is_nifti_name, d.iterdir()))
        ]
    else:
        folders = [safe_child(runs, m) for m in methods]
        absent = [m for m, d in zip(methods, folders, strict=True) if not d.is_dir()]
        if absent:
            raise ValueError(f"no run folder for methods {absent} in {runs}")
    found = {d.name: _prediction_files(d) for d in folders}
    if not any(found.values()):
        raise ValueError(
            f"no method folders with predictions (<method>/<case_id>.nii.gz) in {runs}"
        )
    return found


def evaluate_runs_with_lesions(
    runs_dir: Path | str,
    cases_dir: Path | str,
    methods: list[str] | None = None,
    progress: Progress | None = None,
) -> tuple[list[dict], list[dict]]:
    """``evaluate_runs`` rows plus per-lesion rows (case_id, method and the keys of
    ``livseg.metrics.lesion_table``: lesion, voxels, volume_ml, diameter_mm, size_bin,
    detected, centroid_x/y/z), the same reference lesions in the same order for every
    method (for McNemar / Cochran's Q). ``methods``: only these method folders."""
    runs = Path(runs_dir)
    if not runs.is_dir():
        raise ValueError(f"runs folder not found: {runs}")
    refs = reference_files(cases_dir)
    by_method = _method_folders(runs, methods)
    for method, preds in by_method.items():
        orphans = sorted(p.name for k, p in preds.items() if k not in refs)
        if orphans:
            raise ValueError(
                f"method {method}: no reference segmentation-<id> in {cases_dir} for "
                f"{', '.join(orphans)}"
            )
        missing = sorted(case_id(refs[k]) for k in refs if k not in preds)
        if missing:
            warnings.warn(f"method {method}: no prediction for cases {missing}", stacklevel=3)
    keys = sorted({k for preds in by_method.values() for k in preds}, key=_sort_key)
    total = sum(len(preds) for preds in by_method.values())
    done = 0
    if progress:
        progress(0, total)
    rows: list[dict] = []
    lesion_rows: list[dict] = []
    for key in keys:
        ref = load_label_map(refs[key])
        cid = case_id(refs[key])
        for method, preds in by_method.items():
            if key not in preds:
                continue
            pred = load_label_map(preds[key])
            check_same_grid(pred, ref)
            result = metrics.evaluate_case(pred.labels, ref.labels, ref.spacing)
            run = _run_fields(read_run_info(preds[key]))
            rows += _rows(cid, result, method, run)
            lesion_rows += [
                {"case_id": cid, "method": method, **lesion}
                for lesion in result["tumour"]["lesion_table"]
            ]
            done += 1
            if progress:
                progress(done, total)
    return rows, lesion_rows
