"""Finding the CT series in a folder, a zip or a file of DICOM objects.

Every file is opened header-only (``stop_before_pixels``); files that are not DICOM
(README, DICOMDIR, thumbnails) and DICOM objects without pixel data (SR, RT structure sets,
presentation states, segmentations) are skipped. Image objects are grouped by
SeriesInstanceUID (or, when an anonymiser blanked it, by frame of reference, orientation and
size). Localizers / scouts (ImageType LOCALIZER or SCOUT, or a single plane) are skipped. Of
the CT series left, the largest axial one is chosen; the others are listed in
``Series.others`` (and in the error when none is usable).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from livseg.dicom.geometry import Plane, is_axial

DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
MAX_ZIP_RATIO = 4  # a zip may expand to at most this many times the volume memory limit


class DicomInputError(ValueError):
    """Raised by discovery with the folder / file in the message (see livseg.io)."""


@dataclass
class Source:
    """Where the DICOM objects come from: a folder, a zip or one file; ``open(name)``."""

    path: Path
    kind: str  # "folder" | "zip" | "file"

    def names(self) -> list[str]:
        """Candidate file names (folder: relative paths, recursive; zip: member names)."""
        if self.kind == "file":
            return [self.path.name]
        if self.kind == "zip":
            with zipfile.ZipFile(self.path) as zf:
                return sorted(
                    i.filename
                    for i in zf.infolist()
                    if not i.is_dir() and not Path(i.filename).name.startswith(".")
                )
        return sorted(
            str(p.relative_to(self.path))
            for p in self.path.rglob("*")
            if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(self.path).parts)
        )

    def where(self, name: str) -> str:
        """How a message names one file of this source."""
        if self.kind == "zip":
            return f"{self.path} (member {name})"
        if self.kind == "file":
            return str(self.path)
        return str(self.path / name)

    def open(self, name: str):
        """A binary file object of ``name`` (zip members are read into memory)."""
        if self.kind == "zip":
            with zipfile.ZipFile(self.path) as zf:
                return io.BytesIO(zf.read(name))
        if self.kind == "file":
            return open(self.path, "rb")
        return open(self.path / name, "rb")


@dataclass
class Series:
    """One image series: its files (header datasets) and its planes, plus what was skipped."""

    key: str
    modality: str
    datasets: list = field(default_factory=list)  # (name, pydicom Dataset without pixels)
    planes: list[Plane] = field(default_factory=list)
    others: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def description(self) -> str:
        """Short text for messages: modality, plane count, UID (never patient data)."""
        return f"{self.modality} series {self.key} ({len(self.planes)} planes)"


def open_source(path) -> Source:
    """A Source for a folder, a ``.zip`` or a single DICOM file; errors name the path."""
    path = Path(path)
    if not path.exists():
        raise DicomInputError(f"{path}: not found")
    if path.is_dir():
        return Source(path, "folder")
    if path.name.lower().endswith(".zip"):
        if not zipfile.is_zipfile(path):
            raise DicomInputError(f"{path}: not a readable zip archive")
        return Source(path, "zip")
    return Source(path, "file")


def check_zip_size(source: Source, limit_bytes: int) -> None:
    """Refuse a zip whose members would expand beyond MAX_ZIP_RATIO x the memory limit."""
    if source.kind != "zip":
        return
    with zipfile.ZipFile(source.path) as zf:
        total = sum(i.file_size for i in zf.infolist())
    if total > MAX_ZIP_RATIO * limit_bytes:
        raise DicomInputError(
            f"{source.path}: the archive expands to {total / 2**20:.0f} MB, more than "
            f"{MAX_ZIP_RATIO} x the volume limit of {limit_bytes / 2**20:.0f} MB"
        )


def _read_headers(source: Source) -> Iterator[tuple[str, object]]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    for name in source.names():
        try:
            with source.open(name) as fh:
                ds = pydicom.dcmread(fh, stop_before_pixels=True)
        except (InvalidDicomError, EOFError, OSError, ValueError, TypeError, KeyError):
            continue  # not DICOM (README, thumbnails) or unreadable header: skipped
        except Exception:  # pydicom raises assorted errors on garbage; skip the file
            continue
        yield name, ds


def sop_class(ds) -> str:
    """SOPClassUID, or the file meta's MediaStorageSOPClassUID when blanked."""
    uid = str(ds.get("SOPClassUID", "") or "")
    if not uid and hasattr(ds, "file_meta"):
        uid = str(ds.file_meta.get("MediaStorageSOPClassUID", "") or "")
    return uid


def sop_instance(ds) -> str:
    """SOPInstanceUID, or the file meta's MediaStorageSOPInstanceUID when blanked."""
    uid = str(ds.get("SOPInstanceUID", "") or "")
    if not uid and hasattr(ds, "file_meta"):
        uid = str(ds.file_meta.get("MediaStorageSOPInstanceUID", "") or "")
    return uid


def _is_image(ds) -> bool:
    return ("Rows" in ds and "Columns" in ds) and sop_class(ds) != SEGMENTATION


def _is_localizer(ds) -> bool:
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    return any("LOCALIZER" in v or "SCOUT" in v for v in image_type)


def _number(value, default: float) -> float:
    try:
        return float(value) if value is not None and value != "" else default
    except (TypeError, ValueError):
        return default


def _planes_single(ds, where: str, file_index: int) -> list[Plane]:
    try:
        position = tuple(float(v) for v in ds.ImagePositionPatient)
        orientation = tuple(float(v) for v in ds.ImageOrientationPatient)
        spacing = tuple(float(v) for v in ds.PixelSpacing)
    except (AttributeError, TypeError, ValueError) as exc:
        raise DicomInputError(
            f"{where}: no usable geometry (ImagePositionPatient / ImageOrientationPatient / "
            f"PixelSpacing: {exc})"
        ) from None
    if len(position) != 3 or len(orientation) != 6 or len(spacing) != 2:
        raise DicomInputError(
            f"{where}: malformed ImagePositionPatient / Orientation / PixelSpacing"
        )
    return [
        Plane(
            position=position,  # type: ignore[arg-type]
            orientation=orientation,  # type: ignore[arg-type]
            pixel_spacing=spacing,  # type: ignore[arg-type]
            rows=int(ds.Rows),
            columns=int(ds.Columns),
            slope=_number(ds.get("RescaleSlope"), 1.0),
            intercept=_number(ds.get("RescaleIntercept"), 0.0),
            where=where,
            file_index=file_index,
            sop_instance_uid=sop_instance(ds),
        )
    ]


def functional_group_item(per_frame, shared, keyword: str):
    """The first item of a functional group sequence, per-frame first, then shared."""
    for groups in (per_frame, shared):
        seq = groups.get(keyword) if groups is not None else None
        if seq:
            return seq[0]
    return None


def _planes_multiframe(ds, where: str, file_index: int) -> list[Plane]:
    """One Plane per frame of an enhanced (multi-frame) image from its functional groups."""
    shared = (
        ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
    )
    per_frames = ds.get("PerFrameFunctionalGroupsSequence") or []
    n = int(ds.get("NumberOfFrames", 1) or 1)
    if len(per_frames) != n:
        raise DicomInputError(
            f"{where}: {n} frames but {len(per_frames)} per-frame functional groups"
        )
    out = []
    for f, groups in enumerate(per_frames):
        pos = functional_group_item(groups, shared, "PlanePositionSequence")
        ori = functional_group_item(groups, shared, "PlaneOrientationSequence")
        mea = functional_group_item(groups, shared, "PixelMeasuresSequence")
        val = functional_group_item(groups, shared, "PixelValueTransformationSequence")
        if pos is None or ori is None or mea is None:
            raise DicomInputError(
                f"{where}: frame {f + 1} lacks plane position, orientation or pixel measures"
            )
        out.append(
            Plane(
                position=tuple(float(v) for v in pos.ImagePositionPatient),  # type: ignore[arg-type]
                orientation=tuple(float(v) for v in ori.ImageOrientationPatient),  # type: ignore[arg-type]
                pixel_spacing=tuple(float(v) for v in mea.PixelSpacing),  # type: ignore[arg-type]
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                slope=_number(val.get("RescaleSlope") if val else None, 1.0),
                intercept=_number(val.get("RescaleIntercept") if val else None, 0.0),
                where=f"{where} frame {f + 1}",
                file_index=file_index,
                frame=f,
                sop_instance_uid=sop_instance(ds),
            )
        )
    return out


def _series_key(ds) -> str:
    uid = str(ds.get("SeriesInstanceUID", "") or "")
    if uid:
        return uid
    # blanked by an anonymiser: frame of reference + orientation + size stand in for it
    ori = ds.get("ImageOrientationPatient") or []
    ori = ",".join(f"{float(v):.3f}" for v in ori) if len(ori) == 6 else "?"
    return (
        f"(no SeriesInstanceUID; frame of reference {ds.get('FrameOfReferenceUID', '')}, "
        f"orientation {ori}, {ds.get('Rows')} x {ds.get('Columns')})"
    )


def discover(source: Source) -> Series:
    """The series LivSeg reads from ``source``: the largest axial CT that is not a localizer.

    Raises DicomInputError naming the source and listing what was found when there is no
    DICOM file, no image, or no usable CT series (e.g. only MR, only localizers).
    """
    groups: dict[str, Series] = {}
    skipped: list[str] = []
    n_files = 0
    for name, ds in _read_headers(source):
        n_files += 1
        where = source.where(name)
        if not _is_image(ds):
            skipped.append(f"{where}: {ds.get('Modality', '?')} object without an image")
            continue
        key = _series_key(ds)
        series = groups.setdefault(key, Series(key=key, modality=str(ds.get("Modality", "?"))))
        index = len(series.datasets)
        series.datasets.append((name, ds))
        if int(ds.get("NumberOfFrames", 1) or 1) > 1 or "PerFrameFunctionalGroupsSequence" in ds:
            series.planes.extend(_planes_multiframe(ds, where, index))
        else:
            series.planes.extend(_planes_single(ds, where, index))
    if n_files == 0:
        raise DicomInputError(f"{source.path}: no DICOM files found")
    if not groups:
        raise DicomInputError(
            f"{source.path}: no DICOM image found ({len(skipped)} non-image objects: "
            + "; ".join(skipped[:3])
            + ")"
        )
    candidates, rejected = [], []
    for s in groups.values():
        if all(_is_localizer(ds) for _, ds in s.datasets):
            rejected.append(f"{s.description}: localizer / scout")
        elif len(s.planes) == 1 and not is_axial(s.planes[0].orientation):
            rejected.append(f"{s.description}: single non-axial plane (localizer)")
        elif s.modality != "CT":
            rejected.append(f"{s.description}: modality {s.modality}, LivSeg reads CT only")
        elif len(s.planes) < 2:
            rejected.append(f"{s.description}: a single slice")
        else:
            candidates.append((is_axial(s.planes[0].orientation), len(s.planes), s))
    if not candidates:
        raise DicomInputError(f"{source.path}: no usable CT series; found " + "; ".join(rejected))
    candidates.sort(key=lambda t: (t[0], t[1]), reverse=True)
    chosen = candidates[0][2]
    # localizer images mixed into the chosen series (same UID) are dropped too
    keep = {i for i, (_, ds) in enumerate(chosen.datasets) if not _is_localizer(ds)}
    if len(keep) < len(chosen.datasets):
        dropped = [chosen.datasets[i][0] for i in range(len(chosen.datasets)) if i not in keep]
        skipped.extend(f"{source.where(n)}: localizer" for n in dropped)
        chosen.planes = [p for p in chosen.planes if p.file_index in keep]
    chosen.others = [c[2].description for c in candidates[1:]] + rejected
    chosen.skipped = skipped
    return chosen


__all__ = ["DicomInputError", "Series", "Source", "discover", "open_source"]
