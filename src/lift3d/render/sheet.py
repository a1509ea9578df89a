"""Contact sheets of rendered views, and atomically written preview PNGs."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_path
from ..types import TexturedMesh
from .view import _check_size, _checked_arrays, render_view

log = logging.getLogger(__name__)

#: Names of the four canonical azimuths (degrees, see :mod:`lift3d.render.camera`).
#: "right" is the side on +X, i.e. on the viewer's right in the front view.
VIEW_NAMES: dict[int, str] = {0: "front", 90: "right", 180: "back", 270: "left"}

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_TEXT_RGB = (45, 45, 45)
_PAPER = 255


def view_name(azimuth_deg: float) -> str:
    """``"front"``, ``"right"``, ``"back"``, ``"left"`` for 0/90/180/270 (mod 360),
    else ``"az <deg>"``."""
    a = float(azimuth_deg) % 360.0
    if a.is_integer() and int(a) in VIEW_NAMES:
        return VIEW_NAMES[int(a)]
    return f"az {float(azimuth_deg):g}"


def _text_strip(
    text: str, width: int, height: int, *, align: str = "center", thickness: int = 1
) -> np.ndarray:
    """A white ``(height, width, 3)`` uint8 strip with ``text`` drawn in dark grey.

    The font scale follows the strip's height; text too wide is cut and ends in
    ``...``. Hershey fonts are ASCII only: other characters become ``?``.
    """
    strip = np.full((height, width, 3), _PAPER, dtype=np.uint8)
    text = text.encode("ascii", "replace").decode("ascii").replace("\n", " ")
    if not text or width < 8 or height < 6:
        return strip
    scale = max(0.25, 0.55 * height / 22.0)
    margin = max(2, height // 5)
    room = width - 2 * margin

    def measure(s: str) -> tuple[int, int, int]:
        (w, h), base = cv2.getTextSize(s, _FONT, scale, thickness)
        return w, h, base

    w, h, base = measure(text)
    if w > room:
        lo, hi = 0, len(text)
        while lo < hi:  # longest prefix that fits with the ellipsis
            mid = (lo + hi + 1) // 2
            if measure(text[:mid] + "...")[0] <= room:
                lo = mid
            else:
                hi = mid - 1
        text = text[:lo] + "..."
        w, h, base = measure(text)
    x = margin if align == "left" else max(margin, (width - w) // 2)
    y = (height + h) // 2
    cv2.putText(strip, text, (x, y), _FONT, scale, _TEXT_RGB, thickness, cv2.LINE_AA)
    return strip


def _label_height(cell: int) -> int:
    return max(14, int(round(cell * 0.07)))


def turntable_sheet(
    mesh: TexturedMesh,
    size: int = 384,
    azimuths: Sequence[float] = (0, 90, 180, 270),
    elevation_deg: float = 15.0,
    title: str | None = None,
) -> np.ndarray:
    """Views of ``mesh`` from several azimuths, two per row, each captioned.

    With the default four azimuths the sheet is 2 x 2: front, right (+X) / back, left
    (-X), all at the same scale. Captions sit in a strip of ``max(14, 0.07 * size)``
    pixels under each view; a ``title``, when given, gets a strip of
    ``max(18, 0.09 * size)`` pixels on top.

    Args:
        mesh: the textured mesh (glTF frame).
        size: side of each view in pixels.
        azimuths: camera azimuths in degrees (see :func:`render_view`); at least one.
        elevation_deg: camera elevation for every view.
        title: optional line of text printed above the views.

    Returns:
        ``(rows * (size + label) [+ title], cols * size, 3)`` uint8 RGB, with
        ``cols = min(2, len(azimuths))`` and ``rows = ceil(len(azimuths) / 2)``.
        For the defaults: ``(2 * size + 2 * label [+ title], 2 * size, 3)``.

    Raises:
        InputError: (a ``ValueError``) for an empty or malformed ``mesh``, a bad
            ``size`` or an empty ``azimuths``.
    """
    _checked_arrays(mesh, "turntable_sheet")
    size = _check_size(size)
    azimuths = list(azimuths)
    if not azimuths:
        raise InputError("turntable_sheet: argument 'azimuths' is empty")
    cols = min(2, len(azimuths))
    rows = math.ceil(len(azimuths) / cols)
    lh = _label_height(size)
    th = max(18, int(round(size * 0.09))) if title else 0
    sheet = np.full((th + rows * (size + lh), cols * size, 3), _PAPER, dtype=np.uint8)
    if title:
        sheet[:th] = _text_strip(title, cols * size, th, align="left")
    for k, az in enumerate(azimuths):
        r, c = divmod(k, cols)
        y = th + r * (size + lh)
        x = c * size
        sheet[y : y + size, x : x + size] = render_view(mesh, az, elevation_deg, size)
        sheet[y + size : y + size + lh, x : x + size] = _text_strip(view_name(az), size, lh)
    return sheet


def write_preview(
    mesh: TexturedMesh, path: str | os.PathLike[str], size: int = 384, title: str | None = None
) -> Path:
    """Write the 2 x 2 :func:`turntable_sheet` of ``mesh`` as a PNG, atomically.

    Written through :func:`lift3d.io.atomic.atomic_path`: readers never see a
    half-written file, and nothing is left behind on error.

    Args:
        mesh: the textured mesh (glTF frame).
        path: destination file; its directory must exist. Written as PNG whatever the
            suffix.
        size: side of each view in pixels.
        title: optional title line.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: (a ``ValueError``) for an empty or malformed ``mesh``.
        OutputError: (an ``OSError``) when the file cannot be written.
    """
    from PIL import Image

    _checked_arrays(mesh, "write_preview")
    path = Path(path)
    if path.suffix.lower() != ".png":
        log.warning("write_preview: %s does not end in .png; writing PNG anyway", path)
    sheet = turntable_sheet(mesh, size=size, title=title)
    with atomic_path(path) as tmp:
        Image.fromarray(sheet, mode="RGB").save(tmp, format="PNG")
    return path


def _as_rgb_uint8(image: np.ndarray, index: int) -> np.ndarray:
    """Any ``(H, W)``, ``(H, W, 1|3|4)`` uint8 or float-in-[0, 1] image as
    ``(H, W, 3)`` uint8 (alpha composited over white)."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise InputError(
            f"contact_sheet: images[{index}] must be (H, W), (H, W, 1|3|4), got {a.shape}"
        )
    if a.dtype == np.uint8:
        f = a.astype(np.float32) / 255.0
    elif a.dtype == np.bool_:
        f = a.astype(np.float32)
    else:
        f = np.nan_to_num(a.astype(np.float32), nan=0.0)
        f = np.clip(f, 0.0, 1.0)
    if f.shape[2] == 1:
        f = np.repeat(f, 3, axis=2)
    elif f.shape[2] == 4:
        alpha = f[..., 3:4]
        f = f[..., :3] * alpha + (1.0 - alpha)
    return np.clip(f * 255.0 + 0.5, 0, 255).astype(np.uint8)


def contact_sheet(
    images: list[np.ndarray], labels: list[str], columns: int = 6, cell: int = 256
) -> np.ndarray:
    """A grid of images, each fitted into a ``cell x cell`` square with a caption under.

    Images keep their aspect ratio and are centred on white; they may be uint8 or
    float in ``[0, 1]``, grey ``(H, W)`` or ``(H, W, 1)``, RGB, or RGBA (composited
    over white). Captions too long for the cell are cut with ``...``.

    Args:
        images: the images, in reading order (left to right, top to bottom).
        labels: one caption per image.
        columns: images per row (the sheet is narrower when there are fewer images).
        cell: side of each image square in pixels.

    Returns:
        ``(rows * (cell + label), cols * cell, 3)`` uint8 RGB with
        ``cols = min(columns, len(images))``, ``rows = ceil(len(images) / cols)`` and
        ``label = max(14, round(0.07 * cell))``.

    Raises:
        InputError: (a ``ValueError``) when ``images`` is empty, ``labels`` does not
            match it, or ``columns``/``cell`` are out of range.
    """
    images = list(images)
    labels = list(labels)
    if not images:
        raise InputError("contact_sheet: argument 'images' is empty")
    if len(labels) != len(images):
        raise InputError(
            f"contact_sheet: argument 'labels' has {len(labels)} entries for "
            f"{len(images)} images"
        )
    if isinstance(columns, bool) or int(columns) != columns or columns < 1:
        raise InputError(f"contact_sheet: argument 'columns' must be >= 1, got {columns!r}")
    if isinstance(cell, bool) or int(cell) != cell or cell < 16:
        raise InputError(f"contact_sheet: argument 'cell' must be an integer >= 16, got {cell!r}")
    cell = int(cell)
    cols = min(int(columns), len(images))
    rows = math.ceil(len(images) / cols)
    lh = _label_height(cell)
    sheet = np.full((rows * (cell + lh), cols * cell, 3), _PAPER, dtype=np.uint8)
    for k, (img, label) in enumerate(zip(images, labels, strict=True)):
        rgb = _as_rgb_uint8(img, k)
        h, w = rgb.shape[:2]
        scale = cell / max(h, w)
        nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
        if (nh, nw) != (h, w):
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            rgb = cv2.resize(rgb, (nw, nh), interpolation=interp)
        r, c = divmod(k, cols)
        y, x = r * (cell + lh), c * cell
        oy, ox = (cell - nh) // 2, (cell - nw) // 2
        sheet[y + oy : y + oy + nh, x + ox : x + ox + nw] = rgb
        sheet[y + cell : y + cell + lh, x : x + cell] = _text_strip(str(label), cell, lh)
    return sheet
