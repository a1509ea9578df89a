"""Mesh clean-up that keeps a closed mesh closed: floaters, smoothing, decimation.

These run on every reconstruction, so they work on index arrays with numpy and
scipy rather than through trimesh's general (and slower) processing.
"""

from __future__ import annotations

import logging

import numpy as np

from ..types import Mesh
from .geometry import face_areas

log = logging.getLogger(__name__)


def is_watertight(mesh: Mesh) -> bool:
    """True when the mesh is closed, manifold and consistently wound.

    Every directed edge ``(a, b)`` must occur exactly once and its reverse ``(b, a)``
    exactly once too: then each undirected edge has exactly two faces, which
    traverse it in opposite directions.
    """
    f = np.asarray(mesh.faces, dtype=np.int64)
    if len(f) == 0:
        return False
    n = int(f.max()) + 1
    a = f.ravel()
    b = f[:, [1, 2, 0]].ravel()
    if np.any(a == b):
        return False
    fwd = np.sort(a * n + b)
    if np.any(fwd[1:] == fwd[:-1]):
        return False
    rev = np.sort(b * n + a)
    return bool(np.array_equal(fwd, rev))


def weld(mesh: Mesh, decimals: int = 9) -> Mesh:
    """Merge vertices equal after rounding to ``decimals`` places; drop unused ones
    and faces that collapse to a line."""
    v = np.asarray(mesh.vertices, dtype=np.float64)
    f = np.asarray(mesh.faces, dtype=np.int64)
    used = np.zeros(len(v), dtype=bool)
    used[f.ravel()] = True
    key = np.round(v, decimals)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    f2 = inverse[f]
    ok = (f2[:, 0] != f2[:, 1]) & (f2[:, 1] != f2[:, 2]) & (f2[:, 2] != f2[:, 0])
    f2 = f2[ok]
    # Compact to referenced vertices only.
    ref = np.zeros(len(first), dtype=bool)
    ref[f2.ravel()] = True
    remap = -np.ones(len(first), dtype=np.int64)
    remap[ref] = np.arange(int(ref.sum()))
    return Mesh(v[first][ref], remap[f2])


def components(mesh: Mesh) -> tuple[int, np.ndarray]:
    """Connected components by shared vertices: ``(count, (F,) label per face)``."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    f = np.asarray(mesh.faces, dtype=np.int64)
    nv = len(mesh.vertices)
    rows = np.concatenate([f[:, 0], f[:, 1]])
    cols = np.concatenate([f[:, 1], f[:, 2]])
    g = sp.coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(nv, nv))
    n, vlabel = connected_components(g, directed=False)
    return int(n), vlabel[f[:, 0]]


def remove_floaters(mesh: Mesh, min_fraction: float = 0.01) -> Mesh:
    """Drop connected pieces whose area is below ``min_fraction`` of the largest piece's.

    Separate real parts of an object (a lid beside its jar) survive; specks from
    segmentation noise do not.
    """
    n, label = components(mesh)
    if n <= 1:
        return mesh
    area = np.bincount(label, weights=face_areas(mesh), minlength=n)
    keep_part = area >= min_fraction * area.max()
    log.debug("floaters: kept %d of %d pieces", int(keep_part.sum()), n)
    return compact(Mesh(mesh.vertices, np.asarray(mesh.faces)[keep_part[label]]))


def smooth(mesh: Mesh, iterations: int = 6) -> Mesh:
    """Taubin smoothing: removes voxel stair-steps without shrinking the volume."""
    import trimesh

    if iterations <= 0:
        return mesh
    t = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    trimesh.smoothing.filter_taubin(t, lamb=0.5, nu=0.53, iterations=iterations)
    return Mesh(np.asarray(t.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64))


def drop_duplicate_faces(mesh: Mesh) -> Mesh:
    """Remove every face whose vertex set another face repeats (both copies).

    Quadric decimation occasionally folds a thin part into two coincident,
    opposite triangles hanging off one edge: a zero-volume fin that makes that edge
    non-manifold. Removing both copies restores the closed surface around it.
    """
    f = np.asarray(mesh.faces, dtype=np.int64)
    key = np.sort(f, axis=1)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    keep = counts[inverse.ravel()] == 1
    if keep.all():
        return mesh
    return weld(Mesh(mesh.vertices, f[keep]))


def edge_groups(faces: np.ndarray, n_vertices: int):
    """Half-edges grouped by undirected edge.

    Returns:
        ``(a, b, order, start, count)``: ``a``/``b`` the ``(3F,)`` endpoints of the
        face-major half-edges (face ``i``'s edges are ``3i..3i+2``); ``order`` sorts
        them by undirected edge; each group (edge) begins at ``start`` in that order
        and has ``count`` half-edges (2 for a manifold interior edge, 1 on a border).
    """
    f = np.asarray(faces, dtype=np.int64)
    a = f.ravel()
    b = f[:, [1, 2, 0]].ravel()
    keys = np.minimum(a, b) * n_vertices + np.maximum(a, b)
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    start = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    count = np.diff(np.r_[start, len(k)])
    return a, b, order, start, count


def compact(mesh: Mesh) -> Mesh:
    """Drop vertices no face uses (faces renumbered, order kept)."""
    f = np.asarray(mesh.faces, dtype=np.int64)
    used = np.zeros(len(mesh.vertices), dtype=bool)
    used[f.ravel()] = True
    remap = -np.ones(len(mesh.vertices), dtype=np.int64)
    remap[used] = np.arange(int(used.sum()))
    return Mesh(np.asarray(mesh.vertices)[used], remap[f])


def _edge_keys(f: np.ndarray, n: int) -> np.ndarray:
    """``(3F,)`` undirected edge keys ``min * n + max`` of the faces' edges, face-major."""
    a = f.ravel()
    b = f[:, [1, 2, 0]].ravel()
    return np.minimum(a, b) * n + np.maximum(a, b)


def drop_nonmanifold_faces(mesh: Mesh) -> Mesh:
    """Remove every face on an edge that more than two faces share (fins, flaps).

    What is left around such an edge is a hole, for :func:`fill_holes` to close.
    """
    f = np.asarray(mesh.faces, dtype=np.int64)
    if len(f) == 0:
        return mesh
    keys = _edge_keys(f, len(mesh.vertices))
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    bad = (counts[inverse.ravel()] > 2).reshape(-1, 3).any(axis=1)
    if not bad.any():
        return mesh
    return weld(Mesh(mesh.vertices, f[~bad]))


def split_nonmanifold_vertices(mesh: Mesh, nudge: float = 0.0) -> Mesh:
    """Give each fan of faces around a vertex its own copy of the vertex.

    A vertex is manifold when the faces around it form one fan, connected through
    edges they share. Where several fans meet at one point (two cones tip to tip, or
    what removing a fin leaves), each fan gets a copy, so every hole boundary becomes
    a simple loop. Edges with more than two faces connect nothing here (remove them
    first with :func:`drop_nonmanifold_faces`).

    Args:
        nudge: move each copy this fraction of the way towards the mean centroid of
            its fan's faces, so that tools which merge coincident vertices on loading
            (trimesh does) do not join the fans again. ``0``: copies stay in place.
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    f = np.asarray(mesh.faces, dtype=np.int64)
    if len(f) == 0:
        return mesh
    n = len(mesh.vertices)
    corner = np.arange(f.size, dtype=np.int64).reshape(-1, 3)
    a, _, order, start, count = edge_groups(f, n)
    ca, cb = corner.ravel(), corner[:, [1, 2, 0]].ravel()
    pair = start[count == 2]
    h1, h2 = order[pair], order[pair + 1]
    # h1 and h2 traverse the edge; match the corners at the same vertex.
    same = a[h1] == a[h2]
    c1 = np.concatenate([ca[h1], cb[h1]])
    c2 = np.concatenate([np.where(same, ca[h2], cb[h2]), np.where(same, cb[h2], ca[h2])])
    g = sp.coo_matrix((np.ones(len(c1), dtype=np.int8), (c1, c2)), shape=(f.size, f.size))
    _, label = connected_components(g, directed=False)
    # One new vertex per (vertex, fan); keep the original index for the first fan.
    fan_vertex = np.zeros(label.max() + 1, dtype=np.int64)
    fan_vertex[label] = f.ravel()
    if len(fan_vertex) == len(np.unique(f)):
        return mesh
    v = np.asarray(mesh.vertices, dtype=np.float64)[fan_vertex]
    faces = label.reshape(-1, 3)
    if nudge > 0:
        split = np.bincount(fan_vertex, minlength=n)[fan_vertex] > 1
        centroid = v[faces].mean(axis=1)
        acc = np.zeros_like(v)
        np.add.at(acc, faces.ravel(), np.repeat(centroid, 3, axis=0))
        deg = np.bincount(faces.ravel(), minlength=len(v))[:, None]
        target = acc / np.maximum(deg, 1)
        v = np.where(split[:, None], v + nudge * (target - v), v)
    return Mesh(v, faces)


def boundary_loops(mesh: Mesh) -> list[np.ndarray]:
    """The holes of a mesh: each a ``(K, 2)`` int64 array of its boundary half-edges
    ``(a, b)`` as the faces traverse them (an edge with one face)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    f = np.asarray(mesh.faces, dtype=np.int64)
    n = len(mesh.vertices)
    a = f.ravel()
    b = f[:, [1, 2, 0]].ravel()
    keys = np.minimum(a, b) * n + np.maximum(a, b)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    single = counts[inverse.ravel()] == 1
    if not single.any():
        return []
    ea, eb = a[single], b[single]
    g = sp.coo_matrix((np.ones(len(ea), dtype=np.int8), (ea, eb)), shape=(n, n))
    _, label = connected_components(g, directed=False)
    loop = label[ea]
    order = np.argsort(loop, kind="stable")
    splits = np.flatnonzero(np.diff(loop[order])) + 1
    return [np.stack([ea[i], eb[i]], axis=1) for i in np.split(order, splits)]


def fill_holes(mesh: Mesh, max_edges: int | None = None) -> Mesh:
    """Close holes with a fan of triangles around a new vertex at the hole's centroid.

    The new faces traverse each boundary edge against its existing face, so the
    winding stays consistent. A hole whose boundary passes a vertex twice (a pinch)
    is left open, as is any hole of more than ``max_edges`` edges (None: no limit).
    """
    loops = boundary_loops(mesh)
    if not loops:
        return mesh
    v = np.asarray(mesh.vertices, dtype=np.float64)
    new_v, new_f = [], []
    nv = len(v)
    for edges in loops:
        if max_edges is not None and len(edges) > max_edges:
            continue
        if len(np.unique(edges[:, 0])) != len(edges):
            continue  # a vertex with two outgoing boundary edges: not a simple loop
        c = nv + len(new_v)
        new_v.append(v[edges[:, 0]].mean(axis=0))
        new_f.append(np.stack([edges[:, 1], edges[:, 0], np.full(len(edges), c)], axis=1))
    if not new_v:
        return mesh
    return Mesh(np.concatenate([v, np.asarray(new_v)]),
                np.concatenate([np.asarray(mesh.faces, dtype=np.int64), *new_f]))


def close_fins(mesh: Mesh) -> Mesh:
    """Repair what decimation does to thin parts: drop duplicated faces and faces on
    edges shared by more than two faces, then close the small holes left behind."""
    out = drop_nonmanifold_faces(drop_duplicate_faces(mesh))
    out = split_nonmanifold_vertices(out, nudge=0.05)
    return fill_holes(out, max_edges=64)


def try_decimate(mesh: Mesh, target_faces: int) -> Mesh | None:
    """Quadric decimation to about ``target_faces`` triangles that keeps a closed mesh
    closed, or None when every attempt opened the surface.

    fast-simplification can pinch a part that is thin at the target's triangle size
    into a non-manifold fin. The result is checked; fins are removed, and if the
    surface is still open the decimation is retried less aggressively, then to a
    larger target.
    """
    import fast_simplification

    n = len(mesh.faces)
    if n <= target_faces:
        return mesh
    was_closed = is_watertight(mesh)
    verts = mesh.vertices.astype(np.float32)
    tris = mesh.faces.astype(np.int32)
    tries = [(target_faces, 7), (target_faces, 5), (target_faces, 3),
             (int(target_faces * 1.25), 3)]
    for target, agg in tries:
        if target >= n:
            break
        v, f = fast_simplification.simplify(verts, tris, target_count=target, agg=agg)
        out = weld(Mesh(v.astype(np.float64), f.astype(np.int64)))
        if not was_closed or is_watertight(out):
            return out
        out = drop_duplicate_faces(out)
        if is_watertight(out):
            return out
        out = close_fins(out)
        if is_watertight(out):
            return out
        log.debug("decimation to %d faces (agg %d) opened the surface; retrying", target, agg)
    return None


def decimate(mesh: Mesh, target_faces: int) -> Mesh:
    """Quadric decimation to about ``target_faces`` triangles, keeping the mesh closed
    (see :func:`try_decimate`). If every try breaks the surface, the undecimated mesh
    is returned (closed beats small)."""
    out = try_decimate(mesh, target_faces)
    if out is None:
        log.warning("decimation kept %d faces: every attempt opened the surface",
                    len(mesh.faces))
        return mesh
    return out
