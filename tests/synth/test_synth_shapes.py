"""Procedural shape families: closed outward parts, normalisation, budget, determinism,
the held-out parameter band, and the mix with shared meshes."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from lift3d.errors import InputError
from lift3d.synth import shapes
from lift3d.synth.types import Assets, SynthMesh

SEEDS = range(8)


def _check_mesh(m: SynthMesh) -> None:
    assert isinstance(m, SynthMesh)
    assert m.vertices.dtype == np.float32 and m.faces.dtype == np.int64
    assert m.part.dtype == np.int16 and m.part.shape == (len(m.faces),)
    assert 0 < len(m.faces) <= shapes.MAX_FACES
    v = m.vertices.astype(np.float64)
    lo, hi = v.min(axis=0), v.max(axis=0)
    assert abs((hi - lo).max() - 1.0) < 1e-5
    np.testing.assert_allclose(0.5 * (lo + hi), 0.0, atol=1e-5)
    assert m.faces.min() >= 0 and m.faces.max() < len(v)
    for p in np.unique(m.part):
        part = trimesh.Trimesh(v, m.faces[m.part == p])
        assert part.is_watertight, f"{m.family}: part {p} is not closed"
        assert part.volume > 0, f"{m.family}: part {p} is inside out ({part.volume})"


def test_families_named() -> None:
    for name in ("box", "cylinder", "revolve", "superquadric", "extrude", "blob", "assembly",
                 "thin", "composite"):
        assert name in shapes.FAMILIES
    assert len(shapes.FAMILY_WEIGHTS) == len(shapes.FAMILIES)
    assert all(w > 0 for w in shapes.FAMILY_WEIGHTS)


@pytest.mark.parametrize("family", shapes.FAMILIES)
@pytest.mark.parametrize("split", ["train", "eval"])
def test_family_meshes_closed_normalised(family: str, split: str) -> None:
    for seed in SEEDS:
        m = shapes.sample_mesh(np.random.default_rng(seed), split, family=family)
        assert m.family == family
        _check_mesh(m)


@pytest.mark.parametrize("family", shapes.FAMILIES)
def test_family_deterministic(family: str) -> None:
    a = shapes.sample_mesh(np.random.default_rng(7), family=family)
    b = shapes.sample_mesh(np.random.default_rng(7), family=family)
    np.testing.assert_array_equal(a.vertices, b.vertices)
    np.testing.assert_array_equal(a.faces, b.faces)
    np.testing.assert_array_equal(a.part, b.part)
    c = shapes.sample_mesh(np.random.default_rng(8), family=family)
    assert c.vertices.shape != a.vertices.shape or not np.array_equal(c.vertices, a.vertices)


def test_sample_mesh_draws_every_family_deterministically() -> None:
    rng = np.random.default_rng(0)
    seen = {shapes.sample_mesh(rng).family for _ in range(120)}
    assert seen == set(shapes.FAMILIES)
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(10):
        a, b = shapes.sample_mesh(r1), shapes.sample_mesh(r2)
        assert a.family == b.family
        np.testing.assert_array_equal(a.vertices, b.vertices)


def test_primary_variate_bands() -> None:
    lo, hi = shapes.EVAL_BAND
    rng = np.random.default_rng(0)
    train = np.array([shapes.primary_variate(rng, "train") for _ in range(20000)])
    ev = np.array([shapes.primary_variate(rng, "eval") for _ in range(2000)])
    assert ((train < lo) | (train >= hi)).all() and (train >= 0).all() and (train < 1).all()
    assert ((ev >= lo) & (ev < hi)).all()
    # Both sides of the band are used in training, and the band is covered in eval.
    assert (train < lo).mean() > 0.4 and (train >= hi).mean() > 0.4
    assert ev.min() < lo + 0.01 and ev.max() > hi - 0.01


def test_sample_mesh_uses_split_band(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every u a family (composite members included) draws is in its split's band."""
    seen: list[tuple[str, float]] = []
    real = shapes.primary_variate

    def recording(rng, split="train"):
        u = real(rng, split)
        seen.append((split, u))
        return u

    monkeypatch.setattr(shapes, "primary_variate", recording)
    lo, hi = shapes.EVAL_BAND
    for split in ("train", "eval"):
        for family in shapes.FAMILIES:
            for seed in range(4):
                shapes.sample_mesh(np.random.default_rng(seed), split, family=family)
    train = [u for s, u in seen if s == "train"]
    ev = [u for s, u in seen if s == "eval"]
    assert len(train) >= 4 * len(shapes.FAMILIES) and len(ev) >= 4 * len(shapes.FAMILIES)
    assert all(u < lo or u >= hi for u in train)
    assert all(lo <= u < hi for u in ev)


def test_primary_variate_drives_proportions() -> None:
    """The same draws with another u give another shape (u is used, not ignored)."""
    for family in shapes.FAMILIES:
        a = shapes.generate(family, np.random.default_rng(5), 0.1)
        b = shapes.generate(family, np.random.default_rng(5), 0.9)
        assert a.vertices.shape != b.vertices.shape or not np.allclose(a.vertices, b.vertices)


def test_bad_arguments_named() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="split"):
        shapes.sample_mesh(rng, "test")
    with pytest.raises(InputError, match="split"):
        shapes.primary_variate(rng, "validation")
    with pytest.raises(InputError, match="family"):
        shapes.sample_mesh(rng, family="teapot")
    with pytest.raises(InputError, match="assets"):
        shapes.sample_mesh(rng, family="shared")


def _fake_assets() -> Assets:
    def mesh(name: str) -> SynthMesh:
        v, f = shapes.box_mesh((1.0, 0.5, 0.8))
        return SynthMesh(shapes.normalise(v).astype(np.float32), f,
                         np.zeros(len(f), np.int16), f"shared:{name}")

    return Assets(meshes={n: mesh(n) for n in ("a", "b", "c")},
                  hdris={"h": np.ones((4, 8, 3), np.float32)},
                  eval_meshes=("c",), eval_hdris=())


def test_shared_meshes_mixed_in_by_split() -> None:
    assets = _fake_assets()
    rng = np.random.default_rng(1)
    train = [shapes.sample_mesh(rng, "train", assets).family for _ in range(600)]
    shared = [f for f in train if f.startswith("shared:")]
    assert 0.06 < len(shared) / len(train) < 0.2
    assert set(shared) <= {"shared:a", "shared:b"}
    ev = [shapes.sample_mesh(rng, "eval", assets).family for _ in range(300)]
    assert {f for f in ev if f.startswith("shared:")} == {"shared:c"}
    forced = shapes.sample_mesh(rng, "eval", assets, family="shared")
    assert forced is assets.meshes["c"]


# --- primitives ---------------------------------------------------------------------------


def _closed_outward(v: np.ndarray, f: np.ndarray) -> None:
    m = trimesh.Trimesh(v, f)
    assert m.is_watertight and m.volume > 0


def _crossings(v: np.ndarray, f: np.ndarray, origin, direction) -> int:
    """How many triangles the ray ``origin + t * direction`` (t > 0) crosses."""
    o, d = np.asarray(origin, float), np.asarray(direction, float)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    e1, e2 = b - a, c - a
    p = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, p)
    ok = np.abs(det) > 1e-12
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    s = o - a
    uu = np.einsum("ij,ij->i", s, p) * inv
    q = np.cross(s, e1)
    vv = (q @ d) * inv
    t = np.einsum("ij,ij->i", e2, q) * inv
    hit = ok & (uu >= 0) & (vv >= 0) & (uu + vv <= 1) & (t > 1e-9)
    return int(hit.sum())


def test_primitives_closed() -> None:
    _closed_outward(*shapes.box_mesh((1, 2, 3)))
    _closed_outward(*shapes.box_mesh((1, 2, 3), 0.2, 1))
    _closed_outward(*shapes.box_mesh((1, 2, 3), 0.3, 4))
    _closed_outward(*shapes.uv_sphere(8, 16))
    _closed_outward(*shapes.torus_mesh(1.0, 0.2))
    _closed_outward(*shapes.superquadric_mesh((1, 2, 1), 0.3, 1.7))
    _closed_outward(*shapes.cylinder_between((0, 0, 0), (1, 1, 0), 0.1))
    _closed_outward(*shapes.tube_mesh([(0, 0, 0), (0, 1, 0), (1, 2, 0.5)], 0.1))
    star = np.array([[np.cos(a) * r, np.sin(a) * r]
                     for a, r in zip(np.linspace(0, 2 * np.pi, 10, endpoint=False),
                                     [1, 0.4] * 5, strict=True)])
    _closed_outward(*shapes.extrude_mesh(star, 0.3))
    _closed_outward(*shapes.extrude_mesh(star[::-1], 0.3, 0.02))


def test_box_mesh_exact_size() -> None:
    v, _ = shapes.box_mesh((1.0, 2.0, 3.0), 0.25, 3)
    np.testing.assert_allclose(np.ptp(v, axis=0), [1.0, 2.0, 3.0], atol=1e-12)


def test_revolved_cup_has_a_cavity() -> None:
    """A cup profile (outer wall up, rim, inner wall down) is one closed surface that a
    horizontal ray through its wall crosses four times (two layers)."""
    prof = [(0, 0), (1, 0), (1, 2), (0.9, 2), (0.9, 0.2), (0, 0.2)]
    v, f = shapes.revolve_mesh(prof, 32)
    _closed_outward(v, f)
    assert _crossings(v, f, (-3, 1.0, 0.01), (1, 0, 0)) == 4
    assert _crossings(v, f, (0.01, 3.0, 0.02), (0, -1, 0)) == 2  # down the cavity


def test_mugs_have_two_layers() -> None:
    """Some sampled revolve meshes are hollow: a horizontal ray through them crosses
    the surface at least four times."""
    two_layer = 0
    for seed in range(40):
        m = shapes.sample_mesh(np.random.default_rng(seed), family="revolve")
        v = m.vertices.astype(np.float64)
        f = m.faces[m.part == 0]
        if _crossings(v, f, (-2.0, 0.1, 0.013), (1, 0, 0)) >= 4:
            two_layer += 1
    assert two_layer >= 5


def test_triangulate_polygon_covers_area() -> None:
    """Ear clipping of non-convex outlines: N - 2 triangles, all counter-clockwise,
    whose areas add up to the polygon's."""
    rng = np.random.default_rng(0)
    polys = [np.asarray(p, float) for p in shapes._LETTERS.values()]
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    r = 1 + 0.4 * np.cos(3 * t) + 0.2 * np.sin(7 * t + 1)
    polys.append(np.stack([r * np.cos(t), r * np.sin(t)], -1))
    for _ in range(5):
        polys.append(shapes._outline(rng, 1.0))
    for p in polys:
        if shapes._polygon_area(p) < 0:
            p = p[::-1]
        tri = shapes.triangulate_polygon(p)
        assert tri.shape == (len(p) - 2, 3)
        a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
        signed = 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1])
                        - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
        assert (signed > -1e-12).all()
        assert signed.sum() == pytest.approx(shapes._polygon_area(p), rel=1e-9)


def test_normalise() -> None:
    v = np.array([[1.0, 2.0, 3.0], [3.0, 3.0, 4.0]])
    n = shapes.normalise(v)
    np.testing.assert_allclose(n, [[-0.5, -0.25, -0.25], [0.5, 0.25, 0.25]])
    with pytest.raises(ValueError):
        shapes.normalise(np.ones((4, 3)))
