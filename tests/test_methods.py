"""Methods registry, interface, post-processing, preprocessing and the accuracy floor.

References are independent of the code under test: hand-computed arrays, torch's own
``F.interpolate`` + ``argmax``, MedPy's ``dc`` on phantom reference labels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from livseg.methods import METHODS, TITLES, get_method, method_class
from livseg.methods.base import largest_component, postprocess
from livseg.methods.network_method import WEIGHTS_DIR, logit_gaps_to_labels
from livseg.phantom import case_seed, generate_case, split_assignment
from livseg.preprocess import body_box, normalise_hu, resample_labels_inplane
from livseg.volume import Volume

NETWORKS = ["unet2d", "unet3d", "attention_unet"]


@pytest.fixture(scope="module")
def small_case():
    return generate_case(case_seed(0, 1), "small")


def test_registry_names_and_titles():
    assert METHODS == ["classical", "unet2d", "unet3d", "attention_unet"]
    expected = {
        "classical": "Threshold + region growing (control)",
        "unet2d": "U-Net (2D)",
        "unet3d": "3D U-Net",
        "attention_unet": "Attention U-Net",
    }
    assert TITLES == expected
    for name in METHODS:
        cls = method_class(name)
        assert cls.name == name and cls.title == expected[name]


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown method 'nnunet'.*classical"):
        get_method("nnunet")


def test_get_method_is_cached():
    assert get_method("classical") is get_method("classical")
    assert get_method("unet2d") is get_method("unet2d")


@pytest.mark.parametrize("name", METHODS)
def test_interface_shape_dtype_params_deterministic(name, small_case):
    method = get_method(name)
    vol = small_case.volume
    a, ran = method.run(vol)  # labels + this call's own immutable record
    assert a.shape == vol.shape and a.dtype == np.uint8
    assert set(np.unique(a)) <= {0, 1, 2}
    assert (a > 0).any(), "the liver must be found on a phantom"
    assert re.fullmatch(r"[0-9a-f]{12}", method.version)
    assert method.device in ("cpu", "cuda", "cuda:0")
    assert isinstance(ran.params, Mapping) and ran.params
    b = method.segment(vol)
    np.testing.assert_array_equal(a, b)  # deterministic


@pytest.mark.parametrize("name", NETWORKS)
def test_weights_files_small_loadable_and_carded(name):
    path = WEIGHTS_DIR / f"{name}.pt"
    assert path.is_file() and path.stat().st_size <= 10 * 1024 * 1024
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert ckpt["grid"] == [256, 256] and ckpt["hu_window"] == [-150.0, 250.0]
    card = (WEIGHTS_DIR / f"{name}.md").read_text()
    assert "python -m livseg train" in card and "seed" in card.lower()


# ----------------------------------------------------------------------- post-processing


def test_postprocess_keeps_largest_organ_and_tumour_inside():
    lab = np.zeros((20, 20, 10), np.uint8)
    lab[2:10, 2:10, 2:8] = 1  # 8*8*6 = 384 voxels, the big organ
    lab[4:6, 4:6, 4:6] = 2  # tumour inside it (8 voxels)
    lab[14:17, 14:17, 2:5] = 1  # small second organ component (27 voxels)
    lab[18, 18, 8] = 2  # lone tumour voxel outside any liver
    out = postprocess(lab)
    expected = np.zeros_like(lab)
    expected[2:10, 2:10, 2:8] = 1
    expected[4:6, 4:6, 4:6] = 2
    np.testing.assert_array_equal(out, expected)
    assert int((out == 1).sum()) == 384 - 8 and int((out == 2).sum()) == 8


def test_largest_component_diagonal_touch_counts_as_connected():
    m = np.zeros((5, 5, 5), bool)
    m[0, 0, 0] = m[1, 1, 1] = m[2, 2, 2] = True  # corner-connected chain of 3
    m[4, 4, 0] = m[4, 3, 0] = True  # separate pair
    out = largest_component(m)
    assert out.sum() == 3 and out[1, 1, 1] and not out[4, 4, 0]


def test_postprocess_empty_stays_empty():
    assert not postprocess(np.zeros((4, 4, 4), np.uint8)).any()


# ----------------------------------------------------------------------- preprocessing


def test_normalise_hu_window_by_hand():
    hu = np.array([-1000.0, -150.0, 50.0, 250.0, 3000.0])
    np.testing.assert_allclose(normalise_hu(hu), [0.0, 0.0, 0.5, 1.0, 1.0])
    with pytest.raises(ValueError, match="high > low"):
        normalise_hu(hu, (100.0, 100.0))


def test_nearest_label_resampling_by_hand():
    lab = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)
    out = resample_labels_inplane(lab, (2, 2))
    # output pixel centres at input positions 0.5 and 2.5 -> rounded (half to even) 0 and 2
    np.testing.assert_array_equal(out[:, :, 0], [[0, 2], [8, 10]])


def test_logit_gaps_match_torch_interpolate_argmax():
    rng = np.random.default_rng(3)
    logits = torch.from_numpy(rng.normal(size=(5, 3, 12, 10)).astype(np.float32))  # (Z, C, x, y)
    ref = F.interpolate(logits, size=(36, 20), mode="bilinear", align_corners=False).argmax(1)
    gaps = logits[:, 1:] - logits[:, :1]
    out = logit_gaps_to_labels(gaps, (36, 20))
    np.testing.assert_array_equal(out, ref.permute(1, 2, 0).numpy())


def test_body_box_by_hand():
    hu = np.full((64, 64, 3), -1000.0)
    hu[10:30, 20:25, 1] = 40.0  # body occupies x 10..29, y 20..24
    x0, x1, y0, y1 = body_box(hu, multiple=16, margin=2)
    assert (x1 - x0) % 16 == 0 and (y1 - y0) % 16 == 0
    assert x0 <= 8 and x1 >= 32 and y0 <= 18 and y1 >= 27
    # x: [8, 32) grown to 32 centred -> [4, 36); y: [18, 27) grown to 16 -> [15, 31)
    assert (x0, x1) == (4, 36) and (y0, y1) == (15, 31)


# ----------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "array, spacing, message",
    [
        (np.full((8, 8, 8), np.nan, np.float32), (1.0, 1.0, 1.0), "NaN"),
        (np.zeros((8, 8), np.float32), (1.0, 1.0, 1.0), "3D"),
        (np.zeros((8, 8, 8), np.float32), (1.0, 0.0, 1.0), "spacing"),
        (np.zeros((8, 8, 1), np.float32), (1.0, 1.0, 1.0), "too small"),
    ],
)
def test_bad_volumes_raise_clear_errors(array, spacing, message):
    vol = Volume(array=array, spacing=spacing, affine=np.eye(4))
    with pytest.raises(ValueError, match=message):
        get_method("classical").segment(vol)


def test_classical_rejects_a_volume_without_body():
    vol = Volume(
        array=np.full((32, 32, 8), -1000.0, np.float32), spacing=(1.0, 1.0, 2.0), affine=np.eye(4)
    )
    with pytest.raises(ValueError, match="no body"):
        get_method("classical").segment(vol)


# ----------------------------------------------------------------------- accuracy floor


@pytest.fixture(scope="module")
def test_split_cases():
    """Two full-size cases of the TEST split of the 150-case dataset (seed 0)."""
    split = split_assignment(150, 0)
    idx = [i for i, s in enumerate(split) if s == "test"][:2]
    return [generate_case(case_seed(0, i), "full") for i in idx]


FLOORS = {  # per-case mean DSC floors well under the model-card figures
    "classical": (0.80, 0.20),
    "unet2d": (0.93, 0.55),
    "unet3d": (0.93, 0.55),
    "attention_unet": (0.93, 0.55),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", METHODS)
def test_accuracy_floor_on_test_split(name, test_split_cases):
    from medpy.metric.binary import dc

    liver, tumour = [], []
    for case in test_split_cases:
        pred = get_method(name).segment(case.volume)
        liver.append(dc(pred > 0, case.labels > 0))
        tumour.append(dc(pred == 2, case.labels == 2))
    lf, tf = FLOORS[name]
    assert np.mean(liver) >= lf, f"{name} liver DSC {liver}"
    assert np.mean(tumour) >= tf, f"{name} tumour DSC {tumour}"


def test_weights_dir_is_in_package():
    assert Path(WEIGHTS_DIR).parts[-2:] == ("livseg", "weights")


def test_postprocess_drops_tumour_specks_below_min_volume():
    lab = np.zeros((30, 30, 10), np.uint8)
    lab[2:28, 2:28, 1:9] = 1
    lab[5:10, 5:10, 3:7] = 2  # 100 voxels of 1 mm^3 = 0.1 mL: kept at 0.1 mL
    lab[20:22, 20:22, 3:5] = 2  # 8 voxels = 0.008 mL: becomes liver
    out = postprocess(lab, spacing=(1.0, 1.0, 1.0), min_tumour_ml=0.1)
    assert int((out == 2).sum()) == 100 and out[20, 20, 3] == 1
    with pytest.raises(ValueError, match="spacing"):
        postprocess(lab, min_tumour_ml=0.1)
