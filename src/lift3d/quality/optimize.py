"""``lift3d optimize``: budgets, layout and real-world size for any mesh.

:func:`optimize_mesh` takes a :class:`~lift3d.types.MeshAsset` and
:class:`OptimizeOptions` and returns an :class:`OptimizeResult`: the levels of detail
(LOD0 first) and the list of what changed, in sentences. It writes no file: the
caller exports ``result.lods`` under the names :meth:`OptimizeResult.file_names`
lists.

What happens, in order:

1. **Frame and scale.** A Z-up file is turned Y-up (glTF). The numbers are read in
   ``options.unit`` (overriding what the file states) or the file's stated unit and
   converted to metres; ``options.height`` instead scales uniformly so the +Y extent
   is that many metres. The unit becomes ``"m"``. With neither a known unit nor a
   height, the numbers are kept and the unit stays ``None``: the changes say the
   scale is unknown (a preset needing real scale, ``ar`` and ``print``, assumes the
   numbers are metres and says so). With ``origin="base"`` (default) the centre of
   the bounding box's bottom moves to the origin.
2. **Budget.** Target faces: ``options.faces``, or ``options.ratio`` of the current
   count, capped by the preset's ``max_triangles``. The geometry is welded (UV seams
   merged) and decimated by quadric simplification (fast-simplification): a closed
   input through :func:`lift3d.mesh.cleanup.try_decimate`, which keeps it closed; an
   open one directly. ``options.remesh`` (or the ``game`` preset) instead remeshes
   isotropically (``gpytoolbox.remesh_botsch``) with the edge length that gives the
   target count (equilateral triangles tiling the area) or ``options.remesh_edge``.
3. **Texture.** When the triangles changed and the input has a texture or vertex
   colours, the new mesh is unwrapped (:func:`lift3d.quality.bake.unwrap`) and its
   texture baked from the input (:func:`lift3d.quality.bake.bake_texture`): the
   mapping is right by construction. Vertex colours become a texture then, and also
   with ``bake_colors``, or with ``unwrap`` on a mesh without UVs. Texture side: the
   input's largest side (1024 for vertex colours), or ``options.texture_size``,
   capped by the preset; an unchanged texture is only shrunk (never enlarged).
4. **LODs.** LOD ``i`` (``i >= 1``) is LOD ``i-1`` decimated to ``LOD0 faces / 2**i``
   triangles and baked from the input at texture side ``T / 2**i`` (at least 128);
   vertex colours become a texture on these LODs even where LOD0 keeps them.
5. **Preset** (``print``): textures, UVs and colours dropped, millimetres; a mesh
   that is not one watertight piece is reported, not repaired (``lift3d repair
   --watertight`` does that).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..errors import InputError, require
from ..mesh.cleanup import components, edge_groups, is_watertight, try_decimate, weld
from ..mesh.geometry import face_areas
from ..types import UNITS, Material, Mesh, MeshAsset
from ._text import count as _n
from .bake import (
    MAX_TEXTURE,
    MIN_TEXTURE,
    UnwrapMethod,
    bake_texture,
    bake_vertex_colors,
    resize_texture,
    texture_side,
    unwrap,
)
from .presets import Preset, get_preset

log = logging.getLogger(__name__)

__all__ = ["OptimizeOptions", "OptimizeResult", "optimize_mesh"]

Origin = Literal["base", "keep"]

#: Texture side baked for a vertex-coloured mesh when no size is asked for.
DEFAULT_BAKE_SIZE = 1024
#: Smallest texture side of a LOD's re-baked texture.
MIN_LOD_TEXTURE = 128
#: Most LODs :func:`optimize_mesh` makes.
MAX_LODS = 8
#: Fewest faces a budget may ask for.
MIN_FACES = 4
#: Most faces a remesh may produce (a tiny ``remesh_edge`` would exhaust memory).
MAX_REMESH_FACES = 5_000_000
#: Botsch-Kobbelt iterations: 10 evens the edge lengths of any input in ~1-2 s at 70k
#: faces.
REMESH_ITERATIONS = 10


def _is_int(x: object) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _positive(x: object) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) \
        and math.isfinite(float(x)) and float(x) > 0


@dataclass(frozen=True)
class OptimizeOptions:
    """What :func:`optimize_mesh` should do. Every field is optional.

    Attributes:
        faces: target triangle count of LOD0 (at least 4), or None.
        ratio: target as a fraction ``(0, 1]`` of the current count; not with ``faces``.
        remesh: remesh isotropically (even triangles) to the target count (the current
            count when none), instead of decimating.
        remesh_edge: target edge length for the remesh, in metres when the scale is
            known, else in the mesh's own units; implies ``remesh``.
        unwrap: give a mesh without UVs a UV atlas (vertex colours are then baked).
        bake_colors: turn vertex colours into a texture even when the triangles do
            not change (they always become one when they do).
        texture_size: texture side in texels (8 to 16384): re-baked textures get this
            size; an unchanged texture is shrunk to it (never enlarged).
        lods: number of levels of detail, LOD0 included (1 to 8); ``1`` keeps the
            preset's count.
        height: size so the +Y extent is this many metres (overrides units).
        unit: the unit the input's numbers are in (a key of
            :data:`lift3d.types.UNITS`), overriding the one the file states.
        origin: ``"base"``: the centre of the bounding box's bottom goes to the origin
            (+Y up); ``"keep"``: positions are only scaled.
        preset: a :class:`~lift3d.quality.presets.Preset` (or its name) whose limits
            are applied on top of the above.
        uv_method: how new atlases are charted: ``"auto"``, ``"xatlas"`` or ``"box"``
            (see :func:`lift3d.quality.bake.unwrap`).
    """

    faces: int | None = None
    ratio: float | None = None
    remesh: bool = False
    remesh_edge: float | None = None
    unwrap: bool = False
    bake_colors: bool = False
    texture_size: int | None = None
    lods: int = 1
    height: float | None = None
    unit: str | None = None
    origin: Origin = "base"
    preset: Preset | None = None
    uv_method: UnwrapMethod = "auto"

    def __post_init__(self) -> None:
        if self.faces is not None and not (_is_int(self.faces) and self.faces >= MIN_FACES):
            raise InputError(f"faces: must be an integer >= {MIN_FACES}, got {self.faces!r}")
        if self.ratio is not None and not (_positive(self.ratio) and float(self.ratio) <= 1):
            raise InputError(f"ratio: must be a number in (0, 1], got {self.ratio!r}")
        if self.faces is not None and self.ratio is not None:
            raise InputError("ratio: give faces or ratio, not both")
        if self.remesh_edge is not None and not _positive(self.remesh_edge):
            raise InputError(f"remesh_edge: must be a positive length, got {self.remesh_edge!r}")
        if self.texture_size is not None and not (
                _is_int(self.texture_size) and MIN_TEXTURE <= self.texture_size <= MAX_TEXTURE):
            raise InputError(f"texture_size: must be an integer from {MIN_TEXTURE} to "
                             f"{MAX_TEXTURE}, got {self.texture_size!r}")
        if not (_is_int(self.lods) and 1 <= self.lods <= MAX_LODS):
            raise InputError(f"lods: must be an integer from 1 to {MAX_LODS}, got {self.lods!r}")
        if self.height is not None and not _positive(self.height):
            raise InputError(f"height: must be a positive length in metres, got {self.height!r}")
        if self.unit is not None and self.unit not in UNITS:
            raise InputError(f"unit: must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if self.origin not in ("base", "keep"):
            raise InputError(f"origin: must be 'base' or 'keep', got {self.origin!r}")
        if isinstance(self.preset, str):
            object.__setattr__(self, "preset", get_preset(self.preset))
        elif self.preset is not None and not isinstance(self.preset, Preset):
            raise InputError(f"preset: must be a Preset or a preset name, got {self.preset!r}")
        if self.uv_method not in ("auto", "xatlas", "box"):
            raise InputError(f"uv_method: must be 'auto', 'xatlas' or 'box', "
                             f"got {self.uv_method!r}")
        for name in ("remesh", "unwrap", "bake_colors"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise InputError(f"{name}: must be true or false, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class OptimizeResult:
    """What :func:`optimize_mesh` made.

    Attributes:
        lods: the levels of detail, LOD0 (full detail) first; each in the glTF frame
            (+Y up) and in ``unit``.
        changes: what was done (or found and left), one sentence each, in order.
        faces_before: triangles of the input.
        faces_after: triangles of LOD0.
        texture_size: ``(width, height)`` of LOD0's texture, or None.
        scale_factor: output coordinates = input coordinates x this (after any
            Z-up to Y-up turn, before the origin shift); 1.0 when the scale is unknown.
        unit: the output's unit (``"m"``, ``"mm"`` for ``print``), or None when the
            scale is unknown.
        scale_known: whether the size is real (a stated unit, ``unit`` or ``height``),
            rather than unknown or assumed.
        watertight: whether LOD0's welded geometry is closed and manifold.
        preset: the preset applied, or None.
        formats: the file extensions to write, the main one first (the preset's, else
            ``(".glb",)``).
    """

    lods: tuple[MeshAsset, ...]
    changes: tuple[str, ...]
    faces_before: int
    faces_after: int
    texture_size: tuple[int, int] | None
    scale_factor: float
    unit: str | None
    scale_known: bool
    watertight: bool
    preset: Preset | None = None
    formats: tuple[str, ...] = field(default=(".glb",))

    def file_names(self, stem: str = "model", formats: Sequence[str] | None = None
                   ) -> tuple[str, ...]:
        """The files to write, in :meth:`files` order: LOD0 as ``{stem}{ext}``, LOD
        ``i`` as ``{stem}_LOD{i}{ext}``, for each extension of ``formats`` (default
        :attr:`formats`). E.g. ``("model.glb", "model_LOD1.glb", "model_LOD2.glb")``
        for ``game``, ``("model.glb", "model.usdz")`` for ``ar``."""
        return tuple(name for name, _ in self.files(stem, formats))

    def files(self, stem: str = "model", formats: Sequence[str] | None = None
              ) -> tuple[tuple[str, MeshAsset], ...]:
        """``(file name, mesh)`` for every output (see :meth:`file_names`), LOD by LOD."""
        if not stem or "/" in stem or "\\" in stem:
            raise InputError(f"stem: must be a bare file name, got {stem!r}")
        exts = tuple(formats) if formats is not None else self.formats
        out = []
        for i, lod in enumerate(self.lods):
            name = stem if i == 0 else f"{stem}_LOD{i}"
            out.extend((f"{name}{ext}", lod) for ext in exts)
        return tuple(out)


# ----------------------------------------------------------------------------- helpers


def _validate_asset(asset: MeshAsset) -> None:
    if not isinstance(asset, MeshAsset):
        raise InputError(f"asset: must be a MeshAsset, got {type(asset).__name__}")
    f = np.asarray(asset.faces)
    if f.ndim != 2 or len(f) == 0:
        raise InputError("asset: the mesh has no triangles")
    if f.min() < 0 or f.max() >= len(asset.vertices):
        raise InputError("asset: face indices point past the vertices")
    if not np.isfinite(np.asarray(asset.vertices, dtype=np.float64)).all():
        raise InputError("asset: vertices hold NaN or infinite coordinates")


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _edge_manifold(faces: np.ndarray, n_vertices: int) -> bool:
    """No edge has more than two faces (what the remesher needs)."""
    return bool((edge_groups(faces, n_vertices)[4] <= 2).all())


def _mean_edge(mesh: Mesh) -> float:
    t = np.asarray(mesh.vertices)[np.asarray(mesh.faces)]
    return float(np.linalg.norm(t - np.roll(t, 1, axis=1), axis=2).mean())


def _edge_for_faces(mesh: Mesh, faces: int) -> float:
    """Edge length of equilateral triangles that tile the mesh's area in ``faces``."""
    area = float(face_areas(mesh).sum())
    return math.sqrt(4.0 * area / (math.sqrt(3.0) * faces))


def _simplify(mesh: Mesh, target: int) -> tuple[Mesh, str]:
    """Quadric decimation to about ``target`` faces: ``(mesh, how)``."""
    import fast_simplification

    if is_watertight(mesh):
        out = try_decimate(mesh, target)
        if out is not None:
            return out, "kept closed"
        how = "the surface opened: run `lift3d repair --watertight` if it must be closed"
    else:
        how = "open surface"
    v, f = fast_simplification.simplify(mesh.vertices.astype(np.float32),
                                        mesh.faces.astype(np.int32), target_count=target)
    return weld(Mesh(np.asarray(v, np.float64), np.asarray(f, np.int64))), how


def _remesh(mesh: Mesh, edge: float) -> Mesh:
    gpy = require("gpytoolbox", "quality", "isotropic remeshing")
    est = 4.0 * float(face_areas(mesh).sum()) / (math.sqrt(3.0) * edge * edge)
    if est > MAX_REMESH_FACES:
        raise InputError(f"remesh_edge: {_fmt(edge)} would make about {_n(int(est))} "
                         f"triangles (at most {_n(MAX_REMESH_FACES)})")
    v, f = gpy.remesh_botsch(np.ascontiguousarray(mesh.vertices, dtype=np.float64),
                             np.ascontiguousarray(mesh.faces, dtype=np.int32),
                             i=REMESH_ITERATIONS, h=float(edge), project=True)
    return weld(Mesh(np.asarray(v, np.float64), np.asarray(f, np.int64)))


def _to_y_up(v: np.ndarray) -> np.ndarray:
    """Z-up to Y-up, a right-handed turn of -90 degrees about +X: (x, y, z) -> (x, z, -y)."""
    return np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1)


@dataclass(frozen=True)
class _Scaled:
    asset: MeshAsset
    factor: float
    unit: str | None
    known: bool


def _place(asset: MeshAsset, opts: OptimizeOptions, preset: Preset | None,
           changes: list[str]) -> _Scaled:
    """Y-up, real size and origin: see the module docstring (step 1)."""
    v = np.asarray(asset.vertices, dtype=np.float64)
    if asset.up_axis == "Z":
        v = _to_y_up(v)
        changes.append("turned the model from Z-up to Y-up (glTF)")
    stated = asset.unit
    if opts.unit is not None and stated is not None and opts.unit != stated:
        changes.append(f"read the numbers as {opts.unit}, not the {stated} the file states")
    unit_in = opts.unit or stated
    known = True
    if opts.height is not None:
        extent = float(v[:, 1].max() - v[:, 1].min())
        if extent <= 0:
            raise InputError("height: the mesh has no vertical (+Y) extent to scale")
        factor, unit = float(opts.height) / extent, "m"
        changes.append(f"scaled by {_fmt(factor)} so the model is {_fmt(opts.height)} m tall")
    elif unit_in is not None:
        factor, unit = UNITS[unit_in], "m"
        if unit_in != "m":
            changes.append(f"converted {unit_in} to metres (x{_fmt(factor)})")
    elif preset is not None and preset.real_scale:
        factor, unit, known = 1.0, "m", False
        changes.append(f"scale unknown (no unit stated, no height given): assumed the numbers "
                       f"are metres for preset {preset.name}; give --height or --unit to be sure")
    else:
        factor, unit, known = 1.0, None, False
        changes.append("scale unknown (no unit stated, no height given): numbers kept, "
                       "unit left unstated")
    v = v * factor
    if opts.origin == "base":
        lo, hi = v.min(axis=0), v.max(axis=0)
        shift = -np.array([(lo[0] + hi[0]) / 2, lo[1], (lo[2] + hi[2]) / 2])
        if np.abs(shift).max() > 1e-12 * max(1.0, float(np.abs(v).max())):
            v = v + shift
            changes.append("moved the origin to the centre of the base (+Y up)")
    placed = dataclasses.replace(asset, vertices=v, unit=unit, up_axis="Y", file_bytes=0)
    return _Scaled(placed, factor, unit, known)


def _material_after_bake(src: MeshAsset) -> Material:
    """Baking from a texture folds the base-colour factor into the texels (as
    :func:`sample_colors` applies it); from vertex colours it does not."""
    if src.texture is not None and src.uv is not None:
        return dataclasses.replace(src.material, base_color_factor=(1.0, 1.0, 1.0, 1.0))
    return src.material


def _textured(src: MeshAsset, mesh: Mesh, size: int, method: UnwrapMethod) -> MeshAsset:
    """``mesh`` unwrapped, with a ``size`` texture baked from ``src``."""
    atlas = unwrap(mesh.vertices, mesh.faces, resolution=size, method=method)
    tex = bake_texture(src, atlas.vertices, atlas.faces, atlas.uv, size)
    return dataclasses.replace(
        src, vertices=atlas.vertices, faces=atlas.faces, uv=atlas.uv.astype(np.float32),
        texture=tex, vertex_colors=None, texture_sizes=((size, size),),
        material=_material_after_bake(src))


def _bare(src: MeshAsset, mesh: Mesh, with_uv: bool, size: int,
          method: UnwrapMethod) -> MeshAsset:
    """``mesh`` without colour (with a fresh atlas when ``with_uv``)."""
    if with_uv:
        atlas = unwrap(mesh.vertices, mesh.faces, resolution=size, method=method)
        return dataclasses.replace(src, vertices=atlas.vertices, faces=atlas.faces,
                                   uv=atlas.uv.astype(np.float32), texture=None,
                                   vertex_colors=None, texture_sizes=())
    return dataclasses.replace(src, vertices=mesh.vertices, faces=mesh.faces, uv=None,
                               texture=None, vertex_colors=None, texture_sizes=())


def _welded(asset: MeshAsset) -> Mesh:
    return weld(asset.mesh())


# ----------------------------------------------------------------------------- main


def optimize_mesh(asset: MeshAsset, options: OptimizeOptions | None = None) -> OptimizeResult:
    """Fit ``asset`` to a budget and a delivery target (see the module docstring).

    Args:
        asset: any mesh, as loaded.
        options: what to do (default: only frame, scale and origin).

    Returns:
        :class:`OptimizeResult` with the LODs (LOD0 first) and the changes.

    Raises:
        InputError: naming the argument or option that cannot be used.
    """
    opts = options if options is not None else OptimizeOptions()
    if not isinstance(opts, OptimizeOptions):
        raise InputError(f"options: must be OptimizeOptions, got {type(opts).__name__}")
    _validate_asset(asset)
    preset = opts.preset
    changes: list[str] = []
    faces_before = len(asset.faces)

    has_tex = asset.texture is not None and asset.uv is not None
    if asset.texture is not None and asset.uv is None:
        changes.append("ignored the texture: the mesh has no UVs to map it")
        asset = dataclasses.replace(asset, texture=None, texture_sizes=())
    no_colour = preset is not None and preset.max_texture == 0
    if no_colour and (asset.texture is not None or asset.vertex_colors is not None
                      or asset.uv is not None):
        changes.append(f"dropped textures, UVs and colours (preset {preset.name} takes none)")
        asset = dataclasses.replace(asset, uv=None, texture=None, vertex_colors=None,
                                    texture_sizes=())
        has_tex = False
    has_vc = asset.vertex_colors is not None and not has_tex
    has_colour = has_tex or has_vc

    placed = _place(asset, opts, preset, changes)
    src = placed.asset

    # Texture side for anything (re-)baked.
    size = opts.texture_size or texture_side(src) or DEFAULT_BAKE_SIZE
    cap = preset.max_texture if preset is not None and preset.max_texture else None
    if cap is not None and size > cap:
        size = cap

    # Face budget.
    n_now = len(src.faces)
    target = opts.faces if opts.faces is not None else (
        max(MIN_FACES, round(opts.ratio * n_now)) if opts.ratio is not None else None)
    if preset is not None and preset.max_triangles is not None:
        if (target or n_now) > preset.max_triangles:
            target = preset.max_triangles
            changes.append(f"face budget {_n(target)} (preset {preset.name} limit)")
    do_remesh = opts.remesh or opts.remesh_edge is not None or (
        preset is not None and preset.remesh)

    geometry: Mesh | None = None  # the new LOD0 triangles, None while unchanged
    if do_remesh or (target is not None and target < n_now):
        base = _welded(src)
        if do_remesh and not _edge_manifold(base.faces, len(base.vertices)):
            changes.append("did not remesh: some edges have more than two faces "
                           "(run `lift3d repair` first)")
            do_remesh = False
        if do_remesh:
            edge = opts.remesh_edge or (_edge_for_faces(base, target) if target
                                        else _mean_edge(base))
            geometry = _remesh(base, edge)
            changes.append(f"remeshed to even triangles (edge {_fmt(edge)}): "
                           f"{_n(n_now)} -> {_n(len(geometry.faces))} triangles")
        if target is not None and len((geometry or base).faces) > target:
            before = len((geometry or base).faces)
            geometry, how = _simplify(geometry or base, target)
            changes.append(f"decimated {_n(before)} -> {_n(len(geometry.faces))} triangles "
                           f"({how})")
    elif target is not None:
        changes.append(f"already {_n(n_now)} triangles, within the budget of {_n(target)}")

    # LOD0 with its colours.
    if geometry is not None:
        if has_colour:
            lod0 = _textured(src, geometry, size, opts.uv_method)
            what = "texture" if has_tex else "vertex colours"
            changes.append(f"re-baked the {what} onto a new {size}x{size} UV atlas")
        else:
            lod0 = _bare(src, geometry, src.uv is not None or opts.unwrap, size,
                         opts.uv_method)
            if lod0.uv is not None:
                changes.append("made a new UV atlas for the new triangles")
    elif has_vc and (opts.bake_colors or (opts.unwrap and src.uv is None)):
        lod0 = bake_vertex_colors(src, size, method=opts.uv_method)
        changes.append(f"baked the vertex colours into a {size}x{size} texture")
    elif src.uv is None and opts.unwrap and not no_colour:
        lod0 = _bare(src, _welded(src), True, size, opts.uv_method)
        changes.append("made a UV atlas (the mesh had no UVs)")
    else:
        lod0 = src
        if has_tex and texture_side(src) is not None and texture_side(src) > size:
            old = src.texture.shape
            lod0 = resize_texture(src, size)
            new = lod0.texture.shape
            changes.append(f"resized the texture {old[1]}x{old[0]} -> {new[1]}x{new[0]}")

    # LODs.
    n_lods = opts.lods if opts.lods > 1 else (preset.lods if preset is not None else 1)
    lods = [lod0]
    prev = _welded(lod0)
    lod0_faces = len(lod0.faces)
    for i in range(1, n_lods):
        want = max(MIN_FACES, lod0_faces >> i)
        if want >= len(prev.faces):
            changes.append(f"stopped at {i} LODs: too few triangles to halve again")
            break
        prev, _ = _simplify(prev, want)
        lod_size = max(MIN_LOD_TEXTURE, size >> i)
        if has_colour:
            lods.append(_textured(src, prev, min(lod_size, size), opts.uv_method))
        else:
            lods.append(_bare(src, prev, lod0.uv is not None, min(lod_size, size),
                             opts.uv_method))
    if len(lods) > 1:
        counts = ", ".join(_n(len(m.faces)) for m in lods)
        changes.append(f"made {len(lods)} LODs ({counts} triangles)")

    # Output unit (print: millimetres) and the checks a preset makes.
    factor, unit = placed.factor, placed.unit
    if preset is not None and preset.unit != "m" and unit == "m":
        k = 1.0 / UNITS[preset.unit]
        lods = [dataclasses.replace(m, vertices=np.asarray(m.vertices) * k, unit=preset.unit)
                for m in lods]
        factor, unit = factor * k, preset.unit
        changes.append(f"wrote the coordinates in {preset.unit} (preset {preset.name})")
    welded0 = _welded(lods[0])
    watertight = is_watertight(welded0)
    if preset is not None and preset.watertight and not watertight:
        changes.append(f"not watertight, which preset {preset.name} needs: run "
                       "`lift3d repair --watertight` first")
    if preset is not None and preset.single_component and components(welded0)[0] > 1:
        changes.append(f"{components(welded0)[0]} separate pieces; preset {preset.name} "
                       "wants one (`lift3d repair --watertight` joins them)")

    tex0 = lods[0].texture
    for m in lods:
        log.debug("LOD: %d vertices, %d faces", len(m.vertices), len(m.faces))
    return OptimizeResult(
        lods=tuple(lods),
        changes=tuple(changes),
        faces_before=faces_before,
        faces_after=len(lods[0].faces),
        texture_size=None if tex0 is None else (int(tex0.shape[1]), int(tex0.shape[0])),
        scale_factor=float(factor),
        unit=unit,
        scale_known=placed.known,
        watertight=watertight,
        preset=preset,
        formats=tuple(preset.formats) if preset is not None else (".glb",),
    )
