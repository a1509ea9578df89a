"""lift3d.multiview.types.View and lift3d.multiview.images: the pinhole views and photos
the dense stages work on (synthetic cameras, tiny images written in tmp_path)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lift3d.errors import InputError
from lift3d.multiview.images import exif_up, load_undistorted, working_size
from lift3d.multiview.types import View, cam_from_world_looking_at


def look_at(center, target, up=(0.0, 1.0, 0.0), f: float = 80.0, w: int = 64, h: int = 48,
            name: str = "v") -> View:
    """A pinhole view at ``center`` looking at ``target``, with world ``up`` at the top of
    the image (OpenCV frame: camera -y along ``up``)."""
    K = np.array([[f, 0.0, (w - 1) / 2], [0.0, f * 1.1, (h - 1) / 2 + 1.5], [0.0, 0.0, 1.0]])
    return View(name, K, cam_from_world_looking_at(center, target, up), w, h)


def points_in_front(view: View, n: int, seed: int = 0) -> np.ndarray:
    """``(n, 3)`` world points at depth 1..5 inside the view's frustum."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(0, view.width - 1, n)
    v = rng.uniform(0, view.height - 1, n)
    return view.unproject(u, v, rng.uniform(1.0, 5.0, n))


# ----------------------------------------------------------------------------- View


def test_project_unproject_round_trip():
    view = look_at([1.0, 2.0, -3.0], [0.2, 0.1, 0.5])
    rng = np.random.default_rng(1)
    u = rng.uniform(-0.5, view.width - 0.5, 200)
    v = rng.uniform(-0.5, view.height - 0.5, 200)
    z = rng.uniform(0.5, 10.0, 200)
    X = view.unproject(u, v, z)
    assert X.shape == (200, 3)
    uv, z2 = view.project(X)
    np.testing.assert_allclose(uv, np.stack([u, v], axis=1), atol=1e-9)
    np.testing.assert_allclose(z2, z, rtol=1e-12)
    # z is z-depth (the camera-frame +z), not the distance along the ray.
    np.testing.assert_allclose(view.to_cam(X)[:, 2], z, rtol=1e-12)


def test_unproject_broadcasts_image_shaped_arrays():
    view = look_at([0.0, 0.0, -2.0], [0.0, 0.0, 0.0])
    v, u = np.mgrid[0:view.height, 0:view.width].astype(np.float64)
    X = view.unproject(u, v, np.float32(2.0))
    assert X.shape == (view.height, view.width, 3)
    uv, z = view.project(X.reshape(-1, 3))
    np.testing.assert_allclose(uv[:, 0], u.ravel(), atol=1e-9)
    np.testing.assert_allclose(z, 2.0, rtol=1e-6)


def test_points_behind_the_camera_project_to_nan():
    view = look_at([0.0, 0.0, -2.0], [0.0, 0.0, 0.0])
    X = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, -3.0], [0.0, 0.0, -2.0]])  # front, behind, at
    uv, z = view.project(X)
    assert np.all(np.isfinite(uv[0]))
    assert np.all(np.isnan(uv[1:]))
    np.testing.assert_allclose(z, [2.0, -1.0, 0.0])


def test_center_and_axis():
    c, target = np.array([3.0, -1.0, 2.0]), np.array([0.5, 0.5, -1.0])
    view = look_at(c, target)
    np.testing.assert_allclose(view.center, c, atol=1e-12)
    ax = (target - c) / np.linalg.norm(target - c)
    np.testing.assert_allclose(view.axis, ax, atol=1e-12)
    assert np.isclose(np.linalg.norm(view.axis), 1.0)
    # The optical axis projects on the principal point, at z = distance along it.
    uv, z = view.project((c + 2.5 * ax)[None])
    np.testing.assert_allclose(uv[0], view.K[:2, 2], atol=1e-9)
    np.testing.assert_allclose(z, [2.5])
    # World up (+y here) is towards row 0: a point above the target has a smaller v.
    uv_up, _ = view.project((target + [0.0, 0.3, 0.0])[None])
    uv_t, _ = view.project(target[None])
    assert uv_up[0, 1] < uv_t[0, 1]


def test_scaled_follows_the_pixel_centre_convention():
    view = look_at([0.0, 0.0, -3.0], [0.0, 0.0, 0.0], w=64, h=48)
    small = view.scaled(16, 12)
    assert (small.width, small.height) == (16, 12)
    np.testing.assert_array_equal(small.cam_from_world, view.cam_from_world)
    X = points_in_front(view, 100)
    uv, _ = view.project(X)
    uv_s, _ = small.project(X)
    # u' = (u + 0.5) * sx - 0.5: image edges (-0.5 and W - 0.5) map onto image edges.
    np.testing.assert_allclose(uv_s[:, 0], (uv[:, 0] + 0.5) * 16 / 64 - 0.5, atol=1e-9)
    np.testing.assert_allclose(uv_s[:, 1], (uv[:, 1] + 0.5) * 12 / 48 - 0.5, atol=1e-9)
    corner = view.unproject(np.array([-0.5, 63.5]), np.array([-0.5, 47.5]), np.ones(2))
    np.testing.assert_allclose(small.project(corner)[0], [[-0.5, -0.5], [15.5, 11.5]],
                               atol=1e-9)
    # Anisotropic scaling, and back again.
    other = view.scaled(100, 30)
    np.testing.assert_allclose(other.K[0, 0] / view.K[0, 0], 100 / 64)
    np.testing.assert_allclose(other.K[1, 1] / view.K[1, 1], 30 / 48)
    np.testing.assert_allclose(other.scaled(64, 48).K, view.K, atol=1e-12)
    np.testing.assert_allclose(view.scaled(64, 48).K, view.K, atol=0)


@pytest.mark.parametrize(
    ("K", "T", "w", "h", "what"),
    [
        (np.eye(2), np.eye(3, 4), 4, 4, "View.K"),
        (np.eye(3), np.eye(3), 4, 4, "View.cam_from_world"),
        (np.eye(3), np.eye(4), 4, 4, "View.cam_from_world"),
        (np.eye(3), np.eye(3, 4), 0, 4, "positive"),
        (np.eye(3), np.eye(3, 4), 4, -1, "positive"),
    ],
)
def test_view_validates_its_fields(K, T, w, h, what):
    with pytest.raises(ValueError, match=what):
        View("bad", K, T, w, h)


def test_view_arrays_are_float64_and_read_only():
    view = View("v", np.eye(3, dtype=np.float32).tolist(), np.eye(3, 4, dtype=np.int64), 4, 3)
    assert view.K.dtype == np.float64 and view.cam_from_world.dtype == np.float64
    with pytest.raises(ValueError, match="read-only"):
        view.K[0, 0] = 5.0
    with pytest.raises(ValueError, match="read-only"):
        view.cam_from_world[0, 3] = 5.0


def test_view_leaves_the_callers_arrays_alone():
    K = np.array([[50.0, 0.0, 10.0], [0.0, 50.0, 8.0], [0.0, 0.0, 1.0]])
    T = np.eye(4)[:3]  # a view of a 4x4 pose
    view = View("v", K, T, 20, 16)
    K[0, 2] = 11.0  # the caller's array should still be theirs to change...
    T.base[0, 3] = 1.0
    assert view.K[0, 2] == 10.0  # ...without changing the View
    assert view.cam_from_world[0, 3] == 0.0


# ----------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((4000, 3000), 1000, (1000, 750)),
        ((3000, 4000), 1000, (750, 1000)),
        ((640, 480), 960, (640, 480)),  # never enlarged
        ((1001, 333), 100, (100, 33)),
        ((10000, 3), 100, (100, 1)),  # never zero
    ],
)
def test_working_size(size, max_side, expected):
    assert working_size(*size, max_side) == expected


def write_jpeg(path: Path, w: int = 40, h: int = 30, orientation: int | None = None) -> Path:
    """A small JPEG, left half red and right half blue, optionally with EXIF orientation."""
    from PIL import Image

    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:, : w // 2] = (220, 20, 20)
    rgb[:, w // 2:] = (20, 20, 220)
    im = Image.fromarray(rgb)
    if orientation is None:
        im.save(path, quality=95)
    else:
        exif = Image.Exif()
        exif[274] = orientation
        im.save(path, quality=95, exif=exif)
    return path


@pytest.mark.parametrize(
    ("orientation", "up"),
    [(1, (0, -1, 0)), (3, (0, 1, 0)), (6, (-1, 0, 0)), (8, (1, 0, 0))],
)
def test_exif_up_of_orientation(tmp_path, orientation, up):
    path = write_jpeg(tmp_path / "p.jpg", orientation=orientation)
    from PIL import Image

    with Image.open(path) as im:  # the fixture really carries the tag
        assert im.getexif().get(274) == orientation
    got = exif_up(path)
    assert got.shape == (3,) and got.dtype == np.float64
    np.testing.assert_array_equal(got, up)


def test_exif_up_defaults_to_minus_y(tmp_path):
    np.testing.assert_array_equal(exif_up(write_jpeg(tmp_path / "plain.jpg")), (0, -1, 0))
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    np.testing.assert_array_equal(exif_up(junk), (0, -1, 0))
    np.testing.assert_array_equal(exif_up(tmp_path / "missing.jpg"), (0, -1, 0))


def test_load_undistorted_resizes_and_returns_rgb(tmp_path):
    # Orientation 6 must be ignored: COLMAP registered the raw pixels.
    path = write_jpeg(tmp_path / "p.jpg", w=80, h=60, orientation=6)
    view = look_at([0.0, 0.0, -2.0], [0.0, 0.0, 0.0], w=80, h=60)
    img, small = load_undistorted(path, view, np.zeros(4), max_side=40)
    assert img.shape == (30, 40, 3) and img.dtype == np.uint8
    assert (small.width, small.height) == (40, 30)
    np.testing.assert_allclose(small.K, view.scaled(40, 30).K)
    # RGB order, raw orientation: red on the left, blue on the right.
    assert img[15, 5, 0] > 180 and img[15, 5, 2] < 60
    assert img[15, 35, 2] > 180 and img[15, 35, 0] < 60
    # Already small enough: untouched size, same view.
    img2, same = load_undistorted(path, view, np.zeros(4), max_side=200)
    assert img2.shape == (60, 80, 3)
    np.testing.assert_array_equal(same.K, view.K)


def test_load_undistorted_undoes_radial_distortion(tmp_path):
    w, h = 96, 72
    view = look_at([0.0, 0.0, -2.0], [0.0, 0.0, 0.0], f=70.0, w=w, h=h)
    dist = np.array([-0.25, 0.05, 0.0, 0.0])

    def pattern(xn, yn):  # smooth, so bilinear resampling is near exact
        return 0.5 + 0.4 * np.sin(5.0 * xn + 0.3) * np.cos(4.0 * yn)

    # Render what a distorting lens records: raw pixel -> ideal normalised coordinates.
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    raw = np.stack([u.ravel(), v.ravel()], axis=1)[:, None, :]
    ideal = cv2.undistortPoints(raw, view.K, dist)[:, 0, :]
    gray = pattern(ideal[:, 0], ideal[:, 1]).reshape(h, w)
    img8 = np.repeat(np.round(gray * 255)[..., None], 3, axis=2).astype(np.uint8)
    path = tmp_path / "distorted.png"
    assert cv2.imwrite(str(path), img8)

    out, same = load_undistorted(path, view, dist, max_side=w)
    expected = pattern((u - view.K[0, 2]) / view.K[0, 0], (v - view.K[1, 2]) / view.K[1, 1])
    inner = (slice(8, h - 8), slice(8, w - 8))
    err = np.abs(out[..., 1] / 255.0 - expected)[inner]
    assert np.median(err) < 0.01 and err.max() < 0.05
    # Without the correction the picture is far from it.
    assert np.median(np.abs(gray - expected)[inner]) > 3 * np.median(err)
    assert np.abs(gray - expected)[inner].max() > 0.08


def test_load_undistorted_rejects_changed_or_unreadable_files(tmp_path):
    path = write_jpeg(tmp_path / "p.jpg", w=40, h=30)
    wrong = look_at([0.0, 0.0, -2.0], [0.0, 0.0, 0.0], w=60, h=30)
    with pytest.raises(InputError, match=r"p\.jpg.*40x30.*60x30"):
        load_undistorted(path, wrong, np.zeros(4), max_side=64)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"garbage")
    right = look_at([0.0, 0.0, -2.0], [0.0, 0.0, 0.0], w=40, h=30)
    with pytest.raises(InputError, match="junk.jpg"):
        load_undistorted(junk, right, np.zeros(4), max_side=64)
