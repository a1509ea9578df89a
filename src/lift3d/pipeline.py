"""The single-photo pipeline: load, segment, crop, shape, mesh, texture (and export).

Each stage is an importable function over the dataclasses in :mod:`lift3d.types`;
this module only composes them, times them and reports progress.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import conventions
from .config import Config
from .types import (
    Crop,
    LayeredDepth,
    Material,
    Mesh,
    Photo,
    Result,
    Segmentation,
    StageTiming,
    TexturedMesh,
)

log = logging.getLogger(__name__)

#: Stages of :func:`reconstruct`, in order.
STAGES: tuple[str, ...] = ("load", "segment", "shape", "mesh", "texture", "place")


@dataclass(frozen=True)
class ProgressEvent:
    """What a progress callback receives.

    Attributes:
        stage: the stage now starting, or ``"done"``.
        index: its position in ``stages`` (``len(stages)`` for ``"done"``).
        stages: every stage of this run, in order.
        finished: timing of the stage that just ended, or ``None`` for the first
            (and for updates within a stage).
        within: progress within ``stage``, in ``[0, 1]`` (long stages report it).
        message: what the stage is doing now, e.g. ``"view 3/11"``; "" when it starts.
    """

    stage: str
    index: int
    stages: tuple[str, ...]
    finished: StageTiming | None
    within: float = 0.0
    message: str = ""

    @property
    def fraction(self) -> float:
        """Progress of the whole run in ``[0, 1]``, counting stages as equal."""
        return min(1.0, (self.index + self.within) / max(1, len(self.stages)))


ProgressCallback = Callable[[ProgressEvent], None]


class _Clock:
    """Times stages and tells the progress callback as each starts."""

    def __init__(self, stages: tuple[str, ...], progress: ProgressCallback | None) -> None:
        self.stages = stages
        self.progress = progress
        self.timings: list[StageTiming] = []
        self._current = ""

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._current = name
        self._tell(name)
        t0 = time.perf_counter()
        yield
        self.timings.append(StageTiming(name, time.perf_counter() - t0))
        log.debug("stage %s: %.3f s", name, self.timings[-1].seconds)

    def done(self) -> None:
        self._tell("done")

    def update(self, within: float, message: str = "") -> None:
        """Report progress inside the current stage (``within`` in ``[0, 1]``)."""
        if self.progress is None or not self._current:
            return
        index = self.stages.index(self._current) if self._current in self.stages else 0
        self.progress(ProgressEvent(self._current, index, self.stages, None,
                                    float(min(max(within, 0.0), 1.0)), message))

    def _tell(self, name: str) -> None:
        if self.progress is None:
            return
        index = self.stages.index(name) if name in self.stages else len(self.stages)
        last = self.timings[-1] if self.timings else None
        self.progress(ProgressEvent(name, index, self.stages, last))


def segment_photo(photo: Photo, cfg: Config) -> Segmentation:
    """The segmentation stage with ``cfg``'s backend."""
    from .segment import segment

    mask = cfg.mask_path if cfg.segment == "file" else None
    # The learned segmenter is the shape network's mask: it shares its weights file.
    model = cfg.model_path if cfg.segment == "learned" else None
    return segment(photo, backend=cfg.segment, mask_path=mask, model_path=model)


def crop_photo(photo: Photo, seg: Segmentation, size: int) -> Crop:
    """Square crop around the object at ``size`` pixels."""
    from .segment import crop_object

    return crop_object(photo, seg, size=size)


def world_transform(vertices_cam: np.ndarray, cfg: Config,
                    units_per_metre: float | None = None) -> tuple[float, np.ndarray]:
    """Scale and offset placing camera-frame vertices in the glTF world frame.

    ``world = scale * (R @ cam) + offset`` with ``R`` =
    :data:`~lift3d.conventions.WORLD_FROM_CAM_ROTATION`; the requested dimension gets
    its size in metres, the base rests on ``y = 0`` and the box is centred on x, z.

    Returns:
        ``(scale, offset)``: a float and a ``(3,)`` float64.
    """
    rotated = conventions.world_from_cam_points(vertices_cam)
    lo, hi = rotated.min(axis=0), rotated.max(axis=0)
    extent = hi - lo
    for axis, name in enumerate(("width", "height", "depth")):
        target = getattr(cfg, name)
        if target is not None:
            scale = target / max(extent[axis], 1e-12)
            break
    else:
        if units_per_metre:
            scale = 1.0 / units_per_metre
        else:
            scale = conventions.DEFAULT_HEIGHT_M / max(extent[1], 1e-12)
    centre = 0.5 * (lo + hi) * scale
    offset = np.array([-centre[0], -lo[1] * scale, -centre[2]], dtype=np.float64)
    return float(scale), offset


def shape_from_photo(image, cfg: Config, clock: _Clock, crop_size: int,
                     ) -> tuple[Photo, Segmentation, Crop, LayeredDepth]:
    """The front half every photo command shares: load, segment and crop, shape.

    Times the stages ``load``, ``segment`` (crop included) and ``shape`` on ``clock``.
    The crop is made at ``crop_size``; the shape stage resamples it to
    ``cfg.resolution``.
    """
    from .io import load_photo
    from .shape import BACKENDS, accepts_option, estimate_shape

    with clock.stage("load"):
        photo = load_photo(image, max_side=cfg.max_side, max_pixels=cfg.max_pixels)
    with clock.stage("segment"):
        seg = segment_photo(photo, cfg)
        crop = crop_photo(photo, seg, size=crop_size)
    options = {}
    if cfg.model_path is not None and accepts_option(BACKENDS[cfg.shape], "model_path"):
        options["model_path"] = cfg.model_path
    with clock.stage("shape"):
        depth = estimate_shape(crop, cfg.shape, thickness=cfg.thickness,
                               resolution=cfg.resolution, **options)
    return photo, seg, crop, depth


def reconstruct(image, config: Config | None = None,
                progress: ProgressCallback | None = None) -> Result:
    """One photo to a watertight, textured, real-scale mesh. See :func:`lift3d.reconstruct`."""
    from .mesh import is_watertight, mesh_from_depth, vertex_normals
    from .texture import texture_mesh

    cfg = config if config is not None else Config()
    clock = _Clock(STAGES, progress)
    # One crop at texture resolution; the shape stage resamples it to its own.
    photo, seg, crop, depth = shape_from_photo(image, cfg, clock, crop_size=cfg.texture_size)
    with clock.stage("mesh"):
        mesh_cam: Mesh = mesh_from_depth(depth, faces=cfg.faces)
    with clock.stage("texture"):
        tx = texture_mesh(mesh_cam, crop, depth.camera, size=cfg.texture_size, mode=cfg.uv,
                          back_rgb=depth.back_rgb)
    with clock.stage("place"):
        scale, offset = world_transform(np.asarray(mesh_cam.vertices), cfg, depth.units_per_metre)
        verts = conventions.world_from_cam_points(tx.vertices) * scale + offset
        normals = vertex_normals(verts, tx.faces, tx.welded_index)
        textured = TexturedMesh(
            vertices=verts.astype(np.float32),
            faces=np.asarray(tx.faces, dtype=np.int32),
            normals=normals,
            uv=np.asarray(tx.uv, dtype=np.float32),
            texture=tx.texture,
            material=Material(metallic=cfg.metallic, roughness=cfg.roughness,
                              name=_material_name(photo.source)),
            welded_index=tx.welded_index,
            welded_vertex_count=len(mesh_cam.vertices) if tx.welded_index is not None else None,
        )
        closed = is_watertight(textured.welded())
    clock.done()
    if not closed:
        log.warning("the mesh of %s is not watertight", photo.source)
    return Result(mesh=textured, photo=photo, segmentation=seg, crop=crop,
                  layered_depth=depth, timings=tuple(clock.timings), watertight=closed)


def _material_name(source: str) -> str:
    stem = Path(source).stem if source != "<array>" else "object"
    return f"{stem}_material"


def image_to_file(
    image,
    output: str | os.PathLike,
    config: Config | None = None,
    progress: ProgressCallback | None = None,
    preview: str | os.PathLike | None = None,
    preset: str | None = None,
) -> tuple[Result, list[Path]]:
    """Reconstruct ``image`` and write the mesh to ``output`` (format by extension).

    The output path (and the preview's) is validated before any work, so an
    unsupported extension or an unwritable directory fails fast.

    With ``preset`` (``web``, ``ar``, ``game``, ``print``: :mod:`lift3d.quality.presets`)
    the mesh goes through :func:`lift3d.quality.optimize_mesh` before it is written
    (LODs and the preset's other formats beside ``output``), and the written file is
    checked against the preset: ``Result.report``.

    Returns:
        the :class:`Result` (its timings include ``export`` and ``preview``) and
        every file written.
    """
    from .export import check_output_path, export

    out = check_output_path(output)
    prev = _check_preview_path(preview) if preview is not None else None
    if preset is not None:
        from .quality.presets import get_preset

        get_preset(preset)  # an unknown name fails before any work
    stages = (STAGES + (("optimize",) if preset else ()) + ("export",)
              + (("check",) if preset else ()) + (("preview",) if prev is not None else ()))

    def relay(ev: ProgressEvent) -> None:
        # reconstruct() knows only its own stages; present the whole run's list.
        if ev.stage == "done":
            return
        if progress is not None:
            progress(dataclasses.replace(ev, stages=stages))

    result = reconstruct(image, config, relay)
    clock = _Clock(stages, progress)
    clock.timings = list(result.timings)
    report = None
    if preset is None:
        with clock.stage("export"):
            written = export(result.mesh, out)
    else:
        from .quality.pipeline import apply_preset

        written, report = apply_preset(result.mesh, out, preset, clock)
    if prev is not None:
        from .render import write_preview

        with clock.stage("preview"):
            write_preview(result.mesh, prev, title=Path(result.photo.source).name)
        written.append(prev)
    clock.done()
    return dataclasses.replace(result, timings=tuple(clock.timings), report=report), written


def _check_preview_path(path: str | os.PathLike) -> Path:
    from .errors import InputError
    from .io.atomic import check_writable_dir

    p = Path(path)
    if p.suffix.lower() != ".png":
        raise InputError(f"preview: must be a .png file, got {p.name!r}")
    check_writable_dir(p.parent if str(p.parent) else Path("."))
    return p


def cutout(image, config: Config | None = None, max_side: int = 512) -> np.ndarray:
    """The object as the segmentation stage sees it, for a preview before a run.

    Args:
        image: as :func:`reconstruct`.
        max_side: the photo is downscaled so its longer side is at most this.

    Returns:
        ``(H, W, 4)`` uint8 RGBA: the photo, alpha = the object's mask.

    Raises:
        InputError: an unreadable image; NoObjectError: nothing found.
    """
    from .io import load_photo

    cfg = config if config is not None else Config()
    photo = load_photo(image, max_side=max_side, max_pixels=cfg.max_pixels)
    seg = segment_photo(photo, cfg)
    rgba = np.dstack([photo.rgb, seg.alpha])
    return (np.clip(rgba, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
