"""Slices, CT windows, label overlays and PNGs (pure numpy + PIL).

Display convention: axial images show x index 0 on the viewer's left and anterior (high y)
at the top; coronal images show superior at the top and x index 0 on the viewer's left;
sagittal images show superior at the top and anterior on the viewer's left. Input arrays
follow ``livseg.volume``'s canonical LAS+ grid ((x, y, z), x index 0 = the patient's
right), so this is the radiological view (patient's right on the viewer's left) for every
array LivSeg holds: phantoms and real files alike, since ``livseg.io`` reorients to LAS+.

Overlay colours are fixed per structure (``LIVER_RGB``, ``TUMOUR_RGB``) and never depend on
the method that produced the labels, so readers cannot tell methods apart by colour.
"""

from __future__ import annotations

import io

import numpy as np

# (width, level) in HU
ABDOMEN = (400.0, 40.0)
LIVER = (150.0, 90.0)

LIVER_RGB = (46, 204, 113)  # green
TUMOUR_RGB = (231, 60, 60)  # red

AXES = ("axial", "coronal", "sagittal")


def window(hu: np.ndarray, width: float, level: float) -> np.ndarray:
    """Map HU to uint8 grey: level - width/2 -> 0, level + width/2 -> 255, linear between
    (rounded to nearest), clipped outside. width in HU, > 0."""
    if not np.isfinite(width) or width <= 0:
        raise ValueError(f"window width must be a positive number of HU, got {width!r}")
    if not np.isfinite(level):
        raise ValueError(f"window level must be a finite number of HU, got {level!r}")
    lo = level - width / 2.0
    scaled = (np.asarray(hu, dtype=np.float32) - np.float32(lo)) * np.float32(255.0 / width)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _check_axis_index(array: np.ndarray, axis: str, index: int) -> int:
    if array.ndim != 3:
        raise ValueError(f"expected a 3D (x, y, z) array, got shape {array.shape}")
    if axis not in AXES:
        raise ValueError(f"axis must be one of {AXES}, got {axis!r}")
    n = array.shape[{"sagittal": 0, "coronal": 1, "axial": 2}[axis]]
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise ValueError(f"slice index must be an integer, got {index!r}")
    if not 0 <= int(index) < n:
        raise ValueError(f"{axis} slice index {index} out of range 0..{n - 1}")
    return int(index)


def display_slice(array: np.ndarray, axis: str, index: int) -> np.ndarray:
    """2D slice of an (x, y, z) array in display orientation (rows, cols), see the module doc.

    axial (rows = anterior->posterior, cols = x index 0 -> end), coronal (rows =
    superior->inferior, cols = x index 0 -> end), sagittal (rows = superior->inferior, cols =
    anterior->posterior).
    """
    array = np.asarray(array)
    k = _check_axis_index(array, axis, index)
    if axis == "axial":
        out = array[:, :, k].T[::-1, :]
    elif axis == "coronal":
        out = array[:, k, :].T[::-1, :]
    else:
        out = array[k, :, :].T[::-1, ::-1]
    return np.ascontiguousarray(out)


def pixel_size_mm(spacing, axis: str) -> tuple[float, float]:
    """(row, column) pixel size in mm of ``display_slice`` for a volume's spacing (x, y, z)."""
    sx, sy, sz = (float(s) for s in spacing)
    if axis == "axial":
        return (sy, sx)
    if axis == "coronal":
        return (sz, sx)
    if axis == "sagittal":
        return (sz, sy)
    raise ValueError(f"axis must be one of {AXES}, got {axis!r}")


def _boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of mask with at least one 4-neighbour outside it (image edges count as outside)."""
    padded = np.pad(mask, 1, constant_values=False)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:] & mask
    return mask & ~inner


def overlay_rgba(
    gray_u8: np.ndarray,
    labels2d: np.ndarray | None,
    opacity: float = 0.4,
    mode: str = "fill",
    show_liver: bool = True,
    show_tumour: bool = True,
) -> np.ndarray:
    """Grey image with the labels blended on top, as an opaque H x W x 4 uint8 RGBA image.

    mode "fill": liver (label 1) and tumour (label 2) pixels tinted with ``opacity``;
    mode "outline": the outline of the organ (labels >= 1) in the liver colour and of the
    tumour (label 2) in the tumour colour, drawn at ``max(opacity, 0.8)``.
    Colours are fixed: ``LIVER_RGB``, ``TUMOUR_RGB``.
    """
    gray = np.asarray(gray_u8)
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"gray_u8 must be a 2D uint8 image, got {gray.dtype} {gray.shape}")
    if not 0.0 <= float(opacity) <= 1.0:
        raise ValueError(f"opacity must be within 0..1, got {opacity!r}")
    if mode not in ("fill", "outline"):
        raise ValueError(f"mode must be 'fill' or 'outline', got {mode!r}")
    rgb = np.repeat(gray[:, :, None], 3, axis=2).astype(np.float32)
    if labels2d is not None:
        lab = np.asarray(labels2d)
        if lab.shape != gray.shape:
            raise ValueError(f"labels2d shape {lab.shape} differs from the image's {gray.shape}")
        layers = []
        if mode == "fill":
            if show_liver:
                layers.append((lab == 1, LIVER_RGB, float(opacity)))
            if show_tumour:
                layers.append((lab == 2, TUMOUR_RGB, float(opacity)))
        else:
            a = max(float(opacity), 0.8)
            if show_liver:
                layers.append((_boundary(lab >= 1), LIVER_RGB, a))
            if show_tumour:
                layers.append((_boundary(lab == 2), TUMOUR_RGB, a))
        for mask, colour, alpha in layers:
            if mask.any():
                rgb[mask] = rgb[mask] * (1.0 - alpha) + np.asarray(colour, np.float32) * alpha
    out = np.empty(gray.shape + (4,), np.uint8)
    out[:, :, :3] = np.clip(np.rint(rgb), 0, 255)
    out[:, :, 3] = 255
    return out


def to_square_pixels(
    image: np.ndarray, pixel_mm: tuple[float, float], nearest: bool = False
) -> np.ndarray:
    """Resample a 2D (or H x W x C) image so rows and columns have the same mm size
    (the smaller of the two); used for coronal / sagittal views of thick-slice volumes."""
    from PIL import Image

    img = np.asarray(image)
    row_mm, col_mm = (float(v) for v in pixel_mm)
    if row_mm <= 0 or col_mm <= 0:
        raise ValueError(f"pixel sizes must be > 0 mm, got {pixel_mm!r}")
    step = min(row_mm, col_mm)
    h = max(1, int(round(img.shape[0] * row_mm / step)))
    w = max(1, int(round(img.shape[1] * col_mm / step)))
    if (h, w) == img.shape[:2]:
        return img.copy()
    resample = Image.NEAREST if nearest else Image.BILINEAR
    if img.ndim == 2:
        return np.asarray(Image.fromarray(img).resize((w, h), resample))
    chans = [
        np.asarray(Image.fromarray(np.ascontiguousarray(img[:, :, c])).resize((w, h), resample))
        for c in range(img.shape[2])
    ]
    return np.stack(chans, axis=2)


def png_bytes(image: np.ndarray) -> bytes:
    """PNG file contents of a uint8 image: H x W (grey), H x W x 3 (RGB) or H x W x 4 (RGBA)."""
    from PIL import Image

    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"png_bytes needs a uint8 image, got {img.dtype}")
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (3, 4))):
        raise ValueError(f"png_bytes needs H x W, H x W x 3 or H x W x 4, got shape {img.shape}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG")
    return buf.getvalue()


def montage(images: list[np.ndarray], ncols: int, pad: int = 4, background: int = 0) -> np.ndarray:
    """Tile images (uint8 grey, RGB or RGBA; sizes may differ) in a grid of ``ncols`` columns,
    each centred in its cell, ``pad`` pixels apart. Returns an RGBA uint8 image."""
    if not images:
        raise ValueError("montage needs at least one image")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    tiles = []
    for im in images:
        a = np.asarray(im)
        if a.dtype != np.uint8:
            raise ValueError(f"montage images must be uint8, got {a.dtype}")
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        if a.shape[2] == 3:
            a = np.concatenate([a, np.full(a.shape[:2] + (1,), 255, np.uint8)], axis=2)
        tiles.append(a)
    nrows = -(-len(tiles) // ncols)
    cell_h = max(t.shape[0] for t in tiles)
    cell_w = max(t.shape[1] for t in tiles)
    out = np.zeros(
        (nrows * cell_h + (nrows + 1) * pad, ncols * cell_w + (ncols + 1) * pad, 4), np.uint8
    )
    out[:, :, :3] = background
    out[:, :, 3] = 255
    for i, t in enumerate(tiles):
        r, c = divmod(i, ncols)
        y = pad + r * (cell_h + pad) + (cell_h - t.shape[0]) // 2
        x = pad + c * (cell_w + pad) + (cell_w - t.shape[1]) // 2
        out[y : y + t.shape[0], x : x + t.shape[1]] = t
    return out
