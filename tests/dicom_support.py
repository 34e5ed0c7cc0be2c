"""Writing small DICOM CT series for the tests with plain pydicom (independent of livseg.dicom).

``write_series(folder, native, ...)`` writes one uncompressed CT Image Storage file per slice
of ``native`` (HU, indexed [column i, row j, slice k]) with the given orientation cosines,
first position (LPS mm) and spacings; ``expected_affine`` computes, by hand from the same
numbers, the voxel -> RAS affine a NIfTI of that array must carry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
IDENTITY = {
    "PatientName": "Doe^Jane",
    "PatientID": "PID-4711-SECRET",
    "PatientBirthDate": "19500101",
    "AccessionNumber": "ACC-98765",
}


def expected_affine(orientation, first_position, pixel_spacing, slice_step) -> np.ndarray:
    """Voxel (i column, j row, k slice) -> RAS mm for the written series."""
    row = np.asarray(orientation[:3], float)
    col = np.asarray(orientation[3:], float)
    normal = np.cross(row, col)
    lps = np.eye(4)
    lps[:3, 0] = row * pixel_spacing[1]
    lps[:3, 1] = col * pixel_spacing[0]
    lps[:3, 2] = normal * slice_step
    lps[:3, 3] = first_position
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def write_series(
    folder,
    native: np.ndarray,
    orientation=AXIAL,
    first_position=(-100.0, -80.0, 50.0),
    pixel_spacing=(1.5, 1.25),
    slice_step=2.5,
    modality: str = "CT",
    series_uid: str | None = None,
    study_uid: str | None = None,
    slope: float = 1.0,
    intercept: float = -1024.0,
    positions=None,
    image_type=("ORIGINAL", "PRIMARY", "AXIAL"),
    prefix: str = "slice",
    names=None,
) -> list[Path]:
    """One file per slice; ``positions`` (list of LPS triples) overrides the regular stack."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = generate_uid()
    row = np.asarray(orientation[:3], float)
    col = np.asarray(orientation[3:], float)
    normal = np.cross(row, col)
    stored = np.round((native - intercept) / slope).astype(np.uint16)
    n = native.shape[2]
    if positions is None:
        positions = [np.asarray(first_position, float) + k * slice_step * normal for k in range(n)]
    paths = []
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        name = names[k] if names is not None else f"{prefix}{k:03d}.dcm"
        ds = FileDataset(str(folder / name), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality = modality
        ds.ImageType = list(image_type)
        for key, value in IDENTITY.items():
            setattr(ds, key, value)
        ds.PatientSex = "F"
        ds.StudyDate = "20260101"
        ds.SeriesNumber = 3
        ds.InstanceNumber = k + 1
        ds.Manufacturer = "tests"
        ds.ImageOrientationPatient = [float(v) for v in orientation]
        ds.ImagePositionPatient = [float(v) for v in positions[k]]
        ds.PixelSpacing = [float(v) for v in pixel_spacing]
        ds.SliceThickness = 99.0  # deliberately wrong: spacing must come from the positions
        ds.Rows, ds.Columns = int(native.shape[1]), int(native.shape[0])
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).tobytes()
        ds.save_as(folder / name, enforce_file_format=True)
        paths.append(folder / name)
    return paths


def read_back(path) -> pydicom.Dataset:
    """pydicom's own reading of a file (the independent reference)."""
    return pydicom.dcmread(path)
