"""DICOM in and out: CT series as livseg Volumes, label maps as DICOM Segmentations.

- ``read_series(path)``: a folder (recursive), a zip or an enhanced CT file -> Volume on the
  canonical LAS+ grid (``livseg.dicom.series``; discovery and checks in ``discovery`` and
  ``geometry``).
- ``write_segmentation(labels, like, path, ...)`` / ``read_segmentation(path)``: DICOM-SEG
  with the segments "Liver" and "Liver tumour" (``livseg.dicom.seg``).

``livseg.io.load_volume`` / ``load_labels`` dispatch here, so every command that takes an image
takes a DICOM series.
"""

from __future__ import annotations

from livseg.dicom.series import read_series

__all__ = ["read_series"]
