"""Synthetic portal-venous abdominal CT phantoms with liver / tumour reference labels.

``generate_case(seed, size)`` draws one patient: body outline with subcutaneous fat and
abdominal-wall muscle, spine (vertebral bodies with cortical rim, discs, posterior elements,
spinal canal), ribs, paraspinal and psoas muscles, aorta and IVC, kidneys (enhancing
cortex), spleen, stomach (air-fluid level), colon and small-bowel loops, gallbladder, lung
bases and heart above the diaphragm, and the liver: a smooth random organ-like shape (a
union of blobs warped by a low-frequency random displacement field, a large right lobe and
a tapered left lobe crossing the midline, cut by the diaphragm and the abdominal wall) with
enhancing portal and hepatic vein trees. 1-6 tumours (1-6 cm) lie fully inside the liver:
mostly hypodense, some near-isodense with blurred borders. Partial-volume blur and
slightly correlated noise (SD 10-20 HU) are added; the volume is in HU.

All anatomy is drawn in mm in the patient frame and only then sampled, so ``size="small"``
(128 x 128 in-plane, 24-40 slices) shows the same patient as ``size="full"`` (512 x 512,
60-150 slices) on a coarser grid. Arrays follow ``livseg.volume``'s canonical LAS+ grid:
(x, y, z) with x index 0 at the patient's right, so the liver lies at low x; the affine is
diag(-sx, sy, sz) plus an origin, i.e. world (NIfTI RAS mm) x = -(drawing-frame x), and the
files open the right way round in 3D Slicer / ITK-SNAP. Millimetre positions in ``meta``
(lesion centres, landmarks) are world RAS mm.

``write_dataset(out_dir, n, seed)`` writes n cases in LiTS layout plus ``manifest.json``;
case i uses ``case_seed(seed, i)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from livseg.volume import LIVER, TUMOUR, Case, Volume

GENERATOR_VERSION = "1.0"
SIZES = ("full", "small")
TEST_FRACTION = 0.2

# HU of the tissues (portal-venous phase); each case draws around these
AIR_HU = -1000.0
LUNG_HU = -860.0
FAT_HU = -100.0
MUSCLE_HU = 55.0
BLOOD_HU = 165.0
BONE_CORTEX_HU = 700.0
BONE_CANCELLOUS_HU = 230.0

_COARSE_MM = 3.0  # grid of the liver shape field (mm)


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


# --------------------------------------------------------------------------- grid


@dataclass(frozen=True)
class _Grid:
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


def _rotation(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    """Random rotation matrix with angles up to max_deg about each axis."""
    a, b, c = np.deg2rad(rng.uniform(-max_deg, max_deg, 3))
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _ellipsoid_q(x, y, z, centre, radii, rot=None):
    """Normalised squared radius sum(((R (p - c)) / r)^2) on broadcast coordinates."""
    dx, dy, dz = x - centre[0], y - centre[1], z - centre[2]
    if rot is None:
        return (dx / radii[0]) ** 2 + (dy / radii[1]) ** 2 + (dz / radii[2]) ** 2
    q = 0.0
    for k in range(3):
        u = rot[k, 0] * dx + rot[k, 1] * dy + rot[k, 2] * dz
        q = q + (u / radii[k]) ** 2
    return q


# --------------------------------------------------------------------------- anatomy


@dataclass
class _Anatomy:
    """Size-independent description of one synthetic patient (all lengths in mm)."""

    half_width: float  # body half width (x) at scale 1
    half_depth: float  # body half depth (y), anterior
    post_factor: float  # posterior half depth = half_depth * post_factor
    fat: float  # subcutaneous fat thickness
    wall: float  # abdominal wall muscle thickness
    scale_amp: float
    scale_phase: float
    vert_y: float  # vertebral body centre y
    vert_r: float
    aorta: tuple[float, float, float]  # x, y, radius
    ivc: tuple[float, float, float, float]  # x, y, rx, ry
    dome_z: float  # top of the right hemidiaphragm (0 by construction)
    hu: dict
    noise_sd: float
    liver_hu: float


def _draw_anatomy(rng: np.random.Generator) -> _Anatomy:
    half_width = rng.uniform(140.0, 172.0)
    half_depth = rng.uniform(100.0, 125.0)
    fat = rng.uniform(10.0, 28.0)
    wall = rng.uniform(8.0, 13.0)
    post = rng.uniform(0.88, 0.95)
    vert_r = rng.uniform(17.0, 21.0)
    vert_y = -half_depth * post + fat * 0.6 + 62.0
    aorta_r = rng.uniform(10.0, 12.5)
    aorta = (rng.uniform(14.0, 22.0), vert_y + vert_r + aorta_r + 2.0, aorta_r)
    ivc = (
        rng.uniform(-30.0, -22.0),
        vert_y + vert_r + 14.0,
        rng.uniform(11.0, 14.0),
        rng.uniform(8.0, 10.0),
    )
    liver_hu = rng.uniform(102.0, 118.0)
    hu = {
        "fat": FAT_HU + rng.uniform(-10, 10),
        "muscle": MUSCLE_HU + rng.uniform(-8, 8),
        "blood": BLOOD_HU + rng.uniform(-10, 15),
        "portal": rng.uniform(160.0, 180.0),
        "spleen": liver_hu + rng.uniform(0.0, 15.0),
        "kidney_cortex": rng.uniform(170.0, 200.0),
        "kidney_medulla": rng.uniform(110.0, 140.0),
        "bowel_wall": rng.uniform(70.0, 100.0),
        "fluid": rng.uniform(5.0, 25.0),
        "myocardium": rng.uniform(100.0, 125.0),
        "bile": rng.uniform(0.0, 15.0),
    }
    return _Anatomy(
        half_width=half_width,
        half_depth=half_depth,
        post_factor=post,
        fat=fat,
        wall=wall,
        scale_amp=rng.uniform(0.0, 0.04),
        scale_phase=rng.uniform(0, 2 * np.pi),
        vert_y=vert_y,
        vert_r=vert_r,
        aorta=aorta,
        ivc=ivc,
        dome_z=0.0,
        hu=hu,
        noise_sd=rng.uniform(11.0, 18.0),
        liver_hu=liver_hu,
    )


def _body_scale(an: _Anatomy, z: np.ndarray) -> np.ndarray:
    """Body scale factor along z (the abdomen narrows slightly towards the pelvis)."""
    return 1.0 + an.scale_amp * np.sin(2 * np.pi * z / 350.0 + an.scale_phase) + 0.0002 * z


def _cavity_axes(an: _Anatomy) -> tuple[float, float, float]:
    """Half width, anterior and posterior half depth of the abdominal cavity at scale 1."""
    inner = an.fat + an.wall
    return an.half_width - inner, an.half_depth - inner, an.half_depth * an.post_factor - inner


def _diaphragm_z(an: _Anatomy, x, y):
    """Height (mm) of the diaphragm's under-surface above (x, y); highest at the right dome."""
    ac, bc, _ = _cavity_axes(an)
    right = 1.0 / (1.0 + np.exp(x / 25.0))  # 1 on the liver's side (x < 0)
    return (
        an.dome_z
        - 110.0 * ((x + 0.4 * ac) / ac) ** 2 * right
        - 110.0 * ((x - 0.4 * ac) / ac) ** 2 * (1 - right)
        - 15.0 * (1 - right)
        - 35.0 * np.clip(-(y - 0.2 * bc) / bc, 0, None) ** 2
    )


# --------------------------------------------------------------------------- liver shape


@dataclass
class _LiverShape:
    origin: np.ndarray  # coarse grid origin (mm)
    mask: np.ndarray  # coarse bool mask
    field: np.ndarray  # coarse float32 field, > 0 inside
    edt: np.ndarray  # coarse distance to the liver surface (mm)


def _coarse_axes(lo, hi):
    return [
        np.arange(a, b + 1e-6, _COARSE_MM, dtype=np.float32) for a, b in zip(lo, hi, strict=True)
    ]


def _random_warp(rng, amp: float, n_terms: int = 4):
    """Low-frequency random displacement field as a function of (x, y, z) in mm."""
    terms = []
    for _ in range(3):
        comp = []
        for _ in range(n_terms):
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            wavelength = rng.uniform(90.0, 180.0)
            comp.append(
                (
                    direction * 2 * np.pi / wavelength,
                    rng.uniform(0, 2 * np.pi),
                    rng.uniform(0.4, 1.0),
                )
            )
        norm = sum(c[2] for c in comp)
        terms.append([(k, ph, a * amp / norm * 1.6) for k, ph, a in comp])

    def warp(x, y, z):
        out = []
        for comp in terms:
            d = 0.0
            for k, ph, a in comp:
                d = d + a * np.cos(k[0] * x + k[1] * y + k[2] * z + ph)
            out.append(d)
        return out

    return warp


def _draw_liver(an: _Anatomy, rng: np.random.Generator, organs: dict) -> _LiverShape:
    ac, bc, bp = _cavity_axes(an)
    lo = np.array([-ac - 6, -bp - 6, -270.0])
    hi = np.array([0.75 * ac, bc + 6, 12.0])
    ax = _coarse_axes(lo, hi)
    x, y, z = ax[0][:, None, None], ax[1][None, :, None], ax[2][None, None, :]
    warp = _random_warp(rng, amp=rng.uniform(8.0, 13.0))
    wx, wy, wz = warp(x, y, z)
    xw, yw, zw = x + wx, y + wy, z + wz
    j = lambda: rng.uniform(0.88, 1.12)  # noqa: E731  jitter
    # blobs: centre (fractions of the cavity in x/y, mm in z), radii
    blobs = [
        (
            (-0.55 * ac * j(), -0.05 * bc, -85 * j()),
            (0.42 * ac * j(), 0.62 * bc * j(), 78 * j()),
            1.0,
        ),
        (
            (-0.62 * ac * j(), -0.12 * bc, -140 * j()),
            (0.32 * ac * j(), 0.45 * bc * j(), 45 * j()),
            0.8,
        ),
        (
            (-0.15 * ac * j(), 0.12 * bc, -65 * j()),
            (0.30 * ac * j(), 0.45 * bc * j(), 48 * j()),
            0.9,
        ),
        (
            (0.14 * ac * j(), 0.36 * bc, -45 * j()),
            (0.30 * ac * j(), 0.24 * bc * j(), 32 * j()),
            0.8,
        ),
        (
            (0.40 * ac * j(), 0.42 * bc, -40 * j()),
            (0.18 * ac * j(), 0.14 * bc * j(), 20 * j()),
            0.6,
        ),
    ]
    field = np.zeros(np.broadcast_shapes(x.shape, y.shape, z.shape), np.float32)
    for c, r, w in blobs:
        field += (w * np.exp(-_ellipsoid_q(xw, yw, zw, c, r))).astype(np.float32)
    # impressions of the neighbours and limits (cavity wall, diaphragm, spine, great
    # vessels): penalties that grow linearly with depth (per mm), so the cut stays smooth
    # after interpolation
    for name in ("kidney_r", "gallbladder", "stomach", "spleen"):
        if name in organs:
            c, r, rot = organs[name]
            rho = np.sqrt(_ellipsoid_q(x, y, z, c, np.asarray(r), rot))
            field -= (0.25 * min(r) * np.clip(1.2 - rho, 0, None)).astype(np.float32)
    scale = _body_scale(an, z)
    yn = np.where(y >= 0, y / bc, y / bp)
    rho_cav = np.sqrt((x / (ac * scale)) ** 2 + (yn / scale) ** 2)
    field -= (0.25 * np.clip((rho_cav - 1.0) * bp + 3.0, 0, None)).astype(np.float32)
    field -= (0.25 * np.clip(z - _diaphragm_z(an, x, y) + 2.0, 0, None)).astype(np.float32)
    ax_, ay_, ar = an.aorta
    ix, iy, irx, iry = an.ivc
    excl = np.clip(an.vert_r + 8 - np.sqrt(x**2 + (y - an.vert_y) ** 2), 0, None)
    excl = np.maximum(excl, np.clip(an.vert_y - y, 0, None))
    excl = np.maximum(excl, np.clip(ar + 4 - np.sqrt((x - ax_) ** 2 + (y - ay_) ** 2), 0, None))
    rho_ivc = np.sqrt(((x - ix) / (irx + 2)) ** 2 + ((y - iy) / (iry + 2)) ** 2)
    excl = np.maximum(excl, np.clip((1.0 - rho_ivc) * (iry + 2), 0, None))
    field -= (0.25 * excl).astype(np.float32)
    # threshold for the target volume, keep the largest piece
    target_ml = rng.uniform(1350.0, 1850.0)
    n_vox = int(target_ml * 1000.0 / _COARSE_MM**3)
    flat = field.ravel()
    thr = float(np.partition(flat, flat.size - n_vox)[flat.size - n_vox])
    mask = field >= thr
    lab, n = ndimage.label(mask)
    if n > 1:
        sizes = np.bincount(lab.ravel())[1:]
        mask = lab == (1 + int(np.argmax(sizes)))
    edt = ndimage.distance_transform_edt(mask, sampling=_COARSE_MM).astype(np.float32)
    return _LiverShape(origin=lo, mask=mask, field=(field - thr).astype(np.float32), edt=edt)


def _coarse_lookup(shape: _LiverShape, arr: np.ndarray, p) -> float:
    idx = np.round((np.asarray(p) - shape.origin) / _COARSE_MM).astype(int)
    if np.any(idx < 0) or np.any(idx >= np.array(arr.shape)):
        return 0.0
    return float(arr[tuple(idx)])


def _upsample_field(shape: _LiverShape, grid: _Grid, box) -> np.ndarray:
    """Trilinear interpolation of the coarse liver field onto the grid voxels of box."""
    f = shape.field
    for axis, (coords, sl) in enumerate(zip((grid.xs, grid.ys, grid.zs), box, strict=True)):
        pos = (coords[sl] - shape.origin[axis]) / _COARSE_MM
        pos = np.clip(pos, 0, f.shape[axis] - 1.000001)
        i0 = np.floor(pos).astype(int)
        w = (pos - i0).astype(np.float32)
        shp = [1, 1, 1]
        shp[axis] = -1
        w = w.reshape(shp)
        f = np.take(f, i0, axis=axis) * (1 - w) + np.take(f, i0 + 1, axis=axis) * w
    return f


# --------------------------------------------------------------------------- lesions


@dataclass
class _Lesion:
    centre: np.ndarray  # mm
    radius: float  # nominal radius (mm)
    kind: str  # "hypodense" | "isodense-blurred"
    contrast: float  # HU below the liver
    border: float  # width of the transition (mm)
    axes: np.ndarray
    rot: np.ndarray
    bumps: list
    rim: float
    necrosis: float


def _draw_lesions(
    an: _Anatomy, liver: _LiverShape, rng: np.random.Generator
) -> tuple[str, list[_Lesion]]:
    u = rng.uniform()
    if u < 0.25:
        scenario = "multiple-small"
        n = int(rng.integers(3, 7))
        diam = [
            rng.uniform(11.0, 19.0) if rng.uniform() < 0.8 else rng.uniform(20.0, 35.0)
            for _ in range(n)
        ]
        kinds = ["hypodense"] * n
    elif u < 0.45:
        scenario = "solitary-isodense"
        n = 1
        diam = [rng.uniform(25.0, 45.0)]
        kinds = ["isodense-blurred"]
    else:
        scenario = "mixed"
        n = int(rng.integers(1, 5))
        diam = [rng.uniform(12.0, 52.0) for _ in range(n)]
        kinds = ["isodense-blurred" if rng.uniform() < 0.15 else "hypodense" for _ in range(n)]
    order = np.argsort(diam)[::-1]  # place big ones first
    pts = np.argwhere(liver.mask)
    placed: list[_Lesion] = []
    for k in order:
        d = diam[k]
        for _attempt in range(6):
            r = d / 2
            ok = liver.edt[liver.mask] >= 1.3 * r + 5.0
            cand = pts[ok]
            if cand.size:
                for _ in range(40):
                    p = (
                        liver.origin
                        + cand[rng.integers(len(cand))] * _COARSE_MM
                        + rng.uniform(-1, 1, 3)
                    )
                    if all(
                        np.linalg.norm(p - o.centre) > 1.3 * (r + o.radius) + 15.0 for o in placed
                    ):
                        break
                else:
                    p = None
                if p is not None:
                    break
            d = max(11.0, d * 0.8)
        else:
            continue
        kind = kinds[k]
        if kind == "hypodense":
            contrast, border = rng.uniform(20.0, 60.0), rng.uniform(0.5, 1.0)
        else:
            contrast, border = rng.uniform(5.0, 15.0), rng.uniform(2.5, 4.5)
        bumps = []
        for _ in range(4):
            w = rng.normal(size=3)
            w *= rng.uniform(0.5, 1.3) / np.linalg.norm(w)
            bumps.append((w, rng.uniform(0, 2 * np.pi), rng.uniform(0.02, 0.045)))
        placed.append(
            _Lesion(
                centre=p,
                radius=d / 2,
                kind=kind,
                contrast=contrast,
                border=border,
                axes=rng.uniform(0.88, 1.12, 3),
                rot=_rotation(rng, 90.0),
                bumps=bumps,
                rim=rng.uniform(10.0, 25.0)
                if (kind == "hypodense" and rng.uniform() < 0.3)
                else 0.0,
                necrosis=rng.uniform(10.0, 25.0) if (kind == "hypodense" and d > 35) else 0.0,
            )
        )
    return scenario, placed


def _lesion_rho(les: _Lesion, grid: _Grid, box):
    x, y, z = grid.coords(box)
    dx, dy, dz = x - les.centre[0], y - les.centre[1], z - les.centre[2]
    u = [les.rot[k, 0] * dx + les.rot[k, 1] * dy + les.rot[k, 2] * dz for k in range(3)]
    dist = np.sqrt(u[0] ** 2 + u[1] ** 2 + u[2] ** 2) + 1e-6
    q = np.sqrt(sum((u[k] / (les.axes[k] * les.radius)) ** 2 for k in range(3)))
    eps = 0.0
    for w, ph, a in les.bumps:
        eps = eps + a * np.cos(2 * np.pi * (w[0] * u[0] + w[1] * u[1] + w[2] * u[2]) / dist + ph)
    return q / (1.0 + eps)


# --------------------------------------------------------------------------- vessels


def _grow_tree(liver: _LiverShape, rng, root, direction, radius, length, depth, segs, max_depth=4):
    direction = direction / np.linalg.norm(direction)
    end = root + direction * length
    if _coarse_lookup(liver, liver.edt, end) < radius + 1.0:
        # shorten until inside
        for f in (0.7, 0.5, 0.3):
            end = root + direction * length * f
            if _coarse_lookup(liver, liver.edt, end) >= radius + 1.0:
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


def _draw_vessels(an: _Anatomy, liver: _LiverShape, rng) -> list:
    """Segments (p0, p1, r0, r1) of the portal and hepatic vein trees (mm)."""
    ac, bc, _ = _cavity_axes(an)
    pts = liver.origin + np.argwhere(liver.mask & (liver.edt > 10)) * _COARSE_MM
    if len(pts) == 0:
        return []
    segs: list = []

    def nearest(p):
        return pts[np.argmin(np.sum((pts - np.asarray(p)) ** 2, axis=1))]

    zc = float(np.mean(pts[:, 2]))
    hilum = nearest((-0.2 * ac, 0.05 * bc, zc - 15))
    _grow_tree(liver, rng, hilum, np.array([-1.0, -0.2, 0.25]), 7.0, 40.0, 0, segs)
    _grow_tree(liver, rng, hilum, np.array([1.0, 0.8, 0.3]), 5.5, 35.0, 0, segs)
    ztop = float(np.max(pts[:, 2]))
    ix, iy = an.ivc[0], an.ivc[1]
    confluence = nearest((ix, iy + 10, ztop - 25))
    for d in ([-1.0, -0.4, -0.6], [-0.2, 0.8, -0.6], [0.8, 0.7, -0.3]):
        _grow_tree(liver, rng, confluence, np.array(d), 6.0, 40.0, 0, segs, max_depth=3)
    return segs


def _paint_tube(vol, mask_ok, grid: _Grid, p0, p1, r0, r1, hu):
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


# --------------------------------------------------------------------------- grid choice


def _choose_grid(an: _Anatomy, liver: _LiverShape, rng, size: str) -> _Grid:
    zs_l = liver.origin[2] + np.nonzero(liver.mask.any(axis=(0, 1)))[0] * _COARSE_MM
    z_lo = float(zs_l.min()) - rng.uniform(20.0, 45.0)
    z_hi = float(zs_l.max()) + rng.uniform(20.0, 45.0)
    coverage = z_hi - z_lo
    sxy_min = (an.half_width * 1.08 + an.scale_amp * an.half_width + 8.0) / 256.0
    sxy = rng.uniform(max(0.66, sxy_min), 0.88)
    dz = float(rng.choice([1.5, 2.0, 2.5, 3.0, 5.0], p=[0.15, 0.25, 0.3, 0.2, 0.1]))
    nz = int(np.clip(round(coverage / dz), 60, 150))
    dz = coverage / nz
    dz = float(np.clip(round(dz * 4) / 4, 1.0, 5.0))
    nz = int(np.clip(math.ceil(coverage / dz), 60, 150))
    if size == "small":
        nxy, sxy = 128, sxy * 4
        nz = int(np.clip(round(nz / 3.5), 24, 40))
        dz = round(coverage / nz, 2)
    else:
        nxy = 512
    zc = 0.5 * (z_lo + z_hi)
    xs = (np.arange(nxy) - (nxy - 1) / 2) * sxy
    ys = (np.arange(nxy) - (nxy - 1) / 2) * sxy
    zs = zc + (np.arange(nz) - (nz - 1) / 2) * dz
    return _Grid(xs, ys, zs)


# --------------------------------------------------------------------------- torso


def _torso_slice(an: _Anatomy, X, Y, scale: float):
    """HU image and cavity mask of one axial body cross-section (2D, before z features)."""
    hw, hd, hp = (
        an.half_width * scale,
        an.half_depth * scale,
        an.half_depth * an.post_factor * scale,
    )
    img = np.full(np.broadcast_shapes(X.shape, Y.shape), AIR_HU, np.float32)

    def ell(a, b_ant, b_post, x0=0.0, y0=0.0):
        yy = Y - y0
        b = np.where(yy >= 0, b_ant, b_post)
        return ((X - x0) / a) ** 2 + (yy / b) ** 2 <= 1.0

    body = ell(hw, hd, hp)
    img[body] = an.hu["fat"]
    f = an.fat
    inner_m = ell(hw - f, hd - f, hp - 0.5 * f)
    img[inner_m] = an.hu["muscle"]
    inner = an.fat + an.wall
    cavity = ell(hw - inner, hd - inner, hp - inner)
    img[cavity] = an.hu["fat"] + 8.0
    vy, vr = an.vert_y, an.vert_r
    # paraspinal muscles, posterior elements, spinal canal
    for sx in (-1, 1):
        m = ell(30.0, 24.0, 24.0, sx * 30.0, vy - 48.0)
        img[m & body] = an.hu["muscle"] - 5
        cavity &= ~m
    post = ell(9.0, 22.0, 22.0, 0.0, vy - 40.0) | ell(26.0, 6.0, 6.0, 0.0, vy - 30.0)
    img[post] = BONE_CORTEX_HU * 0.8
    canal = ell(8.0, 8.0, 8.0, 0.0, vy - vr - 8.0)
    img[canal] = 15.0
    vb = ell(vr, vr * 0.9, vr * 0.9, 0.0, vy)
    img[vb] = BONE_CORTEX_HU
    img[ell(vr - 2.5, vr * 0.9 - 2.5, vr * 0.9 - 2.5, 0.0, vy)] = BONE_CANCELLOUS_HU
    cavity &= ~(vb | post | canal | (Y < vy - vr))
    ax_, ay_, ar = an.aorta
    ao = ell(ar, ar, ar, ax_, ay_)
    img[ao] = an.hu["blood"]
    ix, iy, irx, iry = an.ivc
    iv = ell(irx, iry, iry, ix, iy)
    img[iv] = an.hu["blood"] - 12
    cavity &= ~(ao | iv)
    return img, cavity


def _paint_torso(an: _Anatomy, grid: _Grid, vol: np.ndarray, cav: np.ndarray, rng) -> None:
    X = grid.xs.astype(np.float32)[:, None]
    Y = grid.ys.astype(np.float32)[None, :]
    scales = np.round(_body_scale(an, grid.zs) / 0.01) * 0.01
    # runs of slices with the same body scale share one 2D template (contiguous z writes)
    k0 = 0
    while k0 < len(scales):
        k1 = k0 + 1
        while k1 < len(scales) and scales[k1] == scales[k0]:
            k1 += 1
        img, cavity = _torso_slice(an, X, Y, float(scales[k0]))
        vol[:, :, k0:k1] = img[:, :, None]
        cav[:, :, k0:k1] = cavity[:, :, None]
        k0 = k1
    # z-dependent features: discs, ribs, psoas
    vy, vr = an.vert_y, an.vert_r
    ac, bc, bp = _cavity_axes(an)
    rib_rng_seed = int(rng.integers(0, 2**31))
    for k, z in enumerate(grid.zs):
        sl = vol[:, :, k]
        cs = cav[:, :, k]
        if (z + 400.0) % 32.0 < 7.0:  # intervertebral disc
            box = grid.box((-vr - 1, vy - vr, z), (vr + 1, vy + vr, z))
            if box is not None:
                b2 = box[:2]
                xx, yy = X[b2[0]], Y[:, b2[1]]
                m = (xx / vr) ** 2 + ((yy - vy) / (vr * 0.9)) ** 2 <= 1
                sl[b2][m] = 90.0
        if z < -130.0:  # psoas, growing caudally
            pr = min(25.0, 8.0 + (-130.0 - z) * 0.15)
            for sx in (-1, 1):
                cx, cy = sx * (vr + pr * 0.8), vy + 3
                box = grid.box((cx - pr, cy - pr, z), (cx + pr, cy + pr, z))
                if box is None:
                    continue
                b2 = box[:2]
                m = ((X[b2[0]] - cx) / pr) ** 2 + ((Y[:, b2[1]] - cy) / (pr * 0.9)) ** 2 <= 1
                sl[b2][m] = an.hu["muscle"]
                cs[b2][m] = False
        if z > -190.0:  # ribs: oval cross-sections inside the wall, changing every 14 mm
            band = int(math.floor((z + 400.0) / 14.0))
            brng = np.random.default_rng([rib_rng_seed, band])
            if band % 2 == 0:
                continue
            s = float(_body_scale(an, np.array([z]))[0])
            depth = an.fat + 0.5 * an.wall
            for side in (-1, 1):
                for theta in np.deg2rad(brng.uniform(15, 165, 5)):
                    th = theta if side > 0 else np.pi - theta
                    if abs(np.degrees(th) - 90) < 18:
                        continue
                    ca, sa = math.cos(th), math.sin(th)
                    rad_y = (
                        an.half_depth if sa >= 0 else an.half_depth * an.post_factor
                    ) * s - depth
                    cx, cy = (an.half_width * s - depth) * ca, rad_y * sa
                    box = grid.box((cx - 9, cy - 9, z), (cx + 9, cy + 9, z))
                    if box is None:
                        continue
                    b2 = box[:2]
                    xx, yy = X[b2[0]] - cx, Y[:, b2[1]] - cy
                    # tangent direction (-sa, ca): long axis 8 mm, short 4.5 mm
                    ut = xx * -sa + yy * ca
                    un = xx * ca + yy * sa
                    q = (ut / 8.0) ** 2 + (un / 4.5) ** 2
                    sub = sl[b2]
                    sub[q <= 1] = BONE_CORTEX_HU * 0.75
                    sub[q <= 0.45] = BONE_CANCELLOUS_HU + 40
                    cs[b2][q <= 1] = False
    del ac, bc, bp


# --------------------------------------------------------------------------- organs


def _draw_organs(an: _Anatomy, rng) -> dict:
    """Centres, radii and rotations of the solid organs (mm)."""
    ac, bc, bp = _cavity_axes(an)
    vy = an.vert_y
    j = lambda lo=0.9, hi=1.1: rng.uniform(lo, hi)  # noqa: E731
    organs = {
        "spleen": (
            (0.62 * ac * j(), -0.35 * bp * j(), -70 * j()),
            (24 * j(), 48 * j(), 55 * j()),
            _rotation(rng, 20) @ _rot_z(-35),
        ),
        "kidney_r": (
            (-(an.vert_r + 45) * j(0.95, 1.1), vy + 8, -175 * j()),
            (27 * j(), 32 * j(), 55 * j()),
            _rot_z(25) @ _rotation(rng, 8),
        ),
        "kidney_l": (
            ((an.vert_r + 45) * j(0.95, 1.1), vy + 8, -150 * j()),
            (27 * j(), 32 * j(), 55 * j()),
            _rot_z(-25) @ _rotation(rng, 8),
        ),
        "stomach": (
            (0.3 * ac * j(), 0.25 * bc * j(), -75 * j()),
            (40 * j(), 35 * j(), 45 * j()),
            _rotation(rng, 20),
        ),
        "heart": ((25 * j(), 0.25 * bc, 45.0), (65 * j(), 50 * j(), 60 * j()), _rotation(rng, 15)),
    }
    if rng.uniform() < 0.75:
        organs["gallbladder"] = (
            (-0.25 * ac * j(), 0.45 * bc * j(), -140 * j()),
            (14 * j(), 14 * j(), 32 * j()),
            _rotation(rng, 25),
        )
    return organs


def _rot_z(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1.0]])


def _paint_ellipsoid(vol, cav, grid, organ, hu, shell=None, shell_hu=None, below=None):
    c, r, rot = organ
    rr = max(r) + 2
    box = grid.box(np.asarray(c) - rr, np.asarray(c) + rr)
    if box is None:
        return None
    x, y, z = grid.coords(box)
    q = _ellipsoid_q(x, y, z, c, r, rot)
    m = (q <= 1.0) & cav[box]
    if below is not None:
        m &= below[box]
    sub = vol[box]
    if shell is not None:
        inner = _ellipsoid_q(x, y, z, c, [max(ri - shell, 1.0) for ri in r], rot) <= 1.0
        sub[m] = shell_hu
        sub[m & inner] = hu
    else:
        sub[m] = hu
    return box, m


def _paint_abdomen(an: _Anatomy, grid: _Grid, vol, cav, organs: dict, rng) -> dict:
    """Thorax base, bowel, stomach, kidneys, spleen, gallbladder; returns landmarks (mm)."""
    X = grid.xs.astype(np.float32)[:, None, None]
    Y = grid.ys.astype(np.float32)[None, :, None]
    Z = grid.zs.astype(np.float32)[None, None, :]
    zd = _diaphragm_z(an, X, Y).astype(np.float32)  # (nx, ny, 1)
    ktop = np.nonzero(grid.zs > float(zd.min()))[0]
    below = np.ones(grid.shape, bool)
    if ktop.size:
        k0 = int(ktop[0])
        zz = Z[:, :, k0:]
        thor = cav[:, :, k0:]
        abovez = zz > zd
        below[:, :, k0:] = ~abovez
        lung = thor & (zz > zd + 5.0)
        dia = thor & abovez & ~lung
        vsub = vol[:, :, k0:]
        vsub[lung] = LUNG_HU
        vsub[dia] = an.hu["muscle"]
        c, r, rot = organs["heart"]
        heart_c = (
            c[0],
            c[1],
            float(
                zd[
                    np.searchsorted(grid.xs, c[0]).clip(0, grid.shape[0] - 1),
                    np.searchsorted(grid.ys, c[1]).clip(0, grid.shape[1] - 1),
                    0,
                ]
            )
            + r[2] * 0.75,
        )
        organs["heart"] = (heart_c, r, rot)
        hb = _paint_ellipsoid(
            vol,
            cav & ~below,
            grid,
            organs["heart"],
            an.hu["blood"],
            shell=10.0,
            shell_hu=an.hu["myocardium"],
        )
        del hb
    # colon: ascending (right), transverse (anterior), descending (left), air + stool
    ac, bc, bp = _cavity_axes(an)
    ok = cav & below
    zmin = float(grid.zs[0]) - 20
    colon = [
        ((-0.72 * ac, -0.1 * bc, zmin), (-0.7 * ac, 0.0, -175.0)),
        ((-0.7 * ac, 0.0, -175.0), (-0.35 * ac, 0.55 * bc, -170.0)),
        ((-0.35 * ac, 0.55 * bc, -170.0), (0.35 * ac, 0.55 * bc, -160.0)),
        ((0.35 * ac, 0.55 * bc, -160.0), (0.72 * ac, 0.1 * bc, -120.0)),
        ((0.72 * ac, 0.1 * bc, -120.0), (0.75 * ac, -0.1 * bc, zmin)),
    ]
    jitter = rng.uniform(-12, 12, (len(colon), 2, 3))
    cr = rng.uniform(18.0, 24.0)
    for (p0, p1), jj in zip(colon, jitter, strict=True):
        p0 = np.array(p0) + jj[0]
        p1 = np.array(p1) + jj[1]
        _paint_tube(vol, ok, grid, p0, p1, cr, cr, an.hu["bowel_wall"])
        _paint_tube(
            vol, ok, grid, p0, p1, cr - 3.0, cr - 3.0, AIR_HU if rng.uniform() < 0.6 else -40.0
        )
    # small bowel loops: random walk in the lower anterior abdomen
    p = np.array([rng.uniform(-0.3, 0.3) * ac, 0.2 * bc, -200.0])
    for _ in range(10):
        step = rng.normal(size=3) * np.array([40.0, 25.0, 20.0])
        q = p + step
        q[0] = np.clip(q[0], -0.55 * ac, 0.55 * ac)
        q[1] = np.clip(q[1], -0.1 * bc, 0.6 * bc)
        q[2] = np.clip(q[2], -290.0, -175.0)
        rb = rng.uniform(10.0, 15.0)
        _paint_tube(vol, ok, grid, p, q, rb, rb, an.hu["bowel_wall"])
        _paint_tube(
            vol,
            ok,
            grid,
            p,
            q,
            rb - 2.5,
            rb - 2.5,
            an.hu["fluid"] if rng.uniform() < 0.75 else AIR_HU,
        )
        p = q
    # stomach with an air-fluid level (air anterior, supine patient)
    res = _paint_ellipsoid(
        vol,
        ok,
        grid,
        organs["stomach"],
        an.hu["fluid"] + 10,
        shell=5.0,
        shell_hu=an.hu["bowel_wall"],
    )
    if res is not None:
        box, m = res
        c, r, rot = organs["stomach"]
        inner = _ellipsoid_q(*grid.coords(box), c, [ri - 5 for ri in r], rot) <= 1.0
        air = m & inner & (grid.coords(box)[1] > c[1] + rng.uniform(-5, 15))
        vol[box][air] = AIR_HU
    # kidneys: enhancing cortex, medulla, sinus fat
    for name in ("kidney_r", "kidney_l"):
        res = _paint_ellipsoid(
            vol,
            ok,
            grid,
            organs[name],
            an.hu["kidney_medulla"],
            shell=7.0,
            shell_hu=an.hu["kidney_cortex"],
        )
        if res is not None:
            c, r, rot = organs[name]
            sinus = (c[0] - np.sign(c[0]) * 14.0, c[1] + 6.0, c[2])
            _paint_ellipsoid(vol, ok, grid, (sinus, (10.0, 12.0, 25.0), rot), an.hu["fat"] + 20)
    _paint_ellipsoid(vol, ok, grid, organs["spleen"], an.hu["spleen"])
    if "gallbladder" in organs:
        _paint_ellipsoid(vol, ok, grid, organs["gallbladder"], an.hu["bile"])
    sc, sr, _ = organs["spleen"]
    landmarks = {
        "spleen": [float(v) for v in sc],
        "aorta": [an.aorta[0], an.aorta[1], float(np.median(grid.zs))],
        "subcutaneous_fat": [
            0.0,
            float(
                an.half_depth * _body_scale(an, np.array([float(np.median(grid.zs))]))[0]
                - an.fat / 2
            ),
            float(np.median(grid.zs)),
        ],
        "air": [float(grid.xs[6]), float(grid.ys[6]), float(np.median(grid.zs))],
    }
    return landmarks, below


# --------------------------------------------------------------------------- main


def _smooth_inplane(vol: np.ndarray, tmp: np.ndarray) -> None:
    """In-place [1/4, 1/2, 1/4] filter along x then y (partial volume + noise correlation)."""
    for axis in (0, 1):
        a = np.moveaxis(vol, axis, 0)
        t = np.moveaxis(tmp, axis, 0)
        t[1:-1] = a[:-2]
        t[1:-1] += a[2:]
        t[0] = a[0] + a[1]
        t[-1] = a[-1] + a[-2]
        t *= 0.25
        a *= 0.5
        a += t


def generate_case(seed: int, size: str = "full") -> Case:
    """One synthetic portal-venous CT with reference labels (0/1/2), deterministic per seed.

    size "full": 512 x 512 in-plane (0.66-0.88 mm), 60-150 slices (1-5 mm);
    size "small": 128 x 128 in-plane (spacing x4), 24-40 slices. Volume array is
    float32 HU holding integer values (int16 range); labels are uint8.
    ``case.meta`` holds the lesions (centre mm, diameter mm, kind, volume mL), the liver
    volume (mL), the scenario and landmark points (mm) of spleen, aorta, fat and air.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    rng_anat = np.random.default_rng([int(seed), 0])
    an = _draw_anatomy(rng_anat)
    organs = _draw_organs(an, rng_anat)
    liver = _draw_liver(an, rng_anat, organs)
    scenario, lesions = _draw_lesions(an, liver, rng_anat)
    segs = _draw_vessels(an, liver, rng_anat)
    grid = _choose_grid(an, liver, np.random.default_rng([int(seed), 2]), size)
    rng_tex = np.random.default_rng([int(seed), 3])

    vol = np.empty(grid.shape, np.float32)
    cav = np.empty(grid.shape, bool)
    _paint_torso(an, grid, vol, cav, rng_tex)
    landmarks, below = _paint_abdomen(an, grid, vol, cav, organs, rng_tex)

    labels = np.zeros(grid.shape, np.uint8)
    lz = liver.origin + np.array(np.nonzero(liver.mask)).T * _COARSE_MM
    box = grid.box(lz.min(axis=0) - 4, lz.max(axis=0) + 4)
    f = _upsample_field(liver, grid, box)
    lmask = (f > 0) & cav[box] & below[box]
    pieces, n_pieces = ndimage.label(lmask)
    if n_pieces > 1:  # islands cut off by the wall / vessels: keep the organ itself
        lmask = pieces == 1 + int(np.argmax(np.bincount(pieces.ravel())[1:]))
    vsub = vol[box]
    vsub[lmask] = an.liver_hu
    labels[box][lmask] = LIVER
    liver_ok = labels == LIVER
    for i, (p0, p1, r0, r1) in enumerate(segs):
        hu = an.hu["portal"] if i < len(segs) // 2 else an.hu["portal"] - 10
        _paint_tube(vol, liver_ok, grid, p0, p1, r0, r1, hu)

    lesion_meta = []
    for les in lesions:
        rr = les.radius * 1.35 + 3 * les.border
        lbox = grid.box(les.centre - rr, les.centre + rr)
        if lbox is None:
            continue
        rho = _lesion_rho(les, grid, lbox)
        inside_liver = labels[lbox] == LIVER
        t = 1.0 / (1.0 + np.exp(-(1.0 - rho) * les.radius / les.border))
        target = an.liver_hu - les.contrast
        if les.necrosis:
            target = target - les.necrosis / (1.0 + np.exp(-(0.55 - rho) * les.radius / 2.0))
        if les.rim:
            target = target + les.rim * np.exp(-(((rho - 0.9) * les.radius / 2.0) ** 2))
        sub = vol[lbox]
        sub += np.where(inside_liver, t * (target - sub), 0.0).astype(np.float32)
        tum = (rho <= 1.0) & inside_liver
        labels[lbox][tum] = TUMOUR

    _keep_tumour_inside(labels)

    # partial-volume blur + correlated noise (white noise blurred with the signal)
    rng_noise = np.random.default_rng([int(seed), 4, SIZES.index(size)])
    tmp = np.empty_like(vol)
    white = rng_noise.integers(-128, 128, size=grid.shape, dtype=np.int8)
    np.copyto(tmp, white, casting="unsafe")
    del white
    tmp *= np.float32(an.noise_sd / (0.375 * 73.9))
    vol += tmp
    _smooth_inplane(vol, tmp)
    del tmp
    np.rint(vol, out=vol)
    np.clip(vol, -1024, 3071, out=vol)

    spacing = grid.spacing
    # LAS+: the drawing frame's +x (index direction) points to the patient's left, i.e.
    # world RAS x = -(drawing x)
    affine = np.diag([-spacing[0], spacing[1], spacing[2], 1.0])
    affine[:3, 3] = [-grid.xs[0], grid.ys[0], grid.zs[0]]
    volume = Volume(array=vol, spacing=spacing, affine=affine)
    meta = _measure(labels, grid, lesions, scenario)
    for lesion in meta.get("lesions", []):
        lesion["centre_mm"][0] = -lesion["centre_mm"][0] + 0.0
    landmarks = {k: [-v[0] + 0.0, v[1], v[2]] for k, v in landmarks.items()}
    meta.update(
        seed=int(seed),
        size=size,
        generator_version=GENERATOR_VERSION,
        noise_sd_hu=round(float(an.noise_sd), 1),
        liver_hu=round(float(an.liver_hu), 1),
        landmarks_mm=landmarks,
    )
    del lesion_meta
    return Case(
        case_id=f"phantom-seed{seed}", volume=volume, labels=labels, split="test", meta=meta
    )


def _tumour_box(tum: np.ndarray, pad: int = 0) -> tuple[slice, slice, slice] | None:
    """Index box of the True voxels of tum, padded by pad voxels; None if empty."""
    if not tum.any():
        return None
    out = []
    for a in range(3):
        idx = np.nonzero(tum.any(axis=tuple(b for b in range(3) if b != a)))[0]
        out.append(slice(max(0, int(idx[0]) - pad), min(tum.shape[a], int(idx[-1]) + 1 + pad)))
    return tuple(out)  # type: ignore[return-value]


def _keep_tumour_inside(labels: np.ndarray) -> None:
    """Relabel as liver any tumour voxel that touches background (26-neighbourhood), so
    every tumour is enclosed by liver even on coarse grids (in place)."""
    box = _tumour_box(labels == TUMOUR, pad=1)
    if box is None:
        return
    sub = labels[box]
    touching = ndimage.binary_dilation(sub == 0, structure=np.ones((3, 3, 3), bool))
    sub[(sub == TUMOUR) & touching] = LIVER


def _measure(labels: np.ndarray, grid: _Grid, lesions: list[_Lesion], scenario: str) -> dict:
    """Liver and per-lesion figures measured from the label map."""
    vox_ml = float(np.prod(grid.spacing)) / 1000.0
    tum = labels == TUMOUR
    out = []
    n = 0
    box = _tumour_box(tum)
    if box is not None:
        lo = [b.start for b in box]
        crop = tum[box]
        comp, n = ndimage.label(crop, structure=np.ones((3, 3, 3)))
        counts = np.bincount(comp.ravel(), minlength=n + 1)
        centres = ndimage.center_of_mass(crop, comp, range(1, n + 1))
        for i in range(1, n + 1):
            c = np.asarray(centres[i - 1]) + lo
            centre = [
                float(np.interp(c[a], np.arange(s), ax))
                for a, (s, ax) in enumerate(
                    zip(grid.shape, (grid.xs, grid.ys, grid.zs), strict=True)
                )
            ]
            vol_ml = counts[i] * vox_ml
            # the drawn lesion nearest this component gives the kind
            les = min(lesions, key=lambda le: float(np.linalg.norm(le.centre - np.array(centre))))
            out.append(
                {
                    "centre_mm": [round(v, 2) for v in centre],
                    "diameter_mm": round(float((6.0 * vol_ml * 1000.0 / np.pi) ** (1 / 3)), 2),
                    "nominal_diameter_mm": round(float(2 * les.radius), 2),
                    "kind": les.kind,
                    "contrast_hu": round(float(les.contrast), 1),
                    "volume_ml": round(float(vol_ml), 3),
                }
            )
    liver_ml = float(np.count_nonzero(labels)) * vox_ml
    return {"scenario": scenario, "liver_volume_ml": round(liver_ml, 1), "lesions": out}


def _write_nifti(array: np.ndarray, affine: np.ndarray, path: Path, dtype) -> None:
    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(array).astype(dtype), affine)
    img.header.set_xyzt_units("mm", "sec")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    nib.save(img, str(path))


def write_dataset(
    out_dir,
    n: int,
    seed: int,
    size: str = "full",
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write n phantoms in LiTS layout (volume-i.nii.gz int16 HU, segmentation-i.nii.gz uint8)
    plus manifest.json into out_dir; returns the manifest. Case i uses case_seed(seed, i);
    the 8:2 train/test split comes from split_assignment(n, seed).
    ``progress(done, total)`` is called after each case.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    split = split_assignment(n, seed)
    cases = []
    for i in range(n):
        cs = case_seed(seed, i)
        case = generate_case(cs, size)
        image_name, label_name = f"volume-{i}.nii.gz", f"segmentation-{i}.nii.gz"
        _write_nifti(case.volume.array, case.volume.affine, out / image_name, np.int16)
        _write_nifti(case.labels, case.volume.affine, out / label_name, np.uint8)
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
                    for k in ("scenario", "liver_volume_ml", "lesions", "noise_sd_hu", "liver_hu")
                },
            }
        )
        if progress is not None:
            progress(i + 1, n)
    manifest = {
        "generator": "livseg.phantom",
        "generator_version": GENERATOR_VERSION,
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
