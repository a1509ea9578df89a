"""crop_object: the square window, its box convention and the crop <-> photo mapping."""

from __future__ import annotations

import numpy as np
import pytest

from lift3d.errors import InputError, NoObjectError
from lift3d.segment import crop_box, crop_object, crop_to_photo, photo_to_crop
from lift3d.types import Photo, Segmentation


def _photo_and_seg(w: int, h: int, rect: tuple[int, int, int, int]):
    """A ``w x h`` photo with a distinctive gradient and a solid rectangle mask
    ``rect = (xmin, ymin, xmax, ymax)`` (inclusive pixel indices)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([xx / (w - 1), yy / (h - 1), 0.5 + 0.5 * np.sin(xx * 0.3)], axis=2)
    a = np.zeros((h, w), np.float32)
    x0, y0, x1, y1 = rect
    a[y0:y1 + 1, x0:x1 + 1] = 1.0
    photo = Photo(rgb=rgb.astype(np.float32), alpha=None, source="<array>",
                  original_size=(w, h))
    return photo, Segmentation(alpha=a, backend="test")


def test_box_is_square_centred_and_holds_the_object_with_margins():
    rect = (40, 30, 99, 69)          # 60 x 40 px object
    photo, seg = _photo_and_seg(200, 120, rect)
    crop = crop_object(photo, seg, size=64, margin=0.1)
    x0, y0, x1, y1 = crop.box
    assert crop.rgb.shape == (64, 64, 3) and crop.alpha.shape == (64, 64)
    assert crop.rgb.dtype == np.float32 and crop.alpha.dtype == np.float32
    assert x1 - x0 == pytest.approx(y1 - y0)
    # Side = 60 * 1.2 = 72 (pixel edges), snapped to whole pixels.
    assert x1 - x0 == pytest.approx(72.0)
    # Edges on half-integers: the window is whole photo pixels.
    assert (x0 + 0.5) % 1 == 0 and (y0 + 0.5) % 1 == 0
    # Object extent (pixel edges) lies inside the box with the margin on each side
    # of the bigger side (to within the half-pixel snap).
    ox0, oy0, ox1, oy1 = rect[0] - 0.5, rect[1] - 0.5, rect[2] + 0.5, rect[3] + 0.5
    assert ox0 - x0 == pytest.approx(6.0, abs=0.5) and x1 - ox1 == pytest.approx(6.0, abs=0.5)
    assert oy0 > y0 and oy1 < y1
    cx, cy = (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2
    assert (x0 + x1) / 2 == pytest.approx(cx, abs=0.5)
    assert (y0 + y1) / 2 == pytest.approx(cy, abs=0.5)


def test_crop_without_resampling_is_an_exact_cut_out():
    photo, seg = _photo_and_seg(120, 100, (30, 20, 79, 69))   # 50 x 50
    n = round(50 * 1.2)
    crop = crop_object(photo, seg, size=n, margin=0.1)
    u, v = np.meshgrid(np.arange(n), np.arange(n))
    x, y = crop_to_photo(crop, u, v)
    # Crop pixel centres land on photo pixel centres, and carry their values.
    assert np.allclose(x, np.round(x)) and np.allclose(y, np.round(y))
    xi, yi = np.round(x).astype(int), np.round(y).astype(int)
    np.testing.assert_allclose(crop.rgb, photo.rgb[yi, xi], atol=1e-6)
    np.testing.assert_allclose(crop.alpha, seg.alpha[yi, xi], atol=1e-6)


def test_mapping_round_trip_and_resampled_content_agree():
    photo, seg = _photo_and_seg(300, 200, (100, 50, 219, 149))
    crop = crop_object(photo, seg, size=48, margin=0.15)
    u = np.array([-0.5, 0.0, 10.25, 47.0, 47.5])
    v = np.array([0.0, 3.0, 22.0, 47.5, -0.5])
    x, y = crop_to_photo(crop, u, v)
    u2, v2 = photo_to_crop(crop, x, y)
    np.testing.assert_allclose(u2, u, atol=1e-9)
    np.testing.assert_allclose(v2, v, atol=1e-9)
    # Crop pixel edges -0.5 and S - 0.5 are the box edges.
    x_edges, y_edges = crop_to_photo(crop, [-0.5, 47.5], [-0.5, 47.5])
    np.testing.assert_allclose(x_edges, [crop.box[0], crop.box[2]])
    np.testing.assert_allclose(y_edges, [crop.box[1], crop.box[3]])
    # The red channel is x / (W - 1) in the photo: after area resampling, the crop's
    # red at each pixel must equal the photo x its centre maps to (red is linear).
    uu, vv = np.meshgrid(np.arange(48), np.arange(48))
    xs, _ = crop_to_photo(crop, uu, vv)
    inside = (xs > 2) & (xs < 297)
    np.testing.assert_allclose(crop.rgb[..., 0][inside], (xs / 299.0)[inside], atol=2e-3)
    # The mask's centroid maps back onto the object's centre.
    w = crop.alpha
    cu = (w * uu).sum() / w.sum()
    cv = (w * vv).sum() / w.sum()
    px, py = crop_to_photo(crop, cu, cv)
    assert px == pytest.approx(159.5, abs=0.3) and py == pytest.approx(99.5, abs=0.3)


def test_box_past_the_photo_edge_replicates_rgb_and_zeroes_alpha():
    photo, seg = _photo_and_seg(100, 80, (0, 0, 29, 19))     # object in the corner
    crop = crop_object(photo, seg, size=40, margin=0.25)
    x0, y0, x1, y1 = crop.box
    assert x0 < -0.5 and y0 < -0.5                # window starts outside the photo
    # Crop pixels whose centres lie left of / above the photo.
    u, v = np.meshgrid(np.arange(40), np.arange(40))
    x, y = crop_to_photo(crop, u, v)
    outside = (x < -1.0) | (y < -1.0)
    assert outside.any()
    assert np.all(crop.alpha[outside] == 0.0)
    # Edge replicate: left of the photo the red channel (x / (W-1)) stays at column 0.
    left = (x < -1.0) & (y > 1.0) & (y < 15.0)
    np.testing.assert_allclose(crop.rgb[..., 0][left], 0.0, atol=1e-6)
    # Inside, the object is there.
    assert crop.alpha[~outside].max() == 1.0


def test_crop_box_of_a_single_pixel_and_bad_arguments():
    photo, seg = _photo_and_seg(50, 50, (10, 10, 10, 10))
    box = crop_box(seg.binary, margin=0.0)
    assert box == (9.5, 9.5, 10.5, 10.5)
    with pytest.raises(InputError, match="size"):
        crop_object(photo, seg, size=0)
    with pytest.raises(InputError, match="margin"):
        crop_object(photo, seg, size=8, margin=-0.1)
    empty = Segmentation(alpha=np.zeros((50, 50), np.float32), backend="test")
    with pytest.raises(NoObjectError):
        crop_object(photo, empty, size=8)
