"""livseg.io: canonical loading, writing back on the file's own grid, folder scans, and a
corpus of bad files (generated here) each with its specific message."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from livseg import io
from livseg.io import LivSegInputError

RNG = np.random.default_rng(1234)
SHAPE = (10, 12, 6)
CT = RNG.integers(-1000, 1500, SHAPE).astype(np.int16)
LABELS = RNG.integers(0, 3, SHAPE).astype(np.uint8)

# livseg's canonical grid (x index 0 = patient's right): such files load unchanged
LAS_EYE = np.diag([-1.0, 1.0, 1.0, 1.0])
# LPS (DICOM-like): x and y flipped with respect to RAS
LPS = np.array([[-0.8, 0, 0, 150.0], [0, -0.8, 0, 120.0], [0, 0, 2.5, -300.0], [0, 0, 0, 1]])
# permuted axes: file axis 0 runs superior, axis 1 runs left-to-right (R), axis 2 posterior
PERMUTED = np.array([[0, 0.7, 0, -40.0], [0, 0, -0.9, 60.0], [3.0, 0, 0, -100.0], [0, 0, 0, 1]])


def _save(path, data, affine=None, **header):
    img = nib.Nifti1Image(data, LAS_EYE if affine is None else affine)
    for key, value in header.items():
        img.header[key] = value
    nib.save(img, str(path))
    return path


# --------------------------------------------------------------------------- round trips


def test_lps_volume_is_flipped_to_las_by_hand(tmp_path):
    path = _save(tmp_path / "ct.nii.gz", CT, LPS)
    vol = io.load_volume(path)
    # hand reference: LPS -> LAS (livseg's canonical grid) reverses the y axis only
    assert np.array_equal(vol.array, CT[:, ::-1, :].astype(np.float32))
    assert vol.array.dtype == np.float32
    assert vol.spacing == pytest.approx((0.8, 0.8, 2.5))
    assert nib.aff2axcodes(vol.affine) == ("L", "A", "S")
    # the canonical voxel (0, 0, 0) is the file's voxel (0, 11, 0): same world point
    assert np.allclose(vol.affine @ [0, 0, 0, 1], LPS @ [0, 11, 0, 1])


def test_permuted_axes_volume_matches_nibabel_las(tmp_path):
    path = _save(tmp_path / "ct.nii", CT, PERMUTED)
    vol = io.load_volume(path)
    img = nib.load(path)
    to_las = nib.orientations.ornt_transform(
        nib.orientations.io_orientation(img.affine), nib.orientations.axcodes2ornt("LAS")
    )
    ref = img.as_reoriented(to_las)
    assert nib.aff2axcodes(ref.affine) == ("L", "A", "S")
    assert np.array_equal(vol.array, np.asarray(ref.dataobj, dtype=np.float32))
    assert np.allclose(vol.affine, ref.affine)
    # hand reference: canonical x = reversed file axis 1 (which runs to the right),
    # y = reversed file axis 2, z = file axis 0
    assert np.array_equal(vol.array, np.transpose(CT, (1, 2, 0))[::-1, ::-1, :])
    assert vol.spacing == pytest.approx((0.7, 0.9, 3.0))


@pytest.mark.parametrize("affine", [LPS, PERMUTED], ids=["LPS", "permuted"])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_labels_round_trip_to_the_files_own_grid(tmp_path, affine, suffix):
    img_path = _save(tmp_path / f"ct{suffix}", CT, affine)
    lab_path = _save(tmp_path / f"seg{suffix}", LABELS, affine)
    vol = io.load_volume(img_path)
    lab = io.load_labels(lab_path, like=vol)
    assert lab.dtype == np.uint8 and lab.shape == vol.shape
    out = io.save_labels(lab, vol, tmp_path / f"out{suffix}")
    written = nib.load(out)
    assert np.array_equal(written.affine, nib.load(img_path).affine)
    assert written.shape == SHAPE
    assert written.get_data_dtype() == np.uint8
    assert np.array_equal(np.asarray(written.dataobj), LABELS)
    # the volume itself goes back the same way
    vout = nib.load(io.save_volume(vol, tmp_path / f"vout{suffix}"))
    assert vout.get_data_dtype() == np.int16
    assert np.array_equal(np.asarray(vout.dataobj), CT)
    assert np.allclose(vout.affine, affine)


def test_load_case_and_singleton_fourth_dimension(tmp_path):
    img_path = _save(tmp_path / "liver_7.nii.gz", CT[..., None], np.diag([-0.8, 0.8, 2.5, 1]))
    lab_path = _save(tmp_path / "liver_7_seg.nii.gz", LABELS, np.diag([-0.8, 0.8, 2.5, 1]))
    case = io.load_case(img_path, lab_path)
    assert case.case_id == "liver_7"
    assert case.volume.shape == SHAPE
    assert np.array_equal(case.labels, LABELS)
    assert io.load_case(img_path, case_id="x").labels is None


def test_float_labels_with_integer_values_are_accepted(tmp_path):
    img = _save(tmp_path / "ct.nii.gz", CT)
    lab = _save(tmp_path / "seg.nii.gz", LABELS.astype(np.float32))
    assert np.array_equal(io.load_labels(lab, io.load_volume(img)), LABELS)


def test_scaled_data_is_returned_in_hu(tmp_path):
    raw = (CT.astype(np.int32) + 1024).astype(np.uint16)
    img = nib.Nifti1Image(raw, LAS_EYE)
    img.header.set_slope_inter(1.0, -1024.0)
    nib.save(img, str(tmp_path / "ct.nii.gz"))
    assert np.array_equal(io.load_volume(tmp_path / "ct.nii.gz").array, CT.astype(np.float32))


# --------------------------------------------------------------------------- folders


def test_scan_lits_folder_with_subfolders_and_mixed_suffixes(tmp_path):
    (tmp_path / "batch1").mkdir()
    _save(tmp_path / "batch1" / "volume-0.nii", CT)
    _save(tmp_path / "batch1" / "segmentation-0.nii", LABELS)
    _save(tmp_path / "volume-12.nii.gz", CT)
    _save(tmp_path / "segmentation-12.nii.gz", LABELS)
    _save(tmp_path / "volume-3.nii.gz", CT)  # no segmentation
    (tmp_path / "._volume-5.nii.gz").write_bytes(b"macOS resource fork")
    (tmp_path / "notes.txt").write_text("ignored")
    cases = io.scan_folder(tmp_path)
    # one case id (issue 10 finding 2): the N of volume-N, as the runs layout writes it
    assert [c.case_id for c in cases] == ["0", "3", "12"]
    assert all(c.layout == "lits" for c in cases)
    assert cases[0].image.name == "volume-0.nii" and cases[0].labels.name == "segmentation-0.nii"
    assert cases[1].labels is None
    assert cases[2].labels == tmp_path / "segmentation-12.nii.gz"


def test_scan_lits_folder_uses_the_phantom_manifest(tmp_path):
    from livseg import phantom

    manifest = phantom.write_dataset(tmp_path, 2, seed=0, size="small")
    cases = io.scan_folder(tmp_path)
    # the manifest gives the split; the case id is the file's (volume-0 -> "0"), one id
    assert [c.case_id for c in cases] == ["0", "1"]
    assert [c["image"] for c in manifest["cases"]] == ["volume-0.nii.gz", "volume-1.nii.gz"]
    assert [c.split for c in cases] == [c["split"] for c in manifest["cases"]]
    case = io.load_case(cases[0].image, cases[0].labels, cases[0].case_id)
    direct = phantom.generate_case(manifest["cases"][0]["seed"], "small")
    assert np.array_equal(case.volume.array, direct.volume.array)
    assert np.array_equal(case.labels, direct.labels)
    assert case.volume.spacing == pytest.approx(direct.volume.spacing, abs=1e-5)


def test_scan_msd_task03_folder(tmp_path):
    for sub in ("imagesTr", "labelsTr", "imagesTs"):
        (tmp_path / sub).mkdir()
    for name in ("liver_0", "liver_10"):
        _save(tmp_path / "imagesTr" / f"{name}.nii.gz", CT)
        _save(tmp_path / "labelsTr" / f"{name}.nii.gz", LABELS)
    _save(tmp_path / "imagesTr" / "liver_2.nii.gz", CT)  # label missing
    _save(tmp_path / "imagesTs" / "liver_132.nii.gz", CT)
    (tmp_path / "imagesTr" / "._liver_0.nii.gz").write_bytes(b"\x00\x05\x16\x07")
    (tmp_path / "dataset.json").write_text("{}")
    cases = io.scan_folder(tmp_path)
    assert [(c.case_id, c.subset) for c in cases] == [
        ("liver_0", "imagesTr"),
        ("liver_10", "imagesTr"),
        ("liver_2", "imagesTr"),
        ("liver_132", "imagesTs"),
    ]
    assert all(c.layout == "msd" for c in cases)
    assert cases[0].labels == tmp_path / "labelsTr" / "liver_0.nii.gz"
    assert cases[2].labels is None and cases[3].labels is None


def test_scan_folder_errors(tmp_path):
    with pytest.raises(LivSegInputError, match="folder not found"):
        io.scan_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LivSegInputError, match="no cases found"):
        io.scan_folder(tmp_path / "empty")
    (tmp_path / "msd" / "imagesTr").mkdir(parents=True)
    with pytest.raises(LivSegInputError, match="MSD layout"):
        io.scan_folder(tmp_path / "msd")
    (tmp_path / "orphan").mkdir()
    _save(tmp_path / "orphan" / "segmentation-4.nii.gz", LABELS)
    with pytest.raises(LivSegInputError, match="without a matching volume-4"):
        io.scan_folder(tmp_path / "orphan")
    (tmp_path / "dup").mkdir()
    _save(tmp_path / "dup" / "volume-1.nii", CT)
    _save(tmp_path / "dup" / "volume-1.nii.gz", CT)
    with pytest.raises(LivSegInputError, match="duplicate LiTS volume number 1"):
        io.scan_folder(tmp_path / "dup")


# --------------------------------------------------------------------------- bad files


def _good_gz(tmp_path):
    return _save(tmp_path / "good.nii.gz", CT, np.diag([-0.8, 0.8, 2.5, 1]))


def _expect(path, message, loader=None):
    loader = loader or io.load_volume
    with pytest.raises(LivSegInputError) as info:
        loader(path)
    text = str(info.value)
    assert str(path) in text, text
    assert message in text, text
    return text


def test_missing_folder_and_wrong_extension(tmp_path):
    _expect(tmp_path / "nope.nii.gz", "file not found")
    _expect(tmp_path, "is a folder")
    png = tmp_path / "slice.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    _expect(png, "not a NIfTI file name")


def test_text_file_named_nii(tmp_path):
    p = tmp_path / "fake.nii"
    p.write_text("this is not an image\n" * 40)
    _expect(p, "not a valid NIfTI file")


def test_empty_files(tmp_path):
    for name in ("empty.nii", "empty.nii.gz"):
        p = tmp_path / name
        p.write_bytes(b"")
        _expect(p, "empty file (0 bytes)")


def test_truncated_gzip(tmp_path):
    data = _good_gz(tmp_path).read_bytes()
    p = tmp_path / "truncated.nii.gz"
    p.write_bytes(data[: len(data) // 2])
    _expect(p, "truncated or corrupt")


def test_corrupt_gzip_stream(tmp_path):
    data = bytearray(_good_gz(tmp_path).read_bytes())
    data[20] ^= 0xFF  # damage the deflate stream right after the gzip header
    p = tmp_path / "corrupt.nii.gz"
    p.write_bytes(bytes(data))
    _expect(p, "truncated or corrupt")


def test_gz_name_without_gzip_content(tmp_path):
    p = tmp_path / "plain.nii.gz"
    raw = nib.Nifti1Image(CT, np.eye(4)).to_bytes()
    p.write_bytes(raw)
    _expect(p, "not gzip-compressed")


def test_truncated_uncompressed_nii(tmp_path):
    full = _save(tmp_path / "full.nii", CT).read_bytes()
    p = tmp_path / "short.nii"
    p.write_bytes(full[:-100])
    _expect(p, "truncated file")


def test_2d_and_4d_data(tmp_path):
    _expect(_save(tmp_path / "flat.nii.gz", CT[:, :, 0]), "2D data")
    _expect(
        _save(tmp_path / "series.nii.gz", np.stack([CT, CT, CT], axis=-1)),
        "4D data of shape (10, 12, 6, 3)",
    )


def test_complex_and_rgb_data(tmp_path):
    _expect(
        _save(tmp_path / "complex.nii.gz", CT.astype(np.complex64)),
        "unsupported voxel data type complex64",
    )
    rgb = np.zeros(SHAPE, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    _expect(_save(tmp_path / "rgb.nii.gz", rgb), "unsupported voxel data type")


def test_nan_and_inf(tmp_path):
    bad = CT.astype(np.float32)
    bad[1, 2, 3] = np.nan
    bad[4, 5, 1] = np.inf
    bad[0, 0, 0] = -np.inf
    _expect(_save(tmp_path / "nan.nii.gz", bad), "3 voxels are not finite (1 NaN, 2 inf)")


def _sform_only(path, affine):
    """A file whose only orientation is an sform (no qform): nibabel writes it unchecked."""
    img = nib.Nifti1Image(CT, None)
    img.header.set_sform(affine, code=1)
    img.header.set_qform(None, code=0)
    nib.save(img, str(path))
    return path


@pytest.mark.parametrize(
    ("affine", "message"),
    [
        (np.diag([0.8, 0.0, 2.5, 1]), "zero voxel spacing (0.8, 0.0, 2.5) mm"),
        (np.diag([0.8, 0.8, 25.0, 1]), "implausible voxel spacing (0.8, 0.8, 25.0) mm"),
        (np.diag([0.01, 0.01, 2.5, 1]), "implausible voxel spacing (0.01, 0.01, 2.5) mm"),
        (np.diag([0.8, 0.8, np.nan, 1]), "affine (qform/sform) contains NaN or inf"),
    ],
    ids=["zero", "too-thick", "too-fine", "nan"],
)
def test_bad_spacing(tmp_path, affine, message):
    _expect(_sform_only(tmp_path / "spacing.nii.gz", affine), message)


def test_zero_pixdim_without_orientation(tmp_path):
    img = nib.Nifti1Image(CT, None)
    img.header.set_qform(None, code=0)
    img.header.set_sform(None, code=0)
    img.header["pixdim"][1:4] = [0.8, 0.0, 2.5]
    p = tmp_path / "pixdim.nii"
    nib.save(img, str(p))
    _expect(p, "zero or non-finite voxel size in the header: (0.8, 0.0, 2.5) mm")


def test_negative_pixdim_is_read_as_its_absolute_value(tmp_path):
    # nibabel repairs negative pixdim (abs, with a logged warning): a usable, correct spacing
    img = nib.Nifti1Image(CT, None)
    img.header.set_qform(None, code=0)
    img.header.set_sform(None, code=0)
    img.header["pixdim"][1:4] = [-0.8, 0.8, 2.5]
    p = tmp_path / "neg.nii"
    nib.save(img, str(p))
    assert io.load_volume(p).spacing == pytest.approx((0.8, 0.8, 2.5))


def test_volume_too_large_is_refused_from_the_header_alone(tmp_path, monkeypatch):
    # header claims 2000^3 int16 voxels, but almost no data follows: the check must fire
    # before any data read (a read would fail with a different error)
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((2000, 2000, 2000))
    hdr.set_data_dtype(np.int16)
    hdr.set_zooms((0.8, 0.8, 1.0))
    p = tmp_path / "huge.nii.gz"
    with gzip.open(p, "wb") as fh:
        fh.write(hdr.binaryblock + b"\x00" * 4 + b"\x00" * 1000)
    text = _expect(p, "volume too large: 2000 x 2000 x 2000 voxels x 4 bytes = 30518 MB")
    assert "limit of 4096 MB" in text
    # configurable: a small limit refuses a small volume, by argument or environment
    good = _good_gz(tmp_path)
    with pytest.raises(LivSegInputError, match="limit of 0 MB"):
        io.load_volume(good, max_bytes=1000)
    monkeypatch.setenv("LIVSEG_MAX_VOLUME_MB", "0.001")
    _expect(good, "exceeds the limit of 0 MB")
    monkeypatch.setenv("LIVSEG_MAX_VOLUME_MB", "lots")
    with pytest.raises(LivSegInputError, match="LIVSEG_MAX_VOLUME_MB must be a number"):
        io.load_volume(good)


def _vol(tmp_path, affine=LPS):
    return io.load_volume(_save(tmp_path / "img.nii.gz", CT, affine))


def test_label_map_of_another_shape(tmp_path):
    vol = _vol(tmp_path)
    p = _save(tmp_path / "seg.nii.gz", LABELS[:, :, :5], LPS)
    text = _expect(
        p,
        "label map shape (10, 12, 5) differs from the image's (10, 12, 6)",
        lambda q: io.load_labels(q, vol),
    )
    assert "img.nii.gz" in text


def test_label_map_with_another_affine(tmp_path):
    vol = _vol(tmp_path)
    shifted = LPS.copy()
    shifted[0, 3] += 0.4  # half a voxel
    p = _save(tmp_path / "seg.nii.gz", LABELS, shifted)
    _expect(p, "label map affine differs from the image's", lambda q: io.load_labels(q, vol))


def test_load_labels_needs_the_image_volume(tmp_path):
    p = _save(tmp_path / "seg.nii.gz", LABELS)
    with pytest.raises(TypeError, match="like must be the image's livseg.volume.Volume"):
        io.load_labels(p, like=str(tmp_path / "img.nii.gz"))


def test_labels_outside_0_1_2(tmp_path):
    vol = _vol(tmp_path)
    bad = LABELS.copy()
    bad[0, 0, 0] = 3
    bad[1, 0, 0] = 255
    p = _save(tmp_path / "seg3.nii.gz", bad, LPS)
    _expect(p, "label values outside {0, 1, 2}: 3, 255", lambda q: io.load_labels(q, vol))
    neg = LABELS.astype(np.int16)
    neg[2, 2, 2] = -1
    p = _save(tmp_path / "segneg.nii.gz", neg, LPS)
    _expect(p, "label values outside {0, 1, 2}: -1", lambda q: io.load_labels(q, vol))


def test_non_integer_labels(tmp_path):
    vol = _vol(tmp_path)
    soft = LABELS.astype(np.float32)
    soft[3, 3, 3] = 0.5
    p = _save(tmp_path / "prob.nii.gz", soft, LPS)
    _expect(p, "non-integer values (1 voxels, e.g. 0.5)", lambda q: io.load_labels(q, vol))


def test_save_refuses_bad_labels(tmp_path):
    vol = _vol(tmp_path)
    with pytest.raises(LivSegInputError, match=r"label map shape \(3, 3, 3\) differs"):
        io.save_labels(np.zeros((3, 3, 3), np.uint8), vol, tmp_path / "o.nii.gz")
    with pytest.raises(LivSegInputError, match="outside"):
        io.save_labels(np.full(vol.shape, 7, np.uint8), vol, tmp_path / "o.nii.gz")
    with pytest.raises(LivSegInputError, match="integer array"):
        io.save_labels(np.zeros(vol.shape, np.float32), vol, tmp_path / "o.nii.gz")
    with pytest.raises(LivSegInputError, match="must end with .nii or .nii.gz"):
        io.save_labels(np.zeros(vol.shape, np.uint8), vol, tmp_path / "o.png")


def test_error_is_a_value_error_with_path_and_problem(tmp_path):
    err = LivSegInputError(tmp_path / "a.nii", "empty file (0 bytes)")
    assert isinstance(err, ValueError)
    assert err.path == str(tmp_path / "a.nii") and err.problem == "empty file (0 bytes)"
