"""Deliverables: one reconstruction written as a folder of files people download.

The server (``lift3d serve``) and batch mode write the same folder for a job or an
item::

    OUT/model.glb         always (or the preset's main file, e.g. model.stl for print)
    OUT/model.usdz        with "usdz" in formats
    OUT/model_obj.zip     with "obj": model.obj, model.mtl and the texture, zipped
    OUT/model.ply, .stl   with "ply", "stl"
    OUT/preview.png       a 2x2 turntable sheet

:func:`deliver_image` and :func:`deliver_photos` run the single-photo and the photos
pipelines into such a folder and return a :class:`Delivery`. Every file is written
atomically (temporary name, then rename), so a reader never sees half a file.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import Config
from .errors import InputError
from .pipeline import ProgressCallback, ProgressEvent, _Clock
from .types import StageTiming, TexturedMesh

log = logging.getLogger(__name__)

#: Formats a delivery can hold, in the order they are written.
FORMATS: tuple[str, ...] = ("glb", "usdz", "obj", "ply", "stl")
#: What :func:`deliver_image` writes when not told.
DEFAULT_FORMATS: tuple[str, ...] = ("glb", "usdz", "obj")

_MEDIA_TYPES = {
    ".glb": "model/gltf-binary",
    ".usdz": "model/vnd.usdz+zip",
    ".zip": "application/zip",
    ".ply": "application/octet-stream",
    ".stl": "model/stl",
    ".png": "image/png",
    ".obj": "model/obj",
}


def media_type(name: str) -> str:
    """The HTTP media type of a delivered file, by extension."""
    return _MEDIA_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


@dataclass(frozen=True)
class DeliveredFile:
    """One file of a delivery.

    Attributes:
        name: file name inside the delivery folder (no directories).
        size: bytes.
        media_type: e.g. ``"model/gltf-binary"``.
    """

    name: str
    size: int
    media_type: str


@dataclass(frozen=True)
class MeshStats:
    """Facts about the delivered mesh.

    Attributes:
        faces, vertices: triangle and (welded) vertex counts of the main mesh.
        watertight: the welded mesh is closed and manifold.
        size_m: ``(x, y, z)`` bounding-box size in metres (glTF axes), or in arbitrary
            units when ``scale_known`` is False.
        scale_known: False when photos were reconstructed with no scale given.
        texture_size: side of the base-colour texture, pixels (0 without one).
    """

    faces: int
    vertices: int
    watertight: bool
    size_m: tuple[float, float, float]
    scale_known: bool
    texture_size: int


@dataclass(frozen=True)
class PresetCheck:
    """The delivered main file checked against a preset (``lift3d check --preset``)."""

    preset: str
    passed: bool
    failures: tuple[str, ...]


@dataclass(frozen=True)
class Delivery:
    """What :func:`deliver_image` and :func:`deliver_photos` wrote.

    Attributes:
        folder: the delivery folder.
        files: every file in it, main model first, preview last.
        stats: facts about the mesh.
        timings: per stage, in order.
        preset: the preset check, when a preset was applied.
    """

    folder: Path
    files: tuple[DeliveredFile, ...]
    stats: MeshStats
    timings: tuple[StageTiming, ...]
    preset: PresetCheck | None = None

    @property
    def total_seconds(self) -> float:
        return float(sum(t.seconds for t in self.timings))


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """``formats`` lower-cased, de-duplicated and checked; ``glb`` is always included.

    Raises:
        InputError: naming ``formats`` and the valid names.
    """
    out: list[str] = ["glb"]
    for f in formats:
        name = str(f).strip().lower().lstrip(".")
        if not name:
            continue
        if name not in FORMATS:
            raise InputError(f"formats: unknown format {f!r}; choose from {', '.join(FORMATS)}")
        if name not in out:
            out.append(name)
    return tuple(sorted(out, key=FORMATS.index))


def _stats(mesh: TexturedMesh, watertight: bool, scale_known: bool = True) -> MeshStats:
    verts = np.asarray(mesh.vertices, dtype=np.float64)
    size = verts.max(axis=0) - verts.min(axis=0) if len(verts) else np.zeros(3)
    welded = mesh.welded_vertex_count if mesh.welded_vertex_count else len(verts)
    tex = 0 if mesh.texture is None else int(np.asarray(mesh.texture).shape[0])
    return MeshStats(faces=int(len(mesh.faces)), vertices=int(welded), watertight=bool(watertight),
                     size_m=tuple(round(float(s), 6) for s in size), scale_known=scale_known,
                     texture_size=tex)


def _zip_obj(mesh: TexturedMesh, folder: Path) -> Path:
    """``model_obj.zip`` holding model.obj, its .mtl and texture, written atomically."""
    import tempfile

    from .export import export
    from .io.atomic import atomic_path

    target = folder / "model_obj.zip"
    with tempfile.TemporaryDirectory(dir=folder, prefix=".obj-") as tmp:
        parts = export(mesh, Path(tmp) / "model.obj")
        with atomic_path(target) as part:
            with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for p in parts:
                    zf.write(p, arcname=p.name)
    return target


def _write_formats(mesh: TexturedMesh, folder: Path, formats: Sequence[str],
                   have: set[str]) -> list[Path]:
    from .export import export

    written: list[Path] = []
    for fmt in formats:
        if fmt in have:
            continue
        if fmt == "obj":
            written.append(_zip_obj(mesh, folder))
        else:
            written.extend(export(mesh, folder / f"model.{fmt}"))
    return written


def _described(folder: Path, paths: Sequence[Path]) -> tuple[DeliveredFile, ...]:
    seen: dict[str, DeliveredFile] = {}
    for p in paths:
        p = Path(p)
        if p.parent.resolve() != folder.resolve() or p.name in seen:
            continue
        seen[p.name] = DeliveredFile(p.name, p.stat().st_size, media_type(p.name))
    return tuple(seen.values())


class _Stages:
    """Relays a pipeline's progress with extra stages appended to its stage list."""

    def __init__(self, extra: tuple[str, ...], progress: ProgressCallback | None) -> None:
        self.extra = extra
        self.progress = progress
        self.stages: tuple[str, ...] = ()

    def relay(self, ev: ProgressEvent) -> None:
        if ev.stage == "done":
            return
        self.stages = tuple(ev.stages) + self.extra
        if self.progress is not None:
            self.progress(dataclasses.replace(ev, stages=self.stages))


def _check_folder(folder: str | os.PathLike) -> Path:
    from .io.atomic import check_writable_dir

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    return check_writable_dir(out)


def deliver_image(image, folder: str | os.PathLike, *, config: Config | None = None,
                  formats: Sequence[str] = DEFAULT_FORMATS, preset: str | None = None,
                  progress: ProgressCallback | None = None) -> Delivery:
    """One photo to a delivery folder (see the module docstring).

    Args:
        image: a path, a PIL image or an ``(H, W, 3|4)`` array (as :func:`lift3d.reconstruct`).
        folder: created when missing.
        formats: names from :data:`FORMATS`; ``glb`` is always written.
        preset: ``web``, ``ar``, ``game`` or ``print``: the mesh is fitted to it and the
            files are the preset's (its formats and LODs) plus ``formats``; the main
            file is checked against it.
    """
    from .pipeline import image_to_file

    out = _check_folder(folder)
    fmts = check_formats(formats)
    main = "glb"
    if preset is not None:
        from .quality.presets import get_preset

        main = get_preset(preset).formats[0].lstrip(".")
    stages = _Stages(("formats",), progress)
    result, written = image_to_file(image, out / f"model.{main}", config, stages.relay,
                                    preview=out / "preview.png", preset=preset)
    clock = _Clock(stages.stages or ("formats",), progress)
    clock.timings = list(result.timings)
    have = {Path(p).suffix.lstrip(".").lower() for p in written}
    with clock.stage("formats"):
        extra = _write_formats(result.mesh, out, fmts, have)
    preview = [p for p in written if Path(p).name == "preview.png"]
    files = [p for p in written if Path(p).name != "preview.png"] + extra + preview
    check = None
    if result.report is not None and result.report.preset is not None:
        v = result.report.preset
        check = PresetCheck(v.name, bool(v.passed), tuple(v.reasons))
    return Delivery(folder=out, files=_described(out, files),
                    stats=_stats(result.mesh, result.watertight),
                    timings=tuple(clock.timings), preset=check)


def deliver(source: str | os.PathLike, folder: str | os.PathLike, *,
            faces: int | None = None, texture_size: int | None = None,
            height: float | None = None, formats: Sequence[str] = DEFAULT_FORMATS,
            preset: str | None = None, workspace: str | os.PathLike | None = None,
            progress: ProgressCallback | None = None) -> Delivery:
    """``source`` to a delivery folder, by the pipeline it calls for: one photo goes
    through :func:`deliver_image`, a folder of photos or a video through
    :func:`deliver_photos`. The server's jobs and batch items both come through here.

    Args:
        faces, texture_size, height: None keeps the pipeline's own default.
        preset: single-photo sources only.
        workspace: photos only; see :func:`deliver_photos`.

    Raises:
        InputError: a preset with photos or a video.
    """
    from .multiview.frames import VIDEO_SUFFIXES

    src = Path(source)
    given = {k: v for k, v in (("faces", faces), ("texture_size", texture_size),
                               ("height", height)) if v is not None}
    if not src.is_dir() and src.suffix.lower() not in VIDEO_SUFFIXES:
        return deliver_image(src, folder, config=dataclasses.replace(Config(), **given),
                             formats=formats, preset=preset, progress=progress)
    if preset is not None:
        raise InputError(f"preset: applies to one photo, not to photos or a video "
                         f"({src.name}); give formats instead")
    from .multiview.pipeline import PhotosOptions

    return deliver_photos(src, folder, options=PhotosOptions(**given), formats=formats,
                          workspace=workspace, progress=progress)


def deliver_photos(source: str | os.PathLike, folder: str | os.PathLike, *,
                   options=None, formats: Sequence[str] = DEFAULT_FORMATS,
                   workspace: str | os.PathLike | None = None,
                   progress: ProgressCallback | None = None) -> Delivery:
    """Photos (a folder) or a video to a delivery folder (see the module docstring).

    ``options`` is a :class:`lift3d.multiview.PhotosOptions`; ``workspace`` keeps the
    intermediate products so that a rerun resumes (:func:`lift3d.multiview.photos_to_file`).
    """
    from .multiview.pipeline import PhotosOptions, photos_to_file
    from .render import write_preview

    out = _check_folder(folder)
    fmts = check_formats(formats)
    stages = _Stages(("formats", "preview"), progress)
    result, written = photos_to_file(source, out / "model.glb",
                                     options if options is not None else PhotosOptions(),
                                     workspace=workspace, progress=stages.relay)
    clock = _Clock(stages.stages or ("formats", "preview"), progress)
    clock.timings = list(result.report.timings)
    with clock.stage("formats"):
        extra = _write_formats(result.mesh, out, fmts, {"glb"})
    with clock.stage("preview"):
        preview = write_preview(result.mesh, out / "preview.png", title=Path(source).name)
    rep = result.report
    stats = _stats(result.mesh, rep.watertight, scale_known=rep.scale != "arbitrary")
    return Delivery(folder=out, files=_described(out, list(written) + extra + [preview]),
                    stats=stats, timings=tuple(clock.timings))
