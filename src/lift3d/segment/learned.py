"""The ``learned`` segmentation backend: the shape network's object mask.

The shape network (:mod:`lift3d.shape.learned`) predicts, besides depth, which pixels
of its input show the object. It was trained on object crops, so it is run twice:

1. on the whole photo, letterboxed into its square input (padded with edge colours),
   to find roughly where the object is;
2. on the square crop around that (cut like :func:`~lift3d.segment.crop_object`, with
   its margin), where the object has the size the network was trained on.

The second mask is pasted back at the photo's resolution and its edge matted to the
photo's own edges with the guided filter (:func:`~lift3d.segment.matting.refine_alpha`),
since the network's mask is only ``INPUT_SIZE`` pixels across.
"""

from __future__ import annotations

import logging
import math
import os

import cv2
import numpy as np

from ..errors import InputError, NoObjectError
from ..shape import netio
from ..types import Photo, Segmentation
from ._masks import ellipse, keep_large_components
from .crop import crop_object, photo_to_crop
from .matting import matting_radius, refine_alpha

log = logging.getLogger(__name__)

__all__ = ["letterbox", "segment_learned"]


def letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Fit an image into a ``size x size`` square, keeping its aspect ratio.

    Args:
        rgb: ``(H, W, 3)`` float32 in ``[0, 1]``.
        size: side of the square.

    Returns:
        ``(square, (left, top, width, height))``: ``square`` is ``(size, size, 3)``
        float32, the resized image at ``(left, top)`` with ``width x height`` pixels,
        the rest filled by replicating its edge colours (a background the network
        reads as more of the photo's own background, not as a frame).
    """
    h, w = rgb.shape[:2]
    scale = size / float(max(h, w))
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(np.ascontiguousarray(rgb, dtype=np.float32), (nw, nh),
                       interpolation=interp).reshape(nh, nw, 3)
    left, top = (size - nw) // 2, (size - nh) // 2
    square = cv2.copyMakeBorder(small, top, size - nh - top, left, size - nw - left,
                                cv2.BORDER_REPLICATE)
    return np.clip(square.reshape(size, size, 3), 0.0, 1.0), (left, top, nw, nh)


def segment_learned(photo: Photo, model_path: str | os.PathLike | None = None,
                    margin: float = 0.1) -> Segmentation:
    """Segment ``photo`` with the shape network's mask.

    Args:
        photo: the photo.
        model_path: the shape network's ONNX file (default: the packaged one).
        margin: the crop margin of the second pass, as in
            :func:`~lift3d.segment.crop_object` (the pipeline's crop uses 0.1 too).

    Returns:
        a :class:`Segmentation` with ``backend="learned"`` and a soft ``(H, W)``
        float32 alpha in ``[0, 1]`` at the photo's resolution.

    Raises:
        NoObjectError: the network finds no object.
        InputError: unusable network file (see :func:`lift3d.shape.learned.load_session`).
    """
    from ..shape.learned import predict

    rgb = np.asarray(photo.rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(f"photo: expected an (H, W, 3) image, got {rgb.shape}")
    h, w = rgb.shape[:2]
    s = netio.INPUT_SIZE

    # Pass 1: where is the object?
    square, (left, top, nw, nh) = letterbox(rgb, s)
    first = predict(square, model_path).mask[top:top + nh, left:left + nw]
    coarse = cv2.resize(np.ascontiguousarray(first), (w, h), interpolation=cv2.INTER_LINEAR)
    found = keep_large_components(coarse >= 0.5, min_rel=0.02)
    if not found.any():
        raise NoObjectError("no object found: the shape network sees no object in the photo")

    # Pass 2: the crop around it, at the scale the network was trained on.
    crop = crop_object(photo, Segmentation(found.astype(np.float32), "learned"), size=s,
                       margin=margin)
    second = predict(crop.rgb, model_path).mask
    x0, y0, x1, y1 = crop.box
    xa, xb = max(0, math.ceil(x0)), min(w, math.floor(x1) + 1)
    ya, yb = max(0, math.ceil(y0)), min(h, math.floor(y1) + 1)
    prob = np.zeros((h, w), dtype=np.float32)
    if xa < xb and ya < yb:
        xx, yy = np.meshgrid(np.arange(xa, xb, dtype=np.float64),
                             np.arange(ya, yb, dtype=np.float64))
        uc, vc = photo_to_crop(crop, xx, yy)
        prob[ya:yb, xa:xb] = cv2.remap(second, uc.astype(np.float32), vc.astype(np.float32),
                                       cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                       borderValue=0.0)
    keep = keep_large_components(prob >= 0.5, min_rel=0.02)
    if not keep.any():
        raise NoObjectError("no object found: the shape network's mask vanished in the crop")

    # One crop pixel spans (x1 - x0) / s photo pixels: the matting window must cover
    # that much positional error.
    r = max(matting_radius(w, h), math.ceil((x1 - x0) / s))
    near = cv2.dilate(keep.astype(np.uint8), ellipse(r)) > 0
    alpha = refine_alpha(rgb, np.where(near, prob, 0.0).astype(np.float32), radius=r)
    log.debug("learned segmentation: box %s, %d px object, matting radius %d",
              tuple(round(c, 1) for c in crop.box), int((alpha >= 0.5).sum()), r)
    return Segmentation(alpha=alpha.astype(np.float32), backend="learned")
