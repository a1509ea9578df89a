"""Mesh comparison of the photogrammetry pipeline: similarity alignment, Chamfer, F-score.

The alignment cases run on the OpenMVS reference mesh of sceaux_castle when the shared
data is there, else on a synthetic scene (a bumpy plane with a box on it); the
synthetic scene also serves the point-set and wrong-mesh cases.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from lift3d.errors import InputError
from lift3d.multiview.compare import (
    MeshComparison,
    Similarity,
    align_similarity,
    compare_meshes,
)

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"  # as tests/conftest.py finds it
SCEAUX = Path("multiview") / "sceaux_castle" / "openmvs_reference_mesh.ply"
# Fewer samples than the default (200k) keep each comparison to a few seconds; the
# point-to-triangle distances make scores of identical surfaces exact anyway.
SAMPLES = 30_000


# ----------------------------------------------------------------------------- meshes


def grid_faces(nx: int, ny: int) -> np.ndarray:
    """Two triangles per cell of an ``nx`` x ``ny`` vertex grid (row-major)."""
    idx = np.arange(nx * ny).reshape(nx, ny)
    a, b = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel()
    c, d = idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    return np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])


def bumpy_plane_and_box() -> tuple[np.ndarray, np.ndarray]:
    """A 2 x 1.2 heightfield with asymmetric bumps, and a box standing on its middle
    (where no crop of :func:`degrade` reaches)."""
    nx, ny = 41, 25
    x, y = np.meshgrid(np.linspace(0, 2, nx), np.linspace(0, 1.2, ny), indexing="ij")
    z = 0.15 * np.sin(3 * x + 0.5) * np.cos(4 * y) + 0.1 * x * y
    v = np.stack([x.ravel(), y.ravel(), z.ravel()], 1)
    f = grid_faces(nx, ny)
    lo, hi = np.array([0.8, 0.6, 0.0]), np.array([1.2, 1.0, 0.6])
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], float)
    box_v = lo + corners * (hi - lo)
    box_f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                      [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    return np.concatenate([v, box_v]), np.concatenate([f, box_f + len(v)])


def uv_sphere(n: int = 24) -> tuple[np.ndarray, np.ndarray]:
    theta, phi = np.meshgrid(np.linspace(0.01, np.pi - 0.01, n), np.linspace(0, 2 * np.pi, 2 * n),
                             indexing="ij")
    v = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1)
    return v.reshape(-1, 3), grid_faces(n, 2 * n)


def random_similarity(rng: np.random.Generator) -> Similarity:
    """Scale log-uniform in [0.1, 10], a uniform random rotation, translation ~ N(0, 10)."""
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    r = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                  [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                  [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    return Similarity(10.0 ** rng.uniform(-1, 1), r, rng.normal(0, 10, 3))


def diagonal(v: np.ndarray) -> float:
    return float(np.linalg.norm(v.max(0) - v.min(0)))


def degrade(v: np.ndarray, f: np.ndarray, rng: np.random.Generator, crop: float = 0.3,
            noise: float = 0.003) -> tuple[np.ndarray, np.ndarray]:
    """Crop ``crop`` of the faces (one end along the longest axis), add a ground plane
    (perpendicular to the middle axis, at its low end, sticking out in front), and add
    Gaussian noise of ``noise`` times the diagonal to every vertex."""
    c = v.mean(0)
    axes = np.linalg.svd(v - c, full_matrices=False)[2]
    p = (v - c) @ axes.T
    along = p[f].mean(1)[:, 0]
    kept = f[along <= np.quantile(along, 1.0 - crop)]
    lo, hi = p.min(0), p.max(0)
    n = 30
    g0, g2 = np.meshgrid(np.linspace(lo[0], hi[0], n),
                         np.linspace(lo[2], hi[2] + 0.1 * diagonal(v), n), indexing="ij")
    ground = np.stack([g0.ravel(), np.full(n * n, lo[1]), g2.ravel()], 1) @ axes + c
    out_v = np.concatenate([v, ground])
    out_v = out_v + rng.normal(0, noise * diagonal(v), out_v.shape)
    return out_v, np.concatenate([kept, grid_faces(n, n) + len(v)])


def rotation_error_deg(r: np.ndarray) -> float:
    return math.degrees(math.acos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0)))


def sceaux_mesh() -> tuple[np.ndarray, np.ndarray] | None:
    """The OpenMVS reference mesh of sceaux_castle, or None when the data is missing."""
    path = SHARED / SCEAUX
    if not path.is_file():
        return None
    from lift3d.io.meshes import load_mesh

    asset = load_mesh(path)
    return asset.vertices, asset.faces


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, np.ndarray]:
    """``(vertices, faces)`` of a reference: the real one, or the synthetic scene when the
    shared data is missing (each comparison costs seconds, so not both)."""
    return sceaux_mesh() or bumpy_plane_and_box()


# ------------------------------------------------------------------------------ tests


def test_similarity_apply_inverse_matrix():
    xf = random_similarity(np.random.default_rng(3))
    p = np.random.default_rng(4).normal(size=(10, 3))
    q = xf.apply(p)
    assert np.allclose(q, xf.scale * p @ xf.rotation.T + xf.translation)
    assert np.allclose(xf.inverse().apply(q), p)
    m = xf.matrix()
    assert np.allclose(q, p @ m[:3, :3].T + m[:3, 3])
    with pytest.raises(InputError, match="points"):
        xf.apply(np.zeros((4, 2)))
    with pytest.raises(InputError, match="scale"):
        Similarity(0.0, np.eye(3), np.zeros(3))
    with pytest.raises(InputError, match="rotation"):
        Similarity(1.0, np.eye(2), np.zeros(3))
    with pytest.raises(InputError, match="proper rotation"):
        Similarity(1.0, np.diag([1.0, 1.0, -1.0]), np.zeros(3))


def test_recovers_random_similarity(reference):
    v, f = reference
    rng = np.random.default_rng(len(v))
    truth = random_similarity(rng)
    result = compare_meshes(truth.apply(v), f, v, f, samples=SAMPLES, seed=1)
    assert isinstance(result, MeshComparison)
    xf = result.transform
    # Ours -> reference undoes the reference -> ours transform.
    assert abs(xf.scale * truth.scale - 1.0) < 0.01
    assert rotation_error_deg(xf.rotation @ truth.rotation) < 1.0
    assert np.abs(xf.apply(truth.apply(v)) - v).max() < 0.005 * diagonal(v)
    assert result.diagonal == pytest.approx(diagonal(v))
    assert result.candidates_tried == 24
    assert result.fscore_1 > 0.99 and result.fscore_2 > 0.99 and result.fscore_1_all > 0.99
    assert result.chamfer_relative < 0.002
    assert result.common_fraction_ours > 0.99 and result.common_fraction_ref > 0.99
    assert result.icp_rmse < 0.01 * result.diagonal


def test_align_similarity_on_points():
    v, f = bumpy_plane_and_box()
    from lift3d.quality.shape_metrics import sample_surface

    target = sample_surface(v, f, 4000, rng=0)
    truth = random_similarity(np.random.default_rng(11))
    source = truth.inverse().apply(sample_surface(v, f, 4000, rng=1))
    xf = align_similarity(source, target, rng=2)
    assert abs(xf.scale / truth.scale - 1.0) < 0.01
    assert rotation_error_deg(xf.rotation.T @ truth.rotation) < 1.0
    # Already aligned up to a small turn: "identity" needs no principal-axis search.
    small = Similarity(1.3, _small_turn(5.0), np.array([0.1, 0.0, 0.0]))
    xf2 = align_similarity(small.apply(target), target, coarse="identity", rng=3)
    assert rotation_error_deg(xf2.rotation @ small.rotation) < 1.0
    assert abs(xf2.scale * small.scale - 1.0) < 0.01


def _small_turn(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_robust_to_crop_ground_and_noise(reference):
    v, f = reference
    rng = np.random.default_rng(7)
    dv, df = degrade(v, f, rng)
    truth = random_similarity(rng)
    result = compare_meshes(truth.apply(dv), df, v, f, samples=SAMPLES, seed=2)
    assert rotation_error_deg(result.transform.rotation @ truth.rotation) < 2.0
    assert abs(result.transform.scale * truth.scale - 1.0) < 0.02
    assert result.fscore_2 > 0.9
    # The crop shows: part of ours (the ground) and of the reference (the cropped end)
    # lie outside the common region, and scoring everything is worse.
    assert result.common_fraction_ours < 0.95
    assert result.common_fraction_ref < 0.95
    assert result.fscore_2_all < result.fscore_2
    assert result.precision_2_all < result.precision_2


def test_wrong_mesh_scores_low():
    v, f = bumpy_plane_and_box()
    sv, sf = uv_sphere()
    result = compare_meshes(sv * 3.0, sf, v, f, samples=SAMPLES, seed=0)
    assert result.fscore_1_all < 0.4
    assert result.fscore_2_all < 0.5
    assert result.fscore_1 < 0.5
    assert result.chamfer_relative_all > 0.02


def test_point_triangle_distance_matches_trimesh():
    trimesh = pytest.importorskip("trimesh")
    from lift3d.multiview.compare import _point_triangle_distance

    rng = np.random.default_rng(0)
    tri = rng.normal(size=(2000, 3, 3))
    # Points near and far, in every Voronoi region of their triangle.
    p = tri.mean(axis=1) + rng.normal(scale=2.0, size=(2000, 3))
    got = _point_triangle_distance(p, tri[:, 0], tri[:, 1], tri[:, 2])
    want = np.linalg.norm(p - trimesh.triangles.closest_point(tri, p), axis=1)
    assert np.allclose(got, want, atol=1e-9)


def test_common_region_masks():
    from lift3d.multiview.compare import _common_masks

    rng = np.random.default_rng(1)
    shared = rng.random((5000, 3)) * [1.0, 1.0, 0.0]
    extra = rng.random((5000, 3)) * [1.0, 1.0, 0.0] + [3.0, 0.0, 0.0]  # ours only
    ours = np.concatenate([shared, extra])
    ref = np.concatenate([shared, rng.random((1000, 3)) * [1.0, 0.2, 0.0] + [0, -1.5, 0]])
    lo, hi = ref.min(0), ref.max(0)
    in_ours, in_ref = _common_masks(ours, ref, lo, hi, cell=0.05)
    # The extra part lies outside the reference's box: never common.
    assert in_ours[:5000].all() and not in_ours[5000:].any()
    assert in_ref[:5000].all() and not in_ref[5000:].any()
    # Dilation by one cell: a reference point just beside the shared part counts.
    near = np.array([[0.5, -0.03, 0.0], [0.5, -0.2, 0.0]])
    _, in_near = _common_masks(shared, np.concatenate([shared, near]), lo, hi, cell=0.05)
    assert in_near[-2] and not in_near[-1]


def test_bad_inputs_raise_input_error():
    v, f = bumpy_plane_and_box()
    bad_calls = {
        "ours_vertices": lambda: compare_meshes(np.zeros((0, 3)), f, v, f),
        "ref_vertices": lambda: compare_meshes(v, f, v[:, :2], f),
        "ours_faces": lambda: compare_meshes(v, f[:, :2], v, f),
        "ref_faces": lambda: compare_meshes(v, f, v, np.zeros((0, 3), np.int64)),
    }
    for name, call in bad_calls.items():
        with pytest.raises(InputError, match=name):
            call()
    with pytest.raises(InputError, match="ours_faces.*must lie in"):
        compare_meshes(v, f + len(v), v, f)
    with pytest.raises(InputError, match="ref_faces.*integer"):
        compare_meshes(v, f, v, f.astype(float))
    nan = v.copy()
    nan[0, 0] = np.nan
    with pytest.raises(InputError, match="ours_vertices.*NaN"):
        compare_meshes(nan, f, v, f)
    with pytest.raises(InputError, match="zero surface area"):
        compare_meshes(np.zeros_like(v), f, v, f)
    with pytest.raises(InputError, match="samples"):
        compare_meshes(v, f, v, f, samples=10)
    with pytest.raises(InputError, match="taus"):
        compare_meshes(v, f, v, f, taus=(0.01,))
    with pytest.raises(InputError, match="source"):
        align_similarity(np.zeros((5, 2)), v)
    with pytest.raises(InputError, match="target"):
        align_similarity(v, v[:2])
    with pytest.raises(InputError, match="coarse"):
        align_similarity(v, v, coarse="ransac")
    with pytest.raises(InputError, match="trim"):
        align_similarity(v, v, trim=0.0)
    with pytest.raises(InputError, match="iterations"):
        align_similarity(v, v, iterations=0)
    with pytest.raises(InputError, match="coincide"):
        align_similarity(np.ones((10, 3)), v)


# --------------------------------------------------------------------------- the script


@pytest.fixture(scope="module")
def eval_photos(bench_module):
    return bench_module("eval_photos")


def write_ply(path: Path, v: np.ndarray, f: np.ndarray) -> Path:
    lines = ["ply", "format ascii 1.0", f"element vertex {len(v)}", "property float x",
             "property float y", "property float z", f"element face {len(f)}",
             "property list uchar int vertex_indices", "end_header"]
    lines += [f"{a:.9g} {b:.9g} {c:.9g}" for a, b, c in v]
    lines += [f"3 {a} {b} {c}" for a, b, c in f]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_eval_photos_on_transformed_reference(eval_photos, shared_data, tmp_path, capsys):
    ref = shared_data / SCEAUX
    if not ref.is_file():
        pytest.skip(f"reference mesh not found at {ref}")
    from lift3d.io.meshes import load_mesh

    asset = load_mesh(ref)
    truth = random_similarity(np.random.default_rng(5))
    ours = write_ply(tmp_path / "ours.ply", truth.apply(asset.vertices), asset.faces)
    out = tmp_path / "result.json"
    code = eval_photos.main([str(ours), "--reference", str(ref), "--json", str(out),
                             "--samples", "20000"])
    assert code == 0
    text = capsys.readouterr().out
    assert "F-score @1%" in text and "common" in text
    data = json.loads(out.read_text())
    assert data["fscore_1"] > 0.99 and data["fscore_2_all"] > 0.99
    assert data["transform"]["scale"] * truth.scale == pytest.approx(1.0, rel=0.01)
    assert data["reference_faces"] == len(asset.faces)


def test_eval_photos_bad_input_exits_2(eval_photos, tmp_path, capsys):
    missing = tmp_path / "nothing.ply"
    code = eval_photos.main([str(missing), "--reference", str(missing)])
    assert code == 2
    assert "not found" in capsys.readouterr().err
