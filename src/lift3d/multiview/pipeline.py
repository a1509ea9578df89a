"""The photogrammetry pipeline: photos or a video to a textured mesh (``lift3d photos``).

Stages (:data:`STAGES`), each a function of its own module:

1. ``inputs``: the images, or frames sampled from a video (:mod:`.frames`).
2. ``sfm``: camera poses and sparse points with pycolmap (:mod:`.sfm`).
3. ``region``: the object frame (+Y up, +Z front), the box the cameras look at, the
   ground (:mod:`.isolate`).
4. ``depth``: a depth map per view by plane-sweep stereo, then geometric
   consistency filtering (:mod:`.dense`).
5. ``fuse``: TSDF fusion of the depth maps into a surface (:mod:`.fuse`).
6. ``mesh``: the largest pieces kept, optionally closed (watertight), decimated to a
   face budget (:mod:`lift3d.mesh`, :mod:`lift3d.quality`).
7. ``texture``: a UV atlas and a texture baked from the best-facing photos, colour
   balanced across them (:mod:`.texture`).
8. ``place``: scale (``scale_by`` or ``height``; otherwise arbitrary, said in the
   report), base on ``y = 0``, centred on x and z.
9. ``export``.

A *workspace* folder keeps what is slow to redo: sampled video frames, the SfM
database and model, and each view's raw depth map, with a key of the inputs and options
that made them. Run again with the same workspace after a crash or Ctrl-C and the done
work is reused; change an option and what depends on it is redone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..pipeline import ProgressCallback, _Clock
from ..types import Material, Mesh, StageTiming, TexturedMesh
from .dense import DenseOptions, DepthMap
from .frames import InputImages
from .fuse import FusionOptions
from .isolate import Region
from .sfm import SfmOptions, SfmReport, SparseModel
from .types import View

log = logging.getLogger(__name__)

STAGES: tuple[str, ...] = ("inputs", "sfm", "region", "depth", "fuse", "mesh", "texture",
                           "place", "export")

#: Bumped when a stage's cached output changes meaning.
WORKSPACE_VERSION = 2


@dataclass(frozen=True)
class ImagePoint:
    """A pixel of one input photo, as an image viewer shows it (raw pixels).

    Attributes:
        image: file name of the photo (as in the input folder).
        u, v: column and row, pixels (pixel centres at integers).
    """

    image: str
    u: float
    v: float


@dataclass(frozen=True)
class ScaleBy:
    """A known distance between two points seen in the photos."""

    a: ImagePoint
    b: ImagePoint
    metres: float


@dataclass(frozen=True)
class PhotosOptions:
    """Options of :func:`photos_to_mesh`.

    Attributes:
        max_frames: frames sampled from a video.
        sfm, dense, fusion: options of those stages.
        keep_scene: reconstruct everything (ground and background included) instead
            of isolating the object the cameras look at.
        watertight: close the mesh into one watertight solid.
        faces: face budget of the output mesh.
        texture_size: side of the square texture, texels.
        texture_max_side: photos are resampled to this long side for texturing.
        scale_by: a known distance (sets metres); ``height``: the object's height in
            metres. Neither: the scale is arbitrary (largest side 1 unit), said in the
            report.
        allow_mixed_sizes: accept photos of different sizes (one camera per photo).
        dense_backend: ``"cpu"`` (lift3d's plane sweep), ``"colmap"`` (COLMAP's CUDA
            PatchMatch: needs pycolmap built with CUDA) or ``"auto"`` (colmap where
            CUDA is available, else cpu).
        seed: for repeatable runs.
    """

    max_frames: int = 60
    sfm: SfmOptions = field(default_factory=SfmOptions)
    dense: DenseOptions = field(default_factory=DenseOptions)
    fusion: FusionOptions = field(default_factory=FusionOptions)
    keep_scene: bool = False
    watertight: bool = False
    faces: int = 100_000
    texture_size: int = 4096
    texture_max_side: int = 2048
    scale_by: ScaleBy | None = None
    height: float | None = None
    allow_mixed_sizes: bool = False
    dense_backend: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.scale_by is not None and self.height is not None:
            raise InputError("scale_by and height: give one way to set the scale, not both")
        if self.height is not None and not self.height > 0:
            raise InputError(f"height: must be a positive length in metres, got {self.height}")
        if self.faces < 100:
            raise InputError(f"faces: budget too small ({self.faces}); use at least 100")
        if self.dense_backend not in ("auto", "cpu", "colmap"):
            raise InputError(f"dense_backend: must be 'auto', 'cpu' or 'colmap', "
                             f"got {self.dense_backend!r}")
        if not 64 <= self.texture_size <= 16384:
            raise InputError(f"texture_size: must be in [64, 16384], got {self.texture_size}")


@dataclass(frozen=True)
class PhotosReport:
    """What :func:`photos_to_mesh` did.

    Attributes:
        inputs: images used and skipped.
        sfm: the structure-from-motion report.
        object_centric: the cameras converged on an object (else a facade or scene).
        ground_found: a ground plane was found and cut away.
        depth_coverage: per registered view, fraction of its pixels with a depth
            after consistency filtering.
        fused_faces: faces of the fused surface before clean-up.
        faces, watertight: of the output mesh.
        texture_coverage: fraction of texels some photo saw.
        scale: ``"arbitrary"``, ``"scale-by"`` or ``"height"``.
        metres_per_unit: metres per SfM unit when the scale is known, else None.
        size: ``(3,)`` bounding-box size of the output, in output units.
        timings: per stage.
        reused: stages whose output came from the workspace.
    """

    inputs: InputImages
    sfm: SfmReport
    object_centric: bool
    ground_found: bool
    depth_coverage: tuple[float, ...]
    fused_faces: int
    faces: int
    watertight: bool
    texture_coverage: float
    scale: str
    metres_per_unit: float | None
    size: tuple[float, float, float]
    timings: tuple[StageTiming, ...]
    reused: tuple[str, ...] = ()

    def summary_lines(self) -> list[str]:
        lines = self.sfm.summary_lines()
        if self.inputs.skipped:
            lines.append("skipped: " + ", ".join(f"{s.name} ({s.reason})"
                                                 for s in self.inputs.skipped))
        cov = np.mean(self.depth_coverage) if self.depth_coverage else 0.0
        lines.append(f"{'object' if self.object_centric else 'scene'}"
                     f"{', ground removed' if self.ground_found else ''}; depth on "
                     f"{100 * cov:.0f}% of pixels; mesh {self.faces} faces"
                     f"{', watertight' if self.watertight else ''}")
        sx, sy, sz = self.size
        if self.scale == "arbitrary":
            lines.append(f"scale: ARBITRARY (photos alone do not give it; largest side set "
                         f"to 1 unit): size {sx:.3f} x {sy:.3f} x {sz:.3f}; pass --scale-by "
                         "or --height for metres")
        else:
            lines.append(f"scale from {self.scale}: size {sx:.3f} x {sy:.3f} x {sz:.3f} m")
        return lines


@dataclass(frozen=True)
class PhotosResult:
    """The textured mesh in glTF axes and the report."""

    mesh: TexturedMesh
    report: PhotosReport
    sparse: SparseModel = field(repr=False)
    region: Region = field(repr=False)


# ----------------------------------------------------------------------------- workspace


def _key(*parts) -> str:
    def default(o):
        if dataclasses.is_dataclass(o):
            return dataclasses.asdict(o)
        return str(o)

    text = json.dumps(parts, default=default, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _inputs_key(inputs: InputImages) -> str:
    return _key(WORKSPACE_VERSION, [(p.name, os.path.getsize(p), int(os.path.getmtime(p)))
                                    for p in inputs.paths])


class Workspace:
    """A folder holding the resumable products of one reconstruction."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    @property
    def frames(self) -> Path:
        return self.root / "frames"

    def sfm_dir(self) -> Path:
        return self.root / "sfm"

    def model_path(self, key: str) -> Path:
        return self.root / f"sparse_{key}.npz"

    def depth_path(self, key: str, name: str) -> Path:
        return self.root / "depth" / f"{Path(name).stem}_{key}.npz"

    def load_depth(self, key: str, view: View) -> DepthMap | None:
        p = self.depth_path(key, view.name)
        if not p.is_file():
            return None
        try:
            with np.load(p) as z:
                return DepthMap(view, z["depth"], z["score"], float(z["inv_step"]))
        except (OSError, ValueError, KeyError):
            return None

    def save_depth(self, key: str, m: DepthMap) -> None:
        from ..io.atomic import atomic_path

        p = self.depth_path(key, m.view.name)
        p.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(p) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, depth=m.depth, score=m.score, inv_step=m.inv_step)


# ----------------------------------------------------------------------------- stages


def _check_inputs(inputs: InputImages, options: PhotosOptions) -> None:
    if inputs.mixed_sizes and not options.allow_mixed_sizes:
        sizes = sorted({f"{w}x{h}" for w, h in inputs.sizes})
        raise InputError(
            f"{inputs.source}: the photos have {len(sizes)} different sizes "
            f"({', '.join(sizes[:4])}); photos from one camera at one size reconstruct "
            "best. Pass --allow-mixed-sizes to use one set of intrinsics per size")


def _sparse(inputs: InputImages, ws: Workspace, options: PhotosOptions,
            clock: _Clock, reused: list[str]) -> tuple[SparseModel, str]:
    from .sfm import run_sfm

    sfm_options = options.sfm
    if inputs.mixed_sizes:
        sfm_options = dataclasses.replace(sfm_options, single_camera=False)
    key = _key("sfm", _inputs_key(inputs), sfm_options)
    path = ws.model_path(key)
    if path.is_file():
        try:
            model = SparseModel.load(path)
            reused.append("sfm")
            return model, key
        except (OSError, ValueError, KeyError):
            log.warning("workspace: %s is unreadable; redoing SfM", path.name)

    def say(fraction: float, message: str) -> None:
        clock.update(fraction, message)

    model = run_sfm(inputs.paths, ws.sfm_dir(), sfm_options, is_video=inputs.kind == "video",
                    progress=say)
    model.save(path)
    return model, key


def _depth_maps(model: SparseModel, ws: Workspace, options: DenseOptions, sfm_key: str,
                clock: _Clock, reused: list[str]) -> list[DepthMap]:
    from .dense import depth_range, filter_consistent, plane_sweep, select_sources, to_gray
    from .images import load_undistorted

    key = _key("depth", sfm_key, options)
    n = len(model.views)
    grays: dict[int, np.ndarray] = {}
    small: list[View] = []
    from .images import working_size

    for v in model.views:
        w, h = working_size(v.width, v.height, options.max_side)
        small.append(v.scaled(w, h))

    def gray(i: int) -> np.ndarray:
        if i not in grays:
            img, _ = load_undistorted(model.paths[i], model.views[i], model.distortion[i],
                                      options.max_side)
            grays[i] = to_gray(img)
        return grays[i]

    sources = [select_sources(model.visible, model.points, model.views, i, options.sources)
               for i in range(n)]
    raw: list[DepthMap] = []
    cached = 0
    for i, view in enumerate(small):
        clock.update(0.9 * i / n, f"view {i + 1}/{n}")
        m = ws.load_depth(key, view)
        if m is None:
            if not sources[i]:
                log.warning("%s: no neighbouring view to match; no depth", view.name)
                m = DepthMap(view, np.zeros((view.height, view.width), np.float32),
                             np.zeros((view.height, view.width), np.float32))
            else:
                z_range = depth_range(view, model.points, model.visible[i])
                m = plane_sweep(view, gray(i), [small[j] for j in sources[i]],
                                [gray(j) for j in sources[i]], z_range, options)
            ws.save_depth(key, m)
        else:
            cached += 1
        raw.append(m)
        # Keep only the grays later views still need.
        for j in list(grays):
            if j < i and all(j not in sources[k] for k in range(i + 1, n)):
                del grays[j]
    if cached == n:
        reused.append("depth")
    clock.update(0.9, "consistency")
    # A view's depth is checked against the views it was matched with and the views
    # that matched it.
    neighbours = [sorted(set(sources[i]) | {j for j in range(n) if i in sources[j]})
                  for i in range(n)]
    return filter_consistent(raw, neighbours, options)


def _clean_mesh(mesh: Mesh, options: PhotosOptions) -> Mesh:
    from ..mesh.cleanup import compact, decimate, remove_floaters

    mesh = remove_floaters(compact(mesh), min_fraction=0.02)
    if options.watertight:
        from ..quality.repair import RepairOptions, repair_mesh
        from ..types import MeshAsset

        res = repair_mesh(MeshAsset(mesh.vertices, mesh.faces),
                          RepairOptions(watertight=True, target_faces=options.faces,
                                        keep_colors=False))
        mesh = res.asset.mesh()
    if len(mesh.faces) > options.faces:
        mesh = decimate(mesh, options.faces)
    return mesh


def _scale_point(p: ImagePoint, model: SparseModel, region: Region, mesh: Mesh) -> np.ndarray:
    """The object-frame 3-D point of the surface seen at a raw photo pixel."""
    import cv2

    from ..render.raster import rasterize

    names = [v.name for v in model.views]
    if p.image not in names:
        raise InputError(f"scale_by: {p.image!r} is not a registered photo "
                         f"(registered: {', '.join(names[:6])}...)")
    i = names.index(p.image)
    view = model.views[i]
    if not (0 <= p.u < view.width and 0 <= p.v < view.height):
        raise InputError(f"scale_by: pixel ({p.u}, {p.v}) is outside {p.image} "
                         f"({view.width}x{view.height})")
    und = cv2.undistortPoints(np.array([[[p.u, p.v]]], np.float64), view.K,
                              model.distortion[i], P=view.K).reshape(2)
    w, h = min(view.width, 1600), round(view.height * min(view.width, 1600) / view.width)
    sv = region.view_in_object_frame(view).scaled(w, h)
    uv, z = sv.project(mesh.vertices)
    frags = rasterize(uv, z, mesh.faces, w, h, cull_backfaces=False)
    s = w / view.width
    cu, cv_ = (und[0] + 0.5) * s - 0.5, (und[1] + 0.5) * s - 0.5
    # The surface point under the pixel (or its nearest covered neighbour within 3 px).
    rows, cols = np.divmod(frags.pixels, w)
    near = np.hypot(rows - cv_, cols - cu)
    if not len(near) or near.min() > 3.0:
        raise InputError(f"scale_by: no reconstructed surface at pixel ({p.u:.0f}, "
                         f"{p.v:.0f}) of {p.image}; pick points on the object")
    k = int(np.argmin(near))
    corners = np.asarray(mesh.vertices)[np.asarray(mesh.faces)[frags.faces[k]]]
    return frags.bary[k].astype(np.float64) @ corners


def photos_to_mesh(source: str | os.PathLike, options: PhotosOptions = PhotosOptions(), *,
                   workspace: str | os.PathLike | None = None,
                   progress: ProgressCallback | None = None) -> PhotosResult:
    """Many photos of an object (a folder) or a video of it to a textured mesh.

    Args:
        source: a folder of photos, or a video file.
        options: see :class:`PhotosOptions`.
        workspace: folder for resumable intermediate products (default: a temporary
            folder, removed afterwards).
        progress: called as each stage starts, and with ``within``/``message`` as long
            stages advance.

    Returns:
        :class:`PhotosResult`: the mesh in glTF axes (+Y up, +Z towards the cameras,
        base on y = 0) in metres, or in arbitrary units when no scale was given.

    Raises:
        InputError: bad input (too few images, mixed sizes, unreadable video, ...).
        ReconstructionError: the photos did not register or gave no surface; its
            ``report`` lists what registered.
    """
    if workspace is None:
        with tempfile.TemporaryDirectory(prefix="lift3d-photos-") as tmp:
            return photos_to_mesh(source, options, workspace=tmp, progress=progress)
    from ..errors import ReconstructionError
    from ..mesh import is_watertight, vertex_normals
    from .frames import gather_images
    from .fuse import tsdf_fuse
    from .images import exif_up, load_undistorted
    from .isolate import find_region
    from .texture import bake_views

    ws = Workspace(Path(workspace))
    clock = _Clock(STAGES, progress)
    reused: list[str] = []
    with clock.stage("inputs"):
        inputs = gather_images(source, frames_dir=ws.frames, max_frames=options.max_frames,
                               progress=lambda f: clock.update(f, "reading"))
        _check_inputs(inputs, options)
    with clock.stage("sfm"):
        model, sfm_key = _sparse(inputs, ws, options, clock, reused)
    with clock.stage("region"):
        ups = [exif_up(p) for p in model.paths]
        region = find_region(model.views, model.points, model.track_lengths, ups,
                             keep_scene=options.keep_scene, seed=options.seed)
    with clock.stage("depth"):
        from .colmap_dense import cuda_available, patch_match_depth_maps

        backend = options.dense_backend
        if backend == "auto":
            backend = "colmap" if cuda_available() else "cpu"
        if backend == "colmap":
            clock.update(0.0, "COLMAP PatchMatch (CUDA)")
            maps = patch_match_depth_maps(ws.sfm_dir() / "model", model.paths[0].parent,
                                          ws.root / "colmap_dense", options.dense.max_side)
        else:
            maps = _depth_maps(model, ws, options.dense, sfm_key, clock, reused)
    with clock.stage("fuse"):
        local = [DepthMap(region.view_in_object_frame(m.view), m.depth, m.score, m.inv_step)
                 for m in maps]
        fused = tsdf_fuse(local, region.box, options.fusion,
                          progress=lambda f: clock.update(f, "integrating"))
        if len(fused.faces) == 0:
            raise ReconstructionError(
                "dense reconstruction found no surface: the photos matched too little "
                "(too little texture, or too little overlap between neighbouring photos)",
                model.report)
    with clock.stage("mesh"):
        mesh = _clean_mesh(fused, options)
    with clock.stage("texture"):
        views, images = [], []
        for p, v, d in zip(model.paths, model.views, model.distortion, strict=True):
            img, sv = load_undistorted(p, v, d, options.texture_max_side)
            views.append(region.view_in_object_frame(sv))
            images.append(img)
        textured, tex_report = bake_views(
            mesh, views, images, size=options.texture_size,
            progress=lambda f: clock.update(f, "baking"))
        del images
    with clock.stage("place"):
        scale_kind, metres_per_unit = "arbitrary", None
        v = np.asarray(textured.vertices, dtype=np.float64)
        if options.scale_by is not None:
            a = _scale_point(options.scale_by.a, model, region, mesh)
            b = _scale_point(options.scale_by.b, model, region, mesh)
            dist = float(np.linalg.norm(a - b))
            if dist <= 1e-9:
                raise InputError("scale_by: the two points are the same 3-D point")
            s = options.scale_by.metres / dist
            scale_kind, metres_per_unit = "scale-by", s
        elif options.height is not None:
            s = options.height / max(float(np.ptp(v[:, 1])), 1e-12)
            scale_kind, metres_per_unit = "height", s
        else:
            s = 1.0 / max(float(np.ptp(v, axis=0).max()), 1e-12)
        v = v * s
        lo, hi = v.min(axis=0), v.max(axis=0)
        v -= np.array([(lo[0] + hi[0]) / 2, lo[1], (lo[2] + hi[2]) / 2])
        normals = vertex_normals(v, textured.faces, textured.welded_index)
        name = Path(str(source)).stem or "photos"
        out = dataclasses.replace(textured, vertices=v.astype(np.float32), normals=normals,
                                  material=Material(name=f"{name}_material"))
        closed = is_watertight(out.welded())
    report = PhotosReport(
        inputs=inputs, sfm=model.report, object_centric=region.object_centric,
        ground_found=region.ground_height is not None,
        depth_coverage=tuple(m.valid_fraction for m in maps), fused_faces=len(fused.faces),
        faces=len(out.faces), watertight=closed, texture_coverage=tex_report.texel_coverage,
        scale=scale_kind, metres_per_unit=metres_per_unit,
        size=tuple(float(x) for x in np.ptp(v, axis=0)), timings=tuple(clock.timings),
        reused=tuple(reused))
    return PhotosResult(out, report, model, region)


def photos_to_file(source: str | os.PathLike, output: str | os.PathLike,
                   options: PhotosOptions = PhotosOptions(), *,
                   workspace: str | os.PathLike | None = None,
                   progress: ProgressCallback | None = None) -> tuple[PhotosResult, list[Path]]:
    """:func:`photos_to_mesh`, then write the mesh (format by extension).

    The output path is checked before any work. Returns the result (its timings include
    ``export``) and the files written.
    """
    from ..export import check_output_path, export

    out = check_output_path(output)
    result = photos_to_mesh(source, options, workspace=workspace, progress=progress)
    clock = _Clock(STAGES, progress)
    clock.timings = list(result.report.timings)
    with clock.stage("export"):
        written = export(result.mesh, out)
    clock.done()
    report = dataclasses.replace(result.report, timings=tuple(clock.timings))
    return dataclasses.replace(result, report=report), written

