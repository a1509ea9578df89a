"""The ``"alpha"`` backend: the photo's own alpha channel, lightly cleaned.

Cut-outs exported from editors and renderers carry an alpha that is already the
answer; all we do is drop stray specks (dust left by a brush, a stray transparent-ish
pixel in a corner) and fill pinholes, leaving the soft edge values as they are.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..types import Photo, Segmentation
from ._masks import component_areas, fill_small_holes, keep_large_components

#: Below this alpha a pixel is treated as empty when deciding what is a speck.
FAINT = 0.02
#: Solid components smaller than this fraction of the *total* solid area, or than
#: ``SPECK_MIN_PX`` pixels, are specks.
SPECK_REL = 5e-4
SPECK_MIN_PX = 8
#: Holes up to this fraction of the solid area (at least 4 px) are pinholes.
PINHOLE_REL = 2e-4


def clean_alpha(alpha: np.ndarray) -> np.ndarray:
    """Drop specks and fill pinholes of a soft alpha, keeping soft edge values.

    Args:
        alpha: ``(H, W)`` float in ``[0, 1]``.

    Returns:
        ``(H, W)`` float32 in ``[0, 1]``: ``alpha`` with (a) solid specks
        (``alpha >= 0.5`` components below ``max(SPECK_MIN_PX, SPECK_REL * solid
        area)``) and every faint region (``alpha > FAINT``, 8-connected) that holds no
        remaining solid part zeroed, as is the near-zero haze ``alpha <= FAINT``; and
        (b) the solid mask's pinholes set to 1. All other values are unchanged.
    """
    a = np.clip(np.asarray(alpha, dtype=np.float32), 0.0, 1.0).copy()
    solid = a >= 0.5
    total = int(solid.sum())
    if total == 0:
        return a
    kept = keep_large_components(solid, 0.0, min_px=max(SPECK_MIN_PX, round(SPECK_REL * total)))
    # A faint region survives if it touches a kept solid part: that is the object's
    # soft edge. Faint regions around dropped specks, or on their own, go.
    labels, stats = component_areas(a > FAINT, 8)
    has_solid = np.zeros(stats.shape[0], dtype=bool)
    has_solid[np.unique(labels[kept])] = True
    has_solid[0] = False
    a[~has_solid[labels]] = 0.0
    filled = fill_small_holes(kept, max(4.0, PINHOLE_REL * total))
    a[filled & ~kept] = 1.0
    return a


def segment_alpha(photo: Photo) -> Segmentation:
    """Use ``photo.alpha`` as the object mask.

    Args:
        photo: a photo whose ``alpha`` is an ``(H, W)`` float32 in ``[0, 1]``.

    Returns:
        a :class:`Segmentation` with ``backend="alpha"``.

    Raises:
        InputError: ``photo.alpha`` is ``None`` (the file had no, or an opaque, alpha).
    """
    if photo.alpha is None:
        raise InputError(
            f"photo: segmentation backend 'alpha' needs a photo with an alpha channel, "
            f"but {photo.source} has none (or it is fully opaque); use backend "
            f"'classical' or 'file'"
        )
    if photo.alpha.shape != photo.rgb.shape[:2]:
        raise InputError(
            f"photo: alpha has shape {photo.alpha.shape}, rgb has {photo.rgb.shape[:2]}"
        )
    return Segmentation(alpha=clean_alpha(photo.alpha), backend="alpha")
