"""Photo loading: formats, bit depths, orientation, and every kind of bad file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lift3d.errors import InputError
from lift3d.io import load_photo


def _gradient(w=64, h=48) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float32)
    y = np.linspace(0, 255, h, dtype=np.float32)
    r = np.broadcast_to(x[None, :], (h, w))
    g = np.broadcast_to(y[:, None], (h, w))
    b = np.full((h, w), 128, np.float32)
    return np.stack([r, g, b], axis=2).astype(np.uint8)


@pytest.mark.parametrize("ext,fmt", [(".jpg", "JPEG"), (".png", "PNG"), (".webp", "WEBP"),
                                     (".tif", "TIFF"), (".bmp", "BMP")])
def test_formats_decode_to_rgb(tmp_path, ext, fmt):
    p = tmp_path / f"img{ext}"
    Image.fromarray(_gradient()).save(p, format=fmt)
    ph = load_photo(p)
    assert ph.rgb.shape == (48, 64, 3) and ph.rgb.dtype == np.float32
    assert ph.alpha is None
    # Lossy formats differ a little; the gradient must survive.
    assert abs(float(ph.rgb[0, -1, 0]) - 1.0) < 0.06 and float(ph.rgb[0, 0, 0]) < 0.06


def test_sixteen_bit_greyscale_png(tmp_path):
    a = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    p = tmp_path / "g16.png"
    Image.fromarray(a).save(p)
    ph = load_photo(p)
    assert ph.rgb.shape == (48, 64, 3)
    assert ph.rgb[-1, -1, 0] == pytest.approx(1.0, abs=1e-3)
    assert ph.rgb[0, 0, 1] == pytest.approx(0.0, abs=1e-3)
    np.testing.assert_allclose(ph.rgb[..., 0], ph.rgb[..., 2])


def test_sixteen_bit_rgb_tiff(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    a = np.zeros((40, 50, 3), np.uint16)
    a[..., 0] = 65535
    a[..., 1] = 32768
    p = tmp_path / "c16.tif"
    tifffile.imwrite(p, a)
    ph = load_photo(p)
    assert ph.rgb[0, 0, 0] == pytest.approx(1.0, abs=0.01)
    assert ph.rgb[0, 0, 1] == pytest.approx(0.5, abs=0.01)


def test_greyscale_and_palette(tmp_path):
    Image.fromarray(_gradient()[..., 0]).save(tmp_path / "l.png")
    assert load_photo(tmp_path / "l.png").rgb.shape == (48, 64, 3)
    Image.fromarray(_gradient()).convert("P").save(tmp_path / "p.png")
    assert load_photo(tmp_path / "p.png").rgb.shape == (48, 64, 3)


def test_rgba_alpha_becomes_mask_and_background_is_white(tmp_path):
    rgba = np.zeros((40, 40, 4), np.uint8)  # black under transparency
    rgba[10:30, 10:30] = (200, 30, 30, 255)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    ph = load_photo(tmp_path / "a.png")
    assert ph.alpha is not None and ph.alpha[20, 20] == 1.0 and ph.alpha[0, 0] == 0.0
    np.testing.assert_allclose(ph.rgb[0, 0], [1, 1, 1])


def test_opaque_alpha_is_dropped(tmp_path):
    rgba = np.full((20, 20, 4), 255, np.uint8)
    Image.fromarray(rgba).save(tmp_path / "o.png")
    assert load_photo(tmp_path / "o.png").alpha is None


def test_exif_orientation_is_applied(tmp_path):
    img = Image.fromarray(_gradient(64, 48))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    p = tmp_path / "rot.jpg"
    img.save(p, exif=exif.tobytes())
    ph = load_photo(p)
    assert ph.rgb.shape[:2] == (64, 48)
    assert ph.original_size == (48, 64)


def test_large_image_is_downscaled(tmp_path):
    Image.fromarray(np.zeros((1200, 3000, 3), np.uint8)).save(tmp_path / "big.png")
    ph = load_photo(tmp_path / "big.png", max_side=1000)
    assert max(ph.rgb.shape[:2]) == 1000
    assert ph.original_size == (3000, 1200)
    assert ph.scale == pytest.approx(1000 / 3000)


def test_large_jpeg_uses_draft_decoding(tmp_path):
    Image.fromarray(np.full((2000, 4000, 3), 90, np.uint8)).save(tmp_path / "big.jpg")
    ph = load_photo(tmp_path / "big.jpg", max_side=800)
    assert max(ph.rgb.shape[:2]) == 800
    assert ph.original_size == (4000, 2000)


def test_decompression_bomb_is_refused_without_decoding(tmp_path):
    # 20000 x 20000 PNG: a few hundred kB on disk, 1.2 GB decoded.
    p = tmp_path / "bomb.png"
    Image.new("L", (20000, 20000), 255).save(p, optimize=False)
    with pytest.raises(InputError, match="MP limit"):
        load_photo(p)


@pytest.mark.parametrize("case", ["missing", "empty", "text", "truncated", "directory", "tiny"])
def test_bad_files_raise_input_error(tmp_path, case):
    p = tmp_path / "x.jpg"
    if case == "empty":
        p.write_bytes(b"")
    elif case == "text":
        p.write_text("this is not an image\n" * 10)
    elif case == "truncated":
        Image.fromarray(_gradient(256, 256)).save(p, quality=95)
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 3])
    elif case == "directory":
        p.mkdir()
    elif case == "tiny":
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(p)
    with pytest.raises(InputError, match="image"):
        load_photo(p)


@pytest.mark.parametrize("arr,ok", [
    (np.zeros((32, 32, 3), np.uint8), True),
    (np.zeros((32, 32), np.uint16), True),
    (np.zeros((32, 32, 4), np.float32), True),
    (np.zeros((32, 32, 5), np.uint8), False),
    (np.zeros((32, 32, 3), np.int64), False),
    (np.full((32, 32, 3), np.nan, np.float32), False),
])
def test_arrays(arr, ok):
    if ok:
        assert load_photo(arr).rgb.shape == (32, 32, 3)
    else:
        with pytest.raises(InputError):
            load_photo(arr)
