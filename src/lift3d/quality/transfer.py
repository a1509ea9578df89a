"""Closest points on a mesh, and the colour a mesh shows there.

Repair and optimisation change a mesh's surface (a volumetric remesh, a decimation);
its colours then move to the new surface through these: for every new point, the
closest point of the old surface and the colour (texture or vertex colour) there.
Closest points come from gpytoolbox's AABB tree (extra ``[quality]``).
"""

from __future__ import annotations

import numpy as np

from ..errors import require
from ..types import MeshAsset

__all__ = ["ClosestPoints", "closest_points", "sample_colors"]


class ClosestPoints:
    """For ``N`` query points, the closest point of a triangle mesh.

    Attributes:
        face: ``(N,)`` int64 index of the closest triangle.
        bary: ``(N, 3)`` float64 barycentric coordinates of the closest point in it.
        point: ``(N, 3)`` float64 the closest point.
        distance: ``(N,)`` float64 distance from the query point.
    """

    __slots__ = ("bary", "distance", "face", "point")

    def __init__(self, face: np.ndarray, bary: np.ndarray, point: np.ndarray,
                 distance: np.ndarray) -> None:
        self.face, self.bary, self.point, self.distance = face, bary, point, distance


def closest_points(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray
                   ) -> ClosestPoints:
    """Closest points of the mesh ``(vertices, faces)`` to ``points`` ``(N, 3)``."""
    gpy = require("gpytoolbox", "quality", "finding closest points on a mesh")
    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int32)
    p = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
    if len(f) == 0:
        raise ValueError("faces: the mesh has no triangles")
    sq, face, bary = gpy.squared_distance(p, v, F=f, use_cpp=True, use_aabb=True)
    face = np.asarray(face, dtype=np.int64).ravel()
    bary = np.asarray(bary, dtype=np.float64).reshape(-1, 3)
    point = np.einsum("nk,nkd->nd", bary, v[f[face]])
    return ClosestPoints(face, bary, point, np.sqrt(np.maximum(np.ravel(sq), 0.0)))


def _sample_texture(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear samples ``(N, C)`` float64 of ``texture`` at ``uv`` (wrapping, v up)."""
    h, w = texture.shape[:2]
    t = np.asarray(texture, dtype=np.float64)
    x = (np.mod(uv[:, 0], 1.0) * w) - 0.5
    y = ((1.0 - np.mod(uv[:, 1], 1.0)) * h) - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    x0 = x0.astype(np.int64)
    y0 = y0.astype(np.int64)
    x1, y1 = np.mod(x0 + 1, w), np.mod(y0 + 1, h)
    x0, y0 = np.mod(x0, w), np.mod(y0, h)
    top = t[y0, x0] * (1 - fx) + t[y0, x1] * fx
    bottom = t[y1, x0] * (1 - fx) + t[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def sample_colors(asset: MeshAsset, points: np.ndarray,
                  closest: ClosestPoints | None = None) -> np.ndarray:
    """The colour ``asset`` shows at the surface point closest to each of ``points``.

    The texture (at the interpolated UV) when the asset has one, else the interpolated
    vertex colours, else the material's base colour. The texture is multiplied by the
    base-colour factor, as glTF does.

    Args:
        asset: the source mesh.
        points: ``(N, 3)`` query points, in the asset's frame.
        closest: precomputed :func:`closest_points` of ``points`` (optional).

    Returns:
        ``(N, 4)`` uint8 RGBA.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    factor = np.asarray(asset.material.base_color_factor, dtype=np.float64)
    if asset.texture is None and asset.vertex_colors is None:
        rgba = np.clip(np.round(factor * 255.0), 0, 255).astype(np.uint8)
        return np.tile(rgba, (len(pts), 1))
    cp = closest or closest_points(asset.vertices, asset.faces, pts)
    corners = np.asarray(asset.faces, dtype=np.int64)[cp.face]
    if asset.texture is not None and asset.uv is not None:
        uv = np.einsum("nk,nkd->nd", cp.bary, np.asarray(asset.uv, np.float64)[corners])
        tex = _sample_texture(asset.texture, uv)
        if tex.shape[1] == 3:
            tex = np.concatenate([tex, np.full((len(tex), 1), 255.0)], axis=1)
        rgba = tex * factor
    else:
        vc = np.asarray(asset.vertex_colors, dtype=np.float64)[corners]
        rgba = np.einsum("nk,nkd->nd", cp.bary, vc)
    return np.clip(np.round(rgba), 0, 255).astype(np.uint8)
