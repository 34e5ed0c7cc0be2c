"""Turning another program's label map into LivSeg's labels (0 background, 1 liver, 2 tumour).

External tools number their structures their own way: TotalSegmentator writes liver = 5 in
its multi-label map, nnU-Net / MSD Task03 write liver = 1 and tumour = 2, a binary mask is
liver. ``read_label_values`` reads a prediction (NIfTI or DICOM-SEG, whose values are then its
segment numbers) onto an image's canonical grid, checked (same shape and affine, integer
values); ``map_labels`` applies a mapping such as ``{"liver": (5,), "tumour": ()}``;
``parse_mapping(["liver=5", "tumour=6,7"])`` reads the command line's ``--label`` options.

Without a mapping: values in {0, 1} are a binary liver mask, values in {0, 1, 2} are already
LivSeg's labels; anything else needs a mapping (the error lists the values found).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from livseg.volume import LIVER, TUMOUR, Volume

STRUCTURE_LABELS = {"liver": LIVER, "tumour": TUMOUR}
Mapping = dict[str, tuple[int, ...]]


def parse_mapping(items: list[str] | None) -> Mapping | None:
    """``["liver=5", "tumour=6,7"]`` -> ``{"liver": (5,), "tumour": (6, 7)}``; None for none.

    Raises ValueError for an unknown structure, a value that is not a positive integer, or
    one value given to both structures.
    """
    if not items:
        return None
    out: Mapping = {}
    for item in items:
        name, sep, values = str(item).partition("=")
        name = name.strip().lower()
        if not sep or name not in STRUCTURE_LABELS:
            raise ValueError(f"--label {item!r}: expected liver=N or tumour=N[,M...]")
        try:
            numbers = tuple(int(v) for v in values.split(",") if v.strip())
        except ValueError:
            raise ValueError(f"--label {item!r}: the values must be integers") from None
        if not numbers or any(v < 1 for v in numbers):
            raise ValueError(f"--label {item!r}: give one or more label values >= 1")
        out[name] = out.get(name, ()) + numbers
    both = set(out.get("liver", ())) & set(out.get("tumour", ()))
    if both:
        raise ValueError(f"label values {sorted(both)} given to both liver and tumour")
    return out


def read_label_values(path, like: Volume) -> np.ndarray:
    """The integer label values of ``path`` on ``like``'s canonical grid (int32).

    NIfTI: the stored values, read with ``livseg.io`` (same file checks), refused unless the
    shape and affine equal the image's (to ``AFFINE_TOLERANCE_MM``) and every value is an
    integer. ``.dcm``: a DICOM-SEG, as its segment numbers (``livseg.dicom.seg``).
    """
    from livseg.io import AFFINE_TOLERANCE_MM, LivSegInputError, load_volume

    path = Path(path)
    if path.name.lower().endswith(".dcm"):
        from livseg.dicom.seg import read_segmentation

        return read_segmentation(path, like=like).segments.astype(np.int32)
    vol = load_volume(path)
    image = like.source.get("path", "the image")
    if vol.shape != like.shape:
        raise LivSegInputError(
            path, f"shape {vol.shape} differs from the case image's {like.shape} ({image})"
        )
    diff = float(np.max(np.abs(vol.affine - like.affine)))
    if diff > AFFINE_TOLERANCE_MM:
        raise LivSegInputError(
            path,
            f"affine differs from the case image's ({image}) by up to {diff:.4g} mm: "
            "not on the image's voxel grid",
        )
    values = vol.array
    if not np.array_equal(values, np.round(values)) or values.min() < 0:
        raise LivSegInputError(path, "holds negative or non-integer values: not a label map")
    return values.astype(np.int32)


def map_labels(values: np.ndarray, mapping: Mapping | None, where="the label map") -> np.ndarray:
    """LivSeg labels (uint8 0/1/2) from ``values`` with ``mapping`` (see the module docstring).

    Raises ValueError naming ``where`` when no mapping is given and the values are not {0, 1}
    or {0, 1, 2}, or when a mapping is given and none of its values occurs at all.
    """
    present = np.unique(values)
    if mapping is None:
        extra = sorted(set(present.tolist()) - {0, LIVER, TUMOUR})
        if extra:
            shown = ", ".join(str(v) for v in present.tolist()[:12])
            raise ValueError(
                f"{where}: label values {shown}: give a mapping, e.g. --label liver=5 "
                "(TotalSegmentator) or --label liver=1 --label tumour=2"
            )
        return values.astype(np.uint8)
    out = np.zeros(values.shape, dtype=np.uint8)
    used = False
    for name in ("liver", "tumour"):  # tumour last: it lies inside the liver
        for v in mapping.get(name, ()):
            hit = values == v
            used = used or bool(hit.any())
            out[hit] = STRUCTURE_LABELS[name]
    if not used and present.size > 1:
        raise ValueError(
            f"{where}: none of the mapped values {mapping} occurs (values present: "
            f"{', '.join(str(v) for v in present.tolist()[:12])})"
        )
    return out
