"""Ray casting against analytic shapes: exact depths, union intervals, padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from lift3d.synth.raycast import cast, face_normals, layers


def _tri(mesh: trimesh.Trimesh, pad: int = 0) -> torch.Tensor:
    t = np.asarray(mesh.vertices, np.float32)[np.asarray(mesh.faces)]
    if pad:
        t = np.concatenate([t, np.zeros((pad, 3, 3), np.float32)])
    return torch.from_numpy(t)[None]


def _run(tri: torch.Tensor, origins: np.ndarray, dirs: np.ndarray, **kw):
    o = torch.as_tensor(origins, dtype=torch.float32)[None]
    d = torch.as_tensor(dirs, dtype=torch.float32)[None]
    hits = cast(tri, o, d, **kw)
    return hits, layers(hits, face_normals(tri), d)


def _sphere_hits(centre: np.ndarray, radius: float, dirs: np.ndarray):
    """Analytic entry / exit ray parameters of rays from the origin along ``dirs``."""
    a = (dirs**2).sum(1)
    b = -2 * dirs @ centre
    c = centre @ centre - radius**2
    disc = np.sqrt(b * b - 4 * a * c)
    return (-b - disc) / (2 * a), (-b + disc) / (2 * a)


def test_sphere_depths_match_analytic_and_mesh_planes():
    centre = np.array([0.3, -0.2, 10.0])
    mesh = trimesh.creation.icosphere(5, radius=1.0)
    mesh.apply_translation(centre)
    rng = np.random.default_rng(0)
    # Rays from the camera at the origin, aimed well inside the silhouette (impact
    # parameter < 0.85 r), direction with unit z so t is z-depth.
    aim = centre + np.c_[rng.uniform(-0.6, 0.6, (400, 2)), np.zeros(400)]
    dirs = aim / aim[:, 2:3]
    hits, lay = _run(_tri(mesh), np.zeros_like(dirs), dirs)
    t_in, t_out = _sphere_hits(centre, 1.0, dirs)
    # Tessellation puts the mesh at most ~2e-4 inside the sphere (subdivision 5).
    assert np.all(lay.n_intervals.numpy()[0] == 1)
    np.testing.assert_allclose(lay.entry1.numpy()[0], t_in, rtol=1e-4)
    np.testing.assert_allclose(lay.exit1.numpy()[0], t_out, rtol=1e-4)
    # Against the exact plane of the face hit, in float64: the caster's own error.
    v = np.asarray(mesh.vertices)[np.asarray(mesh.faces)]
    for t, face in ((lay.entry1, lay.face_entry1), (lay.exit1, lay.face_exit1)):
        p = v[face.numpy()[0]]
        n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
        t_exact = (n * p[:, 0]).sum(1) / (n * dirs).sum(1)
        np.testing.assert_allclose(t.numpy()[0], t_exact, rtol=2e-6)
    assert np.isinf(lay.entry2.numpy()).all()


def test_hits_are_sorted_and_barycentrics_reconstruct_points():
    mesh = trimesh.creation.icosphere(2, radius=0.5)
    mesh.apply_translation([0, 0, 3])
    rng = np.random.default_rng(1)
    dirs = np.c_[rng.uniform(-0.2, 0.2, (200, 2)), np.ones(200)]
    hits, _ = _run(_tri(mesh), np.zeros_like(dirs), dirs, k=4)
    t = hits.t.numpy()[0]
    assert np.all(t[:, 1:] >= t[:, :-1])
    ok = hits.face.numpy()[0] >= 0
    assert ok.any() and np.array_equal(ok, np.isfinite(t))
    v = np.asarray(mesh.vertices)[np.asarray(mesh.faces)][hits.face.numpy()[0][ok]]
    u, w = hits.u.numpy()[0][ok], hits.v.numpy()[0][ok]
    p = (1 - u - w)[:, None] * v[:, 0] + u[:, None] * v[:, 1] + w[:, None] * v[:, 2]
    rows = np.nonzero(ok)[0]
    np.testing.assert_allclose(p, dirs[rows] * t[ok][:, None], atol=1e-5)


def test_torus_edge_on_has_two_layers_exactly_where_expected():
    big, small = 0.35, 0.12
    mesh = trimesh.creation.torus(big, small, major_sections=96, minor_sections=32)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    # Parallel rays along +z from z = -5 (the non-shared-origin path); the torus axis
    # is +y, so the view is edge-on.
    xs = np.linspace(-0.6, 0.6, 61)
    ys = np.array([0.0, 0.05, 0.2])
    xx, yy = np.meshgrid(xs, ys)
    origins = np.c_[xx.ravel(), yy.ravel(), np.full(xx.size, -5.0)]
    dirs = np.tile([0.0, 0.0, 1.0], (xx.size, 1))
    _, lay = _run(_tri(mesh), origins, dirs)
    n = lay.n_intervals.numpy()[0].reshape(xx.shape)
    inner = big - small
    # Two layers exactly through the hole's width (away from the tangent rays).
    assert np.all(n[0][np.abs(xs) < inner - 0.02] == 2)
    assert np.all(n[0][(np.abs(xs) > inner + 0.02) & (np.abs(xs) < big + small - 0.02)] == 1)
    assert np.all(n[0][np.abs(xs) > big + small + 0.01] == 0)
    assert np.all(n[2] == 0)  # above the tube
    centre = np.argmin(np.abs(xs))
    e1, x1 = lay.entry1.numpy()[0, centre], lay.exit1.numpy()[0, centre]
    e2, x2 = lay.entry2.numpy()[0, centre], lay.exit2.numpy()[0, centre]
    np.testing.assert_allclose([e1, x1, e2, x2],
                               [5 - big - small, 5 - big + small, 5 + big - small,
                                5 + big + small], atol=2e-3)
    two = (n == 2)
    assert np.all(lay.entry2.numpy()[0].reshape(xx.shape)[two]
                  > lay.exit1.numpy()[0].reshape(xx.shape)[two])


def _box(lo, hi) -> trimesh.Trimesh:
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    m = trimesh.creation.box(hi - lo)
    m.apply_translation((lo + hi) / 2)
    return m


@pytest.mark.parametrize("coplanar", [False, True])
def test_overlapping_boxes_union_into_one_interval(coplanar):
    a = _box([-1, -1, 3], [1, 1, 5])
    b = _box([-0.5, -0.5, 3 if coplanar else 4], [0.5, 0.5, 6])
    both = trimesh.util.concatenate([a, b])
    part = torch.tensor([[0] * len(a.faces) + [1] * len(b.faces)])
    origins = np.array([[0.1, 0.2, 0.0], [0.8, 0.0, 0.0], [0.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    dirs = np.tile([0.0, 0.0, 1.0], (4, 1))
    _, lay = _run(_tri(both), origins, dirs, part=part)
    n = lay.n_intervals.numpy()[0]
    np.testing.assert_array_equal(n, [1, 1, 1, 0])
    np.testing.assert_allclose(lay.entry1.numpy()[0, :3], [3, 3, 3], atol=1e-5)
    # Through both boxes the union ends at b's back; beside b, at a's back.
    np.testing.assert_allclose(lay.exit1.numpy()[0, :3], [6, 5, 6], atol=1e-5)
    assert np.isinf(lay.entry2.numpy()[0]).all()


def test_ray_through_shared_edges_and_vertices_counts_once():
    box = _box([-1, -1, 2], [1, 1, 4])
    # The rays cross the front and back faces on their diagonals (the edge shared by
    # the two triangles of a face, whichever way the face is split) or at the centre.
    origins = np.zeros((3, 3))
    dirs = np.array([[0.0, 0.0, 1.0], [0.2, 0.2, 1.0], [-0.2, 0.2, 1.0]])
    _, lay = _run(_tri(box), origins, dirs)
    np.testing.assert_array_equal(lay.n_intervals.numpy()[0], [1, 1, 1])
    np.testing.assert_allclose(lay.entry1.numpy()[0], [2, 2, 2], atol=1e-5)
    np.testing.assert_allclose(lay.exit1.numpy()[0], [4, 4, 4], atol=1e-5)


def test_ray_grazing_a_silhouette_edge_is_a_miss():
    box = _box([-1, -1, 2], [1, 1, 4])
    # Through the front-right edge (x = 1, z = 2) from inside the front face's plane
    # side: it touches the front face and the right face at one point only.
    dirs = np.array([[0.5, 0.0, 1.0], [0.5, 0.3, 1.0], [0.4, 0.0, 1.0]])
    hits, lay = _run(_tri(box), np.zeros((3, 3)), dirs)
    assert (hits.face.numpy()[0, :2, :2] >= 0).all()  # both faces are touched ...
    np.testing.assert_array_equal(lay.n_intervals.numpy()[0], [0, 0, 1])  # ... no interval
    assert np.isinf(lay.entry1.numpy()[0, :2]).all()
    assert (lay.face_entry1.numpy()[0, :2] == -1).all()
    assert lay.exit1.numpy()[0, 2] > lay.entry1.numpy()[0, 2]


def test_padded_triangles_never_hit_and_padding_changes_nothing():
    mesh = trimesh.creation.icosphere(1, radius=0.5)
    mesh.apply_translation([0, 0, 2])
    rng = np.random.default_rng(2)
    dirs = np.c_[rng.uniform(-0.3, 0.3, (64, 2)), np.ones(64)]
    # Rays through the all-zero triangles' location (the origin) from behind it.
    origins = np.tile([0.0, 0.0, -1.0], (64, 1))
    plain = cast(_tri(mesh), torch.tensor(origins, dtype=torch.float32)[None],
                 torch.tensor(dirs, dtype=torch.float32)[None])
    padded = cast(_tri(mesh, pad=50), torch.tensor(origins, dtype=torch.float32)[None],
                  torch.tensor(dirs, dtype=torch.float32)[None])
    assert (padded.face < len(mesh.faces)).all()
    for a, b in zip(plain, padded, strict=True):
        assert torch.equal(a, b)
    # A batch item made only of padding has no hits at all.
    tri = torch.cat([_tri(mesh), torch.zeros_like(_tri(mesh))])
    o = torch.zeros(2, 10, 3)
    d = torch.tensor([0.0, 0.0, 1.0]).expand(2, 10, 3).contiguous()
    h = cast(tri, o, d)
    assert (h.face[1] == -1).all() and torch.isinf(h.t[1]).all()
    assert (h.face[0, :, 0] >= 0).all()


def test_chunking_and_small_k_give_identical_results():
    mesh = trimesh.creation.torus(0.35, 0.12, major_sections=24, minor_sections=8)
    mesh.apply_translation([0, 0, 2])
    rng = np.random.default_rng(3)
    dirs = torch.tensor(np.c_[rng.uniform(-0.3, 0.3, (2, 300, 2)), np.ones((2, 300, 1))],
                        dtype=torch.float32)
    tri = _tri(mesh).expand(2, -1, -1, -1).contiguous()
    o = torch.zeros_like(dirs)
    full = cast(tri, o, dirs, k=4)
    chunked = cast(tri, o, dirs, k=4, max_elems=5000)
    for a, b in zip(full, chunked, strict=True):
        assert torch.equal(a, b)
    one = cast(tri, o, dirs, k=1)
    assert torch.equal(one.t[..., 0], full.t[..., 0])
    tiny = _tri(trimesh.creation.box((1, 1, 1)))[:, :2]  # fewer faces than k
    assert cast(tiny, o[:1], dirs[:1], k=8).t.shape == (1, 300, 8)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="tri"):
        cast(torch.zeros(1, 4, 3), torch.zeros(1, 2, 3), torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="dirs"):
        cast(torch.zeros(1, 4, 3, 3), torch.zeros(1, 2, 3), torch.zeros(1, 3, 3))
