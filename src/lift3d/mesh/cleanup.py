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
    faces = np.asarray(mesh.faces)[keep_part[label]]
    used = np.zeros(len(mesh.vertices), dtype=bool)
    used[faces.ravel()] = True
    remap = -np.ones(len(mesh.vertices), dtype=np.int64)
    remap[used] = np.arange(int(used.sum()))
    return Mesh(np.asarray(mesh.vertices)[used], remap[faces])


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


def decimate(mesh: Mesh, target_faces: int) -> Mesh:
    """Quadric decimation to about ``target_faces`` triangles, keeping the mesh closed.

    fast-simplification can, rarely, pinch a thin part into a non-manifold fin. The
    result is checked; fins are removed, and if the surface is still open the
    decimation is retried less aggressively, then to a larger target. If every try
    breaks the surface, the undecimated mesh is returned (closed beats small).
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
        log.info("decimation to %d faces (agg %d) opened the surface; retrying", target, agg)
    log.warning("decimation kept %d faces: every attempt opened the surface", n)
    return mesh
