"""Soft object edges by guided-filter matting (He, Sun & Tang, "Guided Image
Filtering", ECCV 2010; the subsampled "fast guided filter", He & Sun 2015).

The guided filter models the output alpha as locally affine in the image colour,
``q = a . I + b`` over each ``(2r+1)^2`` window, fitted by ridge regression to the input
(a hard or blurred mask). Across an edge the colour changes and the mask changes
with it, so the fit transfers the *image's* edge profile (anti-aliasing, motion blur,
fur) to the alpha: a cheap closed-form stand-in for closed-form matting. Only the
narrow band around the coarse boundary is replaced; everywhere else the hard mask is
kept, so flat regions far from the edge cannot pick up texture.

Everything is numpy + ``cv2.boxFilter``, ``O(N)`` in the pixel count and independent of
the radius.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from ._masks import ellipse

logger = logging.getLogger(__name__)

#: Regularisation of the guided filter for images in ``[0, 1]``. Smaller follows the
#: image's edges more closely (and its noise); 1e-3 is He et al.'s "edge-aware"
#: setting, we go below it because the band limits where noise can leak in.
DEFAULT_EPS = 1e-4
#: The ridge term leaves a faint halo (a few percent) on flat backgrounds next to the
#: edge, and a matching dip inside: output below SNAP becomes 0, above 1 - SNAP becomes
#: 1, linearly in between. Measured on the shared RGBA photos this also lowers the
#: error against their true alpha a little.
SNAP = 0.04


def _box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a ``(2r+1)^2`` window, borders reflected (float32 in, float32 out)."""
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True,
                         borderType=cv2.BORDER_REFLECT)


def guided_filter_coeffs(guide: np.ndarray, p: np.ndarray, r: int,
                         eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Window-averaged coefficients ``(mean_a, mean_b)`` of the colour guided filter.

    Args:
        guide: ``(H, W, 3)`` float32 guide image, values around ``[0, 1]``.
        p: ``(H, W)`` float32 filtering input.
        r: window radius in pixels (>= 1).
        eps: ridge regularisation (variance units of ``guide``).

    Returns:
        ``mean_a``: ``(H, W, 3)`` float32 and ``mean_b``: ``(H, W)`` float32, such that
        the filter output is ``q = sum(mean_a * guide, axis=2) + mean_b``.
    """
    guide = np.ascontiguousarray(guide, dtype=np.float32)
    p = np.ascontiguousarray(p, dtype=np.float32)
    mean_i = _box(guide, r)                       # (H, W, 3)
    mean_p = _box(p, r)                           # (H, W)
    mean_ip = _box(guide * p[..., None], r)       # (H, W, 3)
    cov_ip = mean_ip - mean_i * mean_p[..., None]

    # The six distinct entries of each pixel's 3x3 colour covariance, in one pass of
    # box filters over a 6-channel stack (cv2 filters up to 4 channels per call, so 2).
    r_, g_, b_ = guide[..., 0], guide[..., 1], guide[..., 2]
    prods = np.stack([r_ * r_, r_ * g_, r_ * b_, g_ * g_, g_ * b_, b_ * b_], axis=2)
    m = np.concatenate([_box(prods[..., :3].copy(), r), _box(prods[..., 3:].copy(), r)],
                       axis=2)
    mr, mg, mb = mean_i[..., 0], mean_i[..., 1], mean_i[..., 2]
    s_rr = m[..., 0] - mr * mr + eps
    s_rg = m[..., 1] - mr * mg
    s_rb = m[..., 2] - mr * mb
    s_gg = m[..., 3] - mg * mg + eps
    s_gb = m[..., 4] - mg * mb
    s_bb = m[..., 5] - mb * mb + eps

    # Closed-form inverse of the symmetric 3x3 (adjugate / determinant): vectorised and
    # much faster than np.linalg.inv over a million tiny matrices.
    i_rr = s_gg * s_bb - s_gb * s_gb
    i_rg = s_gb * s_rb - s_rg * s_bb
    i_rb = s_rg * s_gb - s_gg * s_rb
    i_gg = s_rr * s_bb - s_rb * s_rb
    i_gb = s_rb * s_rg - s_rr * s_gb
    i_bb = s_rr * s_gg - s_rg * s_rg
    det = s_rr * i_rr + s_rg * i_rg + s_rb * i_rb
    # eps on the diagonal keeps det >= eps^3 > 0; guard against float32 round-off only.
    det = np.maximum(det, np.float32(eps) ** 3)

    cr, cg, cb = cov_ip[..., 0], cov_ip[..., 1], cov_ip[..., 2]
    a = np.empty_like(mean_i)
    a[..., 0] = (i_rr * cr + i_rg * cg + i_rb * cb) / det
    a[..., 1] = (i_rg * cr + i_gg * cg + i_gb * cb) / det
    a[..., 2] = (i_rb * cr + i_gb * cg + i_bb * cb) / det
    b = mean_p - np.sum(a * mean_i, axis=2)
    return _box(a, r), _box(b, r)


def guided_filter(guide: np.ndarray, p: np.ndarray, r: int, eps: float = DEFAULT_EPS,
                  subsample: int = 1) -> np.ndarray:
    """Colour guided filter of ``p`` guided by ``guide``.

    Args:
        guide: ``(H, W, 3)`` float32 in ``[0, 1]``.
        p: ``(H, W)`` float32.
        r: window radius at full resolution, pixels.
        eps: regularisation.
        subsample: compute the coefficients at ``1/subsample`` resolution and apply
            them at full resolution (He & Sun's fast guided filter); 1 = exact.

    Returns:
        ``(H, W)`` float32 (not clipped).
    """
    h, w = p.shape
    s = max(int(subsample), 1)
    if s > 1:
        sw, sh = max(1, round(w / s)), max(1, round(h / s))
        g_small = cv2.resize(guide, (sw, sh), interpolation=cv2.INTER_AREA)
        p_small = cv2.resize(p, (sw, sh), interpolation=cv2.INTER_AREA)
        ma, mb = guided_filter_coeffs(g_small, p_small, max(1, round(r / s)), eps)
        ma = cv2.resize(ma, (w, h), interpolation=cv2.INTER_LINEAR)
        mb = cv2.resize(mb, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        ma, mb = guided_filter_coeffs(guide, p, r, eps)
    return np.sum(ma * guide, axis=2) + mb


def matting_radius(width: int, height: int) -> int:
    """Guided-filter radius for an image of this size: ~0.6% of the longer side, >= 2.

    It must cover the coarse mask's positional error (a pixel or two of the reduced
    resolution the mask was found at) so the true edge lies inside every window.
    """
    return max(2, round(0.006 * max(width, height)))


def refine_alpha(rgb: np.ndarray, coarse: np.ndarray, radius: int | None = None,
                 eps: float = DEFAULT_EPS) -> np.ndarray:
    """Soften a coarse mask's boundary so it follows the image's edges.

    Args:
        rgb: ``(H, W, 3)`` float32 in ``[0, 1]``, the photo.
        coarse: ``(H, W)`` float32 in ``[0, 1]``; e.g. an upsampled binary mask (its
            ``>= 0.5`` level set is taken as the boundary to refine).
        radius: guided filter radius in pixels at this resolution; default
            :func:`matting_radius`.
        eps: guided filter regularisation.

    Returns:
        ``(H, W)`` float32 alpha in ``[0, 1]``: the coarse hard mask away from the
        boundary, the filter output in a band of half-width ``2 * radius`` around it
        (where the filter's windows see the edge; beyond it the output would equal the
        hard mask anyway, so there is no seam).
    """
    h, w = coarse.shape
    r = matting_radius(w, h) if radius is None else max(1, int(radius))
    hard = coarse >= 0.5
    out = hard.astype(np.float32)
    if not hard.any() or hard.all():
        return out
    k = ellipse(2 * r)
    hard_u8 = hard.astype(np.uint8)
    band = cv2.dilate(hard_u8, k) > cv2.erode(hard_u8, k, borderType=cv2.BORDER_REPLICATE)

    # Work only inside the band's bounding box (plus the filter's reach): objects that
    # fill a small part of the frame then cost little.
    ys, xs = np.nonzero(band)
    pad = 2 * r + 2
    y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
    guide = np.ascontiguousarray(rgb[y0:y1, x0:x1], dtype=np.float32)
    p = np.ascontiguousarray(coarse[y0:y1, x0:x1], dtype=np.float32)
    # Subsample so the coefficients are computed at <= ~600 px: the fast guided filter
    # loses little because a and b vary slowly; the edge detail comes from the guide.
    sub = max(1, int(np.ceil(max(y1 - y0, x1 - x0) / 600.0)))
    if r // sub < 1:
        sub = 1
    q = guided_filter(guide, p, r, eps, subsample=sub)
    q = np.clip((q - SNAP) / (1.0 - 2.0 * SNAP), 0.0, 1.0)
    sub_band = band[y0:y1, x0:x1]
    out[y0:y1, x0:x1][sub_band] = q[sub_band]
    return out
