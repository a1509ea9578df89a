"""render_view: background, framing, orientation conventions, z-buffer, speed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import trimesh

from lift3d.render import bounding_sphere, orbit_camera, render_view
from lift3d.types import TexturedMesh

SIZE = 128


def object_mask(img: np.ndarray, bg=(255, 255, 255)) -> np.ndarray:
    """``(H, W)`` bool: pixels differing from the background colour."""
    return np.any(img != np.asarray(bg, dtype=np.uint8), axis=2)


def dominant(px: np.ndarray) -> str:
    r, g, b = (int(c) for c in px)
    if r > 1.8 * max(g, b) and r > 80:
        return "red"
    if g > 1.8 * max(r, b) and g > 80:
        return "green"
    if b > 1.8 * max(r, g) and b > 80:
        return "blue"
    return "other"


def centre_colour(img: np.ndarray, k: int = 3) -> str:
    c = img.shape[0] // 2
    patch = img[c - k : c + k + 1, c - k : c + k + 1].reshape(-1, 3).mean(axis=0)
    return dominant(patch)


def test_output_shape_dtype(front_red_sphere):
    img = render_view(front_red_sphere, 0.0, size=SIZE)
    assert img.shape == (SIZE, SIZE, 3)
    assert img.dtype == np.uint8


def test_background_pixels_equal_background(front_red_sphere):
    bg = (0.2, 0.4, 0.6)
    want = np.round(np.array(bg) * 255).astype(np.uint8)
    img = render_view(front_red_sphere, 30.0, size=SIZE, background=bg, shadow=False)
    # The sphere's centre is the look-at point, so its silhouette is a centred circle
    # of radius (size / 2) / 1.08 pixels.
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    c = (SIZE - 1) / 2
    r = np.hypot(xx - c, yy - c)
    r_px = SIZE / 2 / 1.08
    assert np.all(img[r > r_px + 1.5] == want)
    assert not np.any(np.all(img[r < r_px - 1.5] == want, axis=1))
    # With the ground shadow, the top of the image stays background.
    shadowed = render_view(front_red_sphere, 30.0, size=SIZE, background=bg)
    assert np.all(shadowed[: SIZE // 2][r[: SIZE // 2] > r_px + 1.5] == want)
    assert np.all(shadowed[:10, :10] == want) and np.all(shadowed[:10, -10:] == want)


def test_object_covers_plausible_fraction(front_red_sphere, tall_box):
    # The bounding sphere is framed with radius size / (2 * 1.08): a centred sphere covers
    # pi / (4 * 1.08^2) ~ 0.67 of the image.
    sph = object_mask(render_view(front_red_sphere, 0.0, size=SIZE, shadow=False)).mean()
    assert 0.58 < sph < 0.76
    box = object_mask(render_view(tall_box, 0.0, size=SIZE, shadow=False)).mean()
    assert 0.08 < box < 0.45


def test_same_scale_in_all_views(front_red_sphere):
    areas = [
        object_mask(render_view(front_red_sphere, az, size=SIZE, shadow=False)).sum()
        for az in (0, 90, 180, 270)
    ]
    assert max(areas) - min(areas) <= 0.02 * max(areas)


def test_front_shows_front_texture_back_shows_back(front_red_sphere):
    assert centre_colour(render_view(front_red_sphere, 0.0, size=SIZE)) == "red"
    assert centre_colour(render_view(front_red_sphere, 180.0, size=SIZE)) == "blue"
    # From the side, the left half of the image is the front (red) at azimuth 90: the
    # camera sits on +X, so +Z appears on the image's left.
    side = render_view(front_red_sphere, 90.0, elevation_deg=0.0, size=SIZE)
    row = side[SIZE // 2]
    assert dominant(row[SIZE // 2 - 30]) == "red"
    assert dominant(row[SIZE // 2 + 30]) == "blue"


def test_azimuth_90_looks_from_plus_x(right_green_sphere):
    assert centre_colour(render_view(right_green_sphere, 90.0, size=SIZE)) == "green"
    assert centre_colour(render_view(right_green_sphere, 270.0, size=SIZE)) == "blue"
    # In the front view +X is on the image's right.
    front = render_view(right_green_sphere, 0.0, elevation_deg=0.0, size=SIZE)
    assert dominant(front[SIZE // 2, SIZE // 2 + 30]) == "green"
    assert dominant(front[SIZE // 2, SIZE // 2 - 30]) == "blue"


def test_elevation_looks_down_on_the_top():
    # A box whose top face is green, the rest red: the top shows from above only.
    box = trimesh.creation.box(extents=(0.2, 0.2, 0.2))
    v = box.vertices
    # Split vertices per face so the top face gets its own uv.
    faces = np.arange(box.faces.size, dtype=np.int32).reshape(-1, 3)
    fv = v[box.faces.reshape(-1)]
    top = np.repeat(box.face_normals[:, 1] > 0.5, 3)
    uv = np.where(top[:, None], [[0.75, 0.5]], [[0.25, 0.5]]).astype(np.float32)
    normals = np.repeat(box.face_normals, 3, axis=0).astype(np.float32)
    tex = np.zeros((8, 8, 3), np.uint8)
    tex[:, :4] = (220, 30, 30)
    tex[:, 4:] = (30, 200, 40)
    mesh = TexturedMesh(fv.astype(np.float32), faces, normals, uv, tex)
    above = render_view(mesh, 0.0, elevation_deg=60.0, size=SIZE, shadow=False)
    level = render_view(mesh, 0.0, elevation_deg=0.0, size=SIZE, shadow=False)
    below = render_view(mesh, 0.0, elevation_deg=-60.0, size=SIZE, shadow=False)

    def green_rows(img):
        g = np.array([[dominant(p) == "green" for p in row] for row in img])
        return np.flatnonzero(g.any(axis=1))

    rows = green_rows(above)
    assert rows.size > 10 and rows.mean() < SIZE / 2  # top face in the upper half
    assert green_rows(level).size == 0
    assert green_rows(below).size == 0


def test_texture_orientation_uv_origin_bottom_left(mesh_factory):
    # uv v runs up the object; the texture's top rows (row 0 = top) are green, its
    # bottom rows red: the top of the rendered sphere must be green.
    tex = np.zeros((32, 32, 3), np.uint8)
    tex[:16] = (30, 200, 40)
    tex[16:] = (220, 30, 30)
    mesh = mesh_factory(trimesh.creation.icosphere(subdivisions=3, radius=0.1), texture=tex)
    img = render_view(mesh, 0.0, elevation_deg=0.0, size=SIZE, shadow=False)
    c = SIZE // 2
    assert dominant(img[c - 30, c]) == "green"
    assert dominant(img[c + 30, c]) == "red"


def test_tall_box_renders_taller_than_wide(tall_box):
    for az in (0.0, 45.0, 90.0):
        mask = object_mask(render_view(tall_box, az, size=SIZE, shadow=False))
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert h > 1.8 * w, (az, h, w)


def test_zbuffer_hides_sphere_behind(occluded_pair):
    front = render_view(occluded_pair, 0.0, elevation_deg=0.0, size=SIZE, shadow=False)
    back = render_view(occluded_pair, 180.0, elevation_deg=0.0, size=SIZE, shadow=False)

    def count(img, colour):
        return sum(dominant(p) == colour for p in img.reshape(-1, 3))

    assert count(front, "green") == 0
    assert count(front, "red") > 0.15 * SIZE * SIZE
    assert count(back, "green") > 100
    assert centre_colour(back) == "green"


def test_ground_shadow_darkens_below_object(front_red_sphere):
    with_shadow = render_view(front_red_sphere, 0.0, elevation_deg=35.0, size=SIZE)
    without = render_view(front_red_sphere, 0.0, elevation_deg=35.0, size=SIZE, shadow=False)
    bg_mask = ~object_mask(without)
    diff = without.astype(int) - with_shadow.astype(int)
    assert (diff >= 0).all()  # only darkens
    assert diff[bg_mask].max() > 20
    # The shadow lies under the object: lower half of the image.
    ys = np.nonzero((diff.max(axis=2) > 5) & bg_mask)[0]
    assert ys.min() > SIZE // 3
    inner = cv2.erode((~bg_mask).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert np.array_equal(with_shadow[inner], without[inner])  # the object is untouched


def test_double_sided_renders_open_mesh():
    # A single quad facing -Z is culled from the front, drawn when double-sided.
    v = np.array([[-0.1, 0, 0], [0.1, 0, 0], [0.1, 0.2, 0], [-0.1, 0.2, 0]], np.float32)
    f = np.array([[0, 2, 1], [0, 3, 2]], np.int32)  # clockwise seen from +Z
    n = np.tile([[0, 0, -1]], (4, 1)).astype(np.float32)
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    tex = np.full((4, 4, 3), 128, np.uint8)
    quad = TexturedMesh(v, f, n, uv, tex)
    culled = render_view(quad, 0.0, size=64, shadow=False)
    assert not object_mask(culled).any()
    assert object_mask(render_view(quad, 180.0, size=64, shadow=False)).mean() > 0.2
    both = render_view(quad, 0.0, size=64, shadow=False, double_sided=True)
    assert object_mask(both).mean() > 0.2


def test_empty_mesh_raises_naming_argument(empty_mesh):
    with pytest.raises(ValueError, match="mesh"):
        render_view(empty_mesh, 0.0)


def test_degenerate_and_malformed_meshes_raise(front_red_sphere):
    point = TexturedMesh(
        np.zeros((3, 3), np.float32), np.array([[0, 1, 2]], np.int32),
        np.tile([[0, 0, 1]], (3, 1)).astype(np.float32), np.zeros((3, 2), np.float32),
        np.zeros((4, 4, 3), np.uint8),
    )
    with pytest.raises(ValueError, match="mesh.*degenerate"):
        render_view(point, 0.0)
    bad_index = TexturedMesh(
        front_red_sphere.vertices, front_red_sphere.faces + 10_000, front_red_sphere.normals,
        front_red_sphere.uv, front_red_sphere.texture,
    )
    with pytest.raises(ValueError, match="mesh.*indices"):
        render_view(bad_index, 0.0)


def test_bad_arguments_raise(front_red_sphere):
    with pytest.raises(ValueError, match="background"):
        render_view(front_red_sphere, 0.0, background=(0, 0, 2))
    with pytest.raises(ValueError, match="size"):
        render_view(front_red_sphere, 0.0, size=0)
    with pytest.raises(ValueError, match="azimuth_deg"):
        render_view(front_red_sphere, float("nan"))
    with pytest.raises(ValueError, match="mesh"):
        render_view("not a mesh", 0.0)  # type: ignore[arg-type]


def test_orbit_camera_conventions():
    centre, radius = bounding_sphere(np.array([[-1.0, 0, -1], [1, 2, 1]]))
    assert np.allclose(centre, [0, 1, 0])
    assert np.isclose(radius, np.sqrt(3))
    for az, where in ((0, [0, 0, 1]), (90, [1, 0, 0]), (180, [0, 0, -1]), (270, [-1, 0, 0])):
        cam = orbit_camera(centre, radius, az, 0.0, 100)
        d = cam.position - centre
        assert np.allclose(d / np.linalg.norm(d), where, atol=1e-9)
        uv, depth = cam.project(centre[None])
        assert np.allclose(uv, 49.5) and depth[0] > radius
    high = orbit_camera(centre, radius, 0.0, 30.0, 100)
    assert high.position[1] > centre[1] and high.up[1] > 0
    # A point above the centre projects above the image centre (row 0 = top).
    uv, _ = high.project(centre[None] + [[0, 0.5, 0]])
    assert uv[0, 1] < 49.5
