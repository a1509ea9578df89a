"""The ``"file"`` backend: a mask the user painted or exported elsewhere."""

from __future__ import annotations

import logging
import os

import numpy as np

from ..errors import InputError
from ..types import Photo, Segmentation
from ._masks import resize_to

logger = logging.getLogger(__name__)

#: Largest relative difference of aspect ratio (mask vs photo) that is resized away.
ASPECT_TOLERANCE = 0.01


def read_mask(mask_path: str | os.PathLike) -> np.ndarray:
    """Read a mask image as a soft mask.

    Any PIL-readable file. The value is its alpha channel when it has one that is not
    fully opaque, else its luminance. A two-valued image (e.g. 0/1 or 0/255 labels) is
    read as "non-zero = object"; otherwise values are scaled by the format's maximum
    (white = 1 = object). EXIF orientation is applied, as for photos.

    Args:
        mask_path: path of the image.

    Returns:
        ``(H, W)`` float32 in ``[0, 1]`` at the file's own size.

    Raises:
        InputError: the file is missing or unreadable (the message names ``mask_path``).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = os.fspath(mask_path)
    if not os.path.isfile(path):
        raise InputError(f"mask_path: no such file: {path}")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            im.load()
            values = _mask_values(im)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise InputError(f"mask_path: cannot read {path} as an image: {exc}") from exc
    if values.ndim != 2 or values.size == 0:
        raise InputError(f"mask_path: {path} is not a 2-D image (shape {values.shape})")
    return values


def _mask_values(im) -> np.ndarray:
    """``(H, W)`` float32 in ``[0, 1]`` from a PIL image (see :func:`read_mask`)."""
    bands = im.getbands()
    has_alpha = "A" in bands or (im.mode == "P" and "transparency" in im.info)
    if has_alpha:
        a = np.asarray(im.convert("RGBA"))[..., 3]
        if a.min() < 255:
            return _normalise(a, 255.0)
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        raw = np.asarray(im).astype(np.float64)
        top = 1.0 if im.mode == "F" else (65535.0 if raw.max() > 255 else 255.0)
        return _normalise(raw, top)
    if im.mode == "1":
        return np.asarray(im, dtype=np.float32)
    return _normalise(np.asarray(im.convert("L")), 255.0)


def _normalise(v: np.ndarray, top: float) -> np.ndarray:
    """Two-valued -> non-zero is object; otherwise scale by ``top`` into ``[0, 1]``."""
    lo, hi = float(v.min()), float(v.max())
    if hi > lo and np.count_nonzero((v != lo) & (v != hi)) == 0 and lo == 0.0:
        return (v > 0).astype(np.float32)
    return np.clip(v.astype(np.float32) / np.float32(top), 0.0, 1.0)


def load_mask_for(photo: Photo, mask_path: str | os.PathLike) -> np.ndarray:
    """Read a mask and bring it to the photo's (working) resolution.

    Args:
        photo: the photo the mask belongs to.
        mask_path: the mask image.

    Returns:
        ``(H, W)`` float32 in ``[0, 1]`` at ``photo``'s size.

    Raises:
        InputError: unreadable file, or aspect ratio off by more than 1%.
    """
    m = read_mask(mask_path)
    mh, mw = m.shape
    pw, ph = photo.width, photo.height
    ratio = (mw / mh) / (pw / ph)
    if abs(ratio - 1.0) > ASPECT_TOLERANCE:
        ow, oh = photo.original_size
        working = f" (working size {pw}x{ph})" if (ow, oh) != (pw, ph) else ""
        raise InputError(
            f"mask_path: mask is {mw}x{mh}, photo is {ow}x{oh}{working}; their aspect "
            f"ratios differ by {100.0 * abs(ratio - 1.0):.1f}% (at most "
            f"{100.0 * ASPECT_TOLERANCE:.0f}% is resized away): {os.fspath(mask_path)}"
        )
    if (mw, mh) != (pw, ph):
        logger.debug("resizing mask %dx%d to the photo's %dx%d", mw, mh, pw, ph)
        m = np.clip(resize_to(m, pw, ph), 0.0, 1.0)
    return m.astype(np.float32)


def segment_file(photo: Photo, mask_path: str | os.PathLike | None = None) -> Segmentation:
    """Use a mask image from disk.

    Args:
        photo: the photo.
        mask_path: the mask image (white / non-zero = object).

    Returns:
        a :class:`Segmentation` with ``backend="file"``.

    Raises:
        InputError: ``mask_path`` missing, unreadable or of another aspect ratio.
    """
    if mask_path is None or os.fspath(mask_path) == "":
        raise InputError("mask_path: segmentation backend 'file' needs a mask image path")
    return Segmentation(alpha=load_mask_for(photo, mask_path), backend="file")
