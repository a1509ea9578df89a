"""Rasterise a uv layout in texture space: which face covers each texel, and where.

Texture-space conventions (see :mod:`lift3d.conventions`): uv has its origin at the
bottom-left, the texture image has row 0 at the top and texel centres at integer
coordinates, so a uv point lands at column ``u * size - 0.5`` and row
``(1 - v) * size - 0.5``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rasterize_uv", "uv_to_pixel"]

_SHIFT = 8  # cv2 sub-pixel bits


def uv_to_pixel(uv: np.ndarray, size: int) -> np.ndarray:
    """``(N, 2)`` uv to ``(N, 2)`` float64 texel coordinates ``(column, row)``."""
    uv = np.asarray(uv, dtype=np.float64)
    return np.stack([uv[:, 0] * size - 0.5, (1.0 - uv[:, 1]) * size - 0.5], axis=1)


def _barycentric(tri: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Barycentrics of points ``(px, py)`` in triangles ``tri`` ``(N, 3, 2)``: ``(N, 3)``.

    Degenerate triangles give ``(1, 0, 0)``.
    """
    a = tri[:, 0]
    e1 = tri[:, 1] - a
    e2 = tri[:, 2] - a
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    ok = np.abs(det) > 1e-12
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    dx = px - a[:, 0]
    dy = py - a[:, 1]
    l1 = (dx * e2[:, 1] - dy * e2[:, 0]) * inv
    l2 = (e1[:, 0] * dy - e1[:, 1] * dx) * inv
    l0 = 1.0 - l1 - l2
    out = np.stack([l0, l1, l2], axis=1)
    out[~ok] = (1.0, 0.0, 0.0)
    return out


def _clamp_bary(b: np.ndarray) -> np.ndarray:
    b = np.clip(b, 0.0, None)
    s = b.sum(axis=1, keepdims=True)
    return np.where(s > 0, b / np.where(s > 0, s, 1.0), np.array([1.0, 0.0, 0.0]))


def rasterize_uv(uv: np.ndarray, faces: np.ndarray, size: int,
                 dilate: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Which face covers each texel centre of a ``size x size`` texture.

    Faces are filled conservatively (texels their edges touch count too); a texel
    whose centre lies outside the face that claimed it is handed to the neighbouring
    texels' face that contains it best. Then texels up to ``dilate`` texels from a
    covered one take the nearest covered texel's face, so chart borders have no
    uncovered rim when the texture is sampled bilinearly.

    Args:
        uv: ``(V, 2)`` uv, origin bottom-left.
        faces: ``(F, 3)`` vertex indices.
        size: texture side in texels.
        dilate: rim width in texels given to the nearest face (0: none).

    Returns:
        ``face_id``: ``(size, size)`` int32, -1 where no face is; ``bary``:
        ``(size, size, 3)`` float32 barycentrics of the texel centre in its face,
        clamped into the face (all >= 0, sum 1); zero where ``face_id`` is -1.
    """
    import cv2

    size = int(size)
    faces = np.asarray(faces, dtype=np.int64)
    pix = uv_to_pixel(uv, size)
    tri = pix[faces]  # (F, 3, 2)
    e1 = tri[:, 1] - tri[:, 0]
    e2 = tri[:, 2] - tri[:, 0]
    area2 = np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])

    ids = np.zeros((size, size), dtype=np.int32)
    # Skip degenerate faces: they would paint lines over their neighbours' texels.
    order = np.flatnonzero(area2 > 1e-9)
    # Small faces last, so a big neighbour's conservative rim cannot erase them.
    order = order[np.argsort(-area2[order], kind="stable")]
    pts = np.round(tri * (1 << _SHIFT)).astype(np.int32)
    fill = cv2.fillConvexPoly
    for f in order.tolist():
        fill(ids, pts[f], f + 1, cv2.LINE_8, _SHIFT)
    face_id = ids - 1

    bary = np.zeros((size, size, 3), dtype=np.float32)
    rows, cols = np.nonzero(face_id >= 0)
    if len(rows):
        fid = face_id[rows, cols].astype(np.int64)
        b = _barycentric(tri[fid], cols.astype(np.float64), rows.astype(np.float64))
        # Conservative fill claims texels whose centre is just outside the face: hand
        # them to a neighbour texel's face that contains the centre, if any.
        bad = np.flatnonzero(b.min(axis=1) < -1e-6)
        if len(bad):
            br, bc = rows[bad], cols[bad]
            best_f = fid[bad].copy()
            best_b = b[bad]
            best_m = best_b.min(axis=1)
            padded = np.pad(face_id, 1, constant_values=-1)
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    if dr == 0 and dc == 0:
                        continue
                    cand = padded[br + 1 + dr, bc + 1 + dc].astype(np.int64)
                    has = cand >= 0
                    if not has.any():
                        continue
                    cb = _barycentric(tri[np.where(has, cand, 0)], bc.astype(np.float64),
                                      br.astype(np.float64))
                    cm = np.where(has, cb.min(axis=1), -np.inf)
                    better = cm > best_m
                    best_f[better] = cand[better]
                    best_b[better] = cb[better]
                    best_m[better] = cm[better]
            fid[bad] = best_f
            b[bad] = best_b
            face_id[br, bc] = best_f.astype(np.int32)
        bary[rows, cols] = _clamp_bary(b).astype(np.float32)

    if dilate > 0 and len(rows):
        from scipy.ndimage import distance_transform_edt

        empty = face_id < 0
        dist, (ir, ic) = distance_transform_edt(empty, return_indices=True)
        ring = empty & (dist <= dilate * np.sqrt(2.0) + 1e-6)
        rr, rc = np.nonzero(ring)
        if len(rr):
            fid = face_id[ir[rr, rc], ic[rr, rc]].astype(np.int64)
            b = _barycentric(tri[fid], rc.astype(np.float64), rr.astype(np.float64))
            face_id[rr, rc] = fid.astype(np.int32)
            bary[rr, rc] = _clamp_bary(b).astype(np.float32)
    return face_id, bary
