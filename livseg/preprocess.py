"""Preprocessing for the networks: HU window normalisation and in-plane resampling.

The paper's recipe: intensity normalisation and resampling to 256 x 256 in-plane. Here:
HU are clipped to the abdominal soft-tissue window ``HU_WINDOW`` = [-150, 250] HU and mapped
linearly to [0, 1]; each axial slice (``array[:, :, k]``) is resampled to 256 x 256 with
antialiased bilinear interpolation (label maps: nearest neighbour); the z axis is kept.
Network outputs (class logits on the 256-grid) go back to the image's own grid with
separable linear interpolation of the logits, followed by an argmax.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

HU_WINDOW: tuple[float, float] = (-150.0, 250.0)  # HU, soft-tissue / liver window
NETWORK_GRID: tuple[int, int] = (256, 256)  # in-plane size the 2D networks see
BODY_THRESHOLD_HU = -500.0  # HU, air / body split used to crop to the body


def normalise_hu(hu: np.ndarray, window: tuple[float, float] = HU_WINDOW) -> np.ndarray:
    """Clip HU to ``window`` and map it linearly to [0, 1] (float32)."""
    lo, hi = float(window[0]), float(window[1])
    if not hi > lo:
        raise ValueError(f"HU window must satisfy high > low, got {window}")
    out = np.clip(np.asarray(hu, dtype=np.float32), lo, hi)
    out -= lo
    out *= 1.0 / (hi - lo)
    return out


def _check_3d(array: np.ndarray, what: str) -> None:
    if array.ndim != 3:
        raise ValueError(f"{what} must be a 3D (x, y, z) array, got shape {array.shape}")
    if min(array.shape) < 1:
        raise ValueError(f"{what} has an empty axis: shape {array.shape}")


def resample_inplane(
    array: np.ndarray, size: tuple[int, int] = NETWORK_GRID, chunk: int = 32
) -> np.ndarray:
    """Resample every axial slice of an (X, Y, Z) float array to ``size`` (bilinear, antialiased).

    Returns float32 of shape (size[0], size[1], Z).
    """
    _check_3d(array, "image")
    x, y, z = array.shape
    if (x, y) == tuple(size):
        return np.ascontiguousarray(array, dtype=np.float32)
    out = np.empty((size[0], size[1], z), dtype=np.float32)
    src = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    with torch.inference_mode():
        for k0 in range(0, z, chunk):
            block = src[:, :, k0 : k0 + chunk].permute(2, 0, 1).unsqueeze(1)  # (k, 1, X, Y)
            res = F.interpolate(
                block, size=size, mode="bilinear", align_corners=False, antialias=True
            )
            out[:, :, k0 : k0 + chunk] = res[:, 0].permute(1, 2, 0).numpy()
    return out


def resample_labels_inplane(labels: np.ndarray, size: tuple[int, int] = NETWORK_GRID) -> np.ndarray:
    """Nearest-neighbour in-plane resampling of an (X, Y, Z) label map to ``size`` (uint8)."""
    _check_3d(labels, "label map")
    x, y, _ = labels.shape
    ix = _nearest_index(x, size[0])
    iy = _nearest_index(y, size[1])
    return np.ascontiguousarray(labels[ix][:, iy]).astype(np.uint8, copy=False)


def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """Source index of each output sample (pixel centres, like align_corners=False)."""
    pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    return np.clip(np.round(pos), 0, n_in - 1).astype(np.int64)


def _linear_weights(n_in: int, n_out: int, start: int, stop: int):
    """Indices i0, i1 and weight w to sample output positions [start, stop) of an n_out grid."""
    pos = (np.arange(start, stop) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w = (pos - i0).astype(np.float32)
    return torch.from_numpy(i0), torch.from_numpy(i1), torch.from_numpy(w)


def logits_to_labels(
    logits: torch.Tensor,
    out_shape: tuple[int, int],
    box: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Bring class logits (C, x, y, Z) from the network grid to an (X, Y) in-plane grid.

    Linear interpolation of the logits along x and y (pixel-centre aligned), then argmax.
    ``box`` = (x0, x1, y0, y1) limits the work to that window of the output grid (everything
    outside is background). Returns uint8 labels of shape (X, Y, Z).
    """
    c, lx, ly, z = logits.shape
    nx, ny = out_shape
    x0, x1, y0, y1 = box if box is not None else (0, nx, 0, ny)
    out = np.zeros((nx, ny, z), dtype=np.uint8)
    if x1 <= x0 or y1 <= y0:
        return out
    ix0, ix1, wx = _linear_weights(lx, nx, x0, x1)
    iy0, iy1, wy = _linear_weights(ly, ny, y0, y1)
    with torch.inference_mode():
        # only the rows / columns the window needs
        lo_x, hi_x = int(ix0.min()), int(ix1.max()) + 1
        lo_y, hi_y = int(iy0.min()), int(iy1.max()) + 1
        sub = logits[:, lo_x:hi_x, lo_y:hi_y, :].float()
        ix0, ix1, iy0, iy1 = ix0 - lo_x, ix1 - lo_x, iy0 - lo_y, iy1 - lo_y
        wxv = wx.view(1, -1, 1, 1)
        ax = sub[:, ix0] * (1 - wxv) + sub[:, ix1] * wxv  # (C, bx, ly', Z)
        wyv = wy.view(1, 1, -1, 1)
        axy = ax[:, :, iy0] * (1 - wyv) + ax[:, :, iy1] * wyv  # (C, bx, by, Z)
        out[x0:x1, y0:y1, :] = axy.argmax(dim=0).to(torch.uint8).numpy()
    return out


def body_box(
    hu_small: np.ndarray, multiple: int, margin: int = 4, threshold: float = BODY_THRESHOLD_HU
) -> tuple[int, int, int, int]:
    """In-plane bounding box (x0, x1, y0, y1) of the body on a (x, y, z) grid.

    The body is every voxel above ``threshold`` HU (in any slice). The box is grown by
    ``margin`` voxels and to a multiple of ``multiple`` (the network's total down-sampling),
    staying inside the grid whenever the grid allows it. An empty body gives the full grid.
    """
    nx, ny = hu_small.shape[:2]
    proj = (hu_small > threshold).any(axis=2)
    if not proj.any():
        return 0, nx, 0, ny
    xs = np.flatnonzero(proj.any(axis=1))
    ys = np.flatnonzero(proj.any(axis=0))
    return (
        *_grow(xs[0] - margin, xs[-1] + 1 + margin, nx, multiple),
        *_grow(ys[0] - margin, ys[-1] + 1 + margin, ny, multiple),
    )


def _grow(a: int, b: int, n: int, multiple: int) -> tuple[int, int]:
    a, b = max(0, int(a)), min(n, int(b))
    length = -(-(b - a) // multiple) * multiple
    if length >= n:
        return 0, n
    extra = length - (b - a)
    a = max(0, a - extra // 2)
    b = a + length
    if b > n:
        b = n
        a = n - length
    return a, b


def pad_to_multiple(
    t: torch.Tensor, multiple: int, dims: tuple[int, ...]
) -> tuple[torch.Tensor, list]:
    """Zero-pad tensor dims (indices into ``t.shape``) at the end up to a multiple; returns pads."""
    pads = [0] * (2 * t.dim())
    sizes = []
    for d in dims:
        n = t.shape[d]
        p = (-n) % multiple
        sizes.append((d, n))
        pads[2 * (t.dim() - 1 - d) + 1] = p
    if any(pads):
        t = F.pad(t, pads)
    return t, sizes
