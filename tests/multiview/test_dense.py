"""lift3d.multiview.dense: plane-sweep stereo and geometric filtering on synthetic views
of textured planes (a tiny ray-caster renders them), and the helpers around them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lift3d.multiview.dense import (
    DenseOptions,
    DepthMap,
    depth_range,
    filter_consistent,
    plane_sweep,
    select_sources,
    to_gray,
)
from lift3d.multiview.types import View, cam_from_world_looking_at

SIDE = 96  # image side, pixels
FOCAL = 100.0
# Few planes keep each sweep to a fraction of a second; the parabola refines between them.
OPTIONS = DenseOptions(planes=48)


def look_at(center, target, up=(0.0, 1.0, 0.0), f: float = FOCAL, w: int = SIDE,
            h: int = SIDE, name: str = "v") -> View:
    """A pinhole view at ``center`` looking at ``target``, world ``up`` towards row 0."""
    K = np.array([[f, 0.0, (w - 1) / 2], [0.0, f, (h - 1) / 2], [0.0, 0.0, 1.0]])
    return View(name, K, cam_from_world_looking_at(center, target, up), w, h)


def noise_texture(side: int = 512, sigma: float = 1.2, seed: int = 0) -> np.ndarray:
    """``(side, side)`` float32 smoothed noise in [0.1, 0.9]."""
    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.standard_normal((side, side)).astype(np.float32), (0, 0), sigma)
    t = (t - t.min()) / (t.max() - t.min())
    return (0.1 + 0.8 * t).astype(np.float32)


class Plane:
    """A textured plane through ``point`` with unit ``normal``; ``texel`` world units per
    texture pixel, the texture centred on ``point``."""

    def __init__(self, point, normal, texture: np.ndarray, texel: float = 0.03):
        self.p = np.asarray(point, dtype=np.float64)
        n = np.asarray(normal, dtype=np.float64)
        self.n = n / np.linalg.norm(n)
        a = np.array([1.0, 0.0, 0.0]) if abs(self.n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        self.e1 = np.cross(self.n, a)
        self.e1 /= np.linalg.norm(self.e1)
        self.e2 = np.cross(self.n, self.e1)
        self.texture = texture
        self.texel = texel

    def render(self, view: View) -> tuple[np.ndarray, np.ndarray]:
        """``(gray (H, W) float32, z-depth (H, W) float32)`` of the plane seen by ``view``
        (ray cast through every pixel centre; bilinear texture lookup)."""
        v, u = np.mgrid[0:view.height, 0:view.width].astype(np.float64)
        K = view.K
        rays_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1],
                             np.ones_like(u)], axis=-1)
        rays = rays_cam @ view.R  # world directions with camera-z 1: s is z-depth
        c = view.center
        s = ((self.p - c) @ self.n) / (rays @ self.n)
        X = c + s[..., None] * rays
        half = self.texture.shape[0] / 2
        tu = ((X - self.p) @ self.e1 / self.texel + half).astype(np.float32)
        tv = ((X - self.p) @ self.e2 / self.texel + half).astype(np.float32)
        gray = cv2.remap(self.texture, tu, tv, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT)
        depth = np.where(s > 0, s, 0).astype(np.float32)
        return gray, depth


def stereo_rig(offsets=((-0.5, 0.15), (0.5, -0.15)), target=(0.0, 0.0, 4.0)):
    """A reference view at the origin looking along +z, and source views beside it
    (``(x, y)`` offsets, world units) turned towards ``target``."""
    ref = look_at([0.0, 0.0, 0.0], target, name="ref")
    srcs = [look_at([x, y, 0.0], target, name=f"src{i}") for i, (x, y) in enumerate(offsets)]
    return ref, srcs


def relative_error(depth: np.ndarray, truth: np.ndarray) -> np.ndarray:
    valid = depth > 0
    return np.abs(depth[valid] - truth[valid]) / truth[valid]


# ----------------------------------------------------------------------------- plane_sweep


def test_plane_sweep_recovers_a_fronto_parallel_plane():
    plane = Plane([0.0, 0.0, 4.0], [0.0, 0.0, -1.0], noise_texture())
    ref, srcs = stereo_rig()
    ref_gray, truth = plane.render(ref)
    m = plane_sweep(ref, ref_gray, srcs, [plane.render(s)[0] for s in srcs], (3.0, 6.0),
                    OPTIONS)
    assert isinstance(m, DepthMap) and m.view is ref
    assert m.depth.shape == (SIDE, SIDE) and m.depth.dtype == np.float32
    assert m.valid_fraction > 0.5
    assert np.median(relative_error(m.depth, truth)) < 0.01
    # Scores are the aggregated NCC of the kept depths, 0 elsewhere.
    valid = m.depth > 0
    assert np.all(m.score[valid] >= OPTIONS.min_ncc) and np.all(m.score[valid] <= 1.0001)
    assert np.all(m.score[~valid] == 0)


def test_plane_sweep_recovers_a_slanted_plane():
    tilt = np.radians(30)
    plane = Plane([0.0, 0.0, 4.0], [np.sin(tilt), 0.0, -np.cos(tilt)], noise_texture(seed=1))
    ref, srcs = stereo_rig()
    ref_gray, truth = plane.render(ref)
    assert truth.min() < 3.3 and truth.max() > 4.9  # the depth really varies
    m = plane_sweep(ref, ref_gray, srcs, [plane.render(s)[0] for s in srcs], (2.5, 7.0),
                    OPTIONS)
    assert m.valid_fraction > 0.5
    err = relative_error(m.depth, truth)
    assert np.median(err) < 0.01
    assert np.mean(err < 0.03) > 0.9


def test_plane_sweep_ignores_the_worst_source():
    """With three sources the best two are averaged: one that sees something else (an
    occluder) does not veto the right depth."""
    plane = Plane([0.0, 0.0, 4.0], [0.0, 0.0, -1.0], noise_texture(seed=2))
    ref, srcs = stereo_rig(offsets=((-0.5, 0.15), (0.5, -0.15), (0.1, 0.5)))
    ref_gray, truth = plane.render(ref)
    grays = [plane.render(s)[0] for s in srcs]
    grays[2] = noise_texture(SIDE, sigma=1.2, seed=99)  # an occluder fills the third view
    m = plane_sweep(ref, ref_gray, srcs, grays, (3.0, 6.0), OPTIONS)
    assert m.valid_fraction > 0.5
    assert np.median(relative_error(m.depth, truth)) < 0.01


def test_plane_sweep_finds_nothing_on_a_textureless_image():
    ref, srcs = stereo_rig()
    flat = np.full((SIDE, SIDE), 0.5, np.float32)
    m = plane_sweep(ref, flat, srcs, [flat, flat], (3.0, 6.0), OPTIONS)
    assert m.valid_fraction < 0.01
    assert np.all(m.score[m.depth == 0] == 0)


def test_plane_sweep_rejects_depths_at_the_ends_of_the_range():
    """A surface nearer than the swept range matches best on the nearest plane: that is
    not a depth, so (nearly) nothing survives."""
    plane = Plane([0.0, 0.0, 4.0], [0.0, 0.0, -1.0], noise_texture(seed=3))
    ref, srcs = stereo_rig(offsets=((-0.5, 0.15), (0.5, -0.15), (0.1, 0.5)))
    ref_gray, _ = plane.render(ref)
    grays = [plane.render(s)[0] for s in srcs]
    near, far = 5.0, 9.0
    m = plane_sweep(ref, ref_gray, srcs, grays, (near, far), OPTIONS)
    assert m.valid_fraction < 0.2
    # No kept depth comes from the end planes: at least half a plane inside the range.
    half_step = 0.5 * (1 / near - 1 / far) / (OPTIONS.planes - 1)
    d = m.depth[m.depth > 0]
    assert np.all(d >= 1 / (1 / near - half_step) * (1 - 1e-5))
    assert np.all(d <= 1 / (1 / far + half_step) * (1 + 1e-5))
    inside = plane_sweep(ref, ref_gray, srcs, grays, (3.0, 6.0), OPTIONS)
    assert inside.valid_fraction > 0.9  # the same images do match in the right range


# ----------------------------------------------------------------------------- filtering


def plane_maps(corrupt: bool, seed: int = 0):
    """Four views of the plane z = 4 with exact depth maps; with ``corrupt``, view 0
    holds random depths in a square of 16 x 16 pixels."""
    side = 64
    centres = [(-0.6, 0.0), (-0.2, 0.3), (0.2, -0.3), (0.6, 0.0)]
    views = [look_at([x, y, 0.0], [0.0, 0.0, 4.0], f=60.0, w=side, h=side, name=f"v{i}")
             for i, (x, y) in enumerate(centres)]
    plane = Plane([0.0, 0.0, 4.0], [0.0, 0.0, -1.0], noise_texture(64))
    truths = [plane.render(v)[1] for v in views]
    depths = [t.copy() for t in truths]
    bad = np.zeros((side, side), bool)
    if corrupt:
        bad[24:40, 24:40] = True
        rng = np.random.default_rng(seed)
        depths[0][bad] = rng.uniform(2.0, 8.0, int(bad.sum())).astype(np.float32)
    maps = [DepthMap(v, d, np.ones_like(d)) for v, d in zip(views, depths, strict=True)]
    return maps, truths, bad


def test_filter_consistent_removes_wrong_depths_and_keeps_right_ones():
    maps, truths, bad = plane_maps(corrupt=True)
    neighbours = [[j for j in range(4) if j != i] for i in range(4)]
    out = filter_consistent(maps, neighbours, OPTIONS)
    assert len(out) == 4 and all(o.view is m.view for o, m in zip(out, maps, strict=True))
    d0 = out[0].depth
    # The random depths go (a chance agreement within 1 % may survive, but stays right).
    assert np.mean(d0[bad] > 0) < 0.03
    kept_bad = bad & (d0 > 0)
    assert np.all(np.abs(d0[kept_bad] - truths[0][kept_bad]) < 0.01 * truths[0][kept_bad])
    # The right ones stay where two other views see them, unchanged (they agree).
    for i, (o, t) in enumerate(zip(out, truths, strict=True)):
        seen = seen_by_others(maps, i, t)
        right = ~bad if i == 0 else np.ones_like(bad)
        assert np.mean(o.depth[right & (seen >= 2)] > 0) > 0.98
        assert not np.any(o.depth[seen < 2] > 0)
        valid = o.depth > 0
        assert valid.mean() > 0.8
        np.testing.assert_allclose(o.depth[valid], t[valid], rtol=2e-3)


def seen_by_others(maps, i: int, truth: np.ndarray) -> np.ndarray:
    """``(H, W)`` number of the other maps' images each pixel of map ``i`` lands in."""
    h, w = truth.shape
    v, u = np.mgrid[0:h, 0:w]
    X = maps[i].view.unproject(u.ravel(), v.ravel(), truth.ravel())
    count = np.zeros(h * w, int)
    for j, m in enumerate(maps):
        if j != i:
            uv, z = m.view.project(X)
            uv = np.round(uv)
            count += (z > 0) & np.all((uv >= 0) & (uv < [m.view.width, m.view.height]), axis=1)
    return count.reshape(h, w)


def test_filter_consistent_scores_count_the_agreeing_views():
    maps, _, bad = plane_maps(corrupt=True)
    neighbours = [[j for j in range(4) if j != i] for i in range(4)]
    out = filter_consistent(maps, neighbours, OPTIONS)
    for o in out:
        assert set(np.unique(o.score[o.depth > 0])) <= {2.0, 3.0}
        assert np.all(o.score[o.depth == 0] == 0)
        assert np.mean(o.score == 3) > 0.5  # most of the plane is confirmed by all three
    # Pixels of view 3 that look at the corrupted patch of view 0 lose its vote only.
    X0 = maps[0].view.unproject(*np.meshgrid(np.arange(64.0), np.arange(64.0)),
                                np.float32(4.0))  # view 0 nearly faces the plane: z ~ 4
    uv, _ = maps[3].view.project(X0[bad])
    u3, v3 = np.round(uv).astype(int).T
    ok = (u3 >= 2) & (u3 < 62) & (v3 >= 2) & (v3 < 62)
    centre = (u3[ok].min() + u3[ok].max()) // 2, (v3[ok].min() + v3[ok].max()) // 2
    assert out[3].score[centre[1], centre[0]] == 2
    assert out[3].depth[centre[1], centre[0]] > 0


def test_filter_consistent_averages_agreeing_depths():
    maps, truths, _ = plane_maps(corrupt=False)
    # View 1 is 0.4 % too far everywhere: within the 1 % tolerance, so it agrees.
    maps[1] = DepthMap(maps[1].view, maps[1].depth * np.float32(1.004), maps[1].score)
    out = filter_consistent(maps, [[1], [0]] + [[0, 1]] * 2, OPTIONS)
    valid = (out[0].depth > 0) & (out[1].depth > 0)
    assert valid.mean() > 0.8
    # Each of views 0 and 1 has one neighbour: one agreeing view is enough, and the
    # result is the mean of its own depth and the neighbour's (seen from view 0).
    ratio = out[0].depth[valid] / truths[0][valid]
    assert np.median(ratio) == pytest.approx(1.002, abs=5e-4)
    assert np.all(out[0].score[valid] == 1)


def test_filter_consistent_tolerance_rejects_a_scaled_map():
    maps, _, _ = plane_maps(corrupt=False)
    maps[1] = DepthMap(maps[1].view, maps[1].depth * np.float32(1.03), maps[1].score)
    out = filter_consistent(maps[:2], [[1], [0]], OPTIONS)
    assert out[0].valid_fraction == 0 and out[1].valid_fraction == 0
    loose = filter_consistent(maps[:2], [[1], [0]],
                              DenseOptions(relative_depth=0.05, reprojection_px=3.0))
    assert loose[0].valid_fraction > 0.5


def test_filter_consistent_without_neighbours_keeps_nothing():
    maps, _, _ = plane_maps(corrupt=False)
    out = filter_consistent(maps[:2], [[], [1]], OPTIONS)  # a view is not its own neighbour
    assert out[0].valid_fraction == 0 and out[1].valid_fraction == 0


# ----------------------------------------------------------------------------- sources


def source_scene():
    """A reference view, 200 sparse points 5 units in front of it and candidate views:
    returns ``(views, points, visible)``."""
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.uniform(-1, 1, 200), rng.uniform(-1, 1, 200),
                              rng.uniform(4.5, 5.5, 200)])
    target = [0.0, 0.0, 5.0]
    views = [
        look_at([0.0, 0.0, 0.0], target, name="ref"),
        look_at([1.0, 0.0, 0.0], target, name="good_100"),       # ~11 degrees, 100 shared
        look_at([-0.8, 0.3, 0.0], target, name="good_60"),       # ~9 degrees, 60 shared
        look_at([0.0, 0.0, 0.0], [0.3, 0.0, 5.0], name="same_centre"),  # no baseline
        look_at([0.0, 0.0, 10.0], target, name="opposite"),      # ~180 degrees
        look_at([0.5, 0.0, 0.0], target, name="few"),            # only 8 shared
        look_at([0.0, 1.2, 0.0], target, name="good_40"),
    ]
    visible = [np.arange(200), np.arange(100), np.arange(100, 160), np.arange(200),
               np.arange(200), np.arange(8), np.arange(160, 200)]
    return views, points, visible


def test_select_sources_ranks_by_shared_points_at_good_angles():
    views, points, visible = source_scene()
    assert select_sources(visible, points, views, 0, count=10) == [1, 2, 6]
    assert select_sources(visible, points, views, 0, count=2) == [1, 2]
    # Good angles outweigh more shared points seen at a useless angle.
    visible[3] = np.arange(200)
    assert 3 not in select_sources(visible, points, views, 0, count=10)


def test_select_sources_needs_ten_shared_points():
    views, points, visible = source_scene()
    visible[5] = np.arange(9)
    assert 5 not in select_sources(visible, points, views, 0, count=10)
    visible[5] = np.arange(190, 200)  # ten points the good views do not see
    assert select_sources(visible, points, views, 0, count=10) == [1, 2, 6, 5]


def test_select_sources_prefers_a_baseline_to_none():
    views, points, visible = source_scene()
    # Only a no-baseline view and a slightly wide one share points with view 0.
    wide = look_at([2.0, 0.0, 0.0], [0.0, 0.0, 5.0], name="wide")   # ~22 degrees
    near_zero = look_at([0.05, 0.0, 0.0], [0.0, 0.0, 5.0], name="tiny")  # ~0.6 degrees
    vs = [views[0], near_zero, wide, views[3]]
    vis = [np.arange(200), np.arange(200), np.arange(50), np.arange(200)]
    assert select_sources(vis, points, vs, 0, count=3) == [2]
    # The reference itself is never a source, whatever it shares.
    assert 0 not in select_sources(vis, points, vs, 0, count=3)


# ----------------------------------------------------------------------------- helpers


def test_depth_range_is_the_widened_bulk_of_the_points():
    view = look_at([0.0, 0.0, 0.0], [0.0, 0.0, 1.0])
    z = np.linspace(2.0, 10.0, 101)
    points = np.column_stack([0.1 * np.sin(z), 0.1 * np.cos(z), z])
    outliers = np.array([[0.0, 0.0, 1000.0], [0.0, 0.0, -5.0]])  # far away, behind
    allp = np.vstack([points, outliers])
    lo, hi = depth_range(view, allp, np.arange(len(allp)))
    z_in = view.to_cam(allp)[:, 2]
    z_in = z_in[z_in > 0]
    p2, p98 = np.percentile(z_in, [2, 98])
    assert lo == pytest.approx(p2 * 0.85) and hi == pytest.approx(p98 * 1.15)
    assert hi < 20  # the far outlier does not stretch the sweep
    lo2, hi2 = depth_range(view, allp, np.arange(101), margin=0.0)
    assert lo2 == pytest.approx(np.percentile(z, 2)) and hi2 == pytest.approx(
        np.percentile(z, 98))


def test_depth_range_needs_points_in_front():
    view = look_at([0.0, 0.0, 0.0], [0.0, 0.0, 1.0], name="lonely")
    points = np.array([[0.0, 0.0, 2.0]] * 4 + [[0.0, 0.0, -2.0]] * 10)
    with pytest.raises(ValueError, match="lonely"):
        depth_range(view, points, np.arange(len(points)))


def test_to_gray():
    rgb8 = np.zeros((2, 3, 3), np.uint8)
    rgb8[0, 0] = (255, 0, 0)
    rgb8[0, 1] = (0, 255, 0)
    rgb8[0, 2] = (0, 0, 255)
    rgb8[1] = 255
    g = to_gray(rgb8)
    assert g.shape == (2, 3) and g.dtype == np.float32
    np.testing.assert_allclose(g[1], 1.0, atol=1e-6)
    # Rec. 601 luma, channels in RGB order: green > red > blue.
    np.testing.assert_allclose(g[0], [0.299, 0.587, 0.114], atol=2e-3)
    np.testing.assert_allclose(to_gray(rgb8.astype(np.float64) / 255), g, atol=1e-6)
    flat = np.linspace(0, 1, 6, dtype=np.float64).reshape(2, 3)
    out = to_gray(flat)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, flat, atol=1e-7)
