"""The compact binary payload that the browser slice viewer receives once per case.

A CT volume in HU plus one or more label maps (0 background / 1 liver / 2 tumour) on the
same (x, y, z) canonical LAS+ grid (see ``livseg.volume``) become one ``bytes`` blob:

``b"LSV1"`` | uint32 little-endian header length | JSON header (UTF-8) | sections.

Each section is zlib/deflate-compressed (the browser inflates it with
``DecompressionStream('deflate')``); the header lists offset, length and layout of each one.

- CT: HU clipped to [-1024, 3071], stored as uint16 ``HU + 1024`` in (z, y, x) C order
  (an axial slice is contiguous), in slabs of 16 axial slices, each split into a high-byte
  plane then a low-byte plane before deflate ("shuffle16": 20-25 % smaller than plain int16
  deflate on noisy CT). Slabs let the browser draw the first slice before the rest is
  inflated. When the
  compressed payload would exceed ``max_bytes`` the CT is averaged over ``f x f`` in-plane
  blocks (f = 2, 3, 4) for transport and stored in 2 HU steps (``hu_step``); a 512 x 512 x 120 noisy CT is ~24 MB at full
  resolution and ~5.6 MB at 256 x 256 (measured, see docs/viewer.md).
- Labels: uint8 (z, y, x) per panel, cropped to the bounding box of the non-zero voxels
  (``bbox`` in the header: less to inflate and to hold in the browser), always at the full
  grid (they compress to a few hundred kB), so outlines stay sharp when the CT is
  downsampled.

The header carries only arrays' layout, spacing (mm), opaque panel titles chosen by the
caller and structure volumes (mL): no method name, no file path. Colours are fixed per
structure in the viewer, never per panel.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
import zlib
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

import numpy as np

from livseg.masks import bounding_box_list as label_bbox
from livseg.metrics import check_labels
from livseg.resample import block_mean
from livseg.volume import LIVER, MAX_SPACING_MM, MIN_SPACING_MM, TUMOUR

MAGIC = b"LSV1"
HU_MIN, HU_MAX = -1024, 3071
HU_OFFSET = 1024
DEFAULT_MAX_BYTES = 8_000_000
MAX_PANELS = 6
SLAB_SLICES = 8  # axial slices per CT section: the browser paints the first slab it needs
MAX_VOXELS = 512 * 512 * 1200
# beyond this many voxels the label maps are downsampled like the CT (browser memory)
MAX_FULL_LABEL_VOXELS = 64_000_000
STRUCTURES = ({"value": LIVER, "name": "liver"}, {"value": TUMOUR, "name": "tumour"})


class ViewerPayloadError(ValueError):
    """Input that cannot be turned into a viewer payload (shape, dtype, values, spacing)."""


@dataclass(frozen=True)
class ViewerPayload:
    """What the browser viewer receives for one case (build it with ``build_payload``).

    data: the binary blob sent to the browser (bytes); shape: label grid (X, Y, Z) voxels;
    spacing: mm per axis of that grid; ct_factor: in-plane block size of the transported
    CT (1 = full resolution); panel_titles: caller-chosen opaque titles, one per label map;
    volumes_ml: per panel, {"liver": mL, "tumour": mL} computed at full resolution
    (tumour counts inside the liver volume too: liver = labels 1 and 2).
    """

    data: bytes
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    ct_factor: int
    panel_titles: tuple[str, ...]
    volumes_ml: tuple[dict[str, float], ...]
    payload_id: str
    ct_id: str = ""  # content key of the CT sections alone (the same for every label map)

    @property
    def nbytes(self) -> int:
        """Size of the blob in bytes."""
        return len(self.data)


def _check_volume(volume_hu: np.ndarray) -> np.ndarray:
    arr = np.asarray(volume_hu)
    if arr.ndim != 3:
        raise ViewerPayloadError(f"CT volume must be 3D (x, y, z), got shape {arr.shape}")
    if min(arr.shape) < 1:
        raise ViewerPayloadError(f"CT volume has an empty axis: shape {arr.shape}")
    if arr.size > MAX_VOXELS:
        raise ViewerPayloadError(
            f"CT volume too large for the viewer: {arr.size} voxels > {MAX_VOXELS}"
        )
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ViewerPayloadError(f"CT volume must hold numbers in HU, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ViewerPayloadError("CT volume contains NaN or infinite values")
    return arr


def _check_spacing(spacing) -> tuple[float, float, float]:
    try:
        sp = tuple(float(s) for s in spacing)
    except (TypeError, ValueError) as exc:
        raise ViewerPayloadError(f"spacing must be 3 numbers in mm, got {spacing!r}") from exc
    if len(sp) != 3 or not all(
        np.isfinite(s) and MIN_SPACING_MM <= s <= MAX_SPACING_MM for s in sp
    ):  # the limits livseg.io applies to files
        raise ViewerPayloadError(
            f"spacing must be 3 finite numbers in [{MIN_SPACING_MM}, {MAX_SPACING_MM}] mm, "
            f"got {spacing!r}"
        )
    return sp  # type: ignore[return-value]


def _check_labels(labels, shape: tuple[int, ...]) -> list[tuple[str, np.ndarray]]:
    if labels is None:
        return []
    if isinstance(labels, Mapping):
        items = list(labels.items())
    else:
        items = [("", labels)]
    if len(items) > MAX_PANELS:
        raise ViewerPayloadError(f"at most {MAX_PANELS} label maps per viewer, got {len(items)}")
    out = []
    for title, lab in items:
        if not isinstance(title, str):
            raise ViewerPayloadError(f"panel titles must be strings, got {type(title).__name__}")
        arr = np.asarray(lab)
        if arr.shape != shape:
            raise ViewerPayloadError(
                f"label map {title!r} has shape {arr.shape}, CT volume has {shape}"
            )
        try:  # the one label rule (livseg.metrics.check_labels)
            out.append((title, check_labels(arr, f"label map {title!r}")))
        except ValueError as exc:
            raise ViewerPayloadError(str(exc)) from None
    return out


def med_residuals(values: np.ndarray) -> np.ndarray:
    """Prediction residuals of non-negative int values (z, y, x): value minus the median edge
    detector (LOCO-I / JPEG-LS) prediction from the left (a), upper (b) and upper-left (c)
    neighbours of the same slice, 0 outside the slice. MED = median(a, b, a + b - c) =
    a + b - c clamped to [min(a, b), max(a, b)]. The browser inverts it row by row."""
    v = np.asarray(values, np.int32)
    res = v.copy()
    res[:, 0, 1:] -= v[:, 0, :-1]  # first row: b = c = 0, so p = a (values >= 0)
    res[:, 1:, 0] -= v[:, :-1, 0]  # first column: a = c = 0, so p = b
    a, b, c = v[:, 1:, :-1], v[:, :-1, 1:], v[:, :-1, :-1]
    pred = a + b
    pred -= c
    np.minimum(pred, np.maximum(a, b), out=pred)
    np.maximum(pred, np.minimum(a, b), out=pred)
    res[:, 1:, 1:] -= pred
    return res


def _deflate_rle(data: bytes, level: int) -> bytes:
    """zlib stream with run-length matches only: noise has no long matches to find, air and
    masked background are long runs (smaller and faster than the default strategy here)."""
    comp = zlib.compressobj(level, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    return comp.compress(data) + comp.flush()


def transport_hu(volume_hu: np.ndarray, factor: int = 1, step: int = 1) -> np.ndarray:
    """HU for transport: ``factor`` x ``factor`` in-plane block means (1 = as is), rounded to
    a multiple of ``step`` HU, clipped to [-1024, 3071], as int16 in (z, y, x) order (an
    axial slice contiguous)."""
    arr = block_mean(volume_hu, factor, factor) if factor != 1 else np.asarray(volume_hu)
    zyx = np.empty(arr.shape[::-1], np.int16)
    for z in range(arr.shape[2]):  # slice by slice: no full-size float temporary
        plane = np.rint(np.asarray(arr[:, :, z], np.float32) / step) * step
        zyx[z] = np.clip(plane, HU_MIN // step * step, HU_MAX // step * step).T
    return zyx


def _encode_ct(
    zyx_hu: np.ndarray, level: int, step: int = 1
) -> tuple[list[tuple[bytes, bytes]], list[tuple[int, int]], tuple[int, int, int]]:
    """Predictive slabs of ``SLAB_SLICES`` axial slices of int16 HU (z, y, x) from
    ``transport_hu``: ([(codes, escapes)], [(z0, z1)], shape (x, y, z)).

    Stored value v = round(HU / step) + 1024 / step (>= 0); per voxel in (z, y, x) order the
    MED residual (``med_residuals``) is zigzag-mapped (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...)
    and written as one byte, 255 meaning "the next uint16 LE of the escape stream"; the byte
    stream is deflated with run-length matches, the escape stream plainly. The browser
    computes HU = (v - 1024 / step) * step.
    """
    blobs, ranges = [], []
    nz = zyx_hu.shape[0]
    for z0 in range(0, nz, SLAB_SLICES):
        z1 = min(z0 + SLAB_SLICES, nz)
        if step == 1:
            values = zyx_hu[z0:z1].astype(np.int32)
        else:
            values = np.rint(zyx_hu[z0:z1] / np.float32(step)).astype(np.int32)
        values += HU_OFFSET // step
        np.maximum(values, 0, out=values)  # -1024 HU with odd steps: never below 0
        res = med_residuals(values).ravel()
        zig = ((res << 1) ^ (res >> 31)).astype(np.uint32)
        escaped = zig >= 255
        codes = np.minimum(zig, 255).astype(np.uint8)
        blobs.append(
            (
                _deflate_rle(codes.tobytes(), level),
                zlib.compress(zig[escaped].astype("<u2").tobytes(), level),
            )
        )
        ranges.append((z0, z1))
    return blobs, ranges, tuple(int(v) for v in zyx_hu.shape[::-1])


def body_mask(volume_hu: np.ndarray) -> np.ndarray:
    """Voxels of the body, generously (bool, (x, y, z)): above -500 HU, holes filled per axial
    slice (lungs, bowel gas), dilated by 8 voxels in-plane; computed on a 4x subsampled grid
    (fast) and repeated back. Outside it is air, table edge and noise."""
    from scipy import ndimage

    arr = np.asarray(volume_hu)
    coarse = arr[::4, ::4, :] > -500
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    filled = ndimage.binary_fill_holes(coarse, structure=in_plane)
    filled = ndimage.binary_dilation(filled, structure=in_plane, iterations=2)
    full = filled.repeat(4, axis=0).repeat(4, axis=1)[: arr.shape[0], : arr.shape[1], :]
    return np.ascontiguousarray(full)


def noise_sd_hu(volume_hu: np.ndarray) -> float:
    """Robust image noise SD in HU inside the body: MAD of neighbour differences along x
    (both voxels above -500 HU) over up to 12 axial slices, / sqrt(2); inf when unknown."""
    arr = np.asarray(volume_hu)
    picks = np.linspace(0, arr.shape[2] - 1, min(12, arr.shape[2])).round().astype(int)
    sample = np.asarray(arr[:, :, picks], np.float32)
    diff = np.diff(sample, axis=0)
    inside = (sample[1:] > -500) & (sample[:-1] > -500)
    d = diff[inside]
    if d.size < 100:
        return float("inf")
    mad = float(np.median(np.abs(d - np.median(d))))
    return 1.4826 * mad / np.sqrt(2.0)


def _estimated_ct_bytes(sample: np.ndarray, nz: int, level: int, step: int) -> float:
    """Compressed CT size extrapolated from ``sample`` (a few evenly spaced axial slices,
    int16 (z, y, x)) of a volume of ``nz`` slices; 0 for small volumes (encoded outright)."""
    if nz <= 12:
        return 0.0
    blobs, _, _ = _encode_ct(sample, level, step)
    return sum(len(a) + len(b) for a, b in blobs) * nz / sample.shape[0]


HU_STEPS = (1, 2, 3, 4, 5, 6, 8)  # HU quantisation steps tried at one in-plane resolution


def _ct_plans(noise: float, factors: list[int], label_factor: int):
    """(factor, step, masked) in the order tried: full resolution first, lossless, then
    lossless inside the body (air outside set to -1024 HU), then coarser HU steps inside
    the body up to half the image noise SD (quantisation error SD step / sqrt(12) <= SD / 7),
    and only then the next in-plane block size."""
    max_step = max(1, int(noise // 2)) if np.isfinite(noise) else max(HU_STEPS)
    for factor in factors:
        if factor == label_factor:
            yield factor, 1, False
            for step in HU_STEPS:
                if step <= max_step:
                    yield factor, step, True
        else:  # a block mean is approximate anyway: 2 HU steps, as before
            yield factor, 2, True


def _encode_labels(labels: np.ndarray, level: int) -> tuple[bytes, list[int]]:
    """Deflate of the labels cropped to their bounding box, (z, y, x) order, and the box."""
    x0, x1, y0, y1, z0, z1 = box = label_bbox(labels)
    crop = labels[x0:x1, y0:y1, z0:z1]
    return zlib.compress(np.ascontiguousarray(crop.transpose(2, 1, 0)).tobytes(), level), box


MAX_LESIONS = 50  # per panel, the largest first


def tumour_lesions(
    labels: np.ndarray, spacing: tuple[float, float, float]
) -> list[dict[str, object]]:
    """The tumour components of a label map (26-connectivity, as the lesion table), largest
    first (at most ``MAX_LESIONS``): {"centre": [x, y, z] voxel nearest the centroid,
    "volume_ml": mL, "z": [z0, z1] half-open axial range}."""
    from scipy import ndimage

    from livseg.metrics import LESION_STRUCTURE

    x0, x1, y0, y1, z0, z1 = label_bbox(labels)
    tumour = labels[x0:x1, y0:y1, z0:z1] == TUMOUR
    if not tumour.any():
        return []
    comp, n = ndimage.label(tumour, structure=LESION_STRUCTURE)
    sizes = np.bincount(comp.ravel())[1:]
    order = np.argsort(-sizes, kind="stable")[:MAX_LESIONS]
    centres = ndimage.center_of_mass(tumour, comp, [int(i) + 1 for i in order])
    boxes = ndimage.find_objects(comp)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    out = []
    for i, centre in zip(order, centres, strict=True):
        cx, cy, cz = (int(round(c)) for c in centre)
        out.append(
            {
                "centre": [x0 + cx, y0 + cy, z0 + cz],
                "volume_ml": round(float(sizes[i]) * voxel_ml, 4),
                "z": [z0 + boxes[i][2].start, z0 + boxes[i][2].stop],
            }
        )
    return out


def structure_volumes_ml(
    labels: np.ndarray, spacing: tuple[float, float, float]
) -> dict[str, float]:
    """Liver (labels 1 and 2: tumour lies inside the liver) and tumour (label 2) volumes in mL."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    x0, x1, y0, y1, z0, z1 = label_bbox(labels)  # count inside the box only (fast)
    counts = np.bincount(labels[x0:x1, y0:y1, z0:z1].ravel(), minlength=3)
    return {
        "liver": float((counts[LIVER] + counts[TUMOUR]) * voxel_ml),
        "tumour": float(counts[TUMOUR] * voxel_ml),
    }


def build_payload(
    volume_array_hu: np.ndarray,
    spacing,
    labels: Mapping[str, np.ndarray] | np.ndarray | None = None,
    *,
    title: str = "",
    downsample: int | str = "auto",
    max_bytes: int = DEFAULT_MAX_BYTES,
    level: int = 6,
    ct_cache: MutableMapping | None = None,
) -> ViewerPayload:
    """Pack a CT (HU, (x, y, z)) and its label map(s) into the viewer's binary payload.

    labels: one label map (a single panel) or {opaque panel title: label map} for the
    side-by-side comparison (panels share the slice). ``title`` and panel titles are shown
    as given: pass opaque item codes for readers, never method names or file paths.
    downsample: "auto" (smallest in-plane factor 1..4 whose payload fits ``max_bytes``) or
    an int factor. Deterministic: the same input gives the same bytes (cache-friendly).
    ct_cache: optional mapping the caller keeps for ONE CT (e.g. per file and modification
    time): the CT's size estimates and encodings per plan are kept there, so another label
    map of the same CT (the next method of the case) costs only its labels. Pass a fresh
    mapping for another CT: a cache used with another volume gives that volume's CT.
    Raises ``ViewerPayloadError`` on bad input.
    """
    arr = _check_volume(volume_array_hu)
    cache = {} if ct_cache is None else ct_cache
    sp = _check_spacing(spacing)
    if not isinstance(title, str):
        raise ViewerPayloadError(f"title must be a string, got {type(title).__name__}")
    panels = _check_labels(labels, arr.shape)
    if downsample == "auto":
        factors = [1, 2, 3, 4]
    elif isinstance(downsample, (int, np.integer)) and 1 <= int(downsample) <= 8:
        factors = [int(downsample)]
    else:
        raise ViewerPayloadError(f"downsample must be 'auto' or an int 1..8, got {downsample!r}")

    label_factor = 1
    if arr.size > MAX_FULL_LABEL_VOXELS:
        label_factor = 2
        while arr.size / label_factor**2 > MAX_FULL_LABEL_VOXELS:
            label_factor += 1
    grid_labels = [(t, lab[::label_factor, ::label_factor, :]) for t, lab in panels]
    grid_shape = (
        -(-arr.shape[0] // label_factor),
        -(-arr.shape[1] // label_factor),
        arr.shape[2],
    )
    grid_spacing = (sp[0] * label_factor, sp[1] * label_factor, sp[2])
    encoded = [_encode_labels(lab, level) for _, lab in grid_labels]
    label_blobs = [blob for blob, _ in encoded]
    label_bytes = sum(len(b) for b in label_blobs)

    factors = [f for f in factors if f >= label_factor] or [label_factor]
    if "noise_sd_hu" not in cache:
        cache["noise_sd_hu"] = noise_sd_hu(arr)
    plans = list(_ct_plans(cache["noise_sd_hu"], factors, label_factor))
    mask = None
    picks = np.linspace(0, arr.shape[2] - 1, 12).round().astype(int)
    prepared: dict[tuple[int, bool], np.ndarray] = {}  # (factor, body only) -> int16 (z, y, x)

    def source(factor: int, step: int, masked: bool) -> np.ndarray:
        """int16 (z, y, x) HU of a plan (full resolution: 1 HU, the step is applied when
        encoding, error <= step / 2 + 0.5 HU; a block mean goes in its step straight away)."""
        nonlocal mask
        if (factor, masked) not in prepared:
            zyx = transport_hu(arr, factor, 1 if factor == label_factor else step)
            if masked:
                if mask is None:
                    mask = body_mask(arr)
                keep = mask[::factor, ::factor, :].transpose(2, 1, 0)
                zyx[~keep[:, : zyx.shape[1], : zyx.shape[2]]] = HU_MIN
            prepared[(factor, masked)] = zyx
        return prepared[(factor, masked)]

    for n_plan, (factor, step, masked) in enumerate(plans):
        if masked and "all_body" not in cache:
            mask = body_mask(arr)
            cache["all_body"] = bool(mask.all())
        if masked and cache["all_body"]:  # nothing outside the body: masking changes nothing
            if step == 1 and factor == label_factor:
                continue  # the same as the lossless plan before it
            masked = False
        plan = (factor, step, masked, level)
        # the 12-slice estimate is within ~1 % of the real size on CT-like volumes
        if n_plan != len(plans) - 1:
            if ("estimate", plan) not in cache:
                cache[("estimate", plan)] = _estimated_ct_bytes(
                    source(factor, step, masked)[picks], arr.shape[2], level, step
                )
            if cache[("estimate", plan)] + label_bytes > 1.03 * max_bytes:
                continue  # clearly too big: skip the full compression (saves ~1 s per plan)
        if ("encoded", plan) not in cache:
            cache[("encoded", plan)] = _encode_ct(source(factor, step, masked), level, step)
        ct_blobs, ct_ranges, ct_shape = cache[("encoded", plan)]
        ct_bytes = sum(len(a) + len(b) for a, b in ct_blobs)
        if ct_bytes + label_bytes + 4096 <= max_bytes:
            break
    else:
        if downsample == "auto":
            raise ViewerPayloadError(
                f"payload does not fit {max_bytes} bytes even at {factors[-1]}x in-plane "
                f"downsampling ({ct_bytes + label_bytes} bytes); raise max_bytes"
            )
    if factor % label_factor:
        raise ViewerPayloadError(
            f"downsample {factor} must be a multiple of the label grid factor {label_factor}"
        )

    sections = [blob for pair in ct_blobs for blob in pair] + label_blobs
    n_ct = 2 * len(ct_blobs)
    offsets = np.cumsum([0] + [len(b) for b in sections]).tolist()
    volumes = tuple(structure_volumes_ml(lab, sp) for _, lab in panels)
    digest = hashlib.blake2b(digest_size=12)
    ct_digest = hashlib.blake2b(digest_size=12)
    for i, blob in enumerate(sections):
        blob_digest = hashlib.blake2b(blob, digest_size=16).digest()
        digest.update(blob_digest)
        if i < n_ct:
            ct_digest.update(blob_digest)
    ct_digest.update(json.dumps([ct_shape, factor, label_factor, step]).encode())
    header = {
        "version": 1,
        "title": title,
        "shape": list(grid_shape),
        "spacing": list(grid_spacing),
        "ct": {
            "id": ct_digest.hexdigest(),  # the browser reuses a decoded CT across label maps
            "factor": factor // label_factor,
            "shape": list(ct_shape),
            "encoding": "med-zigzag-escape-slabs",
            "hu_offset": HU_OFFSET // step,
            "hu_step": step,
            "body_only": bool(masked),
            "slabs": [
                {
                    "z0": z0,
                    "z1": z1,
                    "offset": offsets[2 * i],
                    "length": len(ct_blobs[i][0]),
                    "escapes_offset": offsets[2 * i + 1],
                    "escapes_length": len(ct_blobs[i][1]),
                }
                for i, (z0, z1) in enumerate(ct_ranges)
            ],
        },
        "panels": [
            {
                "title": t,
                "volumes_ml": volumes[i],
                "lesions": tumour_lesions(grid_labels[i][1], grid_spacing),
                "bbox": encoded[i][1],
                "offset": offsets[n_ct + i],
                "length": len(label_blobs[i]),
            }
            for i, (t, _) in enumerate(grid_labels)
        ],
        "structures": list(STRUCTURES),
    }
    header["id"] = digest.hexdigest() + f"-{len(sections)}"
    head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    head += b" " * ((-len(head) - 8) % 8)
    data = MAGIC + struct.pack("<I", len(head)) + head + b"".join(sections)
    return ViewerPayload(
        data=data,
        shape=grid_shape,
        spacing=grid_spacing,
        ct_factor=factor,
        panel_titles=tuple(t for t, _ in panels),
        volumes_ml=volumes,
        payload_id=header["id"],
        ct_id=header["ct"]["id"],
    )


def _split(data: bytes) -> tuple[dict, memoryview]:
    if len(data) < 8 or data[:4] != MAGIC:
        raise ViewerPayloadError("not a LivSeg viewer payload (bad magic)")
    (head_len,) = struct.unpack("<I", data[4:8])
    return json.loads(data[8 : 8 + head_len].decode("utf-8")), memoryview(data)[8 + head_len :]


def without_ct(payload: ViewerPayload) -> ViewerPayload:
    """The payload for a browser that already holds its CT (sent with an earlier item of the
    same case): the same header and label maps, no CT sections (``ct.slabs`` empty,
    ``ct.held`` true, ``ct.id`` the content key the browser finds it by)."""
    header, body = _split(payload.data)
    ct = header["ct"]
    if ct.get("held"):
        return payload
    ct_end = max([0] + [s["escapes_offset"] + s["escapes_length"] for s in ct["slabs"]])
    ct["slabs"], ct["held"] = [], True
    for panel in header["panels"]:
        panel["offset"] -= ct_end
    head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    head += b" " * ((-len(head) - 8) % 8)
    data = MAGIC + struct.pack("<I", len(head)) + head + bytes(body[ct_end:])
    return dataclasses.replace(payload, data=data)


def _undo_med(res: np.ndarray) -> np.ndarray:
    """Invert ``med_residuals`` (z, y, x). A voxel depends on its left, upper and upper-left
    neighbours only, so each anti-diagonal (x + y = d) follows from the previous ones: one
    vectorised step per diagonal (the browser does it voxel by voxel, row by row)."""
    nz, ny, nx = res.shape
    vp = np.zeros((nz, ny + 1, nx + 1), np.int32)  # one zero row / column before the slice
    for d in range(nx + ny - 1):
        ys = np.arange(max(0, d - nx + 1), min(ny - 1, d) + 1)
        xs = d - ys
        a, b, c = vp[:, ys + 1, xs], vp[:, ys, xs + 1], vp[:, ys, xs]
        hi, lo = np.maximum(a, b), np.minimum(a, b)
        pred = np.where(c >= hi, lo, np.where(c <= lo, hi, a + b - c))
        vp[:, ys + 1, xs + 1] = res[:, ys, xs] + pred
    return vp[:, 1:, 1:]


def decode_payload(data: bytes) -> dict:
    """Unpack a payload blob (what the browser does), for tests and tools.

    Returns {"header": dict, "ct_hu": int16 (X', Y', Z) or None (``without_ct``),
    "labels": [uint8 (X, Y, Z), ...]}.
    """
    header, body = _split(data)
    ct = header["ct"]
    nx, ny, nz = ct["shape"]
    values = np.empty((nz, ny, nx), np.int32)
    for slab in ct["slabs"]:
        codes = np.frombuffer(
            zlib.decompress(body[slab["offset"] : slab["offset"] + slab["length"]]), np.uint8
        ).astype(np.uint32)
        start, length = slab["escapes_offset"], slab["escapes_length"]
        escapes = np.frombuffer(zlib.decompress(body[start : start + length]), "<u2")
        codes[codes == 255] = escapes
        res = ((codes >> 1).astype(np.int32) ^ -(codes & 1).astype(np.int32)).reshape(-1, ny, nx)
        values[slab["z0"] : slab["z1"]] = _undo_med(res)
    ct_hu = ((values - ct["hu_offset"]) * ct["hu_step"]).astype(np.int16)
    gx, gy, gz = header["shape"]
    labels = []
    for panel in header["panels"]:
        x0, x1, y0, y1, z0, z1 = panel["bbox"]
        crop = np.frombuffer(
            zlib.decompress(body[panel["offset"] : panel["offset"] + panel["length"]]), np.uint8
        )
        lab = np.zeros((gx, gy, gz), np.uint8)
        lab[x0:x1, y0:y1, z0:z1] = crop.reshape(z1 - z0, y1 - y0, x1 - x0).transpose(2, 1, 0)
        labels.append(lab)
    held = bool(ct.get("held"))  # labels only: the browser holds the CT already
    return {"header": header, "ct_hu": None if held else ct_hu.transpose(2, 1, 0), "labels": labels}
