"""Geometry of the phantom: the sampling grid, rotations, ellipsoids, anti-aliased tubes.

Everything is in mm in the drawing frame (x towards the patient's left, y anterior, z
superior); painting functions write HU into a (x, y, z) float32 volume in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

COARSE_MM = 3.0  # grid of the liver shape field (mm)


@dataclass(frozen=True)
class Grid:
    """Sampling grid: voxel centres (mm) along x, y, z."""

    xs: np.ndarray
    ys: np.ndarray
    zs: np.ndarray

    @property
    def spacing(self) -> tuple[float, float, float]:
        return tuple(float(a[1] - a[0]) for a in (self.xs, self.ys, self.zs))  # type: ignore

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.xs.size, self.ys.size, self.zs.size)

    def box(self, lo, hi) -> tuple[slice, slice, slice] | None:
        """Index slices of the voxels whose centres lie in [lo, hi] (mm); None if empty."""
        out = []
        for axis, a0, a1 in zip((self.xs, self.ys, self.zs), lo, hi, strict=True):
            i0 = int(np.searchsorted(axis, a0, side="left"))
            i1 = int(np.searchsorted(axis, a1, side="right"))
            if i1 <= i0:
                return None
            out.append(slice(i0, i1))
        return tuple(out)  # type: ignore[return-value]

    def coords(self, box):
        """Broadcastable x, y, z coordinate arrays (mm, float32) of a box."""
        return (
            self.xs[box[0]].astype(np.float32)[:, None, None],
            self.ys[box[1]].astype(np.float32)[None, :, None],
            self.zs[box[2]].astype(np.float32)[None, None, :],
        )


def rotation(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    """Random rotation matrix with angles up to max_deg about each axis."""
    a, b, c = np.deg2rad(rng.uniform(-max_deg, max_deg, 3))
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def ellipsoid_q(x, y, z, centre, radii, rot=None):
    """Normalised squared radius sum(((R (p - c)) / r)^2) on broadcast coordinates."""
    dx, dy, dz = x - centre[0], y - centre[1], z - centre[2]
    if rot is None:
        return (dx / radii[0]) ** 2 + (dy / radii[1]) ** 2 + (dz / radii[2]) ** 2
    q = 0.0
    for k in range(3):
        u = rot[k, 0] * dx + rot[k, 1] * dy + rot[k, 2] * dz
        q = q + (u / radii[k]) ** 2
    return q


def rot_z(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1.0]])


def paint_tube(vol, mask_ok, grid: Grid, p0, p1, r0, r1, hu):
    """Anti-aliased capsule from p0 to p1 (radii r0 -> r1 mm), painted where mask_ok."""
    rmax = max(r0, r1) + 2
    box = grid.box(np.minimum(p0, p1) - rmax, np.maximum(p0, p1) + rmax)
    if box is None:
        return
    x, y, z = grid.coords(box)
    d = np.asarray(p1, np.float32) - np.asarray(p0, np.float32)
    ll = float(d @ d) + 1e-9
    t = np.clip(((x - p0[0]) * d[0] + (y - p0[1]) * d[1] + (z - p0[2]) * d[2]) / ll, 0, 1)
    dist = np.sqrt(
        (x - p0[0] - t * d[0]) ** 2 + (y - p0[1] - t * d[1]) ** 2 + (z - p0[2] - t * d[2]) ** 2
    )
    r = r0 + (r1 - r0) * t
    vox = min(grid.spacing[:2])
    a = np.clip((r - dist) / vox + 0.5, 0, 1)
    if mask_ok is not None:
        a = a * mask_ok[box]
    sub = vol[box]
    sub += a * (hu - sub)


def paint_ellipsoid(vol, cav, grid, organ, hu, shell=None, shell_hu=None, below=None):
    c, r, rot = organ
    rr = max(r) + 2
    box = grid.box(np.asarray(c) - rr, np.asarray(c) + rr)
    if box is None:
        return None
    x, y, z = grid.coords(box)
    q = ellipsoid_q(x, y, z, c, r, rot)
    m = (q <= 1.0) & cav[box]
    if below is not None:
        m &= below[box]
    sub = vol[box]
    if shell is not None:
        inner = ellipsoid_q(x, y, z, c, [max(ri - shell, 1.0) for ri in r], rot) <= 1.0
        sub[m] = shell_hu
        sub[m & inner] = hu
    else:
        sub[m] = hu
    return box, m
