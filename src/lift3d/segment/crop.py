"""The square crop around the object, and the mapping between crop and photo pixels.

Box convention
--------------
``Crop.box = (x0, y0, x1, y1)`` are the *outer edges* of the window, in the photo's
pixel coordinates (pixel-centre convention of :mod:`lift3d.conventions`: photo pixel
``j`` covers ``[j - 0.5, j + 0.5]``). So the whole of a ``W x H`` photo would be the box
``(-0.5, -0.5, W - 0.5, H - 0.5)``. The ``S x S`` crop divides the box into ``S``
equal cells per axis; crop pixel ``i`` covers ``[x0 + i*s, x0 + (i+1)*s]`` with
``s = (x1 - x0) / S``, hence::

    crop pixel centre (u, v)  <->  photo point
        x = x0 + (u + 0.5) * (x1 - x0) / S
        y = y0 + (v + 0.5) * (y1 - y0) / S

and back: ``u = (x - x0) * S / (x1 - x0) - 0.5``. Crop pixel edges ``-0.5`` and
``S - 0.5`` land on ``x0`` and ``x1``, matching
:meth:`lift3d.types.Camera.orthographic_square`, whose image spans the crop's pixel
edges. :func:`crop_to_photo` and :func:`photo_to_crop` apply the mapping.

:func:`crop_object` snaps the box to whole photo pixels (``x0 + 0.5`` an integer and
``x1 - x0`` an integer count), so the window is cut out exactly, without
interpolation, and then resampled once to ``S x S`` by ``cv2.resize``, whose
half-pixel-centre convention is the mapping above.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import InputError, NoObjectError
from ..types import Crop, Photo, Segmentation


def object_bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Inclusive pixel-index bounds ``(xmin, ymin, xmax, ymax)`` of a binary mask.

    Raises:
        NoObjectError: the mask is empty.
    """
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if len(xs) == 0:
        raise NoObjectError("no object found: the segmentation mask is empty")
    return int(xs[0]), int(ys[0]), int(xs[-1]), int(ys[-1])


def crop_box(mask: np.ndarray, margin: float = 0.1) -> tuple[float, float, float, float]:
    """The square window around the mask, as ``(x0, y0, x1, y1)`` edges (see module doc).

    The side is the mask bbox's bigger side (pixel edges to pixel edges) enlarged by
    ``margin`` times that side on each end, rounded up to whole pixels; the window is
    centred on the bbox centre to within half a pixel (snapped to the pixel grid).

    Args:
        mask: ``(H, W)`` bool object mask.
        margin: fraction of the bigger bbox side added on each side, >= 0.
    """
    xmin, ymin, xmax, ymax = object_bbox(mask)
    extent = max(xmax - xmin + 1, ymax - ymin + 1)
    n = max(1, math.ceil(extent * (1.0 + 2.0 * margin) - 1e-9))
    cx, cy = 0.5 * (xmin + xmax), 0.5 * (ymin + ymax)
    # First pixel index of the window; its left edge is that index - 0.5.
    ix0 = math.floor(cx - 0.5 * n + 0.5 + 0.5)
    iy0 = math.floor(cy - 0.5 * n + 0.5 + 0.5)
    return (ix0 - 0.5, iy0 - 0.5, ix0 - 0.5 + n, iy0 - 0.5 + n)


def _cut(img: np.ndarray, ix0: int, iy0: int, n: int, mode: str) -> np.ndarray:
    """``img[iy0:iy0+n, ix0:ix0+n]`` with out-of-bounds pixels padded by ``mode``
    (``"edge"``: replicate, ``"constant"``: zeros)."""
    h, w = img.shape[:2]
    xa, xb = max(ix0, 0), min(ix0 + n, w)
    ya, yb = max(iy0, 0), min(iy0 + n, h)
    part = img[ya:yb, xa:xb]
    pads = [(ya - iy0, iy0 + n - yb), (xa - ix0, ix0 + n - xb)] + [(0, 0)] * (img.ndim - 2)
    if any(p != (0, 0) for p in pads):
        part = np.pad(part, pads, mode=mode)
    return np.ascontiguousarray(part, dtype=np.float32)


def crop_object(photo: Photo, seg: Segmentation, size: int, margin: float = 0.1) -> Crop:
    """Cut the square window around the object and resample it to ``size x size``.

    Args:
        photo: the photo, ``(H, W, 3)``.
        seg: its segmentation, ``alpha`` of shape ``(H, W)``; the box is taken around
            ``seg.binary``.
        size: side of the output crop, pixels (>= 1).
        margin: fraction of the object's bigger side left free on each side (>= 0).

    Returns:
        a :class:`Crop`: ``rgb`` ``(size, size, 3)`` float32 in ``[0, 1]`` (edge colours
        replicated outside the photo), ``alpha`` ``(size, size)`` float32 in ``[0, 1]``
        (zero outside the photo), ``box`` as in the module docstring. Resampling uses
        ``INTER_AREA`` when shrinking, ``INTER_LINEAR`` when enlarging.

    Raises:
        InputError: bad ``size``/``margin`` or mismatched shapes.
        NoObjectError: the segmentation is empty.
    """
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise InputError(f"size: crop size must be a positive integer, got {size!r}")
    if not (margin >= 0.0 and math.isfinite(margin)):
        raise InputError(f"margin: must be a finite number >= 0, got {margin!r}")
    if seg.alpha.shape != photo.rgb.shape[:2]:
        raise InputError(
            f"seg: alpha has shape {seg.alpha.shape}, photo is {photo.rgb.shape[:2]}"
        )
    x0, y0, x1, y1 = crop_box(seg.binary, margin)
    n = int(round(x1 - x0))
    ix0, iy0 = int(round(x0 + 0.5)), int(round(y0 + 0.5))
    rgb = _cut(photo.rgb, ix0, iy0, n, "edge")
    alpha = _cut(seg.alpha, ix0, iy0, n, "constant")
    if size != n:
        interp = cv2.INTER_AREA if size < n else cv2.INTER_LINEAR
        rgb = cv2.resize(rgb, (size, size), interpolation=interp)
        alpha = cv2.resize(alpha, (size, size), interpolation=interp)
    rgb = np.clip(rgb, 0.0, 1.0).reshape(size, size, 3)
    alpha = np.clip(alpha, 0.0, 1.0).reshape(size, size)
    return Crop(rgb=rgb, alpha=alpha, box=(float(x0), float(y0), float(x1), float(y1)))


def crop_to_photo(crop: Crop, u, v) -> tuple[np.ndarray, np.ndarray]:
    """Crop pixel coordinates ``(u, v)`` to photo pixel coordinates ``(x, y)``.

    Args:
        crop: the crop (its ``box`` and ``size``).
        u, v: scalars or arrays of crop coordinates (pixel-centre convention).

    Returns:
        ``(x, y)`` float64 arrays of the broadcast shape:
        ``x = x0 + (u + 0.5) * (x1 - x0) / S`` (same for ``y``).
    """
    x0, y0, x1, y1 = crop.box
    s = float(crop.size)
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    return x0 + (u + 0.5) * (x1 - x0) / s, y0 + (v + 0.5) * (y1 - y0) / s


def photo_to_crop(crop: Crop, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Photo pixel coordinates ``(x, y)`` to crop pixel coordinates ``(u, v)``.

    The inverse of :func:`crop_to_photo`: ``u = (x - x0) * S / (x1 - x0) - 0.5``.
    """
    x0, y0, x1, y1 = crop.box
    s = float(crop.size)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return (x - x0) * s / (x1 - x0) - 0.5, (y - y0) * s / (y1 - y0) - 0.5
