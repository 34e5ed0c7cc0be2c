"""Intrahepatic vessels: portal and hepatic vein trees grown inside the liver shape."""

from __future__ import annotations

import math

import numpy as np

from livseg.phantom.anatomy import Anatomy, LiverShape, cavity_axes, coarse_lookup
from livseg.phantom.geometry import COARSE_MM


def _grow_tree(liver: LiverShape, rng, root, direction, radius, length, depth, segs, max_depth=4):
    direction = direction / np.linalg.norm(direction)
    end = root + direction * length
    if coarse_lookup(liver, liver.edt, end) < radius + 1.0:
        # shorten until inside
        for f in (0.7, 0.5, 0.3):
            end = root + direction * length * f
            if coarse_lookup(liver, liver.edt, end) >= radius + 1.0:
                break
        else:
            return
    segs.append((root, end, radius, radius * 0.85))
    if depth >= max_depth or radius < 1.6:
        return
    for sign in (-1, 1):
        perp = np.cross(direction, rng.normal(size=3))
        perp /= np.linalg.norm(perp) + 1e-9
        ang = np.deg2rad(rng.uniform(22, 42)) * sign
        new_dir = direction * math.cos(ang) + perp * math.sin(ang)
        _grow_tree(
            liver,
            rng,
            end,
            new_dir,
            radius * rng.uniform(0.66, 0.78),
            length * rng.uniform(0.7, 0.85),
            depth + 1,
            segs,
            max_depth,
        )


def draw_vessels(an: Anatomy, liver: LiverShape, rng) -> tuple[list, int]:
    """Segments (p0, p1, r0, r1) of the portal then hepatic vein trees (mm), and how many
    of them (the first ones) are portal."""
    ac, bc, _ = cavity_axes(an)
    pts = liver.origin + np.argwhere(liver.mask & (liver.edt > 10)) * COARSE_MM
    if len(pts) == 0:
        return [], 0
    segs: list = []

    def nearest(p):
        return pts[np.argmin(np.sum((pts - np.asarray(p)) ** 2, axis=1))]

    zc = float(np.mean(pts[:, 2]))
    hilum = nearest((-0.2 * ac, 0.05 * bc, zc - 15))
    _grow_tree(liver, rng, hilum, np.array([-1.0, -0.2, 0.25]), 7.0, 40.0, 0, segs)
    _grow_tree(liver, rng, hilum, np.array([1.0, 0.8, 0.3]), 5.5, 35.0, 0, segs)
    n_portal = len(segs)
    ztop = float(np.max(pts[:, 2]))
    ix, iy = an.ivc[0], an.ivc[1]
    confluence = nearest((ix, iy + 10, ztop - 25))
    for d in ([-1.0, -0.4, -0.6], [-0.2, 0.8, -0.6], [0.8, 0.7, -0.3]):
        _grow_tree(liver, rng, confluence, np.array(d), 6.0, 40.0, 0, segs, max_depth=3)
    return segs, n_portal
