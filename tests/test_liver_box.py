"""The liver's box view (protocol amendment 6): the box, the combination rules, the box views
in training and the second pass of weights that carry a zoom entry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from livseg.liver_box import ZOOM_RULES, combine_passes, organ_box
from tests.training_support import tiny_config


def _labels() -> np.ndarray:
    lab = np.zeros((40, 30, 12), np.uint8)
    lab[10:20, 5:25, 3:9] = 1
    lab[12:14, 8:10, 4:6] = 2
    return lab


def test_organ_box_grows_by_the_margin_in_mm_per_axis_and_one_slice():
    lab = _labels()
    # hand-computed: x from 10..19 with 8 mm at 0.7 mm -> ceil(11.43) = 12 voxels (clipped at 0)
    # y from 5..24 with 8 mm at 2.0 mm -> 4 voxels, z from 3..8 -> one slice
    box = organ_box(lab, (0.7, 2.0, 5.0), 8.0)
    assert box == (slice(0, 32), slice(1, 29), slice(2, 10))
    assert organ_box(np.zeros((4, 4, 4), np.uint8), (1.0, 1.0, 1.0)) is None


def test_organ_box_by_hand_at_sub_millimetre_voxels_and_clipped():
    labels = np.zeros((100, 80, 30), np.uint8)
    labels[40:60, 30:50, 10:20] = 1
    labels[45:50, 35:40, 12:14] = 2
    # 8 mm = 10 voxels at 0.8 mm, 16 at 0.5 mm; z grows by one slice
    assert organ_box(labels, (0.8, 0.5, 3.0), 8.0) == (slice(30, 70), slice(14, 66), slice(9, 21))
    labels = np.zeros((20, 20, 5), np.uint8)
    labels[0:5, 15:20, 0:5] = 1
    assert organ_box(labels, (1.0, 1.0, 1.0), 8.0) == (slice(0, 13), slice(7, 20), slice(0, 5))


def test_combine_rules_on_hand_built_passes():
    first = np.zeros((6, 6, 2), np.uint8)
    first[1:5, 1:5] = 1
    first[1, 1] = 2  # a tumour only the first pass calls
    box = (slice(1, 5), slice(1, 5), slice(0, 2))
    zoomed = np.ones((4, 4, 2), np.uint8)
    zoomed[2, 2] = 2  # voxel (3, 3) of the image: a tumour only the second pass calls
    zoomed[0, 3] = 0  # voxel (1, 4): the second pass drops this liver voxel
    one = combine_passes(first, zoomed, box, "one_pass")
    assert np.array_equal(one, first) and one is not first
    rep = combine_passes(first, zoomed, box, "replace")
    assert rep[3, 3, 0] == 2 and rep[1, 1, 0] == 1 and rep[1, 4, 0] == 0
    tum = combine_passes(first, zoomed, box, "tumour")
    assert tum[3, 3, 0] == 2 and tum[1, 1, 0] == 1 and tum[1, 4, 0] == 1
    uni = combine_passes(first, zoomed, box, "union")
    assert uni[3, 3, 0] == 2 and uni[1, 1, 0] == 2 and uni[1, 4, 0] == 1
    for out in (rep, tum, uni):  # outside the box nothing changes
        assert out[0].sum() == 0 and out[5].sum() == 0
    assert combine_passes(first, None, None, "replace").tolist() == first.tolist()
    with pytest.raises(ValueError, match="unknown zoom rule"):
        combine_passes(first, zoomed, box, "bogus")
    with pytest.raises(ValueError, match="do not match the box"):
        combine_passes(first, zoomed[:3], box, "replace")


def test_box_view_is_the_organ_box_cut_at_full_resolution():
    from livseg.methods.network_method import prepare_slices
    from livseg.preprocess import NETWORK_GRID, resample_labels_inplane
    from livseg.training_data import _to_grid

    rng = np.random.default_rng(0)
    lab = _labels()
    hu = rng.normal(60, 20, lab.shape).astype(np.float32)
    img, glab = _to_grid(hu, lab, (0.7, 2.0, 5.0), view="box")
    x0, x1, y0, y1, z0, z1 = 0, 32, 1, 29, 2, 10  # the box of the test above
    ref_img = prepare_slices(hu[x0:x1, y0:y1, z0:z1], NETWORK_GRID).numpy().astype(np.float16)
    ref_lab = resample_labels_inplane(lab[x0:x1, y0:y1, z0:z1], NETWORK_GRID).transpose(2, 0, 1)
    assert img.shape == (8, *NETWORK_GRID) and np.array_equal(img, ref_img)
    assert np.array_equal(glab, ref_lab)
    with pytest.raises(ValueError, match="view"):
        _to_grid(hu, lab, (1.0, 1.0, 1.0), view="zoom")


def load_full(i: int) -> np.ndarray:
    from livseg.training_data import load_cases

    return load_cases(0, [i], size="small", profile="v2")[0][1]


def test_training_with_box_views_draws_them_p_zoom_of_the_time(tmp_path):
    from livseg.training import assemble_data

    cfg = tiny_config(2, p_zoom=0.3)
    data = assemble_data(cfg)
    assert len(data.train) == 4 and data.val_sources == ["phantom", "phantom-box"]
    assert data.weights is not None and np.isclose(data.weights.sum(), 1.0)
    assert np.isclose(data.weights[2:].sum(), 0.3)  # the two box views
    from livseg.phantom import case_seed, generate_case
    from livseg.training import train_indices

    i = train_indices(0)[1]  # the second training case: its box view is train[3]
    case = generate_case(case_seed(0, i), "small", profile="v2")
    box = organ_box(case.labels, case.volume.spacing)
    assert data.train[3][1].shape[0] == box[2].stop - box[2].start
    assert np.array_equal(np.asarray(data.train[1][1]), np.asarray(load_full(i)))
    with pytest.raises(ValueError, match="p_zoom"):
        tiny_config(2, p_zoom=1.0)


def test_zoom_weights_run_a_second_pass_with_the_chosen_rule(tmp_path):
    from medpy.metric.binary import dc

    from livseg.methods.unet2d import UNet2DMethod
    from livseg.phantom import case_seed, generate_case
    from livseg.training import train

    summary = train(tiny_config(4, p_zoom=0.5), out=tmp_path / "w.pt", show_progress=False)
    zoom = summary["zoom"]
    assert zoom["rule"] in ZOOM_RULES and set(zoom["rules"]) == set(ZOOM_RULES)
    score = {r: v["liver_dsc"] + v["tumour_dsc"] for r, v in zoom["rules"].items()}
    assert score[zoom["rule"]] == max(score.values())
    ckpt = torch.load(tmp_path / "w.pt", map_location="cpu", weights_only=True)
    assert ckpt["zoom"] == {"margin_mm": 8.0, "rule": zoom["rule"]}
    card = (tmp_path / "w.md").read_text()
    assert f"Rule chosen: **{zoom['rule']}**" in card and "| union |" in card
    h = summary["history"][-1]  # each source's validation figures in the history table
    assert "phantom-box liver / tumour" in card
    assert f"{h['phantom-box_liver_dsc']:.4f} / {h['phantom-box_tumour_dsc']:.4f}" in card
    # the one_pass row is the plain one-pass method on the validation case, scored by MedPy
    val_index = summary["data"]["phantom"]["val_indices"][0]
    case = generate_case(case_seed(0, val_index), "small", profile="v2")
    ckpt["zoom"] = {"margin_mm": 8.0, "rule": "one_pass"}
    torch.save(ckpt, tmp_path / "one.pt")
    lab, _ = UNet2DMethod(weights=tmp_path / "one.pt", device="cpu", threads=1).run(case.volume)
    ref = case.labels
    liver = dc(lab > 0, ref > 0) if (lab > 0).any() else 0.0
    assert zoom["rules"]["one_pass"]["liver_dsc"] == pytest.approx(liver, abs=1e-4)
    # "replace" weights record the box of the first pass's organ and run both passes
    ckpt["zoom"] = {"margin_mm": 8.0, "rule": "replace"}
    torch.save(ckpt, tmp_path / "rep.pt")
    _, ran = UNet2DMethod(weights=tmp_path / "rep.pt", device="cpu", threads=1).run(case.volume)
    if (lab > 0).any():
        box = organ_box(lab, case.volume.spacing, 8.0)
        assert ran.params["zoom_box"] == [[s.start, s.stop] for s in box]
    assert ran.params["zoom"]["rule"] == "replace"


def test_a_bad_zoom_entry_is_refused_with_the_file_name(tmp_path):
    from livseg.methods.unet2d import UNet2DMethod
    from livseg.training import train

    train(tiny_config(2), out=tmp_path / "w.pt", show_progress=False)
    ckpt = torch.load(tmp_path / "w.pt", map_location="cpu", weights_only=True)
    assert "zoom" not in ckpt  # a run without box views runs one pass
    ckpt["zoom"] = {"margin_mm": 8.0, "rule": "everything"}
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="bad.pt.*rule"):
        UNet2DMethod(weights=tmp_path / "bad.pt", device="cpu", threads=1)
