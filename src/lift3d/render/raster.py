"""A z-buffered triangle rasteriser in vectorised numpy.

No Python loop runs per triangle; loops run only over chunks, which bound memory.

1. Every kept triangle (front-facing unless told otherwise, in front of the camera,
   overlapping the image) is expanded into the rows of its bounding box with
   ``np.repeat`` arithmetic.
2. On each row the inside test at the pixel centres -- the three edge functions (the
   unnormalised barycentrics) non-negative -- is solved for ``x`` in closed form, giving
   the exact run of covered pixel centres ``[xl, xr]``. This is the bounding-box
   barycentric test done per row instead of per pixel, so no pixel outside the triangle
   is ever generated.
3. The runs are expanded into pixels (``np.repeat`` again); the depth key (``1/z``,
   linear in screen space) is interpolated along the run, packed above the face index
   into one int64 (positive float32 values order like their bit patterns), and a single
   ``np.maximum.at`` into the z-buffer keeps the nearest face per pixel.
4. Barycentrics are computed once per covered pixel for the winning face, then
   perspective-corrected.

Pixel centres sit at integer coordinates (OpenCV convention), row 0 at the top.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

#: Pixels (and, separately, triangle rows) processed per chunk: bounds peak memory.
CHUNK_PIXELS: int = 1 << 20
#: Tolerance of the inside test, in pixels: a pixel centre this close outside an edge
#: still counts as inside, so neighbouring triangles never leave cracks between them.
_INSIDE_TOL: float = 1e-6


@dataclass(frozen=True)
class Fragments:
    """The visible surface: one fragment per covered pixel.

    Attributes:
        face_id: ``(H, W)`` int32 index of the visible face, ``-1`` where empty.
        pixels: ``(N,)`` int64 flat indices (``row * W + col``) of the covered pixels,
            ascending.
        faces: ``(N,)`` int32 face index at each covered pixel.
        bary: ``(N, 3)`` float32 barycentric weights of the face's three vertices at the
            pixel centre, perspective-correct when the rasteriser was told the depths
            are perspective; they sum to 1.
    """

    face_id: np.ndarray
    pixels: np.ndarray
    faces: np.ndarray
    bary: np.ndarray


def _edge_coefficients(
    ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray, inv_area: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients ``(A, B, C)`` of ``edge(a, b, p) / area = A*px + B*py + C``, where
    ``edge(a, b, p) = (bx-ax)*(py-ay) - (by-ay)*(px-ax)``."""
    dx = bx - ax
    dy = by - ay
    return -dy * inv_area, dx * inv_area, (dy * ax - dx * ay) * inv_area


def rasterize(
    xy: np.ndarray,
    depth: np.ndarray,
    faces: np.ndarray,
    width: int,
    height: int,
    *,
    cull_backfaces: bool = True,
    perspective: bool = True,
    chunk_pixels: int = CHUNK_PIXELS,
) -> Fragments:
    """Rasterise triangles with a z-buffer.

    Args:
        xy: ``(V, 2)`` float pixel coordinates ``(u, v)`` of the projected vertices.
        depth: ``(V,)`` float distance of each vertex along the view axis; must be
            positive for perspective (triangles touching ``depth <= 1e-6`` are dropped).
        faces: ``(F, 3)`` int vertex indices. Front faces are counter-clockwise in a
            y-up view, hence clockwise in pixel coordinates (v down).
        width, height: image size in pixels.
        cull_backfaces: drop faces seen from behind.
        perspective: ``True`` when ``xy`` came from a perspective projection: depth is
            then interpolated as ``1/z`` and barycentrics are perspective-corrected.
        chunk_pixels: covered pixels (and, in the outer loop, triangle rows) handled
            per chunk: bounds peak memory to a few tens of bytes per unit.

    Returns:
        The :class:`Fragments` of the nearest surface at each pixel. Where two faces
        have the same float32 depth key at a pixel, the larger face index wins.

    Raises:
        ValueError: with ``2**31`` faces or more (face indices are packed in 32 bits).
    """
    xy = np.asarray(xy, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    n_pix = width * height
    face_id = np.full(n_pix, -1, dtype=np.int32)
    if faces.shape[0] == 0 or xy.shape[0] == 0:
        return _empty(face_id, width, height)
    if faces.shape[0] >= 2**31:
        raise ValueError(f"too many faces to rasterise: {faces.shape[0]}")

    # Per-vertex key, linear in screen space and positive, larger = nearer.
    if perspective:
        key_v = 1.0 / np.maximum(depth, 1e-12)
    else:
        key_v = (depth.max() + 1.0) - depth

    p0, p1, p2 = xy[faces[:, 0]], xy[faces[:, 1]], xy[faces[:, 2]]
    area = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p1[:, 1] - p0[:, 1]) * (
        p2[:, 0] - p0[:, 0]
    )
    keep = (area < -1e-12) if cull_backfaces else (np.abs(area) > 1e-12)
    if perspective:
        keep &= depth[faces].min(axis=1) > 1e-6
    lo = np.minimum(np.minimum(p0, p1), p2)
    hi = np.maximum(np.maximum(p0, p1), p2)
    x0 = np.maximum(np.ceil(lo[:, 0] - _INSIDE_TOL), 0)
    y0 = np.maximum(np.ceil(lo[:, 1] - _INSIDE_TOL), 0)
    x1 = np.minimum(np.floor(hi[:, 0] + _INSIDE_TOL), width - 1)
    y1 = np.minimum(np.floor(hi[:, 1] + _INSIDE_TOL), height - 1)
    keep &= (x1 >= x0) & (y1 >= y0) & np.isfinite(area)
    tri = np.flatnonzero(keep)
    if tri.size == 0:
        return _empty(face_id, width, height)

    # Plane coefficients (per kept triangle) of the screen barycentrics w0, w1 and of
    # the key: value(x, y) = A * x + B * y + C.
    inv_area = 1.0 / area[tri]
    ax, ay = p0[tri, 0], p0[tri, 1]
    bx, by = p1[tri, 0], p1[tri, 1]
    cx, cy = p2[tri, 0], p2[tri, 1]
    a0, b0, c0 = _edge_coefficients(bx, by, cx, cy, inv_area)  # w0 = edge(p1, p2, p)
    a1, b1, c1 = _edge_coefficients(cx, cy, ax, ay, inv_area)  # w1 = edge(p2, p0, p)
    k = key_v[faces[tri]]
    d0, d1, k2 = k[:, 0] - k[:, 2], k[:, 1] - k[:, 2], k[:, 2]
    ak, bk, ck = a0 * d0 + a1 * d1, b0 * d0 + b1 * d1, c0 * d0 + c1 * d1 + k2

    # Edge half-planes solved for x. With s = sign(area), a pixel centre (x, y) is
    # inside edge (a -> b) iff s * edge(a, b, p) >= 0, i.e. dy * (x - ax) <= dx * (y - ay)
    # with (dx, dy) = s * (b - a): an upper bound on x when dy > 0, a lower bound when
    # dy < 0, and a test on y alone when dy == 0.
    sgn = np.sign(area[tri])[:, None]
    ex = np.stack([bx, cx, ax], axis=1)  # edge start points: p1->p2, p2->p0, p0->p1
    ey = np.stack([by, cy, ay], axis=1)
    ex_end = np.stack([cx, ax, bx], axis=1)
    ey_end = np.stack([cy, ay, by], axis=1)
    edx = sgn * (ex_end - ex)
    edy = sgn * (ey_end - ey)
    flat = edy == 0
    slope = np.where(flat, 0.0, edx / np.where(flat, 1.0, edy))
    is_upper = edy > 0
    is_lower = edy < 0

    ty0 = y0[tri].astype(np.int64)
    n_rows = y1[tri].astype(np.int64) - ty0 + 1
    xmin, xmax = x0[tri], x1[tri]
    zbuf = np.zeros(n_pix, dtype=np.int64)  # packed (key bits << 32 | face); 0 = empty
    n_frag = 0
    # Outer chunks: triangles, at most CHUNK_PIXELS rows at a time.
    for t_lo, t_hi in _chunks(n_rows, chunk_pixels):
        cnt_rows = n_rows[t_lo:t_hi]
        rt = np.repeat(np.arange(t_lo, t_hi), cnt_rows)  # row -> kept-triangle index
        ry = ty0[rt] + (
            np.arange(rt.size) - np.repeat(np.cumsum(cnt_rows) - cnt_rows, cnt_rows)
        )
        fy = ry.astype(np.float64)
        bound = ex[rt] + (fy[:, None] - ey[rt]) * slope[rt]  # (R, 3)
        lower = np.max(np.where(is_lower[rt], bound, -np.inf), axis=1)
        upper = np.min(np.where(is_upper[rt], bound, np.inf), axis=1)
        blocked = (flat[rt] & (np.sign(edx[rt]) * (fy[:, None] - ey[rt]) < -_INSIDE_TOL)).any(
            axis=1
        )
        xl = np.maximum(np.ceil(lower - _INSIDE_TOL), xmin[rt])
        xr = np.minimum(np.floor(upper + _INSIDE_TOL), xmax[rt])
        count = np.where(blocked, 0, np.maximum(xr - xl + 1, 0)).astype(np.int64)
        live = np.flatnonzero(count)
        if live.size == 0:
            continue
        rt, count, xl, fy = rt[live], count[live], xl[live], fy[live]
        row_key = (ak[rt] * xl + bk[rt] * fy + ck[rt]).astype(np.float32)
        row_slope = ak[rt].astype(np.float32)
        row_pix = ry[live] * width + xl.astype(np.int64)
        row_face = tri[rt]
        # Inner chunks: rows, at most CHUNK_PIXELS pixels at a time.
        for r_lo, r_hi in _chunks(count, chunk_pixels):
            cnt = count[r_lo:r_hi]
            off = np.arange(int(cnt.sum()), dtype=np.int64) - np.repeat(
                np.cumsum(cnt) - cnt, cnt
            )
            key = np.repeat(row_key[r_lo:r_hi], cnt) + np.repeat(
                row_slope[r_lo:r_hi], cnt
            ) * off.astype(np.float32)
            # Positive float32 keys order like their bit patterns: pack the key above
            # the face index, and one maximum per pixel picks the nearest face.
            np.maximum(key, np.float32(1e-30), out=key)
            packed = key.view(np.int32).astype(np.int64) << 32
            packed |= np.repeat(row_face[r_lo:r_hi], cnt)
            pix = np.repeat(row_pix[r_lo:r_hi], cnt) + off
            np.maximum.at(zbuf, pix, packed)
            n_frag += pix.size

    covered = zbuf > 0
    face_id[covered] = (zbuf[covered] & 0xFFFFFFFF).astype(np.int32)
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "rasterized %d/%d faces: %d fragments, %d pixels covered",
            tri.size, faces.shape[0], n_frag, int(np.count_nonzero(covered)),
        )

    # Barycentrics of the winners, recomputed once per pixel in float64.
    pixels = np.flatnonzero(face_id >= 0)
    fid = face_id[pixels]
    # Map face index -> row in the per-kept-triangle coefficient arrays.
    row_of = np.full(faces.shape[0], -1, dtype=np.int64)
    row_of[tri] = np.arange(tri.size)
    r = row_of[fid]
    px = (pixels % width).astype(np.float64)
    py = (pixels // width).astype(np.float64)
    w0 = a0[r] * px + b0[r] * py + c0[r]
    w1 = a1[r] * px + b1[r] * py + c1[r]
    bary = np.empty((pixels.size, 3), dtype=np.float64)
    bary[:, 0] = w0
    bary[:, 1] = w1
    bary[:, 2] = 1.0 - w0 - w1
    np.maximum(bary, 0.0, out=bary)
    if perspective:
        bary *= key_v[faces[fid]]
    total = bary[:, 0] + bary[:, 1] + bary[:, 2]
    bary /= np.maximum(total, 1e-30)[:, None]
    return Fragments(
        face_id=face_id.reshape(height, width),
        pixels=pixels,
        faces=fid,
        bary=bary.astype(np.float32),
    )


def _chunks(sizes: np.ndarray, budget: int):
    """Yield ``(lo, hi)`` index ranges whose ``sizes`` sum to at most ``budget`` (a
    single item larger than the budget gets a range of its own)."""
    cum = np.cumsum(sizes)
    lo = 0
    n = sizes.size
    while lo < n:
        base = cum[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(cum, base + budget, side="right")), lo + 1)
        yield lo, hi
        lo = hi


def _empty(face_id: np.ndarray, width: int, height: int) -> Fragments:
    return Fragments(
        face_id=face_id.reshape(height, width),
        pixels=np.zeros(0, dtype=np.int64),
        faces=np.zeros(0, dtype=np.int32),
        bary=np.zeros((0, 3), dtype=np.float32),
    )
