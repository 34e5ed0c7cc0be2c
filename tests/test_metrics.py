"""livseg.metrics against MedPy (independent reference) and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from medpy.metric import binary as medpy_binary
from scipy import ndimage

from livseg import metrics

ANISO = (0.7, 0.9, 2.5)


def _medpy(pred: np.ndarray, ref: np.ndarray, spacing) -> dict[str, float]:
    return {
        "dsc": medpy_binary.dc(pred, ref),
        "jaccard": medpy_binary.jc(pred, ref),
        "hd_mm": medpy_binary.hd(pred, ref, voxelspacing=spacing),
        "hd95_mm": medpy_binary.hd95(pred, ref, voxelspacing=spacing),
        "assd_mm": medpy_binary.assd(pred, ref, voxelspacing=spacing),
    }


def _ball(shape, centre, radius_mm, spacing) -> np.ndarray:
    axes = [(np.arange(n) - c) * s for n, c, s in zip(shape, centre, spacing, strict=True)]
    x, y, z = np.meshgrid(*axes, indexing="ij", sparse=True)
    return x**2 + y**2 + z**2 <= radius_mm**2


def _varied_pairs():
    """(name, pred, ref, spacing): shapes MedPy must agree on."""
    rng = np.random.default_rng(42)
    shape = (40, 36, 18)
    pairs = []
    ref = _ball(shape, (20, 18, 9), 11, ANISO)
    pred = _ball(shape, (21.5, 17, 9.4), 10, ANISO)
    pairs.append(("balls anisotropic", pred, ref, ANISO))
    # thin objects: a one-voxel-thick plate and a one-voxel line
    plate = np.zeros(shape, bool)
    plate[5:30, 4:30, 9] = True
    line = np.zeros(shape, bool)
    line[3:35, 20, 8] = True
    pairs.append(("thin plate vs line", plate, line, (0.8, 0.8, 3.0)))
    # multi-component random blobs
    blobs_a = ndimage.binary_dilation(rng.random(shape) < 0.004, iterations=2)
    blobs_b = ndimage.binary_dilation(rng.random(shape) < 0.004, iterations=1)
    pairs.append(("multi-component blobs", blobs_a, blobs_b, (1.2, 0.6, 2.0)))
    # one-voxel objects
    one_a = np.zeros(shape, bool)
    one_a[10, 10, 5] = True
    one_b = np.zeros(shape, bool)
    one_b[13, 7, 9] = True
    pairs.append(("single voxels", one_a, one_b, ANISO))
    pairs.append(("single voxel vs ball", one_a, ref, ANISO))
    # objects touching the volume border (all six faces)
    border_a = np.zeros(shape, bool)
    border_a[:12, :, :] = True
    border_a[:, 30:, 10:] = True
    border_b = np.zeros(shape, bool)
    border_b[:14, 2:, :17] = True
    border_b[35:, :5, :] = True
    pairs.append(("touching the border", border_a, border_b, ANISO))
    # identical masks with noise: many exactly shared surface voxels
    noisy = ref.copy()
    noisy[rng.random(shape) < 0.01] ^= True
    pairs.append(("noisy copy", noisy, ref, (0.75, 0.75, 5.0)))
    # non-uniform random shapes on a small grid
    for i in range(3):
        small = tuple(int(n) for n in rng.integers(6, 20, 3))
        a = ndimage.binary_closing(rng.random(small) < 0.3)
        b = rng.random(small) < 0.1
        a[0, 0, 0] = b[-1, -1, -1] = True
        sp = tuple(float(s) for s in rng.uniform(0.4, 4.0, 3))
        pairs.append((f"random {i}", a, b, sp))
    return pairs


@pytest.mark.parametrize(
    "name,pred,ref,spacing", _varied_pairs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_structure_metrics_equal_medpy(name, pred, ref, spacing):
    ours = metrics.evaluate_structure(pred, ref, spacing)
    for key, value in _medpy(pred, ref, spacing).items():
        assert ours[key] == pytest.approx(value, abs=1e-6), f"{name}: {key}"


def test_surface_mask_equals_medpy_surface_definition():
    rng = np.random.default_rng(3)
    mask = ndimage.binary_dilation(rng.random((15, 12, 9)) < 0.05, iterations=2)
    mask[0, :, :] = True  # touches the border
    expected = mask ^ ndimage.binary_erosion(mask, ndimage.generate_binary_structure(3, 1))
    np.testing.assert_array_equal(metrics.surface_mask(mask), expected)


def test_hand_computed_two_voxels():
    # two single voxels 3 voxels apart along x (1.5 mm) and 2 along z (2 x 2.5 mm)
    pred = np.zeros((6, 4, 5), bool)
    ref = np.zeros((6, 4, 5), bool)
    pred[1, 1, 1] = True
    ref[4, 1, 3] = True
    out = metrics.evaluate_structure(pred, ref, (0.5, 1.0, 2.5))
    expected = math.hypot(1.5, 5.0)
    assert out["hd_mm"] == pytest.approx(expected)
    assert out["hd95_mm"] == pytest.approx(expected)
    assert out["assd_mm"] == pytest.approx(expected)
    assert out["dsc"] == 0.0 and out["jaccard"] == 0.0


def test_volume_ml_anisotropic_hand_computed():
    # 10 x 8 x 4 = 320 voxels of 0.8 x 0.8 x 2.5 mm = 1.6 mm^3 -> 512 mm^3 = 0.512 mL
    ref = np.zeros((20, 20, 10), bool)
    ref[2:12, 3:11, 1:5] = True
    pred = np.zeros_like(ref)
    pred[2:12, 3:11, 1:6] = True  # one slice more: 400 voxels -> 0.64 mL
    out = metrics.evaluate_structure(pred, ref, (0.8, 0.8, 2.5))
    assert out["reference_volume_ml"] == pytest.approx(0.512)
    assert out["volume_ml"] == pytest.approx(0.640)
    assert out["volume_error_pct"] == pytest.approx(25.0)
    assert out["dsc"] == pytest.approx(2 * 320 / 720)
    assert out["jaccard"] == pytest.approx(320 / 400)
    # the extra slice is 2.5 mm away from the reference's top surface
    assert out["hd_mm"] == pytest.approx(2.5)


def test_both_empty():
    empty = np.zeros((5, 5, 5), bool)
    out = metrics.evaluate_structure(empty, empty, (1, 1, 1))
    assert out["dsc"] == 1.0 and out["jaccard"] == 1.0
    assert out["hd_mm"] == 0.0 and out["hd95_mm"] == 0.0 and out["assd_mm"] == 0.0
    assert out["volume_ml"] == 0.0 and out["reference_volume_ml"] == 0.0
    assert math.isnan(out["volume_error_pct"])


def test_one_empty():
    empty = np.zeros((5, 5, 5), bool)
    full = empty.copy()
    full[1:3, 1:3, 1:3] = True
    pred_empty = metrics.evaluate_structure(empty, full, (1, 1, 2))
    assert pred_empty["dsc"] == 0.0 and pred_empty["jaccard"] == 0.0
    assert all(math.isnan(pred_empty[k]) for k in ("hd_mm", "hd95_mm", "assd_mm"))
    assert pred_empty["volume_error_pct"] == -100.0
    assert pred_empty["reference_volume_ml"] == pytest.approx(8 * 2 / 1000)
    ref_empty = metrics.evaluate_structure(full, empty, (1, 1, 2))
    assert ref_empty["dsc"] == 0.0
    assert math.isnan(ref_empty["hd_mm"]) and math.isnan(ref_empty["volume_error_pct"])


def test_bad_input_messages():
    a = np.zeros((4, 4, 4), bool)
    with pytest.raises(ValueError, match="same grid"):
        metrics.evaluate_structure(a, np.zeros((4, 4, 5), bool), (1, 1, 1))
    with pytest.raises(ValueError, match="spacing must have 3"):
        metrics.evaluate_structure(a, a, (1, 1))
    with pytest.raises(ValueError, match="positive"):
        metrics.evaluate_structure(a, a, (1, 0, 1))
    with pytest.raises(ValueError, match="3D"):
        metrics.evaluate_structure(a[0], a[0], (1, 1, 1))
    labels = np.zeros((4, 4, 4), np.uint8)
    with pytest.raises(ValueError, match="labels 0"):
        metrics.evaluate_case(labels + 3, labels, (1, 1, 1))
    with pytest.raises(ValueError, match="non-integer"):
        metrics.evaluate_case(labels + 0.5, labels, (1, 1, 1))
    with pytest.raises(ValueError, match="NaN"):
        metrics.evaluate_case(labels, np.full((4, 4, 4), np.nan), (1, 1, 1))
    with pytest.raises(ValueError, match=r"found values \[-1, 0\]"):
        metrics.evaluate_case(
            labels.astype(np.int16) - (np.arange(64) % 2).reshape(4, 4, 4), labels, (1, 1, 1)
        )
    np.testing.assert_array_equal(metrics.check_labels(labels + 2.0), labels + 2)


# --------------------------------------------------------------------------- case level


def _liver_case():
    """Reference and prediction label maps with hand-known lesions.

    Reference tumours (spacing 1 x 1 x 2 mm, voxel 2 mm^3):
      A: ball of radius 15 mm (d = 30 mm, "2-5cm"), predicted (shifted by 2 voxels) -> detected
      B: 3 x 3 x 2 voxel block (36 mm^3, d = 4.1 mm, "<2cm"), not predicted -> missed
      C: 4 x 4 x 3 block (96 mm^3, "<2cm"), one predicted voxel at its corner -> detected
      D: two 2x2x2 blocks touching only at a corner -> ONE lesion with 26-connectivity (centroid
       (21.5, 71.5, 31.5): x 20..23, y 70..73, z 30..33), predicted
    Prediction also has a false-positive 2 x 2 x 2 block outside every reference lesion.
    """
    shape, spacing = (90, 90, 40), (1.0, 1.0, 2.0)
    ref = np.zeros(shape, np.uint8)
    ref[5:85, 5:85, 2:38] = 1
    ref[_ball(shape, (30, 30, 20), 15, spacing)] = 2
    ref[60:63, 10:13, 5:7] = 2  # B
    ref[60:64, 60:64, 10:13] = 2  # C
    ref[20:22, 70:72, 30:32] = 2  # D part 1
    ref[22:24, 72:74, 32:34] = 2  # D part 2 (corner contact)
    pred = np.where(ref > 0, 1, 0).astype(np.uint8)
    pred[_ball(shape, (32, 30, 20), 15, spacing)] = 2  # A shifted
    pred[63, 63, 12] = 2  # C, one voxel
    pred[22:24, 72:74, 32:34] = 2  # D
    pred[75:77, 40:42, 20:22] = 2  # false positive
    return pred, ref, spacing


def test_lesion_detection_hand_counted():
    pred, ref, spacing = _liver_case()
    tumour = metrics.evaluate_case(pred, ref, spacing)["tumour"]
    les = tumour["lesions"]
    assert les["reference"] == 4
    assert les["detected"] == 3
    assert les["missed"] == 1
    assert les["false_positive"] == 1
    assert les["miss_rate"] == pytest.approx(0.25)
    small = les["by_size"]["<2cm"]
    assert (small["reference"], small["detected"], small["missed"]) == (3, 2, 1)
    assert small["miss_rate"] == pytest.approx(1 / 3)
    assert small["false_positive"] == 1  # 8 voxels x 2 mm^3: d = 3.1 mm
    mid = les["by_size"]["2-5cm"]
    assert (mid["reference"], mid["detected"], mid["missed"], mid["false_positive"]) == (1, 1, 0, 0)
    big = les["by_size"][">5cm"]
    assert big["reference"] == 0 and math.isnan(big["miss_rate"])


def test_lesion_table_rows():
    pred, ref, spacing = _liver_case()
    rows = metrics.lesion_table(pred, ref, spacing)
    assert len(rows) == 4
    by_centroid = {round(r["centroid_x"]): r for r in rows}
    b = by_centroid[61]  # block B: x 60..62, y 10..12, z 5..6
    assert b["detected"] is False
    assert b["voxels"] == 18
    assert b["volume_ml"] == pytest.approx(18 * 2 / 1000)
    assert b["diameter_mm"] == pytest.approx((6 * 36 / math.pi) ** (1 / 3))
    assert b["size_bin"] == "<2cm"
    assert (b["centroid_y"], b["centroid_z"]) == pytest.approx((11.0, 5.5))
    c = [r for r in rows if r["voxels"] == 48][0]
    assert c["detected"] is True
    d = [r for r in rows if r["voxels"] == 16][0]  # the corner-touching pair, one lesion
    assert d["detected"] is True
    assert (d["centroid_x"], d["centroid_y"], d["centroid_z"]) == pytest.approx((21.5, 71.5, 31.5))
    a = max(rows, key=lambda r: r["voxels"])
    assert a["size_bin"] == "2-5cm"
    assert a["diameter_mm"] == pytest.approx(30.0, abs=1.0)
    assert [r["lesion"] for r in rows] == [1, 2, 3, 4]


def test_size_bin_edges():
    assert metrics.size_bin(19.999) == "<2cm"
    assert metrics.size_bin(20.0) == "2-5cm"
    assert metrics.size_bin(50.0) == "2-5cm"
    assert metrics.size_bin(50.001) == ">5cm"
    # a sphere of 4/3 pi 10^3 mm^3 has diameter 20 mm
    assert metrics.equivalent_diameter_mm(4 / 3 * math.pi * 1000) == pytest.approx(20.0)


def test_evaluate_case_structures_equal_medpy():
    pred, ref, spacing = _liver_case()
    result = metrics.evaluate_case(pred, ref, spacing)
    for name, p, r in (("liver", pred > 0, ref > 0), ("tumour", pred == 2, ref == 2)):
        for key, value in _medpy(p, r, spacing).items():
            assert result[name][key] == pytest.approx(value, abs=1e-6), (name, key)
        n_ref = np.count_nonzero(r)
        assert result[name]["reference_volume_ml"] == pytest.approx(n_ref * 2 / 1000)
        expected_err = (np.count_nonzero(p) - n_ref) / n_ref * 100
        assert result[name]["volume_error_pct"] == pytest.approx(expected_err)


def test_evaluate_case_no_tumour_anywhere():
    ref = np.zeros((10, 10, 6), np.uint8)
    ref[2:8, 2:8, 1:5] = 1
    result = metrics.evaluate_case(ref, ref, (1, 1, 1))
    assert result["liver"]["dsc"] == 1.0 and result["liver"]["hd_mm"] == 0.0
    tumour = result["tumour"]
    assert tumour["dsc"] == 1.0 and tumour["hd_mm"] == 0.0
    assert tumour["lesions"]["reference"] == 0 and tumour["lesions"]["false_positive"] == 0
    assert math.isnan(tumour["lesions"]["miss_rate"])
    empty = metrics.evaluate_case(np.zeros_like(ref), np.zeros_like(ref), (1, 1, 1))
    assert empty["liver"]["dsc"] == 1.0


def test_flatten_evaluation_rows():
    pred, ref, spacing = _liver_case()
    rows = metrics.flatten_evaluation(metrics.evaluate_case(pred, ref, spacing))
    assert [r["structure"] for r in rows] == ["liver", "tumour"]
    assert set(rows[0]) == set(rows[1])
    assert rows[1]["lesions_missed"] == 1 and rows[1]["lesions_lt2cm_reference"] == 3
    assert rows[1]["lesions_2to5cm_detected"] == 1
    assert rows[0]["lesions_reference"] is None
    assert "lesion_table" not in rows[1]


def test_surface_distances_equal_medpy_directed_sets():
    _, pred, ref, spacing = _varied_pairs()[0]
    medpy_directed = getattr(medpy_binary, "__surface_distances")
    d_pred, d_ref = metrics.surface_distances(pred, ref, spacing)
    np.testing.assert_allclose(
        np.sort(d_pred), np.sort(medpy_directed(pred, ref, spacing)), atol=1e-9
    )
    np.testing.assert_allclose(
        np.sort(d_ref), np.sort(medpy_directed(ref, pred, spacing)), atol=1e-9
    )
    with pytest.raises(ValueError, match="non-empty"):
        metrics.surface_distances(np.zeros_like(ref), ref, spacing)
