"""Anatomy of one synthetic patient: body outline, diaphragm, organ placement, liver shape.

``draw_anatomy`` draws the body (sizes in mm), ``draw_organs`` the solid organs,
``draw_liver`` the liver as a smooth random organ-like field on a 3 mm coarse grid (a union
of blobs warped by a low-frequency displacement field, cut by its neighbours). The liver
shape takes ``LiverShapeOptions`` for phantom v2: target volume (hepatomegaly up to ~3 L),
cirrhotic morphology (nodular surface, enlarged caudate lobe, shrunken right lobe).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from livseg.phantom.appearance import v1_tissue_hu
from livseg.phantom.geometry import COARSE_MM, Grid, ellipsoid_q, rot_z, rotation


@dataclass
class Anatomy:
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


def draw_anatomy(rng: np.random.Generator) -> Anatomy:
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
    hu = v1_tissue_hu(rng, liver_hu)
    return Anatomy(
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


def body_scale(an: Anatomy, z: np.ndarray) -> np.ndarray:
    """Body scale factor along z (the abdomen narrows slightly towards the pelvis)."""
    return 1.0 + an.scale_amp * np.sin(2 * np.pi * z / 350.0 + an.scale_phase) + 0.0002 * z


def cavity_axes(an: Anatomy) -> tuple[float, float, float]:
    """Half width, anterior and posterior half depth of the abdominal cavity at scale 1."""
    inner = an.fat + an.wall
    return an.half_width - inner, an.half_depth - inner, an.half_depth * an.post_factor - inner


def diaphragm_z(an: Anatomy, x, y):
    """Height (mm) of the diaphragm's under-surface above (x, y); highest at the right dome."""
    ac, bc, _ = cavity_axes(an)
    right = 1.0 / (1.0 + np.exp(x / 25.0))  # 1 on the liver's side (x < 0)
    return (
        an.dome_z
        - 110.0 * ((x + 0.4 * ac) / ac) ** 2 * right
        - 110.0 * ((x - 0.4 * ac) / ac) ** 2 * (1 - right)
        - 15.0 * (1 - right)
        - 35.0 * np.clip(-(y - 0.2 * bc) / bc, 0, None) ** 2
    )


def draw_organs(an: Anatomy, rng) -> dict:
    """Centres, radii and rotations of the solid organs (mm)."""
    ac, bc, bp = cavity_axes(an)
    vy = an.vert_y
    j = lambda lo=0.9, hi=1.1: rng.uniform(lo, hi)  # noqa: E731
    organs = {
        "spleen": (
            (0.62 * ac * j(), -0.35 * bp * j(), -70 * j()),
            (24 * j(), 48 * j(), 55 * j()),
            rotation(rng, 20) @ rot_z(-35),
        ),
        "kidney_r": (
            (-(an.vert_r + 45) * j(0.95, 1.1), vy + 8, -175 * j()),
            (27 * j(), 32 * j(), 55 * j()),
            rot_z(25) @ rotation(rng, 8),
        ),
        "kidney_l": (
            ((an.vert_r + 45) * j(0.95, 1.1), vy + 8, -150 * j()),
            (27 * j(), 32 * j(), 55 * j()),
            rot_z(-25) @ rotation(rng, 8),
        ),
        "stomach": (
            (0.3 * ac * j(), 0.25 * bc * j(), -75 * j()),
            (40 * j(), 35 * j(), 45 * j()),
            rotation(rng, 20),
        ),
        "heart": ((25 * j(), 0.25 * bc, 45.0), (65 * j(), 50 * j(), 60 * j()), rotation(rng, 15)),
    }
    if rng.uniform() < 0.75:
        organs["gallbladder"] = (
            (-0.25 * ac * j(), 0.45 * bc * j(), -140 * j()),
            (14 * j(), 14 * j(), 32 * j()),
            rotation(rng, 25),
        )
    return organs


@dataclass
class LiverShape:
    origin: np.ndarray  # coarse grid origin (mm)
    mask: np.ndarray  # coarse bool mask
    field: np.ndarray  # coarse float32 field, > 0 inside
    edt: np.ndarray  # coarse distance to the liver surface (mm)


def _coarse_axes(lo, hi):
    return [
        np.arange(a, b + 1e-6, COARSE_MM, dtype=np.float32) for a, b in zip(lo, hi, strict=True)
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


@dataclass(frozen=True)
class LiverShapeOptions:
    """Phantom v2 changes to the liver shape (the defaults give phantom v1's liver).

    target_ml: liver volume (mL; None: v1's 1350-1850 mL draw); the blob radii grow with
    (target_ml / 1600) ** (1/3). right_lobe: scale of the right-lobe blobs (< 1: shrunken,
    cirrhosis); caudate: weight of an extra caudate-lobe blob beside the IVC (0: none);
    nodularity: amplitude of a 6 mm-correlated random field added to the shape field
    (nodular surface; 0: smooth); seed: seed of that field.
    """

    target_ml: float | None = None
    right_lobe: float = 1.0
    caudate: float = 0.0
    nodularity: float = 0.0
    seed: int = 0


def draw_liver(
    an: Anatomy,
    rng: np.random.Generator,
    organs: dict,
    options: LiverShapeOptions | None = None,
) -> LiverShape:
    """Liver shape on the coarse grid; ``options`` (v2) change volume and morphology."""
    opt = options or LiverShapeOptions()
    grow = 1.0 if opt.target_ml is None else float(np.clip(opt.target_ml / 1600.0, 0.5, 2.0))
    grow = grow ** (1.0 / 3.0)
    ac, bc, bp = cavity_axes(an)
    lo = np.array([-ac - 6, -bp - 6, -270.0 if grow <= 1.0 else -270.0 - 120.0 * (grow - 1.0)])
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
    if opt != LiverShapeOptions():
        blobs = _reshape_blobs(blobs, an, opt, grow)
    field = np.zeros(np.broadcast_shapes(x.shape, y.shape, z.shape), np.float32)
    for c, r, w in blobs:
        field += (w * np.exp(-ellipsoid_q(xw, yw, zw, c, r))).astype(np.float32)
    # impressions of the neighbours and limits (cavity wall, diaphragm, spine, great
    # vessels): penalties that grow linearly with depth (per mm), so the cut stays smooth
    # after interpolation
    for name in ("kidney_r", "gallbladder", "stomach", "spleen"):
        if name in organs:
            c, r, rot = organs[name]
            rho = np.sqrt(ellipsoid_q(x, y, z, c, np.asarray(r), rot))
            field -= (0.25 * min(r) * np.clip(1.2 - rho, 0, None)).astype(np.float32)
    scale = body_scale(an, z)
    yn = np.where(y >= 0, y / bc, y / bp)
    rho_cav = np.sqrt((x / (ac * scale)) ** 2 + (yn / scale) ** 2)
    field -= (0.25 * np.clip((rho_cav - 1.0) * bp + 3.0, 0, None)).astype(np.float32)
    field -= (0.25 * np.clip(z - diaphragm_z(an, x, y) + 2.0, 0, None)).astype(np.float32)
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
    if opt.nodularity > 0:
        bumps = np.random.default_rng([opt.seed, 11]).standard_normal(field.shape)
        bumps = ndimage.gaussian_filter(bumps, 2.0).astype(np.float32)
        field += (opt.nodularity / (float(bumps.std()) + 1e-9)) * bumps
    if opt.target_ml is not None:
        target_ml = opt.target_ml
    n_vox = int(target_ml * 1000.0 / COARSE_MM**3)
    flat = field.ravel()
    thr = float(np.partition(flat, flat.size - n_vox)[flat.size - n_vox])
    mask = field >= thr
    lab, n = ndimage.label(mask)
    if n > 1:
        sizes = np.bincount(lab.ravel())[1:]
        mask = lab == (1 + int(np.argmax(sizes)))
    edt = ndimage.distance_transform_edt(mask, sampling=COARSE_MM).astype(np.float32)
    return LiverShape(origin=lo, mask=mask, field=(field - thr).astype(np.float32), edt=edt)


def _reshape_blobs(blobs: list, an: Anatomy, opt: LiverShapeOptions, grow: float) -> list:
    """v2 liver morphology: overall growth, shrunken right lobe, enlarged caudate / left lobe."""
    out = []
    for i, (c, r, w) in enumerate(blobs):
        r = tuple(float(v) * grow for v in r)
        if i in (0, 1) and opt.right_lobe != 1.0:  # right lobe
            r = (r[0] * opt.right_lobe, r[1] * opt.right_lobe, r[2] * opt.right_lobe**0.5)
        if i in (3, 4) and opt.right_lobe < 1.0:  # cirrhosis: left lobe enlarged
            r = tuple(v * (2.0 - opt.right_lobe) ** 0.5 for v in r)
        out.append((c, r, w))
    if opt.caudate > 0:
        ix, iy, _, _ = an.ivc
        out.append(
            ((ix + 18.0, iy + 22.0, -55.0), (26.0 * grow, 24.0 * grow, 38.0 * grow), opt.caudate)
        )
    return out


def coarse_lookup(shape: LiverShape, arr: np.ndarray, p) -> float:
    idx = np.round((np.asarray(p) - shape.origin) / COARSE_MM).astype(int)
    if np.any(idx < 0) or np.any(idx >= np.array(arr.shape)):
        return 0.0
    return float(arr[tuple(idx)])


def upsample_field(shape: LiverShape, grid: Grid, box) -> np.ndarray:
    """Trilinear interpolation of the coarse liver field onto the grid voxels of box."""
    f = shape.field
    for axis, (coords, sl) in enumerate(zip((grid.xs, grid.ys, grid.zs), box, strict=True)):
        pos = (coords[sl] - shape.origin[axis]) / COARSE_MM
        pos = np.clip(pos, 0, f.shape[axis] - 1.000001)
        i0 = np.floor(pos).astype(int)
        w = (pos - i0).astype(np.float32)
        shp = [1, 1, 1]
        shp[axis] = -1
        w = w.reshape(shp)
        f = np.take(f, i0, axis=axis) * (1 - w) + np.take(f, i0 + 1, axis=axis) * w
    return f
