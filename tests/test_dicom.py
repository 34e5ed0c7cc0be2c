"""DICOM series in: the real JPEG 2000 series, phantom series written with plain pydicom, and
every refusal with its message. References are independent of livseg.dicom: the real series'
TotalSegmentator mask (its own NIfTI grid), pydicom's decoding of the files, NIfTI files of
the same arrays read by livseg.io's NIfTI path, and affines written out by hand."""

from __future__ import annotations

import json
import random
import shutil
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from livseg.io import LivSegInputError, load_volume
from tests.dicom_support import AXIAL, IDENTITY, expected_affine, write_series

DATA = Path(__file__).parent / "data" / "abdomen-ct-dicom"
SERIES = DATA / "series"
MASK = DATA / "liver-mask.nii.gz"


@pytest.fixture(scope="module")
def native() -> np.ndarray:
    """A small phantom crop in HU (integers), indexed [column, row, slice]."""
    from livseg.phantom import generate_case

    case = generate_case(5, size="small")
    arr = case.volume.array
    cx, cy, cz = (s // 2 for s in arr.shape)
    crop = arr[cx - 24 : cx + 24, cy - 20 : cy + 20, cz - 5 : cz + 5]
    return np.round(np.clip(crop, -1024, 3000)).astype(np.float32)


def _nifti_reference(tmp_path: Path, native: np.ndarray, affine: np.ndarray):
    path = tmp_path / "reference.nii.gz"
    nib.save(nib.Nifti1Image(native, affine), str(path))
    return load_volume(path)


def _assert_same_volume(vol, ref) -> None:
    assert vol.shape == ref.shape
    np.testing.assert_allclose(vol.affine, ref.affine, atol=1e-4)
    np.testing.assert_allclose(vol.spacing, ref.spacing, atol=1e-5)
    np.testing.assert_array_equal(vol.array, ref.array)


# --------------------------------------------------------------------------- the real series


def test_real_series_is_on_the_masks_grid():
    vol = load_volume(SERIES)
    mask = nib.load(str(MASK))
    assert vol.shape == mask.shape == (512, 512, 20)
    np.testing.assert_allclose(vol.affine, mask.affine, atol=1e-4)
    np.testing.assert_allclose(vol.spacing, (0.9765625, 0.9765625, 2.0), atol=1e-6)
    # voxel values: pydicom's own decoding of the lowest slice (mask axes L-A-S: the DICOM
    # rows run posterior, so row j is canonical y = 511 - j)
    files = sorted(SERIES.iterdir())
    lowest = min(files, key=lambda f: float(pydicom.dcmread(f).ImagePositionPatient[2]))
    ds = pydicom.dcmread(lowest)
    hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(vol.array[:, ::-1, 0], hu.T)
    liver = np.asarray(mask.dataobj) > 0
    assert 70 < float(vol.array[liver].mean()) < 110  # README: liver ~90 HU


def test_real_series_source_keeps_uids_and_no_identity():
    vol = load_volume(SERIES)
    src = vol.source
    assert src["format"] == "dicom" and len(src["sop_instance_uids"]) == 20
    # this anonymised series has blank Study/Series UIDs: stable derived ones stand in
    assert src["uids_derived"] == ["StudyInstanceUID", "SeriesInstanceUID"]
    assert load_volume(SERIES).source["uids"] == src["uids"]
    ds = pydicom.dcmread(next(SERIES.iterdir()), stop_before_pixels=True)
    assert src["uids"]["FrameOfReferenceUID"] == ds.FrameOfReferenceUID


def test_corrupt_jpeg2000_pixel_data_names_the_file(tmp_path):
    folder = tmp_path / "series"
    shutil.copytree(SERIES, folder)
    victim = sorted(folder.iterdir())[7]
    raw = bytearray(victim.read_bytes())
    start = raw.find(b"\xff\x4f\xff\x51")  # JPEG 2000 codestream: SOC + SIZ markers
    assert start > 0
    raw[start : start + 64] = bytes(random.Random(1).randrange(256) for _ in range(64))
    victim.write_bytes(bytes(raw))
    with pytest.raises(LivSegInputError, match="unreadable pixel data") as err:
        load_volume(folder)
    assert victim.name in str(err.value)


# --------------------------------------------------------------------------- phantom series


def test_uncompressed_axial_series_equals_nifti_of_the_same_array(tmp_path, native):
    write_series(tmp_path / "s", native, pixel_spacing=(1.5, 1.25), slice_step=2.5)
    vol = load_volume(tmp_path / "s")
    affine = expected_affine(AXIAL, (-100.0, -80.0, 50.0), (1.5, 1.25), 2.5)
    _assert_same_volume(vol, _nifti_reference(tmp_path, native, affine))
    # by hand: LAS+ x = 1.25 mm columns (towards the left), y flipped rows (1.5 mm towards
    # anterior), z = 2.5 mm slices from the lowest one; spacing never from SliceThickness (99)
    ny = native.shape[1]
    hand = np.array(
        [
            [-1.25, 0, 0, 100.0],
            [0, 1.5, 0, 80.0 - 1.5 * (ny - 1)],
            [0, 0, 2.5, 50.0],
            [0, 0, 0, 1],
        ]
    )
    np.testing.assert_allclose(vol.affine, hand, atol=1e-6)
    assert vol.spacing == pytest.approx((1.25, 1.5, 2.5))
    np.testing.assert_array_equal(vol.array[:, ::-1, :], native)


def test_rescale_slope_and_intercept_give_hu(tmp_path, native):
    write_series(tmp_path / "s", native, slope=0.5, intercept=-2000.0)
    vol = load_volume(tmp_path / "s")
    np.testing.assert_array_equal(vol.array[:, ::-1, :], native)


def _rotation(z_deg: float, x_deg: float) -> np.ndarray:
    a, b = np.deg2rad(z_deg), np.deg2rad(x_deg)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rx @ rz


def test_oblique_orthogonal_series_equals_nifti_of_the_same_array(tmp_path, native):
    rot = _rotation(25.0, 15.0)
    orientation = tuple(rot[:, 0]) + tuple(rot[:, 1])
    write_series(tmp_path / "s", native, orientation=orientation, slice_step=3.0)
    vol = load_volume(tmp_path / "s")
    affine = expected_affine(orientation, (-100.0, -80.0, 50.0), (1.5, 1.25), 3.0)
    _assert_same_volume(vol, _nifti_reference(tmp_path, native, affine))


def test_gantry_tilt_is_refused(tmp_path, native):
    step = 2.5
    positions = [
        (-100.0, -80.0 + k * step * np.tan(np.deg2rad(12)), 50.0 + k * step) for k in range(10)
    ]
    write_series(tmp_path / "tilted", native, positions=positions)
    with pytest.raises(
        LivSegInputError, match=r"gantry tilt or sheared geometry: .*12\.0\d degrees"
    ) as err:
        load_volume(tmp_path / "tilted")
    assert str(tmp_path / "tilted") in str(err.value)


def test_shuffled_file_order_and_names_give_the_same_volume(tmp_path, native):
    names = [f"{random.Random(k).randrange(10**8):08d}.dcm" for k in range(native.shape[2])]
    random.Random(3).shuffle(names)
    write_series(tmp_path / "shuffled", native, names=names)
    write_series(tmp_path / "ordered", native)
    _assert_same_volume(load_volume(tmp_path / "shuffled"), load_volume(tmp_path / "ordered"))


def test_missing_slice_is_refused_with_the_two_neighbours(tmp_path, native):
    paths = write_series(tmp_path / "s", native, slice_step=2.5)
    paths[4].unlink()
    with pytest.raises(LivSegInputError, match=r"1 missing slice: gap of 5\.000 mm") as err:
        load_volume(tmp_path / "s")
    assert "slice003.dcm" in str(err.value) and "slice005.dcm" in str(err.value)


def test_irregular_spacing_is_refused(tmp_path, native):
    z = [50.0, 52.5, 55.0, 57.5, 61.0, 63.5, 66.0, 68.5, 71.0, 73.5]
    write_series(tmp_path / "s", native, positions=[(-100.0, -80.0, v) for v in z])
    with pytest.raises(LivSegInputError, match=r"irregular slice spacing: 3\.500 mm between"):
        load_volume(tmp_path / "s")


def test_mixed_sizes_are_refused(tmp_path, native):
    uid = pydicom.uid.generate_uid()
    write_series(tmp_path / "s", native[:, :, :5], series_uid=uid, prefix="a")
    write_series(
        tmp_path / "s", native[:-2, :, 5:], series_uid=uid, prefix="b",
        first_position=(-100.0, -80.0, 50.0 + 5 * 2.5),
    )  # fmt: skip
    with pytest.raises(LivSegInputError, match="mixed image sizes"):
        load_volume(tmp_path / "s")


def test_two_series_the_largest_is_chosen_and_the_other_listed(tmp_path, native):
    big, small = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    write_series(tmp_path / "s" / "a", native[:, :, :4], series_uid=small, prefix="small")
    write_series(tmp_path / "s" / "b" / "deeper", native, series_uid=big)
    with pytest.warns(UserWarning, match=f"also found: CT series {small} \\(4 planes\\)"):
        vol = load_volume(tmp_path / "s")
    assert vol.shape[2] == native.shape[2]
    assert vol.source["uids"]["SeriesInstanceUID"] == big


def test_localizers_and_non_image_objects_are_skipped(tmp_path, native):
    uid = pydicom.uid.generate_uid()
    write_series(tmp_path / "s", native, series_uid=uid)
    # a localizer inside the same series, a sagittal scout series and a non-DICOM file
    write_series(
        tmp_path / "s", native[:, :, :1], series_uid=uid, prefix="loc",
        image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"), first_position=(-100.0, -80.0, 10.0),
    )  # fmt: skip
    write_series(
        tmp_path / "s", native[:, :, :1], orientation=(0, 1, 0, 0, 0, -1), prefix="scout",
        image_type=("ORIGINAL", "PRIMARY", "OTHER"),
    )  # fmt: skip
    (tmp_path / "s" / "README.txt").write_text("not DICOM")
    with pytest.warns(UserWarning, match="single non-axial plane"):
        vol = load_volume(tmp_path / "s")
    assert vol.shape[2] == native.shape[2]
    np.testing.assert_array_equal(vol.array[:, ::-1, :], native)


def test_non_ct_modality_is_refused(tmp_path, native):
    write_series(tmp_path / "mr", native, modality="MR")
    with pytest.raises(LivSegInputError, match="modality MR, LivSeg reads CT only") as err:
        load_volume(tmp_path / "mr")
    assert str(tmp_path / "mr") in str(err.value)


def test_folder_without_dicom_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hello")
    with pytest.raises(LivSegInputError, match="no DICOM files found"):
        load_volume(tmp_path / "empty")


def test_truncated_pixel_data_names_the_file(tmp_path, native):
    paths = write_series(tmp_path / "s", native)
    ds = pydicom.dcmread(paths[6])
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]
    ds.save_as(paths[6])
    with pytest.raises(LivSegInputError, match="unreadable pixel data") as err:
        load_volume(tmp_path / "s")
    assert str(paths[6]) in str(err.value)


def test_zip_of_a_series_equals_the_folder(tmp_path, native):
    paths = write_series(tmp_path / "s", native)
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in paths:
            zf.write(p, f"export/DICOM/{p.name}")
    _assert_same_volume(load_volume(archive), load_volume(tmp_path / "s"))


def test_enhanced_multiframe_ct_equals_the_single_frame_series(tmp_path, native):
    from highdicom.legacy import LegacyConvertedEnhancedCTImage

    paths = write_series(tmp_path / "s", native)
    legacy = [pydicom.dcmread(p) for p in paths]
    enhanced = LegacyConvertedEnhancedCTImage(
        legacy_datasets=legacy,
        series_instance_uid=pydicom.uid.generate_uid(),
        series_number=4,
        sop_instance_uid=pydicom.uid.generate_uid(),
        instance_number=1,
    )
    enhanced.save_as(tmp_path / "enhanced.dcm")
    assert int(pydicom.dcmread(tmp_path / "enhanced.dcm").NumberOfFrames) == native.shape[2]
    _assert_same_volume(load_volume(tmp_path / "enhanced.dcm"), load_volume(tmp_path / "s"))


def test_no_patient_identity_in_the_volume(tmp_path, native):
    write_series(tmp_path / "s", native)
    vol = load_volume(tmp_path / "s")
    dumped = json.dumps(vol.source)
    for value in IDENTITY.values():
        assert value not in dumped
    assert "Doe" not in dumped


def test_mixed_orientations_are_refused(tmp_path, native):
    uid = pydicom.uid.generate_uid()
    write_series(tmp_path / "s", native[:, :, :5], series_uid=uid, prefix="a")
    c, s = np.cos(np.deg2rad(3)), np.sin(np.deg2rad(3))
    write_series(
        tmp_path / "s", native[:, :, 5:], series_uid=uid, prefix="b",
        orientation=(c, s, 0.0, -s, c, 0.0), first_position=(-100.0, -80.0, 50.0 + 5 * 2.5),
    )  # fmt: skip
    with pytest.raises(
        LivSegInputError, match="mixed orientations: .*a000.dcm|mixed orientations: .*b00"
    ):
        load_volume(tmp_path / "s")


def test_a_single_slice_is_refused(tmp_path, native):
    write_series(tmp_path / "one", native[:, :, :1])
    with pytest.raises(
        LivSegInputError, match=r"no usable CT series; found CT series .* a single slice"
    ):
        load_volume(tmp_path / "one")


def test_a_segmentation_beside_the_series_is_skipped(tmp_path, native):
    from livseg.dicom.seg import write_segmentation

    write_series(tmp_path / "s", native)
    vol = load_volume(tmp_path / "s")
    write_segmentation(np.zeros(vol.shape, np.uint8), vol, tmp_path / "s" / "seg.dcm", "m", "1")
    again = load_volume(tmp_path / "s")
    _assert_same_volume(again, vol)


def test_memory_limit_is_checked_before_decoding(tmp_path, native):
    write_series(tmp_path / "s", native)
    need_mb = native.size * 4 / 2**20
    with pytest.raises(
        LivSegInputError, match="volume too large: 48 x 40 x 10 voxels x 4 bytes"
    ) as err:
        load_volume(tmp_path / "s", max_bytes=int(need_mb * 2**20) - 1)
    assert str(tmp_path / "s") in str(err.value)
    assert load_volume(tmp_path / "s", max_bytes=int(need_mb * 2**20)).shape == native.shape
