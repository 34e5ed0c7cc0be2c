"""Training of the three networks on phantoms and / or a real labelled folder.

Recipe (the paper's): HU window [-150, 250] -> [0, 1], in-plane resampling to 256 x 256
(``livseg.methods.network_method.prepare_slices``, the function inference uses), batch
size 4, Adam, initial learning rate 1e-3, loss = Dice + cross-entropy (MONAI
``DiceCELoss``, softmax, 3 classes; ``tumour_loss="lesion"`` weighs the cross-entropy lesion
by lesion, ``livseg.losses``); plus, by default, the augmentation of ``livseg.augment``
(MONAI transforms, seeded per step).

Data (``livseg.training_data``):

- phantoms: the TRAIN split of ``python -m livseg phantom --n 150 --seed <data_seed>
  --profile <phantom_profile>`` (the 30 test cases are never generated here); of the first
  ``n_cases`` train-split cases the last ``n_val`` are held out for validation;
- a labelled folder (``cases_dir``: LiTS, MSD Task03 or nnU-Net raw): its own seeded
  train / validation / test split (``split_cases``; the test cases are never loaded);
  ``phantom_fraction`` of the samples then come from phantoms (0: real data only).

Sampling (tumour is ~0.1 % of voxels): each sample is centred on a tumour voxel with
probability ``p_tumour``, on a liver voxel with ``p_liver``, else anywhere in the body;
with ``tumour_sampling="lesion"`` the tumour centre is drawn lesion by lesion (a lesion of
the case uniformly, then a voxel of it), so a 5 mm metastasis is drawn as often as a 10 cm
mass instead of ~10^4 times less often. ``init_weights`` starts the run from shipped
weights (a fine-tune) instead of a random initialisation; the run then validates those
weights first (step 0), so its selection never ships worse-validating weights than it began with.
2D nets train on ``crop`` x ``crop`` crops of axial slices, the 3D net on (x, y, z) patches.
Validation and inference share one predictor (``network_method.grid_logit_gaps``). On
CUDA the forward passes run under ``torch.autocast`` (float16) with a gradient scaler
(``amp``); on the CPU in float32. Everything is seeded (numpy + torch + the augmentation);
a checkpoint holding model, optimiser, sampler state and history is written at every
validation, so ``resume=True`` continues a run exactly where it stopped (also from
another session). A model card (markdown + JSON, ``livseg.model_card``) is written next to
the exported weights.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from livseg.device import apply_threads, choose_device
from livseg.liver_box import ZOOM_MARGIN_MM
from livseg.losses import TUMOUR_LOSSES, build_loss
from livseg.methods.network_method import grid_logit_gaps, logit_gaps_to_labels, weights_path
from livseg.methods.networks import DEFAULT_CONFIGS, build_network, size_multiple
from livseg.metrics import dice
from livseg.preprocess import HU_WINDOW, NETWORK_GRID
from livseg.training_data import (
    N_DATASET,
    TUMOUR_SAMPLING,
    Sampler,
    labelled_cases,
    load_cases,
    load_folder_cases,
    prepare_phantom_cache,
    split_cases,
    train_indices,
)
from livseg.workspace import workspace_dir

__all__ = [
    "N_DATASET",
    "TrainConfig",
    "export_weights",
    "load_init_weights",
    "predict_labels",
    "recalibrate_batchnorm",
    "run_dir",
    "train",
    "train_indices",
    "validate",
    "write_split",
]

# what a checkpoint written before a field existed ran with (resume checks these)
LEGACY_DEFAULTS = {
    "augment": False,
    "phantom_profile": "v1",
    "cases_dir": None,
    "phantom_fraction": 0.0,
    "val_fraction": 0.15,
    "test_fraction": 0.2,
    "amp": True,
    "select_window": 1,
    "tumour_sampling": "voxel",
    "init_weights": None,
    "tumour_loss": "voxel",
    "p_zoom": 0.0,
}
RESUMABLE_CHANGES = ("steps", "threads", "device", "amp")  # may differ between sessions


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in the checkpoint and model card)."""

    method: str
    steps: int = 1000
    seed: int = 0  # torch / sampler / augmentation seed
    data_seed: int = 0  # phantom dataset seed; also seeds the folder's split
    n_cases: int = 120  # phantom training-split cases used (train + validation)
    n_val: int = 6
    batch_size: int = 4
    lr: float = 1e-3
    crop_2d: int = 128
    patch_3d: tuple[int, int, int] = (128, 128, 32)
    p_tumour: float = 0.5
    p_liver: float = 0.3
    val_every: int = 100
    threads: int | None = None
    device: str = "auto"
    network: dict = field(default_factory=dict)
    size: str = "full"  # phantom size; "small" only for quick tests
    bn_batches: int = 25  # batches to re-estimate BatchNorm statistics before validation
    augment: bool = True  # livseg.augment transforms (off: the plain recipe)
    phantom_profile: str = "v2"  # "v1" (today's look) or "v2" (domain-randomised)
    cases_dir: str | None = None  # a LiTS / MSD / nnU-Net-raw folder with labels
    phantom_fraction: float = 0.0  # with cases_dir: share of samples drawn from phantoms
    val_fraction: float = 0.15  # of the folder's cases
    test_fraction: float = 0.2  # of the folder's cases, never loaded here
    amp: bool = True  # mixed precision on CUDA (ignored on the CPU)
    select_window: int = 1  # validations averaged by the model selection (selection_scores)
    tumour_sampling: str = "voxel"  # tumour centres: "voxel" (any tumour voxel) or "lesion"
    init_weights: str | None = None  # a weights file to start from (fine-tune), else random
    tumour_loss: str = "voxel"  # livseg.losses: "voxel" (DiceCE) or "lesion" (lesion-weighted CE)
    p_zoom: float = 0.0  # share of samples from the cases' organ box views (livseg.liver_box)

    def __post_init__(self) -> None:
        if self.method not in DEFAULT_CONFIGS:
            raise ValueError(
                f"unknown network method {self.method!r}; choose from {', '.join(DEFAULT_CONFIGS)}"
            )
        if not self.network:
            self.network = dict(DEFAULT_CONFIGS[self.method])
        if self.steps < 1 or self.batch_size < 1 or self.n_cases < 2:
            raise ValueError("steps and batch_size must be >= 1 and n_cases >= 2")
        if not 1 <= self.n_val < self.n_cases:
            raise ValueError(f"n_val must be in [1, n_cases), got {self.n_val}")
        if not (
            0 <= self.p_tumour <= 1 and 0 <= self.p_liver <= 1 and self.p_tumour + self.p_liver <= 1
        ):
            raise ValueError("p_tumour and p_liver must be in [0, 1] with a sum <= 1")
        if not 0.0 <= self.phantom_fraction <= 1.0:
            raise ValueError(f"phantom_fraction must be in [0, 1], got {self.phantom_fraction}")
        if not 0.0 <= self.p_zoom < 1.0:
            raise ValueError(f"p_zoom must be in [0, 1), got {self.p_zoom}")
        if self.select_window < 1:
            raise ValueError(f"select_window must be >= 1, got {self.select_window}")
        if self.phantom_profile not in ("v1", "v2"):
            raise ValueError(f"phantom_profile must be v1 or v2, got {self.phantom_profile!r}")
        if self.tumour_sampling not in TUMOUR_SAMPLING:
            raise ValueError(
                f"tumour_sampling must be one of {', '.join(TUMOUR_SAMPLING)}, "
                f"got {self.tumour_sampling!r}"
            )
        if self.tumour_loss not in TUMOUR_LOSSES:
            raise ValueError(
                f"tumour_loss must be one of {', '.join(TUMOUR_LOSSES)}, got {self.tumour_loss!r}"
            )
        if self.cases_dir is not None:
            self.cases_dir = str(self.cases_dir)
        if self.init_weights is not None:
            self.init_weights = str(self.init_weights)
        self.patch_3d = tuple(int(p) for p in self.patch_3d)  # type: ignore[assignment]

    @property
    def spatial_dims(self) -> int:
        return int(self.network.get("spatial_dims", 2))

    @property
    def uses_phantoms(self) -> bool:
        return self.cases_dir is None or self.phantom_fraction > 0


# ----------------------------------------------------------------------------- data


@dataclass
class TrainingData:
    """Training and validation arrays of a run, the sampling weights and their provenance."""

    train: list
    val: list
    val_sources: list[str]  # "phantom" / "real" per validation case
    weights: np.ndarray | None
    description: dict


def _source(kind: str, view: str) -> str:
    """A validation source's name: "real" / "phantom", "-box" added for box views."""
    return kind if view == "full" else f"{kind}-{view}"


def assemble_data(
    cfg: TrainConfig, show_progress: bool = False, cache_workers: int = 1
) -> TrainingData:
    """Load (generating / caching when needed, with ``cache_workers`` processes) the run's
    cases; see the module docstring."""
    from tqdm import tqdm

    views = ("full", "box") if cfg.p_zoom > 0 else ("full",)
    train: dict[str, list] = {v: [] for v in views}
    val, sources, desc = [], [], {}
    n_real_train = 0
    if cfg.cases_dir is not None:
        files = labelled_cases(cfg.cases_dir)
        split = split_cases(
            [f.case_id for f in files], cfg.data_seed, cfg.val_fraction, cfg.test_fraction
        )
        by_id = {f.case_id: f for f in files}
        bar = tqdm(
            total=(len(split["train"]) + len(split["val"])) * len(views),
            desc="cache",
            unit="case",
            disable=not show_progress,
        )
        tick = lambda d, t: bar.update(1)  # noqa: E731
        for view in views:
            train[view] += load_folder_cases(
                [by_id[i] for i in split["train"]], progress=tick, view=view
            )
            real_val = load_folder_cases([by_id[i] for i in split["val"]], progress=tick, view=view)
            val += real_val
            sources += [_source("real", view)] * len(real_val)
        bar.close()
        n_real_train = len(train["full"])
        desc["real"] = {
            "folder": str(Path(cfg.cases_dir).resolve()),
            "layout": files[0].layout,
            "n_labelled": len(files),
            "split": split,
        }
    if cfg.uses_phantoms:
        indices = train_indices(cfg.data_seed)[: cfg.n_cases]
        bar = tqdm(
            total=len(indices) * len(views), desc="phantoms", unit="case", disable=not show_progress
        )
        for view in views:
            if cache_workers > 1:
                prepare_phantom_cache(
                    cfg.data_seed, indices, cfg.size, cfg.phantom_profile, cache_workers, view=view
                )
            cases = load_cases(
                cfg.data_seed,
                indices,
                progress=lambda d, t: bar.update(1),
                size=cfg.size,
                profile=cfg.phantom_profile,
                view=view,
            )
            train[view] += cases[: -cfg.n_val]
            val += cases[-cfg.n_val :]
            sources += [_source("phantom", view)] * cfg.n_val
        bar.close()
        desc["phantom"] = {
            "profile": cfg.phantom_profile,
            "data_seed": cfg.data_seed,
            "size": cfg.size,
            "train_indices": indices[: -cfg.n_val],
            "val_indices": indices[-cfg.n_val :],
        }
    n = len(train["full"])
    weights = None
    if cfg.cases_dir is not None and cfg.uses_phantoms:
        n_ph = n - n_real_train
        weights = np.concatenate(
            [
                np.full(n_real_train, (1.0 - cfg.phantom_fraction) / n_real_train),
                np.full(n_ph, cfg.phantom_fraction / n_ph),
            ]
        )
    if cfg.p_zoom > 0:  # each case's box view, drawn p_zoom of the time in all
        base = np.full(n, 1.0 / n) if weights is None else weights
        weights = np.concatenate([(1.0 - cfg.p_zoom) * base, cfg.p_zoom * base])
        desc["zoom"] = {"p_zoom": cfg.p_zoom, "margin_mm": ZOOM_MARGIN_MM}
    return TrainingData(
        train=[c for view in views for c in train[view]],
        val=val,
        val_sources=sources,
        weights=weights,
        description=desc,
    )


# ----------------------------------------------------------------------------- validation


def predict_labels(
    net: torch.nn.Module, img: np.ndarray, spatial_dims: int, multiple: int, device: torch.device
) -> np.ndarray:
    """Labels (Z, 256, 256) of a cached case on the network grid (no post-processing),
    through inference's predictor ``grid_logit_gaps``."""
    x = torch.from_numpy(img.astype(np.float32))
    gaps, _ = grid_logit_gaps(net, x, spatial_dims, multiple, device)
    return logit_gaps_to_labels(gaps, tuple(x.shape[1:])).transpose(2, 0, 1)


def recalibrate_batchnorm(
    net: torch.nn.Module, sampler: Sampler, n_batches: int, device: torch.device
) -> None:
    """Re-estimate BatchNorm running statistics for the current weights (no gradients).

    With Adam at 1e-3 the weights move faster than the running averages (momentum 0.1)
    follow, so eval-mode predictions lag behind train-mode ones (seen here: patch Dice 0.19
    in eval vs 0.96 in train mode). Resetting the statistics and averaging them over
    ``n_batches`` fresh training batches (cumulative average) fixes that before every
    validation and before export.
    """
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    with torch.no_grad():
        for _ in range(n_batches):
            x, _ = sampler.batch()
            net(x.to(device))
    for m, mom in zip(bns, momenta, strict=True):
        m.momentum = mom


def validate(net, cases, cfg: TrainConfig, device, sources: list[str] | None = None) -> dict:
    """Mean liver (labels 1+2) and tumour (label 2) Dice over the validation cases, overall
    and per source ("real" / "phantom") when ``sources`` is given."""
    net.eval()
    mult = size_multiple(cfg.network)
    rows = []
    with _autocast(cfg, device):
        for img, lab in cases:
            pred = predict_labels(net, img, cfg.spatial_dims, mult, device)
            rows.append((dice(pred > 0, lab > 0), dice(pred == 2, lab == 2)))
    net.train()
    out = {
        "liver_dsc": float(np.mean([r[0] for r in rows])),
        "tumour_dsc": float(np.mean([r[1] for r in rows])),
    }
    if sources and len(set(sources)) > 1:
        for src in sorted(set(sources)):
            sel = [r for r, s in zip(rows, sources, strict=True) if s == src]
            out[f"{src}_liver_dsc"] = float(np.mean([r[0] for r in sel]))
            out[f"{src}_tumour_dsc"] = float(np.mean([r[1] for r in sel]))
    return out


def _selection_score(v: dict, sources: list[str]) -> float:
    """One validation's score: liver + tumour Dice, averaged over the sources (real, phantom)."""
    srcs = sorted(set(sources))
    if len(srcs) < 2:
        return v["liver_dsc"] + v["tumour_dsc"]
    return float(np.mean([v[f"{s}_liver_dsc"] + v[f"{s}_tumour_dsc"] for s in srcs]))


def selection_scores(history: list[dict], sources: list[str], window: int = 1) -> list[float]:
    """Model-selection score after each validation of ``history``: the mean of the
    validation scores (liver + tumour Dice) of the last ``window`` validations, this one
    included (fewer at the start of a run). The checkpoint selected is the one at the end
    of the best window; ``window`` 1 is the single-validation rule of the first protocol."""
    single = [_selection_score(e, sources) for e in history]
    return [float(np.mean(single[max(0, i - window + 1) : i + 1])) for i in range(len(single))]


def _autocast(cfg: TrainConfig, device: torch.device):
    if device.type == "cuda" and cfg.amp:
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


# ----------------------------------------------------------------------------- training


def _jsonable(v):
    return list(v) if isinstance(v, tuple) else v


def run_dir(method: str) -> Path:
    """Folder of checkpoints of a method's training run in the workspace."""
    path = workspace_dir() / "training" / method
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_resumable(stored: dict, cfg: TrainConfig, path: Path) -> None:
    """Raise unless the checkpoint's configuration equals ``cfg`` (up to RESUMABLE_CHANGES;
    fields the checkpoint predates must hold what it ran with, LEGACY_DEFAULTS)."""
    now = asdict(cfg)
    changed = [
        k
        for k in now
        if k not in RESUMABLE_CHANGES
        and _jsonable(stored.get(k, LEGACY_DEFAULTS.get(k, now[k]))) != _jsonable(now[k])
    ]
    if changed:
        raise ValueError(
            f"cannot resume: {path} was trained with another configuration ({', '.join(changed)})"
        )


@dataclass
class _RunState:
    step: int = 0
    best: float = -1.0
    history: list = field(default_factory=list)
    elapsed: float = 0.0
    running: float | None = None
    sessions: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    started_from: dict | None = None  # the init weights: file, version, their card


def _save_checkpoint(path: Path, cfg, net, opt, scaler, rng, st: _RunState, t_start) -> None:
    torch.save(
        {
            "config": asdict(cfg),
            "model": net.state_dict(),
            "optimizer": opt.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "step": st.step,
            "best": st.best,
            "history": st.history,
            "elapsed": time.perf_counter() - t_start,
            "running_loss": st.running,
            "sessions": st.sessions,
            "notes": st.notes,
            "started_from": st.started_from,
        },
        path,
    )


def _restore(path: Path, cfg, net, opt, scaler, rng, best_p: Path, sources: list[str]) -> _RunState:
    ck = torch.load(path, map_location="cpu", weights_only=False)
    was = ck["config"].get("select_window", LEGACY_DEFAULTS["select_window"])
    _check_resumable({**ck["config"], "select_window": cfg.select_window}, cfg, path)
    net.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    if "scaler" in ck:
        scaler.load_state_dict(ck["scaler"])
    rng.bit_generator.state = ck["rng"]
    torch.set_rng_state(ck["torch_rng"])
    st = _RunState(
        step=ck["step"],
        best=ck["best"],
        history=ck["history"],
        elapsed=ck["elapsed"],
        running=ck.get("running_loss"),
        sessions=list(ck.get("sessions", [])),
        notes=list(ck.get("notes", [])),
        started_from=ck.get("started_from"),
    )
    if was != cfg.select_window:
        _reselect(st, cfg.select_window, was, sources, ck["model"], path, best_p)
    return st


def load_init_weights(net: torch.nn.Module, cfg: TrainConfig) -> dict:
    """Load ``cfg.init_weights`` (a LivSeg weights file of the same network) into ``net``;
    returns where the run started from: file, version (sha256[:12]) and that file's model
    card (None when it has none), so that the new card carries the whole history."""
    from livseg.methods.network_method import file_hash, load_checkpoint
    from livseg.model_card import card_paths

    path = Path(cfg.init_weights)
    try:
        ck = load_checkpoint(path)
    except FileNotFoundError as exc:
        raise ValueError(f"{path}: no such weights file to start from") from exc
    except Exception as exc:  # a corrupt / foreign file: say which and why
        raise ValueError(f"{path}: not a readable LivSeg weights file ({exc})") from exc
    name = ck.get("name")
    if name not in (None, cfg.method) or dict(ck["config"]) != dict(cfg.network):
        raise ValueError(
            f"{path}: holds a {name or 'different'} network with configuration "
            f"{ck['config']}, this run trains {cfg.method} with {cfg.network}"
        )
    net.load_state_dict(ck["state_dict"])
    card_json = card_paths(path)[1]
    card = json.loads(card_json.read_text()) if card_json.is_file() else None
    return {"file": str(path), "sha256_12": file_hash(path), "card": card}


def _reselect(
    st: _RunState, window: int, was: int, sources: list[str], model: dict, path: Path, best_p
) -> None:
    """A resumed run changes its model selection's window (``select_window``): allowed only
    when, under the new rule, the best checkpoint so far is the one resumed from (the run
    keeps no other); best.pt becomes it, and the change is a note of the run."""
    scores = selection_scores(st.history, sources, window)
    best = int(np.argmax(scores))
    if not st.history or st.history[best]["step"] != st.step:
        at = st.history[best]["step"] if st.history else None
        raise ValueError(
            f"cannot resume {path} with select_window {window} (it ran with {was}): under "
            f"that rule the best checkpoint so far is step {at}, which the run did not keep "
            f"(only step {st.step}); start a new run"
        )
    st.best = scores[best]
    entry = {k: v for k, v in st.history[best].items() if k not in ("loss", "seconds")}
    torch.save({"model": model, **entry}, best_p)
    st.notes.append(
        {
            "at_step": st.step,
            "note": f"model selection changed on resume: mean score of the last {window} "
            f"validations (was {was}); best so far under it: step {st.step} (best.pt replaced)",
        }
    )


def train(
    cfg: TrainConfig,
    resume: bool = False,
    out: Path | None = None,
    show_progress: bool = True,
    max_minutes: float | None = None,
    command: str | None = None,
    note: str | None = None,
    cache_workers: int = 1,
    checkpoint_dir: Path | None = None,
) -> dict:
    """Train ``cfg.method``; write the best (validation) weights to ``out`` + a model card.

    ``out`` defaults to ``livseg/weights/<method>.pt`` (card: ``<out stem>.md`` and
    ``<out stem>.card.json``). ``max_minutes`` stops early (after a validation) once that
    much training wall time has passed in this session; the steps done are recorded and
    ``resume`` continues. ``command`` (default: this process's argv) and ``note`` go into
    the card's session history; ``cache_workers`` processes generate missing phantoms.
    ``checkpoint_dir`` (default ``<workspace>/training/<method>/``) holds ``last.pt`` and
    ``best.pt`` (and ``summary.json``); a folder kept in git lets a run span fresh checkouts.
    Returns a summary dict (steps, wall seconds, best
    validation figures, history, card paths).
    """
    from tqdm import tqdm

    from livseg.augment import Augmenter
    from livseg.model_card import write_model_card

    threads = apply_threads(cfg.threads)
    device = choose_device(cfg.device)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng([cfg.seed, 1])
    data = assemble_data(cfg, show_progress, cache_workers)
    sampler = Sampler(data.train, cfg, rng, weights=data.weights)
    augment = Augmenter(cfg.spatial_dims, cfg.seed) if cfg.augment else None

    net = build_network(cfg.network).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and cfg.amp)
    loss_fn = build_loss(cfg.tumour_loss, cfg.spatial_dims)
    folder = run_dir(cfg.method) if checkpoint_dir is None else Path(checkpoint_dir)
    folder.mkdir(parents=True, exist_ok=True)
    last_p, best_p = folder / "last.pt", folder / "best.pt"
    st = _RunState()
    if resume and last_p.exists():
        st = _restore(last_p, cfg, net, opt, scaler, rng, best_p, data.val_sources)
    elif cfg.init_weights is not None:
        st.started_from = load_init_weights(net, cfg)
    session = {
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command if command is not None else " ".join(sys.argv),
        "from_step": st.step,
        "device": str(device),
        "threads": threads,
    }
    if note:
        st.notes.append({"at_step": st.step, "note": note})
    net.train()
    t_start = time.perf_counter() - st.elapsed
    t_session = time.perf_counter()
    bar = tqdm(
        total=cfg.steps, initial=st.step, desc=cfg.method, unit="step", disable=not show_progress
    )
    if st.started_from is not None and not st.history:  # the starting weights are a candidate,
        _validate_and_save(  # validated as they are (their own BatchNorm statistics)
            cfg,
            net,
            opt,
            scaler,
            rng,
            st,
            data,
            sampler,
            device,
            t_start,
            last_p,
            best_p,
            recalibrate=False,
        )
    last_val: dict = st.history[-1] if st.history else {}
    while st.step < cfg.steps:
        x, y = sampler.batch()
        if augment is not None:
            x, y = augment(x, y, st.step)
        opt.zero_grad(set_to_none=True)
        with _autocast(cfg, device):
            loss = loss_fn(net(x.to(device)), y.to(device))
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        st.step += 1
        lv = float(loss.detach())
        st.running = lv if st.running is None else 0.95 * st.running + 0.05 * lv
        if st.step % cfg.val_every == 0 or st.step == cfg.steps:
            last_val = _validate_and_save(
                cfg, net, opt, scaler, rng, st, data, sampler, device, t_start, last_p, best_p
            )
        bar.set_postfix(
            loss=f"{st.running:.3f}",
            liver=f"{last_val.get('liver_dsc', 0):.3f}",
            tumour=f"{last_val.get('tumour_dsc', 0):.3f}",
        )
        bar.update(1)
        if (
            max_minutes is not None
            and st.step % cfg.val_every == 0
            and time.perf_counter() - t_session > 60.0 * max_minutes
        ):
            break
    bar.close()
    session.update(to_step=st.step, seconds=round(time.perf_counter() - t_session, 1))
    st.sessions.append(session)
    _save_checkpoint(last_p, cfg, net, opt, scaler, rng, st, t_start)
    best_state = torch.load(best_p, map_location="cpu", weights_only=False)
    summary = {
        "method": cfg.method,
        "config": asdict(cfg),
        "train_cases": len(data.train),
        "val_cases": len(data.val),
        "data": data.description,
        "steps": st.step,
        "steps_planned": cfg.steps,
        "wall_seconds": round(time.perf_counter() - t_start, 1),
        "threads": threads,
        "device": str(device),
        "best_step": best_state["step"],
        "val_liver_dsc": round(best_state["liver_dsc"], 4),
        "val_tumour_dsc": round(best_state["tumour_dsc"], 4),
        "history": st.history,
        "sessions": st.sessions,
        "notes": st.notes,
        "started_from": st.started_from,
    }
    path = export_weights(best_state["model"], cfg, summary, out or weights_path(cfg.method))
    if cfg.p_zoom > 0 and st.step >= cfg.steps:  # the second pass's rule, on validation
        summary["zoom"] = choose_zoom_rule(path, validation_volumes(cfg, data), threads)
        path = export_weights(best_state["model"], cfg, summary, path)
    summary["card"] = [str(p) for p in write_model_card(path, summary)]
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _validate_and_save(
    cfg,
    net,
    opt,
    scaler,
    rng,
    st: _RunState,
    data: TrainingData,
    sampler,
    device,
    t_start,
    last_p: Path,
    best_p: Path,
    recalibrate: bool = True,
) -> dict:
    """BatchNorm recalibration (unless ``recalibrate`` is False: a fine-tune's starting
    weights, kept exactly as loaded), validation, best / last checkpoints; returns the entry."""
    if recalibrate:
        calib = Sampler(
            data.train, cfg, np.random.default_rng([cfg.seed, 2, st.step]), index=sampler
        )
        recalibrate_batchnorm(net, calib, cfg.bn_batches, device)
    v = validate(net, data.val, cfg, device, data.val_sources)
    entry = {
        "step": st.step,
        "loss": None if st.running is None else round(st.running, 4),
        "seconds": round(time.perf_counter() - t_start, 1),
        **v,
    }
    st.history.append(entry)
    score = selection_scores(st.history, data.val_sources, cfg.select_window)[-1]
    if score > st.best:
        st.best = score
        torch.save({"model": net.state_dict(), "step": st.step, **v}, best_p)
    _save_checkpoint(last_p, cfg, net, opt, scaler, rng, st, t_start)
    return entry


def export_weights(state: dict, cfg: TrainConfig, summary: dict, path: Path) -> Path:
    """Write a shipped weights file: network config, grid, HU window, fp32 state dict, and
    for a run with box views (``p_zoom``) the second pass's ``zoom`` entry (margin, rule:
    ``summary["zoom"]["rule"]`` once chosen, ``replace`` until then)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    skip = ("history", "config", "data", "sessions", "notes", "card", "started_from", "zoom")
    training = {k: v for k, v in summary.items() if k not in skip}
    ckpt = {
        "name": cfg.method,
        "config": cfg.network,
        "grid": list(NETWORK_GRID),
        "hu_window": list(HU_WINDOW),
        "state_dict": {k: v.detach().float().cpu().contiguous() for k, v in state.items()},
        "training": training,
    }
    if cfg.p_zoom > 0:
        chosen = summary.get("zoom") or {}
        ckpt["zoom"] = {"margin_mm": ZOOM_MARGIN_MM, "rule": chosen.get("rule", "replace")}
    torch.save(ckpt, path)
    return path


def validation_volumes(
    cfg: TrainConfig, data: TrainingData
) -> list[tuple[str, object, np.ndarray]]:
    """The run's validation cases at their own resolution: (source, ``Volume``, labels) per
    case (phantoms regenerated from their seeds, a folder's cases loaded from its files)."""
    from livseg import io
    from livseg.phantom import case_seed, generate_case

    out: list[tuple[str, object, np.ndarray]] = []
    if "real" in data.description:
        by_id = {f.case_id: f for f in labelled_cases(cfg.cases_dir)}
        for cid in data.description["real"]["split"]["val"]:
            case = io.load_case(by_id[cid].image, by_id[cid].labels)
            out.append(("real", case.volume, case.labels))
    if "phantom" in data.description:
        d = data.description["phantom"]
        for i in d["val_indices"]:
            case = generate_case(case_seed(d["data_seed"], i), d["size"], profile=d["profile"])
            out.append(("phantom", case.volume, case.labels))
    return out


def choose_zoom_rule(path: Path, cases: list, threads: int | None = None) -> dict:
    """The rule of ``livseg.liver_box.combine_passes`` with the highest mean liver + tumour
    DSC over ``cases`` ((source, Volume, labels)) for the weights at ``path`` (the networks'
    post-processing after combining; ties keep the earlier rule of ``ZOOM_RULES``, so
    ``one_pass`` wins a tie). Returns the rule and every rule's mean DSCs."""
    from livseg.liver_box import ZOOM_RULES, combine_passes
    from livseg.methods import method_class
    from livseg.methods.network_method import network_postprocess

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    method = method_class(ckpt["name"])(weights=path, threads=threads)
    rows: dict[str, list[tuple[float, float]]] = {r: [] for r in ZOOM_RULES}
    for _, volume, ref in cases:
        first, box, zoomed, _ = method.passes(volume, ZOOM_MARGIN_MM)
        for rule in ZOOM_RULES:
            lab = network_postprocess(combine_passes(first, zoomed, box, rule), volume.spacing)
            rows[rule].append((dice(lab > 0, ref > 0), dice(lab == 2, ref == 2)))
    table = {
        r: {
            "liver_dsc": round(float(np.mean([v[0] for v in rows[r]])), 4),
            "tumour_dsc": round(float(np.mean([v[1] for v in rows[r]])), 4),
        }
        for r in ZOOM_RULES
    }

    def score(r: str) -> tuple[float, int]:
        return table[r]["liver_dsc"] + table[r]["tumour_dsc"], -ZOOM_RULES.index(r)

    best = max(ZOOM_RULES, key=score)
    return {"rule": best, "margin_mm": ZOOM_MARGIN_MM, "n_cases": len(cases), "rules": table}


def write_split(
    out_dir: Path | str,
    data_seed: int = 0,
    split: str = "test",
    n_total: int = N_DATASET,
    progress=None,
    profile: str = "v1",
    limit: int | None = None,
) -> list[int]:
    """Write only the ``split`` cases of the ``n_total``-case phantom dataset in LiTS layout.

    Same files as ``python -m livseg phantom --n 150 --seed <data_seed> --profile <profile>``
    would write for those indices (volume-<i>.nii.gz int16 HU, segmentation-<i>.nii.gz
    uint8, i = dataset index) plus a manifest.json listing them, without generating the
    other cases. ``limit`` keeps the first ``limit`` cases of the split only (a quick check).
    """
    from livseg.io import save_labels, save_volume
    from livseg.phantom import case_seed, generate_case, split_assignment

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    assignment = split_assignment(n_total, data_seed)
    indices = [i for i, s in enumerate(assignment) if s == split][:limit]
    entries = []
    for k, i in enumerate(indices):
        case = generate_case(case_seed(data_seed, i), "full", profile=profile)
        if not (out / f"volume-{i}.nii.gz").exists():
            save_volume(case.volume, out / f"volume-{i}.nii.gz", dtype=np.int16)
        if not (out / f"segmentation-{i}.nii.gz").exists():
            save_labels(case.labels, case.volume, out / f"segmentation-{i}.nii.gz")
        entries.append(
            {
                "id": f"phantom-{i:03d}",
                "index": i,
                "seed": case_seed(data_seed, i),
                "image": f"volume-{i}.nii.gz",
                "labels": f"segmentation-{i}.nii.gz",
                "split": split,
                "spacing_mm": [round(s, 4) for s in case.volume.spacing],
                "shape": list(case.volume.shape),
                "scenario": case.meta["scenario"],
                "lesions": case.meta["lesions"],
            }
        )
        if progress is not None:
            progress(k + 1, len(indices))
    manifest = {
        "generator": "livseg.phantom (livseg.training.write_split)",
        "profile": profile,
        "seed": data_seed,
        "n": n_total,
        "size": "full",
        "split_written": split,
        "layout": "LiTS",
        "cases": entries,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return indices
