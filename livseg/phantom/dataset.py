"""Datasets of phantoms: case seeds, the 8:2 train/test split, LiTS-layout files + manifest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

TEST_FRACTION = 0.2


def case_seed(seed: int, index: int) -> int:
    """Seed of case ``index`` of a dataset generated with ``seed`` (deterministic)."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def split_assignment(n: int, seed: int) -> list[str]:
    """Deterministic 8:2 train/test split of n cases ("train"/"test" per index).

    round(0.2 n) cases are "test" (at least one when n >= 2), chosen by a seeded
    permutation: n = 150 gives 120 train / 30 test.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    n_test = int(round(n * TEST_FRACTION))
    if n >= 2 and n_test == 0:
        n_test = 1
    order = np.random.default_rng([int(seed), 7919]).permutation(n)
    split = ["train"] * n
    for i in order[:n_test]:
        split[int(i)] = "test"
    return split


def write_dataset(
    out_dir,
    n: int,
    seed: int,
    size: str = "full",
    progress: Callable[[int, int], None] | None = None,
    profile: str = "v1",
    phase: str | None = None,
) -> dict:
    """Write n phantoms in LiTS layout (volume-i.nii.gz int16 HU, segmentation-i.nii.gz uint8)
    plus manifest.json into out_dir; returns the manifest. Case i uses case_seed(seed, i);
    the 8:2 train/test split comes from split_assignment(n, seed). ``profile`` / ``phase``
    as ``generate_case``. ``progress(done, total)`` is called after each case.
    """
    from livseg.io import save_labels, save_volume
    from livseg.phantom.case import GENERATOR_VERSION, generate_case

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    split = split_assignment(n, seed)
    cases = []
    for i in range(n):
        cs = case_seed(seed, i)
        case = generate_case(cs, size, profile=profile, phase=phase)
        image_name, label_name = f"volume-{i}.nii.gz", f"segmentation-{i}.nii.gz"
        save_volume(case.volume, out / image_name, dtype=np.int16)
        save_labels(case.labels, case.volume, out / label_name)
        cases.append(
            {
                "id": f"phantom-{i:03d}",
                "index": i,
                "seed": cs,
                "image": image_name,
                "labels": label_name,
                "split": split[i],
                "spacing_mm": [round(s, 4) for s in case.volume.spacing],
                "shape": list(case.volume.shape),
                **{
                    k: case.meta[k]
                    for k in (
                        "scenario",
                        "liver_volume_ml",
                        "lesions",
                        "noise_sd_hu",
                        "liver_hu",
                        "phase",
                        "scanner",
                    )
                    if k in case.meta
                },
            }
        )
        if progress is not None:
            progress(i + 1, n)
    manifest = {
        "generator": "livseg.phantom",
        "generator_version": GENERATOR_VERSION,
        "profile": profile,
        "seed": int(seed),
        "n": n,
        "size": size,
        "n_train": split.count("train"),
        "n_test": split.count("test"),
        "layout": "LiTS",
        "labels": {"0": "background", "1": "liver", "2": "tumour"},
        "orientation": "LAS+ (x index 0 = patient's right) as livseg/volume.py; affine = diag(-sx, sy, sz) + origin; mm positions in world RAS",
        "cases": cases,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
