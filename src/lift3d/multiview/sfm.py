"""Structure from motion with pycolmap: features, matching, mapping, and a report.

COLMAP writes pixels with the top-left *corner* at ``(0, 0)``; lift3d puts pixel
*centres* at integers (:mod:`lift3d.conventions`), so principal points and keypoints
move by half a pixel on the way in. Only radial camera models are used
(``SIMPLE_RADIAL``, or ``RADIAL`` when asked), whose distortion OpenCV can undo with
``(k1, k2, 0, 0)``.

pycolmap is the optional extra ``photo``.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ReconstructionError, require
from .types import View

log = logging.getLogger(__name__)

Mapper = Literal["auto", "incremental", "global"]
Matcher = Literal["auto", "exhaustive", "sequential"]

#: Up to this many images, ``matcher="auto"`` matches every pair.
EXHAUSTIVE_MAX_IMAGES = 120
#: With ``mapper="auto"``, incremental mapping that registers at least this share of
#: the images is kept; below it, global mapping runs too and the better model is kept;
#: below it still, incremental mapping again with a relaxed initial pair (:data:`RELAXED_INIT`).
AUTO_MAPPER_ENOUGH = 0.9
#: ``(init_min_tri_angle in degrees, init_min_num_inliers)`` of the last ``auto`` try.
#: COLMAP's defaults (16, 100) want a wide first pair; on a walk with small steps
#: (lund) no pair may have one, and mapping stops at two images, or not at all.
RELAXED_INIT = (4.0, 50)
#: Fewest registered images a reconstruction needs to be worth densifying.
MIN_REGISTERED = 3


@dataclass(frozen=True)
class SfmOptions:
    """Options of :func:`run_sfm`.

    Attributes:
        mapper: ``"incremental"`` (COLMAP's mapper), ``"global"`` (GLOMAP's rotation
            averaging and global positioning, faster on large sets) or ``"auto"``:
            incremental, and global too when incremental registers less than
            :data:`AUTO_MAPPER_ENOUGH` of the images (incremental mapping can settle on
            a weak initial pair and stop, e.g. on a walk with small baselines), and
            incremental again with a relaxed initial pair (:data:`RELAXED_INIT`) when
            both fall short; the model with the most registered images is kept.
        matcher: ``"exhaustive"`` (every pair), ``"sequential"`` (each image with its
            next ``overlap`` images, plus loop pairs: for video frames) or ``"auto"``
            (sequential for video, exhaustive for up to
            :data:`EXHAUSTIVE_MAX_IMAGES` photos, sequential above).
        overlap: neighbours per image for sequential matching.
        max_image_size: features are found on images resized to this long side, pixels.
        max_features: SIFT features kept per image.
        single_camera: one set of intrinsics shared by all images (one camera, one
            zoom); otherwise one per image.
        num_threads: worker threads (-1: all cores).
        seed: random seed of COLMAP's RANSAC and mapper, for repeatable runs.
    """

    mapper: Mapper = "auto"
    matcher: Matcher = "auto"
    overlap: int = 10
    max_image_size: int = 1600
    max_features: int = 8192
    single_camera: bool = True
    num_threads: int = -1
    seed: int = 0


@dataclass(frozen=True)
class SfmReport:
    """What structure from motion achieved.

    Attributes:
        images: images given.
        registered: names of the images whose pose was recovered.
        unregistered: names of the others.
        points: 3-D points triangulated.
        mean_reprojection_error: mean over all observations, pixels of the original
            images (NaN when nothing registered).
        mean_track_length: mean number of images that see a point.
        track_length_histogram: ``((length, count), ...)`` in increasing length.
        focal_px: estimated focal length of the first camera, pixels.
        focal_from_exif: whether the initial focal length came from EXIF.
        mapper, matcher: what made the model.
        seconds: ``(("features", s), ("matching", s), ("mapping", s))``.
    """

    images: int
    registered: tuple[str, ...]
    unregistered: tuple[str, ...]
    points: int
    mean_reprojection_error: float
    mean_track_length: float
    track_length_histogram: tuple[tuple[int, int], ...]
    focal_px: float
    focal_from_exif: bool
    mapper: str
    matcher: str
    seconds: tuple[tuple[str, float], ...] = ()

    @property
    def registered_fraction(self) -> float:
        return len(self.registered) / self.images if self.images else 0.0

    def summary_lines(self) -> list[str]:
        """Human-readable lines for the CLI."""
        n = len(self.registered)
        lines = [f"registered {n}/{self.images} images ({100 * self.registered_fraction:.0f}%), "
                 f"{self.points} points, mean reprojection error "
                 f"{self.mean_reprojection_error:.2f} px, mean track length "
                 f"{self.mean_track_length:.2f}"]
        if self.unregistered:
            shown = ", ".join(self.unregistered[:8])
            more = f" and {len(self.unregistered) - 8} more" if len(self.unregistered) > 8 else ""
            lines.append(f"not registered: {shown}{more}")
        return lines


@dataclass(frozen=True)
class SparseModel:
    """A sparse reconstruction in its own world frame (arbitrary similarity).

    Attributes:
        views: registered views, undistorted pinhole intrinsics at the full
            resolution of their image files, in input order.
        distortion: per view, OpenCV coefficients ``(k1, k2, p1, p2)`` of the original
            image (undistorting with them gives the pinhole ``views[i].K``).
        paths: per view, the image file.
        points: ``(N, 3)`` float64 world positions.
        colors: ``(N, 3)`` uint8 sRGB.
        errors: ``(N,)`` float64 mean reprojection error of each point, pixels.
        track_lengths: ``(N,)`` int32 number of views seeing each point.
        visible: per view, ``(n_i,)`` int64 indices into ``points`` it observes.
        report: the :class:`SfmReport`.
    """

    views: tuple[View, ...]
    distortion: tuple[np.ndarray, ...]
    paths: tuple[Path, ...]
    points: np.ndarray
    colors: np.ndarray
    errors: np.ndarray
    track_lengths: np.ndarray
    visible: tuple[np.ndarray, ...]
    report: SfmReport = field(repr=False)

    def save(self, path: Path) -> None:
        """Write to one ``.npz`` (for the resumable workspace)."""
        from ..io.atomic import atomic_path

        arrays: dict[str, np.ndarray] = {
            "points": self.points, "colors": self.colors, "errors": self.errors,
            "track_lengths": self.track_lengths,
            "K": np.stack([v.K for v in self.views]),
            "T": np.stack([v.cam_from_world for v in self.views]),
            "size": np.array([[v.width, v.height] for v in self.views]),
            "dist": np.stack(self.distortion),
            "names": np.array([v.name for v in self.views]),
            "paths": np.array([str(p) for p in self.paths]),
            "report": np.array(_report_to_json(self.report)),
        }
        for i, vis in enumerate(self.visible):
            arrays[f"visible_{i}"] = vis
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: Path) -> SparseModel:
        with np.load(path) as z:
            n = len(z["names"])
            views = tuple(View(str(z["names"][i]), z["K"][i], z["T"][i], int(z["size"][i, 0]),
                               int(z["size"][i, 1])) for i in range(n))
            return cls(views=views, distortion=tuple(z["dist"]),
                       paths=tuple(Path(str(p)) for p in z["paths"]),
                       points=z["points"], colors=z["colors"], errors=z["errors"],
                       track_lengths=z["track_lengths"],
                       visible=tuple(z[f"visible_{i}"] for i in range(n)),
                       report=_report_from_json(str(z["report"])))


def _report_to_json(report: SfmReport) -> str:
    import dataclasses
    import json

    return json.dumps(dataclasses.asdict(report))


def _report_from_json(text: str) -> SfmReport:
    import json

    d = json.loads(text)
    for key in ("registered", "unregistered"):
        d[key] = tuple(d[key])
    d["track_length_histogram"] = tuple(tuple(x) for x in d["track_length_histogram"])
    d["seconds"] = tuple(tuple(x) for x in d["seconds"])
    return SfmReport(**d)


def load_pycolmap(purpose: str):
    """Import pycolmap (or say which extra to install), keeping this process's SIGTERM
    handling: COLMAP's glog installs a failure handler at import that prints a stack
    trace on every ordinary stop (a server or batch ending its workers)."""
    import signal
    import threading

    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGTERM) if main else None
    pycolmap = require("pycolmap", "photo", purpose)
    if before is not None:
        signal.signal(signal.SIGTERM, before)
    return pycolmap


def _quiet_colmap(pycolmap) -> None:
    """COLMAP logs every step to stderr through glog; keep its warnings and errors only
    unless lift3d's own logger is at DEBUG."""
    try:
        pycolmap.logging.minloglevel = 0 if log.isEnabledFor(logging.DEBUG) else 2
    except AttributeError:  # pragma: no cover - older pycolmap
        pass


def _choose_matcher(options: SfmOptions, n_images: int, is_video: bool) -> str:
    if options.matcher != "auto":
        return options.matcher
    if is_video or n_images > EXHAUSTIVE_MAX_IMAGES:
        return "sequential"
    return "exhaustive"


def _registered(recs: dict) -> int:
    return max((r.num_reg_images() for r in recs.values()), default=0)


def _map(pycolmap, mapper: str, db: Path, image_dir: Path, out: Path, names: list[str],
         options: SfmOptions, say: Callable[[float, str], None]) -> dict:
    if mapper == "global":
        gopts = pycolmap.GlobalPipelineOptions()
        gopts.num_threads = options.num_threads
        gopts.random_seed = options.seed
        gopts.image_names = names
        return pycolmap.global_mapping(db, image_dir, out, gopts)
    iopts = pycolmap.IncrementalPipelineOptions()
    if mapper == "incremental-relaxed":
        iopts.mapper.init_min_tri_angle, iopts.mapper.init_min_num_inliers = RELAXED_INIT
    iopts.num_threads = options.num_threads
    iopts.random_seed = options.seed
    iopts.min_model_size = MIN_REGISTERED
    iopts.image_names = names
    registered = [0]

    def next_image() -> None:
        registered[0] += 1
        say(0.7 + 0.15 * min(registered[0] / len(names), 1.0),
            f"mapping: {registered[0] + 1}/{len(names)} images")

    return pycolmap.incremental_mapping(db, image_dir, out, iopts,
                                        next_image_callback=next_image)


def run_sfm(paths: Sequence[Path], work_dir: Path, options: SfmOptions = SfmOptions(), *,
            is_video: bool = False,
            progress: Callable[[float, str], None] | None = None) -> SparseModel:
    """Recover camera poses and a sparse point cloud from overlapping photos.

    Args:
        paths: the image files, all in one folder (COLMAP reads them by name).
        work_dir: folder for COLMAP's database and model (``database.db``,
            ``sparse/``); emptied first.
        options: see :class:`SfmOptions`.
        is_video: the images are consecutive video frames (sequential matching).
        progress: called with ``(fraction in [0, 1], message)``.

    Returns:
        The largest reconstruction as a :class:`SparseModel`.

    Raises:
        ReconstructionError: fewer than :data:`MIN_REGISTERED` images registered; its
            ``report`` lists what did.
    """
    pycolmap = load_pycolmap("Structure from motion (lift3d photos)")
    _quiet_colmap(pycolmap)
    paths = [Path(p) for p in paths]
    image_dir = paths[0].parent
    names = [p.name for p in paths]
    say = progress or (lambda f, m: None)
    if work_dir.exists():
        shutil.rmtree(work_dir)
    (work_dir / "sparse").mkdir(parents=True)
    db = work_dir / "database.db"
    pycolmap.set_random_seed(options.seed)
    seconds = []

    t0 = time.perf_counter()
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.max_image_size = options.max_image_size
    extraction.num_threads = options.num_threads
    extraction.sift.max_num_features = options.max_features
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = "SIMPLE_RADIAL"
    # One image per call: the only way to report progress through this stage. With a
    # single camera, every call after the first attaches its image to camera 1 (a new
    # call would otherwise make a new camera, and each image would be calibrated alone).
    for i, name in enumerate(names):
        say(0.5 * i / len(names), f"features {i + 1}/{len(names)}")
        if options.single_camera and i > 0:
            reader.existing_camera_id = 1
        pycolmap.extract_features(db, image_dir, image_names=[name],
                                  camera_mode=pycolmap.CameraMode.SINGLE,
                                  reader_options=reader, extraction_options=extraction,
                                  device=pycolmap.Device.cpu)
    seconds.append(("features", time.perf_counter() - t0))

    t0 = time.perf_counter()
    matcher = _choose_matcher(options, len(names), is_video)
    say(0.5, f"matching ({matcher})")
    matching = pycolmap.FeatureMatchingOptions()
    matching.num_threads = options.num_threads
    if matcher == "sequential":
        pairing = pycolmap.SequentialPairingOptions()
        pairing.overlap = options.overlap
        pairing.quadratic_overlap = True
        pycolmap.match_sequential(db, matching_options=matching, pairing_options=pairing,
                                  device=pycolmap.Device.cpu)
    else:
        pycolmap.match_exhaustive(db, matching_options=matching, device=pycolmap.Device.cpu)
    seconds.append(("matching", time.perf_counter() - t0))

    t0 = time.perf_counter()
    tried = (["incremental", "global", "incremental-relaxed"] if options.mapper == "auto"
             else [options.mapper])
    best, used = {}, tried[0]
    for k, mapper in enumerate(tried):
        say(0.7 + 0.1 * k, f"mapping ({mapper})")
        out = work_dir / "sparse" / mapper
        out.mkdir(parents=True, exist_ok=True)
        recs = _map(pycolmap, mapper, db, image_dir, out, names, options, say)
        if _registered(recs) > _registered(best):
            best, used = recs, mapper
        if _registered(best) >= AUTO_MAPPER_ENOUGH * len(names):
            break
        if k + 1 < len(tried):
            log.info("%s mapping registered %d/%d images; trying %s mapping", mapper,
                     _registered(recs), len(names), tried[k + 1])
    recs = best
    seconds.append(("mapping", time.perf_counter() - t0))

    if not recs:
        report = SfmReport(len(names), (), tuple(names), 0, math.nan, 0.0, (), math.nan, False,
                           used, matcher, tuple(seconds))
        raise ReconstructionError(
            "structure from motion registered no images: the photos do not overlap enough "
            "(each part of the object should appear in at least 3 photos from nearby angles)",
            report)
    rec = max(recs.values(), key=lambda r: r.num_reg_images())
    # The chosen model, in COLMAP's format, for COLMAP's own dense tools and for users.
    (work_dir / "model").mkdir(exist_ok=True)
    rec.write(work_dir / "model")
    model = _to_sparse_model(rec, paths, used, matcher, tuple(seconds))
    for line in model.report.summary_lines():
        log.info("%s", line)
    if len(model.views) < MIN_REGISTERED:
        raise ReconstructionError(
            f"only {len(model.views)} of {len(names)} images registered: the photos do not "
            "overlap enough", model.report)
    return model


def _camera_to_opencv(camera) -> tuple[np.ndarray, np.ndarray]:
    """COLMAP camera -> (K with pixel-centre origin, OpenCV distortion (k1, k2, p1, p2))."""
    name = camera.model_name
    p = np.asarray(camera.params, dtype=np.float64)
    if name in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
        f, cx, cy = p[0], p[1], p[2]
        fx = fy = f
        k1 = p[3] if len(p) > 3 else 0.0
        k2 = p[4] if len(p) > 4 else 0.0
    elif name in ("PINHOLE", "OPENCV"):
        fx, fy, cx, cy = p[:4]
        k1, k2 = (p[4], p[5]) if name == "OPENCV" else (0.0, 0.0)
    else:  # pragma: no cover - run_sfm only asks for radial models
        raise ValueError(f"unsupported COLMAP camera model {name}")
    K = np.array([[fx, 0, cx - 0.5], [0, fy, cy - 0.5], [0, 0, 1]], dtype=np.float64)
    dist = np.array([k1, k2, 0.0, 0.0])
    if name == "OPENCV":
        dist[2:] = p[6:8]
    return K, dist


def _to_sparse_model(rec, paths: Sequence[Path], mapper: str, matcher: str,
                     seconds: tuple[tuple[str, float], ...]) -> SparseModel:
    by_name = {p.name: p for p in paths}
    images = {img.name: img for img in rec.images.values() if img.has_pose}
    order = [p.name for p in paths if p.name in images]
    ids = list(rec.points3D.keys())
    index = {pid: i for i, pid in enumerate(ids)}
    pts = rec.points3D
    points = np.array([pts[i].xyz for i in ids], dtype=np.float64).reshape(-1, 3)
    colors = np.array([pts[i].color for i in ids], dtype=np.uint8).reshape(-1, 3)
    errors = np.array([pts[i].error for i in ids], dtype=np.float64)
    tracks = np.array([pts[i].track.length() for i in ids], dtype=np.int32)
    views, dists, visible = [], [], []
    for name in order:
        img = images[name]
        cam = img.camera
        K, dist = _camera_to_opencv(cam)
        T = np.asarray(img.cam_from_world().matrix(), dtype=np.float64)
        views.append(View(name, K, T, int(cam.width), int(cam.height)))
        dists.append(dist)
        seen = [index[p.point3D_id] for p in img.points2D if p.has_point3D()]
        visible.append(np.array(sorted(set(seen)), dtype=np.int64))
    hist = np.bincount(tracks) if len(tracks) else np.zeros(0, int)
    first = images[order[0]].camera if order else None
    report = SfmReport(
        images=len(paths), registered=tuple(order),
        unregistered=tuple(n for n in by_name if n not in images),
        points=len(ids),
        mean_reprojection_error=float(rec.compute_mean_reprojection_error()) if ids else math.nan,
        mean_track_length=float(tracks.mean()) if len(tracks) else 0.0,
        track_length_histogram=tuple((int(k), int(c)) for k, c in enumerate(hist) if c),
        focal_px=float(first.mean_focal_length()) if first is not None else math.nan,
        focal_from_exif=bool(first.has_prior_focal_length) if first is not None else False,
        mapper=mapper, matcher=matcher, seconds=seconds)
    return SparseModel(views=tuple(views), distortion=tuple(dists),
                       paths=tuple(by_name[n] for n in order), points=points, colors=colors,
                       errors=errors, track_lengths=tracks, visible=tuple(visible),
                       report=report)
