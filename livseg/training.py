"""Training of the three networks on phantom cases (the paper's recipe).

Recipe: HU window [-150, 250] -> [0, 1], in-plane resampling to 256 x 256
(``livseg.methods.network_method.prepare_slices``), batch size 4, Adam, initial learning
rate 1e-3, loss = Dice + cross-entropy (MONAI ``DiceCELoss``, softmax, 3 classes).

Data: the TRAIN split of ``python -m livseg phantom --n 150 --seed <data_seed>`` (case i
uses ``phantom.case_seed(data_seed, i)``; the 30 test cases are never generated here). The
training cases are generated in memory and cached once as float16 / uint8 ``.npy`` arrays
on the 256-grid in ``<workspace>/cache/phantom-s<seed>-g256/``. The last ``n_val`` of the
chosen training cases are held out for validation (model selection), the rest train.

Sampling (tumour is ~0.1 % of voxels): each sample is centred on a tumour voxel with
probability ``p_tumour``, on a liver voxel with ``p_liver``, else anywhere in the body.
2D nets train on ``crop`` x ``crop`` crops of axial slices, the 3D net on (x, y, z) patches.
Everything is seeded (numpy + torch); a checkpoint holding model, optimiser, sampler state
and history is written at every validation, so ``resume=True`` continues a run exactly
where it stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from monai.losses import DiceCELoss

from livseg.device import apply_threads, choose_device
from livseg.methods.network_method import prepare_slices, weights_path
from livseg.methods.networks import DEFAULT_CONFIGS, build_network, size_multiple
from livseg.preprocess import HU_WINDOW, NETWORK_GRID, body_box, resample_labels_inplane
from livseg.workspace import workspace_dir

N_DATASET = 150  # the paper's 150 patients; 8:2 split -> 120 train / 30 test


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in the checkpoint and model card)."""

    method: str
    steps: int = 1000
    seed: int = 0  # torch / sampler seed
    data_seed: int = 0  # phantom dataset seed (python -m livseg phantom --seed)
    n_cases: int = 120  # training-split cases used (train + validation)
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
        self.patch_3d = tuple(int(p) for p in self.patch_3d)  # type: ignore[assignment]

    @property
    def spatial_dims(self) -> int:
        return int(self.network.get("spatial_dims", 2))


# ----------------------------------------------------------------------------- data cache


def train_indices(data_seed: int, n_total: int = N_DATASET) -> list[int]:
    """Case indices of the TRAIN split of the ``n_total``-case phantom dataset."""
    from livseg.phantom import split_assignment

    return [i for i, s in enumerate(split_assignment(n_total, data_seed)) if s == "train"]


def cache_dir(data_seed: int, size: str = "full") -> Path:
    """Folder of the preprocessed 256-grid arrays of dataset ``data_seed``."""
    g = NETWORK_GRID[0]
    tag = "" if size == "full" else f"-{size}"
    path = workspace_dir() / "cache" / f"phantom-s{data_seed}{tag}-g{g}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_case(data_seed: int, index: int, size: str = "full") -> tuple[Path, Path]:
    """Generate phantom case ``index`` and cache it on the 256-grid (skips cached ones).

    Files: ``<i>_img.npy`` float16 (Z, 256, 256) in [0, 1]; ``<i>_lab.npy`` uint8 (Z, 256, 256).
    """
    from livseg.phantom import case_seed, generate_case

    folder = cache_dir(data_seed, size)
    img_p, lab_p = folder / f"{index}_img.npy", folder / f"{index}_lab.npy"
    if img_p.exists() and lab_p.exists():
        return img_p, lab_p
    case = generate_case(case_seed(data_seed, index), size)
    img = prepare_slices(case.volume.array, NETWORK_GRID).numpy().astype(np.float16)
    lab = resample_labels_inplane(case.labels, NETWORK_GRID).transpose(2, 0, 1)
    tmp_i, tmp_l = img_p.with_suffix(".tmp.npy"), lab_p.with_suffix(".tmp.npy")
    np.save(tmp_i, img)
    np.save(tmp_l, np.ascontiguousarray(lab))
    tmp_l.replace(lab_p)
    tmp_i.replace(img_p)
    return img_p, lab_p


def load_cases(
    data_seed: int, indices: list[int], progress: Callable | None = None, size: str = "full"
):
    """Cached (image, labels) arrays for ``indices`` (generated when missing)."""
    out = []
    for k, i in enumerate(indices):
        img_p, lab_p = cache_case(data_seed, i, size)
        out.append((np.load(img_p), np.load(lab_p)))
        if progress is not None:
            progress(k + 1, len(indices))
    return out


# ----------------------------------------------------------------------------- sampling


class Sampler:
    """Seeded tumour-aware sampler of 2D crops / 3D patches from cached cases."""

    def __init__(
        self, cases: list, cfg: TrainConfig, rng: np.random.Generator, index: Sampler | None = None
    ):
        self.cases = cases
        self.cfg = cfg
        self.rng = rng
        if index is not None:  # share the voxel indices of another sampler
            self.tumour_idx, self.liver_idx = index.tumour_idx, index.liver_idx
            self.body_idx = index.body_idx
            return
        self.tumour_idx = [np.flatnonzero(lab.ravel() == 2) for _, lab in cases]
        self.liver_idx = [np.flatnonzero(lab.ravel() == 1) for _, lab in cases]
        self.body_idx = [np.flatnonzero(img.ravel() > 0.05) for img, _ in cases]

    def _centre(self, c: int) -> tuple[int, int, int]:
        u = self.rng.uniform()
        pools = [self.tumour_idx[c], self.liver_idx[c], self.body_idx[c]]
        if u < self.cfg.p_tumour and pools[0].size:
            pool = pools[0]
        elif u < self.cfg.p_tumour + self.cfg.p_liver and pools[1].size:
            pool = pools[1]
        else:
            pool = pools[2] if pools[2].size else np.arange(self.cases[c][1].size)
        flat = int(pool[self.rng.integers(pool.size)])
        return tuple(int(v) for v in np.unravel_index(flat, self.cases[c][1].shape))  # (z, x, y)

    @staticmethod
    def _window(centre: int, size: int, n: int, jitter: int, rng) -> int:
        start = centre - size // 2 + int(rng.integers(-jitter, jitter + 1))
        return int(np.clip(start, 0, max(0, n - size)))

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for _ in range(self.cfg.batch_size):
            c = int(self.rng.integers(len(self.cases)))
            img, lab = self.cases[c]
            z, cx, cy = self._centre(c)
            nz, nx, ny = lab.shape
            if self.cfg.spatial_dims == 2:
                s = self.cfg.crop_2d
                x0 = self._window(cx, s, nx, s // 4, self.rng)
                y0 = self._window(cy, s, ny, s // 4, self.rng)
                xi = img[z, x0 : x0 + s, y0 : y0 + s]
                yi = lab[z, x0 : x0 + s, y0 : y0 + s]
                xs.append(_pad_to(xi.astype(np.float32), (s, s)))
                ys.append(_pad_to(yi, (s, s)))
            else:
                px, py, pz = self.cfg.patch_3d
                x0 = self._window(cx, px, nx, px // 4, self.rng)
                y0 = self._window(cy, py, ny, py // 4, self.rng)
                z0 = self._window(z, pz, nz, pz // 4, self.rng)
                xi = img[z0 : z0 + pz, x0 : x0 + px, y0 : y0 + py].transpose(1, 2, 0)
                yi = lab[z0 : z0 + pz, x0 : x0 + px, y0 : y0 + py].transpose(1, 2, 0)
                xs.append(_pad_to(xi.astype(np.float32), (px, py, pz)))
                ys.append(_pad_to(yi, (px, py, pz)))
        x = torch.from_numpy(np.stack(xs))[:, None]
        y = torch.from_numpy(np.stack(ys).astype(np.int64))[:, None]
        return x, y


def _pad_to(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    pads = [(0, max(0, s - n)) for n, s in zip(a.shape, shape, strict=True)]
    return np.pad(a, pads) if any(p[1] for p in pads) else np.ascontiguousarray(a)


# ----------------------------------------------------------------------------- validation


def dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """Dice of two boolean masks; 1.0 when both are empty."""
    s = int(pred.sum()) + int(ref.sum())
    return 1.0 if s == 0 else 2.0 * int(np.logical_and(pred, ref).sum()) / s


def predict_grid(
    net: torch.nn.Module, img: np.ndarray, spatial_dims: int, multiple: int, device: torch.device
) -> np.ndarray:
    """Labels (Z, 256, 256) of a cached case on the network grid (no post-processing)."""
    full = torch.from_numpy(img.astype(np.float32))
    z, gx, gy = full.shape
    x0, x1, y0, y1 = body_box(img.transpose(1, 2, 0), multiple, threshold=0.0)
    x = full[:, x0:x1, y0:y1]
    out_full = np.zeros((z, gx, gy), dtype=np.uint8)
    with torch.inference_mode():
        if spatial_dims == 2:
            out = []
            for k0 in range(0, z, 16):
                out.append(net(x[k0 : k0 + 16, None].to(device)).argmax(1).cpu())
            out_full[:, x0:x1, y0:y1] = torch.cat(out).numpy()
            return out_full
        vol = x.permute(1, 2, 0)[None, None]
        pad = (-z) % multiple
        if pad:
            vol = torch.nn.functional.pad(vol, (0, pad, 0, 0, 0, 0), mode="replicate")
        lab = net(vol.to(device)).argmax(1)[0, :, :, :z].cpu()
        out_full[:, x0:x1, y0:y1] = lab.permute(2, 0, 1).numpy()
        return out_full


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


def validate(net, cases, cfg: TrainConfig, device) -> dict:
    """Per-case mean liver (labels 1+2) and tumour (label 2) Dice on the validation cases."""
    net.eval()
    liver, tumour = [], []
    mult = size_multiple(cfg.network)
    for img, lab in cases:
        pred = predict_grid(net, img, cfg.spatial_dims, mult, device)
        liver.append(dice(pred > 0, lab > 0))
        tumour.append(dice(pred == 2, lab == 2))
    net.train()
    return {"liver_dsc": float(np.mean(liver)), "tumour_dsc": float(np.mean(tumour))}


# ----------------------------------------------------------------------------- training


def _jsonable(v):
    return list(v) if isinstance(v, tuple) else v


def run_dir(method: str) -> Path:
    """Folder of checkpoints of a method's training run in the workspace."""
    path = workspace_dir() / "training" / method
    path.mkdir(parents=True, exist_ok=True)
    return path


def train(
    cfg: TrainConfig,
    resume: bool = False,
    out: Path | None = None,
    show_progress: bool = True,
    max_minutes: float | None = None,
) -> dict:
    """Train ``cfg.method``; write the best (validation) weights to ``out``.

    ``out`` defaults to ``livseg/weights/<method>.pt``. ``max_minutes`` stops early (after a
    validation) once that much training wall time has passed; the steps actually done are
    recorded, so ``--steps <done>`` repeats the run exactly. Returns a summary dict (steps,
    wall seconds, best validation figures, history).
    """
    from tqdm import tqdm

    threads = apply_threads(cfg.threads)
    device = choose_device(cfg.device)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng([cfg.seed, 1])
    indices = train_indices(cfg.data_seed)[: cfg.n_cases]
    bar = tqdm(total=len(indices), desc="cache", unit="case", disable=not show_progress)
    cases = load_cases(cfg.data_seed, indices, progress=lambda d, t: bar.update(1), size=cfg.size)
    bar.close()
    train_cases, val_cases = cases[: -cfg.n_val], cases[-cfg.n_val :]
    sampler = Sampler(train_cases, cfg, rng)

    net = build_network(cfg.network).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
    folder = run_dir(cfg.method)
    last_p, best_p = folder / "last.pt", folder / "best.pt"
    step, best, history, elapsed = 0, -1.0, [], 0.0
    running_restored = None
    if resume and last_p.exists():
        st = torch.load(last_p, map_location="cpu", weights_only=False)
        now = asdict(cfg)
        stored = {k: v for k, v in st["config"].items()}
        # fields added after a checkpoint was written must hold their defaults
        if any(
            _jsonable(stored[k]) != _jsonable(now[k])
            for k in stored
            if k in now and k not in ("steps", "threads")
        ) or any(
            _jsonable(now[k]) != _jsonable(asdict(TrainConfig(method=cfg.method))[k])
            for k in now
            if k not in stored and k not in ("network",)
        ):
            raise ValueError(f"cannot resume: {last_p} was trained with another configuration")
        net.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        rng.bit_generator.state = st["rng"]
        torch.set_rng_state(st["torch_rng"])
        step, best, history, elapsed = st["step"], st["best"], st["history"], st["elapsed"]
        running_restored = st.get("running_loss")
    net.train()
    t_start = time.perf_counter() - elapsed
    bar = tqdm(
        total=cfg.steps, initial=step, desc=cfg.method, unit="step", disable=not show_progress
    )
    running = running_restored
    last_val: dict = history[-1] if history else {}
    while step < cfg.steps:
        x, y = sampler.batch()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x.to(device)), y.to(device))
        loss.backward()
        opt.step()
        step += 1
        lv = float(loss.detach())
        running = lv if running is None else 0.95 * running + 0.05 * lv
        if step % cfg.val_every == 0 or step == cfg.steps:
            calib = Sampler(
                train_cases, cfg, np.random.default_rng([cfg.seed, 2, step]), index=sampler
            )
            recalibrate_batchnorm(net, calib, cfg.bn_batches, device)
            v = validate(net, val_cases, cfg, device)
            score = v["liver_dsc"] + v["tumour_dsc"]
            last_val = {
                "step": step,
                "loss": round(running, 4),
                "seconds": round(time.perf_counter() - t_start, 1),
                **v,
            }
            history.append(last_val)
            if score > best:
                best = score
                torch.save({"model": net.state_dict(), "step": step, **v}, best_p)
            torch.save(
                {
                    "config": asdict(cfg),
                    "model": net.state_dict(),
                    "optimizer": opt.state_dict(),
                    "rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(),
                    "step": step,
                    "best": best,
                    "history": history,
                    "elapsed": time.perf_counter() - t_start,
                    "running_loss": running,
                },
                last_p,
            )
        bar.set_postfix(
            loss=f"{running:.3f}",
            liver=f"{last_val.get('liver_dsc', 0):.3f}",
            tumour=f"{last_val.get('tumour_dsc', 0):.3f}",
        )
        bar.update(1)
        if (
            max_minutes is not None
            and step % cfg.val_every == 0
            and time.perf_counter() - t_start > 60.0 * max_minutes
        ):
            break
    bar.close()
    wall = time.perf_counter() - t_start
    best_state = torch.load(best_p, map_location="cpu", weights_only=False)
    summary = {
        "method": cfg.method,
        "config": asdict(cfg),
        "train_cases": len(train_cases),
        "val_cases": len(val_cases),
        "case_indices": indices,
        "steps": step,
        "steps_planned": cfg.steps,
        "wall_seconds": round(wall, 1),
        "threads": threads,
        "device": str(device),
        "best_step": best_state["step"],
        "val_liver_dsc": round(best_state["liver_dsc"], 4),
        "val_tumour_dsc": round(best_state["tumour_dsc"], 4),
        "history": history,
    }
    export_weights(best_state["model"], cfg, summary, out or weights_path(cfg.method))
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def export_weights(state: dict, cfg: TrainConfig, summary: dict, path: Path) -> Path:
    """Write a shipped weights file: network config, grid, HU window, fp32 state dict."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    training = {k: v for k, v in summary.items() if k not in ("history", "config", "case_indices")}
    torch.save(
        {
            "name": cfg.method,
            "config": cfg.network,
            "grid": list(NETWORK_GRID),
            "hu_window": list(HU_WINDOW),
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in state.items()},
            "training": training,
        },
        path,
    )
    return path


def write_split(
    out_dir: Path | str,
    data_seed: int = 0,
    split: str = "test",
    n_total: int = N_DATASET,
    progress: Callable | None = None,
) -> list[int]:
    """Write only the ``split`` cases of the ``n_total``-case phantom dataset in LiTS layout.

    Same files as ``python -m livseg phantom --n 150 --seed <data_seed>`` would write for
    those indices (volume-<i>.nii.gz int16 HU, segmentation-<i>.nii.gz uint8, i = dataset
    index) plus a manifest.json listing them, without generating the other cases.
    """
    import nibabel as nib

    from livseg.phantom import case_seed, generate_case, split_assignment

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    assignment = split_assignment(n_total, data_seed)
    indices = [i for i, s in enumerate(assignment) if s == split]
    entries = []
    for k, i in enumerate(indices):
        case = generate_case(case_seed(data_seed, i), "full")
        for arr, name, dtype in (
            (case.volume.array, f"volume-{i}.nii.gz", np.int16),
            (case.labels, f"segmentation-{i}.nii.gz", np.uint8),
        ):
            path = out / name
            if not path.exists():
                img = nib.Nifti1Image(np.asarray(arr).astype(dtype), case.volume.affine)
                img.header.set_xyzt_units("mm", "sec")
                img.set_qform(case.volume.affine, code=1)
                img.set_sform(case.volume.affine, code=1)
                nib.save(img, str(path))
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
        "seed": data_seed,
        "n": n_total,
        "size": "full",
        "split_written": split,
        "layout": "LiTS",
        "cases": entries,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return indices
