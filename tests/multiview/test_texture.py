"""Multi-view texture baking: synthetic scenes rendered with known colours, baked back."""

from __future__ import annotations

import numpy as np
import pytest

from lift3d.errors import InputError
from lift3d.multiview.texture import TextureReport, bake_views, solve_gains, unwrap_views
from lift3d.multiview.types import View
from lift3d.render.raster import rasterize
from lift3d.types import Mesh, TexturedMesh

trimesh = pytest.importorskip("trimesh")

IMG = 128  # photo side, pixels
TEX = 256  # texture side, texels


def look_at(eye, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0), name="v", focal=110.0,
            size=IMG) -> View:
    """An OpenCV pinhole view at ``eye`` looking at ``target``."""
    eye, target, up = (np.asarray(a, dtype=np.float64) for a in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    if abs(z @ up) > 0.99:
        up = np.array([0.0, 1.0, 0.0])
    x = np.cross(-up, z)  # +y of the camera points down
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    K = np.array([[focal, 0, (size - 1) / 2], [0, focal, (size - 1) / 2], [0, 0, 1]])
    return View(name, K, np.hstack([R, (-R @ eye)[:, None]]), size, size)


def render(vertices, faces, colour_of, view: View, bg=(0.5, 0.5, 0.5)) -> np.ndarray:
    """``(H, W, 3)`` float32 sRGB photo: each pixel the colour ``colour_of`` gives the
    3-D point it sees (exact z-buffer, no shading)."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    xy, z = view.project(v)
    frags = rasterize(np.nan_to_num(xy), z, f, view.width, view.height)
    img = np.empty((view.height * view.width, 3), dtype=np.float32)
    img[:] = bg
    pts = np.einsum("nk,nkd->nd", frags.bary.astype(np.float64), v[f[frags.faces]])
    img[frags.pixels] = colour_of(pts)
    return img.reshape(view.height, view.width, 3)


def face_colours(tm: TexturedMesh) -> tuple[np.ndarray, np.ndarray]:
    """Face centres ``(F, 3)`` and the baked texture's sRGB colour there ``(F, 3)``."""
    centres = tm.vertices[tm.faces].astype(np.float64).mean(axis=1)
    uv = tm.uv[tm.faces].astype(np.float64).mean(axis=1)
    s = tm.texture.shape[0]
    col = np.clip(np.round(uv[:, 0] * s - 0.5), 0, s - 1).astype(int)
    row = np.clip(np.round((1 - uv[:, 1]) * s - 0.5), 0, s - 1).astype(int)
    return centres, tm.texture[row, col, :3].astype(np.float64) / 255.0


def sphere_colour(p: np.ndarray) -> np.ndarray:
    """A smooth colour field on the unit sphere, sRGB in [0.2, 0.6] (no clipping when a
    view is brightened by 1.4 in linear light)."""
    p = np.asarray(p, dtype=np.float64)
    c = 0.4 + 0.2 * np.stack([p[:, 0], p[:, 1], p[:, 2] * p[:, 0] + 0.0 * p[:, 1]], axis=1)
    return np.clip(c, 0.0, 1.0).astype(np.float32)


@pytest.fixture(scope="module")
def sphere_scene():
    ico = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    mesh = Mesh(np.asarray(ico.vertices, dtype=np.float64), np.asarray(ico.faces))
    eyes = [(4, 0, 0), (-4, 0, 0), (0, 4, 0), (0, -4, 0), (0, 0.5, 4), (0, -0.5, -4)]
    views = [look_at(e, name=f"v{i}") for i, e in enumerate(eyes)]
    images = [render(mesh.vertices, mesh.faces, sphere_colour, vw) for vw in views]
    return mesh, views, images


def _srgb_to_linear(c):
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c):
    c = np.clip(c, 0, 1)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


@pytest.mark.parametrize("method", ["views", "box"])
def test_sphere_colours_come_back(sphere_scene, method):
    mesh, views, images = sphere_scene
    seen = []
    kw = {} if method == "views" else {"unwrap_method": method}  # views: the default
    tm, rep = bake_views(mesh, views, images, size=TEX, progress=seen.append, **kw)
    assert isinstance(rep, TextureReport)
    centres, got = face_colours(tm)
    err = np.abs(got - sphere_colour(centres))
    assert err.mean() < 0.02, err.mean()
    assert np.percentile(err, 99) < 0.08
    assert rep.views_used == len(views)
    assert rep.texel_coverage > 0.97
    assert rep.gains.shape == (len(views), 3)
    # Identical exposures: the balance finds nothing to correct.
    np.testing.assert_allclose(rep.gains, 1.0, atol=0.02)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and np.all(np.diff(seen) >= 0)


def test_output_layout_and_welded_geometry(sphere_scene):
    mesh, views, images = sphere_scene
    u8 = [np.round(im * 255).astype(np.uint8) for im in images]  # uint8 photos too
    tm, rep = bake_views(mesh, views, u8, size=128, unwrap_method="xatlas")
    assert tm.vertices.dtype == np.float32 and tm.faces.dtype == np.int32
    assert tm.uv.dtype == np.float32 and tm.uv.min() >= 0.0 and tm.uv.max() <= 1.0
    assert tm.texture.shape == (128, 128, 3) and tm.texture.dtype == np.uint8
    np.testing.assert_allclose(np.linalg.norm(tm.normals, axis=1), 1.0, atol=1e-5)
    # Normals point out of the sphere, in the input frame (not moved to glTF axes).
    assert (np.einsum("ij,ij->i", tm.normals, tm.vertices) > 0.9).all()
    assert tm.welded_vertex_count == len(mesh.vertices)
    w = tm.welded()
    np.testing.assert_array_equal(w.faces, mesh.faces)
    np.testing.assert_allclose(w.vertices, mesh.vertices, atol=1e-6)
    assert len(tm.vertices) > len(mesh.vertices)  # split along chart seams
    centres, got = face_colours(tm)
    assert np.abs(got - sphere_colour(centres)).mean() < 0.03


def test_colour_balance_recovers_a_brighter_view(sphere_scene):
    mesh, views, images = sphere_scene
    gain = np.array([1.4, 1.0, 1.0])
    off = [im.copy() for im in images]
    off[0] = _linear_to_srgb(_srgb_to_linear(off[0]) * gain).astype(np.float32)

    tm_b, rep_b = bake_views(mesh, views, off, size=TEX)
    tm_n, rep_n = bake_views(mesh, views, off, size=TEX, balance=False)
    np.testing.assert_array_equal(rep_n.gains, 1.0)
    # Relative gains: view 0's red is brought down by 1.4 against the others.
    rel = rep_b.gains[0] / np.median(rep_b.gains[1:], axis=0)
    np.testing.assert_allclose(rel, 1.0 / gain, rtol=0.04)
    np.testing.assert_allclose(np.log(rep_b.gains).mean(axis=0), 0.0, atol=1e-9)

    centres, got_b = face_colours(tm_b)
    _, got_n = face_colours(tm_n)
    truth = sphere_colour(centres)
    err_b = np.abs(got_b - truth)[:, 0]
    err_n = np.abs(got_n - truth)[:, 0]
    # Unbalanced, the faces view 0 paints come out far too red; balanced, all faces
    # stay close (only a small common shift, the mean log gain being 0).
    assert np.percentile(err_n, 95) > 0.08
    assert np.percentile(err_b, 95) < 0.05
    assert np.percentile(err_b, 95) < 0.5 * np.percentile(err_n, 95)


def test_solve_gains_exact_ratios():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.05, 0.6, size=(2000, 1, 3))
    true = np.array([[1.0, 1.0, 1.0], [1.3, 0.9, 1.0], [0.8, 1.0, 1.2]])
    col = base * true[None]
    col[rng.random((2000, 3)) < 0.3] = np.nan  # some views miss some texels
    col[:50, 1] *= 3.0  # a few outliers (a specular highlight)
    g = solve_gains(col)
    # g * true is the same for every view (up to the common mean-log-zero factor).
    prod = g * true
    np.testing.assert_allclose(prod / prod.mean(axis=0), 1.0, atol=0.02)


def plane_and_box():
    """A 2x2 plane at z=0 (normal +z) and a small red box floating above its centre."""
    n = 16
    xs = np.linspace(-1, 1, n + 1)
    gx, gy = np.meshgrid(xs, xs)
    pv = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], axis=1)
    idx = np.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]
    pf = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3),
                         np.stack([a, c, d], -1).reshape(-1, 3)])
    box = trimesh.creation.box(extents=(0.4, 0.4, 0.3))
    box.apply_translation((0.0, 0.0, 0.45))
    verts = np.concatenate([pv, np.asarray(box.vertices)])
    faces = np.concatenate([pf, np.asarray(box.faces) + len(pv)])
    return Mesh(verts, faces), len(pf)


def scene_colour(p: np.ndarray) -> np.ndarray:
    on_box = p[:, 2] > 0.05
    plane = np.stack([0.1 + 0.0 * p[:, 0], 0.5 + 0.2 * p[:, 0], 0.7 + 0.1 * p[:, 1]], 1)
    return np.where(on_box[:, None], np.array([0.9, 0.1, 0.1]), plane).astype(np.float32)


def test_occluder_does_not_paint_the_hidden_surface():
    mesh, n_plane = plane_and_box()
    top = look_at((0.0, 0.0, 3.0), up=(0, 1, 0), name="top", size=160, focal=130)
    side = look_at((2.5, 0.0, 2.5), name="side", size=160, focal=110)
    views = [top, side]
    images = [render(mesh.vertices, mesh.faces, scene_colour, vw) for vw in views]
    # The top view really is blocked there: its photo shows red above the plane's centre.
    uv, _ = top.project(np.array([[0.1, 0.0, 0.0]]))
    assert images[0][int(round(uv[0, 1])), int(round(uv[0, 0]))][0] > 0.8

    tm, rep = bake_views(mesh, views, images, size=TEX)
    centres, got = face_colours(tm)
    plane = np.arange(len(centres)) < n_plane
    hidden = plane & (np.abs(centres[:, 1]) < 0.15) & (centres[:, 0] > 0.0) \
        & (centres[:, 0] < 0.2)
    assert hidden.sum() >= 2
    truth = scene_colour(centres)
    assert np.abs(got[hidden] - truth[hidden]).max() < 0.08
    assert (got[hidden, 0] < 0.3).all()  # no red from the box
    # And the plane overall, and the box's visible top, come out right.
    assert np.abs(got[plane] - truth[plane]).mean() < 0.03
    box_top = ~plane & (tm.vertices[tm.faces][:, :, 2].min(axis=1) > 0.55)
    assert np.abs(got[box_top] - truth[box_top]).max() < 0.05
    assert rep.views_used == 2


@pytest.mark.parametrize("method", ["views", "box"])
def test_unseen_texels_are_filled(sphere_scene, method):
    mesh, views, images = sphere_scene
    # One view sees one hemisphere: the rest is filled from its edge, never black.
    tm, rep = bake_views(mesh, views[:1], images[:1], size=128, unwrap_method=method)
    if method == "box":  # uniform density: coverage ~ the seen half of the surface
        assert 0.3 < rep.texel_coverage < 0.6
    else:  # unseen charts get a quarter of the density: most texels are seen ones
        assert 0.6 < rep.texel_coverage < 0.98
    assert rep.views_used == 1
    np.testing.assert_array_equal(rep.gains, 1.0)
    _, got = face_colours(tm)
    assert got.min() > 0.1


def _bad_calls(mesh, views, images):
    empty = Mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64))
    small = [im[:-1] for im in images]
    ints = [im.astype(np.int32) for im in images]
    return [
        ("mesh", dict(mesh=empty, views=views, images=images)),
        ("mesh", dict(mesh="not a mesh", views=views, images=images)),
        ("views", dict(mesh=mesh, views=[], images=[])),
        ("views[1]", dict(mesh=mesh, views=[views[0], "x"], images=images[:2])),
        ("images", dict(mesh=mesh, views=views, images=images[:-1])),
        ("images[0]", dict(mesh=mesh, views=views, images=small)),
        ("images[0]", dict(mesh=mesh, views=views, images=ints)),
        ("images[2]", dict(mesh=mesh, views=views,
                           images=images[:2] + [images[2][..., :2]] + images[3:])),
        ("size", dict(mesh=mesh, views=views, images=images, size=4)),
        ("size", dict(mesh=mesh, views=views, images=images, size=1.5)),
        ("unwrap_method", dict(mesh=mesh, views=views, images=images, unwrap_method="x")),
        ("max_views_per_texel", dict(mesh=mesh, views=views, images=images,
                                     max_views_per_texel=0)),
        ("depth_tolerance", dict(mesh=mesh, views=views, images=images,
                                 depth_tolerance=-1.0)),
    ]


def test_bad_inputs_name_the_argument(sphere_scene):
    mesh, views, images = sphere_scene
    for name, kwargs in _bad_calls(mesh, views, images):
        with pytest.raises(InputError) as exc:
            bake_views(**kwargs)
        assert str(exc.value).startswith(name), (name, str(exc.value))


@pytest.mark.parametrize("method", ["views", "box"])
def test_views_that_miss_the_mesh_are_an_error(sphere_scene, method):
    mesh, views, images = sphere_scene
    away = look_at((0, 0, 10), target=(0, 0, 20), name="away")
    img = np.zeros((IMG, IMG, 3), dtype=np.float32)
    with pytest.raises(InputError, match="^views"):
        bake_views(mesh, [away], [img], size=64, unwrap_method=method)


# ----------------------------------------------------------------- view charts


def texel_owners(uv: np.ndarray, faces: np.ndarray, chart: np.ndarray, size: int
                 ) -> tuple[np.ndarray, int]:
    """Rasterise every uv triangle (texel centres inside it): ``(S, S)`` chart owning
    each texel (-1: none) and the number of texels two charts both cover."""
    px = np.stack([uv[:, 0] * size - 0.5, (1 - uv[:, 1]) * size - 0.5], axis=1)
    owner = np.full((size, size), -1, dtype=np.int64)
    clashes = 0
    for fi, t in enumerate(px[faces].astype(np.float64)):
        lo = np.maximum(np.floor(t.min(axis=0)).astype(int), 0)
        hi = np.minimum(np.ceil(t.max(axis=0)).astype(int), size - 1)
        if (hi < lo).any():
            continue
        xs, ys = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1))
        e1, e2 = t[1] - t[0], t[2] - t[0]
        det = e1[0] * e2[1] - e1[1] * e2[0]
        if abs(det) < 1e-12:
            continue
        dx, dy = xs - t[0, 0], ys - t[0, 1]
        b1 = (dx * e2[1] - dy * e2[0]) / det
        b2 = (e1[0] * dy - e1[1] * dx) / det
        inside = (b1 > 1e-9) & (b2 > 1e-9) & (b1 + b2 < 1 - 1e-9)
        r, c = ys[inside], xs[inside]
        prev = owner[r, c]
        clashes += int(((prev >= 0) & (prev != chart[fi])).sum())
        owner[r, c] = chart[fi]
    return owner, clashes


def signed_area(p: np.ndarray, faces: np.ndarray) -> np.ndarray:
    t = p[faces].astype(np.float64)
    a, b = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    return 0.5 * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])


def test_view_charts_layout(sphere_scene):
    mesh, views, _ = sphere_scene
    at = unwrap_views(mesh, views, resolution=TEX)
    assert at.uv.dtype == np.float32 and at.uv.min() >= 0.0 and at.uv.max() <= 1.0
    assert at.resolution == TEX and at.face_chart.shape == (len(mesh.faces),)
    # Welded geometry is the input's, faces in order; vertices split on chart seams.
    w = at.welded()
    np.testing.assert_array_equal(w.faces, mesh.faces)
    np.testing.assert_allclose(w.vertices, mesh.vertices, atol=1e-12)
    assert len(at.vertices) > len(mesh.vertices)
    # Six views around a sphere: a handful of large charts (box charting, too, makes
    # six or more), not one per face.
    assert 6 <= at.chart_count <= 20, at.chart_count
    # Every face keeps its orientation (counter-clockwise in uv: no fold-over).
    assert (signed_area(at.uv, at.faces) > 0).all()
    # Charts do not overlap.
    owner, clashes = texel_owners(at.uv, at.faces, at.face_chart, TEX)
    assert clashes == 0
    assert (owner >= 0).mean() > 0.3  # and fill a fair part of the square
    # Each chart is its view's photo, uniformly scaled: uv area / projected area is
    # one constant for all faces of all charts (in some view per chart).
    uv_area = signed_area(at.uv * TEX, at.faces)
    ratios = np.stack([uv_area / np.maximum(
        -signed_area(np.nan_to_num(vw.project(at.vertices)[0]), at.faces), 1e-12)
        for vw in views], axis=1)  # (F, n_views); photos' area is clockwise
    per_chart = []
    for c in np.unique(at.face_chart):
        r = ratios[at.face_chart == c]
        spread = r.max(axis=0) / np.maximum(r.min(axis=0), 1e-12)
        ok = np.flatnonzero((r.min(axis=0) > 0) & (spread < 1.001))
        assert ok.size, f"chart {c} is no view's projection"
        per_chart.append(r[0, ok])
    common = [x for x in per_chart[0] if all(np.isclose(p, x, rtol=1e-3).any()
                                             for p in per_chart)]
    assert common, "charts are scaled differently"


def test_view_charts_for_unseen_faces(sphere_scene):
    # One view: the hidden hemisphere gets box-projected charts of its own, also
    # counter-clockwise, inside the square and clear of the others.
    mesh, views, _ = sphere_scene
    at = unwrap_views(mesh, views[:1], resolution=TEX)
    assert at.chart_count >= 2
    assert at.uv.min() >= 0.0 and at.uv.max() <= 1.0
    assert (signed_area(at.uv, at.faces) > 0).all()
    _, clashes = texel_owners(at.uv, at.faces, at.face_chart, TEX)
    assert clashes == 0
    # Hidden faces get a quarter of the seen faces' texel density (area: 1/16).
    facing = np.einsum("ij,ij->i", mesh.vertices[mesh.faces].mean(axis=1),
                       views[0].center - mesh.vertices[mesh.faces].mean(axis=1)) > 0
    tri = mesh.vertices[mesh.faces]
    area3d = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]),
                                  axis=1)
    density = signed_area(at.uv, at.faces) / area3d
    assert np.median(density[~facing]) < 0.3 * np.median(density[facing])


def noisy_sphere(subdivisions: int = 4, noise: float = 0.3, seed: int = 0) -> Mesh:
    """An icosphere with every vertex moved along its normal by ``noise`` edge lengths
    (rms): the wrinkled surface of a TSDF reconstruction."""
    ico = trimesh.creation.icosphere(subdivisions=subdivisions, radius=1.0)
    v = np.asarray(ico.vertices, dtype=np.float64)
    edge = float(np.mean(ico.edges_unique_length))
    rng = np.random.default_rng(seed)
    v = v * (1.0 + noise * edge * rng.standard_normal(len(v)))[:, None]
    return Mesh(v, np.asarray(ico.faces))


def test_view_charts_stay_large_on_a_noisy_mesh(sphere_scene):
    from lift3d.quality.bake import unwrap

    _, views, _ = sphere_scene
    mesh = noisy_sphere()
    images = [render(mesh.vertices, mesh.faces, sphere_colour, vw) for vw in views]
    at = unwrap_views(mesh, views, resolution=512)
    box = unwrap(mesh.vertices, mesh.faces, resolution=512, method="box")
    assert at.chart_count < 0.25 * box.chart_count, (at.chart_count, box.chart_count)
    _, clashes = texel_owners(at.uv, at.faces, at.face_chart, 512)
    assert clashes == 0
    tm, rep = bake_views(mesh, views, images, size=512)
    assert rep.texel_coverage > 0.9
    centres, got = face_colours(tm)
    err = np.abs(got - sphere_colour(centres / np.linalg.norm(centres, axis=1,
                                                                keepdims=True)))
    assert np.median(err) < 0.03, np.median(err)


def triangle_soup(n: int, seed: int = 3) -> Mesh:
    """``n`` small separate triangles on the plane z = 0, facing +z."""
    rng = np.random.default_rng(seed)
    centre = np.stack([rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), np.zeros(n)], axis=1)
    size = rng.uniform(0.005, 0.04, n)[:, None, None]
    ang = rng.uniform(0, 2 * np.pi, n)[:, None] + np.array([0.0, 2.1, 4.2])
    tri = centre[:, None, :] + size * np.stack([np.cos(ang), np.sin(ang),
                                                 np.zeros_like(ang)], axis=2)
    return Mesh(tri.reshape(-1, 3), np.arange(3 * n).reshape(n, 3))


def test_many_small_charts_pack_fast():
    """A triangle soup: thousands of charts that cannot merge, packed in well under a
    second, inside the square and without overlap."""
    import time

    n = 3000
    mesh = triangle_soup(n)
    top = look_at((0.0, 0.0, 3.0), up=(0, 1, 0), name="top", size=400, focal=350)
    t0 = time.perf_counter()
    at = unwrap_views(mesh, [top], resolution=1024)
    assert time.perf_counter() - t0 < 3.0
    assert at.chart_count == n
    assert at.uv.min() >= 0.0 and at.uv.max() <= 1.0
    _, clashes = texel_owners(at.uv, at.faces, at.face_chart, 1024)
    assert clashes == 0
    assert (signed_area(at.uv, at.faces) > 0).all()


def test_unwrap_views_bad_inputs_name_the_argument(sphere_scene):
    mesh, views, _ = sphere_scene
    soup = triangle_soup(200)
    for name, kwargs in [
        ("resolution", dict(mesh=soup, views=views[4:5], resolution=16)),  # too many charts
        ("mesh", dict(mesh="x", views=views, resolution=64)),
        ("views", dict(mesh=mesh, views=[], resolution=64)),
        ("views[0]", dict(mesh=mesh, views=["x"], resolution=64)),
        ("resolution", dict(mesh=mesh, views=views, resolution=4)),
        ("padding_px", dict(mesh=mesh, views=views, resolution=64, padding_px=40)),
        ("padding_px", dict(mesh=mesh, views=views, resolution=64, padding_px=-1)),
        ("depth_tolerance", dict(mesh=mesh, views=views, resolution=64,
                                 depth_tolerance=float("nan"))),
    ]:
        with pytest.raises(InputError) as exc:
            unwrap_views(**kwargs)
        assert str(exc.value).startswith(name), (name, str(exc.value))
