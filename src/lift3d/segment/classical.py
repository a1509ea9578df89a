"""Classical foreground extraction for product-style photos (no learned model).

Assumes what catalogue and studio shots have: the object roughly centred, a plain,
gradient or softly lit background that shows along the frame, and maybe a soft
shadow under the object. Steps (at ~512 px on the longer side, for speed):

1. **Uniformity check**: a (near) constant image holds no object.
2. **Background model**: a frame of border pixels is fitted, robustly (trimmed least
   squares), with a quadratic polynomial of CIE Lab colour over image position. That
   handles flat backdrops, linear and vignetting gradients, and ignores an object that
   touches the frame on one side.
3. **Distance to background**: per pixel, a colour distance to the model with the
   lightness difference down-weighted (darker even more): a soft grey shadow on a
   white sweep differs from it mostly in lightness, an object mostly in chroma or by a
   large lightness step. Chroma is compared against the background *darkened to the
   pixel's luminance*, so a shadow on a coloured backdrop is not mistaken for a colour
   change either.
4. **Initial probability → GrabCut** (Rother et al. 2004): a logistic ramp of the
   distance around a threshold (raised on noisy backdrops) gives each pixel a
   foreground probability. Frame pixels that match the model are definite
   background, clearly different pixels probable foreground, the rest probable
   background. The colour models are *seeded*: background from the confident
   backdrop pixels only, foreground from the clearly different ones, so the
   in-between pixels (an object's low-contrast parts) are decided by colour rather
   than pre-assigned to the background. One cut with frozen models (at half
   resolution when the region is large), then one ordinary GrabCut iteration; all on
   the bounding region of the candidates.
5. **Clean-up**: morphological opening (specks), components smaller than 2% of the
   largest dropped (big separate parts kept), holes smaller than 1% of the object
   filled unless they show the backdrop itself; bigger holes (a mug handle's gap, a
   ring) are kept.
6. **Soft edges** at full resolution: the mask is upsampled and its boundary band
   re-estimated by guided-filter matting (:mod:`lift3d.segment.matting`).

Limits: object parts that match the backdrop (a white robot's shell on a white
sweep) are lost where they meet it; contact shadows much darker than ~35-40% of the
backdrop can be kept as part of the object (a neutral grey object and a dark shadow
have the same colour); busy, non-studio backgrounds are out of scope.

Speed: ~0.2-0.3 s for a 1024 x 1024 photo on 2 CPU cores (GrabCut is most of it).
"""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np

from ..errors import NoObjectError
from ..types import Photo, Segmentation
from ._masks import ellipse, fill_small_holes, keep_large_components
from .matting import refine_alpha

logger = logging.getLogger(__name__)

#: Longer side of the working resolution, pixels.
WORK_SIDE = 512
#: Width of the border frame sampled for the background model, fraction of the
#: shorter side (at least 3 px).
BORDER_FRACTION = 0.03
#: Weights of a lightness difference relative to chroma, for pixels lighter / darker
#: than the background (darker is lower: that is what shadows are).
L_WEIGHT_LIGHTER = 0.5
L_WEIGHT_DARKER = 0.3
#: A pixel is "clearly different" from the background above this distance (Lab units,
#: after the weighting), raised on noisy/textured backgrounds.
MIN_FG_DISTANCE = 10.0
#: A colour standard deviation (max over RGB channels, [0, 1] scale) below this means
#: the image is a uniform colour.
UNIFORM_STD = 0.01
#: GrabCut iterations.
GRABCUT_ITERS = 2
#: Components smaller than this fraction of the largest are dropped.
MIN_PART_REL = 0.02
#: Holes smaller than this fraction of the object's area are filled (unless they look
#: exactly like the backdrop).
MAX_HOLE_REL = 0.01
#: Floor of the distance under which a pixel "is" the backdrop (Lab units); above the
#: backdrop's own noise level otherwise.
BG_LIKE_MIN = 1.5


def _downscale(rgb: np.ndarray, side: int) -> np.ndarray:
    """``rgb`` resampled (area filter) so its longer side is at most ``side``."""
    h, w = rgb.shape[:2]
    f = side / float(max(h, w))
    if f >= 1.0:
        return np.ascontiguousarray(rgb, dtype=np.float32)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(np.ascontiguousarray(rgb, dtype=np.float32), size,
                      interpolation=cv2.INTER_AREA)


def _border_frame(h: int, w: int) -> np.ndarray:
    """``(H, W)`` bool: the outer frame sampled for the background."""
    b = max(3, round(BORDER_FRACTION * min(h, w)))
    b = min(b, max(1, min(h, w) // 4))
    frame = np.ones((h, w), dtype=bool)
    frame[b:h - b, b:w - b] = False
    return frame


def _poly_features(xn: np.ndarray, yn: np.ndarray) -> np.ndarray:
    """Quadratic monomials ``[1, x, y, x^2, xy, y^2]`` of normalised coordinates."""
    return np.stack([np.ones_like(xn), xn, yn, xn * xn, xn * yn, yn * yn], axis=-1)


def fit_background(lab: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Robust quadratic fit of the background's Lab colour over image position.

    Args:
        lab: ``(H, W, 3)`` float32 CIE Lab (L in ``[0, 100]``).
        frame: ``(H, W)`` bool, the pixels assumed to be mostly background.

    Returns:
        ``model``: ``(H, W, 3)`` float32 predicted background Lab everywhere;
        ``inliers``: ``(H, W)`` bool, the frame pixels the final fit used.
    """
    h, w = frame.shape
    ys, xs = np.nonzero(frame)
    # Coordinates scaled to [-1, 1] keep the normal equations well conditioned.
    xn = (xs.astype(np.float32) / max(w - 1, 1)) * 2 - 1
    yn = (ys.astype(np.float32) / max(h - 1, 1)) * 2 - 1
    feats = _poly_features(xn, yn).astype(np.float64)
    vals = lab[ys, xs].astype(np.float64)
    use = np.ones(len(xs), dtype=bool)
    coef = None
    # Trimmed least squares: an object crossing the frame is an outlier. Start by
    # dropping the 30% worst, then keep what lies within 3 robust sigmas.
    for it in range(4):
        coef, *_ = np.linalg.lstsq(feats[use], vals[use], rcond=None)
        res = np.linalg.norm(vals - feats @ coef, axis=1)
        if it == 0:
            use = res <= np.quantile(res, 0.7)
        else:
            sigma = 1.4826 * np.median(res[use]) + 0.5
            new = res <= max(3.0 * sigma, 2.0)
            if new.sum() < 0.3 * len(xs) or np.array_equal(new, use):
                break
            use = new
    # Evaluate the polynomial separably (outer products of row and column terms)
    # rather than building an (H*W, 6) design matrix.
    c = coef.astype(np.float32)                                   # (6, 3)
    x = (np.arange(w, dtype=np.float32) / max(w - 1, 1) * 2 - 1)[None, :, None]
    y = (np.arange(h, dtype=np.float32) / max(h - 1, 1) * 2 - 1)[:, None, None]
    model = (c[0] + c[2] * y + c[5] * (y * y)) + x * (c[1] + c[4] * y) + c[3] * (x * x)
    inliers = np.zeros((h, w), dtype=bool)
    inliers[ys[use], xs[use]] = True
    return model.astype(np.float32), inliers


def background_distance(rgb: np.ndarray, lab: np.ndarray, model_lab: np.ndarray) -> np.ndarray:
    """Shadow-tolerant colour distance of each pixel to the background model.

    ``sqrt((w_L * dL)^2 + da^2 + db^2)`` with ``w_L`` = :data:`L_WEIGHT_DARKER` for
    pixels darker than the model, :data:`L_WEIGHT_LIGHTER` otherwise, and the chroma
    difference ``(da, db)`` taken against the model darkened to the pixel's own
    luminance.

    Args:
        rgb: ``(H, W, 3)`` float32 sRGB in ``[0, 1]``.
        lab: ``(H, W, 3)`` float32 Lab of ``rgb``.
        model_lab: ``(H, W, 3)`` float32 Lab of the background model.

    Returns:
        ``(H, W)`` float32 distance, Lab units (>= 0).
    """
    d_l = lab[..., 0] - model_lab[..., 0]
    # A shadow multiplies the backdrop's linear RGB by a factor k < 1. Darken the
    # model by the pixel's luminance ratio and compare chroma against *that*, so a
    # shadow on a coloured backdrop is not mistaken for a change of colour.
    bg_rgb = np.clip(cv2.cvtColor(model_lab, cv2.COLOR_Lab2RGB), 0.0, 1.0)
    lum_ratio = _relative_luminance(rgb) / np.maximum(_relative_luminance(bg_rgb), 1e-4)
    k = np.clip(lum_ratio, 0.05, 1.0)[..., None]
    shadowed = _linear_to_srgb(_srgb_to_linear(bg_rgb) * k).astype(np.float32)
    shadow_lab = cv2.cvtColor(shadowed, cv2.COLOR_RGB2Lab)
    d_ab = lab[..., 1:] - shadow_lab[..., 1:]
    w_l = np.where(d_l < 0, L_WEIGHT_DARKER, L_WEIGHT_LIGHTER).astype(np.float32)
    return np.sqrt((w_l * d_l) ** 2 + np.sum(d_ab * d_ab, axis=-1)).astype(np.float32)


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def _relative_luminance(rgb: np.ndarray) -> np.ndarray:
    lin = _srgb_to_linear(rgb)
    return lin[..., 0] * 0.2126 + lin[..., 1] * 0.7152 + lin[..., 2] * 0.0722


def fg_probability(dist: np.ndarray, threshold: float) -> np.ndarray:
    """Initial foreground probability: a logistic ramp of the distance around
    ``threshold`` (``(H, W)`` float32 in ``[0, 1]``; 0.5 at the threshold)."""
    z = (dist - threshold) / (0.25 * threshold)
    return (1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))).astype(np.float32)


GMM_COMPONENTS = 5  # fixed by OpenCV's GrabCut


def _gmm_model(pixels: np.ndarray, max_samples: int = 8000) -> np.ndarray | None:
    """A GrabCut colour model fitted to ``(N, 3)`` uint8 pixels, or None if too few.

    Returns OpenCV's ``(1, 65)`` float64 layout: 5 weights, 5x3 means, 5x(3x3)
    covariances, each covariance with OpenCV's 0.01 "white noise" on its diagonal so
    a flat colour (a synthetic backdrop) stays invertible.
    """
    n = len(pixels)
    k = GMM_COMPONENTS
    if n < 4 * k:
        return None
    rng = np.random.default_rng(0)  # deterministic: same photo, same mask
    sample = pixels[rng.choice(n, max_samples, replace=False)] if n > max_samples else pixels
    data = sample.astype(np.float32)
    crit = (cv2.TERM_CRITERIA_MAX_ITER | cv2.TERM_CRITERIA_EPS, 10, 0.5)
    cv2.setRNGSeed(0)
    _, labels, _ = cv2.kmeans(data, k, None, crit, 1, cv2.KMEANS_PP_CENTERS)
    labels = labels.ravel()
    d = data.astype(np.float64)
    weights = np.zeros(k)
    means = np.zeros((k, 3))
    covs = np.tile(np.eye(3) * 0.01, (k, 1, 1))
    for c in range(k):
        x = d[labels == c]
        if len(x) == 0:
            continue
        weights[c] = len(x) / len(d)
        means[c] = x.mean(axis=0)
        if len(x) > 1:
            covs[c] += np.cov(x, rowvar=False, bias=True)
    return np.concatenate([weights, means.ravel(), covs.ravel()])[None, :]


def _grabcut(img_u8: np.ndarray, gc_mask: np.ndarray, bg_seed: np.ndarray,
             iters: int) -> np.ndarray:
    """GrabCut on the region around the probable-foreground labels.

    Args:
        img_u8: ``(h, w, 3)`` uint8 image.
        gc_mask: ``(h, w)`` uint8 GrabCut labels (``GC_BGD``, ``GC_PR_BGD``,
            ``GC_PR_FGD``).
        bg_seed: ``(h, w)`` bool, pixels that confidently look like the backdrop; the
            first background colour model is learnt from these only.
        iters: total graph-cut iterations (>= 1).

    Returns:
        ``(h, w)`` bool foreground.
    """
    h, w = gc_mask.shape
    cand = gc_mask == cv2.GC_PR_FGD
    ys, xs = np.nonzero(cand)
    # Pixels far outside the candidates' box would be background anyway: cropping
    # to the box plus a margin saves most of GrabCut's cost on small objects, and
    # its colour models then describe the *local* background, which is what matters.
    pad = max(8, round(0.08 * max(h, w)))
    y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
    sub = gc_mask[y0:y1, x0:x1].copy()
    seed = bg_seed[y0:y1, x0:x1]
    # The window's own edge is background unless it is the image edge with a
    # candidate on it (an object cut off by the frame).
    edge = np.zeros(sub.shape, dtype=bool)
    edge[0, :] = y0 > 0
    edge[-1, :] = y1 < h
    edge[:, 0] |= x0 > 0
    edge[:, -1] |= x1 < w
    sub[edge & (sub == cv2.GC_PR_BGD)] = cv2.GC_BGD
    img = np.ascontiguousarray(img_u8[y0:y1, x0:x1])
    is_fg = sub == cv2.GC_PR_FGD
    # Seeded models. OpenCV's own initialisation learns the background model from
    # *every* pixel not marked foreground, which includes the object's own
    # low-contrast parts (a grey statue's mid-tones on white): they then stay
    # background for good. Learning it from the confident backdrop pixels only (the
    # backdrop and its soft shadows), and the foreground model from the clearly
    # different pixels, lets the first cut decide the in-between pixels by colour.
    # Fitting on a subsample is also much cheaper than OpenCV's k-means over all.
    bgd = _gmm_model(img[seed & ~is_fg])
    fgd = _gmm_model(img[is_fg])
    if bgd is None:
        bgd = _gmm_model(img[~is_fg])
    if bgd is None or fgd is None:
        bgd = np.zeros((1, 65), np.float64)
        fgd = np.zeros((1, 65), np.float64)
        cv2.grabCut(img, sub, None, bgd, fgd, iters, cv2.GC_INIT_WITH_MASK)
    else:
        sh, sw = sub.shape
        if iters > 1 and sh * sw > 200_000:
            # The first cut only has to relabel the in-between pixels well enough to
            # re-learn the models from; at half resolution it costs a quarter.
            hs = (max(1, sw // 2), max(1, sh // 2))
            sub_h = cv2.resize(sub, hs, interpolation=cv2.INTER_NEAREST)
            img_h = cv2.resize(img, hs, interpolation=cv2.INTER_AREA)
            cv2.grabCut(img_h, sub_h, None, bgd, fgd, 1, cv2.GC_EVAL_FREEZE_MODEL)
            fg_h = ((sub_h == cv2.GC_FGD) | (sub_h == cv2.GC_PR_FGD)).astype(np.uint8)
            fg_full = cv2.resize(fg_h, (sw, sh), interpolation=cv2.INTER_NEAREST) > 0
            soft = (sub == cv2.GC_PR_BGD) | (sub == cv2.GC_PR_FGD)
            sub[soft] = np.where(fg_full[soft], cv2.GC_PR_FGD, cv2.GC_PR_BGD)
        else:
            cv2.grabCut(img, sub, None, bgd, fgd, 1, cv2.GC_EVAL_FREEZE_MODEL)
        if iters > 1:
            # Then ordinary GrabCut iterations: models re-learnt from the labels.
            cv2.grabCut(img, sub, None, bgd, fgd, iters - 1, cv2.GC_EVAL)
    out = np.zeros((h, w), dtype=bool)
    out[y0:y1, x0:x1] = (sub == cv2.GC_FGD) | (sub == cv2.GC_PR_FGD)
    return out


def classical_mask(rgb_small: np.ndarray) -> np.ndarray:
    """The binary object mask at the working resolution.

    Args:
        rgb_small: ``(h, w, 3)`` float32 sRGB in ``[0, 1]``, already downscaled.

    Returns:
        ``(h, w)`` bool.

    Raises:
        NoObjectError: uniform image, or nothing differs from the background.
    """
    h, w = rgb_small.shape[:2]
    std = float(rgb_small.reshape(-1, 3).std(axis=0).max())
    if std < UNIFORM_STD:
        raise NoObjectError(
            f"no object found: the image is a uniform colour (colour std {std:.4f})"
        )
    lab = cv2.cvtColor(rgb_small, cv2.COLOR_RGB2Lab)
    frame = _border_frame(h, w)
    model, inliers = fit_background(lab, frame)
    dist = background_distance(rgb_small, lab, model)
    # Noise/texture level of the backdrop: the median distance of the frame pixels the
    # fit accepted (x 1.4826 below: a MAD-style robust scale).
    noise = float(np.median(dist[inliers])) if inliers.any() else 0.0
    threshold = float(np.clip(max(MIN_FG_DISTANCE, 4.0 * 1.4826 * noise), MIN_FG_DISTANCE, 40))
    prob = fg_probability(dist, threshold)
    cand = prob > 0.5
    # Ignore isolated noise pixels when deciding whether there is anything at all.
    cand_clean = cv2.morphologyEx(cand.astype(np.uint8), cv2.MORPH_OPEN, ellipse(1)) > 0
    if not cand_clean.any():
        raise NoObjectError(
            "no object found: foreground covers only 0.00% of the image "
            "(nothing stands out from the colours along the image border)"
        )
    gc = np.full((h, w), cv2.GC_PR_BGD, dtype=np.uint8)
    gc[cand_clean] = cv2.GC_PR_FGD
    # Frame pixels that look like the backdrop are certain background; frame pixels
    # that do not (an object cut off by the edge) stay probable foreground.
    gc[frame & ~cand] = cv2.GC_BGD
    img_u8 = np.clip(rgb_small * 255.0 + 0.5, 0, 255).astype(np.uint8)
    # Background colour seeds: pixels well inside the backdrop side of the ramp
    # (probability < ~0.12), soft shadows included.
    fg = _grabcut(img_u8, gc, prob < 0.12, GRABCUT_ITERS)

    # Clean-up. The opening radius scales with resolution (1 px at 512).
    r_open = max(1, round(max(h, w) / 512))
    fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, ellipse(r_open)) > 0
    if not fg.any():
        return fg
    fg = keep_large_components(fg, MIN_PART_REL, min_px=4)
    area = int(fg.sum())
    # Holes below 1% of the object are filled unless they show the backdrop itself
    # (most pixels within the backdrop's own noise of the model): a white button on
    # a dark coat is filled, the gap between two chair spindles is kept.
    bg_like = dist <= max(BG_LIKE_MIN, 3.0 * 1.4826 * noise)
    fg = fill_small_holes(fg, MAX_HOLE_REL * area, allow=~bg_like, min_allow=0.5)
    # Pinholes of a few pixels are noise whatever their colour.
    fg = fill_small_holes(fg, max(4.0, 2e-4 * area))
    logger.debug("classical: threshold %.1f (noise %.2f), fg %.1f%%", threshold, noise,
                 100.0 * fg.mean())
    return fg


def segment_classical(photo: Photo) -> Segmentation:
    """Segment the object in a product-style photo without its alpha channel.

    Args:
        photo: the photo; only ``photo.rgb`` is used.

    Returns:
        a :class:`Segmentation` with a soft ``(H, W)`` float32 alpha at the photo's
        resolution, ``backend="classical"``.

    Raises:
        NoObjectError: the image is uniform or nothing stands out from its background.
    """
    t0 = time.perf_counter()
    rgb = np.ascontiguousarray(photo.rgb, dtype=np.float32)
    h, w = rgb.shape[:2]
    small = _downscale(rgb, WORK_SIDE)
    fg = classical_mask(small)
    t1 = time.perf_counter()
    if small.shape[:2] != (h, w):
        coarse = cv2.resize(fg.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        coarse = fg.astype(np.float32)
    alpha = refine_alpha(rgb, coarse)
    t2 = time.perf_counter()
    logger.info("classical segmentation of %dx%d: mask %.0f ms, matting %.0f ms",
                w, h, 1e3 * (t1 - t0), 1e3 * (t2 - t1))
    return Segmentation(alpha=alpha, backend="classical")
