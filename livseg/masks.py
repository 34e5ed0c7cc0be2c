"""Helpers on 3D boolean masks shared by the methods, the metrics and the viewer payload:
the bounding box of the non-zero voxels, the largest connected component, and the split of
a mask at thin bridges (the networks' post-processing, protocol amendment 4).

Connectivity is stated per call: 26 (face, edge or corner neighbours; the default, as the
metrics' lesions and the methods' post-processing) or 6 (face neighbours only, scipy's
default, used by the classical method's body and seed regions).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_STRUCTURES = {
    6: ndimage.generate_binary_structure(3, 1),
    18: ndimage.generate_binary_structure(3, 2),
    26: ndimage.generate_binary_structure(3, 3),
}


def connectivity_structure(connectivity: int) -> np.ndarray:
    """scipy.ndimage structuring element of a 3D connectivity (6, 18 or 26)."""
    try:
        return _STRUCTURES[connectivity]
    except KeyError:
        raise ValueError(f"connectivity must be 6, 18 or 26, got {connectivity!r}") from None


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, slice, slice] | None:
    """Slices of the bounding box of a 3D mask's non-zero voxels, grown by ``margin`` voxels
    (clipped to the array); None when the mask is all zero. About two passes over the array."""
    mask = np.asarray(mask)
    proj_xy = mask.any(axis=2)
    xs = np.flatnonzero(proj_xy.any(axis=1))
    if xs.size == 0:
        return None
    ys = np.flatnonzero(proj_xy.any(axis=0))
    x0, x1 = int(xs[0]), int(xs[-1]) + 1
    y0, y1 = int(ys[0]), int(ys[-1]) + 1
    zs = np.flatnonzero(mask[x0:x1, y0:y1].any(axis=(0, 1)))
    z0, z1 = int(zs[0]), int(zs[-1]) + 1
    bounds = ((x0, x1), (y0, y1), (z0, z1))
    return tuple(  # type: ignore[return-value]
        slice(max(lo - margin, 0), min(hi + margin, n))
        for (lo, hi), n in zip(bounds, mask.shape, strict=True)
    )


def bounding_box_list(mask: np.ndarray) -> list[int]:
    """``[x0, x1, y0, y1, z0, z1]`` (half-open, voxels) of the non-zero voxels; all 0 if none."""
    box = bounding_box(mask)
    if box is None:
        return [0, 0, 0, 0, 0, 0]
    return [v for s in box for v in (s.start, s.stop)]


def largest_component(mask: np.ndarray, connectivity: int = 26) -> np.ndarray:
    """The largest connected component of a 3D mask (boolean; all False when empty). Ties go
    to the component scipy labels first (lowest index in C order)."""
    mask = np.asarray(mask, dtype=bool)
    out = np.zeros(mask.shape, dtype=bool)
    box = bounding_box(mask, margin=1)
    if box is None:
        return out
    lab, n = ndimage.label(mask[box], structure=connectivity_structure(connectivity))
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    out[box] = lab == int(np.argmax(sizes))
    return out


def split_at_thin_bridges(
    mask: np.ndarray,
    spacing: tuple[float, float, float],
    radius_mm: float,
    coarse_mm: float = 2.0,
) -> np.ndarray:
    """The part of a 3D mask that belongs to its largest thick body (boolean, a new array).

    The mask's voxels deeper than ``radius_mm`` (Euclidean distance to the outside, in mm
    from ``spacing``) form "bodies" (26-connected components). Every voxel of the mask goes
    to its nearest body, and the voxels of the largest body (the most deep voxels; ties to
    the one scipy labels first) are kept, reduced to their largest 26-connected component.
    So two organs joined by a strip thinner than 2 x ``radius_mm`` come apart, while a thin
    part of one organ (no body of its own) stays with it. The distances are computed on
    the mask's bounding box subsampled to steps of at least ``coarse_mm`` per axis, each
    voxel taking the decision of its nearest sample; beyond the box (and the image's edge)
    counts as outside the mask. A mask with at most one body (or ``radius_mm`` <= 0) is
    returned whole.
    """
    mask = np.asarray(mask, dtype=bool)
    box = bounding_box(mask, margin=1)
    if radius_mm <= 0 or box is None:
        return mask.copy()
    sub = mask[box]
    step = [max(1, int(coarse_mm // float(s))) for s in spacing]
    coarse = np.pad(sub[:: step[0], :: step[1], :: step[2]], 1)  # outside the box: not mask
    sampling = tuple(float(s) * k for s, k in zip(spacing, step, strict=True))
    deep = ndimage.distance_transform_edt(coarse, sampling=sampling)[1:-1, 1:-1, 1:-1] > radius_mm
    bodies, n = ndimage.label(deep, structure=connectivity_structure(26))
    if n <= 1:
        return mask.copy()
    sizes = np.bincount(bodies.ravel())
    sizes[0] = 0
    largest = int(np.argmax(sizes))
    nearest = ndimage.distance_transform_edt(bodies == 0, sampling=sampling, return_indices=True)[1]
    owned = bodies[tuple(nearest)] == largest  # per coarse sample: nearest body is the largest
    index = [
        np.minimum(np.rint(np.arange(n_full) / k).astype(np.int64), n_coarse - 1)
        for n_full, k, n_coarse in zip(sub.shape, step, owned.shape, strict=True)
    ]
    out = np.zeros(mask.shape, dtype=bool)
    out[box] = sub & owned[np.ix_(*index)]
    return largest_component(out, connectivity=26)
