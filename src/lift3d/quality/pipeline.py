"""The mesh clean-up pipelines behind ``lift3d check``, ``repair`` and ``optimize``.

Each composes the stages of :mod:`lift3d.quality` around one mesh file: load
(:func:`lift3d.io.meshes.load_mesh`), the operation, a check of the result (against the
preset, when one is asked for) and the atomic writes
(:func:`lift3d.export.asset.export_asset`). Progress goes to the same callback type as
:func:`lift3d.reconstruct`'s.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..pipeline import ProgressCallback, _Clock
from ..types import MeshAsset, StageTiming, TexturedMesh
from .check import MeshReport, check_mesh
from .optimize import OptimizeOptions, OptimizeResult, optimize_mesh
from .presets import Preset, get_preset
from .repair import RepairOptions, RepairResult, repair_mesh

log = logging.getLogger(__name__)

__all__ = [
    "CHECK_STAGES",
    "OPTIMIZE_STAGES",
    "REPAIR_STAGES",
    "CheckRun",
    "QualityRun",
    "apply_preset",
    "check_file",
    "optimize_file",
    "output_names",
    "repair_file",
]

CHECK_STAGES: tuple[str, ...] = ("load", "check")
REPAIR_STAGES: tuple[str, ...] = ("load", "repair", "export", "check")
OPTIMIZE_STAGES: tuple[str, ...] = ("load", "optimize", "export", "check")



@dataclass(frozen=True)
class CheckRun:
    """``lift3d check``: the report of one file and how long it took."""

    report: MeshReport
    timings: tuple[StageTiming, ...]


@dataclass(frozen=True)
class QualityRun:
    """``lift3d repair`` or ``optimize``: what went in, what came out.

    Attributes:
        before: the check of the input (no preset).
        after: the check of the main output file (LOD0) as written and loaded back,
            against the preset when one was given (its ``preset`` verdict says whether
            the output passes, file size included).
        changes: what the operation did, one sentence each.
        written: every file written (main output first, side files included).
        timings: per stage.
    """

    before: MeshReport
    after: MeshReport
    changes: tuple[str, ...]
    written: tuple[Path, ...]
    timings: tuple[StageTiming, ...]


def _preset(preset: str | Preset | None) -> Preset | None:
    if preset is None or isinstance(preset, Preset):
        return preset
    return get_preset(preset)


def check_file(path: str | os.PathLike[str], preset: str | Preset | None = None, *,
               floater_fraction: float = 0.01,
               progress: ProgressCallback | None = None) -> CheckRun:
    """Load ``path`` and report on it (see :func:`lift3d.quality.check.check_mesh`)."""
    from ..io.meshes import load_mesh

    clock = _Clock(CHECK_STAGES, progress)
    p = _preset(preset)
    with clock.stage("load"):
        asset = load_mesh(path)
    with clock.stage("check"):
        report = check_mesh(asset, p, floater_fraction=floater_fraction)
    clock.done()
    return CheckRun(report, tuple(clock.timings))


def _fit_topology(result: OptimizeResult) -> OptimizeResult:
    """A preset that needs one closed manifold (``print``) gets one: LOD0 goes through
    ``repair --watertight`` (a no-op when it already is one)."""
    p = result.preset
    if p is None or not (p.watertight or p.single_component):
        return result
    fixed = repair_mesh(result.lods[0], RepairOptions(watertight=True,
                                                      keep_colors=p.max_texture != 0))
    if fixed.asset is result.lods[0]:
        return result
    return dataclasses.replace(
        result, lods=(fixed.asset,) + result.lods[1:],
        changes=result.changes + tuple(f"preset {p.name}: {c}" for c in fixed.changes),
        faces_after=len(fixed.asset.faces), watertight=fixed.watertight)


def output_names(out: str | os.PathLike[str], lods: int = 1,
                 extra_formats: tuple[str, ...] = ()) -> list[tuple[int, Path]]:
    """The files written for main output ``out``: ``(lod, path)`` pairs.

    LOD0 goes to ``out``; LOD ``i`` to ``STEM_LODi.EXT`` beside it; each of
    ``extra_formats`` (a preset's other formats, e.g. ``.usdz`` for ``ar``) is written
    for LOD0 as ``STEM.EXT`` too.
    """
    out = Path(out)
    ext = out.suffix.lower()
    names = [(0, out)]
    names += [(i, out.with_name(f"{out.stem}_LOD{i}{out.suffix}")) for i in range(1, lods)]
    names += [(0, out.with_suffix(e)) for e in extra_formats if e != ext]
    return names


def _check_output(out: str | os.PathLike[str], src: Path) -> Path:
    """The output path, checked before any work (extension, writable directory), and
    never the input file itself."""
    from ..export import check_output_path

    o = check_output_path(out)
    if o.resolve() == src.resolve():
        raise InputError(f"output: {o} is the input file; write the result elsewhere")
    return o


def _write(items: list[tuple[Path, MeshAsset]]) -> tuple[Path, ...]:
    from ..export.asset import export_asset

    written: list[Path] = []
    for path, asset in items:
        written += export_asset(asset, path)
    return tuple(written)


def repair_file(src: str | os.PathLike[str], out: str | os.PathLike[str],
                options: RepairOptions | None = None, *,
                progress: ProgressCallback | None = None) -> QualityRun:
    """Load ``src``, repair it (:func:`lift3d.quality.repair.repair_mesh`), write it to
    ``out`` (any writable format) and check the file written."""
    from ..io.meshes import load_mesh

    src_path = Path(src)
    names = output_names(_check_output(out, src_path))
    clock = _Clock(REPAIR_STAGES, progress)
    with clock.stage("load"):
        asset = load_mesh(src_path)
        before = check_mesh(asset, intersections=False)
    with clock.stage("repair"):
        result: RepairResult = repair_mesh(asset, options or RepairOptions())
    with clock.stage("export"):
        written = _write([(path, result.asset) for _, path in names])
    with clock.stage("check"):
        after = check_mesh(load_mesh(names[0][1]))
    clock.done()
    return QualityRun(before, after, tuple(result.changes) + tuple(result.notes), written,
                      tuple(clock.timings))


def optimize_file(src: str | os.PathLike[str], out: str | os.PathLike[str],
                  options: OptimizeOptions | None = None, *,
                  progress: ProgressCallback | None = None) -> QualityRun:
    """Load ``src``, optimise it (:func:`lift3d.quality.optimize.optimize_mesh`), write
    every level (and the preset's other formats), and check the main file written
    against the preset."""
    from ..io.meshes import load_mesh

    opts = options or OptimizeOptions()
    src_path = Path(src)
    out_path = _check_output(out, src_path)
    clock = _Clock(OPTIMIZE_STAGES, progress)
    with clock.stage("load"):
        asset = load_mesh(src_path)
        before = check_mesh(asset, intersections=False)
    result, written, after = _optimize_write_check(asset, opts, out_path, clock)
    clock.done()
    return QualityRun(before, after, tuple(result.changes), written, tuple(clock.timings))


def _check_written(path: Path, unit: str | None, preset: Preset | None) -> MeshReport:
    """Load a written file back and check it; OBJ, PLY and STL state no unit, so
    their numbers are taken in the ``unit`` they were written in."""
    from ..io.meshes import load_mesh

    asset = load_mesh(path)
    if asset.unit is None and unit is not None:
        asset = dataclasses.replace(asset, unit=unit)
    return check_mesh(asset, preset)


def _optimize_write_check(asset: MeshAsset, options: OptimizeOptions, out: Path,
                          clock: _Clock) -> tuple[OptimizeResult, tuple[Path, ...], MeshReport]:
    """The ``optimize``, ``export`` and ``check`` stages: optimise (and give a preset
    that needs one closed manifold one), write every level and format, check ``out``."""
    with clock.stage("optimize"):
        result = _fit_topology(optimize_mesh(asset, options))
    names = output_names(out, len(result.lods), result.formats)
    with clock.stage("export"):
        written = _write([(path, result.lods[lod]) for lod, path in names])
    with clock.stage("check"):
        report = _check_written(out, result.unit, result.preset)
    return result, written, report


def apply_preset(mesh: TexturedMesh, out: Path, preset: str | Preset,
                 clock: _Clock) -> tuple[list[Path], MeshReport]:
    """The ``optimize``, ``export`` and ``check`` stages of ``lift3d image --preset``:
    fit the reconstruction to ``preset``, write every file, check the main one."""
    # The reconstruction is already in metres with its base at y = 0.
    options = OptimizeOptions(preset=_preset(preset), origin="keep")
    _, written, report = _optimize_write_check(MeshAsset.from_textured(mesh), options,
                                               out, clock)
    return list(written), report
