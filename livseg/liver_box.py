"""The liver's box view: the organ's bounding box, cut from the image at its own resolution,
and how a second pass of a network on it is combined with the first (protocol amendment 6,
docs/methods.md).

A network sees every case resampled in-plane to its 256 x 256 grid, so a 7 mm lesion at a
torso field of view (1.4-2 mm a grid pixel) is 3-5 pixels. The box view is the organ's box
(labels > 0) grown by ``ZOOM_MARGIN_MM`` in-plane and one slice in z, resampled to the same
grid: the liver fills the frame. Training caches it from the reference labels; inference
takes it from the first pass's organ. Pure functions on arrays (labels (X, Y, Z), spacing
in mm).
"""

from __future__ import annotations

import numpy as np

ZOOM_MARGIN_MM = 8.0  # mm added to the organ's box on each in-plane side
ZOOM_RULES = ("one_pass", "replace", "tumour", "union")  # combine_passes' rules


def organ_box(
    labels: np.ndarray, spacing: tuple[float, float, float], margin_mm: float = ZOOM_MARGIN_MM
) -> tuple[slice, slice, slice] | None:
    """The box of the organ (``labels > 0``), grown by ``margin_mm`` (mm) in x and y and one
    slice in z, clipped to the array; None when there is no organ."""
    from livseg.masks import bounding_box

    box = bounding_box(np.asarray(labels) > 0)
    if box is None:
        return None
    shape = labels.shape
    out = []
    for ax, s in enumerate(box):
        pad = 1 if ax == 2 else int(np.ceil(margin_mm / float(spacing[ax])))
        out.append(slice(max(0, s.start - pad), min(shape[ax], s.stop + pad)))
    return out[0], out[1], out[2]


def combine_passes(
    first: np.ndarray,
    zoomed: np.ndarray | None,
    box: tuple[slice, slice, slice] | None,
    rule: str,
) -> np.ndarray:
    """Labels (0 background, 1 liver, 2 tumour) from a first pass on the whole image and a
    second pass ``zoomed`` on its organ's ``box`` (same voxels as ``first[box]``).

    Rules: ``one_pass`` ``first`` as it is; ``replace`` inside the box the second pass's
    labels, outside it the first's; ``tumour`` the first pass's organ (labels > 0), tumour
    where the second pass calls it inside that organ; ``union`` the first pass's organ,
    tumour where either pass calls it inside that organ. Without a box (no organ found) or
    a second pass, ``first`` is returned. A new array; the inputs are not changed.
    """
    if rule not in ZOOM_RULES:
        raise ValueError(f"unknown zoom rule {rule!r}; choose from {', '.join(ZOOM_RULES)}")
    first = np.asarray(first)
    if rule == "one_pass" or box is None or zoomed is None:
        return first.copy()
    if zoomed.shape != first[box].shape:
        raise ValueError(
            f"the second pass's labels {zoomed.shape} do not match the box {first[box].shape}"
        )
    if rule == "replace":
        out = first.copy()
        out[box] = zoomed
        return out
    organ = first > 0
    tumour = np.zeros_like(organ)
    tumour[box] = zoomed == 2
    if rule == "union":
        tumour |= first == 2
    out = organ.astype(np.uint8)
    out[organ & tumour] = 2
    return out
