"""Reading one CT series (folder, zip or enhanced multi-frame file) as a livseg Volume.

Pixel data are decoded by pydicom with the installed handlers (pylibjpeg-openjpeg: JPEG 2000;
pylibjpeg-libjpeg: JPEG baseline / lossless; pyjpegls: JPEG-LS; pylibjpeg-rle: RLE; deflate
by pydicom itself), rescaled to HU with each plane's RescaleSlope / RescaleIntercept, stacked
on the grid of ``livseg.dicom.geometry`` and reoriented to LivSeg's canonical LAS+ grid with
``livseg.io.to_canonical`` (the same code as a NIfTI file), so a DICOM series and a NIfTI of
the same scan give the same shape and affine.

``Volume.source`` keeps only what LivSeg needs: the path, the file of each slice, the
Study / Series / SOP Instance / Frame of Reference UIDs (to reference the series from a
DICOM-SEG) and the grid; never the patient's name, ID, birth date or the accession number.
"""

from __future__ import annotations

import warnings

import numpy as np

from livseg.dicom.discovery import DicomInputError, Series, check_zip_size, discover, open_source
from livseg.dicom.geometry import GeometryError, build_grid
from livseg.volume import Volume

# what DICOM-SEG referencing needs from the series header (identity-free)
KEPT_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID")


def _derived_uid(kind: str, series: Series) -> str:
    """A stable UID for a blanked Study / SeriesInstanceUID (from the SOP instance UIDs)."""
    from pydicom.uid import generate_uid

    entropy = [kind, series.key] + sorted(p.sop_instance_uid for p in series.planes)
    return str(generate_uid(entropy_srcs=entropy))


def _pixels(source, series: Series, grid, limit_bytes: int) -> np.ndarray:
    """HU array data[i, j, k] (float32) of the ordered planes."""
    import pydicom

    first = grid.planes[0]
    shape = (first.columns, first.rows, len(grid.planes))
    need = int(np.prod(shape, dtype=np.int64)) * 4
    if need > limit_bytes:
        raise DicomInputError(
            f"{source.path}: volume too large: {' x '.join(map(str, shape))} voxels x 4 bytes = "
            f"{need / 2**20:.0f} MB exceeds the limit of {limit_bytes / 2**20:.0f} MB "
            "(set LIVSEG_MAX_VOLUME_MB to raise it)"
        )
    data = np.empty(shape, dtype=np.float32)
    decoded: dict[int, np.ndarray] = {}  # multi-frame: decode each file once
    for k, plane in enumerate(grid.planes):
        name = series.datasets[plane.file_index][0]
        where = source.where(name)
        if plane.file_index not in decoded:
            try:
                with source.open(name) as fh:
                    ds = pydicom.dcmread(fh)
                arr = ds.pixel_array
            except Exception as exc:  # missing handler, corrupt stream, truncated file
                raise DicomInputError(f"{where}: unreadable pixel data ({exc})") from None
            if plane.frame is None:
                decoded.clear()  # single-frame files: keep nothing
            decoded[plane.file_index] = arr
        arr = decoded[plane.file_index]
        pixel = arr[plane.frame] if plane.frame is not None else arr
        if pixel.shape != (plane.rows, plane.columns):
            raise DicomInputError(
                f"{where}: pixel data of shape {pixel.shape}, the header says "
                f"{plane.rows} x {plane.columns} (colour or corrupt image)"
            )
        data[:, :, k] = (pixel.astype(np.float64) * plane.slope + plane.intercept).T
    if not np.all(np.isfinite(data)):
        raise DicomInputError(f"{source.path}: pixel data rescale to non-finite HU")
    return data


def read_series(path, max_bytes: int | None = None) -> Volume:
    """Read the CT series in ``path`` (folder, recursive; ``.zip``; or one enhanced CT file).

    Returns a float32 HU Volume on the canonical LAS+ grid. Raises ``livseg.io.LivSegInputError``
    naming the folder / file and the problem (no DICOM, no CT, localizers only, gantry tilt,
    irregular spacing, a missing slice, mixed orientations or sizes, unreadable pixel data,
    over the memory limit ``max_bytes``, default ``livseg.io.max_volume_bytes()``).
    """
    from livseg.io import LivSegInputError, checked_affine, max_volume_bytes, to_canonical

    limit = max_volume_bytes() if max_bytes is None else int(max_bytes)
    try:
        source = open_source(path)
        check_zip_size(source, limit)
        series = discover(source)
        try:
            grid = build_grid(series.planes)
        except GeometryError as exc:
            raise DicomInputError(f"{source.path}: {series.description}: {exc}") from None
        data = _pixels(source, series, grid, limit)
    except DicomInputError as exc:
        raise LivSegInputError(None, str(exc)) from None
    if series.others:
        warnings.warn(
            f"{path}: read {series.description}; also found: " + "; ".join(series.others),
            stacklevel=2,
        )
    canon, canon_affine, src_ornt = to_canonical(data, grid.affine)
    canon_affine, spacing = checked_affine(path, canon_affine)
    header = series.datasets[grid.planes[0].file_index][1]
    uids = {k: str(header.get(k, "") or "") for k in KEPT_UIDS}
    derived = [k for k in ("StudyInstanceUID", "SeriesInstanceUID") if not uids[k]]
    for k in derived:
        uids[k] = _derived_uid(k, series)
    source_record = {
        "path": str(path),
        "format": "dicom",
        "container": source.kind,
        "shape": [int(s) for s in data.shape],
        "affine": np.asarray(grid.affine, float).tolist(),
        "ornt": np.asarray(src_ornt, float).tolist(),
        "qform": None,
        "qform_code": 0,
        "sform": None,
        "sform_code": 0,
        "dtype": "float32",
        "slice_spacing_mm": grid.slice_spacing_mm,
        "files": [series.datasets[p.file_index][0] for p in grid.planes],
        "frames": [p.frame for p in grid.planes],
        "sop_instance_uids": [p.sop_instance_uid for p in grid.planes],
        "sop_class_uid": str(header.get("SOPClassUID", "") or "")
        or str(getattr(header, "file_meta", {}).get("MediaStorageSOPClassUID", "")),
        "uids": uids,
        "uids_derived": derived,
        "other_series": series.others,
        "skipped": len(series.skipped),
    }
    return Volume(
        array=canon.astype(np.float32, copy=False),
        spacing=spacing,
        affine=canon_affine,
        source=source_record,
    )
