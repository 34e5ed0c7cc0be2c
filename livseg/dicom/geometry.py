"""Voxel grid of a stack of DICOM image planes: slice order, spacing, affine, and its checks.

DICOM gives, per plane, ImageOrientationPatient (row and column direction cosines, LPS),
ImagePositionPatient (the centre of the first pixel, LPS mm) and PixelSpacing (row spacing,
column spacing in mm). The planes are sorted along the plane normal (row x column); the slice
spacing comes from the positions (never from SliceThickness). The result is a NIfTI-style
affine (voxel (i, j, k) -> RAS mm) for the array ``data[i, j, k] = pixel[k][row j, column i]``,
which ``livseg.io`` then reorients to the canonical LAS+ grid like any NIfTI file.

Refused, with a message naming the folder and the problem: mixed orientations, sizes or pixel
spacings, gantry tilt / sheared stacks (slices displaced off the normal), two planes at one
position, a missing slice, irregular spacing, a single plane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ORIENTATION_TOLERANCE = 1e-4  # direction cosines may differ by this much between planes
TILT_TOLERANCE_DEG = 0.05  # slice step vs plane normal; above this it is gantry tilt / shear
SPACING_TOLERANCE = 0.01  # relative deviation of one slice gap from the median gap
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


class GeometryError(ValueError):
    """The planes do not form one regular voxel grid; the message says why (no path)."""


@dataclass(frozen=True)
class Plane:
    """One image plane (a file, or one frame of a multi-frame file).

    position: ImagePositionPatient (LPS mm); orientation: the 6 direction cosines;
    pixel_spacing: (row spacing, column spacing) mm; rows, columns: pixel matrix size;
    slope / intercept: rescale to HU; where: the file (and frame) for messages.
    """

    position: tuple[float, float, float]
    orientation: tuple[float, float, float, float, float, float]
    pixel_spacing: tuple[float, float]
    rows: int
    columns: int
    slope: float
    intercept: float
    where: str
    file_index: int = 0
    frame: int | None = None
    sop_instance_uid: str = ""


@dataclass(frozen=True)
class Grid:
    """The planes in slice order and the affine (voxel -> RAS mm) of the stacked array."""

    planes: tuple[Plane, ...]
    affine: np.ndarray
    slice_spacing_mm: float


def normal(orientation) -> np.ndarray:
    """Unit plane normal (row direction x column direction), LPS."""
    row, col = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    n = np.cross(row, col)
    return n / np.linalg.norm(n)


def is_axial(orientation, max_deg: float = 30.0) -> bool:
    """True when the plane normal is within ``max_deg`` degrees of the patient's S-I axis."""
    return abs(normal(orientation)[2]) >= np.cos(np.deg2rad(max_deg))


def check_orientation(orientation) -> None:
    """Raise GeometryError unless the 6 cosines are two orthogonal unit vectors."""
    o = np.asarray(orientation, float)
    if o.shape != (6,) or not np.all(np.isfinite(o)):
        raise GeometryError(f"ImageOrientationPatient must be 6 numbers, got {list(o)}")
    row, col = o[:3], o[3:]
    if abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(col) - 1) > 1e-3:
        raise GeometryError(f"ImageOrientationPatient {list(o)} holds non-unit vectors")
    if abs(float(row @ col)) > 1e-3:
        angle = np.degrees(np.arccos(np.clip(row @ col, -1, 1)))
        raise GeometryError(
            f"ImageOrientationPatient rows and columns are not orthogonal ({angle:.2f} degrees)"
        )


def _check_uniform(planes: list[Plane]) -> None:
    first = planes[0]
    for p in planes[1:]:
        if np.max(np.abs(np.subtract(p.orientation, first.orientation))) > ORIENTATION_TOLERANCE:
            raise GeometryError(
                f"mixed orientations: {p.where} has ImageOrientationPatient "
                f"{list(p.orientation)}, {first.where} has {list(first.orientation)}"
            )
        if (p.rows, p.columns) != (first.rows, first.columns):
            raise GeometryError(
                f"mixed image sizes: {p.where} is {p.rows} x {p.columns}, "
                f"{first.where} is {first.rows} x {first.columns}"
            )
        if np.max(np.abs(np.subtract(p.pixel_spacing, first.pixel_spacing))) > 1e-4:
            raise GeometryError(
                f"mixed pixel spacings: {p.where} has {list(p.pixel_spacing)} mm, "
                f"{first.where} has {list(first.pixel_spacing)} mm"
            )


def build_grid(planes: list[Plane]) -> Grid:
    """Sort the planes along their normal and check that they form one regular grid.

    Returns the ordered planes, the affine (voxel -> RAS mm) of the array
    ``data[i, j, k] = pixel[k][j, i]`` and the slice spacing (mm) measured from the positions.
    """
    if len(planes) < 2:
        raise GeometryError(f"only {len(planes)} image plane: a CT volume needs at least 2 slices")
    for p in planes:
        check_orientation(p.orientation)
    _check_uniform(planes)
    first = planes[0]
    n = normal(first.orientation)
    pos = np.array([p.position for p in planes], dtype=float)
    if not np.all(np.isfinite(pos)):
        raise GeometryError("ImagePositionPatient holds non-finite values")
    depth = pos @ n
    order = np.argsort(depth, kind="stable")
    planes = [planes[i] for i in order]
    pos, depth = pos[order], depth[order]
    gaps = np.diff(depth)
    same = np.flatnonzero(gaps < 1e-3)
    if same.size:
        a, b = planes[same[0]], planes[same[0] + 1]
        raise GeometryError(
            f"two slices at the same position {list(np.round(a.position, 3))}: {a.where} and "
            f"{b.where} (duplicate files or two series with the same SeriesInstanceUID)"
        )
    # gantry tilt / shear: successive slices must be displaced along the normal only
    steps = np.diff(pos, axis=0)
    cosang = np.clip((steps @ n) / np.linalg.norm(steps, axis=1), -1.0, 1.0)
    tilt = np.degrees(np.arccos(cosang))
    if np.max(tilt) > TILT_TOLERANCE_DEG:
        k = int(np.argmax(tilt))
        raise GeometryError(
            f"gantry tilt or sheared geometry: slices are displaced {tilt[k]:.2f} degrees off "
            f"the plane normal (between {planes[k].where} and {planes[k + 1].where}); "
            "LivSeg does not resample tilted acquisitions: reconstruct the series without tilt"
        )
    spacing = float(np.median(gaps))
    dev = np.abs(gaps - spacing) / spacing
    if np.max(dev) > SPACING_TOLERANCE:
        k = int(np.argmax(dev))
        ratio = gaps[k] / spacing
        if abs(ratio - round(ratio)) < SPACING_TOLERANCE * round(ratio) and round(ratio) >= 2:
            missing = int(round(ratio)) - 1
            raise GeometryError(
                f"{missing} missing slice{'s' if missing > 1 else ''}: gap of {gaps[k]:.3f} mm "
                f"between {planes[k].where} and {planes[k + 1].where}, the other slices are "
                f"{spacing:.3f} mm apart"
            )
        raise GeometryError(
            f"irregular slice spacing: {gaps[k]:.3f} mm between {planes[k].where} and "
            f"{planes[k + 1].where}, median {spacing:.3f} mm (gaps from "
            f"{gaps.min():.3f} to {gaps.max():.3f} mm)"
        )
    row_dir = np.asarray(first.orientation[:3], float)
    col_dir = np.asarray(first.orientation[3:], float)
    row_spacing, col_spacing = first.pixel_spacing  # between rows, between columns
    lps = np.eye(4)
    lps[:3, 0] = row_dir * col_spacing  # i = column index, moves along the row direction
    lps[:3, 1] = col_dir * row_spacing  # j = row index, moves along the column direction
    lps[:3, 2] = (pos[-1] - pos[0]) / (len(planes) - 1)
    lps[:3, 3] = pos[0]
    return Grid(tuple(planes), LPS_TO_RAS @ lps, spacing)
