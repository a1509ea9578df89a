"""The vectorised rasteriser against hand-made and brute-force references."""

from __future__ import annotations

import numpy as np

from lift3d.render import orbit_camera, rasterize

W, H = 40, 30


def full_quad(depth: float = 1.0):
    """Two front-facing triangles (clockwise in pixel coordinates) covering the image."""
    xy = np.array([[-0.5, -0.5], [W - 0.5, -0.5], [W - 0.5, H - 0.5], [-0.5, H - 0.5]])
    faces = np.array([[0, 3, 2], [0, 2, 1]])
    return xy, np.full(4, depth), faces


def test_quad_covers_every_pixel_once():
    xy, z, faces = full_quad()
    frags = rasterize(xy, z, faces, W, H)
    assert frags.face_id.shape == (H, W)
    assert (frags.face_id >= 0).all()
    assert frags.pixels.size == W * H
    assert np.allclose(frags.bary.sum(axis=1), 1.0, atol=1e-6)
    # Bottom-left corner belongs to the first triangle, top-right to the second.
    assert frags.face_id[H - 1, 0] == 0 and frags.face_id[0, W - 1] == 1


def test_backface_culling():
    xy, z, faces = full_quad()
    flipped = faces[:, ::-1]
    assert (rasterize(xy, z, flipped, W, H).face_id < 0).all()
    assert (rasterize(xy, z, flipped, W, H, cull_backfaces=False).face_id >= 0).all()


def test_nearest_wins_in_either_order():
    xy, _, faces = full_quad()
    xy2 = np.concatenate([xy, xy])
    z = np.concatenate([np.full(4, 2.0), np.full(4, 1.0)])  # second copy nearer
    f2 = np.concatenate([faces, faces + 4])
    for order in (f2, f2[::-1]):
        frags = rasterize(xy2, z, order, W, H)
        near = {i for i, f in enumerate(order) if f.min() >= 4}
        assert set(np.unique(frags.face_id)) == near


def _edge(p, q, x, y):
    return (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0])


def _brute_force(xy, z, faces, w, h):
    """Per-pixel reference: nearest (max 1/z) front-facing triangle containing the centre."""
    out = np.full((h, w), -1)
    best = np.full((h, w), -np.inf)
    for fi, (a, b, c) in enumerate(faces):
        p0, p1, p2 = xy[a], xy[b], xy[c]
        area = (p1[0] - p0[0]) * (p2[1] - p0[1]) - (p1[1] - p0[1]) * (p2[0] - p0[0])
        if area >= 0:
            continue
        for y in range(h):
            for x in range(w):
                w0 = _edge(p1, p2, x, y) / area
                w1 = _edge(p2, p0, x, y) / area
                w2 = 1 - w0 - w1
                if min(w0, w1, w2) < 0:
                    continue
                key = w0 / z[a] + w1 / z[b] + w2 / z[c]
                if key > best[y, x]:
                    best[y, x], out[y, x] = key, fi
    return out


def test_matches_brute_force_on_random_triangles():
    rng = np.random.default_rng(1)
    n, w, h = 60, 24, 20
    xy = rng.uniform(-4, 28, size=(3 * n, 2))
    z = rng.uniform(1.0, 5.0, size=3 * n)
    faces = np.arange(3 * n).reshape(n, 3)
    got = rasterize(xy, z, faces, w, h).face_id
    want = _brute_force(xy, z, faces, w, h)
    # A pixel centre within float rounding of an edge may go either way: allow one.
    assert np.count_nonzero(got != want) <= 1
    assert np.count_nonzero(want >= 0) > 0.5 * w * h


def test_chunking_and_banding_do_not_change_the_result():
    rng = np.random.default_rng(2)
    n = 300
    xy = rng.uniform(-20, 140, size=(3 * n, 2))
    z = rng.uniform(1.0, 5.0, size=3 * n)
    faces = np.arange(3 * n).reshape(n, 3)
    ref = rasterize(xy, z, faces, 128, 96)
    for budget in (7, 50, 1000):  # 7 < one row: every row is its own chunk
        small = rasterize(xy, z, faces, 128, 96, chunk_pixels=budget)
        assert np.array_equal(ref.face_id, small.face_id)
        assert np.array_equal(ref.bary, small.bary)


def test_perspective_correct_barycentrics():
    # A tilted plane seen in perspective: interpolating the 3-D corners with the
    # barycentrics and projecting back must land on the pixel centre.
    size = 64
    verts = np.array([[-1.0, -1.0, -1.0], [1.0, -1.0, -1.0], [1.0, 1.0, 1.0], [-1.0, 1.0, 1.0]])
    cam = orbit_camera(np.zeros(3), 1.8, 20.0, 10.0, size)
    xy, depth = cam.project(verts)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    frags = rasterize(xy, depth, faces, size, size, cull_backfaces=False)
    assert frags.pixels.size > 500
    corners = verts[faces[frags.faces]]  # (N, 3, 3)
    points = (corners * frags.bary[:, :, None].astype(np.float64)).sum(axis=1)
    uv, _ = cam.project(points)
    px = np.stack([frags.pixels % size, frags.pixels // size], axis=1)
    assert np.abs(uv - px).max() < 2e-3
    # Screen-linear (uncorrected) weights would be off by far more.
    plain = rasterize(xy, depth, faces, size, size, cull_backfaces=False, perspective=False)
    uv2, _ = cam.project((verts[faces[plain.faces]] * plain.bary[:, :, None]).sum(axis=1))
    assert np.abs(uv2 - px).max() > 0.05


def test_nothing_visible():
    xy = np.array([[-50.0, -50.0], [-40.0, -50.0], [-50.0, -40.0]])
    frags = rasterize(xy, np.ones(3), np.array([[0, 2, 1]]), W, H)
    assert (frags.face_id < 0).all() and frags.pixels.size == 0 and frags.bary.shape == (0, 3)


def test_no_cracks_in_a_jittered_grid():
    # A triangulated grid with jittered interior vertices tiles the image: every pixel
    # centre must be covered by exactly one of the (coplanar) triangles.
    rng = np.random.default_rng(3)
    nx, ny = 9, 7
    gx, gy = np.meshgrid(np.linspace(-0.5, W - 0.5, nx + 1), np.linspace(-0.5, H - 0.5, ny + 1))
    xy = np.stack([gx, gy], axis=-1)
    xy[1:-1, 1:-1] += rng.uniform(-1.2, 1.2, size=(ny - 1, nx - 1, 2))
    xy = xy.reshape(-1, 2)
    idx = np.arange((nx + 1) * (ny + 1)).reshape(ny + 1, nx + 1)
    tl, tr = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
    bl, br = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    faces = np.concatenate([np.stack([tl, bl, br], 1), np.stack([tl, br, tr], 1)])
    frags = rasterize(xy, np.ones(len(xy)), faces, W, H)
    assert (frags.face_id >= 0).all()
