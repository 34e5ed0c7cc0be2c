"""A learned method: a network + its shipped weights, run on the 256 x 256 network grid.

Pipeline of ``segment`` (same preprocessing as training, see ``livseg.preprocess``):
HU -> in-plane resampling to 256 x 256 -> window [-150, 250] HU -> [0, 1] -> crop to the
body (padded to the network's size multiple) -> network (2D: batches of axial slices;
3D: the whole cropped volume, or z-windows for tall volumes) -> class logits back to the
image's grid by linear interpolation -> argmax -> post-processing (largest organ component,
split at bridges thinner than 2 x ``BRIDGE_RADIUS_MM``, tumour only inside the liver).

Weights trained with box views (``--p-zoom``, protocol amendment 6) carry a ``zoom`` entry
(margin in mm and a rule of ``livseg.liver_box.combine_passes``): the same network then
runs a second pass on the box of the first pass's organ, cut at the image's resolution and
resampled to the grid, and the passes are combined by that rule before the
post-processing. Weights without it run one pass.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from livseg.device import apply_threads, choose_device
from livseg.liver_box import ZOOM_RULES, combine_passes, organ_box
from livseg.methods.base import Method, postprocess
from livseg.methods.networks import build_network, size_multiple
from livseg.naming import safe_child
from livseg.preprocess import body_box, normalise_hu
from livseg.resample import interpolate_chunks
from livseg.volume import Volume

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
BACKGROUND_LOGIT_GAP = 20.0  # logit margin given to background outside the body crop
MAX_SLICES_ONE_PASS = 192  # 3D nets: taller volumes go through a sliding window along z
Z_WINDOW = 128  # slices per 3D window (a multiple of every network's size multiple)
MIN_TUMOUR_ML = 0.1  # mL; tumour specks below this become liver (a 5.8 mm sphere)
BRIDGE_RADIUS_MM = 3.0  # mm; the organ is split where thinner than 6 mm (amendment 4)
WEIGHTS_DIR_VARIABLE = "LIVSEG_WEIGHTS_DIR"  # another folder of <name>.pt files, if set


def weights_dir() -> Path:
    """The folder of network weights: ``$LIVSEG_WEIGHTS_DIR`` when set (a site's own
    training, an earlier version from git), else the shipped livseg/weights/."""
    other = os.environ.get(WEIGHTS_DIR_VARIABLE, "").strip()
    return Path(other).expanduser() if other else WEIGHTS_DIR


def weights_path(name: str) -> Path:
    """The weights file of network method ``name``: ``<weights_dir()>/<name>.pt``, through
    ``livseg.naming.safe_child`` (a name that would leave the folder is refused)."""
    return safe_child(weights_dir(), name, ".pt")


def load_checkpoint(path: Path) -> dict:
    """Load a weights file written by ``livseg.training`` (plain tensors + metadata)."""
    path = Path(path)
    if not path.is_file():
        folder = weights_dir()
        where = (
            f"{WEIGHTS_DIR_VARIABLE} is set to {folder}: put {path.name} there or unset it"
            if folder != WEIGHTS_DIR
            else "restore livseg/weights/ from the repository"
        )
        raise FileNotFoundError(
            f"no weights file at {path}; train it with `python -m livseg train --method "
            f"{path.stem}` or {where}"
        )
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("config", "state_dict", "grid"):
        if key not in ckpt:
            raise ValueError(f"{path} is not a LivSeg weights file (missing {key!r})")
    return ckpt


def file_hash(path: Path) -> str:
    """First 12 hex digits of the SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def network_postprocess(labels: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """The networks' post-processing of argmax labels (``postprocess`` with the 0.1 mL tumour
    floor and the organ split at bridges thinner than 2 x ``BRIDGE_RADIUS_MM``; mm)."""
    return postprocess(labels, spacing, MIN_TUMOUR_ML, BRIDGE_RADIUS_MM)


def prepare_slices(hu: np.ndarray, grid: tuple[int, int]) -> torch.Tensor:
    """(X, Y, Z) HU -> (Z, gx, gy) float32 tensor: resampled in-plane, windowed to [0, 1].

    Resampling (bilinear, antialiased) happens on HU, then the window; training uses this
    very function, so training and inference see the same numbers.
    """
    src = torch.from_numpy(np.ascontiguousarray(hu, dtype=np.float32))
    z = src.shape[2]
    out = torch.empty((z, grid[0], grid[1]), dtype=torch.float32)
    with torch.inference_mode():
        slices = src.permute(2, 0, 1).unsqueeze(1)  # (Z, 1, X, Y) view
        for k0, block in interpolate_chunks(slices, size=grid, chunk=32, antialias=True):
            out[k0 : k0 + block.shape[0]] = block[:, 0]
    return torch.from_numpy(normalise_hu(out.numpy()))


def logit_gaps_to_labels(gaps: torch.Tensor, out_xy: tuple[int, int]) -> np.ndarray:
    """(Z, 2, gx, gy) logit gaps (liver - bg, tumour - bg) -> (X, Y, Z) uint8 labels.

    Bilinear interpolation to the image's in-plane size (pixel centres aligned), then the
    argmax of (0, liver gap, tumour gap), computed in z chunks to bound memory.
    """
    z = gaps.shape[0]
    out = np.empty((out_xy[0], out_xy[1], z), dtype=np.uint8)
    with torch.inference_mode():
        for k0, g in interpolate_chunks(gaps, size=out_xy, chunk=16):
            d1, d2 = g[:, 0], g[:, 1]
            lab = torch.where(d2 > torch.clamp(d1, min=0.0), 2, torch.where(d1 > 0, 1, 0))
            out[:, :, k0 : k0 + g.shape[0]] = lab.to(torch.uint8).permute(1, 2, 0).numpy()
    return out


def grid_logit_gaps(
    net: torch.nn.Module,
    x: torch.Tensor,
    spatial_dims: int,
    multiple: int,
    device: torch.device,
    batch_slices: int = 16,
    body_threshold: float = 0.0,
) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """The one predictor on the network grid (inference and training's validation).

    x: (Z, gx, gy) windowed [0, 1] slices (``prepare_slices``). The body is cropped
    (``body_box`` at ``body_threshold``, sized to ``multiple``), the network runs on the crop
    (2D: batches of ``batch_slices`` axial slices; 3D: the whole cropped volume, z padded),
    outside the crop background wins by ``BACKGROUND_LOGIT_GAP``. Returns (Z, 2, gx, gy)
    float32 logit gaps (liver - bg, tumour - bg) on the CPU and the crop (x0, x1, y0, y1).
    ``net`` must be in eval mode.
    """
    x0, x1, y0, y1 = body_box(x.permute(1, 2, 0).numpy(), multiple, threshold=body_threshold)
    crop = x[:, x0:x1, y0:y1]
    with torch.inference_mode():
        if spatial_dims == 2:
            gaps_crop = _forward_2d(net, crop, device, batch_slices)
        else:
            gaps_crop = _forward_3d(net, crop, device, multiple)
    gaps = torch.full((x.shape[0], 2, x.shape[1], x.shape[2]), -BACKGROUND_LOGIT_GAP)
    gaps[:, :, x0:x1, y0:y1] = gaps_crop
    return gaps, (int(x0), int(x1), int(y0), int(y1))


def _forward_2d(
    net: torch.nn.Module, x: torch.Tensor, device: torch.device, batch_slices: int
) -> torch.Tensor:
    """(Z, h, w) -> (Z, 2, h, w) logit gaps, ``batch_slices`` slices at a time."""
    gaps = torch.empty((x.shape[0], 2, x.shape[1], x.shape[2]), dtype=torch.float32)
    for k0 in range(0, x.shape[0], batch_slices):
        xb = x[k0 : k0 + batch_slices].unsqueeze(1).to(device)
        if device.type == "cpu":
            xb = xb.contiguous(memory_format=torch.channels_last)
        logits = net(xb).float()
        gaps[k0 : k0 + xb.shape[0]] = (logits[:, 1:] - logits[:, :1]).cpu()
    return gaps


def _forward_3d(
    net: torch.nn.Module, x: torch.Tensor, device: torch.device, multiple: int
) -> torch.Tensor:
    """(Z, h, w) -> (Z, 2, h, w) logit gaps: the volume in one pass (z padded) up to
    ``MAX_SLICES_ONE_PASS`` slices, else MONAI's sliding window along z (windows of
    ``Z_WINDOW`` slices, 25 % overlap, averaged) so that tall real scans fit in memory."""
    vol = x.permute(1, 2, 0)[None, None]  # (1, 1, h, w, Z)
    z = vol.shape[-1]
    pad = (-z) % multiple
    if pad:
        vol = F.pad(vol, (0, pad, 0, 0, 0, 0), mode="replicate")
    if z <= MAX_SLICES_ONE_PASS:
        logits = net(vol.to(device)).float()[0, :, :, :, :z].cpu()
    else:
        from monai.inferers import sliding_window_inference

        roi = (vol.shape[2], vol.shape[3], Z_WINDOW)
        out = sliding_window_inference(
            vol.to(device), roi, 1, lambda t: net(t).float(), overlap=0.25, sw_device=device
        )
        logits = torch.as_tensor(out).float()[0, :, :, :, :z].cpu()
    gaps = logits[1:] - logits[:1]  # (2, h, w, Z)
    return gaps.permute(3, 0, 1, 2).contiguous()


class NetworkMethod(Method):
    """A network segmenter with weights loaded once from ``livseg/weights/<name>.pt``."""

    spatial_dims: int = 2

    def __init__(
        self,
        weights: Path | None = None,
        device: str = "auto",
        threads: int | None = None,
        batch_slices: int = 16,
    ):
        super().__init__()
        path = Path(weights) if weights is not None else weights_path(self.name)
        self.weights_file = path
        ckpt = load_checkpoint(path)
        self.config = dict(ckpt["config"])
        self.grid = tuple(int(g) for g in ckpt["grid"])
        self.hu_window = tuple(ckpt.get("hu_window", (-150.0, 250.0)))
        self.training_info = dict(ckpt.get("training", {}))
        self.zoom = _zoom_entry(ckpt, path)
        self._version = file_hash(path)
        self.torch_device = choose_device(device)
        self.device = str(self.torch_device)
        self.threads_requested = threads
        self.batch_slices = int(batch_slices)
        self.multiple = size_multiple(self.config)
        net = build_network(self.config)
        state = {k: v.float() for k, v in ckpt["state_dict"].items()}
        net.load_state_dict(state)
        net.eval()
        self.net = net.to(self.torch_device)
        if self.spatial_dims == 2 and self.torch_device.type == "cpu":
            self.net = self.net.to(memory_format=torch.channels_last)

    @property
    def version(self) -> str:
        return self._version

    def _pass(self, volume: Volume) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """One pass of the network: argmax labels on ``volume``'s grid (not post-processed)
        and the body crop on the network grid."""
        x = prepare_slices(volume.array, self.grid)  # (Z, gx, gy)
        gaps, crop = grid_logit_gaps(
            self.net,
            x,
            self.spatial_dims,
            self.multiple,
            self.torch_device,
            self.batch_slices,
            _window_value(self.hu_window),
        )
        return logit_gaps_to_labels(gaps, volume.array.shape[:2]), crop

    def passes(
        self, volume: Volume, margin_mm: float | None = None
    ) -> tuple[np.ndarray, tuple[slice, slice, slice] | None, np.ndarray | None, dict]:
        """The first pass (post-processed labels), the box of its organ (``margin_mm``, mm;
        default the weights' zoom margin) and the second pass's raw labels on that box
        (None without a box, or for weights without a zoom entry and no ``margin_mm``),
        with the body crop(s)."""
        first, crop = self._pass(volume)
        first = network_postprocess(first, volume.spacing)
        info: dict = {"body_crop": [int(c) for c in crop]}
        if margin_mm is None and self.zoom is None:
            return first, None, None, info
        margin = float(self.zoom["margin_mm"] if margin_mm is None else margin_mm)
        box = organ_box(first, volume.spacing, margin)
        if box is None:
            return first, None, None, info
        sub = Volume(np.ascontiguousarray(volume.array[box]), volume.spacing, volume.affine)
        zoomed, crop2 = self._pass(sub)
        info["zoom_box"] = [[int(s.start), int(s.stop)] for s in box]
        info["zoom_body_crop"] = [int(c) for c in crop2]
        return first, box, zoomed, info

    def _segment(self, volume: Volume) -> tuple[np.ndarray, dict]:
        threads = apply_threads(self.threads_requested)
        first, box, zoomed, info = self.passes(volume)  # one pass unless the weights zoom
        labels = first
        if box is not None and self.zoom is not None:
            combined = combine_passes(first, zoomed, box, self.zoom["rule"])
            labels = network_postprocess(combined, volume.spacing)
        params = {
            "network": self.config,
            "grid": list(self.grid),
            "hu_window": list(self.hu_window),
            **info,
            "batch_slices": self.batch_slices,
            "threads": threads,
            "weights": self.weights_file.name,
            "min_tumour_ml": MIN_TUMOUR_ML,
            "bridge_radius_mm": BRIDGE_RADIUS_MM,
            "zoom": self.zoom,
            "training": self.training_info,
        }
        return labels, params


def _zoom_entry(ckpt: dict, path: Path) -> dict | None:
    """The weights' second-pass entry (``{"margin_mm", "rule", ...}``), checked; None when the
    weights have none or its rule is ``one_pass``."""
    zoom = ckpt.get("zoom")
    if zoom is None:
        return None
    if not isinstance(zoom, dict) or zoom.get("rule") not in ZOOM_RULES:
        raise ValueError(f"{path}: its zoom entry {zoom!r} has no rule of {', '.join(ZOOM_RULES)}")
    margin = float(zoom.get("margin_mm", -1))
    if not 0.0 <= margin <= 100.0:
        raise ValueError(f"{path}: zoom margin_mm must be in [0, 100] mm, got {margin}")
    return None if zoom["rule"] == "one_pass" else dict(zoom)


def _window_value(window: tuple[float, float], hu: float = -500.0) -> float:
    """Value of ``hu`` after the [0, 1] window mapping (the body threshold on the grid)."""
    lo, hi = window
    return float(np.clip((hu - lo) / (hi - lo), 0.0, 1.0))
