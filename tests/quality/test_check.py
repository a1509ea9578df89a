"""``check_mesh``: planted defects are counted exactly, presets judged with reasons,
self-intersections found (and agree with brute force and gpytoolbox), real meshes
checked in bounded time."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
from broken import CASES, corpus, interpenetrating_boxes, sphere

from lift3d.errors import InputError
from lift3d.quality.check import (
    MeshReport,
    PresetVerdict,
    _self_intersections,
    _triangles_cross,
    check_mesh,
    evaluate_preset,
)
from lift3d.quality.presets import PRESETS
from lift3d.types import MeshAsset

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="module")
def cases():
    return corpus(0)


# --- the planted corpus ----------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_counts_match_exactly(seed):
    for name, case in corpus(seed).items():
        r = check_mesh(case.asset)
        got = {k: int(getattr(r, k)) for k in case.planted}
        assert got == case.planted, name
        for k, want in case.approx.items():
            assert getattr(r, k) == pytest.approx(want, abs=0.01), (name, k)


def test_corpus_is_deterministic_and_the_seed_moves_the_damage():
    a, b, c = corpus(0), corpus(0), corpus(1)
    assert set(a) == set(CASES)
    for name in CASES:
        assert np.array_equal(a[name].asset.faces, b[name].asset.faces)
        assert np.array_equal(a[name].asset.vertices, b[name].asset.vertices)
    assert not np.array_equal(a["flipped"].asset.faces, c["flipped"].asset.faces)
    assert not np.array_equal(a["holes"].asset.faces, c["holes"].asset.faces)


def test_clean_mesh_is_all_zeros_and_watertight(cases):
    r = check_mesh(cases["clean"].asset)
    assert r.watertight and r.watertight_after_weld and r.edge_manifold and r.vertex_manifold
    zero = ("nonmanifold_edges", "nonmanifold_vertices", "boundary_edges", "holes",
            "holes_after_weld", "floaters", "degenerate_faces", "duplicate_faces",
            "duplicate_vertices", "inconsistent_winding", "flipped_faces",
            "self_intersections", "unreferenced_vertices", "uv_out_of_range", "textures")
    assert {k: getattr(r, k) for k in zero} == dict.fromkeys(zero, 0)
    assert r.components == 1 and not r.inverted and not r.self_intersections_estimated
    # An icosphere of radius 0.15: volume a little under the ball's.
    ball = 4 / 3 * math.pi * 0.15**3
    assert 0.97 * ball < r.volume < ball
    assert r.area == pytest.approx(4 * math.pi * 0.15**2, rel=0.02)
    assert r.raw_size == pytest.approx((0.3, 0.3, 0.3), rel=0.02)
    assert not r.unit_stated and r.size is None and r.bounds_min is None
    assert not r.scale_suspect and r.scale_hint is None


def test_soup_is_watertight_only_after_welding(cases):
    r = check_mesh(cases["soup"].asset)
    assert not r.watertight and r.watertight_after_weld
    assert r.holes == 1280 and r.holes_after_weld == 0 and r.components == 1


def test_inverted_has_negative_volume_and_flipped_is_not_inverted(cases):
    inv = check_mesh(cases["inverted"].asset)
    assert inv.inverted and inv.volume < 0
    flipped = check_mesh(cases["flipped"].asset)
    assert not flipped.inverted and flipped.volume is None  # not closed once inconsistent


def test_textured_uv_overlap_and_out_of_range(cases):
    r = check_mesh(cases["textured"].asset)
    assert r.has_uv and r.uv_out_of_range == 26 and r.texture_sizes == ((16, 16),)
    assert r.uv_overlap == pytest.approx(1 / 23, abs=0.005)


def test_uv_overlap_none_and_full():
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    uv = v[:, :2].astype(np.float32)
    r = check_mesh(MeshAsset(v, f, uv=uv))
    assert r.uv_overlap == 0.0 and r.uv_out_of_range == 0
    # The same quad twice over the same UVs (at another height): all of it overlaps.
    v2 = np.concatenate([v, v + [0, 0, 1]])
    f2 = np.concatenate([f, f + 4])
    r2 = check_mesh(MeshAsset(v2, f2, uv=np.concatenate([uv, uv])))
    assert r2.uv_overlap == pytest.approx(1.0)
    # Mirrored UVs (clockwise triangles) count like any other; pixel centres exactly
    # on a diagonal are inside neither triangle, so a few are single-covered.
    uv3 = np.concatenate([uv, uv * [-1, 1] + [1, 0]]).astype(np.float32)
    assert check_mesh(MeshAsset(v2, f2, uv=uv3)).uv_overlap == pytest.approx(1.0, abs=0.01)


def test_scale_1000_is_suspect_and_hint_names_millimetres(cases):
    r = check_mesh(cases["scale_1000"].asset)
    assert r.scale_suspect and not r.unit_stated
    assert "mm" in r.scale_hint and "300 m" in r.scale_hint
    a = cases["scale_1000"].asset
    stated = MeshAsset(a.vertices, a.faces, unit="mm")
    r2 = check_mesh(stated)
    assert not r2.scale_suspect and r2.unit_stated
    assert r2.size == pytest.approx((0.3, 0.3, 0.3), rel=0.02)
    assert r2.bounds_max == pytest.approx((0.15, 0.15, 0.15), rel=0.02)
    tiny = MeshAsset(cases["clean"].asset.vertices * 1e-3, a.faces, unit="m")
    assert check_mesh(tiny).scale_suspect


def test_vertex_colors_and_textures_are_reported(cases):
    assert check_mesh(cases["vertex_colored"].asset).vertex_colors
    assert check_mesh(cases["textured"].asset).textures == 1


# --- self-intersections ----------------------------------------------------------------


def _brute_force(v, f):
    """Every non-adjacent pair through the same predicate: tests the candidate grid."""
    i, j = np.triu_indices(len(f), k=1)
    adj = (f[i][:, :, None] == f[j][:, None, :]).any(axis=(1, 2))
    i, j = i[~adj], j[~adj]
    return int(_triangles_cross(v[f[i]], v[f[j]]).sum())


def test_interpenetrating_boxes_found_and_match_brute_force():
    v, f = interpenetrating_boxes()
    r = check_mesh(MeshAsset(v, f))
    assert r.self_intersections > 0 and not r.self_intersections_estimated
    assert r.self_intersections == _brute_force(v, f)
    # Apart, the same boxes do not intersect.
    v2 = v.copy()
    v2[8:] += [1.0, 0, 0]
    assert check_mesh(MeshAsset(v2, f)).self_intersections == 0


def test_noisy_sphere_grid_matches_brute_force():
    v, f = sphere(2)
    rng = np.random.default_rng(3)
    v = v + rng.normal(scale=0.02, size=v.shape)
    got, estimated = _self_intersections(v, f, 10**9)
    assert not estimated
    assert got == _brute_force(v, f) > 0


def test_clean_sphere_has_no_self_intersections():
    v, f = sphere(4)
    assert check_mesh(MeshAsset(v, f)).self_intersections == 0


def test_triangle_predicate_agrees_with_gpytoolbox_distance():
    gpy = pytest.importorskip("gpytoolbox")
    rng = np.random.default_rng(7)
    a = rng.normal(size=(300, 3, 3))
    b = rng.normal(size=(300, 3, 3)) * 0.8 + rng.normal(scale=0.5, size=(300, 1, 3))
    mine = _triangles_cross(a, b)
    theirs = np.array([gpy.triangle_triangle_distance(*a[k], *b[k]) < 1e-12
                       for k in range(len(a))])
    assert 30 < mine.sum() < 270  # both kinds are well represented
    assert np.array_equal(mine, theirs)


def test_sampled_estimate_is_close_to_exact():
    v, f = interpenetrating_boxes()
    one = check_mesh(MeshAsset(v, f)).self_intersections
    vs, fs = [], []
    for k in range(40):  # 40 separate pairs of boxes in a row
        fs.append(f + len(v) * k)
        vs.append(v + [k * 1.0, 0, 0])
    v, f = np.concatenate(vs), np.concatenate(fs)
    exact = check_mesh(MeshAsset(v, f))
    assert not exact.self_intersections_estimated and exact.self_intersections == 40 * one
    est = check_mesh(MeshAsset(v, f), max_intersection_faces=300)
    assert est.self_intersections_estimated
    assert est.self_intersections == pytest.approx(exact.self_intersections, rel=0.2)
    assert check_mesh(MeshAsset(v, f), intersections=False).self_intersections is None


# --- presets ---------------------------------------------------------------------------


def _many_faces(n_faces: int, unit=None, **kw) -> MeshAsset:
    """A closed icosphere with at least ``n_faces`` faces."""
    sub = 1
    while 20 * 4**sub < n_faces:
        sub += 1
    v, f = sphere(sub)
    return MeshAsset(v, f, unit=unit, **kw)


def _reasons(asset, preset):
    verdict = check_mesh(asset, preset, intersections=False).preset
    assert isinstance(verdict, PresetVerdict) and verdict.name == preset
    assert verdict.passed == (not verdict.reasons)
    return " | ".join(verdict.reasons)


def test_every_preset_passes_a_fitting_mesh(cases):
    metric = MeshAsset(cases["clean"].asset.vertices, cases["clean"].asset.faces, unit="m")
    for name in ("web", "ar", "game"):
        assert check_mesh(metric, name).preset.passed, name
    mm = MeshAsset(cases["scale_1000"].asset.vertices, cases["scale_1000"].asset.faces)
    assert check_mesh(mm, "print").preset == PresetVerdict("print", True, ())


def test_triangle_budget_reasons():
    big = _many_faces(60_000, unit="m")  # 81 920 faces
    r = check_mesh(big, "web", intersections=False)
    assert r.preset.reasons == ("81 920 triangles, over the 50 000 of preset web",)
    assert evaluate_preset(r, "ar").passed and evaluate_preset(r, "print").passed
    bigger = dataclasses.replace(r, faces=327_680)
    assert evaluate_preset(bigger, "ar").reasons == (
        "327 680 triangles, over the 100 000 of preset ar",)
    assert "over the 100 000 of preset game" in evaluate_preset(bigger, "game").reasons[0]
    assert evaluate_preset(bigger, "print").passed  # print has no triangle budget


def test_texture_and_file_reasons(cases):
    v, f = cases["clean"].asset.vertices, cases["clean"].asset.faces
    one_2k = MeshAsset(v, f, unit="m", texture_sizes=((2048, 2048),))
    assert "texture 2048x2048, over the 1024 px of preset web" in _reasons(one_2k, "web")
    assert _reasons(one_2k, "ar") == "" and _reasons(one_2k, "game") == ""
    two = MeshAsset(v, f, unit="m", texture_sizes=((1024, 1024), (512, 512)))
    assert "2 texture images, over the 1 of preset ar" in _reasons(two, "ar")
    assert _reasons(two, "web") == ""
    huge = MeshAsset(v, f, unit="m", texture_sizes=((4096, 4096),))
    assert "over the 2048 px of preset game" in _reasons(huge, "game")
    heavy = MeshAsset(v, f, unit="m", file_bytes=7 * 2**20)
    assert "file is 7.0 MB, over the 5 MB of preset web" in _reasons(heavy, "web")
    textured = MeshAsset(v * 1000, f, texture_sizes=((64, 64),))
    assert "1 texture image(s); preset print takes none" in _reasons(textured, "print")


def test_scale_reasons(cases):
    v, f = cases["clean"].asset.vertices, cases["clean"].asset.faces
    assert "no unit stated" in _reasons(MeshAsset(v, f), "ar")
    wrong = MeshAsset(v * 1000, f, unit="m")  # a 300 m 'chair'
    assert "stated unit 'm' is probably wrong" in _reasons(wrong, "ar")
    # print reads unit-less numbers as millimetres: 0.3 mm across is not printable.
    assert "read in mm (STL states no unit) is 300 µm" in _reasons(MeshAsset(v, f), "print")
    assert _reasons(MeshAsset(v, f), "web") == ""  # web does not need real scale


def test_print_needs_one_closed_outward_piece(cases):
    def mm(name):
        a = cases[name].asset
        return MeshAsset(a.vertices * 1000, a.faces)

    assert "not watertight (4 holes)" in _reasons(mm("holes"), "print")
    assert "4 separate pieces; preset print needs one" in _reasons(mm("floaters"), "print")
    assert "normals point inward" in _reasons(mm("inverted"), "print")
    assert "non-manifold edges" in _reasons(mm("nonmanifold_edges"), "print")
    assert "1 non-manifold vertices" in _reasons(mm("nonmanifold_vertex"), "print")
    assert "inconsistently wound" in _reasons(mm("flipped"), "print")
    # A soup welds into a closed surface: printable.
    assert _reasons(mm("soup"), "print") == ""


def test_presets_by_object_and_evaluate_on_a_report(cases):
    r = check_mesh(cases["holes"].asset, intersections=False)
    assert r.preset is None
    v = evaluate_preset(r, PRESETS["print"])
    assert not v.passed and any("holes" in x for x in v.reasons)
    assert check_mesh(cases["holes"].asset, PRESETS["web"]).preset.passed


# --- output and validation -------------------------------------------------------------


def test_to_dict_is_json_and_summary_reads(cases):
    r = check_mesh(cases["textured"].asset, "print")
    d = json.loads(json.dumps(r.to_dict()))
    assert d["faces"] == 576 and d["texture_sizes"] == [[16, 16]]
    assert d["preset"]["name"] == "print" and d["preset"]["passed"] is False
    assert set(d) == set(MeshReport.__dataclass_fields__)
    lines = r.summary_lines()
    assert "triangles: 576" in lines
    assert "watertight: no as stored; yes after merging vertices at equal positions" in lines
    assert "preset print: FAIL" in lines
    assert any(x.startswith("  - 1 texture image(s)") for x in lines)
    assert all("\n" not in x for x in lines)
    clean = check_mesh(cases["clean"].asset).summary_lines()
    assert "watertight: yes" in clean and "holes: 0 (0 boundary edges)" in clean


def test_invalid_input_names_the_argument(cases):
    a = cases["clean"].asset
    with pytest.raises(InputError, match="^asset:"):
        check_mesh("mesh.obj")
    bad = a.vertices.copy()
    bad[3, 1] = np.nan
    with pytest.raises(InputError, match="^asset: 1 vertices are not finite"):
        check_mesh(MeshAsset(bad, a.faces))
    with pytest.raises(InputError, match="^asset: face indices"):
        check_mesh(MeshAsset(a.vertices, a.faces + 1))
    with pytest.raises(InputError, match="^preset: unknown preset 'vr'"):
        check_mesh(a, "vr")
    with pytest.raises(InputError, match="^preset:"):
        check_mesh(a, 3)
    with pytest.raises(InputError, match="^floater_fraction:"):
        check_mesh(a, floater_fraction=1.5)
    with pytest.raises(InputError, match="^max_intersection_faces:"):
        check_mesh(a, max_intersection_faces=0)


def test_empty_and_tiny_meshes_do_not_crash():
    empty = check_mesh(MeshAsset(np.zeros((0, 3)), np.zeros((0, 3), np.int64)))
    assert empty.faces == 0 and not empty.watertight and empty.components == 0
    one = check_mesh(MeshAsset(np.eye(3), np.array([[0, 1, 2]])), "print")
    assert one.holes == 1 and one.boundary_edges == 3 and not one.preset.passed


# --- real meshes -----------------------------------------------------------------------


def _shared_meshes() -> list[Path]:
    files = []
    if (SHARED / "meshes").is_dir():
        files += sorted(p for p in (SHARED / "meshes").iterdir()
                        if p.suffix in (".obj", ".ply"))
    return files


def _load(path: Path) -> MeshAsset:
    import trimesh

    m = trimesh.load(path, process=False, force="mesh")
    return MeshAsset(np.asarray(m.vertices, np.float64), np.asarray(m.faces, np.int64),
                     source=str(path), file_bytes=path.stat().st_size)


def test_shared_meshes_check_in_bounded_time():
    files = _shared_meshes()
    if not files:
        pytest.skip(f"no shared meshes at {SHARED / 'meshes'}")
    checked = 0
    for path in files:
        asset = _load(path)
        if len(asset.faces) == 0:
            continue  # igea.ply stores triangle strips, which trimesh does not read
        t = time.perf_counter()
        r = check_mesh(asset, "web", max_intersection_faces=20_000)
        assert time.perf_counter() - t < 15, path.name
        assert r.faces == len(asset.faces) and r.components >= 1, path.name
        assert r.area > 0 and r.self_intersections >= 0, path.name
        assert r.holes_after_weld <= r.holes + r.nonmanifold_edges_after_weld, path.name
        json.dumps(r.to_dict())
        checked += 1
    assert checked >= 10
    # Known facts: the Stanford bunny has its 5 scanner holes in the base.
    bunny = check_mesh(_load(SHARED / "meshes" / "stanford-bunny.obj"), intersections=False)
    assert bunny.holes == 5 and bunny.components == 1 and not bunny.watertight


def test_sceaux_photogrammetry_mesh_has_holes():
    path = SHARED / "multiview" / "sceaux_castle" / "openmvs_reference_mesh.ply"
    if not path.is_file():
        pytest.skip(f"missing {path}")
    t = time.perf_counter()
    r = check_mesh(_load(path), "print")
    assert time.perf_counter() - t < 15
    assert r.holes > 0 and r.boundary_edges > 0 and not r.watertight_after_weld
    assert not r.preset.passed and any("not watertight" in x for x in r.preset.reasons)
