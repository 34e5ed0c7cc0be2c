"""The networks' organ split at thin bridges (``livseg.masks.split_at_thin_bridges``, through
``postprocess(bridge_radius_mm=...)``; protocol amendment 4).

References: the geometry of the shapes drawn (which ball a voxel is nearer to), and a
brute-force version of the rule with scipy's KD-tree (distances between voxel centres in
mm) instead of distance transforms; the shared real series against its TotalSegmentator
liver mask for the shipped networks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree

from livseg.masks import split_at_thin_bridges
from livseg.methods.base import postprocess


def _grid(shape, spacing):
    axes = [np.arange(n) * s for n, s in zip(shape, spacing, strict=True)]
    return np.meshgrid(*axes, indexing="ij")


def _dumbbell(spacing=(1.0, 1.0, 1.0)):
    """Ball A (r 14 mm) and ball B (r 10 mm) 40 mm apart, joined by a rod of radius 1.6 mm."""
    shape = tuple(int(round(n / s)) for n, s in zip((80.0, 40.0, 40.0), spacing, strict=True))
    x, y, z = _grid(shape, spacing)
    ca, cb = np.array([20.0, 20.0, 20.0]), np.array([60.0, 20.0, 20.0])
    da = np.sqrt((x - ca[0]) ** 2 + (y - ca[1]) ** 2 + (z - ca[2]) ** 2)
    db = np.sqrt((x - cb[0]) ** 2 + (y - cb[1]) ** 2 + (z - cb[2]) ** 2)
    rod = (np.sqrt((y - 20.0) ** 2 + (z - 20.0) ** 2) <= 1.6) & (x >= 20.0) & (x <= 60.0)
    return da <= 14.0, db <= 10.0, rod, da, db


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.7, 0.7, 2.5)])
def test_two_balls_on_a_rod_come_apart_where_the_geometry_says(spacing):
    a, b, rod, da, db = _dumbbell(spacing)
    mask = a | b | rod
    assert ndimage.label(mask, structure=np.ones((3, 3, 3)))[1] == 1
    kept = split_at_thin_bridges(mask, spacing, radius_mm=3.0)
    assert kept[a].all(), "the larger ball must stay whole"
    assert not kept[b].any(), "the smaller ball must go"
    # Rod voxels: kept when nearer to A's deep core (radius 14 - 3) than to B's (10 - 3),
    # outside a 3 mm band around the midpoint (sampling and the coarse grid).
    gap = (da - 11.0) - (db - 7.0)
    assert kept[rod & (gap < -3.0)].all()
    assert not kept[rod & (gap > 3.0)].any()
    assert not (kept & ~mask).any()


def test_a_thin_part_without_a_body_of_its_own_stays():
    """A ball with a thin plate (2 mm thick, 25 mm long) sticking out: one body, nothing cut."""
    spacing = (1.0, 1.0, 1.0)
    x, y, z = _grid((70, 40, 40), spacing)
    ball = (x - 20.0) ** 2 + (y - 20.0) ** 2 + (z - 20.0) ** 2 <= 14.0**2
    plate = (np.abs(z - 20.0) <= 1.0) & (np.abs(y - 20.0) <= 8.0) & (x >= 20.0) & (x <= 59.0)
    mask = ball | plate
    np.testing.assert_array_equal(split_at_thin_bridges(mask, spacing, 3.0), mask)


def _brute_force(mask: np.ndarray, spacing, radius_mm: float) -> np.ndarray:
    """The rule at full resolution with a KD-tree: depth = distance (mm) from a voxel centre
    to the nearest outside voxel centre; bodies = 26-components of depth > r; each mask
    voxel to the body of its nearest deep voxel; keep the largest body's, then its largest
    26-component."""
    sp = np.asarray(spacing, float)
    inside = np.argwhere(mask)
    outside = np.argwhere(~mask)
    depth = cKDTree(outside * sp).query(inside * sp)[0]
    deep = np.zeros(mask.shape, bool)
    deep[tuple(inside[depth > radius_mm].T)] = True
    bodies, n = ndimage.label(deep, structure=np.ones((3, 3, 3)))
    if n <= 1:
        return mask.copy()
    sizes = np.bincount(bodies.ravel())
    sizes[0] = 0
    deep_idx = np.argwhere(deep)
    nearest = cKDTree(deep_idx * sp).query(inside * sp)[1]
    owner = bodies[tuple(deep_idx[nearest].T)]
    out = np.zeros(mask.shape, bool)
    out[tuple(inside[owner == int(np.argmax(sizes))].T)] = True
    lab, _ = ndimage.label(out, structure=np.ones((3, 3, 3)))
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    return lab == int(np.argmax(counts))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_blobs_agree_with_a_kd_tree_version_of_the_rule(seed):
    """Smoothed random blobs (anisotropic voxels, fine enough that the coarse grid is the
    full grid): the result equals the brute-force rule except on distance ties (<= 1 %)."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=(48, 48, 24)), sigma=(4, 4, 2))
    mask = np.zeros((52, 52, 28), bool)
    mask[2:-2, 2:-2, 2:-2] = field > np.quantile(field, 0.6)
    spacing = (0.9, 0.9, 1.7)
    got = split_at_thin_bridges(mask, spacing, radius_mm=2.5, coarse_mm=0.5)
    want = _brute_force(mask, spacing, 2.5)
    assert want.sum() < mask.sum(), "the blobs must have been split for the test to mean anything"
    assert (got != want).sum() <= 0.01 * max(1, want.sum())


def test_no_body_zero_radius_and_empty_masks_are_returned_whole():
    mask = np.zeros((10, 10, 10), bool)
    assert not split_at_thin_bridges(mask, (1.0, 1.0, 1.0), 3.0).any()
    mask[2:5, 2:5, 2:5] = True  # 3 mm thick: nothing deeper than 3 mm
    np.testing.assert_array_equal(split_at_thin_bridges(mask, (1.0, 1.0, 1.0), 3.0), mask)
    np.testing.assert_array_equal(split_at_thin_bridges(mask, (1.0, 1.0, 1.0), 0.0), mask)


def test_postprocess_drops_the_split_off_organ_and_its_tumour():
    spacing = (1.0, 1.0, 1.0)
    a, b, rod, _, _ = _dumbbell(spacing)
    labels = np.zeros(a.shape, np.uint8)
    labels[a | b | rod] = 1
    labels[b & (np.indices(a.shape)[0] > 58)] = 2  # "tumour" in the small ball
    labels[a & (np.indices(a.shape)[0] < 16)] = 2  # tumour in the large one
    out = postprocess(labels, spacing, min_tumour_ml=0.0, bridge_radius_mm=3.0)
    assert not out[b].any()
    np.testing.assert_array_equal(out[a], labels[a])
    # off by default: the whole connected organ stays, as before the amendment
    np.testing.assert_array_equal(postprocess(labels) > 0, labels > 0)
    with pytest.raises(ValueError, match="spacing"):
        postprocess(labels, bridge_radius_mm=3.0)


REAL = Path(__file__).resolve().parent / "data" / "abdomen-ct-dicom"


@pytest.fixture(scope="module")
def real_series():
    from livseg import io
    from livseg.dicom import read_series

    vol = read_series(REAL / "series")
    return vol, io.load_labels(REAL / "liver-mask.nii.gz", like=vol) > 0


@pytest.mark.parametrize("name", ["unet2d", "unet3d", "attention_unet"])
def test_every_network_holds_a_liver_floor_on_the_shared_real_series(name, real_series):
    """Liver DSC (MedPy) against the series' TotalSegmentator mask >= 0.85. Before the split,
    amendment 3's unet3d labelled the spleen too (0.783)."""
    from medpy.metric.binary import dc

    from livseg.methods import get_method

    vol, mask = real_series
    labels, run = get_method(name).run(vol)
    assert run.params["bridge_radius_mm"] == 3.0
    assert dc(labels > 0, mask) >= 0.85, f"{name} real-series liver DSC {dc(labels > 0, mask)}"


def test_a_thin_slab_against_the_image_edge_is_not_taken_for_a_body():
    """A slab 4 mm thick (never deeper than 2 mm) lying on the image's last x plane and
    joined to a ball by a thin rod: one body, so nothing is cut. Were the image's edge not
    counted as outside, the slab would look 4 mm deep there and come off as a second body."""
    spacing = (1.0, 1.0, 1.0)
    x, y, z = _grid((60, 40, 40), spacing)
    ball = (x - 16.0) ** 2 + (y - 20.0) ** 2 + (z - 20.0) ** 2 <= 12.0**2
    slab = (x >= 56.0) & (np.abs(y - 20.0) <= 15.0) & (np.abs(z - 20.0) <= 15.0)
    rod = (np.sqrt((y - 20.0) ** 2 + (z - 20.0) ** 2) <= 1.6) & (x >= 16.0) & (x <= 56.0)
    mask = ball | slab | rod
    np.testing.assert_array_equal(split_at_thin_bridges(mask, spacing, 3.0), mask)
