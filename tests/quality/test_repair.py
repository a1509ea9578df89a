"""``repair_mesh``: the safe clean-up on planted defects, and the volumetric watertight
remesh on every case of the broken-mesh corpus (``broken.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from broken import CASES, corpus, sphere

from lift3d.errors import InputError
from lift3d.mesh.cleanup import components, is_watertight, split_nonmanifold_vertices, weld
from lift3d.mesh.geometry import volume
from lift3d.quality.repair import RepairOptions, RepairResult, repair_mesh, winding_remesh
from lift3d.quality.shape_metrics import sample_surface
from lift3d.quality.transfer import closest_points
from lift3d.types import Mesh, MeshAsset

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

#: Low grid resolution keeps the suite fast; the surface is still well inside 1%.
FAST = RepairOptions(watertight=True, force_remesh=True, resolution=64)


@pytest.fixture(scope="module")
def cases():
    return corpus(0)


def _welded(asset: MeshAsset) -> Mesh:
    """Positions merged (UV seams closed) so watertightness is judged on geometry."""
    return weld(asset.mesh(), decimals=9)


def _surface_distance(a: Mesh, b: Mesh, n: int = 4000) -> float:
    """Symmetric mean point-to-surface distance (exact closest points, no sampling
    floor), as a fraction of ``b``'s bounding-box diagonal."""
    pa = sample_surface(a.vertices, a.faces, n, rng=1)
    pb = sample_surface(b.vertices, b.faces, n, rng=2)
    d_ab = closest_points(b.vertices, b.faces, pa).distance.mean()
    d_ba = closest_points(a.vertices, a.faces, pb).distance.mean()
    diag = float(np.linalg.norm(np.ptp(np.asarray(b.vertices), axis=0)))
    return float(0.5 * (d_ab + d_ba) / diag)


def _one_closed_manifold(mesh: Mesh) -> None:
    assert is_watertight(mesh)
    assert components(mesh)[0] == 1
    assert split_nonmanifold_vertices(mesh) is mesh  # vertex-manifold too
    assert volume(mesh) > 0


# ----------------------------------------------------------------------- options


@pytest.mark.parametrize("kwargs,name", [
    (dict(merge_distance=-1e-6), "merge_distance"),
    (dict(merge_distance=0.5), "merge_distance"),
    (dict(merge_distance=float("nan")), "merge_distance"),
    (dict(floater_fraction=1.0), "floater_fraction"),
    (dict(floater_fraction="0.1"), "floater_fraction"),
    (dict(hole_max_edges=-1), "hole_max_edges"),
    (dict(hole_max_edges=2.5), "hole_max_edges"),
    (dict(resolution=8), "resolution"),
    (dict(resolution=4096), "resolution"),
    (dict(resolution=True), "resolution"),
    (dict(target_faces=0), "target_faces"),
    (dict(watertight="yes"), "watertight"),
    (dict(keep_colors=1), "keep_colors"),
])
def test_invalid_options_name_the_option(kwargs, name):
    with pytest.raises(InputError, match=f"^{name}:"):
        RepairOptions(**kwargs)


def test_invalid_inputs_raise_input_error():
    v, f = sphere(1)
    with pytest.raises(InputError, match="^asset:"):
        repair_mesh((v, f))
    with pytest.raises(InputError, match="^asset:.*no faces"):
        repair_mesh(MeshAsset(v, np.zeros((0, 3), np.int64)))
    with pytest.raises(InputError, match="^asset:.*indices"):
        repair_mesh(MeshAsset(v, np.where(f == 0, len(v), f)))
    with pytest.raises(InputError, match="^options:"):
        repair_mesh(MeshAsset(v, f), {"watertight": True})


# -------------------------------------------------------------------- safe repair


#: Case -> (result field, expected count) that the safe clean-up must report.
SAFE_FIXES = {
    "soup": ("merged_vertices", 3 * 1280 - 642),
    "nonmanifold_edges": ("removed_nonmanifold_faces", 5),
    "holes": ("filled_holes", 4),
    "flipped": ("flipped_faces", 7),
    "floaters": ("removed_floaters", 3),
    "duplicate_vertices": ("merged_vertices", 6),
    "duplicate_faces": ("removed_duplicate_faces", 4),
    "degenerate_faces": ("removed_degenerate", 6),
    "inverted": ("reversed", 1),
}


@pytest.mark.parametrize("name", sorted(SAFE_FIXES))
def test_safe_repair_fixes_planted_defect(cases, name):
    case = cases[name]
    r = repair_mesh(case.asset)
    assert isinstance(r, RepairResult) and not r.remeshed
    field_name, expected = SAFE_FIXES[name]
    assert getattr(r, field_name) == expected, r
    assert r.changes, "a repair must say what it changed"
    assert r.watertight and r.components == 1
    _one_closed_manifold(_welded(r.asset))
    # Nothing but the damage changed: the surface is the clean one.
    assert _surface_distance(r.asset.mesh(), case.clean.mesh()) < 1e-3


@pytest.mark.parametrize("name", ["clean", "scale_1000", "vertex_colored", "textured"])
def test_safe_repair_leaves_clean_meshes_alone(cases, name):
    case = cases[name]
    r = repair_mesh(case.asset)
    assert r.changes == ()
    assert r.asset is case.asset
    assert r.watertight and r.components == 1 and not r.remeshed


def test_counts_only_what_was_planted(cases):
    r = repair_mesh(cases["flipped"].asset)
    assert (r.merged_vertices, r.removed_degenerate, r.removed_duplicate_faces,
            r.removed_floaters, r.filled_holes, r.reversed) == (0, 0, 0, 0, 0, 0)
    assert r.changes == ("flipped 7 faces to a consistent winding",)


def test_safe_repair_keeps_uv_seams_and_texture(cases):
    """A textured torus read as a soup: merging restores the seam-split vertices
    exactly (positions merge for topology, UVs keep the seams)."""
    a = cases["textured"].asset
    soup = MeshAsset(a.vertices[a.faces].reshape(-1, 3), np.arange(a.faces.size).reshape(-1, 3),
                     uv=a.uv[a.faces].reshape(-1, 2), texture=a.texture,
                     texture_sizes=a.texture_sizes)
    r = repair_mesh(soup)
    out = r.asset
    assert r.merged_vertices == a.faces.size - len(a.vertices)
    assert len(out.vertices) == len(a.vertices)  # seam copies survive
    assert out.texture is a.texture
    # Every corner keeps its UV and position.
    np.testing.assert_array_equal(out.uv[out.faces], a.uv[a.faces])
    np.testing.assert_array_equal(out.vertices[out.faces], a.vertices[a.faces])
    assert r.watertight and not is_watertight(out.mesh())  # closed, split along seams


def test_hole_fill_gives_new_vertices_rim_attributes():
    v, f = sphere(2)
    cap = v[:, 2] > 0.13
    drop = cap[f].any(axis=1)
    col = np.tile(np.array([[200, 10, 10, 255]], np.uint8), (len(v), 1))
    uv = np.full((len(v), 2), 0.25, np.float32)
    r = repair_mesh(MeshAsset(v, f[~drop], uv=uv, vertex_colors=col))
    assert r.filled_holes == 1 and r.watertight
    assert r.removed_unused_vertices == int(cap.sum())
    np.testing.assert_array_equal(r.asset.vertex_colors,
                                  np.tile(col[:1], (len(r.asset.vertices), 1)))
    np.testing.assert_allclose(r.asset.uv, 0.25)


def test_large_hole_stays_open_unless_watertight():
    v, f = sphere(3)
    drop = (v[f][:, :, 2] > 0.1).all(axis=1)  # a cap of dozens of boundary edges
    a = MeshAsset(v, f[~drop])
    r = repair_mesh(a, RepairOptions(hole_max_edges=10))
    assert r.filled_holes == 0 and not r.watertight
    assert any("left open" in n for n in r.notes)
    w = repair_mesh(a, RepairOptions(hole_max_edges=10, watertight=True, resolution=64))
    assert w.remeshed and w.watertight and w.components == 1
    _one_closed_manifold(w.asset.mesh())
    # The winding number spans the hole: the result is the whole sphere.
    assert _surface_distance(w.asset.mesh(), Mesh(v, f)) < 0.01


def test_nonmanifold_vertex_is_split_then_joined_by_watertight(cases):
    case = cases["nonmanifold_vertex"]
    r = repair_mesh(case.asset)
    assert r.split_vertices == 1 and r.components == 2 and r.watertight
    w = repair_mesh(case.asset, RepairOptions(watertight=True, resolution=64))
    assert w.remeshed and w.components == 1
    _one_closed_manifold(w.asset.mesh())
    assert _surface_distance(w.asset.mesh(), case.clean.mesh()) < 0.01


def test_watertight_skips_remesh_of_a_closed_manifold(cases):
    a = cases["textured"].asset
    r = repair_mesh(a, RepairOptions(watertight=True))
    assert not r.remeshed and r.asset is a and r.watertight
    assert any("no volumetric remesh" in n for n in r.notes)


def test_keep_colors_false_drops_attributes(cases):
    r = repair_mesh(cases["vertex_colored"].asset, RepairOptions(keep_colors=False))
    assert r.asset.vertex_colors is None and r.asset.uv is None and r.asset.texture is None
    assert len(r.changes) == 1


# ------------------------------------------------------------------ watertight


@pytest.mark.parametrize("name", CASES)
def test_watertight_remesh_every_corpus_case(cases, name):
    case = cases[name]
    r = repair_mesh(case.asset, FAST)
    assert r.remeshed and r.watertight and r.components == 1
    mesh = r.asset.mesh()
    _one_closed_manifold(mesh)
    assert r.asset.uv is None and r.asset.texture is None
    assert any(c.startswith("remeshed volumetrically") for c in r.changes)
    clean = case.clean.mesh()
    if name == "self_intersecting":
        # The union's surface: the parts of each box inside the other are gone by
        # design, so compare with the outer surface (winding number below 1).
        pts = sample_surface(clean.vertices, clean.faces, 20000, rng=3)
        import gpytoolbox

        w = gpytoolbox.fast_winding_number(pts, clean.vertices, clean.faces.astype(np.int32))
        outer = pts[np.abs(w) < 1.0]
        d = closest_points(mesh.vertices, mesh.faces, outer).distance.mean()
        back = closest_points(clean.vertices, clean.faces,
                              sample_surface(mesh.vertices, mesh.faces, 4000, rng=4))
        diag = float(np.linalg.norm(np.ptp(clean.vertices, axis=0)))
        assert 0.5 * (d + back.distance.mean()) / diag < 0.01
    else:
        assert _surface_distance(mesh, clean) < 0.01


def test_remesh_colours_stay_on_their_side():
    """A sphere red for x > 0 and blue for x < 0 keeps that split after a remesh."""
    v, f = sphere(3)
    col = np.where(v[:, :1] > 0, [[255, 0, 0, 255]], [[0, 0, 255, 255]]).astype(np.uint8)
    r = repair_mesh(MeshAsset(v, f, vertex_colors=col), FAST)
    out = r.asset
    assert out.vertex_colors is not None and out.vertex_colors.shape == (len(out.vertices), 4)
    x = out.vertices[:, 0]
    red, blue = out.vertex_colors[x > 0.02], out.vertex_colors[x < -0.02]
    assert len(red) > 100 and len(blue) > 100
    assert (red[:, 0] > 200).all() and (red[:, 2] < 55).all()
    assert (blue[:, 2] > 200).all() and (blue[:, 0] < 55).all()


def test_remesh_moves_texture_into_vertex_colours(cases):
    a = cases["textured"].asset
    r = repair_mesh(a, FAST)
    vc = r.asset.vertex_colors
    assert vc is not None and r.asset.texture is None and r.asset.texture_sizes == ()
    # The checker's two colours (30 and 230 in red) both survive.
    assert (vc[:, 0] < 80).mean() > 0.2 and (vc[:, 0] > 180).mean() > 0.2
    assert r.asset.material.base_color_factor == (1.0, 1.0, 1.0, 1.0)


def test_repair_closes_a_flipped_holey_soup():
    v, f = sphere(2)
    rng = np.random.default_rng(5)
    f = f[rng.random(len(f)) > 0.05]  # 5% of faces gone: many small holes
    flip = rng.random(len(f)) < 0.3
    f[flip] = f[flip][:, ::-1]
    soup = MeshAsset(v[f].reshape(-1, 3), np.arange(f.size).reshape(-1, 3))
    r = repair_mesh(soup, RepairOptions(watertight=True, force_remesh=True, hole_max_edges=0,
                                        resolution=48))
    assert r.flipped_faces > 0 and r.filled_holes == 0
    _one_closed_manifold(r.asset.mesh())
    assert _surface_distance(r.asset.mesh(), Mesh(*sphere(2))) < 0.01


def test_winding_remesh_spans_the_holes_of_a_soup():
    v, f = sphere(2)
    f = f[np.random.default_rng(6).random(len(f)) > 0.1]
    soup = Mesh(v[f].reshape(-1, 3), np.arange(f.size).reshape(-1, 3))
    out = winding_remesh(soup, resolution=48)
    _one_closed_manifold(out)
    assert _surface_distance(out, Mesh(*sphere(2))) < 0.01


def test_target_faces_is_respected(cases):
    r = repair_mesh(cases["clean"].asset,
                    RepairOptions(watertight=True, force_remesh=True, resolution=64,
                                  target_faces=800))
    assert 600 <= len(r.asset.faces) <= 1000 and r.watertight


def test_shared_bunny_becomes_one_closed_manifold():
    path = DATA / "meshes" / "stanford-bunny.obj"
    if not path.exists():
        pytest.skip(f"shared test mesh not found: {path}")
    t = trimesh.load(path, process=False, force="mesh")
    a = MeshAsset(np.asarray(t.vertices, np.float64), np.asarray(t.faces, np.int64))
    safe = repair_mesh(a, RepairOptions(watertight=True))
    assert safe.watertight and safe.components == 1 and safe.filled_holes > 0
    _one_closed_manifold(_welded(safe.asset))
    r = repair_mesh(a, RepairOptions(watertight=True, force_remesh=True, hole_max_edges=0,
                                     resolution=96, target_faces=20000))
    assert r.remeshed and r.watertight and r.components == 1
    assert len(r.asset.faces) <= 25000
    _one_closed_manifold(r.asset.mesh())
    assert _surface_distance(r.asset.mesh(), a.mesh(), n=3000) < 0.01


def test_open_sheet_is_thickened_into_a_closed_shell():
    """A flat open sheet encloses nothing: it becomes a thin closed shell around it."""
    n = 12
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    v = np.stack([i.ravel() / n, j.ravel() / n, np.zeros(i.size)], axis=1) * 0.3
    q = (i[:-1, :-1] * (n + 1) + j[:-1, :-1]).ravel()
    f = np.concatenate([np.stack([q, q + n + 1, q + n + 2], 1), np.stack([q, q + n + 2, q + 1], 1)])
    sheet = MeshAsset(v, f)
    r = repair_mesh(sheet, RepairOptions(watertight=True, resolution=96))
    assert r.remeshed and r.watertight and r.components == 1
    assert any(c.startswith("thickened") for c in r.changes)
    _one_closed_manifold(r.asset.mesh())
    assert np.ptp(r.asset.vertices[:, 2]) < 3 * 0.3 / 96  # about 1.5 voxels thick
    assert _surface_distance(r.asset.mesh(), sheet.mesh()) < 0.01


def test_shell_mode_keeps_a_large_opening_open(cases):
    """A sphere missing a cap: the solid mode spans the opening, the shell mode
    thickens the surface instead, so the opening stays (no surface at the pole)."""
    v, f = sphere(3)
    open_sphere = MeshAsset(v, f[~(v[f][:, :, 2] > 0.1).all(axis=1)])
    r = repair_mesh(open_sphere, RepairOptions(watertight=True, shell=True, hole_max_edges=0,
                                               resolution=96))
    assert r.remeshed and r.watertight and r.components == 1
    _one_closed_manifold(r.asset.mesh())
    vv = r.asset.vertices
    top = vv[(np.abs(vv[:, :2]).max(axis=1) < 0.03) & (vv[:, 2] > 0)]
    assert len(top) == 0  # nothing spans the hole around the +z pole
    assert _surface_distance(r.asset.mesh(), open_sphere.mesh()) < 0.01
