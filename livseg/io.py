"""Reading and writing CT volumes and label maps (NIfTI), and finding cases in folders.

Every loaded volume is brought to LivSeg's canonical orientation (LAS+: x index 0 is the
patient's right; see ``livseg.volume.CANONICAL_AXCODES``). ``Volume.source`` keeps what is needed to write a result back on the
file's OWN grid (axis order, flips, affine, qform/sform), so label maps saved with
``save_labels(labels, like=volume, path)`` overlay the original image in 3D Slicer or
ITK-SNAP.

Bad input raises ``LivSegInputError`` (a ``ValueError``) whose message names the file and
the problem: missing file, broken symbolic link or link loop, unreadable file, not a
NIfTI, empty / truncated / corrupt file, 2D or 4D data, NaN or inf, zero / negative /
absurd spacing, a sheared (non-orthogonal) affine, a header whose data cannot fit the file
or memory (checked from the header before any data is read), label maps with values
outside {0, 1, 2} or on another grid.

Memory: what a load holds at its peak is checked against the limit (``max_volume_bytes``,
4096 MB by default) from the header alone, before anything is allocated. A CT volume peaks
at voxels x (stored bytes + 4) - the data as stored plus the float32 result; a label map at
voxels x (stored bytes + 3), plus 8 bytes a voxel when the header scales it. A gzip file is
only read when its size can hold what the header claims (deflate expands at most
``GZIP_MAX_RATIO``:1), so a small file claiming a huge volume is refused at once.

Folder layouts (``scan_folder``): LiTS (``volume-N`` / ``segmentation-N``, .nii or .nii.gz,
in any sub-folder, optionally with a LivSeg phantom ``manifest.json``) and MSD Task03
(``imagesTr/``, ``labelsTr/``, optional ``imagesTs/``). Case ids are ``livseg.naming.case_id``
of the image (LiTS ``volume-7`` -> ``"7"``, MSD ``liver_7`` -> ``"liver_7"``), the one id the
runs layout and the database use too; a manifest supplies only the split.
"""

from __future__ import annotations

import errno
import gzip
import json
import math
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livseg.naming import case_id as case_id_of
from livseg.naming import is_nifti_name, lits_number
from livseg.volume import CANONICAL_AXCODES, MAX_SPACING_MM, MIN_SPACING_MM, Case, Volume

DEFAULT_MAX_VOLUME_MB = 4096.0  # a load's peak memory; env LIVSEG_MAX_VOLUME_MB overrides
LABEL_VALUES = (0, 1, 2)
AFFINE_TOLERANCE_MM = 0.01  # image / label affines may differ by this much (float32 headers)
# voxel axes whose angle's cosine exceeds this are sheared (1e-3: 0.06 degree; float32
# headers of oblique scans stay below 1e-6)
MAX_AXIS_COSINE = 1e-3
GZIP_MAX_RATIO = 1032  # deflate's largest expansion: a 258-byte match coded in 2 bits
VOLUME_PEAK_EXTRA_BYTES = 4  # a CT load holds the stored data plus its float32 copy
LABELS_PEAK_EXTRA_BYTES = 3  # a label load: stored data + uint8 result + checks' masks

_NIFTI1_HEADER_BYTES = 348


class LivSegInputError(ValueError):
    """Input that LivSeg cannot use; the message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path = str(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)


@dataclass(frozen=True)
class CaseFiles:
    """One case found in a folder: its image, optional label map, and where it came from.

    layout: "lits" or "msd"; subset: MSD sub-folder ("imagesTr" / "imagesTs") or None;
    split: "train" / "test" when a LivSeg manifest gives it, else None.
    """

    case_id: str
    image: Path
    labels: Path | None
    layout: str
    subset: str | None = None
    split: str | None = None


# --------------------------------------------------------------------------- helpers


def max_volume_bytes() -> int:
    """Memory limit (bytes) of one load's peak (CT: voxels x (stored bytes + 4); labels:
    voxels x (stored bytes + 3)): env LIVSEG_MAX_VOLUME_MB or 4096 MB."""
    raw = os.environ.get("LIVSEG_MAX_VOLUME_MB")
    if raw is None:
        return int(DEFAULT_MAX_VOLUME_MB * 2**20)
    try:
        mb = float(raw)
    except ValueError:
        raise LivSegInputError(
            None, f"LIVSEG_MAX_VOLUME_MB must be a number of MB, got {raw!r}"
        ) from None
    if not mb > 0:
        raise LivSegInputError(None, f"LIVSEG_MAX_VOLUME_MB must be > 0, got {raw!r}")
    return int(mb * 2**20)


def _stat_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read (missing, broken link, link loop, no permission), or None."""
    try:
        os.stat(path)
    except FileNotFoundError:
        if path.is_symlink():
            return (
                f"broken symbolic link (it points to {os.readlink(path)!r}, which does not exist)"
            )
        return "file not found"
    except PermissionError:
        return "permission denied: a folder on the way to the file cannot be entered"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop (the link leads back to itself); not a file"
        if exc.errno == errno.ENAMETOOLONG:
            return "file name too long"
        return f"cannot be read ({exc.strerror or exc})"
    return None


def _check_path(path) -> Path:
    path = Path(path)
    problem = _stat_problem(path)
    if problem:
        raise LivSegInputError(path, problem)
    if path.is_dir():
        raise LivSegInputError(path, "is a folder, expected a NIfTI file (.nii or .nii.gz)")
    if not is_nifti_name(path):
        raise LivSegInputError(path, "not a NIfTI file name (expected .nii or .nii.gz)")
    if path.stat().st_size == 0:
        raise LivSegInputError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise LivSegInputError(path, "permission denied: the file cannot be read")
    return path


def _raise_if_truncated(path: Path) -> None:
    """Explain an unreadable header by a broken gzip stream or a file shorter than a header."""
    if path.name.lower().endswith(".gz"):
        n = 0
        try:
            with gzip.open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    n += len(chunk)
        except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
            raise LivSegInputError(path, f"truncated or corrupt gzip data ({exc})") from None
        if n < _NIFTI1_HEADER_BYTES:
            raise LivSegInputError(
                path, f"truncated file: {n} bytes after decompression, a NIfTI header needs 348"
            )
    elif path.stat().st_size < _NIFTI1_HEADER_BYTES:
        raise LivSegInputError(
            path, f"truncated file: {path.stat().st_size} bytes, a NIfTI header needs 348"
        )


def _open_header(path: Path, max_bytes: int | None, extra_bytes: int = VOLUME_PEAK_EXTRA_BYTES):
    """nibabel image with its header checked (dimensions, memory, file size) before any data
    is read; the load's peak is taken as voxels x (stored bytes + ``extra_bytes``)."""
    import nibabel as nib

    if path.name.lower().endswith(".gz"):
        with open(path, "rb") as fh:
            magic = fh.read(2)
        if magic != b"\x1f\x8b":
            raise LivSegInputError(
                path, "named .gz but not gzip-compressed (corrupt or mis-named file)"
            )
    try:
        img = nib.load(str(path))
    except (OverflowError, MemoryError) as exc:
        raise LivSegInputError(
            path, f"corrupt header: its sizes do not fit in memory ({type(exc).__name__}: {exc})"
        ) from None
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        raise LivSegInputError(
            path, f"truncated or corrupt file, header unreadable ({exc})"
        ) from None
    except Exception as exc:  # nibabel's ImageFileError, HeaderDataError, ...
        _raise_if_truncated(path)
        raise LivSegInputError(path, f"not a valid NIfTI file ({exc})") from None
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise LivSegInputError(path, f"not a NIfTI image (nibabel read it as {type(img).__name__})")
    try:
        shape = tuple(int(s) for s in img.header.get_data_shape())
    except (OverflowError, ValueError) as exc:
        raise LivSegInputError(path, f"corrupt header: unreadable dimensions ({exc})") from None
    if len(shape) < 3 or any(s < 1 for s in shape[:3]):
        raise LivSegInputError(path, f"{len(shape)}D data of shape {shape}; expected a 3D volume")
    extra = shape[3:]
    if any(s != 1 for s in extra):
        raise LivSegInputError(
            path,
            f"{len(shape)}D data of shape {shape}; expected a 3D volume (a 4th dimension is "
            "only accepted when it has length 1)",
        )
    dtype = np.dtype(img.header.get_data_dtype())
    if dtype.kind not in "biuf":
        raise LivSegInputError(
            path, f"unsupported voxel data type {dtype} (expected integer or real numbers)"
        )
    limit = max_volume_bytes() if max_bytes is None else int(max_bytes)
    n_vox = math.prod(shape)  # Python int: a NIfTI-2 header's product cannot overflow
    stored = dtype.itemsize
    scaled = _scale_factors(img) != (1.0, 0.0)
    extra = extra_bytes + (8 if scaled and extra_bytes < VOLUME_PEAK_EXTRA_BYTES else 0)
    need = n_vox * (stored + extra)
    if need > limit:
        raise LivSegInputError(
            path,
            f"volume too large: {' x '.join(map(str, shape))} voxels x ({stored} stored + "
            f"{extra}) bytes = {need / 2**20:.0f} MB at the load's peak exceeds the limit of "
            f"{limit / 2**20:.0f} MB (set LIVSEG_MAX_VOLUME_MB or max_bytes to raise it)",
        )
    offset = int(getattr(img.dataobj, "offset", img.header.get_data_offset()))
    on_disk = offset + n_vox * stored
    size = path.stat().st_size
    if not path.name.lower().endswith(".gz"):
        if size < on_disk:
            raise LivSegInputError(
                path, f"truncated file: {size} bytes on disk, the header needs {on_disk}"
            )
    elif on_disk > size * GZIP_MAX_RATIO:
        raise LivSegInputError(
            path,
            f"truncated or corrupt file: the header claims {on_disk} bytes of data, more "
            f"than a gzip file of {size} bytes can hold (deflate expands at most "
            f"{GZIP_MAX_RATIO}:1)",
        )
    return img


def _scale_factors(img) -> tuple[float, float]:
    """(slope, intercept) nibabel applies to the stored values (1, 0 when unscaled)."""
    slope = float(getattr(img.dataobj, "slope", 1.0))
    inter = float(getattr(img.dataobj, "inter", 0.0))
    return slope, inter


def _read_data(path: Path, img, scaled: bool = False) -> np.ndarray:
    """The image's data as a 3D array, as stored (no copy) or, with ``scaled``, as nibabel
    scales it; read errors are turned into clear messages."""
    try:
        data = np.asanyarray(img.dataobj) if scaled else img.dataobj.get_unscaled()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise LivSegInputError(path, f"truncated or corrupt compressed data ({exc})") from None
    except (OSError, ValueError, OverflowError) as exc:
        raise LivSegInputError(path, f"could not read the voxel data ({exc})") from None
    except MemoryError:
        raise LivSegInputError(path, "not enough memory to read the voxel data") from None
    while data.ndim > 3:
        data = data[..., 0]
    return data


def _as_float32(stored: np.ndarray, slope: float, inter: float) -> np.ndarray:
    """stored x slope + inter as a new C-ordered float32 array (the one full-size copy)."""
    out = np.empty(stored.shape, dtype=np.float32)
    if slope != 1.0:
        np.multiply(stored, slope, out=out, casting="unsafe")
    else:
        np.copyto(out, stored, casting="unsafe")
    if inter != 0.0:
        out += np.float32(inter)
    return out


def _non_finite_counts(data: np.ndarray) -> tuple[int, int]:
    """(non-finite voxels, of which NaN), one slab at a time (no full-size mask)."""
    bad = nan = 0
    step = max(1, (1 << 24) // max(1, data[..., 0].size))
    for k in range(0, data.shape[-1], step):
        slab = data[..., k : k + step]
        finite = np.isfinite(slab)
        if not finite.all():
            bad += int(slab.size - np.count_nonzero(finite))
            nan += int(np.count_nonzero(np.isnan(slab)))
    return bad, nan


def _checked_affine(
    path: Path, affine: np.ndarray
) -> tuple[np.ndarray, tuple[float, float, float]]:
    affine = np.asarray(affine, dtype=np.float64)
    if not np.all(np.isfinite(affine)):
        raise LivSegInputError(path, "affine (qform/sform) contains NaN or inf")
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    if np.any(spacing <= 0) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        shown = tuple(round(float(v), 4) for v in spacing)
        raise LivSegInputError(path, f"zero voxel spacing {shown} mm (singular affine)")
    axes = affine[:3, :3] / spacing
    cosines = np.abs(axes.T @ axes - np.eye(3))
    if cosines.max() > MAX_AXIS_COSINE:
        i, j = np.unravel_index(int(np.argmax(cosines)), cosines.shape)
        angle = math.degrees(math.acos(min(1.0, float(np.dot(axes[:, i], axes[:, j])))))
        raise LivSegInputError(
            path,
            f"sheared affine: voxel axes {min(i, j) + 1} and {max(i, j) + 1} meet at "
            f"{angle:.2f} degrees, not 90 (a non-orthogonal sform/qform); LivSeg measures "
            "volumes and distances on orthogonal grids only: resample the file onto an "
            "orthogonal grid first",
        )
    bad = (spacing < MIN_SPACING_MM) | (spacing > MAX_SPACING_MM)
    if np.any(bad):
        raise LivSegInputError(
            path,
            f"implausible voxel spacing {tuple(round(float(s), 4) for s in spacing)} mm; "
            f"expected {MIN_SPACING_MM}-{MAX_SPACING_MM} mm per axis",
        )
    return affine, (float(spacing[0]), float(spacing[1]), float(spacing[2]))


def _check_pixdim(path: Path, img) -> None:
    """Reject zero / non-finite voxel sizes in the header as written on disk.

    nibabel silently repairs pixdim (0 -> 1 mm, negative -> absolute value) when it loads a
    header; a 0 would become a wrong 1 mm spacing, so the raw header is read again unrepaired.
    Only matters when the affine comes from pixdim (no sform). Negative values are read as
    their absolute value, as nibabel and other readers do.
    """
    from nibabel.openers import ImageOpener

    try:
        with ImageOpener(str(path)) as fh:
            raw = type(img.header).from_fileobj(fh, check=False)
    except Exception:  # the header was readable a moment ago; keep nibabel's view
        return
    if int(raw["sform_code"]) > 0:
        return
    zooms = np.asarray(raw["pixdim"][1:4], dtype=float)
    if np.any(~np.isfinite(zooms)) or np.any(zooms == 0):
        shown = tuple(round(float(z), 4) for z in zooms)
        raise LivSegInputError(path, f"zero or non-finite voxel size in the header: {shown} mm")


def checked_affine(path, affine: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The affine as float64 and its voxel spacing (mm); LivSegInputError naming ``path``
    for NaN / inf, a singular affine or a spacing outside 0.05-20 mm."""
    return _checked_affine(Path(path), affine)


def _to_canonical(img, data: np.ndarray):
    """``to_canonical`` of a nibabel image's data with the image's affine."""
    return to_canonical(data, img.affine)


def to_canonical(data: np.ndarray, affine: np.ndarray):
    """data (voxel -> RAS mm ``affine``) reoriented to LAS+ (CANONICAL_AXCODES): the array,
    its affine and the source orientation (nibabel orientation array). Keeps the dtype."""
    canon, canon_affine, src = _canonical_view(data, affine)
    return np.ascontiguousarray(canon), canon_affine, src


def _canonical_view(data: np.ndarray, affine: np.ndarray):
    """``to_canonical`` without the copy: the reoriented array is a (strided) view."""
    from nibabel import orientations as ornt

    src = ornt.io_orientation(affine)
    if np.isnan(src).any():  # an axis along no world direction (refused by checked_affine)
        raise LivSegInputError(
            None, f"cannot orient the voxel axes of the affine {affine.tolist()}"
        )
    to_canon = ornt.ornt_transform(src, ornt.axcodes2ornt(CANONICAL_AXCODES))
    canon = ornt.apply_orientation(data, to_canon)
    canon_affine = affine @ ornt.inv_ornt_aff(to_canon, data.shape)
    return canon, canon_affine, src


def _source_record(path: Path, img, shape, src_ornt) -> dict:
    qform, qcode = img.header.get_qform(coded=True)
    sform, scode = img.header.get_sform(coded=True)
    return {
        "path": str(path),
        "shape": [int(s) for s in shape],
        "affine": np.asarray(img.affine, dtype=float).tolist(),
        "ornt": np.asarray(src_ornt, dtype=float).tolist(),
        "qform": None if qform is None else np.asarray(qform, float).tolist(),
        "qform_code": int(qcode),
        "sform": None if sform is None else np.asarray(sform, float).tolist(),
        "sform_code": int(scode),
        "dtype": str(img.header.get_data_dtype()),
    }


# --------------------------------------------------------------------------- public API


def is_dicom_input(path) -> bool:
    """True for what ``livseg.dicom`` reads: a folder, a ``.zip`` or a ``.dcm`` file."""
    path = Path(path)
    return path.is_dir() or path.name.lower().endswith((".zip", ".dcm"))


def load_volume(path, max_bytes: int | None = None) -> Volume:
    """Load a CT volume (HU) from NIfTI, reoriented to the canonical LAS+ grid, as float32.

    A folder, a ``.zip`` or a ``.dcm`` file is read as a DICOM CT series instead
    (``livseg.dicom.read_series``: same canonical grid, same kind of errors).

    Checks (each raising LivSegInputError naming the file): file exists and is .nii/.nii.gz,
    not empty, readable (not truncated / corrupt), 3D (a singleton 4th dim is squeezed),
    under ``max_bytes`` (default ``max_volume_bytes()``) at the load's peak - voxels x
    (stored bytes + 4) - from the header alone, data that fits the file's size, finite
    values, voxel spacing within 0.05-20 mm, orthogonal voxel axes (a sheared affine is
    refused; oblique but orthogonal ones are fine).
    """
    if is_dicom_input(path):
        from livseg.dicom import read_series

        return read_series(path, max_bytes=max_bytes)
    path = _check_path(path)
    img = _open_header(path, max_bytes)
    _check_pixdim(path, img)
    _checked_affine(path, img.affine)
    stored = _read_data(path, img)  # as stored: no copy (a memory map for .nii)
    view, canon_affine, src = _canonical_view(stored, img.affine)
    slope, inter = _scale_factors(img)
    if stored.dtype == np.float32 and (slope, inter) == (1.0, 0.0) and view.flags.c_contiguous:
        array = view  # already float32 on the canonical grid: no copy at all
    else:
        array = _as_float32(view, slope, inter)  # the one full-size copy
    bad, n_nan = _non_finite_counts(array)
    if bad:
        raise LivSegInputError(
            path,
            f"{bad} voxels are not finite ({n_nan} NaN, {bad - n_nan} inf); a CT volume must "
            "hold finite HU",
        )
    canon_affine, spacing = _checked_affine(path, canon_affine)
    return Volume(
        array=array,
        spacing=spacing,
        affine=canon_affine,
        source=_source_record(path, img, stored.shape, src),
    )


def _affine_mismatch(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, float) - np.asarray(b, float))))


def load_labels(path, like: Volume) -> np.ndarray:
    """Load a label map (0 background, 1 liver, 2 tumour) onto ``like``'s canonical grid.

    The file must have the same voxel grid as the image (shape and affine, within 0.01 mm)
    and hold only the integer values 0, 1, 2. Returns uint8 of shape ``like.shape``.
    A ``.dcm`` file is read as a DICOM-SEG (``livseg.dicom.seg``: liver segment -> 1,
    tumour segment -> 2, each frame placed on ``like``'s grid by its position).
    """
    if not isinstance(like, Volume):
        raise TypeError(
            f"like must be the image's livseg.volume.Volume (from load_volume), got {type(like).__name__}"
        )
    if Path(path).name.lower().endswith(".dcm"):  # DICOM-SEG: segments placed on like's grid
        from livseg.dicom.seg import read_segmentation

        return read_segmentation(path, like=like).labels()
    canon, canon_affine, _ = read_label_map(path)
    if tuple(canon.shape) != tuple(like.shape):
        image = like.source.get("path", "the image")
        raise LivSegInputError(
            path,
            f"label map shape {tuple(canon.shape)} differs from the image's {tuple(like.shape)} "
            f"({image}) after reorientation to the canonical grid",
        )
    diff = _affine_mismatch(canon_affine, like.affine)
    if diff > AFFINE_TOLERANCE_MM:
        image = like.source.get("path", "the image")
        raise LivSegInputError(
            path,
            f"label map affine differs from the image's ({image}) by up to {diff:.4g} mm; "
            "they are not on the same voxel grid",
        )
    return canon


def read_label_map(path, max_bytes: int | None = None):
    """A NIfTI label map on its own canonical LAS+ grid: (uint8 labels, affine, spacing mm).

    The values must pass the one label rule, ``livseg.metrics.check_labels`` (exactly the
    integers 0, 1, 2, in the stored precision: 1 + 1e-9 is refused), and the affine the
    same checks as an image's (``checked_affine``: finite, plausible, not sheared). Peak
    memory: voxels x (stored bytes + 3), + 8 when the header scales the values.
    """
    path = _check_path(path)
    img = _open_header(path, max_bytes, LABELS_PEAK_EXTRA_BYTES)
    _check_pixdim(path, img)
    _checked_affine(path, img.affine)
    data = _read_data(path, img, scaled=_scale_factors(img) != (1.0, 0.0))
    if data.dtype.kind not in "biuf":
        raise LivSegInputError(path, f"unsupported label data type {data.dtype}")
    labels = check_label_values(path, data)
    del data
    canon, canon_affine, _ = to_canonical(labels, img.affine)
    canon_affine, spacing = _checked_affine(path, canon_affine)
    return canon, canon_affine, spacing


def check_label_values(path, data: np.ndarray) -> np.ndarray:
    """``data`` as uint8 when ``livseg.metrics.check_labels`` (the one label rule) accepts
    it, else LivSegInputError naming ``path`` and the offending values."""
    from livseg.metrics import check_labels

    try:
        return check_labels(data, "label map")
    except ValueError as exc:
        raise LivSegInputError(path, _bad_label_problem(data) or str(exc)) from None


def _bad_label_problem(data: np.ndarray) -> str | None:
    """What is wrong with a refused label map, in words (None when nothing specific)."""
    if data.dtype.kind == "f":
        if not np.all(np.isfinite(data)):
            return "label map contains NaN or inf"
        frac = data != np.round(data)
        if frac.any():
            example = float(data[frac].flat[0])
            return (
                f"label map holds non-integer values ({int(frac.sum())} voxels, e.g. "
                f"{example:.12g}); expected integer labels 0 background, 1 liver, 2 tumour"
            )
    bad = data[(data < min(LABEL_VALUES)) | (data > max(LABEL_VALUES))]
    if bad.size:
        unexpected = np.unique(bad).tolist()
        shown = ", ".join(f"{v:g}" for v in unexpected[:8])
        return (
            f"label values outside {{0, 1, 2}}: {shown}"
            + (" ..." if len(unexpected) > 8 else "")
            + " (expected labels 0 background, 1 liver, 2 tumour)"
        )
    return None


def load_case(image, labels=None, case_id: str | None = None, max_bytes: int | None = None) -> Case:
    """Load an image (and optional label map) as a Case; case_id defaults to the file's case
    id (``livseg.naming.case_id``: ``volume-3.nii.gz`` -> ``"3"``)."""
    volume = load_volume(image, max_bytes=max_bytes)
    lab = load_labels(labels, like=volume) if labels is not None else None
    if case_id is None:
        case_id = case_id_of(image)
    meta = {"image_path": str(image)}
    if labels is not None:
        meta["labels_path"] = str(labels)
    return Case(case_id=case_id, volume=volume, labels=lab, meta=meta)


def _check_out_path(path) -> Path:
    path = Path(path)
    if not is_nifti_name(path):
        raise LivSegInputError(path, "output name must end with .nii or .nii.gz")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _to_source_grid(array: np.ndarray, like: Volume) -> tuple[np.ndarray, np.ndarray]:
    """array on like's canonical grid -> (array on the file's own grid, the file's affine)."""
    from nibabel import orientations as ornt

    src = like.source
    if not src or "ornt" not in src:
        return array, np.asarray(like.affine, float)
    to_src = ornt.ornt_transform(ornt.axcodes2ornt(CANONICAL_AXCODES), np.asarray(src["ornt"]))
    back = ornt.apply_orientation(array, to_src)
    if list(back.shape) != list(src["shape"]):
        raise LivSegInputError(
            src.get("path"),
            f"cannot map shape {array.shape} back to the file's grid {src['shape']}",
        )
    return np.ascontiguousarray(back), np.asarray(src["affine"], float)


def _write(data: np.ndarray, affine: np.ndarray, like: Volume, path: Path) -> Path:
    import nibabel as nib

    img = nib.Nifti1Image(data, affine)
    src = like.source or {}
    img.header.set_xyzt_units("mm", "sec")
    if src.get("qform") is not None and src.get("qform_code", 0) > 0:
        img.set_qform(np.asarray(src["qform"]), code=int(src["qform_code"]))
    else:
        img.set_qform(affine, code=1)
    if src.get("sform") is not None and src.get("sform_code", 0) > 0:
        img.set_sform(np.asarray(src["sform"]), code=int(src["sform_code"]))
    else:
        img.set_sform(affine, code=1 if src.get("qform_code", 0) == 0 else 0)
    img.header.set_data_dtype(data.dtype)
    nib.save(img, str(path))
    return path


def save_labels(labels: np.ndarray, like: Volume, path) -> Path:
    """Write a label map (canonical grid of ``like``) as uint8 NIfTI on the image file's own
    grid and affine (undoing the reorientation), so viewers overlay it on the original."""
    path = _check_out_path(path)
    labels = np.asarray(labels)
    if labels.shape != like.shape:
        raise LivSegInputError(
            path, f"label map shape {labels.shape} differs from the volume's {like.shape}"
        )
    if labels.dtype.kind not in "biu":
        raise LivSegInputError(path, f"label map must be an integer array, got {labels.dtype}")
    labels = check_label_values(path, labels)  # the one label rule
    data, affine = _to_source_grid(labels, like)
    return _write(data, affine, like, path)


def save_volume(volume: Volume, path, dtype=None) -> Path:
    """Write a volume (HU) on its source file's grid when known, else on its canonical grid.

    dtype: None -> int16 when every value is an integer in the int16 range, else float32.
    """
    path = _check_out_path(path)
    arr = np.asarray(volume.array)
    if not np.all(np.isfinite(arr)):
        raise LivSegInputError(path, "volume contains NaN or inf; refusing to write it")
    if dtype is None:
        integral = np.array_equal(arr, np.round(arr))
        in_range = arr.size == 0 or (arr.min() >= -32768 and arr.max() <= 32767)
        dtype = np.int16 if integral and in_range else np.float32
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise LivSegInputError(path, f"values {arr.min():g}..{arr.max():g} do not fit {dtype}")
        out = np.round(arr).astype(dtype)
    else:
        out = arr.astype(dtype)
    data, affine = _to_source_grid(out, volume)
    return _write(data, affine, volume, path)


# --------------------------------------------------------------------------- folders


def _nifti_files(folder: Path, recursive: bool) -> list[Path]:
    it = folder.rglob("*") if recursive else folder.iterdir()
    # a NIfTI-named symbolic link that leads nowhere (broken, a loop) is kept: loading it
    # then says what is wrong instead of the case silently missing
    return sorted(
        p
        for p in it
        if (p.is_file() or p.is_symlink()) and not p.name.startswith(".") and is_nifti_name(p)
    )


def _index_by_number(files: list[Path], what: str) -> dict[int, Path]:
    """LiTS files ``<what>-N.nii[.gz]`` by N (``livseg.naming.lits_number``)."""
    out: dict[int, Path] = {}
    for p in files:
        k = lits_number(p, what)
        if k is None:
            continue
        if k in out:
            raise LivSegInputError(p, f"duplicate LiTS {what} number {k} (also {out[k]})")
        out[k] = p
    return out


_LITS_DICOM = re.compile(r"^(volume|segmentation)-(\d+)(\.zip|\.dcm)?$", re.IGNORECASE)


def _dicom_lits(folder: Path, images: dict[int, Path], labels: dict[int, Path]) -> None:
    """Add LiTS cases kept as DICOM: ``volume-N/`` (a series folder) or ``volume-N.zip``, and
    ``segmentation-N.dcm`` (a DICOM-SEG); read through ``livseg.dicom`` like any image."""
    for p in sorted(folder.rglob("*")):
        m = _LITS_DICOM.match(p.name)
        if not m or p.name.startswith("."):
            continue
        kind, k, suffix = m.group(1).lower(), int(m.group(2)), (m.group(3) or "").lower()
        if kind == "volume" and (p.is_dir() if not suffix else suffix == ".zip" and p.is_file()):
            index = images
        elif kind == "segmentation" and suffix == ".dcm" and p.is_file():
            index = labels
        else:
            continue
        if k in index:
            raise LivSegInputError(p, f"duplicate LiTS {kind} number {k} (also {index[k]})")
        index[k] = p


def _scan_lits(folder: Path) -> list[CaseFiles]:
    files = _nifti_files(folder, recursive=True)
    images = _index_by_number(files, "volume")
    labels = _index_by_number(files, "segmentation")
    _dicom_lits(folder, images, labels)
    orphans = sorted(set(labels) - set(images))
    if orphans:
        raise LivSegInputError(
            labels[orphans[0]], f"segmentation without a matching volume-{orphans[0]} file"
        )
    manifest = {}
    mpath = folder / "manifest.json"
    if mpath.is_file():
        try:
            for c in json.loads(mpath.read_text()).get("cases", []):
                manifest[c["image"]] = c
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LivSegInputError(mpath, f"unreadable manifest ({exc})") from None
    out = []
    for k in sorted(images):
        entry = manifest.get(images[k].name, {})
        out.append(
            CaseFiles(
                case_id=case_id_of(re.sub(r"\.zip$", "", images[k].name, flags=re.IGNORECASE)),
                image=images[k],
                labels=labels.get(k),
                layout="lits",
                split=entry.get("split"),
            )
        )
    return out


def _scan_msd(folder: Path) -> list[CaseFiles]:
    out = []
    label_dir = folder / "labelsTr"
    for subset in ("imagesTr", "imagesTs"):
        sub = folder / subset
        if not sub.is_dir():
            continue
        for img in _nifti_files(sub, recursive=False):
            name = img.name
            stem = case_id_of(name)  # without the suffix and nnU-Net's _0000 channel
            lab = None
            if subset == "imagesTr" and label_dir.is_dir():
                for cand in (
                    label_dir / f"{stem}.nii.gz",
                    label_dir / f"{stem}.nii",
                    label_dir / name,
                ):
                    if cand.is_file():
                        lab = cand
                        break
            out.append(CaseFiles(case_id=stem, image=img, labels=lab, layout="msd", subset=subset))
    ids = [c.case_id for c in out]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise LivSegInputError(
            folder, f"case ids found twice in imagesTr/imagesTs: {sorted(dup)[:5]}"
        )
    return out


def scan_folder(path) -> list[CaseFiles]:
    """Find the cases in a folder in MSD Task03 layout (imagesTr/, labelsTr/, imagesTs/) or
    LiTS layout (volume-N / segmentation-N, .nii or .nii.gz, sub-folders allowed; a DICOM
    case as a ``volume-N/`` series folder or ``volume-N.zip`` with ``segmentation-N.dcm``
    (DICOM-SEG) or a NIfTI segmentation).

    Cases are sorted (MSD: imagesTr then imagesTs, by name; LiTS: by N). A label map is None
    when the case has none. Raises LivSegInputError when the folder is missing, cannot be
    listed (permission denied, named with the sub-folder) or holds no case in either layout.
    """
    folder = Path(path)
    problem = _stat_problem(folder)
    if problem:
        raise LivSegInputError(folder, problem.replace("file not found", "folder not found"))
    if not folder.is_dir():
        raise LivSegInputError(folder, "not a folder")
    try:
        return _scan_layouts(folder)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        raise LivSegInputError(
            folder, f"cannot list the folder ({exc.strerror or exc}:{where})"
        ) from None


def _scan_layouts(folder: Path) -> list[CaseFiles]:
    if (folder / "imagesTr").is_dir() or (folder / "imagesTs").is_dir():
        cases = _scan_msd(folder)
        if cases:
            return cases
        raise LivSegInputError(
            folder, "MSD layout (imagesTr/ or imagesTs/) but no .nii/.nii.gz images in it"
        )
    cases = _scan_lits(folder)
    if cases:
        return cases
    raise LivSegInputError(
        folder,
        "no cases found: expected LiTS files volume-N.nii[.gz] (+ segmentation-N.nii[.gz]) "
        "or an MSD Task03 folder with imagesTr/ and labelsTr/",
    )
