"""UV atlases: charts, seams, packing (lift3d.texture.atlas)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("xatlas")
trimesh = pytest.importorskip("trimesh")

from lift3d.errors import MissingExtraError  # noqa: E402
from lift3d.texture.atlas import (  # noqa: E402
    Unwrap,
    chart_components,
    unwrap_box,
    unwrap_xatlas,
)
from lift3d.types import Mesh  # noqa: E402

RES = 512
PAD = 4


def _noisy_sphere(amplitude: float) -> trimesh.Trimesh:
    m = trimesh.creation.icosphere(subdivisions=4)
    rng = np.random.default_rng(3)
    v = m.vertices * (1.0 + amplitude * rng.standard_normal((len(m.vertices), 1)))
    return trimesh.Trimesh(v, m.faces, process=False)


def _make(name: str) -> trimesh.Trimesh:
    if name == "sphere":
        return trimesh.creation.icosphere(subdivisions=4)
    if name == "box":
        return trimesh.creation.box(extents=(1.0, 2.0, 0.5))
    if name == "torus":
        return trimesh.creation.torus(major_radius=1.0, minor_radius=0.35)
    if name == "capsule":
        return trimesh.creation.capsule(height=1.0, radius=0.4)
    if name == "noisy":  # mild surface noise, like a meshed depth map
        return _noisy_sphere(0.01)
    if name == "rough":  # noise as large as the edges: charts must not overlap themselves
        return _noisy_sphere(0.04)
    if name == "slab":  # flat, camera-facing, like a layered-depth mesh of a thin object
        m = trimesh.creation.icosphere(subdivisions=3)
        return trimesh.Trimesh(m.vertices * [1.0, 1.4, 0.25] + [0, 0, 3], m.faces, process=False)
    raise KeyError(name)


MESHES = ["sphere", "box", "torus", "capsule", "noisy", "rough", "slab"]
METHODS = {"box": unwrap_box, "xatlas": unwrap_xatlas}
_CACHE: dict[tuple[str, str], tuple[trimesh.Trimesh, Unwrap]] = {}


def _unwrap(mesh_name: str, method: str) -> tuple[trimesh.Trimesh, Unwrap]:
    key = (mesh_name, method)
    if key not in _CACHE:
        tm = _make(mesh_name)
        u = METHODS[method](Mesh(tm.vertices, tm.faces), padding_px=PAD, resolution=RES)
        _CACHE[key] = (tm, u)
    return _CACHE[key]


CASES = [(m, k) for m in MESHES for k in METHODS if not (m in ("noisy", "rough") and k == "xatlas")]


@pytest.fixture(params=CASES, ids=[f"{m}-{k}" for m, k in CASES])
def case(request):
    return _unwrap(*request.param)


def _signed_area(uv: np.ndarray, faces: np.ndarray) -> np.ndarray:
    t = uv[faces].astype(np.float64)
    a, b = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    return 0.5 * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])


def _interior_texels(uv: np.ndarray, faces: np.ndarray, size: int, eps: float = 1e-6):
    """Every (face, texel) pair whose texel centre lies strictly inside the face,
    by brute force over bounding boxes (independent of lift3d's rasteriser)."""
    p = np.stack([uv[:, 0] * size - 0.5, (1.0 - uv[:, 1]) * size - 0.5], axis=1).astype(np.float64)
    t = p[faces]
    lo = np.ceil(t.min(axis=1)).astype(np.int64)
    hi = np.floor(t.max(axis=1)).astype(np.int64)
    nx = np.maximum(hi[:, 0] - lo[:, 0] + 1, 0)
    ny = np.maximum(hi[:, 1] - lo[:, 1] + 1, 0)
    n = nx * ny
    fidx = np.repeat(np.arange(len(faces)), n)
    local = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    px = lo[fidx, 0] + local % nx[fidx]
    py = lo[fidx, 1] + local // nx[fidx]
    a, b, c = t[fidx, 0], t[fidx, 1], t[fidx, 2]

    def edge(p0, p1):
        return (p1[:, 0] - p0[:, 0]) * (py - p0[:, 1]) - (p1[:, 1] - p0[:, 1]) * (px - p0[:, 0])

    e0, e1, e2 = edge(b, c), edge(c, a), edge(a, b)
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    s = np.sign(area)
    inside = (e0 * s > eps) & (e1 * s > eps) & (e2 * s > eps) & (np.abs(area) > 1e-12)
    inside &= (px >= 0) & (px < size) & (py >= 0) & (py < size)
    return fidx[inside], py[inside], px[inside]


# ----------------------------------------------------------------------------- basics


def test_uv_in_unit_square_and_dtypes(case):
    tm, u = case
    assert u.uv.dtype == np.float32 and u.uv.shape == (len(u.vertices), 2)
    assert u.vertices.dtype == np.float64 and u.faces.dtype == np.int64
    assert u.welded_index.dtype == np.int64
    assert np.isfinite(u.uv).all()
    assert u.uv.min() >= 0.0 and u.uv.max() <= 1.0
    # Charts keep the requested outer padding.
    assert u.uv.min() * RES >= PAD - 0.5 and u.uv.max() * RES <= RES - PAD + 0.5


def test_welded_index_maps_back_exactly(case):
    tm, u = case
    assert np.array_equal(u.vertices, np.asarray(tm.vertices)[u.welded_index])
    # Faces keep their order and winding.
    assert np.array_equal(u.welded_index[u.faces], np.asarray(tm.faces))
    # Every original vertex survives (closed meshes: all are used).
    assert np.unique(u.welded_index).size == len(tm.vertices)


def test_welding_back_is_watertight(case):
    tm, u = case
    w = u.welded()
    m = trimesh.Trimesh(w.vertices, w.faces, process=False)
    assert m.is_watertight and m.is_winding_consistent
    assert m.volume == pytest.approx(tm.volume, rel=1e-9)
    # The split mesh itself is open along the seams (unless a single chart).
    split = trimesh.Trimesh(u.vertices, u.faces, process=False)
    assert len(u.vertices) > len(tm.vertices) and not split.is_watertight


def test_chart_count_matches_components(case):
    tm, u = case
    n, comp = chart_components(u.faces, len(u.vertices))
    assert n == u.chart_count
    assert (u.face_chart >= 0).all()
    # Each reported chart is exactly one connected component.
    pairs = np.unique(np.stack([u.face_chart, comp], axis=1), axis=0)
    assert len(pairs) == n


def test_no_flipped_triangles(case):
    tm, u = case
    sa = _signed_area(u.uv, u.faces)
    # Counter-clockwise from outside stays counter-clockwise in uv: all positive.
    assert (sa > 0).all(), f"{(sa <= 0).sum()} flipped or degenerate uv triangles"


def test_charts_do_not_overlap(case):
    tm, u = case
    fidx, py, px = _interior_texels(u.uv, u.faces, RES)
    texel = py * RES + px
    count = np.bincount(texel, minlength=RES * RES)
    assert count.max() <= 1, f"{(count > 1).sum()} texels covered twice"
    # ... and charts keep a gutter of about `padding` texels between them.
    owner = np.full(RES * RES, -1, dtype=np.int64)
    owner[texel] = u.face_chart[fidx]
    owner = owner.reshape(RES, RES)
    g = PAD - 1
    padded = np.pad(owner, g, constant_values=-1)
    for dy in range(-g, g + 1):
        for dx in range(-g, g + 1):
            other = padded[g + dy:g + dy + RES, g + dx:g + dx + RES]
            clash = (owner >= 0) & (other >= 0) & (owner != other)
            assert not clash.any(), f"charts closer than {g + 1} texels (shift {dx},{dy})"


def test_rasterised_area_matches_uv_area(case):
    tm, u = case
    fidx, _, _ = _interior_texels(u.uv, u.faces, RES)
    area_texels = np.abs(_signed_area(u.uv, u.faces)).sum() * RES * RES
    assert len(fidx) == pytest.approx(area_texels, rel=0.08)
    # A decent share of the square is used (hundreds of tiny charts waste more).
    assert area_texels / RES**2 > (0.1 if u.chart_count > 100 else 0.2)


def test_texel_density_uniform(case):
    tm, u = case
    a_uv = np.abs(_signed_area(u.uv, u.faces)) * RES * RES
    v = u.vertices[u.faces]
    a_3d = 0.5 * np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1)
    k = int(u.face_chart.max()) + 1
    uv_c = np.bincount(u.face_chart, a_uv, minlength=k)
    d3_c = np.bincount(u.face_chart, a_3d, minlength=k)
    big = uv_c > 30.0  # tiny charts are rounded up to whole texels by the packer
    dens = np.sqrt(uv_c[big] / d3_c[big])
    assert dens.max() / dens.min() < 3.0, dens
    # Per face, too (box projection: at most 1/cos(54.7 deg) in area).
    fd = np.sqrt(a_uv / a_3d)[a_uv > 4.0]
    assert np.percentile(fd, 99) / np.percentile(fd, 1) < 3.0


# ----------------------------------------------------------------------------- box specifics


def test_box_mesh_gets_six_charts():
    tm, u = _unwrap("box", "box")
    assert u.chart_count == 6
    assert np.bincount(u.face_chart).tolist() == [2] * 6
    assert len(u.vertices) == 24


def test_box_front_chart_is_not_mirrored():
    """The chart facing the camera (-z) shows the surface as the camera sees it: the map
    from the photo's axes (camera x, camera -y, i.e. up) to (u, v) is a rotation and a
    scale, not a mirror image."""
    tm, u = _unwrap("sphere", "box")
    v = u.vertices[u.faces]
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    front = n[:, 2] < -0.9 * np.linalg.norm(n, axis=1)
    chart = np.bincount(u.face_chart[front]).argmax()
    sel = np.unique(u.faces[u.face_chart == chart])
    src = np.stack([u.vertices[sel, 0], -u.vertices[sel, 1], np.ones(len(sel))], axis=1)
    coef, *_ = np.linalg.lstsq(src, u.uv[sel].astype(np.float64), rcond=None)
    a = coef[:2].T  # uv = a @ (x, -y) + b
    assert np.allclose(src @ coef, u.uv[sel], atol=1e-4)
    assert np.linalg.det(a) > 0
    s = np.linalg.svd(a, compute_uv=False)
    assert s[0] / s[1] < 1.05  # no shear / stretch either


def test_box_merges_tiny_charts():
    tm, u = _unwrap("noisy", "box")
    sizes = np.bincount(u.face_chart)
    # Noise flips the dominant axis of single faces here and there; smoothing and
    # merging keep the six big charts.
    assert len(sizes) <= 10 and (sizes < 8).sum() <= 2, sorted(sizes)


def test_unwrap_box_on_20k_faces_keeps_few_charts():
    tm = trimesh.creation.icosphere(subdivisions=5)  # 20480 faces
    mesh = Mesh(tm.vertices, tm.faces)
    u = unwrap_box(mesh, resolution=1024)
    assert 6 <= u.chart_count <= 12
    assert len(u.faces) == len(tm.faces)


def test_unwrap_rejects_empty_mesh():
    empty = Mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64))
    with pytest.raises(ValueError):
        unwrap_box(empty)


def test_degenerate_faces_do_not_break_unwrap():
    tm = trimesh.creation.icosphere(subdivisions=2)
    v = np.asarray(tm.vertices)
    f = np.asarray(tm.faces)
    a, b, _ = f[0]
    # A zero-area sliver along edge (a, b), through a vertex no other face uses.
    v2 = np.vstack([v, 0.5 * (v[a] + v[b])])
    f2 = np.vstack([f, [[a, len(v), b]]])
    for fn in METHODS.values():
        u = fn(Mesh(v2, f2), resolution=256)
        assert np.isfinite(u.uv).all() and u.uv.min() >= 0 and u.uv.max() <= 1
        assert np.array_equal(u.welded_index[u.faces], f2)
        sa = _signed_area(u.uv, u.faces)
        assert abs(sa[-1]) * 256 * 256 < 1.0  # the sliver stays (nearly) without uv area
        assert (sa[:-1] > 0).all()


def test_missing_xatlas_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "xatlas", None)
    tm = trimesh.creation.box()
    with pytest.raises(MissingExtraError, match="atlas"):
        unwrap_box(Mesh(tm.vertices, tm.faces))
