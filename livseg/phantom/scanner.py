"""The scanner: sampling grid (field of view, spacing), partial-volume blur and noise.

Phantom v1 (``choose_grid_v1`` + ``smooth_inplane``): a whole-body field of view on a
512 x 512 grid (0.66-0.88 mm), 1-5 mm slices, noise SD 11-18 HU blurred in-plane.

Phantom v2 (``draw_scanner`` -> ``choose_grid_v2`` -> ``scan_v2``), ranges from
``shared/reference/ct_appearance.md`` (LiTS-like public data, image quality): field of view
from the whole torso through the abdomen down to a tight crop around the liver, patient
off-centre by up to 40 mm, in-plane 0.5-1.0 mm, slices 0.625-5 mm, a reconstruction kernel
(Gaussian, sigma 0.4-1.2 mm in-plane) that blurs the signal AND shapes the noise (white noise
added before the kernel, so its texture is spatially correlated in 3D, as in CT), the
slice profile along z (partial volume between slices), noise SD 5-40 HU (higher at thin
slices), and mild beam-hardening streaks radiating from the spine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from livseg.phantom.anatomy import Anatomy, LiverShape, cavity_axes
from livseg.phantom.geometry import COARSE_MM, Grid

FIELDS_OF_VIEW = ("torso", "abdomen", "liver-crop")
FOV_PROBABILITIES = (0.3, 0.45, 0.25)
SLICE_MM = (0.625, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 5.0)
SLICE_PROBABILITIES = (0.08, 0.1, 0.1, 0.12, 0.15, 0.15, 0.15, 0.15)
NOISE_SD_RANGE_HU = (5.0, 40.0)
MAX_SLICES_FULL = 240  # full-size v2 cases: thin slices cover a slab around the liver
_TRUNCATE = 2.5  # Gaussian kernels cut at 2.5 sigma
SLICE_PROFILE_SIGMA = 0.5  # slice spacings


def choose_grid_v1(an: Anatomy, liver: LiverShape, rng, size: str) -> Grid:
    """v1 grid: 512 x 512 (0.66-0.88 mm) around the body centre, 60-150 slices of 1-5 mm
    covering the liver with 20-45 mm margins; "small": 128 x 128, 24-40 slices."""
    zs_l = liver.origin[2] + np.nonzero(liver.mask.any(axis=(0, 1)))[0] * COARSE_MM
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
    return Grid(xs, ys, zs)


def add_noise_v1(vol: np.ndarray, noise_sd: float, rng: np.random.Generator) -> None:
    """v1 noise: white noise (SD chosen so that after the blur it is ``noise_sd`` HU) and a
    [1/4, 1/2, 1/4] in-plane blur of signal + noise (partial volume + correlation)."""
    tmp = np.empty_like(vol)
    white = rng.integers(-128, 128, size=vol.shape, dtype=np.int8)
    np.copyto(tmp, white, casting="unsafe")
    del white
    tmp *= np.float32(noise_sd / (0.375 * 73.9))
    vol += tmp
    smooth_inplane(vol, tmp)


def smooth_inplane(vol: np.ndarray, tmp: np.ndarray) -> None:
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


@dataclass(frozen=True)
class ScannerSettings:
    """One v2 acquisition (mm, HU): field of view, grid, kernel, noise, streaks."""

    fov: str
    spacing_xy: float
    slice_mm: float
    offset_mm: tuple[float, float]
    noise_sd: float
    kernel_mm: float
    streak_hu: float
    margin_mm: float


def draw_scanner(rng: np.random.Generator) -> ScannerSettings:
    """Draw one v2 acquisition (see the module docstring for the ranges)."""
    fov = str(rng.choice(FIELDS_OF_VIEW, p=FOV_PROBABILITIES))
    dz = float(rng.choice(SLICE_MM, p=SLICE_PROBABILITIES))
    sxy = float(rng.uniform(0.5, 1.0))
    margin = {"torso": (60.0, 150.0), "abdomen": (15.0, 60.0), "liver-crop": (0.0, 12.0)}[fov]
    sd = float(rng.uniform(7.0, 20.0)) * math.sqrt(3.0 / dz) ** 0.5 * float(rng.uniform(0.7, 1.6))
    return ScannerSettings(
        fov=fov,
        spacing_xy=sxy,
        slice_mm=dz,
        offset_mm=(float(rng.uniform(-40.0, 40.0)), float(rng.uniform(-30.0, 30.0))),
        noise_sd=float(np.clip(sd, *NOISE_SD_RANGE_HU)),
        kernel_mm=float(rng.uniform(0.4, 1.2)),
        streak_hu=float(rng.uniform(0.0, 25.0)) if rng.uniform() < 0.6 else 0.0,
        margin_mm=float(rng.uniform(*margin)),
    )


def choose_grid_v2(an: Anatomy, liver: LiverShape, sc: ScannerSettings, size: str) -> Grid:
    """v2 grid of an acquisition: 512 x 512 around the (off-centre) body for "torso" and
    "abdomen", the liver's box + margin for "liver-crop"; z covers the liver + margin
    (at most MAX_SLICES_FULL slices, centred on the liver). "small": spacing x4 in-plane,
    slices x3 (2.5-8 mm)."""
    idx = np.argwhere(liver.mask)
    lo = liver.origin + idx.min(axis=0) * COARSE_MM
    hi = liver.origin + idx.max(axis=0) * COARSE_MM
    sxy, dz = sc.spacing_xy, sc.slice_mm
    if size == "small":
        sxy, dz = sxy * 4.0, float(np.clip(dz * 3.0, 2.5, 8.0))
    z_lo, z_hi = float(lo[2]) - sc.margin_mm, float(hi[2]) + sc.margin_mm
    nz = int(math.ceil((z_hi - z_lo) / dz))
    if size == "full" and nz > MAX_SLICES_FULL:
        nz = MAX_SLICES_FULL
    zc = 0.5 * (z_lo + z_hi)
    zs = zc + (np.arange(nz) - (nz - 1) / 2) * dz
    if sc.fov == "liver-crop":
        m = max(sc.margin_mm, 4.0)
        cx, cy = 0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1])
        nx = int(math.ceil((hi[0] - lo[0] + 2 * m) / sxy))
        ny = int(math.ceil((hi[1] - lo[1] + 2 * m) / sxy))
    else:
        nx = ny = 512 if size == "full" else 128
        ac, bc, bp = cavity_axes(an)
        cx, cy = sc.offset_mm[0], sc.offset_mm[1] + 0.5 * (an.half_depth * (1 - an.post_factor))
        if sc.fov == "torso":  # the whole body fits (spacing grows when needed)
            need = (an.half_width * 1.1 + abs(cx) + 6.0) / (nx / 2)
            sxy = max(sxy, need)
        del ac, bc, bp
    xs = cx + (np.arange(nx) - (nx - 1) / 2) * sxy
    ys = cy + (np.arange(ny) - (ny - 1) / 2) * sxy
    return Grid(xs, ys, zs)


def _kernel_sum_of_squares(sigma: float) -> float:
    """Sum of the squared weights of scipy's normalised Gaussian kernel (truncate 2.5)."""
    radius = int(_TRUNCATE * float(sigma) + 0.5)
    if radius == 0:
        return 1.0
    x = np.arange(-radius, radius + 1, dtype=float)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    w /= w.sum()
    return float(np.sum(w**2))


def scan_v2(vol: np.ndarray, grid: Grid, an: Anatomy, sc: ScannerSettings, rng) -> None:
    """Streaks, noise, then kernel + slice profile on the painted HU volume (in place).

    White noise is scaled so that after the kernel its SD is ``sc.noise_sd`` HU; the
    kernel is a Gaussian with sigma ``sc.kernel_mm`` in-plane and ``SLICE_PROFILE_SIGMA``
    slice spacings in z (a slice profile of ~1.2 spacings FWHM: slices overlap a little).
    """
    if sc.streak_hu > 0:
        _add_streaks(vol, grid, an, sc.streak_hu, rng)
    sx, sy, _ = grid.spacing
    sig = (sc.kernel_mm / sx, sc.kernel_mm / sy, SLICE_PROFILE_SIGMA)
    gain = math.sqrt(np.prod([_kernel_sum_of_squares(s) for s in sig]))
    white = rng.integers(-128, 128, size=vol.shape, dtype=np.int8)
    amp = np.float32(sc.noise_sd / (gain * 73.9))  # SD of U{-128..127} is 73.9
    vol += white.astype(np.float32) * amp
    del white
    ndimage.gaussian_filter(vol, sig, output=vol, truncate=_TRUNCATE)


def _add_streaks(vol: np.ndarray, grid: Grid, an: Anatomy, amp: float, rng) -> None:
    """Mild beam-hardening streaks: 2-5 thin bright / dark lines through the spine (HU)."""
    X = grid.xs.astype(np.float32)[:, None]
    Y = grid.ys.astype(np.float32)[None, :]
    dx, dy = X - 0.0, Y - an.vert_y
    s2d = np.zeros((X.size, Y.size), np.float32)
    for k in range(int(rng.integers(2, 6))):
        th = float(rng.uniform(0, np.pi))
        ux, uy = math.cos(th), math.sin(th)
        perp = dx * -uy + dy * ux
        along = np.abs(dx * ux + dy * uy)
        width = float(rng.uniform(1.0, 3.0))
        sign = 1.0 if k % 2 == 0 else -1.0
        s2d += (sign * amp * np.exp(-0.5 * (perp / width) ** 2) * np.exp(-along / 120.0)).astype(
            np.float32
        )
    fz = (0.4 + 0.6 * np.abs(np.sin(grid.zs / float(rng.uniform(20.0, 60.0))))).astype(np.float32)
    body = vol > -500.0
    vol += np.where(body, s2d[:, :, None] * fz[None, None, :], np.float32(0.0))
