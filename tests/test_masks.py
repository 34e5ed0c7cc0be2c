"""The one bounding box, largest component, block mean, chunked interpolation and Dice
(issue 10 finding 6), each against an independent reference (argwhere, scipy on the whole
array, explicit loops, one torch call on the whole tensor, MedPy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from medpy.metric.binary import dc
from scipy import ndimage

from livseg import metrics
from livseg.masks import bounding_box, bounding_box_list, largest_component
from livseg.resample import block_mean, interpolate_chunks
from livseg.viewer_payload import ViewerPayloadError, build_payload
from livseg.volume import MAX_SPACING_MM, MIN_SPACING_MM

RNG = np.random.default_rng(3)


def test_bounding_box_against_argwhere():
    for _ in range(20):
        mask = RNG.random((9, 7, 5)) > 0.97
        if not mask.any():
            continue
        idx = np.argwhere(mask)
        lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
        assert bounding_box(mask) == tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        grown = bounding_box(mask, margin=2)
        for s, a, b, n in zip(grown, lo, hi, mask.shape, strict=True):
            assert (s.start, s.stop) == (max(a - 2, 0), min(b + 2, n))
        assert bounding_box_list(mask) == [
            int(v) for pair in zip(lo, hi, strict=True) for v in pair
        ]
    assert bounding_box(np.zeros((3, 3, 3), bool)) is None
    assert bounding_box_list(np.zeros((3, 3, 3), bool)) == [0] * 6


def test_largest_component_connectivity_by_hand():
    mask = np.zeros((5, 5, 5), bool)
    mask[0, 0, 0] = mask[1, 1, 1] = mask[2, 2, 2] = True  # a diagonal: one 26-component
    mask[4, 0:2, 4] = True  # two face neighbours: the largest 6-component
    assert largest_component(mask, 26).sum() == 3
    six = largest_component(mask, 6)
    assert six.sum() == 2 and six[4, 0, 4] and six[4, 1, 4]
    with pytest.raises(ValueError, match="6, 18 or 26"):
        largest_component(mask, 8)
    assert not largest_component(np.zeros((3, 3, 3), bool)).any()


@pytest.mark.parametrize("connectivity", [6, 26])
def test_largest_component_against_scipy_on_the_whole_array(connectivity):
    structure = ndimage.generate_binary_structure(3, 1 if connectivity == 6 else 3)
    for _ in range(10):
        mask = RNG.random((12, 10, 8)) > 0.7
        lab, _ = ndimage.label(mask, structure=structure)
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        np.testing.assert_array_equal(
            largest_component(mask, connectivity), lab == np.argmax(sizes)
        )


def test_block_mean_against_an_explicit_loop():
    a = RNG.normal(size=(7, 5, 3)).astype(np.float32)
    fx, fy = 3, 2
    padded = np.pad(a, ((0, 2), (0, 1), (0, 0)), mode="edge")
    ref = np.empty((3, 3, 3), np.float64)
    for i in range(3):
        for j in range(3):
            ref[i, j] = padded[i * fx : (i + 1) * fx, j * fy : (j + 1) * fy].mean(axis=(0, 1))
    got = block_mean(a, fx, fy)
    assert got.dtype == np.float32 and got.shape == (3, 3, 3)
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    np.testing.assert_array_equal(block_mean(a, 1, 1), a)


@pytest.mark.parametrize("antialias", [False, True])
def test_interpolate_chunks_equals_one_call_on_the_whole_tensor(antialias):
    x = torch.from_numpy(RNG.normal(size=(11, 2, 9, 7)).astype(np.float32))
    whole = F.interpolate(x, size=(5, 4), mode="bilinear", align_corners=False, antialias=antialias)
    parts = dict(interpolate_chunks(x, size=(5, 4), chunk=4, antialias=antialias))
    assert sorted(parts) == [0, 4, 8]
    torch.testing.assert_close(torch.cat([parts[k] for k in sorted(parts)]), whole)
    up = dict(interpolate_chunks(x, scale_factor=(2, 3), chunk=5))
    ref = F.interpolate(x, scale_factor=(2, 3), mode="bilinear", align_corners=False)
    torch.testing.assert_close(torch.cat([up[k] for k in sorted(up)]), ref)
    same = dict(interpolate_chunks(x, size=(9, 7), chunk=32))
    assert same[0] is not None and torch.equal(same[0], x)


def test_dice_equals_medpy():
    for _ in range(10):
        a, b = RNG.random((6, 6, 6)) > 0.5, RNG.random((6, 6, 6)) > 0.6
        assert metrics.dice(a, b) == pytest.approx(dc(a, b), abs=1e-12)
    empty = np.zeros((2, 2, 2), bool)
    assert metrics.dice(empty, empty) == 1.0
    assert metrics.dice(empty, ~empty) == 0.0


def test_one_spacing_limit_for_files_and_the_viewer():
    from livseg import io

    assert (io.MIN_SPACING_MM, io.MAX_SPACING_MM) == (MIN_SPACING_MM, MAX_SPACING_MM) == (0.05, 20)
    ct = np.zeros((4, 4, 2), np.float32)
    build_payload(ct, (0.05, 1.0, 20.0))
    for bad in ((1.0, 1.0, 25.0), (0.01, 1.0, 1.0)):  # the viewer took (0, 100] before
        with pytest.raises(ViewerPayloadError, match=r"\[0.05, 20.0\] mm"):
            build_payload(ct, bad)
