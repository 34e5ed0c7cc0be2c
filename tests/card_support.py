"""Shared by the model-card tests: a copy of a shipped network with its card, and a test
evaluation as bench/test_split.py builds it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from livseg.methods.network_method import WEIGHTS_DIR
from livseg.model_card import card_paths, render_markdown


def copy_shipped_weights(folder: Path, name: str = "unet2d") -> Path:
    """``folder/<name>.pt`` with its card as the training run wrote it (md + json, without
    the protocol's test evaluation), copied from the shipped weights."""
    src = WEIGHTS_DIR / f"{name}.pt"
    dest = folder / src.name
    shutil.copy(src, dest)
    card = json.loads(card_paths(src)[1].read_text())
    card.pop("test_evaluation", None)
    card.pop("test_evaluations", None)
    md, js = card_paths(dest)
    js.write_text(json.dumps(card))
    md.write_text(render_markdown(card))
    return dest


def _stats(mean, sd, n):
    return {"mean": mean, "sd": sd, "n": n}


def sample_evaluation(data_seed: int = 0, tumour_dsc: float = 0.7011) -> dict:
    """A one-profile (v2, 30 cases) test evaluation of the test splits of ``data_seed``."""
    liver = {
        "dsc": _stats(0.9612, 0.0123, 30),
        "jaccard": _stats(0.9254, 0.02, 30),
        "hd95_mm": _stats(3.21, 1.0, 30),
        "hd_mm": _stats(25.0, 9.5, 30),
        "volume_error_pct": _stats(-1.25, 2.0, 30),
        "median_seconds": 2.5,
    }
    tumour = {**liver, "dsc": _stats(tumour_dsc, 0.2, 30), "hd95_mm": _stats(14.0, 9.0, 28)}
    return {
        "data_seed": data_seed,
        "date_utc": "2026-12-02T18:00:00Z",
        "command": "python bench/test_split.py --write-cards",
        "profiles": {"v2": {"cases": 30, "liver": liver, "tumour": tumour}},
    }
