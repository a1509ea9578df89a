"""Per-face and per-vertex geometry of triangle meshes, shared by every stage."""

from __future__ import annotations

import numpy as np

from ..types import Mesh


def face_areas(mesh: Mesh) -> np.ndarray:
    """``(F,)`` float64 triangle areas."""
    t = np.asarray(mesh.vertices)[np.asarray(mesh.faces)]
    return 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1)


def volume(mesh: Mesh) -> float:
    """Signed volume (positive for a closed mesh with outward normals)."""
    t = np.asarray(mesh.vertices)[np.asarray(mesh.faces)]
    return float(np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6.0)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray,
                   welded_index: np.ndarray | None = None) -> np.ndarray:
    """``(V, 3)`` float32 area-weighted unit vertex normals.

    Args:
        vertices: ``(V, 3)`` positions.
        faces: ``(F, 3)`` indices, counter-clockwise from outside.
        welded_index: optional ``(V,)`` index of each vertex's welded original. Seam
            copies of one welded vertex then share its normal, so shading and
            front/back tests stay continuous across UV seams.

    Returns:
        unit normals; a vertex with no area around it gets ``(0, 0, 0)``.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])  # length = 2 * area
    if welded_index is None:
        group, n_groups = f, len(v)
    else:
        w = np.asarray(welded_index, dtype=np.int64)
        group, n_groups = w[f], (int(w.max()) + 1 if len(w) else 0)
    acc = np.zeros((n_groups, 3))
    for k in range(3):
        np.add.at(acc, group[:, k], fn)
    norm = np.linalg.norm(acc, axis=1, keepdims=True)
    acc = np.where(norm > 1e-30, acc / np.maximum(norm, 1e-30), 0.0)
    if welded_index is not None:
        acc = acc[np.asarray(welded_index, dtype=np.int64)]
    return acc.astype(np.float32)
