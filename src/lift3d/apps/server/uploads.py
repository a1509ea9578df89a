"""Checks on uploaded files: names, media types against magic bytes, image sizes.

Nothing an upload says about itself is trusted: the stored name is made here, the
type comes from the bytes (the declared ``Content-Type`` must agree), and an image is
decoded in full (truncation) after its pixel count is read from the header
(decompression bombs).
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

#: Declared media types accepted, and the kind of bytes each must hold.
DECLARED: dict[str, str] = {
    "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/pjpeg": "jpeg",
    "image/png": "png", "image/webp": "webp",
    "video/mp4": "iso-video", "video/quicktime": "iso-video", "video/x-m4v": "iso-video",
    "video/webm": "matroska", "video/x-matroska": "matroska",
    "video/x-msvideo": "avi", "video/avi": "avi",
}
#: Types a client may send when it does not know; the bytes then decide.
GENERIC = ("application/octet-stream", "")

#: kind -> (media type stored, file extension, is a video)
KINDS: dict[str, tuple[str, str, bool]] = {
    "jpeg": ("image/jpeg", ".jpg", False),
    "png": ("image/png", ".png", False),
    "webp": ("image/webp", ".webp", False),
    "iso-video": ("video/mp4", ".mp4", True),
    "matroska": ("video/webm", ".webm", True),
    "avi": ("video/x-msvideo", ".avi", True),
}


class UploadRejected(Exception):
    """An upload fails a check. ``status`` is the HTTP status, ``code`` the error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Sniffed:
    """What an upload's bytes are.

    Attributes:
        kind: a key of :data:`KINDS`.
        media_type: the media type to record, e.g. ``"image/png"``.
        extension: the extension to store it under, e.g. ``".png"``.
        video: True for a video container.
    """

    kind: str
    media_type: str
    extension: str
    video: bool


def sniff(head: bytes) -> str | None:
    """The kind (a key of :data:`KINDS`) of a file from its first bytes, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "iso-video"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    return None


def check_type(declared: str | None, head: bytes, name: str) -> Sniffed:
    """The upload's kind, from its bytes, checked against its declared media type.

    Raises:
        UploadRejected: 415 when the declared type is not accepted, the bytes are of
            no accepted kind, or the two disagree.
    """
    decl = (declared or "").split(";")[0].strip().lower()
    if decl not in DECLARED and decl not in GENERIC:
        raise UploadRejected(415, "unsupported_type",
                             f"{name}: content type {decl!r} is not accepted; send JPEG, PNG "
                             f"or WebP images, or an MP4, MOV, WebM or AVI video")
    kind = sniff(head)
    if kind is None:
        raise UploadRejected(415, "unsupported_type",
                             f"{name}: the file is not a JPEG, PNG or WebP image, nor an MP4, "
                             f"MOV, WebM or AVI video (its first bytes say otherwise)")
    if decl in DECLARED and DECLARED[decl] != kind:
        raise UploadRejected(415, "unsupported_type",
                             f"{name}: declared as {decl} but the bytes are "
                             f"{KINDS[kind][0]}")
    media, ext, video = KINDS[kind]
    return Sniffed(kind, media, ext, video)


_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def sanitize_filename(name: str | None, default: str = "upload") -> str:
    """A client file name made safe to show and to use as a path component.

    Directories (``/``, ``\\``) are dropped, Unicode is folded to ASCII, anything but
    letters, digits, ``. _ -`` and spaces becomes ``_``, leading dots go (no hidden
    files, no ``..``) and the result is at most 100 characters. Empty -> ``default``.
    """
    base = re.split(r"[/\\]", name or "")[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    base = _UNSAFE.sub("_", base).strip().lstrip(".").strip()
    if len(base) > 100:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 100 - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else base[:100]
    return base or default


def check_image(path: Path | BinaryIO, name: str, max_pixels: int) -> tuple[int, int]:
    """Decode the image at ``path`` (or in an open file) in full; returns ``(width, height)``.

    Raises:
        UploadRejected: 413 over ``max_pixels`` (read from the header, before any
            decoding); 422 when truncated or undecodable.
    """
    from PIL import Image, ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        # Pillow's own bomb guard would warn first and fail only at twice its limit;
        # ours is checked from the header, before the pixels are decoded.
        with warnings.catch_warnings():
            # The header is read before our limit is checked; Pillow's warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            w, h = im.size
            if w * h > max_pixels:
                raise UploadRejected(413, "too_large",
                                     f"{name}: {w}x{h} = {w * h:,} pixels; the limit is "
                                     f"{max_pixels:,}")
            im.load()
    except UploadRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise UploadRejected(413, "too_large", f"{name}: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        reason = "truncated" if "truncated" in str(exc).lower() else "undecodable"
        raise UploadRejected(422, "invalid_image",
                             f"{name}: the image is {reason} ({' '.join(str(exc).split())})"
                             ) from None
    return int(w), int(h)
