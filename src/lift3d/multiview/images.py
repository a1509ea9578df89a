"""Photos for the dense stages: decoded as COLMAP saw them, undistorted, resized."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from .types import View

#: EXIF orientation -> the image's true "up" as a camera-frame direction of the raw
#: pixels (OpenCV frame: +y is down the raw image). 2, 4, 5 and 7 are mirrored
#: variants and share the up of their unmirrored twin.
_UP_OF_ORIENTATION: dict[int, tuple[float, float, float]] = {
    1: (0, -1, 0), 2: (0, -1, 0), 3: (0, 1, 0), 4: (0, 1, 0),
    5: (-1, 0, 0), 6: (-1, 0, 0), 7: (1, 0, 0), 8: (1, 0, 0),
}


def exif_up(path: Path) -> np.ndarray:
    """``(3,)`` camera-frame direction of the photo's true up, from its EXIF orientation
    (COLMAP works on the raw, unrotated pixels; a portrait phone photo is stored on
    its side)."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            orientation = int(im.getexif().get(274, 1))
    except Exception:  # noqa: BLE001 - no EXIF is the common case
        orientation = 1
    return np.array(_UP_OF_ORIENTATION.get(orientation, (0, -1, 0)), dtype=np.float64)


def working_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """``(w, h)`` with the long side at most ``max_side``, aspect kept."""
    s = min(1.0, max_side / max(width, height))
    return max(1, round(width * s)), max(1, round(height * s))


def load_undistorted(path: Path, view: View, distortion: np.ndarray,
                     max_side: int) -> tuple[np.ndarray, View]:
    """Read a registered photo, undistort it and resize it.

    Args:
        path: the image file (raw pixels are used, EXIF orientation ignored, as COLMAP).
        view: its registered view at full resolution.
        distortion: OpenCV ``(k1, k2, p1, p2)`` of the original photo.
        max_side: long side of the result, pixels.

    Returns:
        ``(image (h, w, 3) uint8 sRGB, view at (w, h))``; the image is pinhole with
        that view's intrinsics.
    """
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None:
        raise InputError(f"{path}: cannot be read as an image any more")
    if (bgr.shape[1], bgr.shape[0]) != (view.width, view.height):
        raise InputError(f"{path}: is {bgr.shape[1]}x{bgr.shape[0]} pixels but was "
                         f"registered at {view.width}x{view.height}; was it changed?")
    w, h = working_size(view.width, view.height, max_side)
    small = view.scaled(w, h)
    if (w, h) != (view.width, view.height):
        bgr = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
    dist = np.asarray(distortion, dtype=np.float64)
    if np.any(dist != 0):
        K = small.K
        mx, my = cv2.initUndistortRectifyMap(K, dist, None, K, (w, h), cv2.CV_32FC1)
        bgr = cv2.remap(bgr, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(bgr[:, :, ::-1]), small
