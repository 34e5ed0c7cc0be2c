"""livseg.render: window formula (hand-computed), display orientation on an asymmetric
volume, overlay colours, PNG bytes, montage."""

from __future__ import annotations

import io as _io

import numpy as np
import pytest
from PIL import Image

from livseg import render


def test_window_hand_computed_values():
    hu = np.array([-1000.0, -160.0, 0.0, 50.0, 240.0, 3000.0])
    # abdomen W400 / L40: 0 at -160 HU, 255 at +240 HU, 255/400 per HU between
    # 0 HU -> 160 * 0.6375 = 102; 50 HU -> 210 * 0.6375 = 133.875 -> 134
    assert render.window(hu, *render.ABDOMEN).tolist() == [0, 0, 102, 134, 255, 255]
    # liver W150 / L90: 0 at 15 HU, 255 at 165 HU; 100 HU -> 85 * 1.7 = 144.5 -> 144 (half to even)
    # 60 HU -> 45 * 1.7 = 76.5 -> 76; 120 HU -> 105 * 1.7 = 178.5 -> 178
    assert render.window(np.array([15.0, 60.0, 100.0, 120.0, 165.0]), *render.LIVER).tolist() == [
        0,
        76,
        144,
        178,
        255,
    ]
    assert render.ABDOMEN == (400.0, 40.0) and render.LIVER == (150.0, 90.0)
    out = render.window(np.zeros((3, 4), np.int16), 400, 40)
    assert out.dtype == np.uint8 and out.shape == (3, 4)


@pytest.mark.parametrize("width", [0, -10, float("nan")])
def test_window_rejects_bad_width(width):
    with pytest.raises(ValueError, match="window width"):
        render.window(np.zeros(3), width, 40)


@pytest.fixture()
def asymmetric():
    """(x, y, z) = (4, 5, 6) volume, value 100*x + 10*y + z: every voxel tells where it is."""
    x, y, z = np.meshgrid(np.arange(4), np.arange(5), np.arange(6), indexing="ij")
    return 100 * x + 10 * y + z


def test_axial_display_orientation(asymmetric):
    img = render.display_slice(asymmetric, "axial", 2)
    assert img.shape == (5, 4)  # rows = y, columns = x
    # top-left pixel: x = 0 (patient's right in livseg's convention), y = 4 (most anterior)
    assert img[0, 0] == 0 * 100 + 4 * 10 + 2
    # bottom-right: x = 3 (patient's left), y = 0 (posterior)
    assert img[-1, -1] == 3 * 100 + 0 * 10 + 2
    assert img[0, 1] == 100 + 40 + 2  # x grows to the right
    assert img[1, 0] == 30 + 2  # y falls downwards


def test_coronal_display_orientation(asymmetric):
    img = render.display_slice(asymmetric, "coronal", 3)
    assert img.shape == (6, 4)  # rows = z, columns = x
    assert img[0, 0] == 0 * 100 + 3 * 10 + 5  # superior (z = 5) at the top, x = 0 on the left
    assert img[-1, -1] == 3 * 100 + 3 * 10 + 0


def test_sagittal_display_orientation(asymmetric):
    img = render.display_slice(asymmetric, "sagittal", 1)
    assert img.shape == (6, 5)  # rows = z, columns = y
    assert img[0, 0] == 100 + 4 * 10 + 5  # superior at the top, anterior (y = 4) on the left
    assert img[-1, -1] == 100 + 0 * 10 + 0


def test_display_slice_bad_arguments(asymmetric):
    with pytest.raises(ValueError, match="axis must be one of"):
        render.display_slice(asymmetric, "oblique", 0)
    with pytest.raises(ValueError, match=r"axial slice index 6 out of range 0..5"):
        render.display_slice(asymmetric, "axial", 6)
    with pytest.raises(ValueError, match="out of range"):
        render.display_slice(asymmetric, "coronal", -1)
    with pytest.raises(ValueError, match="3D"):
        render.display_slice(asymmetric[:, :, 0], "axial", 0)


def test_pixel_size_mm():
    sp = (0.7, 0.8, 5.0)
    assert render.pixel_size_mm(sp, "axial") == (0.8, 0.7)
    assert render.pixel_size_mm(sp, "coronal") == (5.0, 0.7)
    assert render.pixel_size_mm(sp, "sagittal") == (5.0, 0.8)


def test_to_square_pixels_stretches_thick_slices():
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = render.to_square_pixels(img, (2.0, 1.0), nearest=True)
    assert out.shape == (6, 4)
    assert np.array_equal(out[::2], img) and np.array_equal(out[1::2], img)


def _labels():
    lab = np.zeros((8, 8), np.uint8)
    lab[1:7, 1:7] = 1
    lab[3:5, 3:5] = 2
    return lab


def test_overlay_fill_blends_fixed_colours():
    gray = np.full((8, 8), 100, np.uint8)
    out = render.overlay_rgba(gray, _labels(), opacity=0.5, mode="fill")
    assert out.shape == (8, 8, 4) and out.dtype == np.uint8
    assert np.all(out[..., 3] == 255)
    assert out[0, 0, :3].tolist() == [100, 100, 100]  # background untouched
    liver = [round(100 * 0.5 + c * 0.5) for c in render.LIVER_RGB]
    tumour = [round(100 * 0.5 + c * 0.5) for c in render.TUMOUR_RGB]
    assert out[1, 1, :3].tolist() == liver
    assert out[3, 3, :3].tolist() == tumour
    # opaque fill shows the pure, fixed colours
    full = render.overlay_rgba(gray, _labels(), opacity=1.0)
    assert tuple(full[2, 2, :3]) == render.LIVER_RGB and tuple(full[4, 4, :3]) == render.TUMOUR_RGB
    assert render.LIVER_RGB[1] > max(render.LIVER_RGB[0], render.LIVER_RGB[2])  # green-ish
    assert render.TUMOUR_RGB[0] > max(render.TUMOUR_RGB[1], render.TUMOUR_RGB[2])  # red-ish


def test_overlay_outline_and_toggles():
    gray = np.full((8, 8), 50, np.uint8)
    out = render.overlay_rgba(gray, _labels(), opacity=1.0, mode="outline")
    assert tuple(out[1, 1, :3]) == render.LIVER_RGB  # organ border
    assert tuple(out[1, 4, :3]) == render.LIVER_RGB
    assert out[2, 2, :3].tolist() == [50, 50, 50]  # organ interior untouched
    assert tuple(out[3, 3, :3]) == render.TUMOUR_RGB  # 2x2 tumour: all border
    no_liver = render.overlay_rgba(gray, _labels(), opacity=1.0, show_liver=False)
    assert no_liver[1, 1, :3].tolist() == [50, 50, 50]
    assert tuple(no_liver[3, 3, :3]) == render.TUMOUR_RGB
    nothing = render.overlay_rgba(gray, _labels(), show_liver=False, show_tumour=False)
    assert np.all(nothing[..., :3] == 50)
    assert np.all(render.overlay_rgba(gray, None)[..., :3] == 50)


def test_overlay_bad_arguments():
    gray = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match="shape"):
        render.overlay_rgba(gray, np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="opacity"):
        render.overlay_rgba(gray, _labels(), opacity=1.5)
    with pytest.raises(ValueError, match="mode"):
        render.overlay_rgba(gray, _labels(), mode="glow")
    with pytest.raises(ValueError, match="uint8"):
        render.overlay_rgba(gray.astype(float), _labels())


def test_png_bytes_decode_to_the_same_pixels():
    rgb = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    data = render.png_bytes(rgb)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(np.asarray(Image.open(_io.BytesIO(data))), rgb)
    gray = rgb[..., 0]
    assert np.array_equal(np.asarray(Image.open(_io.BytesIO(render.png_bytes(gray)))), gray)
    with pytest.raises(ValueError, match="uint8"):
        render.png_bytes(rgb.astype(np.float32))


def test_montage_layout():
    a = np.full((4, 6), 10, np.uint8)
    b = np.full((2, 2, 3), 200, np.uint8)
    out = render.montage([a, b, a], ncols=2, pad=1, background=0)
    # 2 rows x 2 columns of 4 x 6 cells, 1 px apart and around
    assert out.shape == (2 * 4 + 3, 2 * 6 + 3, 4)
    assert out[1, 1, 0] == 10  # first tile at the top-left
    assert out[1 + 1, 1 + 6 + 1 + 2, 0] == 200  # second tile centred in its cell
    assert out[0, 0, 0] == 0 and out[0, 0, 3] == 255
    with pytest.raises(ValueError, match="at least one"):
        render.montage([], ncols=2)
