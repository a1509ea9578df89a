"""Dense depth on a CPU: plane-sweep stereo, then geometric consistency filtering.

For each reference view, its best-overlapping neighbours (:func:`select_sources`)
are warped onto fronto-parallel planes swept through the depth range the sparse points
give (uniform in inverse depth). A warp is one homography, ``H = K_s (R + t n^T / d)
K_r^-1``, so OpenCV does it in one pass; the photo-consistency of each warped
neighbour with the reference is zero-mean normalised cross-correlation (NCC) over a
square window, computed with box filters. Per plane, the costs of the neighbours are
aggregated by averaging the best half, so a neighbour that sees an occluder at that
pixel does not veto the right depth. The depth is the best plane, refined to a
fraction of a plane by a parabola through its neighbours.

:func:`filter_consistent` keeps a depth only when other views' depth maps agree with it
(forward-backward reprojection within a pixel and a relative depth tolerance), and
averages the agreeing depths: the usual geometric check of MVS pipelines, which removes
most of the wrong matches in weak texture, sky and occlusions.

Everything is numpy and OpenCV, vectorised per plane; peak memory is one
``(planes, H, W)`` float32 cost volume.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .types import View

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DenseOptions:
    """Options of the plane-sweep stereo.

    Attributes:
        max_side: depth maps are computed on images resized to this long side, pixels.
        sources: neighbouring views matched against each reference view.
        planes: depth hypotheses (uniform in inverse depth).
        window: side of the NCC window, pixels (odd).
        min_ncc: aggregated NCC below which a depth is discarded.
        min_texture: standard deviation of the reference window (intensity in [0, 1])
            below which a pixel is too flat to match.
        consistent_views: other depth maps that must agree for a depth to survive
            filtering (fewer when a view has fewer neighbours).
        reprojection_px: forward-backward reprojection tolerance, pixels.
        relative_depth: depth agreement tolerance, fraction of the depth (at least half
            the sweep's plane spacing at that depth).
    """

    max_side: int = 960
    sources: int = 4
    planes: int = 128
    window: int = 7
    min_ncc: float = 0.4
    min_texture: float = 0.01
    consistent_views: int = 2
    reprojection_px: float = 1.0
    relative_depth: float = 0.01


@dataclass(frozen=True)
class DepthMap:
    """One view's depth.

    Attributes:
        view: the view (intrinsics at this map's resolution).
        depth: ``(H, W)`` float32 z-depth in world units along +z; 0 where unknown.
        score: ``(H, W)`` float32 aggregated NCC in ``[-1, 1]`` (after filtering: the
            number of agreeing views), 0 where unknown.
        inv_step: spacing of the sweep's planes in inverse depth (1 / world units); the
            depth resolution at depth ``d`` is about ``inv_step * d**2``. 0 if unknown.
    """

    view: View
    depth: np.ndarray
    score: np.ndarray
    inv_step: float = 0.0

    @property
    def valid_fraction(self) -> float:
        return float((self.depth > 0).mean())


def to_gray(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` sRGB uint8 or float in [0, 1] -> ``(H, W)`` float32 luma in [0, 1]."""
    import cv2

    img = np.asarray(image)
    if img.dtype == np.uint8:
        img = img.astype(np.float32) / 255.0
    img = img.astype(np.float32)
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img


def select_sources(model_visible: Sequence[np.ndarray], points: np.ndarray,
                   views: Sequence[View], ref: int, count: int,
                   min_angle_deg: float = 3.0, max_angle_deg: float = 45.0) -> list[int]:
    """Neighbours of view ``ref`` for stereo: the views sharing the most sparse points
    seen at a useful triangulation angle (too small: no depth resolution; too large:
    the patches look different).

    Args:
        model_visible: per view, indices of the sparse points it sees.
        points: ``(N, 3)`` sparse points.
        views: all views.
        ref: index of the reference view.
        count: neighbours wanted.

    Returns:
        Up to ``count`` view indices, best first.
    """
    mine = model_visible[ref]
    scores = []
    for j, other in enumerate(model_visible):
        if j == ref:
            continue
        common = np.intersect1d(mine, other, assume_unique=True)
        if len(common) < 10:
            continue
        p = points[common]
        a = p - views[ref].center
        b = p - views[j].center
        cos = np.einsum("nd,nd->n", a, b) / (
            np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
        ang = np.degrees(np.arccos(np.clip(cos, -1, 1)))
        # Weight each shared point by how good its angle is for stereo.
        w = np.clip((ang - 1.0) / (min_angle_deg - 1.0), 0, 1) * np.clip(
            (2 * max_angle_deg - ang) / max_angle_deg, 0, 1)
        scores.append((float(w.sum()), j))
    scores.sort(reverse=True)
    return [j for s, j in scores[:count] if s > 0]


def depth_range(view: View, points: np.ndarray, visible: np.ndarray,
                margin: float = 0.15) -> tuple[float, float]:
    """The z-range of the sparse points a view sees (2nd-98th percentile), widened."""
    z = view.to_cam(points[visible])[:, 2]
    z = z[z > 0]
    if len(z) < 5:
        raise ValueError(f"view {view.name}: too few sparse points in front of it")
    lo, hi = np.percentile(z, [2, 98])
    return float(lo * (1 - margin)), float(hi * (1 + margin))


def _box(img: np.ndarray, k: int) -> np.ndarray:
    import cv2

    return cv2.boxFilter(img, -1, (k, k), normalize=True, borderType=cv2.BORDER_REFLECT)


def plane_sweep(ref_view: View, ref_gray: np.ndarray, src_views: Sequence[View],
                src_grays: Sequence[np.ndarray], z_range: tuple[float, float],
                options: DenseOptions = DenseOptions()) -> DepthMap:
    """Depth of one reference view by plane-sweep stereo against its neighbours.

    Args:
        ref_view, src_views: views whose intrinsics match the gray images' sizes.
        ref_gray, src_grays: ``(H, W)`` float32 luma in [0, 1].
        z_range: ``(near, far)`` z-depth range to sweep, world units.
        options: see :class:`DenseOptions`.

    Returns:
        A :class:`DepthMap` (unfiltered) of the reference view.
    """
    import cv2

    h, w = ref_gray.shape
    k = int(options.window) | 1
    near, far = z_range
    inv = np.linspace(1.0 / near, 1.0 / far, options.planes)
    depths = 1.0 / inv
    mr = _box(ref_gray, k)
    var_r = np.maximum(_box(ref_gray * ref_gray, k) - mr * mr, 0)
    sd_r = np.sqrt(var_r)
    n_src = len(src_views)
    best_k = max(1, (n_src + 1) // 2)
    Kr_inv = np.linalg.inv(ref_view.K)
    rel = []
    for sv in src_views:
        R = sv.R @ ref_view.R.T
        t = sv.t - R @ ref_view.t
        rel.append((sv.K, R, t))
    cost = np.empty((options.planes, h, w), dtype=np.float32)
    per_src = np.empty((n_src, h, w), dtype=np.float32)
    n = np.array([0.0, 0.0, 1.0])
    for di, d in enumerate(depths):
        for si, ((Ks, R, t), g) in enumerate(zip(rel, src_grays, strict=True)):
            H = Ks @ (R + np.outer(t, n) / d) @ Kr_inv
            # dst(x) = src(H x): WARP_INVERSE_MAP takes H as the dst->src map. The
            # second channel is 1 inside the source image, 0 where the warp left it.
            pair = cv2.warpPerspective(g, H, (w, h),
                                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                       borderMode=cv2.BORDER_CONSTANT, borderValue=-1.0)
            inside = pair >= 0
            ws = np.where(inside, pair, mr)
            ms = _box(ws, k)
            var_s = np.maximum(_box(ws * ws, k) - ms * ms, 0)
            cov = _box(ws * ref_gray, k) - ms * mr
            ncc = cov / (np.sqrt(var_s) * sd_r + 1e-6)
            ncc[~inside] = -1.0
            per_src[si] = ncc
        if best_k == n_src:
            cost[di] = per_src.mean(axis=0)
        else:
            part = np.partition(per_src, n_src - best_k, axis=0)[n_src - best_k:]
            cost[di] = part.mean(axis=0)
    idx = np.argmax(cost, axis=0)
    rows, cols = np.indices((h, w))
    c0 = cost[idx, rows, cols]
    lo = np.clip(idx - 1, 0, options.planes - 1)
    hi = np.clip(idx + 1, 0, options.planes - 1)
    cm, cp = cost[lo, rows, cols], cost[hi, rows, cols]
    denom = cm - 2 * c0 + cp
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where((denom < -1e-6) & (idx > 0) & (idx < options.planes - 1),
                       0.5 * (cm - cp) / denom, 0.0)
    off = np.clip(off, -0.5, 0.5)
    step = inv[1] - inv[0] if options.planes > 1 else 0.0
    inv_best = inv[idx] + off * step
    depth = (1.0 / inv_best).astype(np.float32)
    ok = (c0 >= options.min_ncc) & (sd_r >= options.min_texture)
    # The extremes of the sweep are where wrong matches pile up.
    ok &= (idx > 0) & (idx < options.planes - 1)
    depth = np.where(ok, depth, 0).astype(np.float32)
    depth = _median_valid(depth)
    score = np.where(depth > 0, c0, 0).astype(np.float32)
    log.debug("%s: %.0f%% pixels with a depth", ref_view.name, 100 * (depth > 0).mean())
    return DepthMap(ref_view, depth, score, float(abs(step)))


def _median_valid(depth: np.ndarray) -> np.ndarray:
    """3x3 median over valid pixels only; isolated valid pixels are dropped."""
    import cv2

    valid = (depth > 0).astype(np.float32)
    count = cv2.boxFilter(valid, -1, (3, 3), normalize=False)
    med = cv2.medianBlur(depth, 3)
    # Where the window mixes valid and invalid pixels the median is biased to 0; keep
    # the original there.
    out = np.where((count >= 9) & (med > 0), med, depth)
    out[count < 4] = 0
    return out.astype(np.float32)


def filter_consistent(maps: Sequence[DepthMap], neighbours: Sequence[Sequence[int]],
                      options: DenseOptions = DenseOptions(),
                      progress: Callable[[float], None] | None = None) -> list[DepthMap]:
    """Keep each depth that enough neighbouring depth maps confirm; average them.

    A depth ``d`` at pixel ``p`` of view ``r`` is confirmed by view ``s`` when the point
    it defines lands in ``s`` on a pixel whose depth, sent back to ``r``, lands within
    ``options.reprojection_px`` of ``p`` with a z within ``options.relative_depth`` of
    ``d``. Depths confirmed by ``min(options.consistent_views, neighbours)`` views
    survive, replaced by the mean of the confirming depths and their own.

    Returns:
        Filtered maps; ``score`` holds the number of confirming views.
    """
    out = []
    for i, m in enumerate(maps):
        if progress:
            progress(i / max(len(maps), 1))
        r = m.view
        h, w = m.depth.shape
        v, u = np.nonzero(m.depth > 0)
        d = m.depth[v, u].astype(np.float64)
        X = r.unproject(u, v, d)
        count = np.zeros(len(d), dtype=np.int32)
        dsum = d.copy()
        # A coarse sweep cannot agree better than about half its plane spacing.
        step = max(m.inv_step, max((maps[j].inv_step for j in neighbours[i]), default=0.0))
        tol = np.maximum(options.relative_depth, 0.5 * step * d)
        nbrs = [j for j in neighbours[i] if j != i]
        for j in nbrs:
            s = maps[j]
            uv, z = s.view.project(X)
            us = np.round(uv[:, 0])
            vs = np.round(uv[:, 1])
            hs, ws = s.depth.shape
            inb = (z > 0) & (us >= 0) & (us < ws) & (vs >= 0) & (vs < hs)
            ds = np.zeros(len(d))
            ds[inb] = s.depth[vs[inb].astype(np.int64), us[inb].astype(np.int64)]
            has = ds > 0
            Xs = s.view.unproject(us, vs, ds)
            uv_back, z_back = r.project(Xs)
            err = np.hypot(uv_back[:, 0] - u, uv_back[:, 1] - v)
            rel = np.abs(z_back - d) / d
            good = has & (err < options.reprojection_px) & (rel < tol)
            count += good
            dsum += np.where(good, z_back, 0)
        need = min(options.consistent_views, len(nbrs))
        keep = (count >= need) & (count > 0)
        depth = np.zeros((h, w), dtype=np.float32)
        depth[v[keep], u[keep]] = (dsum[keep] / (count[keep] + 1)).astype(np.float32)
        score = np.zeros((h, w), dtype=np.float32)
        score[v[keep], u[keep]] = count[keep]
        out.append(DepthMap(r, depth, score, m.inv_step))
    return out
