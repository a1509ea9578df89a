"""Input gathering for ``lift3d photos``: a folder of photos or a video, as image files.

:func:`gather_images` turns what the user gave into an :class:`InputImages`: the
readable images in natural order (``img2`` before ``img10``) with their sizes, and the
files that were skipped with the reason why.

* A **folder** is read non-recursively. Files with an image suffix are fully decoded
  (a truncated JPEG only shows when its last rows are decoded); unreadable ones are
  skipped with a warning. Other files (``K.txt``, ``.ply``) and hidden files are
  ignored silently.
* A **video** is sampled by :func:`sample_video` into ``frame_000123.jpg`` files (the
  number is the frame's index in the stream) in a work folder, with a ``frames.json``
  manifest so a second run on the same video reuses them without decoding again.

Frame selection follows what photogrammetry needs: viewpoints spread evenly along the
camera's path, each as sharp as possible. Pass 1 reads the stream at about 320 px wide
in gray and measures each frame's sharpness (variance of the Laplacian) and its image
motion from the previous frame (median sparse optical flow; phase correlation on
textureless frames). The path is split into ``max_frames`` segments of equal
*cumulative motion*, so a camera resting for ten seconds adds no more frames than one
moving for a moment. Each segment gives one frame: of those nearly as sharp as its
sharpest, the one nearest its middle (frames much blurrier than their neighbours are
never picked). A pick barely any motion away from the previous one is a duplicate
viewpoint and dropped.
Pass 2 reads the stream again and writes only the picked frames, so full frames are
never all held in memory.

Sizes are ``(width, height)`` of the pixels as stored: EXIF orientation is not applied,
because COLMAP reads raw pixels too.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import InputError, OutputError, one_line
from ..io.atomic import atomic_path, atomic_write_bytes

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "InputImages",
    "Skipped",
    "gather_images",
    "natural_key",
    "sample_video",
    "select_frames",
    "sharpness",
]

log = logging.getLogger(__name__)

#: Suffixes (lower case) of the image files a folder is searched for.
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
#: Suffixes (lower case) that mark a file as a video.
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")

#: Name of the manifest :func:`sample_video` writes beside the frames it picked.
MANIFEST_NAME = "frames.json"
# Bump when the selection changes, so old work folders are sampled again.
_SELECTOR_VERSION = 1

#: Width (pixels) of the gray frames pass 1 measures sharpness and motion on.
ANALYSIS_WIDTH = 320
#: JPEG quality of the written frames (high: COLMAP matches features on them).
JPEG_QUALITY = 95

# Motion below this (pixels at ANALYSIS_WIDTH) is decoding noise, not a camera move.
_MOTION_NOISE_PX = 0.1
# A video whose camera moves less than this in total (pixels at ANALYSIS_WIDTH) shows
# one viewpoint: only its sharpest frame is kept.
_STILL_TOTAL_PX = 2.0
# Segments are never shorter than this much motion (pixels at ANALYSIS_WIDTH): closer
# viewpoints add matching work and no geometry.
_MIN_STEP_PX = 1.5
# A pick closer than this fraction of a segment's motion to the previous pick is a
# duplicate viewpoint.
_DUPLICATE_FRACTION = 0.35
# A frame less sharp than this fraction of the median of the _BLUR_WINDOW frames
# around it is blurred (motion blur, refocusing) and never picked.
_BLUR_FRACTION = 0.5
_BLUR_WINDOW = 15
# Frames at least this fraction as sharp as a segment's sharpest count as sharp enough.
_NEAR_SHARPEST = 0.8
# Fewer tracked corners than this and the flow is not trusted (textureless frame).
_MIN_TRACKS = 8

# Pass 1 (decode, measure) takes about this share of the video's progress bar.
_PASS1_SHARE = 0.7

ProgressCallback = Callable[[float], None]


@dataclass(frozen=True)
class Skipped:
    """A file with an image suffix that could not be used.

    Attributes:
        name: file name (no folder).
        reason: why, for people, e.g. ``"not a readable image (image file is truncated)"``.
    """

    name: str
    reason: str


@dataclass(frozen=True)
class InputImages:
    """The images a photogrammetry run works on.

    Attributes:
        source: the path the user gave (folder or video file).
        kind: ``"folder"`` or ``"video"``.
        paths: readable image files, natural sort order (``img2`` before ``img10``).
        sizes: ``(width, height)`` in pixels of each of ``paths``, as stored (EXIF
            orientation not applied).
        skipped: files with an image suffix that could not be decoded (folders only).
        frame_indices: for a video, the index in the stream of each of ``paths``;
            None for a folder.
    """

    source: Path
    kind: Literal["folder", "video"]
    paths: tuple[Path, ...]
    sizes: tuple[tuple[int, int], ...]
    skipped: tuple[Skipped, ...] = ()
    frame_indices: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.sizes) != len(self.paths):
            raise ValueError(f"InputImages: {len(self.paths)} paths but {len(self.sizes)} sizes")
        if self.frame_indices is not None and len(self.frame_indices) != len(self.paths):
            raise ValueError(f"InputImages: {len(self.paths)} paths but "
                             f"{len(self.frame_indices)} frame indices")

    @property
    def mixed_sizes(self) -> bool:
        """True when the images do not all have the same ``(width, height)``."""
        return len(set(self.sizes)) > 1

    @property
    def names(self) -> tuple[str, ...]:
        """File names of ``paths``."""
        return tuple(p.name for p in self.paths)


# ---------------------------------------------------------------------------- helpers


def natural_key(name: str) -> tuple:
    """Sort key putting ``img2`` before ``img10`` (digit runs compare as numbers).

    Case-insensitive; the name itself breaks ties so the order is total.
    """
    # re.split with a capturing group alternates text, digits, text, ...: the
    # element types line up between names, so the lists always compare.
    parts = re.split(r"(\d+)", name.lower())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name


def _quoted(path: Path) -> str:
    return f"'{path}'"


class _Progress:
    """Calls ``progress`` with a fraction in [0, 1], never decreasing, at most ~200 times."""

    def __init__(self, progress: ProgressCallback | None) -> None:
        self._cb = progress
        self._last = -1.0

    def __call__(self, fraction: float, force: bool = False) -> None:
        if self._cb is None:
            return
        f = min(max(float(fraction), 0.0), 1.0)
        if f >= 1.0 or force or f - self._last >= 0.005:
            if f > self._last:
                self._last = f
                self._cb(f)


def _check_image(path: Path) -> tuple[int, int] | str:
    """Decode ``path`` fully; its ``(width, height)``, or the reason it is unusable."""
    import cv2
    from PIL import Image, UnidentifiedImageError

    try:
        if path.stat().st_size == 0:
            return "not an image file (empty file)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    try:
        with Image.open(path) as im:
            size = (int(im.width), int(im.height))
            # Only a full decode finds a truncated or corrupt JPEG; Pillow refuses to
            # return a partly decoded image where OpenCV would pad it with grey.
            im.load()
        return size
    except (UnidentifiedImageError, Image.DecompressionBombError):
        pass  # Pillow cannot (or will not) read it: ask OpenCV below.
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow knows the format, so the data itself is broken.
        return f"not a readable image ({one_line(exc, 120)})"
    flags = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
    img = cv2.imread(str(path), flags)
    if img is None or img.size == 0:
        return "not an image file (neither Pillow nor OpenCV can decode it)"
    return int(img.shape[1]), int(img.shape[0])


def _is_image_file(path: Path) -> bool:
    """True when Pillow recognises ``path``'s content as an image (header only)."""
    from PIL import Image

    try:
        with Image.open(path):
            return True
    except Exception:  # noqa: BLE001 - any failure means "not an image we know"
        return False


# ----------------------------------------------------------------------- frame metrics


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian of a gray image: higher is sharper.

    Args:
        gray: ``(H, W)`` float32 gray image (any range; the value scales with the
            range squared, so compare only frames on the same scale). Other dtypes are
            converted to float32.

    Returns:
        The variance of the 3x3 Laplacian over the whole image, a float >= 0.
    """
    import cv2

    g = np.asarray(gray)
    if g.ndim != 2 or g.shape[0] < 3 or g.shape[1] < 3:
        raise InputError(f"sharpness: gray must be a 2-D image of at least 3x3, "
                         f"got shape {g.shape}")
    lap = cv2.Laplacian(np.ascontiguousarray(g, dtype=np.float32), cv2.CV_32F, ksize=1)
    return float(lap.var(dtype=np.float64))


def _small_gray(frame: np.ndarray) -> np.ndarray:
    """``(H, W, 3|4)`` or ``(H, W)`` uint8 BGR frame to uint8 gray ~ANALYSIS_WIDTH wide."""
    import cv2

    if frame.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if frame.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        gray = cv2.cvtColor(frame, code)
    else:
        gray = frame
    if gray.dtype != np.uint8:  # 16-bit streams: keep the top 8 bits
        gray = (gray.astype(np.float32) * (255.0 / max(float(np.iinfo(gray.dtype).max), 1.0))
                ).astype(np.uint8)
    h, w = gray.shape
    if w > ANALYSIS_WIDTH:
        s = ANALYSIS_WIDTH / w
        gray = cv2.resize(gray, (ANALYSIS_WIDTH, max(1, round(h * s))),
                          interpolation=cv2.INTER_AREA)
    return gray


def _motion(prev: np.ndarray, cur: np.ndarray) -> float:
    """Image motion between two uint8 gray frames of one size, in pixels.

    The median length of sparse optical flow vectors: robust to a few moving things
    in a still scene and to parallax. Frames with too few corners to track fall back
    to the global shift found by phase correlation.
    """
    import cv2

    pts = cv2.goodFeaturesToTrack(prev, maxCorners=200, qualityLevel=0.01, minDistance=7,
                                  blockSize=7)
    if pts is not None and len(pts) >= _MIN_TRACKS:
        nxt, status, _err = cv2.calcOpticalFlowPyrLK(
            prev, cur, pts, None, winSize=(21, 21), maxLevel=3,
            criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
        ok = status.reshape(-1) == 1
        if int(ok.sum()) >= _MIN_TRACKS:
            d = (nxt - pts).reshape(-1, 2)[ok]
            return float(np.median(np.hypot(d[:, 0], d[:, 1])))
    a = prev.astype(np.float32)
    b = cur.astype(np.float32)
    if float(np.abs(a - b).max(initial=0.0)) == 0.0:
        return 0.0
    win = cv2.createHanningWindow((a.shape[1], a.shape[0]), cv2.CV_32F)
    (dx, dy), _response = cv2.phaseCorrelate(a, b, win)
    return float(math.hypot(dx, dy))


def select_frames(sharp: Sequence[float] | np.ndarray, motion: Sequence[float] | np.ndarray,
                  max_frames: int) -> list[int]:
    """Pick up to ``max_frames`` sharp frames spread evenly along the camera's motion.

    Args:
        sharp: ``(N,)`` sharpness of each frame (higher is sharper), e.g. :func:`sharpness`.
        motion: ``(N,)`` image motion of each frame from the previous one, pixels at
            :data:`ANALYSIS_WIDTH` (``motion[0]`` is ignored).
        max_frames: the most frames to pick, >= 1.

    Returns:
        Increasing frame indices, at most ``max_frames``. The motion is split into
        ``max_frames`` segments of equal cumulative motion (fewer when the whole path
        is short); each segment gives, among its frames nearly as sharp as its sharpest,
        the one nearest its middle. Frames much blurrier than their neighbours are
        never picked (a segment of only such frames gives none: its neighbours' sharp
        frames see nearly the same), and a pick barely any motion away from the
        previous one is a duplicate viewpoint: the sharper of the two stays. A video
        with hardly any motion gives its single sharpest frame.
    """
    from scipy.ndimage import median_filter

    s = np.asarray(sharp, dtype=np.float64).reshape(-1).copy()
    m = np.asarray(motion, dtype=np.float64).reshape(-1).copy()
    n = len(s)
    if len(m) != n:
        raise ValueError(f"select_frames: {n} sharpness values but {len(m)} motions")
    if max_frames < 1:
        raise ValueError(f"select_frames: max_frames must be >= 1, got {max_frames}")
    if n == 0:
        return []
    m[0] = 0.0
    m[~np.isfinite(m)] = 0.0
    s[~np.isfinite(s)] = 0.0
    m[m < _MOTION_NOISE_PX] = 0.0  # a still camera must add no motion at all
    cum = np.cumsum(m)
    total = float(cum[-1])
    if total < _STILL_TOTAL_PX:
        return [int(np.argmax(s))]
    # Blur is judged against the frame's neighbours, not an absolute threshold: how
    # sharp a frame can be depends on the scene, the lens and the compression.
    local = median_filter(s, size=_BLUR_WINDOW, mode="nearest")
    usable = s >= _BLUR_FRACTION * local
    n_seg = int(min(max_frames, n, max(1, math.floor(total / _MIN_STEP_PX))))
    step = total / n_seg
    seg = np.minimum((cum / step).astype(np.int64), n_seg - 1)
    picks: list[int] = []
    # Segment boundaries in frame order (seg is non-decreasing since motion >= 0).
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    ends = np.r_[starts[1:], n]
    min_gap = _DUPLICATE_FRACTION * step
    for a, b in zip(starts, ends, strict=True):
        idx = np.arange(a, b)[usable[a:b]]
        if len(idx) == 0:
            continue
        # Among the frames nearly as sharp as the sharpest, the one nearest the middle
        # of the segment: spacing stays even without giving up sharpness.
        near_best = idx[s[idx] >= _NEAR_SHARPEST * s[idx].max()]
        middle = (seg[a] + 0.5) * step
        best = int(near_best[np.argmin(np.abs(cum[near_best] - middle))])
        if not picks or cum[best] - cum[picks[-1]] >= min_gap:
            picks.append(best)
        elif s[best] > s[picks[-1]] and (len(picks) < 2 or cum[best] - cum[picks[-2]] >= min_gap):
            picks[-1] = best  # duplicate viewpoint: keep the sharper of the two
    return picks


# ------------------------------------------------------------------------------ video


def _open_video(video: Path):
    """``cv2.VideoCapture`` on ``video`` (FFmpeg first), or None when it cannot open."""
    import cv2

    # FFmpeg explicitly: CAP_ANY would read a name with '%' as an image-sequence pattern.
    for api in (cv2.CAP_FFMPEG, cv2.CAP_ANY):
        try:
            cap = cv2.VideoCapture(str(video), api)
        except cv2.error:
            continue
        if cap.isOpened():
            return cap
        cap.release()
    return None


def _video_stamp(video: Path, max_frames: int) -> dict:
    st = video.stat()
    return {"version": _SELECTOR_VERSION, "video": video.name, "video_bytes": st.st_size,
            "video_mtime_ns": st.st_mtime_ns, "max_frames": max_frames}


def _frame_name(index: int) -> str:
    return f"frame_{index:06d}.jpg"


_FRAME_RE = re.compile(r"^frame_\d{6,}\.jpg$")


def _read_manifest(out_dir: Path, stamp: dict | None = None
                   ) -> tuple[list[Path], list[int], list[tuple[int, int]]] | None:
    """``(paths, indices, sizes)`` a previous call wrote, if ``stamp`` matches (when
    given) and every frame file is intact; else None."""
    try:
        data = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        if stamp is not None and any(data.get(k) != v for k, v in stamp.items()):
            return None
        indices = [int(i) for i in data["frames"]]
        nbytes = [int(b) for b in data["bytes"]]
        sizes = [(int(w), int(h)) for w, h in data["sizes"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not indices or not len(indices) == len(nbytes) == len(sizes):
        return None
    paths = [out_dir / _frame_name(i) for i in indices]
    for p, b in zip(paths, nbytes, strict=True):
        try:
            if p.stat().st_size != b:
                return None
        except OSError:
            return None
    return paths, indices, sizes


def _measure(cap, tick: _Progress) -> tuple[np.ndarray, np.ndarray]:
    """Pass 1: ``(sharpness (N,), motion (N,))`` float64 of every decodable frame."""
    import cv2

    expected = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    expected = int(expected) if math.isfinite(expected) and expected > 0 else 0
    sharp: list[float] = []
    motion: list[float] = []
    prev: np.ndarray | None = None
    while True:
        ok, frame = cap.read()
        if not ok or frame is None:
            break
        gray = _small_gray(frame)
        sharp.append(sharpness(gray.astype(np.float32) * (1.0 / 255.0)))
        # A frame of another size (stream change) cannot be compared: count it as a cut.
        if prev is None or prev.shape != gray.shape:
            motion.append(0.0 if prev is None else float(ANALYSIS_WIDTH))
        else:
            motion.append(_motion(prev, gray))
        prev = gray
        if expected:
            # The header's count can be wrong: never let it reach the end of pass 1.
            tick(_PASS1_SHARE * min(len(sharp) / expected, 0.99))
    return np.asarray(sharp, dtype=np.float64), np.asarray(motion, dtype=np.float64)


def _write_picked(cap, picks: list[int], out_dir: Path,
                  tick: _Progress
                  ) -> tuple[list[Path], list[int], list[int], list[tuple[int, int]]]:
    """Pass 2: write the frames at ``picks`` (increasing stream indices) as JPEG."""
    import cv2

    wanted = set(picks)
    last = picks[-1]
    paths: list[Path] = []
    indices: list[int] = []
    nbytes: list[int] = []
    sizes: list[tuple[int, int]] = []
    for i in range(last + 1):
        if not cap.grab():
            break
        if i in wanted:
            ok, frame = cap.retrieve()
            if not ok or frame is None:
                log.warning("frame %d could not be decoded the second time; skipped", i)
                continue
            target = out_dir / _frame_name(i)
            with atomic_path(target) as tmp:
                if not cv2.imwrite(str(tmp), frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                    raise OutputError(f"cannot write {target}: OpenCV failed to encode JPEG")
            paths.append(target)
            indices.append(i)
            nbytes.append(target.stat().st_size)
            sizes.append((int(frame.shape[1]), int(frame.shape[0])))
        tick(_PASS1_SHARE + (1.0 - _PASS1_SHARE) * (i + 1) / (last + 1))
    missing = len(picks) - len(indices)
    if missing:
        log.warning("%d picked frames were missing when reading the video again", missing)
    return paths, indices, nbytes, sizes


def sample_video(video: Path, out_dir: Path, *, max_frames: int = 60,
                 progress: ProgressCallback | None = None) -> tuple[list[Path], list[int]]:
    """Pick up to ``max_frames`` sharp, evenly spread frames of ``video`` as JPEG files.

    Frames are written to ``out_dir`` (created if missing) as ``frame_000123.jpg``
    (quality 95; the number is the stream index), each atomically, then a
    ``frames.json`` manifest. Frame files of an earlier selection that are not picked
    now are removed, so ``out_dir`` holds exactly the picked frames. When the manifest
    shows the same video (name, size, modification time) and ``max_frames``, and every
    frame file is intact, they are returned without decoding the video again.

    Args:
        video: the video file.
        out_dir: the work folder for the frames.
        max_frames: the most frames to pick, >= 1.
        progress: called with a fraction in [0, 1], non-decreasing, ending with 1.

    Returns:
        ``(paths, indices)``: the frame files and their stream indices, both in stream
        order.

    Raises:
        InputError: the video cannot be opened or has no decodable frame; bad
            ``max_frames``.
        OutputError: ``out_dir`` cannot be written.
    """
    video = Path(video)
    out_dir = Path(out_dir)
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise InputError(f"max_frames must be a whole number >= 1, got {max_frames!r}")
    if not video.is_file():
        raise InputError(f"video {_quoted(video)} does not exist or is not a file")
    tick = _Progress(progress)
    stamp = _video_stamp(video, max_frames)
    reused = _read_manifest(out_dir, stamp)
    if reused is not None:
        paths, indices, _sizes = reused
        log.info("reusing %d frames of %s already in %s", len(paths), video.name, out_dir)
        tick(1.0)
        return paths, indices

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the frames folder {out_dir}: "
                          f"{exc.strerror or exc}") from exc
    cap = _open_video(video)
    if cap is None:
        raise InputError(f"cannot read {_quoted(video)} as a video: OpenCV/FFmpeg cannot "
                         f"open it (corrupt file or unsupported codec); re-encode it as "
                         f"H.264 MP4 or give a folder of photos instead")
    try:
        sharp, motion = _measure(cap, tick)
    finally:
        cap.release()
    if len(sharp) == 0:
        raise InputError(f"video {_quoted(video)} has no decodable frames: the file is "
                         f"empty, cut short, or uses a codec FFmpeg cannot decode; "
                         f"re-encode it or give a folder of photos")
    picks = select_frames(sharp, motion, max_frames)
    log.info("video %s: %d frames, picked %d (motion %.0f px at %d px wide)", video.name,
             len(sharp), len(picks), float(np.sum(motion[1:])), ANALYSIS_WIDTH)

    # The old manifest goes first: a crash while the frames are rewritten must not
    # leave a manifest that vouches for a mix of old and new files.
    manifest = out_dir / MANIFEST_NAME
    try:
        manifest.unlink(missing_ok=True)
        keep = {_frame_name(i) for i in picks}
        for old in out_dir.iterdir():
            if _FRAME_RE.match(old.name) and old.name not in keep and old.is_file():
                old.unlink()
    except OSError as exc:
        raise OutputError(f"cannot clean the frames folder {out_dir}: "
                          f"{exc.strerror or exc}") from exc

    cap = _open_video(video)
    if cap is None:
        raise InputError(f"cannot read {_quoted(video)} as a video a second time")
    try:
        paths, indices, nbytes, sizes = _write_picked(cap, picks, out_dir, tick)
    finally:
        cap.release()
    if not paths:
        raise InputError(f"video {_quoted(video)}: no frame could be decoded when reading "
                         f"it again; re-encode it or give a folder of photos")
    data = dict(stamp, frames=indices, bytes=nbytes, sizes=[list(s) for s in sizes])
    atomic_write_bytes(manifest, (json.dumps(data, indent=1) + "\n").encode("utf-8"))
    tick(1.0)
    return paths, indices


# ----------------------------------------------------------------------------- gather


def _gather_folder(folder: Path, min_images: int,
                   tick: _Progress) -> InputImages:
    try:
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    except OSError as exc:
        raise InputError(f"cannot list folder {_quoted(folder)}: {exc.strerror or exc}") from exc
    candidates = sorted((p for p in entries
                         if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                        key=lambda p: natural_key(p.name))
    if not candidates:
        hint = "put the photos directly in it (subfolders are not searched)"
        videos = sorted(p.name for p in entries if p.suffix.lower() in VIDEO_SUFFIXES)
        if videos:
            hint = f"to use a video, give the video file itself (e.g. '{folder / videos[0]}')"
        raise InputError(f"folder {_quoted(folder)} has no image files "
                         f"({', '.join(IMAGE_SUFFIXES)}): {hint}")
    paths: list[Path] = []
    sizes: list[tuple[int, int]] = []
    skipped: list[Skipped] = []
    for k, p in enumerate(candidates):
        result = _check_image(p)
        if isinstance(result, str):
            log.warning("skipping %s: %s", p, result)
            skipped.append(Skipped(p.name, result))
        else:
            paths.append(p)
            sizes.append(result)
        tick((k + 1) / len(candidates))
    if len(paths) < min_images:
        found = f"{len(paths)} readable image{'s' if len(paths) != 1 else ''}"
        why = "".join(f"\n  {s.name}: {s.reason}" for s in skipped)
        raise InputError(
            f"folder {_quoted(folder)} has only {found}; photogrammetry needs at least "
            f"{min_images} photos of the object from different sides"
            + (f". Skipped {len(skipped)}:{why}" if skipped else ""))
    return InputImages(source=folder, kind="folder", paths=tuple(paths), sizes=tuple(sizes),
                       skipped=tuple(skipped), frame_indices=None)


def _check_count(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"{name} must be a whole number >= {low}, got {value!r}")
    return value


def gather_images(source: str | Path, *, frames_dir: Path | None = None, max_frames: int = 60,
                  min_images: int = 3,
                  progress: ProgressCallback | None = None) -> InputImages:
    """The validated images of a folder of photos or of a video.

    Args:
        source: a folder of photos (read non-recursively) or a video file.
        frames_dir: where a video's picked frames are written (required for a video;
            ignored for a folder). Reused across calls: see :func:`sample_video`.
        max_frames: the most frames to pick from a video.
        min_images: the fewest readable images accepted.
        progress: called with a fraction in [0, 1], non-decreasing.

    Returns:
        An :class:`InputImages`; mixed image sizes are reported, not refused.

    Raises:
        InputError: ``source`` does not exist, is a single image, is a file that is not
            a readable video, a video without decodable frames, a folder without image
            files, or gives fewer than ``min_images`` readable images; bad arguments.
        OutputError: ``frames_dir`` cannot be written.
    """
    min_images = _check_count("min_images", min_images, 1)
    max_frames = _check_count("max_frames", max_frames, 1)
    if max_frames < min_images:
        raise InputError(f"max_frames ({max_frames}) is below min_images ({min_images}): "
                         f"a video could never give enough frames; raise max_frames")
    src = Path(source).expanduser()
    tick = _Progress(progress)
    if not src.exists():
        raise InputError(f"{_quoted(src)} does not exist: give a folder of photos or a "
                         f"video file")
    if src.is_dir():
        images = _gather_folder(src, min_images, tick)
        tick(1.0)
        log.info("%s: %d images, %d skipped%s", src, len(images.paths), len(images.skipped),
                 " (mixed sizes)" if images.mixed_sizes else "")
        return images
    if not src.is_file():
        raise InputError(f"{_quoted(src)} is neither a folder of photos nor a video file")

    suffix = src.suffix.lower()
    if suffix in IMAGE_SUFFIXES or (suffix not in VIDEO_SUFFIXES and _is_image_file(src)):
        raise InputError(
            f"{_quoted(src)} is a single image: photogrammetry needs several photos of the "
            f"object from different sides (a folder of them, or a video). For one photo "
            f"use `lift3d image {src}`")
    if suffix not in VIDEO_SUFFIXES:
        # An unknown suffix may still be a video: let FFmpeg decide.
        cap = _open_video(src)
        readable = cap is not None and cap.grab()
        if cap is not None:
            cap.release()
        if not readable:
            raise InputError(
                f"cannot read {_quoted(src)} as a video: it is not a folder, not a video "
                f"FFmpeg can decode ({', '.join(VIDEO_SUFFIXES)}), and not an image; give "
                f"a folder of photos or a video file")
    if frames_dir is None:
        raise InputError(f"video {_quoted(src)} needs frames_dir: a folder to write the "
                         f"picked frames to")
    paths, indices = sample_video(src, Path(frames_dir), max_frames=max_frames,
                                  progress=tick)
    if len(paths) < min_images:
        raise InputError(
            f"video {_quoted(src)} gave only {len(paths)} distinct "
            f"frame{'s' if len(paths) != 1 else ''} (the camera barely moves); "
            f"photogrammetry needs at least {min_images}: film the object while moving "
            f"around it")
    sizes = _frame_sizes(Path(frames_dir), paths)
    images = InputImages(source=src, kind="video", paths=tuple(paths), sizes=tuple(sizes),
                         skipped=(), frame_indices=tuple(indices))
    tick(1.0)
    return images


def _frame_sizes(out_dir: Path, paths: list[Path]) -> list[tuple[int, int]]:
    """``(width, height)`` of each frame: from the manifest, else by reading each file."""
    listed = _read_manifest(out_dir)
    if listed is not None and listed[0] == paths:
        return listed[2]
    sizes = []
    for p in paths:
        result = _check_image(p)
        if isinstance(result, str):
            raise InputError(f"frame {_quoted(p)}: {result}")
        sizes.append(result)
    return sizes
