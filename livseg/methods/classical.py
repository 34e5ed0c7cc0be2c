"""``classical``: the paper's control made automatic - grey-level threshold + region growing.

Every threshold and seed comes from the image itself (intensity statistics and the anatomy
prior "the liver is the largest soft-tissue organ in the right upper abdomen"), never from
a reference. The work happens on reduced grids (liver: ~3 mm in-plane; tumour: ~1.5 mm),
then the masks return to the image grid by linear interpolation (threshold 0.5).

Liver (coarse grid, voxels of about ``LIVER_GRID_MM``):
1. Neighbourhood mean: Gaussian smoothing (``SMOOTH_MM``) - the similarity criterion
   compares this local mean, not single noisy voxels.
2. Body = smoothed HU > ``BODY_HU``; its x-median splits patient right / left.
3. Liver grey level: the mode of the smoothed-HU histogram (5 HU bins, within
   ``SOFT_TISSUE_HU``) over body voxels on the patient's right, at least
   ``WALL_MARGIN_MM`` inside the body surface, in the upper half of that region
   (the right upper abdomen); robust SD (1.4826 MAD) around it.
4. Threshold: |smoothed HU - mode| <= max(``BAND_K`` x SD, ``BAND_MIN_HU``) gives the
   initial liver / background split.
5. Seed region: that mask eroded by ``SEED_EROSION_MM`` (breaks thin bridges to spleen,
   heart, kidney); the largest eroded component whose centre lies on the patient's right.
6. Region growing: from the seed, every in-threshold voxel within ``SEED_EROSION_MM`` +
   ``GROW_MARGIN_MM`` of the seed that stays connected to it (opening by reconstruction).
7. Closing (``CLOSE_MM``) and per-slice hole filling take in vessels and tumours.

Fine grid (voxels of about ``TUMOUR_GRID_MM``, inside the liver's box only):
8. Border refinement: the coarse, smoothed threshold stops short of the true border
   (partial volume); voxels within ``EDGE_MM`` of the liver whose smoothed HU lies above
   mode - ``EDGE_BELOW_HU`` (about half-way to the neighbouring fat / muscle) and below the
   band's top are added.
9. Liver statistics again (median, robust SD) on the liver eroded by ``INNER_MM``.
10. Seeds: smoothed HU below median - max(``SEED_K`` x SD, ``SEED_MIN_HU``); grown into
   the connected voxels below median - max(``GROW_K`` x SD, ``GROW_MIN_HU``) (hypodense
   regions); components under ``MIN_LESION_ML`` are dropped.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy import ndimage

from livseg.device import apply_threads
from livseg.masks import largest_component
from livseg.methods.base import Method, params_hash, postprocess
from livseg.resample import block_mean, interpolate_chunks
from livseg.volume import LIVER, TUMOUR, Volume

LIVER_GRID_MM = 3.0
TUMOUR_GRID_MM = 1.5
SMOOTH_MM = 2.0
TUMOUR_SMOOTH_MM = 2.0
BODY_HU = -300.0
SOFT_TISSUE_HU = (40.0, 250.0)
WALL_MARGIN_MM = 20.0
BAND_K = 2.5
BAND_MIN_HU = 20.0
SEED_EROSION_MM = 9.0
GROW_MARGIN_MM = 3.0
CLOSE_MM = 6.0
EDGE_MM = 3.0
EDGE_BELOW_HU = 45.0
INNER_MM = 3.0
SEED_K = 4.0
SEED_MIN_HU = 25.0
GROW_K = 2.0
GROW_MIN_HU = 12.0
MIN_LESION_ML = 0.25

FIXED_PARAMS = {
    k: v
    for k, v in dict(globals()).items()
    if k.isupper() and isinstance(v, (int, float, tuple)) and not k.startswith("_")
}


def block_factor(spacing_mm: float, target_mm: float) -> int:
    """Integer in-plane down-sampling factor that brings ``spacing_mm`` near ``target_mm``."""
    return max(1, int(round(target_mm / float(spacing_mm))))


def upsample_mask(
    mask_small: np.ndarray, factors: tuple[int, int], out_xy: tuple[int, int]
) -> np.ndarray:
    """Bilinear in-plane up-sampling of a 0/1 mask by integer factors, threshold 0.5."""
    fx, fy = factors
    if (fx, fy) == (1, 1):
        return mask_small[: out_xy[0], : out_xy[1]].astype(bool)
    t = torch.from_numpy(mask_small.astype(np.float32)).permute(2, 0, 1)[:, None]
    out = np.empty((out_xy[0], out_xy[1], t.shape[0]), dtype=bool)
    with torch.inference_mode():
        for k0, up in interpolate_chunks(t, scale_factor=(fx, fy), chunk=32):
            up = up[:, 0, : out_xy[0], : out_xy[1]]
            out[:, :, k0 : k0 + up.shape[0]] = (up > 0.5).permute(1, 2, 0).numpy()
    return out


def _smooth(a: np.ndarray, spacing: np.ndarray, sigma_mm: float) -> np.ndarray:
    return ndimage.gaussian_filter(
        a, sigma=np.maximum(sigma_mm / spacing, 0.3), mode="nearest", truncate=2.5
    )


def _robust_sd(values: np.ndarray) -> float:
    med = np.median(values)
    return float(1.4826 * np.median(np.abs(values - med)))


def _fill_holes_slices(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    for k in np.flatnonzero(mask.any(axis=(0, 1))):
        out[:, :, k] = ndimage.binary_fill_holes(mask[:, :, k])
    return out


class ClassicalMethod(Method):
    """Threshold + region growing with automatic, image-derived parameters."""

    name = "classical"
    title = "Threshold + region growing (control)"

    def __init__(self, threads: int | None = None):
        super().__init__()
        self.device = "cpu"
        self.threads_requested = threads

    @property
    def version(self) -> str:
        return params_hash(FIXED_PARAMS)

    # ------------------------------------------------------------------ liver
    def _liver(
        self, hu: np.ndarray, spacing: np.ndarray, p: dict
    ) -> tuple[np.ndarray, tuple[float, float]]:
        """Liver mask (volume grid) and the liver's HU band (mode, half width) of this call."""
        fx = block_factor(spacing[0], LIVER_GRID_MM)
        fy = block_factor(spacing[1], LIVER_GRID_MM)
        small = block_mean(hu, fx, fy)
        sp = np.array([spacing[0] * fx, spacing[1] * fy, spacing[2]])
        s = _smooth(small, sp, SMOOTH_MM)
        body = largest_component(s > BODY_HU, connectivity=6)
        if not body.any():
            raise ValueError("no body found: no voxel above -300 HU after smoothing")
        xs = np.nonzero(body.any(axis=(1, 2)))[0]
        x_mid = float(np.median(np.nonzero(body)[0]))
        depth = ndimage.distance_transform_edt(body, sampling=sp)
        soft = (s >= SOFT_TISSUE_HU[0]) & (s <= SOFT_TISSUE_HU[1])
        xi = np.arange(s.shape[0])[:, None, None]
        region = body & (depth >= WALL_MARGIN_MM) & (xi < x_mid) & soft
        zs = np.nonzero(region.any(axis=(0, 1)))[0]
        if zs.size == 0:
            raise ValueError("no soft tissue found in the right abdomen (is this an abdominal CT?)")
        z_lo = int(zs[0] + (zs[-1] - zs[0]) * 0.4)  # upper part of that region
        region[:, :, :z_lo] = False
        vals = s[region]
        if vals.size < 50:
            vals = s[body & soft]
        bins = np.arange(SOFT_TISSUE_HU[0], SOFT_TISSUE_HU[1] + 5.0, 5.0)
        hist, _ = np.histogram(vals, bins=bins)
        hist = ndimage.uniform_filter1d(hist.astype(float), 3)
        mode = float(bins[int(np.argmax(hist))] + 2.5)
        near = vals[np.abs(vals - mode) <= 40.0]
        sd = _robust_sd(near) if near.size > 10 else 10.0
        half = max(BAND_K * sd, BAND_MIN_HU)
        band = body & (np.abs(s - mode) <= half)
        # seed: erode the band, keep the largest component on the patient's right
        inside = ndimage.distance_transform_edt(band, sampling=sp)
        eroded = inside > SEED_EROSION_MM
        lab, n = ndimage.label(eroded)
        seed = np.zeros_like(band)
        if n:
            idx = np.arange(1, n + 1)
            sizes = ndimage.sum_labels(np.ones_like(lab), lab, idx)
            cx = ndimage.mean(np.broadcast_to(xi, lab.shape), lab, idx)
            right = cx < x_mid
            if right.any():
                best = idx[right][int(np.argmax(sizes[right]))]
                seed = lab == best
        if not seed.any():  # nothing survives erosion: fall back to the largest band component
            seed = largest_component(band & (xi < x_mid), connectivity=6)
        # region growing = opening by reconstruction, limited to near the seed
        near_seed = ndimage.distance_transform_edt(~seed, sampling=sp) <= (
            SEED_EROSION_MM + GROW_MARGIN_MM
        )
        grown = band & near_seed
        lab, n = ndimage.label(grown)
        keep = np.unique(lab[seed & grown])
        liver = np.isin(lab, keep[keep > 0])
        # closing + per-slice hole filling (vessels, tumours, partial volume)
        dil = ndimage.distance_transform_edt(~liver, sampling=sp) <= CLOSE_MM
        closed = ndimage.distance_transform_edt(dil, sampling=sp) > CLOSE_MM
        liver = _fill_holes_slices(closed | liver)
        p.update(
            liver_grid_factor=[fx, fy],
            body_mid_x_voxel=round(x_mid * fx, 1),
            liver_mode_hu=round(mode, 1),
            liver_sd_hu=round(sd, 2),
            liver_band_hu=[round(mode - half, 1), round(mode + half, 1)],
            seed_voxels=int(seed.sum()),
            body_x_range=[int(xs[0] * fx), int(xs[-1] * fx)],
        )
        return upsample_mask(liver, (fx, fy), hu.shape[:2]), (mode, half)

    # ------------------------------------------------------------------ tumour
    def _fine(
        self,
        hu: np.ndarray,
        spacing: np.ndarray,
        liver: np.ndarray,
        band: tuple[float, float],
        p: dict,
    ):
        """Border refinement and tumour on the fine grid; returns (liver, tumour) masks.
        ``band``: the liver's HU (mode, half width) from ``_liver``, of this call."""
        out_l = np.zeros(hu.shape, dtype=bool)
        out_t = np.zeros(hu.shape, dtype=bool)
        boxes = ndimage.find_objects(liver.astype(np.uint8))
        if not boxes or boxes[0] is None:
            return out_l, out_t
        box = boxes[0]
        fx = block_factor(spacing[0], TUMOUR_GRID_MM)
        fy = block_factor(spacing[1], TUMOUR_GRID_MM)
        # grow the box by the border margin and align it to the block grid
        mx = int(np.ceil(EDGE_MM / spacing[0])) + fx
        my = int(np.ceil(EDGE_MM / spacing[1])) + fy
        mz = int(np.ceil(EDGE_MM / spacing[2])) + 1
        x0 = (max(0, box[0].start - mx) // fx) * fx
        y0 = (max(0, box[1].start - my) // fy) * fy
        x1 = min(hu.shape[0], -(-(box[0].stop + mx) // fx) * fx)
        y1 = min(hu.shape[1], -(-(box[1].stop + my) // fy) * fy)
        zsl = slice(max(0, box[2].start - mz), min(hu.shape[2], box[2].stop + mz))
        sub = hu[x0:x1, y0:y1, zsl]
        small = block_mean(sub, fx, fy)
        lsmall = block_mean(liver[x0:x1, y0:y1, zsl].astype(np.float32), fx, fy) > 0.5
        sp = np.array([spacing[0] * fx, spacing[1] * fy, spacing[2]])
        s = _smooth(small, sp, TUMOUR_SMOOTH_MM)
        mode, half = band
        near = ndimage.distance_transform_edt(~lsmall, sampling=sp) <= EDGE_MM
        edge = near & (s > mode - EDGE_BELOW_HU) & (s < mode + half)
        lsmall = _fill_holes_slices(lsmall | edge)
        up_l = upsample_mask(lsmall, (fx, fy), (x1 - x0, y1 - y0))
        out_l[x0:x1, y0:y1, zsl] = up_l
        p.update(edge_added_voxels_fine=int(edge.sum()))
        inner = ndimage.distance_transform_edt(lsmall, sampling=sp) > INNER_MM
        if inner.sum() < 50:
            return out_l, out_t
        vals = s[inner]
        med = float(np.median(vals))
        sd = _robust_sd(vals)
        seed_t = med - max(SEED_K * sd, SEED_MIN_HU)
        grow_t = med - max(GROW_K * sd, GROW_MIN_HU)
        seeds = inner & (s < seed_t)
        cand = lsmall & (s < grow_t)
        lab, n = ndimage.label(cand)
        keep = np.unique(lab[seeds])
        keep = keep[keep > 0]
        tum = np.isin(lab, keep)
        min_vox = MIN_LESION_ML * 1000.0 / float(np.prod(sp))
        if keep.size:
            lab2, n2 = ndimage.label(tum)
            sizes = np.bincount(lab2.ravel())
            sizes[0] = 0
            tum = (sizes >= min_vox)[lab2] & (lab2 > 0)
        tum = _fill_holes_slices(tum) & lsmall
        p.update(
            tumour_grid_factor=[fx, fy],
            liver_median_hu=round(med, 1),
            liver_inner_sd_hu=round(sd, 2),
            tumour_seed_below_hu=round(seed_t, 1),
            tumour_grow_below_hu=round(grow_t, 1),
            tumour_min_voxels=round(min_vox, 1),
        )
        up = upsample_mask(tum, (fx, fy), (x1 - x0, y1 - y0))
        out_t[x0:x1, y0:y1, zsl] = up
        return out_l, out_t & out_l

    def _segment(self, volume: Volume) -> tuple[np.ndarray, dict]:
        threads = apply_threads(self.threads_requested)
        t0 = time.perf_counter()
        hu = np.asarray(volume.array, dtype=np.float32)
        spacing = np.asarray(volume.spacing, dtype=float)
        p: dict = {"fixed": FIXED_PARAMS, "threads": threads}
        liver, band = self._liver(hu, spacing, p)
        liver, tumour = self._fine(hu, spacing, liver, band, p)
        labels = np.zeros(hu.shape, dtype=np.uint8)
        labels[liver] = LIVER
        labels[tumour] = TUMOUR
        labels = postprocess(labels)
        p["seconds_inside"] = round(time.perf_counter() - t0, 3)
        return labels, p
