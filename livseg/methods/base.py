"""The one interface every segmentation method implements, plus shared post-processing.

``Method.run(volume) -> (labels, MethodRun)``: the uint8 label map on the volume's own grid
(0 background, 1 liver, 2 tumour) and an immutable record of that one call (name, version,
device, params, seconds, threads). ``Method.segment(volume)`` returns the labels alone.
A method instance is shared (``livseg.methods.get_method`` caches it per process, Streamlit
sessions and threads included), so nothing about a run is written on it: ``_segment`` returns
its parameters with the labels. A method exposes only fixed facts: ``name``, ``title``,
``version`` (a short hash of its weights / parameters) and ``device``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy import ndimage

from livseg.masks import (
    bounding_box,
    connectivity_structure,
    largest_component,
    split_at_thin_bridges,
)
from livseg.volume import LIVER, TUMOUR, Volume

MAX_VOXELS = 1024 * 1024 * 1024  # refuse volumes over 1 Gi voxels (memory)


@dataclass(frozen=True)
class MethodRun:
    """How one ``Method.run`` call ran: one record per call, never shared or changed.

    params: every parameter of this run (read-only mapping, JSON-serialisable values);
    seconds: wall time of the call (s); threads: CPU threads it used (None when unknown).
    """

    name: str
    version: str
    device: str
    params: Mapping[str, Any]
    seconds: float
    threads: int | None

    def params_dict(self) -> dict:
        """A plain (deep) copy of ``params``, e.g. to write as JSON."""
        return copy.deepcopy(dict(self.params))


class Method(ABC):
    """A named segmenter: ``run(volume)`` returns labels on the volume's grid and the run's
    record; the instance holds only what is fixed (weights, device) and may be shared."""

    name: str = ""
    title: str = ""

    def __init__(self) -> None:
        self.device: str = "cpu"

    @property
    @abstractmethod
    def version(self) -> str:
        """Short hash identifying the weights / fixed parameters of this method."""

    @abstractmethod
    def _segment(self, volume: Volume) -> tuple[np.ndarray, dict]:
        """Method-specific work: (uint8 label map with ``volume``'s shape, this run's
        parameters incl. ``"threads"``). Must not write on ``self`` (the instance is shared)."""

    def run(self, volume: Volume) -> tuple[np.ndarray, MethodRun]:
        """Segment ``volume``: uint8 label map (0/1/2) of the same shape, post-processed, and
        the immutable record of this call (``seconds`` = wall time of the whole call)."""
        t0 = time.perf_counter()
        check_volume(volume)
        labels, params = self._segment(volume)
        if labels.shape != volume.shape:
            raise RuntimeError(
                f"{self.name}: produced labels of shape {labels.shape}, volume is {volume.shape}"
            )
        labels = labels.astype(np.uint8, copy=False)
        seconds = time.perf_counter() - t0
        params = copy.deepcopy(dict(params))
        threads = params.get("threads")
        record = MethodRun(
            name=self.name,
            version=self.version,
            device=self.device,
            params=MappingProxyType(params),
            seconds=seconds,
            threads=None if threads is None else int(threads),
        )
        return labels, record

    def segment(self, volume: Volume) -> np.ndarray:
        """Segment ``volume``: the labels of ``run`` without the record."""
        return self.run(volume)[0]

    def __repr__(self) -> str:
        return f"<Method {self.name} v{self.version} on {self.device}>"


def check_volume(volume: Volume) -> None:
    """Raise ValueError with a specific message when ``volume`` cannot be segmented."""
    if not isinstance(volume, Volume):
        raise TypeError(f"expected a livseg.volume.Volume, got {type(volume).__name__}")
    arr = volume.array
    if not isinstance(arr, np.ndarray) or arr.ndim != 3:
        raise ValueError(
            f"volume array must be a 3D numpy array, got shape {getattr(arr, 'shape', None)}"
        )
    if min(arr.shape) < 2:
        raise ValueError(f"volume is too small to segment: shape {arr.shape}")
    if arr.size > MAX_VOXELS:
        raise ValueError(f"volume has {arr.size} voxels, more than the limit {MAX_VOXELS}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"volume array must hold real HU numbers, got dtype {arr.dtype}")
    spacing = np.asarray(volume.spacing, dtype=float)
    if spacing.shape != (3,) or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise ValueError(f"voxel spacing must be three positive mm values, got {volume.spacing}")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ValueError("volume holds NaN or infinite values")


def params_hash(params: dict) -> str:
    """Short stable hash (12 hex) of a JSON-serialisable parameter dict."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def postprocess(
    labels: np.ndarray,
    spacing: tuple[float, float, float] | None = None,
    min_tumour_ml: float = 0.0,
    bridge_radius_mm: float = 0.0,
) -> np.ndarray:
    """What a user expects of a liver segmentation (returns a new uint8 map).

    1. The organ (liver + tumour) is reduced to its largest 26-connected component.
       With ``bridge_radius_mm`` > 0 (needs ``spacing``), that component is first split
       where it is thinner than 2 x ``bridge_radius_mm`` and only its largest thick body's
       part is kept (``livseg.masks.split_at_thin_bridges``: a spleen joined to the liver
       by a strip of wrong voxels comes off; protocol amendment 4).
    2. Tumour exists only inside that organ; tumour voxels outside it become background.
    3. With ``min_tumour_ml`` > 0 (needs ``spacing`` in mm), tumour components
       (26-connected) smaller than that many mL become liver: specks far below the
       smallest lesion a reader would report (the paper excluded lesions < 1 cm, 0.52 mL).
    """
    labels = np.asarray(labels)
    organ = largest_component(labels > 0, connectivity=26)
    if bridge_radius_mm > 0:
        if spacing is None:
            raise ValueError("bridge_radius_mm needs the voxel spacing (mm)")
        organ = split_at_thin_bridges(organ, spacing, bridge_radius_mm)
    out = np.zeros(labels.shape, dtype=np.uint8)
    out[organ] = LIVER
    tumour = organ & (labels == TUMOUR)
    if min_tumour_ml > 0 and tumour.any():
        if spacing is None:
            raise ValueError("min_tumour_ml needs the voxel spacing (mm)")
        box = bounding_box(tumour, margin=1)
        lab, n = ndimage.label(tumour[box], structure=connectivity_structure(26))
        sizes = np.bincount(lab.ravel()) * (float(np.prod(spacing)) / 1000.0)
        sizes[0] = 0.0
        keep = np.zeros(tumour.shape, dtype=bool)
        keep[box] = (sizes >= min_tumour_ml)[lab] & (lab > 0)
        tumour = keep
    out[tumour] = TUMOUR
    return out
