"""Texture-space rasterisation and projective baking (lift3d.texture.raster / bake)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("xatlas")
trimesh = pytest.importorskip("trimesh")
cv2 = pytest.importorskip("cv2")

from lift3d.texture.atlas import Unwrap, unwrap_box, unwrap_xatlas  # noqa: E402
from lift3d.texture.bake import bake_projective, fill_empty, inpaint_outside  # noqa: E402
from lift3d.texture.raster import rasterize_uv  # noqa: E402
from lift3d.types import Camera, Mesh  # noqa: E402

CAM_SIZE = 256
CENTRE_Z = 3.0
RADIUS = 0.8


def _sphere_mesh(subdivisions: int = 4) -> Mesh:
    s = trimesh.creation.icosphere(subdivisions=subdivisions)
    return Mesh(s.vertices * RADIUS + [0.0, 0.0, CENTRE_Z], s.faces)


_UNWRAPS: dict[str, Unwrap] = {}


def _sphere_unwrap(method: str = "box") -> Unwrap:
    if method not in _UNWRAPS:
        fn = unwrap_box if method == "box" else unwrap_xatlas
        _UNWRAPS[method] = fn(_sphere_mesh(), resolution=512)
    return _UNWRAPS[method]


def _ortho() -> Camera:
    return Camera.orthographic_square(CAM_SIZE, half_extent=1.0)


def _pinhole() -> Camera:
    c = (CAM_SIZE - 1) / 2.0
    return Camera("pinhole", 300.0, 300.0, c, c, CAM_SIZE, CAM_SIZE)


def _texel_points(u: Unwrap, size: int):
    """Covered texels of ``u`` at ``size``: (rows, cols, 3D points, face normals)."""
    fid, bary = rasterize_uv(u.uv, u.faces, size, dilate=0)
    rows, cols = np.nonzero(fid >= 0)
    f = u.faces[fid[rows, cols]]
    b = bary[rows, cols].astype(np.float64)
    pos = np.einsum("nk,nkj->nj", b, u.vertices[f])
    t = u.vertices[f]
    n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    return rows, cols, pos, n


def _red_blue(size: int = CAM_SIZE) -> np.ndarray:
    img = np.zeros((size, size, 3), np.float32)
    img[:, : size // 2] = (1.0, 0.0, 0.0)
    img[:, size // 2:] = (0.0, 0.0, 1.0)
    return img


# ----------------------------------------------------------------------------- raster


def _brute_inside(tri: np.ndarray, size: int, eps: float = 1e-6) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    a, b, c = tri

    def edge(p, q):
        return (q[0] - p[0]) * (yy - p[1]) - (q[1] - p[1]) * (xx - p[0])

    s = np.sign(edge(a, b) * 0 + ((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])))
    return (edge(b, c) * s > eps) & (edge(c, a) * s > eps) & (edge(a, b) * s > eps)


def test_rasterize_single_triangle_is_conservative_and_exact_inside():
    size = 64
    uv = np.array([[0.1, 0.15], [0.83, 0.3], [0.4, 0.9]], np.float32)
    faces = np.array([[0, 1, 2]])
    fid, bary = rasterize_uv(uv, faces, size, dilate=0)
    pix = np.stack([uv[:, 0] * size - 0.5, (1 - uv[:, 1]) * size - 0.5], axis=1)
    inside = _brute_inside(pix.astype(np.float64), size)
    covered = fid == 0
    assert (fid[~covered] == -1).all()
    assert covered[inside].all()  # every texel centre inside is covered
    # ... and nothing further than a texel outside it.
    near = cv2.dilate(inside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert not (covered & ~near).any()
    # Barycentrics: valid everywhere, and exact for centres inside.
    b = bary[covered]
    assert (b >= 0).all() and np.allclose(b.sum(axis=1), 1.0, atol=1e-5)
    rows, cols = np.nonzero(inside)
    recon = np.einsum("nk,kj->nj", bary[rows, cols].astype(np.float64), pix)
    assert np.allclose(recon, np.stack([cols, rows], axis=1), atol=1e-3)
    assert (bary[~covered] == 0).all()


def test_rasterize_row_zero_is_the_top_of_the_texture():
    size = 32
    # A triangle near v = 1 (top of the image) and u = 0 (left).
    uv = np.array([[0.0, 1.0], [0.25, 1.0], [0.0, 0.75]], np.float32)
    fid, _ = rasterize_uv(uv, np.array([[0, 2, 1]]), size, dilate=0)
    rows, cols = np.nonzero(fid >= 0)
    assert rows.max() < size // 4 + 1 and cols.max() < size // 4 + 1


def test_rasterize_leaves_no_gaps_between_faces():
    # A square split into two triangles along the diagonal: the whole interior covered.
    size = 128
    uv = np.array([[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]], np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    fid, _ = rasterize_uv(uv, faces, size, dilate=0)
    lo, hi = int(np.ceil(0.1 * size - 0.5)), int(np.floor(0.9 * size - 0.5))
    assert (fid[lo:hi + 1, lo:hi + 1] >= 0).all()
    # Each texel goes to the triangle that contains its centre.
    yy, xx = np.mgrid[lo:hi + 1, lo:hi + 1]
    upper_left = (size - 1 - yy) > xx + 0.5  # v > u side: second face
    below = (size - 1 - yy) < xx - 0.5
    sub = fid[lo:hi + 1, lo:hi + 1]
    assert (sub[upper_left] == 1).all() and (sub[below] == 0).all()


def test_rasterize_dilation_adds_a_one_texel_rim():
    size = 64
    uv = np.array([[0.3, 0.3], [0.7, 0.3], [0.5, 0.7]], np.float32)
    faces = np.array([[0, 1, 2]])
    f0, _ = rasterize_uv(uv, faces, size, dilate=0)
    f1, b1 = rasterize_uv(uv, faces, size, dilate=1)
    ring = cv2.dilate((f0 >= 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert np.array_equal(f1 >= 0, ring)
    assert (b1[f1 >= 0] >= 0).all() and np.allclose(b1[f1 >= 0].sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("method", ["box", "xatlas"])
def test_rasterize_covers_the_uv_area(method):
    u = _sphere_unwrap(method)
    size = 512
    fid, _ = rasterize_uv(u.uv, u.faces, size, dilate=0)
    t = u.uv[u.faces].astype(np.float64)
    a, b = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    area = 0.5 * np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum() * size * size
    # Conservative fill adds part of each chart's one-texel rim.
    assert area <= (fid >= 0).sum() <= area * 1.08


# ----------------------------------------------------------------------------- inpaint


def test_inpaint_outside_replaces_background_with_object_colours():
    size = 96
    yy, xx = np.mgrid[0:size, 0:size]
    alpha = ((xx - 48) ** 2 + (yy - 48) ** 2 < 30**2).astype(np.float32)
    rgb = np.ones((size, size, 3), np.float32)  # white background
    rgb[alpha > 0.5] = (0.2, 0.6, 0.1)
    rgb[alpha > 0.5, 0] += 0.3 * (xx[alpha > 0.5] / size)  # some structure
    out = inpaint_outside(rgb, alpha)
    assert out.dtype == np.float32 and out.shape == rgb.shape
    assert np.array_equal(out[alpha > 0.5], rgb[alpha > 0.5])
    # No trace of the white background anywhere.
    assert out[..., 1].max() <= 0.6 + 1e-5 and out[..., 2].max() <= 0.1 + 1e-5
    # Nothing to do without object, or without background.
    assert np.array_equal(inpaint_outside(rgb, np.zeros_like(alpha)), rgb)
    assert np.array_equal(inpaint_outside(rgb, np.ones_like(alpha)), rgb)


# ----------------------------------------------------------------------------- fill_empty


def _mips(tex: np.ndarray) -> list[np.ndarray]:
    out = [tex]
    while out[-1].shape[0] > 1:
        t = out[-1].astype(np.float32)
        out.append(cv2.resize(t, (t.shape[1] // 2, t.shape[0] // 2), interpolation=cv2.INTER_AREA))
    return out


def test_fill_empty_fills_every_texel_and_keeps_covered_ones():
    rng = np.random.default_rng(0)
    size = 200  # not a power of two on purpose
    covered = np.zeros((size, size), bool)
    for _ in range(12):
        cy, cx, r = rng.integers(0, size, 2).tolist() + [int(rng.integers(3, 20))]
        cv2.circle(covered.view(np.uint8), (cx, cy), r, 1, -1)
    tex = np.zeros((size, size, 3), np.uint8)
    tex[covered] = rng.integers(30, 255, (int(covered.sum()), 3), dtype=np.uint8)
    out = fill_empty(tex, covered)
    assert out.dtype == np.uint8 and out.shape == tex.shape
    assert np.array_equal(out[covered], tex[covered])
    assert (out.max(axis=2) > 0).all()
    # No black at any mip level either (gutters carry chart colours, not zeros).
    for level in _mips(out):
        assert level.max(axis=2).min() >= 29.0
    # A single colour floods the whole texture with exactly that colour.
    flat = np.zeros_like(tex)
    flat[covered] = (10, 200, 90)
    assert (fill_empty(flat, covered) == (10, 200, 90)).all()


def test_fill_empty_edge_cases():
    tex = np.full((8, 8, 3), 7, np.uint8)
    assert np.array_equal(fill_empty(tex, np.ones((8, 8), bool)), tex)
    assert (fill_empty(tex, np.zeros((8, 8), bool)) == 0).all()
    one = np.zeros((5, 5, 3), np.uint8)
    one[2, 3] = (1, 2, 3)
    cov = np.zeros((5, 5), bool)
    cov[2, 3] = True
    assert (fill_empty(one, cov) == (1, 2, 3)).all()


# ----------------------------------------------------------------------------- bake


@pytest.mark.parametrize("method", ["box", "xatlas"])
@pytest.mark.parametrize("camera", ["orthographic", "pinhole"])
def test_bake_red_left_blue_right_front_and_back(method, camera):
    u = _sphere_unwrap(method)
    cam = _ortho() if camera == "orthographic" else _pinhole()
    size = 512
    tex = bake_projective(u, cam, _red_blue(), size)
    assert tex.dtype == np.uint8 and tex.shape == (size, size, 3)
    rows, cols, pos, n = _texel_points(u, size)
    px = cam.project(pos)[:, 0]
    c = tex[rows, cols].astype(int)
    red = c[:, 0] > c[:, 2] + 120
    blue = c[:, 2] > c[:, 0] + 120
    left = px < CAM_SIZE / 2 - 6
    right = px > CAM_SIZE / 2 + 6
    front = n[:, 2] < 0
    for side in (front, ~front):
        assert left[side].sum() > 1000 and right[side].sum() > 1000
        assert red[side & left].mean() > 0.995
        assert blue[side & right].mean() > 0.995


def test_bake_back_is_soft_but_not_darker():
    u = _sphere_unwrap("box")
    rng = np.random.default_rng(1)
    noise = (0.3 + 0.4 * rng.random((CAM_SIZE, CAM_SIZE, 3))).astype(np.float32)
    tex = bake_projective(u, _ortho(), noise, 512).astype(np.float64)
    rows, cols, pos, n = _texel_points(u, 512)
    c = tex[rows, cols]
    front = n[:, 2] < -0.5
    back = n[:, 2] > 0.5
    # Same brightness ...
    assert abs(c[front].mean() - c[back].mean()) < 3.0
    # ... but the back is blurred: less texel-to-texel contrast.
    assert c[back].std() < 0.7 * c[front].std()


@pytest.mark.parametrize("camera", ["orthographic", "pinhole"])
def test_bake_samples_the_projected_pixel(camera):
    """An image that encodes its own pixel coordinates: each front texel must read
    the pixel its 3D point projects to."""
    u = _sphere_unwrap("box")
    cam = _ortho() if camera == "orthographic" else _pinhole()
    yy, xx = np.mgrid[0:CAM_SIZE, 0:CAM_SIZE].astype(np.float32)
    img = np.stack([xx / (CAM_SIZE - 1), yy / (CAM_SIZE - 1), np.full_like(xx, 0.5)], axis=2)
    size = 512
    tex = bake_projective(u, cam, img, size).astype(np.float64)
    rows, cols, pos, n = _texel_points(u, size)
    view = np.array([0, 0, 1.0]) if camera == "orthographic" else pos / np.linalg.norm(
        pos, axis=1, keepdims=True)
    sel = (n * view).sum(axis=1) < -0.3  # clearly front-facing
    want = cam.project(pos[sel])
    got = tex[rows[sel], cols[sel], :2] / 255.0 * (CAM_SIZE - 1)
    err = np.abs(got - want)
    assert np.percentile(err, 99) < 1.0 and err.max() < 2.0


def test_bake_image_at_a_multiple_of_the_camera_resolution():
    u = _sphere_unwrap("box")
    cam = _ortho()
    yy, xx = np.mgrid[0:CAM_SIZE, 0:CAM_SIZE].astype(np.float32)
    img = np.stack([xx / CAM_SIZE, yy / CAM_SIZE, 0.5 + 0 * xx], axis=2)
    big = cv2.resize(img, (2 * CAM_SIZE, 2 * CAM_SIZE), interpolation=cv2.INTER_LINEAR)
    t1 = bake_projective(u, cam, img, 256).astype(int)
    t2 = bake_projective(u, cam, big, 256).astype(int)
    assert np.abs(t1 - t2).mean() < 1.0 and np.percentile(np.abs(t1 - t2), 99) <= 3


def test_bake_never_leaves_black_texels():
    u = _sphere_unwrap("box")
    size = CAM_SIZE
    yy, xx = np.mgrid[0:size, 0:size]
    alpha = (((xx - 127.5) ** 2 + (yy - 127.5) ** 2) < 100**2).astype(np.float32)
    rgb = np.zeros((size, size, 3), np.float32)  # black background: must not leak
    rgb[alpha > 0.5] = (0.9, 0.5, 0.2)
    tex = bake_projective(u, _ortho(), inpaint_outside(rgb, alpha), 512)
    assert tex.max(axis=2).min() > 100
    for level in _mips(tex):  # nor at any mip level
        assert level.max(axis=2).min() > 100
    # A black photo is allowed to give black.
    assert (bake_projective(u, _ortho(), np.zeros_like(rgb), 64) == 0).all()


def test_bake_20k_faces_at_1024_fills_every_texel():
    mesh = _sphere_mesh(subdivisions=5)  # 20480 faces
    u = unwrap_box(mesh, resolution=1024)
    rng = np.random.default_rng(0)
    img = (0.2 + 0.6 * rng.random((512, 512, 3))).astype(np.float32)
    tex = bake_projective(u, Camera.orthographic_square(512), img, 1024)
    assert tex.shape == (1024, 1024, 3)
    assert (tex.reshape(-1, 3).max(axis=1) > 0).all()
