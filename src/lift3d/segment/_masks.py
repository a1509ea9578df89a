"""Binary-mask helpers shared by the segmentation backends.

All masks here are ``(H, W)`` arrays; "binary" means ``bool`` (or ``uint8`` 0/1 where
OpenCV wants it). Connectivity: the object is 8-connected, so its complement (background
and holes) is taken 4-connected, the usual dual pair that keeps a one-pixel diagonal
gap from both joining two object parts and splitting a hole.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from ..errors import NoObjectError

logger = logging.getLogger(__name__)

#: Fewer object pixels than this fraction of the image means "no object".
MIN_FOREGROUND_FRACTION = 0.002
#: More object pixels than this fraction means the background was not found.
MAX_FOREGROUND_FRACTION = 0.98


def component_areas(mask: np.ndarray, connectivity: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Label the connected components of a binary mask.

    Returns:
        ``labels``: ``(H, W)`` int32, 0 = not in the mask, ``1..n`` = component ids;
        ``stats``: ``(n + 1, 5)`` int32 rows of OpenCV ``CC_STAT_*`` (row 0 = outside).
    """
    _, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=connectivity, ltype=cv2.CV_32S
    )
    return labels, stats


def keep_large_components(mask: np.ndarray, min_rel: float = 0.02,
                          min_px: int = 0) -> np.ndarray:
    """Drop components smaller than ``min_rel`` x the largest one (or than ``min_px``).

    Big separate parts (both wheels of a bicycle seen side on, a cup and its saucer
    gap-separated) survive because the threshold is relative to the largest part, not
    "largest only".

    Args:
        mask: ``(H, W)`` bool.
        min_rel: minimum area relative to the largest component, in ``[0, 1]``.
        min_px: absolute minimum area in pixels.

    Returns:
        ``(H, W)`` bool.
    """
    labels, stats = component_areas(mask, 8)
    if stats.shape[0] <= 1:
        return np.zeros(mask.shape, dtype=bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = areas >= max(min_rel * float(areas.max()), float(min_px))
    lut = np.concatenate([[False], keep])
    return lut[labels]


def fill_small_holes(mask: np.ndarray, max_area: float, allow: np.ndarray | None = None,
                     min_allow: float = 0.5, min_area: float = 0.0) -> np.ndarray:
    """Fill the holes of a binary mask with ``min_area <= area <= max_area`` pixels.

    A hole is a 4-connected component of the complement that does not touch the image
    border. Bigger holes are kept: they are real (the gap in a mug handle, a ring).

    Args:
        mask: ``(H, W)`` bool.
        max_area: largest hole to fill, in pixels.
        allow: optional ``(H, W)`` bool map: a hole is only filled if ``allow`` is
            true on at least ``min_allow`` of its pixels (``None``: no such test).
        min_allow: fraction in ``[0, 1]``, see ``allow``.
        min_area: smallest hole to fill, in pixels.

    Returns:
        ``(H, W)`` bool.
    """
    inv = ~mask
    labels, stats = component_areas(inv, 4)
    n = stats.shape[0]
    if n <= 1:
        return mask.copy()
    h, w = mask.shape
    x0 = stats[:, cv2.CC_STAT_LEFT]
    y0 = stats[:, cv2.CC_STAT_TOP]
    x1 = x0 + stats[:, cv2.CC_STAT_WIDTH]
    y1 = y0 + stats[:, cv2.CC_STAT_HEIGHT]
    # A component of the complement touching the frame is outside, not a hole.
    touches = (x0 == 0) | (y0 == 0) | (x1 == w) | (y1 == h)
    area = stats[:, cv2.CC_STAT_AREA]
    fill = (~touches) & (area <= max_area) & (area >= min_area)
    fill[0] = False
    if allow is not None and fill.any():
        votes = np.bincount(labels.ravel(), weights=allow.ravel().astype(np.float64),
                            minlength=n)
        fill &= votes >= min_allow * area
    return mask | fill[labels]


def ellipse(radius: int) -> np.ndarray:
    """A ``(2r+1, 2r+1)`` uint8 elliptical structuring element."""
    r = max(int(radius), 0)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def check_coverage(alpha: np.ndarray, backend: str) -> float:
    """Raise :class:`NoObjectError` if a mask holds almost nothing or almost everything.

    Args:
        alpha: ``(H, W)`` float32 in ``[0, 1]``.
        backend: name used in the message.

    Returns:
        the fraction of pixels with ``alpha >= 0.5``, in ``[0, 1]``.
    """
    frac = float(np.count_nonzero(alpha >= 0.5)) / float(alpha.size)
    if frac < MIN_FOREGROUND_FRACTION:
        raise NoObjectError(
            f"no object found: foreground covers only {100.0 * frac:.2f}% of the image "
            f"(backend {backend!r}; at least {100.0 * MIN_FOREGROUND_FRACTION:.1f}% needed)"
        )
    if frac > MAX_FOREGROUND_FRACTION:
        hint = " (is the mask inverted? white = object)" if backend == "file" else ""
        raise NoObjectError(
            f"no object found: the object fills the whole frame / background not found "
            f"(foreground covers {100.0 * frac:.1f}% of the image, backend {backend!r}){hint}"
        )
    return frac


def resize_to(a: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resample a float image to ``width x height``: area filter down, linear up."""
    if a.shape[1] == width and a.shape[0] == height:
        return a
    shrink = width < a.shape[1] or height < a.shape[0]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(a, (width, height), interpolation=interp)
