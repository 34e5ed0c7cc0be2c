"""Synthetic phantom: determinism, grids, labels, anatomy, HU values, noise, dataset + CLI."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from livseg import phantom
from livseg.cli import main as cli_main

SMALL_SEEDS = list(range(8))
FULL_SEED = 11


@pytest.fixture(scope="module")
def small_cases():
    return {s: phantom.generate_case(s, "small") for s in SMALL_SEEDS}


@pytest.fixture(scope="module")
def full_case():
    return phantom.generate_case(FULL_SEED, "full")


def _world(case, ijk):
    """World (RAS mm) coordinates of voxel indices (N x 3) through the case's affine."""
    ijk = np.asarray(ijk, float)
    return ijk @ case.volume.affine[:3, :3].T + case.volume.affine[:3, 3]


def _cube(case, centre_mm, half_mm):
    """Voxel values in an axis-aligned cube of half size half_mm (mm) around centre_mm."""
    inv = np.linalg.inv(case.volume.affine)
    c = inv[:3, :3] @ np.asarray(centre_mm, float) + inv[:3, 3]
    sp = np.asarray(case.volume.spacing)
    h = np.maximum(1, np.floor(np.asarray(half_mm) / sp)).astype(int)
    c = np.rint(c).astype(int)
    sl = tuple(slice(c[a] - h[a], c[a] + h[a] + 1) for a in range(3))
    return case.volume.array[sl]


def _lesions(labels, spacing):
    """Equivalent diameters (mm) of the 26-connected tumour components, independently."""
    comp, n = ndimage.label(labels == 2, structure=np.ones((3, 3, 3)))
    counts = np.bincount(comp.ravel())[1:]
    vox_mm3 = float(np.prod(spacing))
    return [(6.0 * c * vox_mm3 / np.pi) ** (1.0 / 3.0) for c in counts]


def test_same_seed_is_bit_equal_and_seeds_differ():
    a = phantom.generate_case(5, "small")
    b = phantom.generate_case(5, "small")
    c = phantom.generate_case(6, "small")
    assert np.array_equal(a.volume.array, b.volume.array)
    assert np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.volume.affine, b.volume.affine)
    assert a.meta == b.meta
    assert a.volume.shape != c.volume.shape or not np.array_equal(a.labels, c.labels)


def test_small_grid_and_types(small_cases):
    for case in small_cases.values():
        v = case.volume
        assert v.array.dtype == np.float32 and case.labels.dtype == np.uint8
        assert v.shape[:2] == (128, 128) and 24 <= v.shape[2] <= 40
        assert case.labels.shape == v.shape
        sx, sy, sz = v.spacing
        assert sx == pytest.approx(sy) and 2.4 <= sx <= 3.6
        # affine = diag(-sx, sy, sz) + origin: LAS+, x index 0 at the patient's right
        assert np.allclose(v.affine[:3, :3], np.diag([-sx, sy, sz]))
        assert set(np.unique(case.labels).tolist()) <= {0, 1, 2}
        assert np.array_equal(v.array, np.round(v.array))
        assert v.array.min() >= -1024 and v.array.max() <= 3071
        # the body fits in the field of view: only air (plus noise) along the image border
        a = v.array
        border = np.concatenate(
            [a[:2].ravel(), a[-2:].ravel(), a[:, :2].ravel(), a[:, -2:].ravel()]
        )
        assert border.max() < -850


def test_full_size_grid_within_ranges(full_case):
    v = full_case.volume
    assert v.shape[:2] == (512, 512)
    assert 60 <= v.shape[2] <= 150
    assert 0.6 <= v.spacing[0] <= 0.9 and v.spacing[0] == pytest.approx(v.spacing[1])
    assert 1.0 <= v.spacing[2] <= 5.0
    assert set(np.unique(full_case.labels).tolist()) == {0, 1, 2}


def test_liver_size_position_and_coverage(small_cases, full_case):
    for case in [*small_cases.values(), full_case]:
        liver = case.labels > 0
        ml = liver.sum() * case.volume.voxel_volume_ml
        assert 1200 <= ml <= 2000, ml
        centroid = _world(case, np.argwhere(liver).mean(axis=0)[None])[0]
        assert centroid[0] > 20, "liver must lie on the patient's right (RAS +x)"
        # fully inside the scan: no liver voxel on the first or last slice
        assert not liver[:, :, 0].any() and not liver[:, :, -1].any()
        # one piece
        assert ndimage.label(liver)[1] == 1


def test_tumours_strictly_inside_liver(small_cases, full_case):
    for case in [*small_cases.values(), full_case]:
        tum = case.labels == 2
        assert tum.any()
        ring = ndimage.binary_dilation(tum, structure=np.ones((3, 3, 3))) & ~tum
        assert np.all(case.labels[ring] == 1), "a tumour voxel touches background"


def test_lesion_count_and_diameters_from_labels(small_cases, full_case):
    for case in [*small_cases.values(), full_case]:
        diam = _lesions(case.labels, case.volume.spacing)
        assert 1 <= len(diam) <= 6
        assert all(10.0 <= d <= 60.0 for d in diam), diam
        # the case's own lesion list agrees with the labels
        listed = sorted(le["diameter_mm"] for le in case.meta["lesions"])
        assert listed == pytest.approx(sorted(diam), abs=0.02)
        assert {le["kind"] for le in case.meta["lesions"]} <= {"hypodense", "isodense-blurred"}


def test_dataset_covers_small_lesion_and_isodense_scenarios():
    kinds, small_multi = set(), 0
    for s in range(12):
        case = phantom.generate_case(s, "small")
        kinds |= {le["kind"] for le in case.meta["lesions"]}
        if sum(le["diameter_mm"] < 20 for le in case.meta["lesions"]) >= 2:
            small_multi += 1
    assert kinds == {"hypodense", "isodense-blurred"}
    assert small_multi >= 1


def test_hu_of_tissues(full_case):
    case = full_case
    v, lab = case.volume.array, case.labels
    core = ndimage.binary_erosion(lab == 1, iterations=3)
    liver_hu = float(np.median(v[core]))
    assert 95 <= liver_hu <= 130
    for le in case.meta["lesions"]:
        comp = _cube(case, le["centre_mm"], 2.0)
        diff = float(np.mean(comp)) - case.meta["liver_hu"]
        if le["kind"] == "hypodense":
            assert -75 <= diff <= -12, diff
        else:
            assert -25 <= diff <= 0, diff
    marks = case.meta["landmarks_mm"]
    spleen = float(np.mean(_cube(case, marks["spleen"], 5.0)))
    assert 100 <= spleen <= 140
    assert abs(spleen - liver_hu) < 30  # a liver-like neighbour, as in real CT
    fat = float(np.mean(_cube(case, marks["subcutaneous_fat"], 2.0)))
    assert -130 <= fat <= -70
    air = float(np.mean(_cube(case, marks["air"], 3.0)))
    assert air < -950
    aorta = float(np.mean(_cube(case, marks["aorta"], 4.0)))
    assert 140 <= aorta <= 200


def test_noise_sd_in_uniform_region(full_case):
    region = _cube(full_case, full_case.meta["landmarks_mm"]["spleen"], 6.0)
    sd = float(np.std(region))
    assert 8.0 <= sd <= 22.0
    assert sd == pytest.approx(full_case.meta["noise_sd_hu"], rel=0.25)
    # slightly correlated in-plane: neighbouring voxels correlate positively, far ones do not
    r = region - region.mean()
    near = np.corrcoef(r[:-1].ravel(), r[1:].ravel())[0, 1]
    far = np.corrcoef(r[:-4].ravel(), r[4:].ravel())[0, 1]
    assert 0.2 <= near <= 0.9 and abs(far) < 0.15


def test_split_is_8_to_2_and_deterministic():
    for seed in (0, 1, 42):
        split = phantom.split_assignment(150, seed)
        assert split.count("train") == 120 and split.count("test") == 30
        assert split == phantom.split_assignment(150, seed)
    assert phantom.split_assignment(150, 0) != phantom.split_assignment(150, 1)
    assert phantom.split_assignment(5, 0).count("test") == 1


def test_case_seed_is_deterministic_and_distinct():
    seeds = [phantom.case_seed(7, i) for i in range(50)]
    assert seeds == [phantom.case_seed(7, i) for i in range(50)]
    assert len(set(seeds)) == 50
    with pytest.raises(ValueError, match="seed"):
        phantom.case_seed(-1, 0)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="size"):
        phantom.generate_case(0, "huge")
    with pytest.raises(ValueError, match="seed"):
        phantom.generate_case(-3, "small")
    with pytest.raises(ValueError, match="n must be"):
        phantom.write_dataset("unused", 0, 0)


def test_write_dataset_lits_layout_and_manifest(tmp_path):
    calls = []
    manifest = phantom.write_dataset(
        tmp_path, 5, seed=3, size="small", progress=lambda d, t: calls.append((d, t))
    )
    assert calls[-1] == (5, 5) and len(calls) == 5
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    assert manifest["n_train"] == 4 and manifest["n_test"] == 1
    assert [c["split"] for c in manifest["cases"]] == phantom.split_assignment(5, 3)
    for i, entry in enumerate(manifest["cases"]):
        assert (
            entry["image"] == f"volume-{i}.nii.gz" and entry["labels"] == f"segmentation-{i}.nii.gz"
        )
        img = nib.load(tmp_path / entry["image"])
        seg = nib.load(tmp_path / entry["labels"])
        assert img.get_data_dtype() == np.int16 and seg.get_data_dtype() == np.uint8
        assert list(img.shape) == entry["shape"] == list(seg.shape)
        assert np.allclose(nib.affines.voxel_sizes(img.affine), entry["spacing_mm"], atol=1e-3)
        assert np.allclose(img.affine, seg.affine)
        assert nib.aff2axcodes(img.affine) == ("L", "A", "S")
        # the files hold the same data as generating the case directly
        case = phantom.generate_case(entry["seed"], "small")
        assert np.array_equal(np.asarray(img.dataobj), case.volume.array.astype(np.int16))
        assert np.array_equal(np.asarray(seg.dataobj), case.labels)
        lab = np.asarray(seg.dataobj)
        assert len(entry["lesions"]) == ndimage.label(lab == 2, structure=np.ones((3, 3, 3)))[1]
        for le in entry["lesions"]:
            assert set(le) >= {"centre_mm", "diameter_mm", "kind", "volume_ml"}
            assert le["volume_ml"] == pytest.approx(
                np.pi / 6 * le["diameter_mm"] ** 3 / 1000, rel=1e-3
            )
        assert entry["seed"] == phantom.case_seed(3, i)


def test_cli_writes_dataset(tmp_path, capsys):
    out = tmp_path / "ph"
    code = cli_main(
        ["phantom", "--out", str(out), "--n", "2", "--seed", "1", "--size", "small", "--quiet"]
    )
    assert code == 0
    assert (out / "volume-1.nii.gz").is_file() and (out / "segmentation-0.nii.gz").is_file()
    assert json.loads((out / "manifest.json").read_text())["n"] == 2
    assert "wrote 2 cases" in capsys.readouterr().out
    assert cli_main(["phantom", "--out", str(out), "--n", "0", "--quiet"]) == 2
    assert "--n must be >= 1" in capsys.readouterr().err
