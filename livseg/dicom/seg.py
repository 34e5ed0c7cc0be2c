"""DICOM Segmentation objects (DICOM-SEG, SOP class 1.2.840.10008.5.1.4.1.1.66.4).

Writing (highdicom): a LivSeg label map on a DICOM series' grid becomes a BINARY segmentation
with segment 1 "Liver" (SNOMED CT 10200004, liver parenchyma: label 1) and segment 2 "Liver
tumour" (SNOMED CT 108369006 neoplasm in the liver: label 2), the algorithm's name and
version, one frame per source slice (empty frames kept, so the object alone defines the grid)
referencing the source series, its SOP instances and its frame of reference. The patient's
name, ID, birth date and the accession number are written empty (LivSeg exports carry no
patient identity); Study, Series and Frame of Reference UIDs are the source's, so viewers
(OHIF, 3D Slicer) put the segmentation on the right scan.

Reading (pydicom): frames are placed by their ImagePositionPatient on a grid (the image's when
given, else the one the frames span) as a map of segment numbers, then turned into LivSeg
labels by the segments' property types (liver -> 1, neoplasm / tumour -> 2) or by an explicit
segment-number mapping (``db.external_runs``: TotalSegmentator's liver is segment 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livseg.dicom.geometry import LPS_TO_RAS, GeometryError, Plane, build_grid
from livseg.volume import LIVER, TUMOUR, Volume

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
LIVER_CODE = ("10200004", "SCT", "Liver")
TUMOUR_CODE = ("108369006", "SCT", "Neoplasm")
ANATOMICAL_STRUCTURE = ("91723000", "SCT", "Anatomical Structure")
ALTERED_STRUCTURE = ("49755003", "SCT", "Morphologically Altered Structure")
TUMOUR_CODES = {"108369006", "4147007", "86049000", "126851005", "93870000"}
IDENTITY_TAGS = ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber")
TYPE2_COPIED = IDENTITY_TAGS + (
    "PatientSex",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)


@dataclass
class SegmentMap:
    """A DICOM-SEG on a grid: ``segments`` (segment numbers, canonical LAS+), its affine (RAS
    mm) and spacing (mm), and per segment number its label and property type code."""

    segments: np.ndarray
    affine: np.ndarray
    spacing: tuple[float, float, float]
    info: dict[int, dict]
    referenced_series_uid: str
    path: Path

    def labels(self, mapping: dict[int, int] | None = None) -> np.ndarray:
        """uint8 LivSeg labels (0/1/2): ``mapping`` segment number -> label, default from
        the segments' property types (liver 1, neoplasm / tumour 2; others ignored)."""
        if mapping is None:
            mapping = default_mapping(self.info)
        out = np.zeros(self.segments.shape, dtype=np.uint8)
        for number, label in sorted(mapping.items(), key=lambda kv: kv[1]):
            out[self.segments == number] = label  # tumour last: it lies inside the liver
        return out


def default_mapping(info: dict[int, dict]) -> dict[int, int]:
    """Segment number -> LivSeg label from the property type codes / labels."""
    mapping = {}
    for number, seg in info.items():
        code, text = seg.get("code", ""), seg.get("label", "").lower()
        if code in TUMOUR_CODES or "tumo" in text or "lesion" in text:
            mapping[number] = TUMOUR
        elif code == LIVER_CODE[0] or text == "liver":
            mapping[number] = LIVER
    return mapping


def _code(triple):
    from pydicom.sr.coding import Code

    return Code(*triple)


def _source_datasets(like: Volume) -> list:
    """Header datasets of the source files in slice order, UIDs filled, identity blanked."""
    import pydicom

    from livseg.dicom.discovery import open_source

    src = like.source
    source = open_source(src["path"])
    seen: dict[str, object] = {}
    out = []
    for k, name in enumerate(src["files"]):
        if name not in seen:
            with source.open(name) as fh:
                ds = pydicom.dcmread(fh)  # highdicom checks the pixel data attributes
            for tag in IDENTITY_TAGS:
                if tag in ds:
                    ds.data_element(tag).value = ""
            for tag in TYPE2_COPIED:  # highdicom copies these; absent in some exports
                if tag not in ds:
                    setattr(ds, tag, "")
            for key, uid in src["uids"].items():
                setattr(ds, key, uid)
            if not ds.get("SOPInstanceUID"):
                ds.SOPInstanceUID = src["sop_instance_uids"][k]
            if not ds.get("SOPClassUID"):
                ds.SOPClassUID = src["sop_class_uid"]
            seen[name] = ds
            out.append(ds)
    return out


def write_segmentation(
    labels: np.ndarray,
    like: Volume,
    path,
    algorithm_name: str,
    algorithm_version: str,
    manual: bool = False,
) -> Path:
    """Write ``labels`` (uint8 0/1/2 on ``like``'s canonical grid) as a DICOM-SEG at ``path``.

    ``like`` must come from a DICOM series (``livseg.dicom.read_series``). ``manual=True``
    marks the segments as a manual reference (no algorithm identification).
    """
    path = Path(path)
    seg = _segmentation(labels, like, path, algorithm_name, algorithm_version, manual)
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path)
    return path


def segmentation_bytes(
    labels: np.ndarray, like: Volume, algorithm_name: str, algorithm_version: str, manual=False
) -> bytes:
    """``write_segmentation`` into memory: the DICOM-SEG file's bytes (for a download)."""
    import io

    seg = _segmentation(labels, like, None, algorithm_name, algorithm_version, manual)
    buffer = io.BytesIO()
    seg.save_as(buffer)
    return buffer.getvalue()


def _segmentation(labels, like: Volume, path, algorithm_name, algorithm_version, manual):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    from livseg.io import LivSegInputError, _to_source_grid

    src = like.source or {}
    if src.get("format") != "dicom":
        raise LivSegInputError(
            path, "DICOM-SEG output needs a DICOM series as input (the image is not DICOM)"
        )
    labels = np.asarray(labels)
    if labels.shape != like.shape:
        raise LivSegInputError(
            path, f"label map shape {labels.shape} differs from the volume's {like.shape}"
        )
    native, _ = _to_source_grid(labels.astype(np.uint8), like)
    try:
        datasets = _source_datasets(like)
    except OSError as exc:
        raise LivSegInputError(src["path"], f"source series no longer readable ({exc})") from None
    frames = src["frames"]
    if frames[0] is None:  # one file per slice, datasets in slice order
        pixels = np.stack([native[:, :, k].T for k in range(native.shape[2])])
    else:  # one enhanced CT file: pixel frames in the file's frame order
        pixels = np.zeros((len(frames),) + native[:, :, 0].T.shape, dtype=np.uint8)
        for k, f in enumerate(frames):
            pixels[f] = native[:, :, k].T
    if manual:
        algo = {"algorithm_type": hd.seg.SegmentAlgorithmTypeValues.MANUAL}
    else:
        algo = {
            "algorithm_type": hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            "algorithm_identification": hd.AlgorithmIdentificationSequence(
                name=algorithm_name,
                family=codes.cid7162.ArtificialIntelligence,
                version=algorithm_version or "unknown",
            ),
        }
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=LIVER,
            segment_label="Liver",
            segmented_property_category=_code(ANATOMICAL_STRUCTURE),
            segmented_property_type=_code(LIVER_CODE),
            **algo,
        ),
        hd.seg.SegmentDescription(
            segment_number=TUMOUR,
            segment_label="Liver tumour",
            segmented_property_category=_code(ALTERED_STRUCTURE),
            segmented_property_type=_code(TUMOUR_CODE),
            anatomic_regions=[_code(LIVER_CODE)],
            **algo,
        ),
    ]
    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=900,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="LivSeg",
        manufacturer_model_name=algorithm_name,
        software_versions=algorithm_version or "unknown",
        device_serial_number="0",
        series_description=f"LivSeg {algorithm_name}"[:64],
        omit_empty_frames=False,
    )
    for tag in IDENTITY_TAGS:
        if tag in seg:
            seg.data_element(tag).value = ""
    return seg


def is_segmentation(path) -> bool:
    """True when ``path`` is a DICOM file of the Segmentation SOP class."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except Exception:
        return False
    return str(ds.get("SOPClassUID", "")) == SEG_SOP_CLASS


def _frame_planes(ds, where: str) -> list[tuple[int, Plane]]:
    from livseg.dicom.discovery import functional_group_item

    shared = (
        ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
    )
    out = []
    for f, groups in enumerate(ds.PerFrameFunctionalGroupsSequence):
        pos = functional_group_item(groups, shared, "PlanePositionSequence")
        ori = functional_group_item(groups, shared, "PlaneOrientationSequence")
        mea = functional_group_item(groups, shared, "PixelMeasuresSequence")
        ident = functional_group_item(groups, shared, "SegmentIdentificationSequence")
        if pos is None or ori is None or mea is None or ident is None:
            raise ValueError(f"frame {f + 1} lacks its position, orientation or segment number")
        plane = Plane(
            position=tuple(float(v) for v in pos.ImagePositionPatient),  # type: ignore[arg-type]
            orientation=tuple(float(v) for v in ori.ImageOrientationPatient),  # type: ignore[arg-type]
            pixel_spacing=tuple(float(v) for v in mea.PixelSpacing),  # type: ignore[arg-type]
            rows=int(ds.Rows),
            columns=int(ds.Columns),
            slope=1.0,
            intercept=0.0,
            where=f"{where} frame {f + 1}",
            frame=f,
        )
        out.append((int(ident.ReferencedSegmentNumber), plane))
    return out


def _spanned_grid(planes: list[Plane]) -> tuple[tuple[int, int, int], np.ndarray]:
    """Canonical shape and affine of the grid that the (unique) frame positions span."""
    from livseg.io import to_canonical

    unique: dict[tuple, Plane] = {}
    for p in planes:
        unique.setdefault(tuple(np.round(p.position, 3)), p)
    grid = build_grid(list(unique.values()))
    first = grid.planes[0]
    dummy = np.zeros((first.columns, first.rows, len(grid.planes)), dtype=np.uint8)
    canon, affine, _ = to_canonical(dummy, grid.affine)
    return canon.shape, affine


def read_segmentation(path, like: Volume | None = None) -> SegmentMap:
    """Read a DICOM-SEG as a segment-number map on ``like``'s canonical grid (or, without
    ``like``, on the grid its frames span). Raises LivSegInputError naming the file for a
    file that is not a SEG, frames off the grid, or unreadable pixel data."""
    import pydicom

    from livseg.io import LivSegInputError, checked_affine

    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise LivSegInputError(path, f"not a readable DICOM file ({exc})") from None
    if str(ds.get("SOPClassUID", "")) != SEG_SOP_CLASS:
        raise LivSegInputError(
            path, f"not a DICOM Segmentation (SOP class {ds.get('SOPClassUID', '?')})"
        )
    try:
        frames = _frame_planes(ds, str(path))
        pixels = ds.pixel_array
    except Exception as exc:
        raise LivSegInputError(path, f"unreadable segmentation ({exc})") from None
    pixels = pixels.reshape((-1, int(ds.Rows), int(ds.Columns)))
    if str(ds.get("SegmentationType", "BINARY")) == "FRACTIONAL":
        top = float(ds.get("MaximumFractionalValue", 255) or 255)
        pixels = pixels > top / 2
    info = {}
    for seg in ds.SegmentSequence:
        code = seg.SegmentedPropertyTypeCodeSequence[0]
        info[int(seg.SegmentNumber)] = {
            "label": str(seg.get("SegmentLabel", "")),
            "code": str(code.CodeValue),
            "meaning": str(code.CodeMeaning),
        }
    try:
        if like is not None:
            shape, affine = like.shape, np.asarray(like.affine, float)
        else:
            shape, affine = _spanned_grid([p for _, p in frames])
    except GeometryError as exc:
        raise LivSegInputError(path, f"the frames do not form one grid: {exc}") from None
    segments = np.zeros(shape, dtype=np.uint16)
    to_index = np.linalg.inv(affine)
    for (number, plane), pixel in zip(frames, pixels, strict=True):
        row, col = np.asarray(plane.orientation[:3]), np.asarray(plane.orientation[3:])
        sr, sc = plane.pixel_spacing
        lps0 = np.asarray(plane.position)
        pts = np.array([lps0, lps0 + row * sc, lps0 + col * sr])  # (0,0), next column, next row
        ras = (LPS_TO_RAS[:3, :3] @ pts.T).T
        idx = (to_index[:3, :3] @ ras.T).T + to_index[:3, 3]
        origin, dcol, drow = idx[0], idx[1] - idx[0], idx[2] - idx[0]
        if max(np.abs(v - np.round(v)).max() for v in (origin, dcol, drow)) > 0.01:
            raise LivSegInputError(path, f"{plane.where} does not lie on the image's voxel grid")
        origin, dcol, drow = (np.round(v).astype(int) for v in (origin, dcol, drow))
        r, c = np.nonzero(pixel)
        ijk = origin[None, :] + c[:, None] * dcol[None, :] + r[:, None] * drow[None, :]
        corners = origin + np.array(
            [[0, 0, 0], dcol * (plane.columns - 1), drow * (plane.rows - 1)]
        ).sum(0)
        if (
            np.any(corners < 0)
            or np.any(corners >= np.asarray(shape))
            or np.any(origin < 0)
            or np.any(origin >= np.asarray(shape))
        ):
            raise LivSegInputError(path, f"{plane.where} lies outside the image's grid")
        segments[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = number
    affine, spacing = checked_affine(path, affine)
    ref_series = ""
    refs = ds.get("ReferencedSeriesSequence") or []
    if refs:
        ref_series = str(refs[0].get("SeriesInstanceUID", ""))
    return SegmentMap(segments, affine, spacing, info, ref_series, path)
