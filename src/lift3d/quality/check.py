"""``lift3d check``: what is wrong with a mesh, and whether it meets a delivery preset.

:func:`check_mesh` analyses a :class:`~lift3d.types.MeshAsset` (any mesh from any
tool) and returns a :class:`MeshReport`: counts, closedness and manifoldness, holes,
pieces and floaters, degenerate and duplicate elements, winding, self-intersections,
size and unit, UVs, textures and vertex colours, and optionally a
:class:`PresetVerdict` for one of :data:`lift3d.quality.presets.PRESETS`.

Two views of the topology are reported, because files differ in how they store it:

* *as stored*: faces' vertex indices exactly as the file has them. A triangle soup
  (STL) or a mesh split along UV seams (glTF, OBJ) is then open along every split.
* *after welding*: vertices at exactly the same position merged first. This is the
  surface's real topology; components, floaters, duplicate faces, winding,
  inversion and self-intersections are measured on it.

Everything is vectorised numpy / scipy; a 1M-face mesh checks in a few seconds (the
self-intersection count is then estimated from a random sample of faces).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InputError
from ..mesh.cleanup import edge_groups
from ..types import UNITS, MeshAsset
from ._text import count as _n
from .presets import Preset, get_preset

__all__ = ["MeshReport", "PresetVerdict", "check_mesh", "evaluate_preset"]

log = logging.getLogger(__name__)

#: Sizes (largest side, in metres) outside this range suggest a wrong or missing unit.
PLAUSIBLE_SIZE_M: tuple[float, float] = (1e-3, 100.0)

#: Resolution of the UV raster that estimates UV overlap.
UV_RASTER = 512

# A face is degenerate when twice its area is below this times its longest edge
# squared (three collinear corners, up to rounding) or when its longest edge is
# below this times the bounding-box diagonal (corners coincide).
_DEGENERATE_REL = 1e-12


@dataclass(frozen=True)
class PresetVerdict:
    """Whether a mesh meets a preset.

    Attributes:
        name: the preset's name.
        passed: True when every requirement the mesh can show is met.
        reasons: one human sentence per failed requirement; empty when passed.
    """

    name: str
    passed: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class MeshReport:
    """What :func:`check_mesh` found. Counts are plain ints, sizes plain floats.

    Attributes:
        source: the path the mesh was loaded from ("" for meshes made in memory).
        file_bytes: size of the file and its side files (0 when not from disk).
        vertices: number of vertices, as stored.
        faces: number of triangles, as stored.
        unreferenced_vertices: vertices no face uses.
        watertight: closed, edge-manifold and consistently wound with the indices
            as stored (every directed edge once, its reverse once, no face with a
            repeated corner).
        watertight_after_weld: the same after merging vertices at equal positions.
        edge_manifold: no edge (as stored) has more than two faces.
        vertex_manifold: the faces around every vertex (as stored) form one fan.
        nonmanifold_edges: edges (as stored) with more than two faces.
        nonmanifold_vertices: vertices (as stored) where several fans of faces meet
            (fans connect through edges with exactly two faces).
        boundary_edges: edges (as stored) with exactly one face.
        holes: boundary loops as stored: connected chains of boundary edges.
        nonmanifold_edges_after_weld, nonmanifold_vertices_after_weld,
        boundary_edges_after_weld, holes_after_weld: the same after welding.
        components: connected pieces of the welded surface.
        floaters: pieces with less than ``floater_fraction`` of the total area.
        degenerate_faces: faces with a repeated corner or zero area.
        duplicate_faces: faces whose (welded) vertex set another face repeats: the
            redundant copies (two equal faces count 1).
        duplicate_vertices: vertices at exactly the position of another: the
            redundant copies.
        inconsistent_winding: welded edges with two faces that traverse them in the
            same direction.
        flipped_faces: the fewest faces whose reversal makes each orientable piece
            consistently wound (per piece, the smaller side).
        inverted: the welded mesh is watertight with negative signed volume (its
            normals point inward).
        area: total surface area, file units squared.
        volume: signed volume of the welded mesh in file units cubed when it is
            watertight after welding, else None.
        self_intersections: pairs of triangles that cross each other without
            sharing a vertex (welded; coplanar overlaps are not counted), or None
            when not computed.
        self_intersections_estimated: True when ``self_intersections`` is
            extrapolated from a random sample of faces (big meshes).
        unit: the unit the file states (a key of :data:`lift3d.types.UNITS`) or None.
        unit_stated: whether the file states a unit.
        up_axis: ``"Y"`` or ``"Z"`` when the file states it, else None.
        raw_bounds_min, raw_bounds_max: ``(x, y, z)`` corners of the used vertices'
            box, file units.
        raw_size: ``(dx, dy, dz)`` of that box, file units.
        bounds_min, bounds_max, size: the same in metres, or None when no unit is
            stated.
        scale_suspect: the largest side, in metres (or read as metres when no unit is
            stated), is outside 1 mm..100 m.
        scale_hint: a sentence about the probable unit when ``scale_suspect``.
        has_uv: the mesh has texture coordinates.
        uv_out_of_range: used vertices with a UV coordinate outside ``[0, 1]``.
        uv_overlap: fraction of the UV area (inside ``[0, 1]``) that more than one
            triangle covers, estimated on a 512x512 raster; None without UVs.
        textures: number of texture images.
        texture_sizes: ``(width, height)`` of each texture image.
        vertex_colors: the mesh has per-vertex colours.
        floater_fraction: the area fraction below which a piece is a floater.
        preset: the verdict for the requested preset, or None.
    """

    source: str
    file_bytes: int
    vertices: int
    faces: int
    unreferenced_vertices: int
    watertight: bool
    watertight_after_weld: bool
    edge_manifold: bool
    vertex_manifold: bool
    nonmanifold_edges: int
    nonmanifold_vertices: int
    boundary_edges: int
    holes: int
    nonmanifold_edges_after_weld: int
    nonmanifold_vertices_after_weld: int
    boundary_edges_after_weld: int
    holes_after_weld: int
    components: int
    floaters: int
    degenerate_faces: int
    duplicate_faces: int
    duplicate_vertices: int
    inconsistent_winding: int
    flipped_faces: int
    inverted: bool
    area: float
    volume: float | None
    self_intersections: int | None
    self_intersections_estimated: bool
    unit: str | None
    unit_stated: bool
    up_axis: str | None
    raw_bounds_min: tuple[float, float, float]
    raw_bounds_max: tuple[float, float, float]
    raw_size: tuple[float, float, float]
    bounds_min: tuple[float, float, float] | None
    bounds_max: tuple[float, float, float] | None
    size: tuple[float, float, float] | None
    scale_suspect: bool
    scale_hint: str | None
    has_uv: bool
    uv_out_of_range: int
    uv_overlap: float | None
    textures: int
    texture_sizes: tuple[tuple[int, int], ...]
    vertex_colors: bool
    floater_fraction: float
    preset: PresetVerdict | None = None

    def to_dict(self) -> dict:
        """The report as plain JSON-ready types (tuples become lists)."""
        return _jsonable(asdict(self))

    def summary_lines(self) -> list[str]:
        """The human report, one fact per line (what ``lift3d check`` prints)."""
        return _summary_lines(self)


# --- the check -------------------------------------------------------------------------


def check_mesh(asset: MeshAsset, preset: str | Preset | None = None, *,
               floater_fraction: float = 0.01, intersections: bool = True,
               max_intersection_faces: int = 200_000) -> MeshReport:
    """Analyse ``asset`` and, when ``preset`` is given, judge it against that preset.

    Args:
        asset: the mesh, in its file's units and axes.
        preset: a preset name (``web``, ``ar``, ``game``, ``print``), a
            :class:`~lift3d.quality.presets.Preset`, or None for no verdict.
        floater_fraction: pieces with less than this fraction of the total surface
            area count as floaters, in ``[0, 1)``.
        intersections: whether to look for self-intersections (the slowest part).
        max_intersection_faces: up to this many faces every candidate pair is tested;
            above it, pairs involving a random sample of 50 000 faces (or this many,
            if fewer) are tested and the total is extrapolated
            (``self_intersections_estimated``).

    Raises:
        InputError: naming the argument, for a wrong type, non-finite vertices,
            face indices out of range or an unknown preset.
    """
    if not isinstance(asset, MeshAsset):
        raise InputError(f"asset: expected a MeshAsset, got {type(asset).__name__}")
    if not (0.0 <= float(floater_fraction) < 1.0):
        raise InputError(f"floater_fraction: must be in [0, 1), got {floater_fraction!r}")
    if int(max_intersection_faces) < 1:
        raise InputError(
            f"max_intersection_faces: must be at least 1, got {max_intersection_faces!r}")
    chosen = _resolve_preset(preset)

    v = np.asarray(asset.vertices, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(asset.faces, dtype=np.int64).reshape(-1, 3)
    nv, nf = len(v), len(f)
    if not np.isfinite(v).all():
        bad = int((~np.isfinite(v)).any(axis=1).sum())
        raise InputError(f"asset: {bad} vertices are not finite (NaN or infinity)")
    if nf and (f.min() < 0 or f.max() >= nv):
        raise InputError(f"asset: face indices must be in [0, {nv}), "
                         f"got {int(f.min())}..{int(f.max())}")

    used = np.zeros(nv, dtype=bool)
    used[f.ravel()] = True
    pts = v[used] if used.any() else v
    raw_lo = pts.min(axis=0) if len(pts) else np.zeros(3)
    raw_hi = pts.max(axis=0) if len(pts) else np.zeros(3)
    diag = float(np.linalg.norm(raw_hi - raw_lo))

    # Faces as stored: degenerate ones, and the index topology.
    repeated = (f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 2] == f[:, 0])
    tri = v[f]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    twice_area = np.linalg.norm(cross, axis=1)
    longest = np.sqrt(np.max(np.stack([
        ((tri[:, 1] - tri[:, 0]) ** 2).sum(1), ((tri[:, 2] - tri[:, 1]) ** 2).sum(1),
        ((tri[:, 0] - tri[:, 2]) ** 2).sum(1)]), axis=0)) if nf else np.zeros(0)
    zero_area = ((twice_area <= _DEGENERATE_REL * longest ** 2)
                 | (longest <= _DEGENERATE_REL * diag))
    degenerate = repeated | zero_area
    area = float(twice_area.sum() / 2.0)

    # Welded by exact position.
    inverse, n_unique = _weld_inverse(v)
    duplicate_vertices = nv - n_unique
    if duplicate_vertices == 0:
        fw, nw, vw = f, nv, v
    else:
        fw, nw = inverse[f], n_unique
        vw = np.empty((nw, 3))
        vw[inverse] = v
    w_ok = (fw[:, 0] != fw[:, 1]) & (fw[:, 1] != fw[:, 2]) & (fw[:, 2] != fw[:, 0])
    fwv = fw[w_ok]
    if duplicate_vertices == 0:  # the welded faces are the stored ones
        stored = welded = _topology(fwv, nw, fans=True, flips=True)
    else:
        stored = _topology(f[~repeated], nv, fans=True, flips=False)
        welded = _topology(fwv, nw, fans=True, flips=True)
    watertight = bool(stored.closed and nf > 0 and not repeated.any())
    watertight_w = bool(welded.closed and len(fwv) > 0 and w_ok.all())

    duplicate_faces = _duplicate_rows(np.sort(fwv, axis=1))

    n_comp, floaters = _components(fwv, nw, twice_area[w_ok], floater_fraction)

    volume = None
    inverted = False
    if watertight_w:
        t = v[f[w_ok]]
        volume = float(np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6)
        inverted = volume < 0

    self_x, estimated = None, False
    if intersections:
        keep = w_ok & ~degenerate
        self_x, estimated = _self_intersections(vw, fw[keep], int(max_intersection_faces))

    # Size and unit.
    raw_size = raw_hi - raw_lo
    mpu = asset.metres_per_unit
    largest_m = float(raw_size.max()) * (mpu if mpu is not None else 1.0)
    suspect = bool(len(pts) > 0 and not (PLAUSIBLE_SIZE_M[0] <= largest_m
                                         <= PLAUSIBLE_SIZE_M[1]))
    hint = _scale_hint(float(raw_size.max()), asset.unit) if suspect else None

    # UVs, textures, colours.
    has_uv = asset.uv is not None
    uv_out, uv_overlap = 0, None
    if has_uv:
        uv = np.asarray(asset.uv, dtype=np.float64)
        outside = ~((uv >= 0.0) & (uv <= 1.0)).all(axis=1)
        uv_out = int((outside & used).sum())
        uv_overlap = _uv_overlap(uv, f[~repeated], UV_RASTER)
    sizes = tuple((int(w), int(h)) for w, h in asset.texture_sizes)
    if not sizes and asset.texture is not None:
        sizes = ((int(asset.texture.shape[1]), int(asset.texture.shape[0])),)

    def _t(a) -> tuple[float, float, float]:
        return (float(a[0]), float(a[1]), float(a[2]))

    report = MeshReport(
        source=str(asset.source), file_bytes=int(asset.file_bytes), vertices=nv,
        faces=nf, unreferenced_vertices=int(nv - used.sum()),
        watertight=watertight, watertight_after_weld=watertight_w,
        edge_manifold=stored.nonmanifold_edges == 0,
        vertex_manifold=stored.nonmanifold_vertices == 0,
        nonmanifold_edges=stored.nonmanifold_edges,
        nonmanifold_vertices=stored.nonmanifold_vertices,
        boundary_edges=stored.boundary_edges, holes=stored.holes,
        nonmanifold_edges_after_weld=welded.nonmanifold_edges,
        nonmanifold_vertices_after_weld=welded.nonmanifold_vertices,
        boundary_edges_after_weld=welded.boundary_edges, holes_after_weld=welded.holes,
        components=n_comp, floaters=floaters, degenerate_faces=int(degenerate.sum()),
        duplicate_faces=int(duplicate_faces), duplicate_vertices=int(duplicate_vertices),
        inconsistent_winding=welded.inconsistent, flipped_faces=welded.flipped,
        inverted=bool(inverted), area=area, volume=volume,
        self_intersections=self_x, self_intersections_estimated=bool(estimated),
        unit=asset.unit, unit_stated=asset.unit is not None, up_axis=asset.up_axis,
        raw_bounds_min=_t(raw_lo), raw_bounds_max=_t(raw_hi), raw_size=_t(raw_size),
        bounds_min=None if mpu is None else _t(raw_lo * mpu),
        bounds_max=None if mpu is None else _t(raw_hi * mpu),
        size=None if mpu is None else _t(raw_size * mpu),
        scale_suspect=suspect, scale_hint=hint, has_uv=has_uv,
        uv_out_of_range=uv_out, uv_overlap=uv_overlap, textures=len(sizes),
        texture_sizes=sizes, vertex_colors=asset.vertex_colors is not None,
        floater_fraction=float(floater_fraction))
    if chosen is not None:
        report = _replace_preset(report, evaluate_preset(report, chosen))
    log.debug("checked %s: %d faces, watertight=%s", asset.source or "<mesh>", nf,
              watertight)
    return report


def _resolve_preset(preset: str | Preset | None) -> Preset | None:
    if preset is None or isinstance(preset, Preset):
        return preset
    if isinstance(preset, str):
        return get_preset(preset)
    raise InputError(f"preset: expected a preset name or Preset, got {type(preset).__name__}")


def _replace_preset(report: MeshReport, verdict: PresetVerdict) -> MeshReport:
    return dataclasses.replace(report, preset=verdict)


# --- preset verdicts -------------------------------------------------------------------


def evaluate_preset(report: MeshReport, preset: str | Preset) -> PresetVerdict:
    """Judge a checked mesh against ``preset``.

    Checked: triangle count, texture count and sizes (``max_texture == 0``: no
    textures at all), file size (when the mesh came from a file), a stated and
    plausible real-world size (``real_scale``; an STL target's files never state a
    unit, so there the numbers are read in the preset's unit), watertight after
    welding with outward normals (``watertight``), and one piece
    (``single_component``). LODs and even triangles are what ``optimize`` produces,
    not properties of a single mesh, so they are not judged.
    """
    p = _resolve_preset(preset)
    if p is None:
        raise InputError("preset: a preset name or Preset is required, got None")
    name = p.name
    reasons: list[str] = []
    if p.max_triangles is not None and report.faces > p.max_triangles:
        reasons.append(f"{_n(report.faces)} triangles, over the {_n(p.max_triangles)} "
                       f"of preset {name}")
    if p.max_texture == 0 or p.max_textures == 0:
        if report.textures:
            reasons.append(f"{report.textures} texture image(s); preset {name} takes none")
    else:
        if p.max_textures is not None and report.textures > p.max_textures:
            reasons.append(f"{report.textures} texture images, over the {p.max_textures} "
                           f"of preset {name}")
        if p.max_texture is not None:
            for w, h in report.texture_sizes:
                if max(w, h) > p.max_texture:
                    reasons.append(f"texture {w}x{h}, over the {p.max_texture} px "
                                   f"of preset {name}")
    if p.max_file_bytes is not None and report.file_bytes > p.max_file_bytes:
        reasons.append(f"file is {report.file_bytes / 2**20:.1f} MB, over the "
                       f"{p.max_file_bytes / 2**20:g} MB of preset {name}")
    if p.real_scale:
        reasons.extend(_scale_reasons(report, p))
    if p.watertight:
        if not report.watertight_after_weld:
            reasons.append(f"not watertight ({_defects(report)}); preset {name} needs one "
                           f"closed manifold surface")
        elif report.nonmanifold_vertices_after_weld:
            reasons.append(f"{_n(report.nonmanifold_vertices_after_weld)} non-manifold "
                           f"vertices; preset {name} needs a manifold surface")
        if report.inverted:
            reasons.append(f"normals point inward (negative volume); preset {name} needs "
                           f"them outward")
    if p.single_component and report.components != 1:
        reasons.append(f"{_n(report.components)} separate pieces; preset {name} needs one")
    return PresetVerdict(name=name, passed=not reasons, reasons=tuple(reasons))


def _scale_reasons(report: MeshReport, p: Preset) -> list[str]:
    lo, hi = PLAUSIBLE_SIZE_M
    largest = max(report.raw_size)
    if report.unit is None:
        if p.formats and p.formats[0] == ".stl":
            # STL never states a unit; printers read the numbers in millimetres.
            metres = largest * UNITS[p.unit]
            if lo <= metres <= hi:
                return []
            return [f"largest side {largest:.4g} read in {p.unit} (STL states no unit) is "
                    f"{_len(metres)}, outside {_len(lo)}..{_len(hi)}"]
        return [f"no unit stated, so the real size is unknown; preset {p.name} needs real "
                f"scale (set it with optimize --unit or --height)"]
    if report.scale_suspect:
        metres = largest * UNITS[report.unit]
        return [f"largest side is {_len(metres)}, outside {_len(lo)}..{_len(hi)}: the "
                f"stated unit '{report.unit}' is probably wrong"]
    return []


def _defects(r: MeshReport) -> str:
    parts = []
    if r.holes_after_weld:
        parts.append(f"{_n(r.holes_after_weld)} holes")
    if r.nonmanifold_edges_after_weld:
        parts.append(f"{_n(r.nonmanifold_edges_after_weld)} non-manifold edges")
    if r.inconsistent_winding:
        parts.append(f"{_n(r.inconsistent_winding)} inconsistently wound edges")
    if r.degenerate_faces:
        parts.append(f"{_n(r.degenerate_faces)} degenerate faces")
    if not parts and r.faces == 0:
        parts.append("no triangles")
    return ", ".join(parts) or "open or non-manifold"


# --- topology --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Topology:
    nonmanifold_edges: int
    boundary_edges: int
    holes: int
    inconsistent: int
    nonmanifold_vertices: int
    flipped: int
    closed: bool


def _topology(f: np.ndarray, n: int, *, fans: bool, flips: bool) -> _Topology:
    """Edge and vertex topology of faces ``f`` over ``n`` vertices (no face may
    repeat a corner)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    nf = len(f)
    if nf == 0:
        return _Topology(0, 0, 0, 0, 0, 0, False)
    a, b, order, start, count = edge_groups(f, n)
    nonmanifold = int((count > 2).sum())
    single = order[start[count == 1]]
    pair = start[count == 2]
    h1, h2 = order[pair], order[pair + 1]
    same = a[h1] == a[h2]  # both faces traverse the edge in one direction
    inconsistent = int(same.sum())

    holes = 0
    if len(single):
        g = sp.coo_matrix((np.ones(len(single), np.int8), (a[single], b[single])),
                          shape=(n, n))
        _, label = connected_components(g, directed=False)
        holes = int(np.count_nonzero(np.bincount(label[a[single]])))

    nonmanifold_vertices = 0
    if fans:
        # Corners around one vertex are one fan when linked through two-face edges.
        corner = np.arange(3 * nf, dtype=np.int64)
        nxt = (corner // 3) * 3 + (corner + 1) % 3  # the corner at b of half-edge h
        c1 = np.concatenate([h1, nxt[h1]])
        c2 = np.concatenate([np.where(same, h2, nxt[h2]), np.where(same, nxt[h2], h2)])
        g = sp.coo_matrix((np.ones(len(c1), np.int8), (c1, c2)), shape=(3 * nf, 3 * nf))
        n_fans, label = connected_components(g, directed=False)
        fan_vertex = np.zeros(n_fans, dtype=np.int64)
        fan_vertex[label] = a
        nonmanifold_vertices = int((np.bincount(fan_vertex, minlength=n) > 1).sum())

    flipped = 0
    if flips and len(h1):
        # Two copies of each face, one per orientation: a consistent edge links like
        # with like, an inconsistent one links opposites. A face whose two copies
        # land in different components has a well-defined side in its piece.
        f1, f2 = h1 // 3, h2 // 3
        src = np.concatenate([f1, f1 + nf])
        dst = np.concatenate([np.where(same, f2 + nf, f2), np.where(same, f2, f2 + nf)])
        g = sp.coo_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(2 * nf, 2 * nf))
        _, label = connected_components(g, directed=False)
        lp, ln = label[:nf], label[nf:]
        orientable = lp != ln
        group = np.minimum(lp, ln)[orientable]
        side = (lp < ln)[orientable]
        ng = int(label.max()) + 1
        c_true = np.bincount(group[side], minlength=ng)
        c_false = np.bincount(group[~side], minlength=ng)
        flipped = int(np.minimum(c_true, c_false).sum())

    closed = nonmanifold == 0 and len(single) == 0 and inconsistent == 0
    return _Topology(nonmanifold, int(len(single)), int(holes), inconsistent,
                     nonmanifold_vertices, flipped, bool(closed))


def _duplicate_rows(rows: np.ndarray) -> int:
    """How many rows of an ``(N, 3)`` int64 array repeat an earlier row."""
    if len(rows) < 2:
        return 0
    order = np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0]))
    r = rows[order]
    return int((r[1:] == r[:-1]).all(axis=1).sum())


def _weld_inverse(v: np.ndarray) -> tuple[np.ndarray, int]:
    """``(V,)`` index of each vertex's exact-position class, and the class count."""
    if len(v) == 0:
        return np.zeros(0, np.int64), 0
    vv = v + 0.0  # -0.0 becomes 0.0, so they weld
    # lexsort of the columns is a few times faster than np.unique over rows.
    order = np.lexsort((vv[:, 2], vv[:, 1], vv[:, 0]))
    s = vv[order]
    new = np.r_[True, (s[1:] != s[:-1]).any(axis=1)]
    inverse = np.empty(len(v), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return inverse, int(new.sum())


def _components(f: np.ndarray, n: int, twice_area: np.ndarray, fraction: float
                ) -> tuple[int, int]:
    """Connected pieces of the faces and how many have under ``fraction`` of the area."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    if len(f) == 0:
        return 0, 0
    rows = np.concatenate([f[:, 0], f[:, 1]])
    cols = np.concatenate([f[:, 1], f[:, 2]])
    g = sp.coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n, n))
    _, vlabel = connected_components(g, directed=False)
    piece_area = np.bincount(vlabel[f[:, 0]], weights=twice_area)
    used = np.bincount(vlabel[f[:, 0]]) > 0  # labels of unused vertices hold no faces
    piece_area = piece_area[used]
    total = piece_area.sum()
    floaters = int((piece_area < fraction * total).sum()) if total > 0 else 0
    return int(len(piece_area)), floaters


# --- self-intersections ----------------------------------------------------------------

_CELL_BUDGET = 8  # grid entries per face, at most
_PAIR_CHUNK = 1_000_000
_SAMPLE_FACES = 50_000  # faces sampled when a mesh is too big to test every pair


def _self_intersections(v: np.ndarray, f: np.ndarray, max_faces: int
                        ) -> tuple[int, bool]:
    """Pairs of triangles ``f`` that cross without sharing a vertex.

    Candidates come from a uniform grid over the triangles' boxes (cell about the
    median triangle size, doubled until each face touches few cells); a pair is
    examined only in the cell holding the low corner of the two boxes' overlap, so
    each pair is examined once. Two triangles cross when an edge of one passes
    through the other (strictly through its plane), which misses only coplanar
    overlaps. Above ``max_faces`` faces, only pairs with a face in a random sample
    of :data:`_SAMPLE_FACES` (or ``max_faces`` if fewer) are examined, and the
    count is scaled by the chance that a pair has one.
    """
    nf = len(f)
    if nf < 2:
        return 0, False
    tri = v[f]
    lo = np.minimum(np.minimum(tri[:, 0], tri[:, 1]), tri[:, 2])
    hi = np.maximum(np.maximum(tri[:, 0], tri[:, 1]), tri[:, 2])
    ext = (hi - lo).max(axis=1)
    span = float((hi.max(axis=0) - lo.min(axis=0)).max())
    if span <= 0:
        return 0, False
    # Twice the median box: each face touches about 3 cells, each cell holds ~10 faces.
    h = 2.0 * float(np.median(ext)) or span
    origin = lo.min(axis=0)
    while True:
        c0 = np.floor((lo - origin) / h).astype(np.int64)
        c1 = np.floor((hi - origin) / h).astype(np.int64)
        width = c1 - c0 + 1
        cells = width.prod(axis=1)
        dims = c1.max(axis=0) + 1
        if (cells.sum() <= _CELL_BUDGET * nf + 1000
                and float(dims[0]) * float(dims[1]) * float(dims[2]) < 2.0**62):
            break
        h *= 2.0

    estimated = nf > max_faces
    in_sample = np.ones(nf, dtype=bool)
    n_sample = min(max_faces, _SAMPLE_FACES)
    if estimated:
        rng = np.random.default_rng(0)
        in_sample[:] = False
        in_sample[rng.choice(nf, size=n_sample, replace=False)] = True

    # Grid entries: one per (face, cell its box touches).
    face = np.repeat(np.arange(nf), cells)
    local = np.arange(len(face)) - np.repeat(np.cumsum(cells) - cells, cells)
    wy, wz = width[face, 1], width[face, 2]
    cx = c0[face, 0] + local // (wy * wz)
    cy = c0[face, 1] + (local // wz) % wy
    cz = c0[face, 2] + local % wz
    key = (cx * dims[1] + cy) * dims[2] + cz
    del cx, cy, cz, local, wy, wz
    order = np.argsort(key, kind="stable")
    key, face = key[order], face[order]
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    size = np.diff(np.r_[start, len(key)])
    gstart = np.repeat(start, size)
    gend = gstart + np.repeat(size, size)
    pos = np.arange(len(key))
    # Entry p pairs with entries after it in its group (exact), or, sampling, a
    # sampled entry pairs with every other entry of its group.
    if estimated:
        first = np.where(in_sample[face], gstart, gend)
    else:
        first = pos + 1
    npairs = np.maximum(gend - first, 0)

    hits: list[np.ndarray] = []
    cum = np.cumsum(npairs)
    edges = np.searchsorted(cum, np.arange(_PAIR_CHUNK, int(cum[-1]) + _PAIR_CHUNK,
                                           _PAIR_CHUNK), side="right")
    lo_e = 0
    for hi_e in np.unique(np.r_[edges, len(key)]):
        sel = np.arange(lo_e, hi_e)
        lo_e = hi_e
        cnt = npairs[sel]
        if cnt.sum() == 0:
            continue
        p = np.repeat(sel, cnt)
        q = np.repeat(first[sel], cnt) + (np.arange(int(cnt.sum()))
                                          - np.repeat(np.cumsum(cnt) - cnt, cnt))
        i, j = face[p], face[q]
        keep = i != j
        if estimated:
            # A pair of two sampled faces is seen from both sides: keep one.
            keep &= ~(in_sample[j] & (j < i))
        p, i, j = p[keep], i[keep], j[keep]
        olo = np.maximum(lo[i], lo[j])
        ohi = np.minimum(hi[i], hi[j])
        keep = (olo <= ohi).all(axis=1)
        own = np.floor((olo - origin) / h).astype(np.int64)
        keep &= (own[:, 0] * dims[1] + own[:, 1]) * dims[2] + own[:, 2] == key[p]
        fi, fj = f[i], f[j]
        keep &= ~(fi[:, :, None] == fj[:, None, :]).any(axis=(1, 2))
        i, j = i[keep], j[keep]
        if len(i) == 0:
            continue
        crossing = _triangles_cross(tri[i], tri[j])
        hits.append(np.minimum(i, j)[crossing] * nf + np.maximum(i, j)[crossing])
    found = len(np.unique(np.concatenate(hits))) if hits else 0
    if not estimated:
        return int(found), False
    s = n_sample / nf
    chance = 1.0 - (1.0 - s) ** 2
    return int(round(found / chance)), True


def _edges_through(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``(N,)`` whether an edge of triangle ``p[k]`` passes through triangle ``t[k]``."""
    n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    d = np.einsum("nkd,nd->nk", p - t[:, None, 0], n)
    out = np.zeros(len(p), dtype=bool)
    for s, e in ((0, 1), (1, 2), (2, 0)):
        ds, de = d[:, s], d[:, e]
        crosses = ds * de < 0
        denom = np.where(crosses, ds - de, 1.0)
        x = p[:, s] + (ds / denom)[:, None] * (p[:, e] - p[:, s])
        inside = crosses
        for a, b in ((0, 1), (1, 2), (2, 0)):
            side = np.einsum("nd,nd->n", np.cross(t[:, b] - t[:, a], x - t[:, a]), n)
            inside = inside & (side >= 0)
        out |= inside
    return out


def _triangles_cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(N,)`` whether triangles ``a[k]`` and ``b[k]`` (``(N, 3, 3)``) intersect
    (not counting coplanar overlap)."""
    return _edges_through(a, b) | _edges_through(b, a)


# --- UVs -------------------------------------------------------------------------------

_RASTER_BUDGET = 20_000_000  # candidate pixels per raster, at most


def _uv_overlap(uv: np.ndarray, f: np.ndarray, res: int) -> float:
    """Fraction of the covered UV raster pixels (inside ``[0, 1]``) that lie strictly
    inside two or more UV triangles.

    Pixels are tested at their centres and only strictly inside, so triangles that
    share an edge never count twice. If the triangles' boxes hold more than
    :data:`_RASTER_BUDGET` pixels, the raster is coarsened (down to 64²) and then a
    random subset of triangles is drawn: the figure is then a lower bound.
    """
    if len(f) == 0:
        return 0.0
    t = uv[f]
    ok = np.isfinite(t).all(axis=(1, 2))
    t = t[ok]
    x, y = t[..., 0], t[..., 1]
    area2 = ((x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0])
             - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0]))
    t = t[area2 != 0]
    sign = np.sign(area2[area2 != 0])
    while True:
        px = t * res
        x0 = np.maximum(np.ceil(px[..., 0].min(1) - 0.5), 0).astype(np.int64)
        x1 = np.minimum(np.floor(px[..., 0].max(1) - 0.5), res - 1).astype(np.int64)
        y0 = np.maximum(np.ceil(px[..., 1].min(1) - 0.5), 0).astype(np.int64)
        y1 = np.minimum(np.floor(px[..., 1].max(1) - 0.5), res - 1).astype(np.int64)
        w = np.maximum(x1 - x0 + 1, 0)
        h = np.maximum(y1 - y0 + 1, 0)
        n = w * h
        if n.sum() <= _RASTER_BUDGET or res <= 64:
            break
        res //= 2
    if n.sum() > _RASTER_BUDGET:
        rng = np.random.default_rng(0)
        pick = rng.random(len(n)) < _RASTER_BUDGET / n.sum()
        px, x0, y0, w, n, sign = px[pick], x0[pick], y0[pick], w[pick], n[pick], sign[pick]
    cover = np.zeros(res * res, dtype=np.int64)
    nz = np.flatnonzero(n)
    chunk_cum = np.cumsum(n[nz])
    bounds = np.searchsorted(chunk_cum, np.arange(2_000_000, int(chunk_cum[-1]) + 2_000_000,
                                                  2_000_000), side="right") if len(nz) else []
    lo_b = 0
    for hi_b in np.unique(np.r_[bounds, len(nz)]).astype(np.int64):
        idx = nz[lo_b:hi_b]
        lo_b = hi_b
        if len(idx) == 0:
            continue
        cnt = n[idx]
        k = np.repeat(idx, cnt)
        local = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        qx = x0[k] + local % w[k]
        qy = y0[k] + local // w[k]
        cxp, cyp = qx + 0.5, qy + 0.5
        p = px[k]
        inside = np.ones(len(k), dtype=bool)
        for a, b in ((0, 1), (1, 2), (2, 0)):
            e = ((p[:, b, 0] - p[:, a, 0]) * (cyp - p[:, a, 1])
                 - (p[:, b, 1] - p[:, a, 1]) * (cxp - p[:, a, 0]))
            inside &= e * sign[k] > 0
        cover += np.bincount(qy[inside] * res + qx[inside], minlength=res * res)
    covered = int((cover >= 1).sum())
    return float((cover >= 2).sum() / covered) if covered else 0.0


# --- scale -----------------------------------------------------------------------------


def _scale_hint(largest: float, unit: str | None) -> str:
    lo, hi = PLAUSIBLE_SIZE_M
    read = unit or "m"
    metres = largest * UNITS[read]
    how = "as stated" if unit else "read as metres"
    text = f"largest side is {_len(metres)} {how}, outside {_len(lo)}..{_len(hi)}"
    for cand in ("mm", "cm", "in", "m", "ft"):
        if cand == read:
            continue
        m = largest * UNITS[cand]
        if lo * 10 <= m <= hi / 10:
            return f"{text}; in {cand} it would be {_len(m)}"
    return text


# --- formatting ------------------------------------------------------------------------


def _len(metres: float) -> str:
    """A length in metres with a readable unit."""
    a = abs(metres)
    if a >= 1000:
        return f"{metres / 1000:.3g} km"
    if a >= 1:
        return f"{metres:.3g} m"
    if a >= 0.01:
        return f"{metres * 100:.3g} cm"
    if a >= 1e-3 or a == 0:
        return f"{metres * 1000:.3g} mm"
    return f"{metres * 1e6:.3g} µm"


def _yes(b: bool) -> str:
    return "yes" if b else "no"


def _summary_lines(r: MeshReport) -> list[str]:
    out: list[str] = []
    if r.source:
        size = f" ({r.file_bytes / 2**20:.2f} MB)" if r.file_bytes else ""
        out.append(f"file: {r.source}{size}")
    out.append(f"triangles: {_n(r.faces)}")
    extra = f" ({_n(r.unreferenced_vertices)} unused)" if r.unreferenced_vertices else ""
    out.append(f"vertices: {_n(r.vertices)}{extra}")
    if r.watertight or not r.watertight_after_weld:
        out.append(f"watertight: {_yes(r.watertight)}")
    else:
        out.append("watertight: no as stored; yes after merging vertices at equal positions")
    out.append("edge-manifold: " + ("yes" if r.edge_manifold else
               f"no, {_n(r.nonmanifold_edges)} edges with more than two faces"))
    out.append("vertex-manifold: " + ("yes" if r.vertex_manifold else
               f"no, {_n(r.nonmanifold_vertices)} vertices where separate fans meet"))
    holes = f"holes: {_n(r.holes)} ({_n(r.boundary_edges)} boundary edges)"
    if r.holes_after_weld != r.holes:
        holes += f"; {_n(r.holes_after_weld)} after merging vertices"
    out.append(holes)
    out.append(f"components: {_n(r.components)}")
    out.append(f"floaters: {_n(r.floaters)} (pieces under {r.floater_fraction:.0%} "
               f"of the area)")
    out.append(f"degenerate faces: {_n(r.degenerate_faces)}")
    out.append(f"duplicate faces: {_n(r.duplicate_faces)}")
    out.append(f"duplicate vertices: {_n(r.duplicate_vertices)}")
    out.append("winding: " + ("consistent" if not r.inconsistent_winding else
               f"{_n(r.inconsistent_winding)} edges inconsistent, about "
               f"{_n(r.flipped_faces)} faces flipped"))
    if r.volume is not None:
        out.append("normals: " + ("inward (negative volume)" if r.inverted else "outward"))
    else:
        out.append("normals: unknown (not watertight after welding)")
    if r.self_intersections is None:
        out.append("self-intersections: not checked")
    else:
        how = "estimated from a sample" if r.self_intersections_estimated else "exact"
        out.append(f"self-intersections: {_n(r.self_intersections)} triangle pairs ({how})")
    dims = " x ".join(f"{s:.4g}" for s in r.raw_size)
    if r.unit_stated and r.size is not None:
        out.append(f"size: {' x '.join(_len(s) for s in r.size)} (unit: {r.unit})")
    else:
        out.append(f"size: {dims} (no unit stated)")
    if r.scale_hint:
        out.append(f"scale suspect: {r.scale_hint}")
    if r.has_uv:
        overlap = "" if r.uv_overlap is None else f", {r.uv_overlap:.1%} of UV area overlapped"
        out.append(f"UVs: yes, {_n(r.uv_out_of_range)} outside [0, 1]{overlap}")
    else:
        out.append("UVs: no")
    sizes = ", ".join(f"{w}x{h}" for w, h in r.texture_sizes)
    out.append(f"textures: {r.textures}" + (f" ({sizes})" if sizes else ""))
    out.append(f"vertex colours: {_yes(r.vertex_colors)}")
    if r.preset is not None:
        out.append(f"preset {r.preset.name}: {'pass' if r.preset.passed else 'FAIL'}")
        out.extend(f"  - {reason}" for reason in r.preset.reasons)
    return out


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(val) for k, val in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(val) for val in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
