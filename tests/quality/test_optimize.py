"""``lift3d optimize`` as a library: budgets, re-baked textures, LODs, scale, presets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("xatlas")
pytest.importorskip("gpytoolbox")
pytest.importorskip("fast_simplification")
trimesh = pytest.importorskip("trimesh")

from lift3d.errors import InputError  # noqa: E402
from lift3d.mesh.cleanup import is_watertight, weld  # noqa: E402
from lift3d.quality.bake import unwrap  # noqa: E402
from lift3d.quality.optimize import OptimizeOptions, optimize_mesh  # noqa: E402
from lift3d.quality.presets import get_preset  # noqa: E402
from lift3d.quality.shape_metrics import sample_surface  # noqa: E402
from lift3d.quality.transfer import sample_colors  # noqa: E402
from lift3d.texture.bake import fill_empty  # noqa: E402
from lift3d.texture.raster import rasterize_uv  # noqa: E402
from lift3d.types import MeshAsset  # noqa: E402

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RED = np.array([220, 40, 30, 255], dtype=np.uint8)
BLUE = np.array([30, 60, 200, 255], dtype=np.uint8)


def checker(points: np.ndarray, cells_per_unit: float = 3.0) -> np.ndarray:
    """``(N, 4)`` uint8: a 3-D checkerboard, red and blue cubes of side 1/cells."""
    odd = np.floor(np.asarray(points) * cells_per_unit).sum(axis=1).astype(np.int64) % 2
    return np.where(odd[:, None] == 1, RED, BLUE)


def sphere(subdivisions: int = 4, radius: float = 1.0) -> MeshAsset:
    s = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return MeshAsset(np.asarray(s.vertices, np.float64), np.asarray(s.faces, np.int64))


_CACHE: dict[tuple, MeshAsset] = {}


def textured_sphere(subdivisions: int = 5, size: int = 256) -> MeshAsset:
    """An icosphere with a box atlas whose texture shows :func:`checker` in 3-D."""
    key = ("tex", subdivisions, size)
    if key not in _CACHE:
        base = sphere(subdivisions)
        atlas = unwrap(base.vertices, base.faces, resolution=size, method="box")
        face_id, bary = rasterize_uv(atlas.uv, atlas.faces, size, dilate=2)
        rows, cols = np.nonzero(face_id >= 0)
        f = atlas.faces[face_id[rows, cols]]
        pts = np.einsum("nk,nkd->nd", bary[rows, cols].astype(np.float64), atlas.vertices[f])
        tex = np.zeros((size, size, 3), np.uint8)
        tex[rows, cols] = checker(pts)[:, :3]
        tex = fill_empty(tex, face_id >= 0)
        _CACHE[key] = MeshAsset(atlas.vertices, atlas.faces, uv=atlas.uv, texture=tex,
                                texture_sizes=((size, size),))
    return _CACHE[key]


def vertex_coloured_sphere(subdivisions: int = 4) -> MeshAsset:
    base = sphere(subdivisions)
    # A smooth colour field, so vertex interpolation represents it well.
    p = base.vertices
    rgb = np.clip(np.round(127.5 + 127.5 * np.stack([p[:, 0], p[:, 1] * p[:, 2] * 2,
                                                     -p[:, 1]], axis=1)), 0, 255)
    vc = np.concatenate([rgb, np.full((len(p), 1), 255)], axis=1).astype(np.uint8)
    return dataclasses.replace(base, vertex_colors=vc)


def colour_error(a: MeshAsset, b: MeshAsset, n: int = 2000) -> float:
    """Mean absolute RGB difference (0..255) between what ``a`` and ``b`` show at
    ``n`` points sampled on ``a``'s surface (``b`` at the closest point)."""
    pts = sample_surface(a.vertices, a.faces, n, rng=0)
    ca = sample_colors(a, pts).astype(np.float64)[:, :3]
    cb = sample_colors(b, pts).astype(np.float64)[:, :3]
    return float(np.abs(ca - cb).mean())


def edge_cv(m: MeshAsset) -> float:
    t = np.asarray(m.vertices)[np.asarray(m.faces)]
    e = np.linalg.norm(t - np.roll(t, 1, axis=1), axis=2).ravel()
    return float(e.std() / e.mean())


KEEP = {"origin": "keep"}


# ----------------------------------------------------------------------------- budgets


def test_faces_keeps_texture_mapping_and_closed_surface():
    src = textured_sphere()
    res = optimize_mesh(src, OptimizeOptions(faces=5000, **KEEP))
    lod0 = res.lods[0]
    assert res.faces_before == len(src.faces) == 20480
    assert abs(res.faces_after - 5000) <= 500
    assert lod0.texture is not None and lod0.uv is not None
    assert lod0.texture.shape == src.texture.shape  # the texture size stays
    assert is_watertight(weld(lod0.mesh())) and res.watertight

    err = colour_error(src, lod0)
    shuffled = dataclasses.replace(
        lod0, uv=lod0.uv[np.random.default_rng(1).permutation(len(lod0.uv))])
    control = colour_error(src, shuffled)
    # Mismatches only where a checker edge crosses a flattened triangle.
    assert err < 12.0, err
    assert control > 40.0 and err < 0.15 * control, (err, control)
    assert any("re-baked the texture" in c for c in res.changes)


def test_ratio_on_open_mesh():
    s = sphere(4)
    keep = s.vertices[s.faces].mean(axis=1)[:, 1] < 0.6  # cut a cap off: an open bowl
    bowl = MeshAsset(s.vertices, s.faces[keep])
    res = optimize_mesh(bowl, OptimizeOptions(ratio=0.25, **KEEP))
    assert abs(res.faces_after - 0.25 * keep.sum()) <= 0.1 * 0.25 * keep.sum()
    assert not res.watertight
    assert any("open surface" in c for c in res.changes)


def test_under_budget_is_left_alone():
    src = textured_sphere()
    res = optimize_mesh(src, OptimizeOptions(faces=50_000, **KEEP))
    assert res.lods[0].faces is src.faces or np.array_equal(res.lods[0].faces, src.faces)
    assert res.lods[0].texture is src.texture
    assert any("within the budget" in c for c in res.changes)


def test_vertex_coloured_mesh_decimated_becomes_textured_with_its_colours():
    src = vertex_coloured_sphere(4)
    res = optimize_mesh(src, OptimizeOptions(faces=1000, texture_size=256, **KEEP))
    lod0 = res.lods[0]
    assert lod0.vertex_colors is None and lod0.texture is not None
    assert lod0.texture.shape == (256, 256, 3)
    assert res.texture_size == (256, 256)
    assert colour_error(src, lod0) < 6.0


def test_bake_colors_keeps_geometry():
    src = vertex_coloured_sphere(3)
    res = optimize_mesh(src, OptimizeOptions(bake_colors=True, texture_size=128, **KEEP))
    lod0 = res.lods[0]
    assert lod0.texture is not None and lod0.vertex_colors is None
    assert len(lod0.faces) == len(src.faces)
    assert colour_error(src, lod0) < 6.0
    # Without the option the colours stay on the vertices.
    plain = optimize_mesh(src, OptimizeOptions(**KEEP)).lods[0]
    assert plain.vertex_colors is not None and plain.texture is None


def test_unwrap_gives_uvs_to_a_bare_mesh():
    src = sphere(3)
    res = optimize_mesh(src, OptimizeOptions(unwrap=True, texture_size=256, **KEEP))
    lod0 = res.lods[0]
    assert lod0.uv is not None and lod0.texture is None
    assert lod0.uv.min() >= 0 and lod0.uv.max() <= 1
    assert len(lod0.faces) == len(src.faces)


def test_remesh_evens_the_triangles():
    s = sphere(4)
    v = s.vertices.copy()
    v[:, 0] *= 2.5  # stretched: long thin triangles
    src = MeshAsset(v, s.faces)
    res = optimize_mesh(src, OptimizeOptions(remesh=True, faces=3000, **KEEP))
    lod0 = res.lods[0]
    assert edge_cv(lod0) < 0.6 * edge_cv(src), (edge_cv(lod0), edge_cv(src))
    assert abs(len(lod0.faces) - 3000) <= 600
    assert res.watertight
    assert any("remeshed" in c for c in res.changes)


def test_lods_halve_and_are_baked():
    src = textured_sphere()
    res = optimize_mesh(src, OptimizeOptions(faces=4000, lods=3, **KEEP))
    counts = [len(m.faces) for m in res.lods]
    assert len(counts) == 3
    assert counts[0] > counts[1] > counts[2]
    assert abs(counts[1] - counts[0] / 2) <= 0.15 * counts[0] / 2
    assert abs(counts[2] - counts[0] / 4) <= 0.15 * counts[0] / 4
    for m in res.lods:
        assert m.texture is not None
        assert colour_error(src, m, n=1000) < 20.0
    assert res.lods[2].texture.shape[0] < res.lods[0].texture.shape[0]
    assert res.file_names("chair") == ("chair.glb", "chair_LOD1.glb", "chair_LOD2.glb")
    assert [n for n, _ in res.files("m")][1] == "m_LOD1.glb"


# ----------------------------------------------------------------------------- scale


def test_height_scales_and_moves_origin_to_base_centre():
    s = sphere(2)
    src = MeshAsset(s.vertices * 7.0 + [3.0, 5.0, -2.0], s.faces)
    res = optimize_mesh(src, OptimizeOptions(height=1.8))
    v = res.lods[0].vertices
    assert np.isclose(v[:, 1].max() - v[:, 1].min(), 1.8)
    assert np.isclose(v[:, 1].min(), 0.0, atol=1e-12)
    centre = (v.min(axis=0) + v.max(axis=0)) / 2
    assert np.allclose(centre[[0, 2]], 0.0, atol=1e-12)
    assert res.unit == "m" and res.lods[0].unit == "m" and res.scale_known
    assert np.isclose(res.scale_factor, 1.8 / 14.0, rtol=1e-3)


def test_units_convert_to_metres_and_option_overrides_the_file():
    s = sphere(2)
    src = MeshAsset(s.vertices * 50.0, s.faces, unit="cm")
    res = optimize_mesh(src, OptimizeOptions(**KEEP))
    assert np.allclose(res.lods[0].vertices, src.vertices * 0.01)
    assert res.unit == "m" and res.scale_factor == pytest.approx(0.01)
    res_mm = optimize_mesh(src, OptimizeOptions(unit="mm", **KEEP))
    assert np.allclose(res_mm.lods[0].vertices, src.vertices * 0.001)
    assert any("not the cm the file states" in c for c in res_mm.changes)


def test_z_up_is_turned_y_up():
    s = sphere(2)
    v = s.vertices * [0.2, 0.2, 1.0]  # tall along Z
    res = optimize_mesh(MeshAsset(v, s.faces, unit="m", up_axis="Z"), OptimizeOptions())
    ext = np.ptp(res.lods[0].vertices, axis=0)
    assert ext[1] == pytest.approx(2.0) and ext[2] == pytest.approx(0.4)
    assert res.lods[0].up_axis == "Y"


def test_unknown_scale_keeps_numbers_and_says_so():
    s = sphere(2)
    res = optimize_mesh(MeshAsset(s.vertices * 3, s.faces), OptimizeOptions(**KEEP))
    assert res.unit is None and res.lods[0].unit is None and not res.scale_known
    assert np.allclose(res.lods[0].vertices, s.vertices * 3)
    assert any("scale unknown" in c for c in res.changes)


# ----------------------------------------------------------------------------- presets


def test_preset_ar_assumes_metres_when_scale_unknown():
    src = textured_sphere()
    res = optimize_mesh(src, OptimizeOptions(preset=get_preset("ar")))
    assert res.unit == "m" and not res.scale_known
    assert any("assumed the numbers are metres" in c for c in res.changes)
    assert res.faces_after <= 100_000
    assert res.file_names() == ("model.glb", "model.usdz")
    with_height = optimize_mesh(src, OptimizeOptions(preset="ar", height=0.3))
    assert with_height.scale_known
    assert not any("assumed" in c for c in with_height.changes)


def test_preset_web_limits_triangles_and_texture():
    big = sphere(6)  # 81,920 faces
    res = optimize_mesh(big, OptimizeOptions(preset="web"))
    assert res.faces_after <= 50_000 and res.faces_after >= 45_000
    s = sphere(2)
    tex = np.full((2048, 1024, 3), 200, np.uint8)
    uv = (s.vertices[:, :2] * 0.5 + 0.5).astype(np.float32)
    textured = MeshAsset(s.vertices, s.faces, uv=uv, texture=tex, texture_sizes=((1024, 2048),))
    out = optimize_mesh(textured, OptimizeOptions(preset="web")).lods[0]
    assert out.texture.shape == (1024, 512, 3)  # aspect kept
    assert out.texture_sizes[0] == (512, 1024)
    assert np.array_equal(out.uv, uv)


def test_preset_print_drops_colour_writes_mm_and_reports_holes():
    src = textured_sphere(subdivisions=3, size=64)
    res = optimize_mesh(src, OptimizeOptions(preset="print", unit="m"))
    lod0 = res.lods[0]
    assert lod0.texture is None and lod0.uv is None and lod0.vertex_colors is None
    assert res.unit == "mm" and lod0.unit == "mm"
    assert np.ptp(lod0.vertices[:, 1]) == pytest.approx(2000.0, rel=1e-6)
    assert res.file_names() == ("model.stl",)
    assert res.watertight  # seams of the atlas welded back
    s = sphere(3)
    bowl = MeshAsset(s.vertices, s.faces[s.vertices[s.faces].mean(axis=1)[:, 1] < 0.6])
    open_res = optimize_mesh(bowl, OptimizeOptions(preset="print"))
    assert not open_res.watertight
    assert any("repair --watertight" in c for c in open_res.changes)


def test_preset_game_remeshes_and_makes_three_lods():
    s = sphere(4)
    v = s.vertices * [2.0, 1.0, 1.0]
    res = optimize_mesh(MeshAsset(v, s.faces, unit="m"), OptimizeOptions(preset="game"))
    assert len(res.lods) == 3
    assert any("remeshed" in c for c in res.changes)
    assert edge_cv(res.lods[0]) < edge_cv(MeshAsset(v, s.faces))
    assert len(res.lods[2].faces) < len(res.lods[1].faces) < len(res.lods[0].faces)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs, name", [
    ({"faces": 2}, "faces"),
    ({"faces": 10.5}, "faces"),
    ({"ratio": 0.0}, "ratio"),
    ({"ratio": 1.5}, "ratio"),
    ({"faces": 100, "ratio": 0.5}, "ratio"),
    ({"remesh_edge": -1.0}, "remesh_edge"),
    ({"texture_size": 4}, "texture_size"),
    ({"lods": 0}, "lods"),
    ({"height": float("nan")}, "height"),
    ({"unit": "furlong"}, "unit"),
    ({"origin": "top"}, "origin"),
    ({"preset": "space"}, "preset"),
    ({"uv_method": "magic"}, "uv_method"),
    ({"remesh": "yes"}, "remesh"),
])
def test_invalid_options_name_the_option(kwargs, name):
    with pytest.raises(InputError, match=rf"^{name}:"):
        OptimizeOptions(**kwargs)


def test_invalid_asset_and_remesh_edge():
    with pytest.raises(InputError, match="^asset:"):
        optimize_mesh(MeshAsset(np.zeros((3, 3)), np.zeros((0, 3), np.int64)))
    with pytest.raises(InputError, match="^remesh_edge:"):
        optimize_mesh(sphere(2), OptimizeOptions(remesh_edge=1e-5))
    flat = MeshAsset(np.array([[0, 0, 0], [1, 0, 0], [0, 0, 1.0]]), np.array([[0, 1, 2]]))
    with pytest.raises(InputError, match="^height:"):
        optimize_mesh(flat, OptimizeOptions(height=1.0))


# ----------------------------------------------------------------------------- real data


def test_bunny_vertex_colours_to_5000_faces():
    path = SHARED / "meshes" / "stanford-bunny.obj"
    if not path.is_file():
        pytest.skip(f"shared bunny not found at {path}")
    t = trimesh.load(path, process=False)
    v = np.asarray(t.vertices, np.float64)
    # Colour bands in 3-D, about 8 across the bunny.
    span = np.ptp(v, axis=0).max()
    vc = checker(v, cells_per_unit=4.0 / span)
    src = MeshAsset(v, np.asarray(t.faces, np.int64), vertex_colors=vc)
    res = optimize_mesh(src, OptimizeOptions(faces=5000, texture_size=512, **KEEP))
    assert abs(res.faces_after - 5000) <= 500
    lod0 = res.lods[0]
    err = colour_error(src, lod0)
    control = colour_error(src, dataclasses.replace(
        lod0, uv=lod0.uv[np.random.default_rng(0).permutation(len(lod0.uv))]))
    assert err < 0.2 * control, (err, control)
