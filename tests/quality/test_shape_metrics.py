"""Shape metrics: analytic cases (sphere vs cube, offset cubes), alignment, invariances."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lift3d.quality import (
    ShapeScore,
    align,
    candidate_rotations,
    chamfer,
    fscore,
    normalise_unit_box,
    points_inside,
    sample_surface,
    score_meshes,
    surface_of_union,
    volume_iou,
    voxelise,
)

# Fewer points than the default keeps each score well under a second; the analytic
# tolerances below allow for the extra sampling noise.
N = 4000


def box(lo=(0.0, 0.0, 0.0), hi=(1.0, 1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """A closed axis-aligned box, faces counter-clockwise from outside."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    corners = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float)
    v = lo + corners * (hi - lo)
    f = np.array([
        [0, 1, 3], [0, 3, 2],  # x = lo
        [4, 6, 7], [4, 7, 5],  # x = hi
        [0, 4, 5], [0, 5, 1],  # y = lo
        [2, 3, 7], [2, 7, 6],  # y = hi
        [0, 2, 6], [0, 6, 4],  # z = lo
        [1, 5, 7], [1, 7, 3],  # z = hi
    ], dtype=np.int64)
    return v, f


def icosphere(subdivisions: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A unit-radius icosphere, faces counter-clockwise from outside."""
    t = (1.0 + 5 ** 0.5) / 2.0
    v = [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
         [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]]
    f = [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
         [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
         [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]]
    verts = [np.array(p, float) / np.linalg.norm(p) for p in v]
    faces = f

    def mid(cache: dict[tuple[int, int], int], i: int, j: int) -> int:
        key = (min(i, j), max(i, j))
        if key not in cache:
            m = verts[i] + verts[j]
            verts.append(m / np.linalg.norm(m))
            cache[key] = len(verts) - 1
        return cache[key]

    for _ in range(subdivisions):
        cache: dict[tuple[int, int], int] = {}
        new = []
        for a, b, c in faces:
            ab, bc, ca = mid(cache, a, b), mid(cache, b, c), mid(cache, c, a)
            new += [[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]
        faces = new
    return np.array(verts), np.array(faces, dtype=np.int64)


def assembly() -> tuple[np.ndarray, np.ndarray]:
    """An asymmetric object of three overlapping closed boxes (like a SynthMesh assembly)."""
    parts = [box((0, 0, 0), (1.0, 0.3, 0.6)), box((0.0, 0.0, 0.0), (0.25, 0.9, 0.6)),
             box((0.6, 0.2, 0.1), (0.8, 0.5, 0.3))]
    verts, faces, off = [], [], 0
    for v, f in parts:
        verts.append(v)
        faces.append(f + off)
        off += len(v)
    return np.concatenate(verts), np.concatenate(faces)


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation about +Y by ``yaw``, then +X by ``pitch``, then +Z by ``roll`` (degrees)."""
    def rot(axis: int, deg: float) -> np.ndarray:
        c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
        i, j = [(1, 2), (2, 0), (0, 1)][axis]
        m = np.eye(3)
        m[i, i] = m[j, j] = c
        m[i, j], m[j, i] = -s, s
        return m

    return rot(2, roll) @ rot(0, pitch) @ rot(1, yaw)


# ------------------------------------------------------------------ normalise, sample


@settings(max_examples=25, deadline=None)
@given(st.floats(0.01, 100.0), st.lists(st.floats(-50, 50), min_size=3, max_size=3),
       st.integers(0, 2**31 - 1))
def test_normalise_unit_box_is_scale_and_translation_invariant(scale, shift, seed):
    p = np.random.default_rng(seed).normal(size=(50, 3)) * [1.0, 2.0, 0.5]
    n = normalise_unit_box(p)
    lo, hi = n.min(axis=0), n.max(axis=0)
    np.testing.assert_allclose(lo + hi, 0.0, atol=1e-9)
    assert (hi - lo).max() == pytest.approx(1.0)
    np.testing.assert_allclose(normalise_unit_box(p * scale + shift), n, atol=1e-7)


def test_normalise_unit_box_rejects_a_point():
    with pytest.raises(ValueError, match="vertices"):
        normalise_unit_box(np.ones((4, 3)))


def test_sample_surface_is_on_the_surface_and_area_weighted():
    v, f = box((0, 0, 0), (2.0, 1.0, 1.0))
    p = sample_surface(v, f, 20000, rng=1)
    assert p.shape == (20000, 3)
    # Every point lies on one of the six faces.
    on_face = np.isclose(p, 0.0) | np.isclose(p, [2.0, 1.0, 1.0])
    assert on_face.any(axis=1).all()
    # The two x faces hold 2 of the 10 square units of area.
    share = np.mean(np.isclose(p[:, 0], 0.0) | np.isclose(p[:, 0], 2.0))
    assert share == pytest.approx(0.2, abs=0.015)
    # Within a face the points are uniform: the mean of a unit face is its centre.
    top = p[np.isclose(p[:, 1], 1.0)]
    np.testing.assert_allclose(top[:, [0, 2]].mean(axis=0), [1.0, 0.5], atol=0.03)


def test_sample_surface_checks_its_arguments():
    v, f = box()
    with pytest.raises(ValueError, match="faces"):
        sample_surface(v, f + 100, 10)
    with pytest.raises(ValueError, match="n"):
        sample_surface(v, f, 0)
    with pytest.raises(ValueError, match="vertices"):
        sample_surface(v[:, :2], f, 10)


# ------------------------------------------------------------------ chamfer, F-score


def test_chamfer_and_fscore_on_hand_made_points():
    a = np.zeros((1, 3))
    b = np.array([[0.3, 0.4, 0.0]])  # distance 0.5
    assert chamfer(a, b) == pytest.approx(0.5)
    assert chamfer(a, a) == 0.0
    # Two gt points, one matched: precision 1, recall 0.5 -> F = 2/3.
    gt = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    assert fscore(a, gt, 0.1) == pytest.approx(2.0 / 3.0)
    assert fscore(a, b, 0.1) == 0.0
    assert fscore(a, b, 0.6) == 1.0
    with pytest.raises(ValueError, match="tau"):
        fscore(a, b, 0.0)


# ----------------------------------------------------------------------------- IoU


def test_iou_of_offset_cubes_matches_the_analytic_value():
    a = box()
    assert volume_iou(a, box((0.3, 0, 0), (1.3, 1, 1))) == pytest.approx(0.7 / 1.3, abs=0.03)
    inter = 0.7 * 0.8
    want = inter / (2.0 - inter)
    assert volume_iou(a, box((0.3, 0.2, 0), (1.3, 1.2, 1)), res=48) == pytest.approx(
        want, abs=0.03)
    assert volume_iou(a, box((2, 0, 0), (3, 1, 1))) == 0.0
    assert volume_iou(a, a) == 1.0


def test_iou_of_the_inscribed_sphere_is_pi_over_6():
    v, f = icosphere(3)
    assert volume_iou((0.5 * v, f), box((-0.5,) * 3, (0.5,) * 3)) == pytest.approx(
        math.pi / 6.0, abs=0.02)


def test_voxelise_winding_fills_overlapping_parts_and_parity_does_not():
    two = assembly()
    lo, hi = np.zeros(3), np.array([1.0, 0.9, 0.6])
    wind = voxelise(*two, lo, hi, res=40)
    par = voxelise(*two, lo, hi, res=40, rule="parity")
    # The overlap of the first two boxes (x < 0.25, y < 0.3) is inside by winding...
    ix, iy, iz = int(0.1 / 1.0 * 40), int(0.1 / 0.9 * 40), 20
    assert wind[ix, iy, iz] and not par[ix, iy, iz]
    # ...and both rules agree where one part covers a cell.
    assert wind[30, 2, 30] and par[30, 2, 30]
    assert not wind[30, 35, 20]
    # A reversed (inside-out) mesh is the same solid by the non-zero rule.
    v, f = box()
    occ = voxelise(v, f, [-0.2] * 3, [1.2] * 3, res=14)
    np.testing.assert_array_equal(voxelise(v, f[:, ::-1], [-0.2] * 3, [1.2] * 3, res=14), occ)
    assert occ.sum() == 10 ** 3  # cell centres strictly inside [0, 1]^3


def test_points_inside_a_sphere_and_an_assembly():
    sv, sf = icosphere(3)
    q = np.random.default_rng(0).uniform(-1.2, 1.2, (3000, 3))
    r = np.linalg.norm(q, axis=1)
    inside = points_inside(q, sv, sf)
    clear = np.abs(r - 0.995) > 0.01  # away from the facets
    np.testing.assert_array_equal(inside[clear], r[clear] < 0.995)
    # An inside-out copy is the same solid by the non-zero winding rule.
    np.testing.assert_array_equal(points_inside(q, sv, sf[:, ::-1]), inside)
    v, f = assembly()
    got = points_inside([[0.1, 0.1, 0.3], [0.7, 0.3, 0.2], [0.5, 0.6, 0.3], [0.1, 0.8, 0.3]],
                        v, f)
    np.testing.assert_array_equal(got, [True, True, False, True])


def test_surface_of_union_drops_samples_inside_other_parts():
    v, f = assembly()  # faces 0-11 box 0, 12-23 box 1, 24-35 box 2
    part = np.repeat([0, 1, 2], 12)
    pts = np.array([[0.5, 0.0, 0.3],     # box 0's base, outside the others: kept
                    [0.1, 0.0, 0.3],     # box 0's base under box 1 (coplanar bases): kept
                    [0.1, 0.0, 0.3],     # box 1's base there too: kept
                    [0.25, 0.15, 0.3],   # box 1's side wall buried in box 0: dropped
                    [0.7, 0.2, 0.2],     # box 2's bottom, buried in box 0: dropped
                    [0.7, 0.5, 0.2]])    # box 2's top, above box 0: kept
    faces = np.array([4, 4, 12 + 4, 12 + 2, 24 + 4, 24 + 6])
    keep = surface_of_union(v, f, part, pts, faces)
    np.testing.assert_array_equal(keep, [True, True, True, False, False, True])
    assert surface_of_union(v, f, np.zeros(36, int), pts, faces).all()
    with pytest.raises(ValueError, match="part"):
        surface_of_union(v, f, part[:3], pts, faces)


def test_score_with_parts_ignores_the_buried_surfaces():
    v, f = assembly()
    part = np.repeat([0, 1, 2], 12)
    # The prediction is the assembly itself, buried walls included. Without part
    # labels it matches perfectly; with them the buried walls are no longer ground
    # truth, so the prediction's copies of them (up to 0.15 inside) cost precision.
    plain = score_meshes(v, f, v, f, n=N)
    parted = score_meshes(v, f, v, f, n=N, gt_part=part)
    assert plain.f_005 == 1.0
    assert parted.f_005 < 0.99
    assert parted.f_01 > parted.f_005
    assert parted.iou > 0.95
    with pytest.raises(ValueError, match="part"):
        score_meshes(v, f, v, f, n=N, gt_part=part[:5])


# ----------------------------------------------------------------------- alignment


def test_candidate_rotations():
    r = candidate_rotations(pitches_deg=(0.0,))
    assert r.shape == (144, 3, 3)  # 24 cube rotations x 24 yaws / the 4 they share
    np.testing.assert_allclose(r[0], np.eye(3))
    m = candidate_rotations(reflections=True, pitches_deg=(0.0,))
    assert m.shape == (288, 3, 3) and (np.linalg.det(m) < 0).sum() == 144
    tilted = candidate_rotations()
    for c in (r, tilted):
        np.testing.assert_allclose(np.einsum("kij,kil->kjl", c, c),
                                   np.broadcast_to(np.eye(3), c.shape), atol=1e-12)
        assert (np.linalg.det(c) > 0).all()
        # Distinct rotations only.
        assert len(np.unique(np.round(c.reshape(len(c), 9), 6) + 0.0, axis=0)) == len(c)
    assert len(tilted) > len(r)
    # The default set comes within 25 degrees of any camera the eval scenes draw
    # (elevation -10..50, any azimuth): the pose gap a single photo leaves.
    for az in range(0, 360, 37):
        for el in (-10.0, 20.0, 50.0):
            pose = rotation(az, el, 0.0)
            cos = (np.einsum("kij,ij->k", tilted, pose.T) - 1.0) / 2.0
            assert math.degrees(math.acos(min(1.0, cos.max()))) < 25.0


def test_align_recovers_a_rigid_motion():
    v, f = assembly()
    gt = sample_surface(normalise_unit_box(v), f, N, rng=0)
    r_true = rotation(130.0, 25.0, -8.0)
    pred = gt @ r_true.T + [0.2, -0.1, 0.3]
    r, t = align(pred, gt)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(r @ r_true, np.eye(3), atol=1e-3)
    np.testing.assert_allclose(pred @ r.T + t, gt, atol=1e-3)


def test_align_needs_reflections_for_a_mirror_image():
    v, f = assembly()
    gt = sample_surface(normalise_unit_box(v), f, N, rng=0)
    mirror = gt * [-1.0, 1.0, 1.0]
    r, t = align(mirror, gt, reflections=True)
    assert np.linalg.det(r) == pytest.approx(-1.0)
    assert chamfer(mirror @ r.T + t, gt) < 1e-3
    r, t = align(mirror, gt)
    assert np.linalg.det(r) == pytest.approx(1.0)
    assert chamfer(mirror @ r.T + t, gt) > 0.01


# ------------------------------------------------------------------------ score


def test_identical_meshes_score_perfectly():
    v, f = assembly()
    s = score_meshes(v, f, v, f, n=N)
    assert isinstance(s, ShapeScore)
    assert s.chamfer < 1e-9
    assert s.f_01 == 1.0 and s.f_005 == 1.0
    assert s.iou == 1.0
    np.testing.assert_allclose(s.rotation, np.eye(3), atol=1e-9)
    assert s.as_dict()["iou"] == 1.0


def test_a_moved_rotated_rescaled_copy_is_aligned_back():
    v, f = assembly()
    # Seen at an angle the copy's own bounding box is larger, so the first unit-box
    # normalisation shrinks it; the re-normalisation after alignment undoes that.
    moved = 3.7 * v @ rotation(-70.0, 20.0, 5.0).T + [4.0, -2.0, 1.0]
    s = score_meshes(moved, f, v, f, n=N)
    assert s.chamfer < 2e-3
    assert s.f_005 > 0.99
    assert s.iou > 0.95
    assert s.scale != pytest.approx(1.0, abs=0.01)


def test_scores_are_invariant_to_the_scale_and_position_of_either_mesh():
    v, f = assembly()
    sv, sf = icosphere(2)
    base = score_meshes(sv, sf, v, f, n=N)
    for pred_v, gt_v in ((sv * 5.0 + 3.0, v), (sv, v * 0.01 - 7.0)):
        s = score_meshes(pred_v, sf, gt_v, f, n=N)
        assert s.chamfer == pytest.approx(base.chamfer, abs=1e-6)
        assert s.f_01 == pytest.approx(base.f_01, abs=1e-3)
        assert s.iou == pytest.approx(base.iou, abs=1e-3)


def _fibonacci_sphere(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = i * math.pi * (3.0 - math.sqrt(5.0))
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def test_sphere_against_cube_matches_hand_computed_values():
    sv, sf = icosphere(4)
    cv, cf = box()
    s = score_meshes(sv, sf, cv, cf, n=N)
    # After normalisation: a sphere of radius 0.5 inscribed in the cube [-0.5, 0.5]^3.
    # Sphere -> cube: a point at direction u is 0.5 (1 - max|u_i|) from the cube.
    u = _fibonacci_sphere(200_000)
    d_sc = 0.5 * (1.0 - np.abs(u).max(axis=1)).mean()
    # Cube -> sphere: a face point (x, y, 0.5) is sqrt(x^2 + y^2 + 0.25) - 0.5 away.
    g = (np.arange(1000) + 0.5) / 1000 - 0.5
    x, y = np.meshgrid(g, g)
    d_cs = (np.sqrt(x * x + y * y + 0.25) - 0.5).mean()
    assert s.chamfer == pytest.approx(0.5 * (d_sc + d_cs), abs=0.006)
    # F@tau: precision = sphere area with max|u_i| > 1 - 2 tau = 3 caps of height 2 tau
    # (Archimedes) = 6 tau; recall = face area with x^2 + y^2 < (0.5 + tau)^2 - 0.25.
    for tau, got in ((0.1, s.f_01), (0.05, s.f_005)):
        precision = 6.0 * tau
        recall = math.pi * ((0.5 + tau) ** 2 - 0.25)
        want = 2.0 * precision * recall / (precision + recall)
        assert got == pytest.approx(want, abs=0.03)
    assert s.iou == pytest.approx(math.pi / 6.0, abs=0.02)


def test_the_sphere_baseline_scores_poorly_on_a_box_like_object():
    sv, sf = icosphere(3)
    bv, bf = box((0, 0, 0), (1.0, 0.35, 0.6))
    s = score_meshes(sv, sf, bv, bf, n=N)
    assert s.f_01 < 0.7
    assert s.f_005 < s.f_01
    assert s.iou < 0.6
    assert s.chamfer > 0.05


def test_score_is_deterministic_and_checks_arguments():
    v, f = assembly()
    sv, sf = icosphere(2)
    a = score_meshes(sv, sf, v, f, n=1000, seed=3)
    b = score_meshes(sv, sf, v, f, n=1000, seed=3)
    assert a.as_dict() == b.as_dict()
    with pytest.raises(ValueError, match="gt_f"):
        score_meshes(sv, sf, v, f + len(v), n=N)
    with pytest.raises(ValueError, match="pred_v"):
        score_meshes(sv[:, :2], sf, v, f, n=N)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(0.05, 0.45), st.floats(0.05, 0.45), st.floats(0.05, 0.45))
def test_iou_of_offset_cubes_property(dx, dy, dz):
    inter = (1 - dx) * (1 - dy) * (1 - dz)
    got = volume_iou(box(), box((dx, dy, dz), (1 + dx, 1 + dy, 1 + dz)), res=40)
    assert got == pytest.approx(inter / (2.0 - inter), abs=0.03)
