"""Decode photos into :class:`~lift3d.types.Photo`: formats, bit depths, EXIF, size guards."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..types import Photo

log = logging.getLogger(__name__)

#: Formats Pillow decodes that lift3d accepts, by Pillow's format name.
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "MPO")

#: Decompression-bomb guard: refuse images with more pixels than this (400 MP images
#: exist only as attacks or scans; 150 MP covers every phone and most DSLRs).
DEFAULT_MAX_PIXELS = 150_000_000

#: Photos are downscaled early so their longer side is at most this many pixels.
DEFAULT_MAX_SIDE = 2048


def load_photo(
    source: str | os.PathLike | np.ndarray,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Photo:
    """Read a photo from a file or an array.

    Args:
        source: a path to a JPEG, PNG, WebP, TIFF or BMP file (8 or 16 bit, greyscale,
            colour, palette, with or without alpha), or an ``(H, W)``, ``(H, W, 3)``
            or ``(H, W, 4)`` array: uint8, uint16, or float in ``[0, 1]``.
        max_side: downscale so the longer side is at most this many pixels.
        max_pixels: refuse images with more pixels than this (decompression bombs).

    Returns:
        a :class:`Photo`, upright (the EXIF orientation applied).

    Raises:
        InputError: missing, empty, truncated or undecodable file; an unsupported
            format; an image over ``max_pixels``; a malformed array.
    """
    if isinstance(source, np.ndarray):
        return _photo_from_array(source, "<array>", max_side=max_side, max_pixels=max_pixels)
    return _photo_from_file(Path(source), max_side=max_side, max_pixels=max_pixels)


def _photo_from_file(path: Path, *, max_side: int, max_pixels: int) -> Photo:
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not path.exists():
        raise InputError(f"image: file not found: {path}")
    if path.is_dir():
        raise InputError(f"image: {path} is a directory, not an image file")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"image: {path} is empty (0 bytes)")

    try:
        with warnings.catch_warnings():
            # Pillow warns above its own limit; lift3d applies max_pixels itself.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            saved_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                im = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved_limit
    except UnidentifiedImageError as exc:
        raise InputError(f"image: {path} is not an image lift3d can read "
                         f"(supported: JPEG, PNG, WebP, TIFF, BMP)") from exc
    except OSError as exc:
        raise InputError(f"image: cannot read {path}: {exc}") from exc

    with im:
        fmt = (im.format or "").upper()
        if fmt not in SUPPORTED_FORMATS:
            raise InputError(f"image: {path} is {fmt or 'an unknown format'}; "
                             "supported: JPEG, PNG, WebP, TIFF, BMP")
        w, h = im.size
        if w * h > max_pixels:
            raise InputError(
                f"image: {path} is {w}x{h} ({w * h / 1e6:.0f} MP), over the "
                f"{max_pixels / 1e6:.0f} MP limit (decompression-bomb guard)"
            )
        if w < 8 or h < 8:
            raise InputError(f"image: {path} is only {w}x{h} pixels; need at least 8x8")
        try:
            if fmt == "JPEG" and max(w, h) > 2 * max_side:
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: far less memory and time.
                im.draft("RGB", (max(1, w * max_side // max(w, h)),
                                 max(1, h * max_side // max(w, h))))
            im.load()
            im = ImageOps.exif_transpose(im)
            orig = _oriented_size(w, h, im)
            arr = _pil_to_array(im)
        except InputError:
            raise
        except (OSError, SyntaxError, ValueError) as exc:
            raise InputError(f"image: {path} is truncated or corrupt ({exc})") from exc
    return _photo_from_array(arr, str(path), max_side=max_side, max_pixels=max_pixels,
                             original_size=orig)


def _oriented_size(w: int, h: int, im) -> tuple[int, int]:
    """Original size after EXIF orientation (draft decoding may have shrunk ``im``)."""
    if (im.size[0] > im.size[1]) != (w > h) and w != h:
        return h, w
    return w, h


def _pil_to_array(im) -> np.ndarray:
    """Any Pillow mode to float32 ``(H, W, 3)`` or ``(H, W, 4)`` in ``[0, 1]``."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0
        g = np.clip(a / peak, 0, 1).astype(np.float32)
        return np.repeat(g[..., None], 3, axis=2)
    if mode == "F":
        g = np.asarray(im, dtype=np.float32)
        g = g / max(float(g.max()), 1e-6) if g.max() > 1 else g
        return np.repeat(np.clip(g, 0, 1)[..., None], 3, axis=2)
    if mode.endswith(";16"):
        im = im.convert("RGBA" if "A" in mode else "RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        mode == "P" and "transparency" in im.info
    )
    im = im.convert("RGBA" if has_alpha else "RGB")
    return np.asarray(im, dtype=np.float32) / 255.0


def _photo_from_array(
    arr: np.ndarray,
    source: str,
    *,
    max_side: int,
    max_pixels: int,
    original_size: tuple[int, int] | None = None,
) -> Photo:
    import cv2

    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise InputError(f"image: array must be (H, W), (H, W, 3) or (H, W, 4); got {a.shape}")
    h, w = a.shape[:2]
    if h < 8 or w < 8:
        raise InputError(f"image: array is only {w}x{h} pixels; need at least 8x8")
    if h * w > max_pixels:
        raise InputError(f"image: {w}x{h} is over the {max_pixels / 1e6:.0f} MP limit")
    if a.dtype == np.uint8:
        f = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        f = a.astype(np.float32) / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise InputError("image: array contains NaN or infinite values")
        f = np.clip(a.astype(np.float32), 0.0, 1.0)
    else:
        raise InputError(f"image: unsupported array dtype {a.dtype}; use uint8, uint16 or float")
    c = f.shape[2]
    if c in (1, 2):
        rgb = np.repeat(f[..., :1], 3, axis=2)
        alpha = f[..., 1] if c == 2 else None
    else:
        rgb = f[..., :3]
        alpha = f[..., 3] if c == 4 else None
    if alpha is not None and float(alpha.min()) >= 0.999:
        alpha = None  # fully opaque: no information
    if original_size is None:
        original_size = (w, h)

    scale = max_side / max(h, w)
    if scale < 1.0:
        nw, nh = max(8, round(w * scale)), max(8, round(h * scale))
        rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
        if alpha is not None:
            alpha = cv2.resize(alpha, (nw, nh), interpolation=cv2.INTER_AREA)
        log.info("downscaled %s from %dx%d to %dx%d", source, w, h, nw, nh)
    rgb = np.ascontiguousarray(rgb, dtype=np.float32)
    if alpha is not None:
        alpha = np.ascontiguousarray(np.clip(alpha, 0, 1), dtype=np.float32)
        # Colour under fully transparent pixels is arbitrary (often black); composite
        # on white so downstream filters do not bleed it into the object's edge.
        rgb = rgb * alpha[..., None] + (1.0 - alpha[..., None])
    return Photo(rgb=rgb, alpha=alpha, source=source, original_size=tuple(original_size))
