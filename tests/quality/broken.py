"""A corpus of small meshes with planted defects, for ``check``, ``repair`` and ``optimize``.

``corpus(seed)`` returns one :class:`BrokenCase` per defect. Each case's ``planted``
maps :class:`lift3d.quality.check.MeshReport` field names to the exact value that
``check_mesh`` must report (booleans as 0/1); ``approx`` holds fractional values
that are only known up to rasterisation error; ``clean`` is the surface before the
damage, in the same units, for Chamfer comparisons after repair.

Import it from a test in ``tests/quality`` as ``from broken import corpus``.

Every case is a few hundred to a few thousand triangles, built in well under a
second, deterministic from the seed (the seed picks which faces and vertices are
damaged). Objects are about 0.3 units across (0.3 m when read as metres), except
``scale_1000``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import trimesh

from lift3d.types import MeshAsset

__all__ = ["BrokenCase", "CASES", "corpus", "interpenetrating_boxes", "sphere", "torus"]

#: The case names, in the order :func:`corpus` returns them.
CASES: tuple[str, ...] = (
    "clean", "soup", "nonmanifold_edges", "nonmanifold_vertex", "holes", "flipped",
    "floaters", "duplicate_vertices", "duplicate_faces", "degenerate_faces", "scale_1000",
    "vertex_colored", "inverted", "textured", "self_intersecting",
)

#: Radius of the base sphere: a 0.3 unit object.
RADIUS = 0.15


@dataclass(frozen=True)
class BrokenCase:
    """One damaged mesh and what was done to it.

    Attributes:
        asset: the damaged mesh.
        planted: exact values ``check_mesh`` must report, keyed by ``MeshReport``
            field name (counts; booleans as 0/1).
        clean: the same surface before the damage (same units), for Chamfer
            comparisons.
        approx: fractional values known only approximately (``uv_overlap``), keyed
            by ``MeshReport`` field name.
    """

    asset: MeshAsset
    planted: dict[str, int]
    clean: MeshAsset
    approx: dict[str, float] = field(default_factory=dict)


def sphere(subdivisions: int = 3, radius: float = RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """A closed icosphere with outward winding: ``(V, 3)`` float64, ``(F, 3)`` int64.
    Subdivision 3 has 642 vertices and 1 280 faces."""
    m = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return np.asarray(m.vertices, np.float64), np.asarray(m.faces, np.int64)


def torus(n: int = 24, m: int = 12, major: float = 0.1, minor: float = 0.04
          ) -> tuple[np.ndarray, np.ndarray]:
    """A closed torus grid, ``n`` segments around the ring and ``m`` around the tube,
    outward winding: ``(n*m, 3)`` float64, ``(2*n*m, 3)`` int64."""
    i, j = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    a, b = 2 * np.pi * i / n, 2 * np.pi * j / m
    r = major + minor * np.cos(b)
    v = np.stack([r * np.cos(a), r * np.sin(a), minor * np.sin(b)], -1).reshape(-1, 3)
    f = _grid_faces(n, m, lambda ii, jj: (ii % n) * m + (jj % m))
    return v, _outward(v, f)


def interpenetrating_boxes() -> tuple[np.ndarray, np.ndarray]:
    """Two closed boxes (0.2 units) overlapping at a corner (about 3% of their surface
    lies inside the other box), the second turned so no faces are coplanar: a mesh
    whose surface intersects itself (9 crossing triangle pairs). A volumetric repair
    drops the buried parts, which stay within a Chamfer budget of 1% of the diagonal."""
    a = trimesh.creation.box(extents=(0.2, 0.2, 0.2))
    b = trimesh.creation.box(extents=(0.2, 0.2, 0.2))
    rot = trimesh.transformations.euler_matrix(0.3, 0.5, 0.2)
    rot[:3, 3] = (0.17, 0.15, 0.13)
    b.apply_transform(rot)
    v = np.concatenate([a.vertices, b.vertices]).astype(np.float64)
    f = np.concatenate([a.faces, b.faces + len(a.vertices)]).astype(np.int64)
    return v, f


def corpus(seed: int = 0) -> dict[str, BrokenCase]:
    """Every case in :data:`CASES`, built deterministically from ``seed``."""
    rng = np.random.default_rng(seed)
    builders = {
        "clean": _clean, "soup": _soup, "nonmanifold_edges": _nonmanifold_edges,
        "nonmanifold_vertex": _nonmanifold_vertex, "holes": _holes, "flipped": _flipped,
        "floaters": _floaters, "duplicate_vertices": _duplicate_vertices,
        "duplicate_faces": _duplicate_faces, "degenerate_faces": _degenerate_faces,
        "scale_1000": _scale_1000, "vertex_colored": _vertex_colored,
        "inverted": _inverted, "textured": _textured,
        "self_intersecting": _self_intersecting,
    }
    return {name: builders[name](rng) for name in CASES}


# --- helpers ---------------------------------------------------------------------------


def _asset(v: np.ndarray, f: np.ndarray, **kw) -> MeshAsset:
    return MeshAsset(np.asarray(v, np.float64), np.asarray(f, np.int64), **kw)


def _grid_faces(n: int, m: int, idx) -> np.ndarray:
    i, j = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    i, j = i.ravel(), j.ravel()
    q00, q10, q11, q01 = idx(i, j), idx(i + 1, j), idx(i + 1, j + 1), idx(i, j + 1)
    return np.concatenate([np.stack([q00, q10, q11], 1), np.stack([q00, q11, q01], 1)])


def _outward(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    t = v[f]
    vol = np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum()
    return f if vol > 0 else f[:, ::-1].copy()


def _vertex_faces(f: np.ndarray, nv: int) -> list[np.ndarray]:
    order = np.argsort(f.ravel(), kind="stable")
    bounds = np.searchsorted(f.ravel()[order], np.arange(nv + 1))
    return [order[bounds[k]:bounds[k + 1]] // 3 for k in range(nv)]


def _edges(f: np.ndarray) -> np.ndarray:
    """``(E, 2)`` unique undirected edges ``(min, max)``."""
    e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    return np.unique(e, axis=0)


def _pick_separated(rng, candidates: np.ndarray, blocked_by, count: int) -> list[int]:
    """Greedily pick ``count`` of ``candidates`` in random order, skipping any that an
    earlier pick blocks (``blocked_by(k)`` returns what picking ``k`` blocks)."""
    blocked: set[int] = set()
    out: list[int] = []
    for k in rng.permutation(candidates):
        if int(k) in blocked:
            continue
        out.append(int(k))
        blocked.update(int(x) for x in blocked_by(int(k)))
        if len(out) == count:
            return out
    raise AssertionError("corpus: not enough separated elements to damage")


def _neighbours(f: np.ndarray, nv: int) -> list[set[int]]:
    nb: list[set[int]] = [set() for _ in range(nv)]
    for a, b in _edges(f):
        nb[a].add(int(b))
        nb[b].add(int(a))
    return nb


# --- the cases -------------------------------------------------------------------------


def _clean(rng) -> BrokenCase:
    v, f = sphere()
    a = _asset(v, f)
    zeros = dict(nonmanifold_edges=0, nonmanifold_vertices=0, boundary_edges=0, holes=0,
                 floaters=0, degenerate_faces=0, duplicate_faces=0, duplicate_vertices=0,
                 inconsistent_winding=0, flipped_faces=0, self_intersections=0)
    return BrokenCase(a, dict(zeros, watertight=1, watertight_after_weld=1, components=1,
                              edge_manifold=1, vertex_manifold=1, inverted=0,
                              scale_suspect=0, has_uv=0, vertex_colors=0), a)


def _soup(rng) -> BrokenCase:
    """Every triangle has its own three vertices (an STL read without merging)."""
    v, f = sphere()
    sv = v[f].reshape(-1, 3)
    sf = np.arange(len(sv)).reshape(-1, 3)
    return BrokenCase(_asset(sv, sf), dict(
        duplicate_vertices=len(sv) - len(v), watertight=0, watertight_after_weld=1,
        boundary_edges=sf.size, holes=len(sf), holes_after_weld=0, components=1,
        floaters=0, nonmanifold_edges=0, inconsistent_winding=0, flipped_faces=0,
        self_intersections=0), _asset(v, f))


def _nonmanifold_edges(rng) -> BrokenCase:
    """``K`` fins: an extra triangle on an existing edge, so it has three faces."""
    k = 5
    v, f = sphere()
    edges = _edges(f)
    vertex_edges: dict[int, list[int]] = {}
    for e, (a, b) in enumerate(edges):
        vertex_edges.setdefault(int(a), []).append(e)
        vertex_edges.setdefault(int(b), []).append(e)
    nb = _neighbours(f, len(v))

    def blocks(e: int) -> list[int]:
        # Edges touching the edge's vertices or their neighbours: fins stay apart.
        near = set(edges[e]) | nb[edges[e][0]] | nb[edges[e][1]]
        return [x for w in near for x in vertex_edges[w]]

    picked = edges[_pick_separated(rng, np.arange(len(edges)), blocks, k)]
    mid = v[picked].mean(axis=1)
    apex = mid + 0.15 * mid / np.linalg.norm(mid, axis=1, keepdims=True)
    nv = len(v)
    fins = np.stack([picked[:, 0], picked[:, 1], nv + np.arange(k)], axis=1)
    return BrokenCase(_asset(np.concatenate([v, apex]), np.concatenate([f, fins])), dict(
        nonmanifold_edges=k, nonmanifold_edges_after_weld=k, nonmanifold_vertices=2 * k,
        edge_manifold=0, watertight=0, watertight_after_weld=0, duplicate_faces=0,
        duplicate_vertices=0, degenerate_faces=0, components=1, self_intersections=0),
        _asset(v, f))


def _nonmanifold_vertex(rng) -> BrokenCase:
    """Two spheres touching at one shared vertex (a bow tie of two fans)."""
    v, f = sphere(2)
    p = int(rng.integers(len(v)))
    q = int(np.argmin(np.linalg.norm(v + v[p], axis=1)))  # the antipode of p
    v2 = v + 2 * v[p]  # v2[q] lands on v[p]
    f2 = f + len(v)
    f2[f2 == len(v) + q] = p
    keep = np.ones(len(v2), bool)
    keep[q] = False
    remap = np.cumsum(keep) - 1 + len(v)
    f2 = np.where(f2 >= len(v), remap[np.clip(f2 - len(v), 0, None)], f2)
    vv = np.concatenate([v, v2[keep]])
    ff = np.concatenate([f, f2])
    clean_v = np.concatenate([v, v2])
    clean_f = np.concatenate([f, f + len(v)])
    return BrokenCase(_asset(vv, ff), dict(
        nonmanifold_vertices=1, vertex_manifold=0, nonmanifold_edges=0, edge_manifold=1,
        boundary_edges=0, holes=0, components=1, watertight=1, duplicate_vertices=0,
        inconsistent_winding=0, self_intersections=0), _asset(clean_v, clean_f))


def _holes(rng) -> BrokenCase:
    """``N`` holes: the fans around ``N`` vertices far apart removed."""
    n = 4
    v, f = sphere()
    nb = _neighbours(f, len(v))

    def blocks(k: int) -> set[int]:
        ring = nb[k] | {k}
        return set().union(*(nb[x] | {x} for x in ring))

    picked = _pick_separated(rng, np.arange(len(v)), blocks, n)
    drop = np.isin(f, picked).any(axis=1)
    keep_v = np.ones(len(v), bool)
    keep_v[picked] = False
    remap = np.cumsum(keep_v) - 1
    ff = remap[f[~drop]]
    return BrokenCase(_asset(v[keep_v], ff), dict(
        holes=n, holes_after_weld=n, boundary_edges=int(drop.sum()), nonmanifold_edges=0,
        nonmanifold_vertices=0, watertight=0, watertight_after_weld=0, components=1,
        floaters=0, inconsistent_winding=0, flipped_faces=0, duplicate_vertices=0,
        inverted=0), _asset(v, f))


def _flipped(rng) -> BrokenCase:
    """``K`` faces reversed, no two sharing a vertex."""
    k = 7
    v, f = sphere()
    vf = _vertex_faces(f, len(v))
    picked = _pick_separated(rng, np.arange(len(f)),
                             lambda i: np.concatenate([vf[x] for x in f[i]]), k)
    ff = f.copy()
    ff[picked] = ff[picked][:, ::-1]
    return BrokenCase(_asset(v, ff), dict(
        flipped_faces=k, inconsistent_winding=3 * k, watertight=0, watertight_after_weld=0,
        nonmanifold_edges=0, boundary_edges=0, holes=0, components=1, inverted=0),
        _asset(v, f))


def _floaters(rng) -> BrokenCase:
    """``M`` tiny closed specks (each about 0.4% of the area) beside the sphere."""
    m = 3
    v, f = sphere()
    sv, sf = sphere(1, radius=0.01)
    dirs = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1.0]])
    dirs = dirs[rng.permutation(len(dirs))[:m]]
    vs, fs = [v], [f]
    for d in dirs:
        fs.append(sf + sum(len(x) for x in vs))
        vs.append(sv + 2 * RADIUS * d)
    return BrokenCase(_asset(np.concatenate(vs), np.concatenate(fs)), dict(
        floaters=m, components=m + 1, watertight=1, holes=0, self_intersections=0,
        inconsistent_winding=0), _asset(v, f))


def _duplicate_vertices(rng) -> BrokenCase:
    """``D`` vertices copied, and one face around each re-pointed to the copy."""
    d = 6
    v, f = sphere()
    vf = _vertex_faces(f, len(v))
    nb = _neighbours(f, len(v))
    picked = _pick_separated(rng, np.arange(len(v)), lambda k: nb[k] | {k}, d)
    ff = f.copy()
    for n, k in enumerate(picked):
        face = int(vf[k][0])
        ff[face][ff[face] == k] = len(v) + n
    return BrokenCase(_asset(np.concatenate([v, v[picked]]), ff), dict(
        duplicate_vertices=d, watertight=0, watertight_after_weld=1, holes_after_weld=0,
        components=1, duplicate_faces=0, nonmanifold_edges=0), _asset(v, f))


def _duplicate_faces(rng) -> BrokenCase:
    """``K`` faces repeated: half with the corners rotated, half reversed."""
    k = 4
    v, f = sphere()
    vf = _vertex_faces(f, len(v))
    picked = _pick_separated(rng, np.arange(len(f)),
                             lambda i: np.concatenate([vf[x] for x in f[i]]), k)
    extra = f[picked].copy()
    extra[: k // 2] = extra[: k // 2][:, [1, 2, 0]]
    extra[k // 2:] = extra[k // 2:][:, ::-1]
    return BrokenCase(_asset(v, np.concatenate([f, extra])), dict(
        duplicate_faces=k, nonmanifold_edges=3 * k, duplicate_vertices=0,
        degenerate_faces=0, components=1, watertight=0), _asset(v, f))


def _degenerate_faces(rng) -> BrokenCase:
    """``K`` faces with a repeated corner and ``K`` with three collinear corners."""
    k = 3
    v, f = sphere()
    edges = _edges(f)
    pick = rng.choice(len(edges), size=2 * k, replace=False)
    rep = edges[pick[:k]]
    repeated = np.stack([rep[:, 0], rep[:, 0], rep[:, 1]], axis=1)
    col = edges[pick[k:]]
    mid = v[col].mean(axis=1)
    collinear = np.stack([col[:, 0], len(v) + np.arange(k), col[:, 1]], axis=1)
    return BrokenCase(_asset(np.concatenate([v, mid]),
                             np.concatenate([f, repeated, collinear])), dict(
        degenerate_faces=2 * k, duplicate_faces=0, duplicate_vertices=0, components=1,
        self_intersections=0), _asset(v, f))


def _scale_1000(rng) -> BrokenCase:
    """A 0.3 m sphere in millimetre numbers (300 across) with no unit stated."""
    v, f = sphere()
    a = _asset(v * 1000.0, f)
    return BrokenCase(a, dict(scale_suspect=1, unit_stated=0, watertight=1, holes=0,
                              components=1), a)


def _vertex_colored(rng) -> BrokenCase:
    """A clean sphere with RGBA vertex colours (a TripoSR-style output)."""
    v, f = sphere()
    rgb = np.clip((v / (2 * RADIUS) + 0.5) * 255, 0, 255).astype(np.uint8)
    col = np.concatenate([rgb, np.full((len(v), 1), 255, np.uint8)], axis=1)
    return BrokenCase(_asset(v, f, vertex_colors=col), dict(
        vertex_colors=1, has_uv=0, textures=0, watertight=1, holes=0), _asset(v, f))


def _inverted(rng) -> BrokenCase:
    """A clean closed sphere with every face reversed: normals point inward."""
    v, f = sphere()
    return BrokenCase(_asset(v, f[:, ::-1].copy()), dict(
        inverted=1, watertight=1, watertight_after_weld=1, inconsistent_winding=0,
        flipped_faces=0), _asset(v, f))


def _textured(rng) -> BrokenCase:
    """A UV-mapped torus (seams split), a 16x16 texture, ``n + 2`` UVs above ``v = 1``
    and the last strip of quads mapped onto the first strip's UVs (an overlap of
    1 / (n - 1) of the covered UV area)."""
    n, m = 24, 12
    pos, _ = torus(n, m)
    du = 1.0 / (n - 1)
    over = 0.5 / (m - 1)  # only the last row of UVs goes past v = 1
    rows = np.arange(m + 1)
    vcoord = rows / m * (1 + over)
    # Base grid: columns 0..n-1, rows 0..m; columns A, B: the last strip's own copies.
    cols_pos = np.concatenate([np.arange(n), [n - 1, 0]])
    cols_u = np.concatenate([np.arange(n) * du, [0.0, du]])
    ci, rj = np.meshgrid(np.arange(n + 2), rows, indexing="ij")
    verts = pos[cols_pos[ci] * m + rj % m].reshape(-1, 3)
    uv = np.stack([cols_u[ci], vcoord[rj]], -1).reshape(-1, 2).astype(np.float32)

    def idx(ii, jj):
        return ii * (m + 1) + jj

    base = _grid_faces(n - 1, m, idx)
    last = _grid_faces(1, m, lambda ii, jj: (n + ii) * (m + 1) + jj)
    faces = np.concatenate([base, last])
    # Wind outward as the geometry wants.
    k = np.arange(len(verts))
    welded = cols_pos[k // (m + 1)] * m + (k % (m + 1)) % m
    t = pos[welded[faces]]
    if np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() < 0:
        faces = faces[:, ::-1].copy()
    yy, xx = np.mgrid[0:16, 0:16]
    checker = (((yy // 4 + xx // 4) % 2) * 200 + 30).astype(np.uint8)
    tex = np.stack([checker, 255 - checker, np.full_like(checker, 128)], axis=-1)
    a = _asset(verts, faces, uv=uv, texture=tex, texture_sizes=((16, 16),))
    clean_v, clean_f = torus(n, m)
    return BrokenCase(a, dict(
        has_uv=1, textures=1, uv_out_of_range=int((uv > 1).any(axis=1).sum()),
        watertight=0, watertight_after_weld=1, holes_after_weld=0, components=1,
        self_intersections=0), _asset(clean_v, clean_f),
        approx=dict(uv_overlap=1.0 / (n - 1)))


def _self_intersecting(rng) -> BrokenCase:
    """Two closed boxes passing through each other (``self_intersections > 0``)."""
    v, f = interpenetrating_boxes()
    a = _asset(v, f)
    return BrokenCase(a, dict(components=2, watertight=1, holes=0, floaters=0), a)
