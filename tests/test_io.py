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
#
# One generated corpus: each bad file is built by a small function and must be refused
# with ONE specific message that names the file (issue 14: >= 40 of them).


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


def _sform_only(path, affine, data=CT):
    """A file whose only orientation is an sform (no qform): nibabel writes it unchecked."""
    img = nib.Nifti1Image(data, None)
    img.header.set_sform(affine, code=1)
    img.header.set_qform(None, code=0)
    nib.save(img, str(path))
    return path


def _raw_nifti(path, header, payload: bytes = b"") -> object:
    """A file of exactly ``header`` (+ extension flag) and ``payload``, gzip by its name."""
    blob = header.binaryblock + b"\x00" * 4 + payload
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as fh:
            fh.write(blob)
    else:
        path.write_bytes(blob)
    return path


def _claiming(shape, dtype=np.int8, cls=nib.Nifti1Header):
    hdr = cls()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(dtype)
    hdr.set_zooms((0.8, 0.8, 1.0)[: len(shape)] + (1.0,) * max(0, len(shape) - 3))
    hdr["vox_offset"] = 352  # data right after the header and the 4-byte extension flag
    return hdr


def _nifti2_overflowing():
    hdr = nib.Nifti2Header()
    hdr.set_data_dtype(np.int16)
    hdr["dim"] = [3, 2**62, 2**62, 4, 1, 1, 1, 1]  # product 2^126: overflows int64
    hdr["pixdim"] = [1, 1, 1, 1, 1, 1, 1, 1]
    hdr["vox_offset"] = 544
    return hdr


def _patched(path, offset: int, value: bytes):
    full = bytearray(_save(path, CT).read_bytes())
    full[offset : offset + len(value)] = value
    path.write_bytes(bytes(full))
    return path


def _truncated_gz(t):
    data = _good_gz(t).read_bytes()
    p = t / "truncated.nii.gz"
    p.write_bytes(data[: len(data) // 2])
    return p


def _corrupt_gz(t):
    data = bytearray(_good_gz(t).read_bytes())
    data[20] ^= 0xFF  # damage the deflate stream right after the gzip header
    p = t / "corrupt.nii.gz"
    p.write_bytes(bytes(data))
    return p


def _short_nii(t):
    full = _save(t / "full.nii", CT).read_bytes()
    p = t / "short.nii"
    p.write_bytes(full[:-100])
    return p


def _symlink(t, target, name="link.nii.gz"):
    p = t / name
    p.symlink_to(target)
    return p


def _loop(t):
    a, b = t / "a.nii.gz", t / "b.nii.gz"
    a.symlink_to(b)
    b.symlink_to(a)
    return a


def _labels_with(value, dtype=np.float64):
    def build(t):
        data = LABELS.astype(dtype)
        data[3, 3, 3] = value
        return _save(t / "seg.nii.gz", data, LPS)

    return build


def _with_nan(t):
    bad = CT.astype(np.float32)
    bad[1, 2, 3] = np.nan
    bad[4, 5, 1] = np.inf
    bad[0, 0, 0] = -np.inf
    return _save(t / "nan.nii.gz", bad)


def _zero_pixdim(t):
    img = nib.Nifti1Image(CT, None)
    img.header.set_qform(None, code=0)
    img.header.set_sform(None, code=0)
    img.header["pixdim"][1:4] = [0.8, 0.0, 2.5]
    return _save_img(t / "pixdim.nii", img)


def _save_img(path, img):
    nib.save(img, str(path))
    return path


def _scaled_labels(t):
    img = nib.Nifti1Image(LABELS.astype(np.int16), LPS)
    img.header.set_slope_inter(0.5, 0.0)  # stored 1 -> 0.5: not a label
    return _save_img(t / "scaled.nii.gz", img)


SHEAR = np.array([[0.8, 0, 2.0, 0], [0, 0.8, 0, 0], [0, 0, 2.5, 0], [0, 0, 0, 1]])
_VOLUME, _LABELS, _ON_CT = "volume", "labels", "labels-on-ct"

BAD_FILES = [
    # (id, builder(tmp_path) -> path, loader, the message)
    ("missing", lambda t: t / "nope.nii.gz", _VOLUME, "file not found"),
    ("missing-labels", lambda t: t / "nope.nii", _LABELS, "file not found"),
    ("broken-link", lambda t: _symlink(t, t / "gone.nii.gz"), _VOLUME, "broken symbolic link"),
    ("link-loop", _loop, _VOLUME, "symbolic link loop"),
    ("link-loop-labels", _loop, _LABELS, "symbolic link loop"),
    ("folder-as-labels", lambda t: t, _LABELS, "is a folder"),
    (
        "png",
        lambda t: _bytes(t / "slice.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 50),
        _VOLUME,
        "not a NIfTI file name",
    ),
    (
        "text-named-nii",
        lambda t: _bytes(t / "fake.nii", b"not an image\n" * 40),
        _VOLUME,
        "not a valid NIfTI file",
    ),
    ("empty-nii", lambda t: _bytes(t / "empty.nii", b""), _VOLUME, "empty file (0 bytes)"),
    ("empty-gz", lambda t: _bytes(t / "empty.nii.gz", b""), _VOLUME, "empty file (0 bytes)"),
    ("empty-labels", lambda t: _bytes(t / "empty.nii.gz", b""), _LABELS, "empty file (0 bytes)"),
    (
        "tiny-nii",
        lambda t: _bytes(t / "tiny.nii", b"\x5c\x01" + b"\0" * 98),
        _VOLUME,
        "truncated file: 100 bytes, a NIfTI header needs 348",
    ),
    (
        "tiny-gz",
        lambda t: _bytes(t / "tiny.nii.gz", gzip.compress(b"\0" * 100)),
        _VOLUME,
        "truncated file: 100 bytes after decompression",
    ),
    ("truncated-gz", _truncated_gz, _VOLUME, "truncated or corrupt"),
    ("corrupt-gz", _corrupt_gz, _VOLUME, "truncated or corrupt"),
    (
        "gz-name-not-gzip",
        lambda t: _bytes(t / "plain.nii.gz", nib.Nifti1Image(CT, np.eye(4)).to_bytes()),
        _VOLUME,
        "not gzip-compressed",
    ),
    ("truncated-nii", _short_nii, _VOLUME, "truncated file"),
    (
        "header-only-nii",
        lambda t: _raw_nifti(t / "h.nii", _claiming((64, 64, 64))),
        _VOLUME,
        "truncated file: 352 bytes on disk, the header needs 262496",
    ),
    (
        "1kB-nii-claims-800^3",
        lambda t: _raw_nifti(t / "big.nii", _claiming((800,) * 3), b"\0" * 700),
        _VOLUME,
        "the header needs 512000352",
    ),
    (
        "1kB-gz-claims-800^3",
        lambda t: _raw_nifti(t / "big.nii.gz", _claiming((800,) * 3), b"\0" * 700),
        _VOLUME,
        "more than a gzip file of",
    ),
    (
        "gz-claims-800^3-labels",
        lambda t: _raw_nifti(t / "big.nii.gz", _claiming((800,) * 3), b"\0" * 700),
        _LABELS,
        "more than a gzip file of",
    ),
    (
        "2000^3-over-the-limit",
        lambda t: _raw_nifti(t / "huge.nii.gz", _claiming((2000,) * 3, np.int16)),
        _VOLUME,
        "volume too large: 2000 x 2000 x 2000 voxels x (2 stored + 4) bytes = 45776 MB",
    ),
    (
        "nifti2-overflow",
        lambda t: _raw_nifti(t / "n2.nii", _nifti2_overflowing(), b"\0" * 64),
        _VOLUME,
        "volume too large: 4611686018427387904 x 4611686018427387904 x 4 voxels",
    ),
    (
        "nifti2-overflow-gz",
        lambda t: _raw_nifti(t / "n2.nii.gz", _nifti2_overflowing()),
        _LABELS,
        "volume too large",
    ),
    (
        "bad-magic",
        lambda t: _patched(t / "magic.nii", 344, b"xyz\0"),
        _VOLUME,
        "not a valid NIfTI file",
    ),
    (
        "bad-datatype",
        lambda t: _patched(t / "dtype.nii", 70, np.int16(999).tobytes()),
        _VOLUME,
        "not a valid NIfTI file",
    ),
    (
        "offset-past-the-end",
        lambda t: _patched(t / "off.nii", 108, np.float32(10_000).tobytes()),
        _VOLUME,
        "truncated file",
    ),
    ("2d", lambda t: _save(t / "flat.nii.gz", CT[:, :, 0]), _VOLUME, "2D data"),
    (
        "4d",
        lambda t: _save(t / "series.nii.gz", np.stack([CT, CT, CT], axis=-1)),
        _VOLUME,
        "4D data of shape (10, 12, 6, 3)",
    ),
    (
        "5d",
        lambda t: _save(t / "five.nii.gz", CT[..., None, None].repeat(2, -1)),
        _VOLUME,
        "5D data of shape (10, 12, 6, 1, 2)",
    ),
    (
        "4d-labels",
        lambda t: _save(t / "seg4.nii.gz", np.stack([LABELS] * 2, -1)),
        _LABELS,
        "4D data",
    ),
    (
        "complex",
        lambda t: _save(t / "complex.nii.gz", CT.astype(np.complex64)),
        _VOLUME,
        "unsupported voxel data type complex64",
    ),
    (
        "rgb",
        lambda t: _save(t / "rgb.nii.gz", np.zeros(SHAPE, [("R", "u1"), ("G", "u1"), ("B", "u1")])),
        _VOLUME,
        "unsupported voxel data type",
    ),
    (
        "complex-labels",
        lambda t: _save(t / "c.nii.gz", LABELS.astype(np.complex64)),
        _LABELS,
        "unsupported voxel data type complex64",
    ),
    ("nan-inf", _with_nan, _VOLUME, "3 voxels are not finite (1 NaN, 2 inf)"),
    (
        "zero-spacing",
        lambda t: _sform_only(t / "s.nii.gz", np.diag([0.8, 0.0, 2.5, 1])),
        _VOLUME,
        "zero voxel spacing (0.8, 0.0, 2.5) mm",
    ),
    (
        "too-thick",
        lambda t: _sform_only(t / "s.nii.gz", np.diag([0.8, 0.8, 25.0, 1])),
        _VOLUME,
        "implausible voxel spacing (0.8, 0.8, 25.0) mm",
    ),
    (
        "too-fine",
        lambda t: _sform_only(t / "s.nii.gz", np.diag([0.01, 0.01, 2.5, 1])),
        _VOLUME,
        "implausible voxel spacing (0.01, 0.01, 2.5) mm",
    ),
    (
        "nan-affine",
        lambda t: _sform_only(t / "s.nii.gz", np.diag([0.8, 0.8, np.nan, 1])),
        _VOLUME,
        "affine (qform/sform) contains NaN or inf",
    ),
    (
        "zero-pixdim",
        _zero_pixdim,
        _VOLUME,
        "zero or non-finite voxel size in the header: (0.8, 0.0, 2.5) mm",
    ),
    (
        "sheared",
        lambda t: _sform_only(t / "shear.nii.gz", SHEAR),
        _VOLUME,
        # by hand: acos(2 / sqrt(2^2 + 2.5^2)) = 51.34 degrees
        "sheared affine: voxel axes 1 and 3 meet at 51.34 degrees",
    ),
    (
        "sheared-labels",
        lambda t: _sform_only(t / "shear.nii.gz", SHEAR, LABELS),
        _LABELS,
        "sheared affine",
    ),
    (
        "labels-3-255",
        lambda t: _save(t / "seg3.nii.gz", _set(LABELS, 3, 255), LPS),
        _ON_CT,
        "label values outside {0, 1, 2}: 3, 255",
    ),
    (
        "labels-negative",
        lambda t: _save(t / "neg.nii.gz", _set(LABELS.astype(np.int16), -1), LPS),
        _ON_CT,
        "label values outside {0, 1, 2}: -1",
    ),
    (
        "labels-half",
        _labels_with(0.5, np.float32),
        _ON_CT,
        "non-integer values (1 voxels, e.g. 0.5)",
    ),
    (
        "labels-1+1e-9",
        _labels_with(1 + 1e-9),
        _ON_CT,
        "non-integer values (1 voxels, e.g. 1.000000001)",
    ),
    ("labels-1+1e-9-alone", _labels_with(1 + 1e-9), _LABELS, "non-integer values"),
    ("labels-nan", _labels_with(np.nan), _LABELS, "label map contains NaN or inf"),
    ("labels-scaled-to-halves", _scaled_labels, _ON_CT, "non-integer values"),
    (
        "labels-other-shape",
        lambda t: _save(t / "seg.nii.gz", LABELS[:, :, :5], LPS),
        _ON_CT,
        "label map shape (10, 12, 5) differs from the image's (10, 12, 6)",
    ),
    (
        "labels-other-affine",
        lambda t: _save(t / "seg.nii.gz", LABELS, _shifted(LPS, 0.4)),
        _ON_CT,
        "label map affine differs from the image's",
    ),
]


def _bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def _set(data, *values):
    out = data.copy()
    for k, v in enumerate(values):
        out[k, 0, 0] = v
    return out


def _shifted(affine, mm):
    out = affine.copy()
    out[0, 3] += mm  # half a voxel
    return out


def test_the_corpus_has_40_distinct_bad_files():
    assert len(BAD_FILES) >= 40
    assert len({case[0] for case in BAD_FILES}) == len(BAD_FILES)


@pytest.mark.parametrize(
    ("build", "loader", "message"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_bad_file_is_refused_with_its_message(tmp_path, build, loader, message):
    (tmp_path / "in").mkdir()
    path = build(tmp_path / "in")
    if loader == _VOLUME:
        load = io.load_volume
    elif loader == _LABELS:
        load = io.read_label_map
    else:
        image = io.load_volume(_save(tmp_path / "img.nii.gz", CT, LPS))
        load = lambda p: io.load_labels(p, image)  # noqa: E731
    _expect(path, message, load)


def test_negative_pixdim_is_read_as_its_absolute_value(tmp_path):
    # nibabel repairs negative pixdim (abs, with a logged warning): a usable, correct spacing
    img = nib.Nifti1Image(CT, None)
    img.header.set_qform(None, code=0)
    img.header.set_sform(None, code=0)
    img.header["pixdim"][1:4] = [-0.8, 0.8, 2.5]
    p = tmp_path / "neg.nii"
    nib.save(img, str(p))
    assert io.load_volume(p).spacing == pytest.approx((0.8, 0.8, 2.5))


def test_the_memory_limit_is_configurable(tmp_path, monkeypatch):
    text = _expect(_raw_nifti(tmp_path / "huge.nii.gz", _claiming((2000,) * 3)), "too large")
    assert "limit of 4096 MB" in text
    # a small limit refuses a small volume, by argument or environment
    good = _good_gz(tmp_path)
    with pytest.raises(LivSegInputError, match="limit of 0 MB"):
        io.load_volume(good, max_bytes=1000)
    monkeypatch.setenv("LIVSEG_MAX_VOLUME_MB", "0.001")
    _expect(good, "exceeds the limit of 0 MB")
    monkeypatch.setenv("LIVSEG_MAX_VOLUME_MB", "lots")
    with pytest.raises(LivSegInputError, match="LIVSEG_MAX_VOLUME_MB must be a number"):
        io.load_volume(good)


def test_load_labels_needs_the_image_volume(tmp_path):
    p = _save(tmp_path / "seg.nii.gz", LABELS)
    with pytest.raises(TypeError, match="like must be the image's livseg.volume.Volume"):
        io.load_labels(p, like=str(tmp_path / "img.nii.gz"))


def test_save_refuses_bad_labels(tmp_path):
    vol = io.load_volume(_save(tmp_path / "img.nii.gz", CT, LPS))
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
