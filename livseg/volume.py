"""The core nouns shared by every module: a CT ``Volume`` and a ``Case``.

Orientation convention (all of livseg): arrays are in the canonical orientation LAS+
(``CANONICAL_AXCODES``), axes ``(x, y, z)``: x runs from the patient's right towards the
patient's left (so x index 0 is the patient's right, drawn on the viewer's left in the
radiological convention), y towards anterior, z towards superior. In world (NIfTI RAS mm)
coordinates the affine therefore has a negative x column. ``livseg.io`` reorients every
file to it and writes results back on the file's own grid. An axial slice is
``array[:, :, k]``. ``spacing`` gives the
voxel size in mm along those three axes. Label maps use the LiTS / MSD Task03 convention:
0 background, 1 liver, 2 tumour (tumour lies inside the liver).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CANONICAL_AXCODES = ("L", "A", "S")  # nibabel axis codes: the direction each axis points to

BACKGROUND, LIVER, TUMOUR = 0, 1, 2
# plausible voxel spacing (mm per axis): livseg.io refuses files outside it, the viewer
# payload arrays outside it (one limit for both)
MIN_SPACING_MM = 0.05
MAX_SPACING_MM = 20.0
LABEL_NAMES = {BACKGROUND: "background", LIVER: "liver", TUMOUR: "tumour"}


@dataclass
class Volume:
    """A CT volume in HU on the canonical (LAS+) grid.

    array: float32 HU, shape (X, Y, Z) in LAS+; spacing: mm per axis (positive); affine: 4x4
    voxel -> world RAS mm
    of ``array``. ``source`` optionally records how to map back to the file's own grid
    (filled by ``livseg.io``; see there).
    """

    array: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray
    source: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in mL (mm^3 / 1000)."""
        return float(np.prod(self.spacing)) / 1000.0


@dataclass
class Case:
    """A Volume plus an optional reference label map on the same grid (uint8, 0/1/2)."""

    case_id: str
    volume: Volume
    labels: np.ndarray | None = None
    split: str = "test"
    meta: dict = field(default_factory=dict)
