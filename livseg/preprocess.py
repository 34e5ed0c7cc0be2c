"""Preprocessing for the networks: HU window normalisation, label resampling, body crop.

The paper's recipe: intensity normalisation and resampling to 256 x 256 in-plane. Here:
HU are clipped to the abdominal soft-tissue window ``HU_WINDOW`` = [-150, 250] HU and mapped
linearly to [0, 1] (``normalise_hu``); the image slices are resampled to 256 x 256 by
``livseg.methods.network_method.prepare_slices`` (antialiased bilinear, on HU, then the
window; training caches go through it too), reference label maps by nearest neighbour
(``resample_labels_inplane``); the z axis is kept. ``body_box`` crops the grid to the body.
Network outputs go back to the image's grid in ``network_method.logit_gaps_to_labels``.
"""

from __future__ import annotations

import numpy as np

from livseg.masks import bounding_box

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


def body_box(
    hu_small: np.ndarray, multiple: int, margin: int = 4, threshold: float = BODY_THRESHOLD_HU
) -> tuple[int, int, int, int]:
    """In-plane bounding box (x0, x1, y0, y1) of the body on a (x, y, z) grid.

    The body is every voxel above ``threshold`` HU (in any slice). The box is grown by
    ``margin`` voxels and to a multiple of ``multiple`` (the network's total down-sampling),
    staying inside the grid whenever the grid allows it. An empty body gives the full grid.
    """
    nx, ny = hu_small.shape[:2]
    box = bounding_box(hu_small > threshold, margin=margin)
    if box is None:
        return 0, nx, 0, ny
    bx, by = box[0], box[1]
    return (*_grow(bx.start, bx.stop, nx, multiple), *_grow(by.start, by.stop, ny, multiple))


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
