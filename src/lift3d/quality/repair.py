"""``lift3d repair``: a safe clean-up of any mesh, and a volumetric watertight remesh.

:func:`repair_mesh` always runs the *safe clean-up*, which only removes what is broken
and keeps everything else (positions, UVs, texture, vertex colours) exactly:

1. merge vertices closer than ``merge_distance`` (a fraction of the bounding-box
   diagonal). Topology is built on vertices merged by position; the output keeps
   vertices apart where their UVs or colours differ (UV seams stay seams);
2. drop degenerate faces (a repeated corner, or zero area) and duplicated faces;
3. remove floaters: connected pieces under ``floater_fraction`` of the total area;
4. where an edge has more than two faces, keep the two that belong to the largest
   surface patches and drop the others (a fin, a flap): only as many as needed;
5. make the winding consistent within each surface patch (the orientation that most
   of the patch's faces already have wins);
6. split non-manifold vertices (fans meeting at one point) into one copy per fan;
7. fill holes of up to ``hole_max_edges`` edges with a fan around the hole's centroid
   (pinched boundaries are split first); new vertices get the mean UV and colour of
   the hole's rim;
8. turn pieces whose normals point inward (negative signed volume) outward.

With ``watertight=True`` the result must be *one closed manifold*. When the safe
clean-up already gives one (closed, edge- and vertex-manifold, one piece, positive
volume) it is kept as is, texture and all, unless ``force_remesh``. Otherwise
:func:`winding_remesh` rebuilds the surface from the generalized winding number of
the cleaned mesh (robust to soups, holes, flipped faces and self-intersections),
the result is decimated back to about the input's size, and colours move to the new
surface as vertex colours (a later ``optimize`` bakes them into a texture).

Distances and merge thresholds are in the mesh's own units, relative to its
bounding box, so a mesh in millimetres repairs like one in metres.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InputError, require
from ..mesh.cleanup import (
    boundary_loops,
    compact,
    components,
    edge_groups,
    is_watertight,
    split_nonmanifold_vertices,
    try_decimate,
)
from ..mesh.geometry import face_areas, volume
from ..types import Mesh, MeshAsset
from ._text import count as _n
from ._text import plural as _plural
from .transfer import ClosestPoints, sample_colors

__all__ = ["SHELL_FALLBACK", "RepairOptions", "RepairResult", "repair_mesh", "surface_deviation",
           "winding_remesh"]

log = logging.getLogger(__name__)

#: Largest grid resolution (voxels along the longest side) of the volumetric remesh:
#: 512^3 grid points already take about 2 GB in the working arrays.
MAX_RESOLUTION = 512
#: Smallest grid resolution that still resolves a shape.
MIN_RESOLUTION = 16
#: Default face budget of the remeshed surface is the input's face count, within these.
MIN_TARGET_FACES = 2_000
MAX_TARGET_FACES = 500_000
#: Faces with an area below this fraction of the squared bounding-box diagonal are
#: degenerate (collinear corners up to rounding).
_DEGENERATE_AREA = 1e-12
#: A hole is left open when its fan would cover more than this share of its piece's
#: area: that is the edge of an open sheet, not a hole in a surface.
_HOLE_MAX_SHARE = 0.5
#: Grid points of padding around the mesh in the remesh grid (more than the largest
#: morphological closing, so the grid's edge is always outside).
_PAD = 5
#: How far a split non-manifold vertex's copies move towards their fans' centroids.
_PINCH_NUDGE = 0.01
#: Remesh: when more than this share of the area is not represented by the enclosed
#: solid (open sheets, sub-voxel parts), those faces are thickened into a shell ...
_LOST_SHARE = 1e-3
#: ... of this half-thickness, in voxels (at least one grid layer lies inside).
_SHELL = 0.75


#: With ``watertight`` (not ``shell``): when the solid remesh strays more than this
#: fraction of the bounding-box diagonal from the input (mean, both ways), the thin
#: closed shell is tried too and the closer of the two kept.
SHELL_FALLBACK = 0.005


def surface_deviation(va: np.ndarray, fa: np.ndarray, vb: np.ndarray, fb: np.ndarray,
                      n: int = 20_000, seed: int = 0) -> float:
    """Symmetric mean distance between two surfaces, as a fraction of the first's
    bounding-box diagonal: ``n`` area-uniform samples of each, exact distances to the
    other surface (closest points), the two means averaged."""
    from .shape_metrics import sample_surface
    from .transfer import closest_points

    diag = float(np.linalg.norm(np.ptp(np.asarray(va, np.float64), axis=0)))
    a = sample_surface(va, fa, n, rng=seed)
    b = sample_surface(vb, fb, n, rng=seed + 1)
    d_ab = closest_points(vb, fb, a).distance.mean()
    d_ba = closest_points(va, fa, b).distance.mean()
    return float(0.5 * (d_ab + d_ba) / max(diag, 1e-300))


@dataclass(frozen=True)
class RepairOptions:
    """What :func:`repair_mesh` may do.

    Attributes:
        merge_distance: vertices closer than this fraction of the bounding-box
            diagonal are merged; in ``[0, 0.01]`` (0: only exactly equal positions).
        floater_fraction: connected pieces with less than this share of the total
            surface area are removed, in ``[0, 1)`` (0: keep every piece). The largest
            piece always stays.
        hole_max_edges: holes with at most this many boundary edges are filled
            (0: fill none).
        watertight: make the result one closed manifold, by a volumetric remesh when
            the safe clean-up does not already give one.
        resolution: grid points along the longest side of the remesh grid, in
            ``[16, 512]``. The surface is accurate to a small fraction of a voxel;
            parts thinner than about one voxel may vanish.
        target_faces: face budget of the remeshed surface; None: the input's face
            count, clamped to ``[2 000, 500 000]``.
        keep_colors: keep UVs, texture and vertex colours (safe clean-up) and move
            colours onto the remeshed surface (as vertex colours). False drops them.
        force_remesh: with ``watertight``, remesh even when the safe clean-up already
            gives one closed manifold.
        shell: with ``watertight``, remesh the surface itself as a thin closed shell
            (1.5 voxels thick) instead of the solid it encloses: for open models
            (a car body without a floor, clothing, leaves) whose large openings
            should stay open (set ``hole_max_edges`` low too: the safe clean-up
            fills holes before the remesh). Implies ``force_remesh``.
    """

    merge_distance: float = 1e-6
    floater_fraction: float = 0.01
    hole_max_edges: int = 100
    watertight: bool = False
    resolution: int = 256
    target_faces: int | None = None
    keep_colors: bool = True
    force_remesh: bool = False
    shell: bool = False

    def __post_init__(self) -> None:
        def number(name: str) -> float:
            x = getattr(self, name)
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
                raise InputError(f"{name}: expected a finite number, got {x!r}")
            return float(x)

        def integer(name: str) -> int:
            x = getattr(self, name)
            if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
                raise InputError(f"{name}: expected an integer, got {x!r}")
            return int(x)

        if not 0.0 <= number("merge_distance") <= 0.01:
            raise InputError(f"merge_distance: must lie in [0, 0.01] (a fraction of the "
                             f"bounding-box diagonal), got {self.merge_distance}")
        if not 0.0 <= number("floater_fraction") < 1.0:
            raise InputError(f"floater_fraction: must lie in [0, 1), "
                             f"got {self.floater_fraction}")
        if integer("hole_max_edges") < 0:
            raise InputError(f"hole_max_edges: must be >= 0, got {self.hole_max_edges}")
        if not MIN_RESOLUTION <= integer("resolution") <= MAX_RESOLUTION:
            raise InputError(f"resolution: must lie in [{MIN_RESOLUTION}, {MAX_RESOLUTION}], "
                             f"got {self.resolution}")
        if self.target_faces is not None and integer("target_faces") < 4:
            raise InputError(f"target_faces: must be at least 4 or None, "
                             f"got {self.target_faces}")
        for name in ("watertight", "keep_colors", "force_remesh", "shell"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise InputError(f"{name}: expected True or False, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class RepairResult:
    """What :func:`repair_mesh` made and did.

    Attributes:
        asset: the repaired mesh, in the input's units and axes. Vertices stay split
            along UV seams, so judge watertightness by ``watertight`` (or on welded
            positions), not on the raw index buffer.
        changes: one sentence per kind of change, in the order made; empty when
            nothing changed (then ``asset`` is the input itself).
        notes: what was seen but not changed (holes too large to fill, why no
            remesh was needed...).
        merged_vertices: vertices merged into another (duplicates, soup corners).
        removed_unused_vertices: vertices no face used.
        removed_degenerate: faces with a repeated corner, zero area or a non-finite
            corner.
        removed_duplicate_faces: faces repeating another's corners (any order).
        removed_nonmanifold_faces: faces dropped so no edge has more than two faces.
        split_vertices: copies made of non-manifold vertices (one per extra fan).
        flipped_faces: faces turned to agree with their neighbours' winding.
        reversed: pieces turned inside out (their normals pointed inward).
        removed_floaters: pieces removed for being under ``floater_fraction``.
        removed_floater_area: their share of the total area, in ``[0, 1]``.
        filled_holes: holes closed by the safe clean-up.
        remeshed: whether the volumetric remesh ran.
        dropped_parts: separate closed parts the remesh discarded to leave one piece.
        watertight: whether the result is closed and edge-manifold (on positions).
        components: connected pieces of the result (on positions).
    """

    asset: MeshAsset
    changes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    merged_vertices: int = 0
    removed_unused_vertices: int = 0
    removed_degenerate: int = 0
    removed_duplicate_faces: int = 0
    removed_nonmanifold_faces: int = 0
    split_vertices: int = 0
    flipped_faces: int = 0
    reversed: int = 0
    removed_floaters: int = 0
    removed_floater_area: float = 0.0
    filled_holes: int = 0
    remeshed: bool = False
    dropped_parts: int = 0
    watertight: bool = False
    components: int = 0


# --------------------------------------------------------------------------- safe


@dataclass
class _Work:
    """The mesh being cleaned (internal, mutable on purpose).

    ``fp`` indexes positions ``p`` (the topology: vertices merged by position);
    ``fr`` indexes attribute rows ``uv``/``vc`` (vertices merged only where their
    attributes agree too). Both have one row per face, in the same order.
    """

    p: np.ndarray
    fp: np.ndarray
    fr: np.ndarray
    uv: np.ndarray | None
    vc: np.ndarray | None
    diag: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def keep_faces(self, keep: np.ndarray) -> None:
        self.fp = self.fp[keep]
        self.fr = self.fr[keep]

    def flip(self, mask: np.ndarray) -> None:
        self.fp[mask] = self.fp[mask][:, ::-1]
        self.fr[mask] = self.fr[mask][:, ::-1]

    @property
    def mesh(self) -> Mesh:
        return Mesh(self.p, self.fp)


def _pieces(mesh: Mesh) -> tuple[int, np.ndarray]:
    """Connected pieces of the faces (vertices no face uses do not count):
    ``(count, (F,) label per face)``, labels in ``[0, count)``."""
    if len(mesh.faces) == 0:
        return 0, np.zeros(0, dtype=np.int64)
    _, label = components(mesh)
    uniq, label = np.unique(label, return_inverse=True)
    return len(uniq), label.ravel()


def _check_asset(asset: MeshAsset) -> None:
    if not isinstance(asset, MeshAsset):
        raise InputError(f"asset: expected a MeshAsset, got {type(asset).__name__}")
    f = np.asarray(asset.faces)
    if f.size == 0:
        raise InputError("asset: the mesh has no faces")
    if not np.issubdtype(f.dtype, np.integer):
        raise InputError(f"asset: faces must be integers, got {f.dtype}")
    if f.min() < 0 or f.max() >= len(asset.vertices):
        raise InputError(f"asset: face indices must lie in [0, {len(asset.vertices)}), "
                         f"got [{f.min()}, {f.max()}]")


def _merge(asset: MeshAsset, tol_fraction: float, keep_attrs: bool) -> _Work:
    """Merge close vertices; drop unused ones and faces on non-finite positions."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    v = np.asarray(asset.vertices, dtype=np.float64)
    f = np.asarray(asset.faces, dtype=np.int64)
    counts: dict[str, int] = {}
    changes: list[str] = []
    finite = np.isfinite(v).all(axis=1)
    if not finite.all():
        ok = finite[f].all(axis=1)
        counts["nonfinite"] = int((~ok).sum())
        f = f[ok]
        if len(f) == 0:
            raise InputError("asset: every face has a non-finite (NaN or infinite) corner")
        changes.append(f"removed {_plural(counts['nonfinite'], 'face')} with NaN or "
                       "infinite corners")
    used = np.zeros(len(v), dtype=bool)
    used[f.ravel()] = True
    n_used = int(used.sum())
    counts["unused"] = len(v) - n_used
    ids = np.flatnonzero(used)
    pts = v[ids]
    diag = float(np.linalg.norm(pts.max(axis=0) - pts.min(axis=0)))
    # Exact duplicates first (a soup has many): the KD-tree then sees each point once.
    _, first, inv = np.unique(pts, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    cluster = inv
    tol = tol_fraction * diag
    if tol > 0 and len(first) > 1:
        upts = pts[first]
        pairs = cKDTree(upts).query_pairs(tol, output_type="ndarray")
        if len(pairs):
            m = len(upts)
            g = coo_matrix((np.ones(len(pairs), np.int8), (pairs[:, 0], pairs[:, 1])),
                           shape=(m, m))
            _, lab = connected_components(g, directed=False)
            cluster = lab[inv]
    # Positions: one per cluster, the first member's (no averaging: nothing moves).
    _, rep_first, pos_of = np.unique(cluster, return_index=True, return_inverse=True)
    pos_of = pos_of.ravel()
    p = pts[rep_first]
    # Attribute rows: vertices merge only where UV and colour agree as well.
    uv = asset.uv if keep_attrs else None
    vc = asset.vertex_colors if keep_attrs else None
    cols = [pos_of[:, None]]
    if uv is not None:
        cols.append(np.round(np.asarray(uv, np.float64)[ids] * 1e6).astype(np.int64))
    if vc is not None:
        cols.append(np.asarray(vc, np.int64)[ids])
    key = np.concatenate(cols, axis=1)
    _, r_first, r_of = np.unique(key, axis=0, return_index=True, return_inverse=True)
    r_of = r_of.ravel()
    counts["merged"] = n_used - len(r_first)
    counts["merged_positions"] = n_used - len(p)
    # Map input vertex -> position / attribute row (rows index the input's arrays).
    pos_map = -np.ones(len(v), dtype=np.int64)
    pos_map[ids] = pos_of
    row_map = -np.ones(len(v), dtype=np.int64)
    row_map[ids] = ids[r_first][r_of]
    w = _Work(p=p, fp=pos_map[f], fr=row_map[f],
              uv=None if uv is None else np.asarray(uv, np.float32).copy(),
              vc=None if vc is None else np.asarray(vc, np.uint8).copy(),
              diag=diag, counts=counts, changes=changes)
    if counts["merged"]:
        w.changes.append("merged " + _plural(counts["merged"], "duplicate vertex",
                                             "duplicate vertices"))
    elif counts["merged_positions"]:
        w.notes.append(f"{_plural(counts['merged_positions'], 'vertex', 'vertices')} share a "
                       "position with another but differ in UV or colour (seams): kept")
    if counts["unused"]:
        w.changes.append(f"removed {_plural(counts['unused'], 'unused vertex', 'unused vertices')}")
    return w


def _drop_degenerate(w: _Work) -> None:
    f = w.fp
    repeated = (f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 2] == f[:, 0])
    diag = w.diag
    flat = face_areas(Mesh(w.p, f)) <= _DEGENERATE_AREA * diag * diag
    bad = repeated | flat
    n = int(bad.sum())
    w.counts["degenerate"] = n + w.counts.get("nonfinite", 0)
    if n:
        w.keep_faces(~bad)
        w.changes.append(f"removed {_plural(n, 'degenerate face')} (repeated corner or "
                         "zero area)")


def _drop_duplicates(w: _Work) -> None:
    key = np.sort(w.fp, axis=1)
    _, first = np.unique(key, axis=0, return_index=True)
    n = len(w.fp) - len(first)
    w.counts["duplicates"] = n
    if n:
        keep = np.zeros(len(w.fp), dtype=bool)
        keep[first] = True
        w.keep_faces(keep)
        w.changes.append(f"removed {_plural(n, 'duplicate face')}")


def _drop_floaters(w: _Work, fraction: float) -> None:
    w.counts["floaters"] = 0
    if fraction <= 0 or len(w.fp) == 0:
        return
    n, label = _pieces(w.mesh)
    if n <= 1:
        return
    area = np.bincount(label, weights=face_areas(w.mesh), minlength=n)
    total = float(area.sum())
    small = area < fraction * total
    small[int(np.argmax(area))] = False
    if not small.any():
        return
    share = float(area[small].sum() / total) if total > 0 else 0.0
    w.keep_faces(~small[label])
    w.counts["floaters"] = int(small.sum())
    w.counts["floater_area_ppm"] = int(round(share * 1e6))
    w.changes.append(f"removed {_plural(int(small.sum()), 'floater')} "
                     f"({share * 100:.2g}% of the area)")


def _edge_table(fp: np.ndarray, n: int):
    """See :func:`lift3d.mesh.cleanup.edge_groups`."""
    return edge_groups(fp, n)


def _patches(fp: np.ndarray, n: int) -> np.ndarray:
    """``(F,)`` label of each face's surface patch: faces joined through edges that
    have exactly two faces."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    _, _, order, start, count = _edge_table(fp, n)
    pair = start[count == 2]
    f1, f2 = order[pair] // 3, order[pair + 1] // 3
    g = coo_matrix((np.ones(len(f1), np.int8), (f1, f2)), shape=(len(fp), len(fp)))
    return connected_components(g, directed=False)[1]


def _drop_nonmanifold(w: _Work) -> None:
    """Keep, at each edge with more than two faces, the two faces of the largest
    patches (the main surface) and drop the rest (fins and flaps on it)."""
    n = len(w.p)
    _, _, order, start, count = _edge_table(w.fp, n)
    w.counts["nonmanifold"] = 0
    if not (count > 2).any():
        return
    patch = _patches(w.fp, n)
    area = np.bincount(patch, weights=face_areas(w.mesh))
    bad = np.flatnonzero(count > 2)
    grp = np.repeat(np.arange(len(bad)), count[bad])
    first_of = np.repeat(np.cumsum(count[bad]) - count[bad], count[bad])
    idx = np.repeat(start[bad], count[bad]) + np.arange(len(grp)) - first_of
    face = order[idx] // 3
    rank_key = np.lexsort((face, -area[patch[face]], grp))
    face, grp = face[rank_key], grp[rank_key]
    first = np.r_[0, np.flatnonzero(np.diff(grp)) + 1]
    rank = np.arange(len(grp)) - np.repeat(first, np.diff(np.r_[first, len(grp)]))
    drop = np.zeros(len(w.fp), dtype=bool)
    drop[face[rank >= 2]] = True
    k = int(drop.sum())
    w.keep_faces(~drop)
    w.counts["nonmanifold"] = k
    w.changes.append(f"removed {_plural(k, 'face')} on {_plural(len(bad), 'non-manifold edge')}")


def _orient(w: _Work) -> None:
    """Make each patch's winding consistent, flipping its minority orientation.

    Each face has two states (as is, flipped); neighbours across an edge with two
    faces must traverse it in opposite directions. Connected components of this
    "double cover" graph solve all patches at once: in an orientable patch the two
    states of a face land in different components.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    nf = len(w.fp)
    a, _, order, start, count = _edge_table(w.fp, len(w.p))
    pair = start[count == 2]
    h1, h2 = order[pair], order[pair + 1]
    f1, f2 = h1 // 3, h2 // 3
    same = a[h1] == a[h2]  # both traverse the edge the same way: they disagree
    rows = np.concatenate([f1, f1 + nf])
    cols = np.concatenate([np.where(same, f2 + nf, f2), np.where(same, f2, f2 + nf)])
    g = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(2 * nf, 2 * nf))
    _, lab = connected_components(g, directed=False)
    l0, l1 = lab[:nf], lab[nf:]
    orientable = l0 != l1
    grp = np.minimum(l0, l1)
    low = l0 < l1
    n_low = np.bincount(grp, weights=low.astype(np.float64), minlength=2 * nf)
    n_all = np.bincount(grp, minlength=2 * nf)
    keep_low = 2 * n_low >= n_all
    flip = orientable & (low != keep_low[grp])
    k = int(flip.sum())
    w.counts["flipped"] = k
    if k:
        w.flip(flip)
        w.changes.append(f"flipped {_plural(k, 'face')} to a consistent winding")
    if not orientable.all():
        w.notes.append(f"{_plural(int((~orientable).sum()), 'face')} lie on a "
                       "non-orientable patch (a Moebius band): winding left as is")


def _split_pinches(w: _Work) -> None:
    """Give each fan of faces meeting at one vertex (a bow tie, two cones tip to tip)
    its own copy, moved 1% towards its fan so merging loaders keep them apart."""
    split = split_nonmanifold_vertices(w.mesh, nudge=_PINCH_NUDGE)
    k = len(split.vertices) - len(w.p)
    w.counts["split"] = k
    if k <= 0:
        return
    w.p = np.asarray(split.vertices, dtype=np.float64)
    w.fp = np.asarray(split.faces, dtype=np.int64)
    w.changes.append(f"split {_plural(k, 'non-manifold vertex', 'non-manifold vertices')} "
                     "(fans meeting at a point)")


def _fill_holes(w: _Work, max_edges: int) -> None:
    """Close holes of up to ``max_edges`` edges with a fan around the centroid."""
    w.counts["holes"] = 0
    if max_edges <= 0 or len(w.fp) == 0:
        return
    split = w.mesh  # pinched rims were split already: loops are simple
    loops = boundary_loops(split)
    if not loops:
        return
    p = np.asarray(split.vertices, dtype=np.float64)
    fp = np.asarray(split.faces, dtype=np.int64)
    n = len(p)
    _, label = _pieces(split)
    comp_area = np.bincount(label, weights=face_areas(split))
    vert_comp = np.zeros(n, dtype=np.int64)
    vert_comp[fp.ravel()] = np.repeat(label, 3)
    # Each boundary half-edge (a, b) -> the corner of its face at a.
    hkey = fp.ravel() * n + fp[:, [1, 2, 0]].ravel()
    horder = np.argsort(hkey)
    hsorted = hkey[horder]
    fr_flat = w.fr.ravel()
    new_p, new_f, new_r, new_uv, new_vc = [], [], [], [], []
    n_rows = len(w.uv) if w.uv is not None else (len(w.vc) if w.vc is not None else 0)
    n_rows = max(n_rows, int(w.fr.max()) + 1)
    skipped_big = skipped_sheet = 0
    for edges in loops:
        if len(edges) > max_edges:
            skipped_big += 1
            continue
        if len(np.unique(edges[:, 0])) != len(edges) or len(edges) < 3:
            continue  # not a simple loop
        ea, eb = edges[:, 0], edges[:, 1]
        c = p[ea].mean(axis=0)
        fan = 0.5 * np.linalg.norm(np.cross(p[ea] - c, p[eb] - c), axis=1).sum()
        if fan > _HOLE_MAX_SHARE * comp_area[vert_comp[ea[0]]]:
            skipped_sheet += 1
            continue
        pos = np.searchsorted(hsorted, ea * n + eb)
        h = horder[np.clip(pos, 0, len(horder) - 1)]
        corner_next = (h // 3) * 3 + (h % 3 + 1) % 3
        ra, rb = fr_flat[h], fr_flat[corner_next]
        ci = n + len(new_p)
        ri = n_rows + len(new_r)
        new_p.append(c)
        new_r.append(ri)
        new_f.append((np.stack([eb, ea, np.full(len(ea), ci)], axis=1),
                      np.stack([rb, ra, np.full(len(ea), ri)], axis=1)))
        if w.uv is not None:
            new_uv.append(w.uv[ra].mean(axis=0))
        if w.vc is not None:
            new_vc.append(np.round(w.vc[ra].astype(np.float64).mean(axis=0)))
    if skipped_big:
        w.notes.append(f"{_plural(skipped_big, 'hole')} with more than {max_edges} edges "
                       "left open (raise hole_max_edges, or use watertight)")
    if skipped_sheet:
        w.notes.append(f"{_plural(skipped_sheet, 'boundary', 'boundaries')} of open sheets "
                       "left open")
    if not new_p:
        return
    w.p = np.concatenate([p, np.asarray(new_p)])
    w.fp = np.concatenate([fp, *[x[0] for x in new_f]])
    w.fr = np.concatenate([w.fr, *[x[1] for x in new_f]])
    if w.uv is not None:
        pad = np.zeros((n_rows - len(w.uv), 2), np.float32)
        w.uv = np.concatenate([w.uv, pad, np.asarray(new_uv, np.float32)])
    if w.vc is not None:
        pad = np.zeros((n_rows - len(w.vc), 4), np.uint8)
        w.vc = np.concatenate([w.vc, pad, np.asarray(new_vc).astype(np.uint8)])
    w.counts["holes"] = len(new_p)
    w.changes.append(f"filled {_plural(len(new_p), 'hole')}")


def _outward(w: _Work) -> None:
    """Reverse pieces whose signed volume (about their own centroid) is negative.

    Closed pieces decide by sign alone; an open piece only when its volume is clear
    (a bowl, not a flat sheet whose volume sign is noise).
    """
    w.counts["reversed"] = 0
    if len(w.fp) == 0:
        return
    n, label = _pieces(w.mesh)
    t = w.p[w.fp]
    area = face_areas(w.mesh)
    centroid_f = t.mean(axis=1)
    wsum = np.bincount(label, weights=area, minlength=n)
    cen = np.stack([np.bincount(label, weights=area * centroid_f[:, k], minlength=n)
                    for k in range(3)], axis=1) / np.maximum(wsum, 1e-300)[:, None]
    t = t - cen[label][:, None, :]
    vol_f = np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])) / 6.0
    vol = np.bincount(label, weights=vol_f, minlength=n)
    _, _, order, start, count = _edge_table(w.fp, len(w.p))
    open_face = np.zeros(len(w.fp), dtype=bool)
    open_face[order[start[count == 1]] // 3] = True
    is_open = np.bincount(label, weights=open_face, minlength=n) > 0
    clear = np.abs(vol) > 0.01 * np.power(wsum, 1.5)
    rev = (vol < 0) & (~is_open | clear)
    k = int(rev.sum())
    w.counts["reversed"] = k
    if k:
        w.flip(rev[label])
        if k == n:
            w.changes.append("reversed all faces: the normals pointed inward")
        else:
            w.changes.append(f"reversed {_n(k)} of {_n(n)} pieces: their normals pointed "
                             "inward")


def _assemble(w: _Work, asset: MeshAsset, keep_attrs: bool) -> MeshAsset:
    """The output mesh: one vertex per distinct (position, attribute row) pair, in
    order of first use."""
    fr, fp = w.fr.ravel(), w.fp.ravel()
    key = fr * len(w.p) + fp
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    faces = rank[inv.ravel()].reshape(-1, 3)
    rows, pos = fr[first[order]], fp[first[order]]
    uv = w.uv[rows] if (keep_attrs and w.uv is not None) else None
    vc = w.vc[rows] if (keep_attrs and w.vc is not None) else None
    texture = asset.texture if keep_attrs else None
    return replace(asset, vertices=w.p[pos], faces=faces, uv=uv, vertex_colors=vc,
                   texture=texture, texture_sizes=asset.texture_sizes if keep_attrs else (),
                   file_bytes=0)


def _is_one_closed_manifold(mesh: Mesh) -> bool:
    if not is_watertight(mesh):
        return False
    if _pieces(mesh)[0] != 1:
        return False
    if split_nonmanifold_vertices(mesh) is not mesh:
        return False
    return volume(mesh) > 0


# --------------------------------------------------------------------------- remesh


def _surface_cells(p: np.ndarray, f: np.ndarray, origin: np.ndarray, h: float,
                   dims: tuple[int, int, int]) -> np.ndarray:
    """``dims`` bool: the grid cells (cell ``c`` spans grid points ``c`` to ``c + 1``)
    holding a point of a lattice laid on every triangle with spacing at most ``h / 2``,
    so that every surface point is within ``h / 2`` of a marked lattice point."""
    marked = np.zeros(dims, dtype=bool)
    hi = np.asarray(dims) - 1

    def mark(pts: np.ndarray) -> None:
        c = np.clip(np.floor((pts - origin) / h).astype(np.int64), 0, hi)
        marked[c[:, 0], c[:, 1], c[:, 2]] = True

    mark(p[np.unique(f)])
    t = p[f]
    longest = np.max(np.linalg.norm(t - t[:, [1, 2, 0]], axis=2), axis=1)
    k = np.ceil(2.0 * longest / h).astype(np.int64)
    for kk in np.unique(k[k > 1]):
        i, j = np.meshgrid(np.arange(kk + 1), np.arange(kk + 1), indexing="ij")
        ok = i + j <= kk
        bary = np.stack([i[ok], j[ok], kk - i[ok] - j[ok]], axis=1) / float(kk)
        tris = t[k == kk]
        step = max(1, 2_000_000 // len(bary))
        for s in range(0, len(tris), step):
            mark(np.einsum("lk,mkd->mld", bary, tris[s:s + step]).reshape(-1, 3))
    return marked


def _inside_grid(p: np.ndarray, f: np.ndarray, origin: np.ndarray, h: float,
                 dims: tuple[int, int, int], fwn_bvh) -> np.ndarray:
    """``dims`` bool occupancy: ``|winding number| >= 0.5`` at each grid point.

    The winding number is evaluated exactly in a band around the surface: every grid
    point within ``h`` of it, so every grid edge the surface crosses has both ends in
    the band. Away from it the field is smooth, and occupancy is constant on each
    connected region of the rest, so a region takes the value its points show on a
    lattice of every 4th grid point. A region whose lattice values disagree (the field
    crosses 0.5 there: a large hole) is decided per lattice cell where its 8 corners
    agree clearly, and point by point elsewhere.
    """
    from scipy import ndimage

    def coords(idx: np.ndarray) -> np.ndarray:
        return origin + h * np.stack(np.unravel_index(idx, dims), axis=1).astype(np.float64)

    def wn(idx: np.ndarray) -> np.ndarray:
        # A coarse pass, then the accurate one only where the sign is in doubt: the
        # coarse error stays far below the 0.3 margin (measured up to 0.23).
        q = coords(idx)
        w = np.abs(np.asarray(fwn_bvh.winding_number(q, 1.0), dtype=np.float64)).ravel()
        doubt = np.abs(w - 0.5) < 0.3
        if doubt.any():
            w[doubt] = np.abs(np.asarray(fwn_bvh.winding_number(q[doubt], 2.0))).ravel()
        return w

    marked = _surface_cells(p, f, origin, h, dims)
    # A grid point within h of the surface is within 1.5 h of a lattice point, whose
    # cell c then lies in [g - 2, g + 1] on each axis: a 4-wide filter, centred at 2.
    band = ndimage.maximum_filter(marked.view(np.uint8), size=4).view(bool)
    del marked
    inside = np.zeros(dims, dtype=bool)
    band_idx = np.flatnonzero(band)
    band_w = wn(band_idx)
    inside.flat[band_idx] = band_w >= 0.5
    labels, n = ndimage.label(~band)
    if n == 0:
        return inside
    # Winding numbers on the lattice of every 4th point (and the last), everywhere.
    axes = [np.unique(np.r_[np.arange(0, d, 4), d - 1]) for d in dims]
    lattice = np.ravel_multi_index(np.meshgrid(*axes, indexing="ij"), dims).ravel()
    lw = np.empty(len(lattice))
    in_band = band.flat[lattice]
    lw[in_band] = band_w[np.searchsorted(band_idx, lattice[in_band])]
    lw[~in_band] = wn(lattice[~in_band])
    # Each region's range of values on its lattice points.
    lab = labels.flat[lattice]
    sel = lab > 0
    lo_w = np.full(n + 1, np.inf)
    hi_w = np.full(n + 1, -np.inf)
    np.minimum.at(lo_w, lab[sel], lw[sel])
    np.maximum.at(hi_w, lab[sel], lw[sel])
    seen = np.isfinite(lo_w)
    seen[0] = True
    if not seen.all():  # regions between lattice points: one point each
        unseen = np.zeros(n + 1, dtype=bool)
        unseen[~seen] = True
        cand = np.flatnonzero(unseen[labels])
        _, one = np.unique(labels.flat[cand], return_index=True)
        cw = wn(cand[one])
        cl = labels.flat[cand[one]]
        lo_w[cl] = np.minimum(lo_w[cl], cw)
        hi_w[cl] = np.maximum(hi_w[cl], cw)
    region_in = lo_w > 0.7
    settled = region_in | (hi_w < 0.3)
    region_in[0] = False
    nonband = ~band
    inside[nonband] = region_in[labels[nonband]]
    settled[0] = True
    if settled.all():
        return inside
    # Ambiguous regions: per lattice cell, from its 8 corners.
    lw = lw.reshape([len(a) for a in axes])
    cmin, cmax = lw[:-1, :-1, :-1].copy(), lw[:-1, :-1, :-1].copy()
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                s = lw[dx:dx + lw.shape[0] - 1, dy:dy + lw.shape[1] - 1,
                       dz:dz + lw.shape[2] - 1]
                np.minimum(cmin, s, out=cmin)
                np.maximum(cmax, s, out=cmax)
    unsettled = ~settled
    idx_all = np.flatnonzero(unsettled[labels])
    n_exact = 0
    for s in range(0, len(idx_all), 4_000_000):
        idx = idx_all[s:s + 4_000_000]
        ijk = np.unravel_index(idx, dims)
        cell = tuple(np.clip(np.searchsorted(a, x, side="right") - 1, 0, len(a) - 2)
                     for a, x in zip(axes, ijk, strict=True))
        lo_c, hi_c = cmin[cell], cmax[cell]
        val = lo_c > 0.7
        doubt = ~val & ~(hi_c < 0.3)
        if doubt.any():
            val[doubt] = wn(idx[doubt]) >= 0.5
            n_exact += int(doubt.sum())
        inside.flat[idx] = val
    log.debug("remesh: %d grid points in %d ambiguous regions, %d evaluated exactly",
              len(idx_all), int(unsettled.sum()), n_exact)
    return inside


def _connect(inside: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Fill enclosed cavities, then join solid parts that touch or nearly touch
    (two spheres meeting at a point) by a closing of up to three cells.
    Returns ``(inside, parts, closing radius used)``."""
    from scipy import ndimage

    out_lab, n_out = ndimage.label(~inside)
    if n_out > 1:
        inside = out_lab != out_lab[0, 0, 0]
    _, n = ndimage.label(inside)
    used = 0
    for r in (1, 2, 3):
        if n <= 1:
            break
        closed = ndimage.binary_closing(inside, iterations=r)
        _, m = ndimage.label(closed)
        if m < n:
            inside, n, used = closed, m, r
    return inside, n, used


def winding_remesh(mesh: Mesh, resolution: int = 256) -> Mesh:
    """One closed manifold surface around the solid a mesh encloses, by marching
    cubes on its generalized winding number.

    The solid is where ``|w| >= 0.5``, ``w`` the generalized winding number of the
    mesh (Jacobson et al. 2013), which is robust to triangle soups, holes, flipped
    faces and self-intersections: holes are spanned smoothly, overlapping parts
    merge. Enclosed cavities are filled, parts touching within three voxels are
    joined, and of several separate parts the largest (by area) is kept. The surface
    is placed with sub-voxel accuracy by the exact distance to the input at the grid
    points next to it.

    A single open sheet (a plane, a terrain) has ``|w|`` near 0.5 on both sides and
    encloses nothing: the result is empty or noise, and this raises. Parts thinner
    than about one voxel may vanish.

    Args:
        mesh: any triangles, in any units.
        resolution: grid points along the bounding box's longest side,
            ``[16, 512]``.

    Returns:
        a closed, edge- and vertex-manifold mesh with outward winding, in the input's
        frame and units, of one connected piece.

    Raises:
        InputError: when ``resolution`` is out of range or the mesh encloses no
            volume at this resolution.
    """
    out, _ = _winding_remesh(np.asarray(mesh.vertices, np.float64),
                             np.asarray(mesh.faces, np.int64), resolution)
    return out


@dataclass(frozen=True)
class _RemeshInfo:
    parts: int
    closing: int
    grid: tuple[int, int, int]
    aabb: object
    thickened: float = 0.0


def _lost_faces(p: np.ndarray, f: np.ndarray, inside: np.ndarray, origin: np.ndarray,
                h: float) -> np.ndarray:
    """``(F,)`` bool: faces the solid ``inside`` does not represent: neither within
    about two cells of its boundary nor buried in it. Open sheets (whose winding
    number is about 0.5 on both sides) and parts thinner than a voxel."""
    from scipy import ndimage

    base = inside[:-1, :-1, :-1]
    mixed = np.zeros(base.shape, dtype=bool)
    full = base.copy()
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                if dx == dy == dz == 0:
                    continue
                s = inside[dx:dx + base.shape[0], dy:dy + base.shape[1], dz:dz + base.shape[2]]
                mixed |= s != base
                full &= s
    ok = ndimage.maximum_filter(mixed.view(np.uint8), size=3).view(bool) | full
    c = np.floor((p[f].mean(axis=1) - origin) / h).astype(np.int64)
    c = np.clip(c, 0, np.asarray(base.shape) - 1)
    return ~ok[c[:, 0], c[:, 1], c[:, 2]]


def _face_index_grid_points(idx: np.ndarray, origin: np.ndarray, h: float,
                            dims: tuple[int, int, int]) -> np.ndarray:
    return origin + h * np.stack(np.unravel_index(idx, dims), axis=1).astype(np.float64)


def _winding_remesh(p: np.ndarray, f: np.ndarray, resolution: int, shell: bool = False,
                    ) -> tuple[Mesh, _RemeshInfo]:
    gpy = require("gpytoolbox", "quality", "the volumetric remesh")
    measure = require("skimage.measure", "quality", "the volumetric remesh")
    from scipy import ndimage

    if isinstance(resolution, bool) or not MIN_RESOLUTION <= int(resolution) <= MAX_RESOLUTION:
        raise InputError(f"resolution: must lie in [{MIN_RESOLUTION}, {MAX_RESOLUTION}], "
                         f"got {resolution}")
    if len(f) == 0:
        raise InputError("mesh: has no faces")
    used = np.unique(f)
    lo, hi = p[used].min(axis=0), p[used].max(axis=0)
    h = float((hi - lo).max()) / int(resolution)
    if not h > 0:
        raise InputError("mesh: all vertices coincide; there is no volume to remesh")
    origin = lo - _PAD * h
    dims = tuple(int(x) for x in np.ceil((hi - lo) / h).astype(np.int64) + 2 * _PAD + 1)
    p = np.ascontiguousarray(p, dtype=np.float64)
    f32 = np.ascontiguousarray(f, dtype=np.int32)
    if shell:
        solid = np.zeros(dims, dtype=bool)
        inside, parts, closing = solid, 0, 0
        lost = np.ones(len(f32), dtype=bool)
    else:
        fwn_bvh = gpy.fast_winding_number_precompute(p, f32)
        solid = _inside_grid(p, f32, origin, h, dims, fwn_bvh)
        inside, parts, closing = _connect(solid)
        # Open sheets and sub-voxel parts enclose nothing: thicken them into a shell
        # of half-thickness _SHELL voxels (a union with the solid): nothing is lost.
        lost = _lost_faces(p, f32, inside, origin, h)
    area = face_areas(Mesh(p, f32))
    lost_share = float(area[lost].sum() / max(area.sum(), 1e-300))
    shell_idx = shell_val = None
    if lost_share > _LOST_SHARE or shell:
        pl, fl = p, np.ascontiguousarray(f32[lost])
        near = ndimage.maximum_filter(
            _surface_cells(pl, fl, origin, h, dims).view(np.uint8), size=4).view(bool)
        shell_idx = np.flatnonzero(near)
        del near
        q = _face_index_grid_points(shell_idx, origin, h, dims)
        sq = gpy.squared_distance(q, pl, F=fl, use_cpp=True)[0]
        shell_val = np.sqrt(np.maximum(np.ravel(sq), 0.0)) - _SHELL * h
        grown = solid.copy()
        grown.flat[shell_idx[shell_val < 0]] = True
        inside, parts, closing = _connect(grown)
        del grown
        log.debug("remesh: thickened %d faces (%.2g%% of the area) into a shell",
                  int(lost.sum()), 100 * lost_share)
    if not inside.any():
        raise InputError("mesh: encloses no volume at this resolution")
    # Exact distances only where the sign changes between neighbours: the only
    # values marching cubes interpolates.
    cross = np.zeros(dims, dtype=bool)
    for ax in range(3):
        d = np.diff(inside, axis=ax)
        lo_sl = [slice(None)] * 3
        hi_sl = [slice(None)] * 3
        lo_sl[ax], hi_sl[ax] = slice(0, -1), slice(1, None)
        cross[tuple(lo_sl)] |= d
        cross[tuple(hi_sl)] |= d
    cidx = np.flatnonzero(cross)
    del cross
    q = _face_index_grid_points(cidx, origin, h, dims)
    aabb = gpy.squared_distance_precompute(p, f32)
    sq = gpy.squared_distance(q, p, F=f32, use_cpp=True, cpp_aabb=aabb)[0]
    dist = np.sqrt(np.maximum(np.ravel(sq), 0.0))
    val = np.where(solid.flat[cidx], -dist, dist)
    if shell_idx is not None:
        pos = np.clip(np.searchsorted(shell_idx, cidx), 0, len(shell_idx) - 1)
        hit = shell_idx[pos] == cidx
        val[hit] = np.minimum(val[hit], shell_val[pos[hit]])
    # The final sign is the solid's after filling cavities and closing.
    mag = np.maximum(np.abs(val), 1e-3 * h)
    sdf = np.where(inside, -h, h).astype(np.float32)
    sdf.flat[cidx] = np.where(inside.flat[cidx], -mag, mag).astype(np.float32)
    del inside, solid
    verts, faces, _, _ = measure.marching_cubes(sdf, level=0.0, spacing=(h, h, h),
                                                allow_degenerate=False)
    del sdf
    v = np.asarray(verts, dtype=np.float64) + origin
    fc = np.asarray(faces, dtype=np.int64)
    out = Mesh(v, fc)
    n, label = _pieces(out)
    if n > 1:
        piece_area = np.bincount(label, weights=face_areas(out), minlength=n)
        keep = label == int(np.argmax(piece_area))
        out = compact(Mesh(v, fc[keep]))
    if volume(out) < 0:
        out = Mesh(out.vertices, out.faces[:, ::-1].copy())
    out = split_nonmanifold_vertices(out, nudge=_PINCH_NUDGE)
    return out, _RemeshInfo(parts=max(parts, n), closing=closing, grid=dims, aabb=aabb,
                            thickened=lost_share if shell_idx is not None else 0.0)


def _largest_if_rest_tiny(mesh: Mesh, share: float = 0.01) -> Mesh:
    """The largest piece alone when the others (a thin part that decimation cut off
    at a pinch) hold under ``share`` of the area; else the mesh unchanged."""
    n, label = _pieces(mesh)
    if n <= 1:
        return mesh
    area = np.bincount(label, weights=face_areas(mesh), minlength=n)
    big = int(np.argmax(area))
    if area.sum() - area[big] >= share * area.sum():
        return mesh
    return compact(Mesh(mesh.vertices, np.asarray(mesh.faces)[label == big]))


def _decimate_closed(mesh: Mesh, target: int) -> Mesh:
    """Decimate to about ``target`` faces keeping one closed manifold.

    Quadric decimation sometimes stops well above the target in one pass; then it
    runs again on its own result (up to four passes). When an attempt breaks the
    surface, it aims for twice as many faces, up to the mesh's own count.
    """
    passes = 0
    while target < len(mesh.faces) and passes < 4:
        dec = try_decimate(mesh, target)
        if dec is not None:
            dec = _largest_if_rest_tiny(split_nonmanifold_vertices(dec, nudge=_PINCH_NUDGE))
            if _is_one_closed_manifold(dec) and len(dec.faces) < len(mesh.faces):
                mesh, passes = dec, passes + 1
                if len(mesh.faces) <= 1.5 * target:
                    return mesh
                continue
        log.debug("remesh: decimation to %d faces broke the surface; trying %d",
                  target, 2 * target)
        target *= 2
    return mesh


def _remesh_asset(w: _Work, cleaned: MeshAsset, options: RepairOptions,
                  n_input_faces: int) -> tuple[MeshAsset, list[str], int]:
    gpy = require("gpytoolbox", "quality", "the volumetric remesh")
    out, info = _winding_remesh(w.p, w.fp, options.resolution, shell=options.shell)
    changes: list[str] = []
    n_mc = len(out.faces)
    target = options.target_faces
    if target is None:
        target = int(np.clip(n_input_faces, MIN_TARGET_FACES, MAX_TARGET_FACES))
    if n_mc > target:
        out = _decimate_closed(out, target)
    closed = is_watertight(out)
    changes.append(f"remeshed volumetrically: {_n(len(w.fp))} -> {_n(len(out.faces))} faces, "
                   + ("one closed manifold" if closed else "NOT closed (see the log)"))
    if info.thickened:
        changes.append(f"thickened open or sub-voxel surface ({info.thickened * 100:.3g}% of "
                       f"the area) into a shell {2 * _SHELL:g} voxels thick")
    if info.closing:
        changes.append(f"joined parts that touched (closing of {info.closing} voxel"
                       f"{'s' if info.closing > 1 else ''})")
    dropped = max(info.parts - 1, 0)
    if dropped:
        changes.append(f"dropped {_plural(dropped, 'separate part')} to keep one piece "
                       "(the largest)")
    has_colour = cleaned.texture is not None or cleaned.vertex_colors is not None
    vc = None
    material = cleaned.material
    if options.keep_colors and has_colour and len(cleaned.faces):
        # cleaned's faces are w.fp's, in order: the AABB tree of the remesh serves.
        pts = np.ascontiguousarray(out.vertices, dtype=np.float64)
        sq, face, bary = gpy.squared_distance(pts, w.p, F=np.ascontiguousarray(w.fp, np.int32),
                                              use_cpp=True, cpp_aabb=info.aabb)
        face = np.asarray(face, dtype=np.int64).ravel()
        bary = np.asarray(bary, dtype=np.float64).reshape(-1, 3)
        point = np.einsum("nk,nkd->nd", bary, w.p[w.fp[face]])
        cp = ClosestPoints(face, bary, point, np.sqrt(np.maximum(np.ravel(sq), 0.0)))
        vc = sample_colors(cleaned, pts, closest=cp)
        if cleaned.texture is not None:
            # sample_colors already multiplied the base-colour factor in.
            material = replace(material, base_color_factor=(1.0, 1.0, 1.0, 1.0))
        changes.append("moved the " + ("texture" if cleaned.texture is not None
                                        else "vertex colours")
                       + " onto the new surface as vertex colours")
    asset = replace(cleaned, vertices=np.asarray(out.vertices, np.float64),
                    faces=np.asarray(out.faces, np.int64), uv=None, texture=None,
                    vertex_colors=vc, texture_sizes=(), material=material, file_bytes=0)
    return asset, changes, dropped


# --------------------------------------------------------------------------- entry


def repair_mesh(asset: MeshAsset, options: RepairOptions | None = None) -> RepairResult:
    """Clean up a mesh, and with ``options.watertight`` make it one closed manifold.

    See the module docstring for the steps. Nothing is moved by the safe clean-up:
    merged vertices take the position of one of them, filled holes add vertices only
    at hole centroids.

    Args:
        asset: any mesh (a soup, holes, mixed winding, floaters, fins...).
        options: what to do; defaults to :class:`RepairOptions()`.

    Returns:
        the repaired mesh and what changed. When nothing needed changing, ``changes``
        is empty and ``asset`` is the input object.

    Raises:
        InputError: ``asset`` or ``options`` unusable (no faces, indices out of range,
            every face non-finite; or, with ``watertight``, nothing enclosed).
    """
    if options is None:
        options = RepairOptions()
    if not isinstance(options, RepairOptions):
        raise InputError(f"options: expected RepairOptions, got {type(options).__name__}")
    _check_asset(asset)
    n_in = len(asset.faces)
    keep = options.keep_colors
    w = _merge(asset, options.merge_distance, keep)
    _drop_degenerate(w)
    _drop_duplicates(w)
    _drop_floaters(w, options.floater_fraction)
    _drop_nonmanifold(w)
    if len(w.fp) == 0:
        raise InputError("asset: no usable faces are left after removing degenerate ones")
    _orient(w)
    _split_pinches(w)
    _fill_holes(w, options.hole_max_edges)
    _outward(w)
    dropped_attrs = not keep and (asset.uv is not None or asset.texture is not None
                                  or asset.vertex_colors is not None)
    if dropped_attrs:
        w.changes.append("dropped UVs, texture and vertex colours (keep_colors=False)")
    c = w.counts
    if w.changes:
        out = _assemble(w, asset, keep)
    else:
        out = asset
    topo = w.mesh
    remeshed = False
    dropped = 0
    changes = list(w.changes)
    notes = list(w.notes)
    if options.watertight:
        if _is_one_closed_manifold(topo) and not (options.force_remesh or options.shell):
            notes.append("already one closed manifold: no volumetric remesh needed")
        else:
            cleaned = _assemble(w, asset, keep) if out is asset else out
            out, more, dropped = _remesh_asset(w, cleaned, options, n_in)
            if not options.shell:
                # A solid cannot follow a surface with a huge opening (a shell with an
                # open underside): its floor lands far from anything the input had.
                # Then a thin closed shell is the faithful closed version.
                dev = surface_deviation(w.p, w.fp, out.vertices, out.faces)
                if dev > SHELL_FALLBACK:
                    alt = _remesh_asset(w, cleaned, replace(options, shell=True), n_in)
                    dev_alt = surface_deviation(w.p, w.fp, alt[0].vertices, alt[0].faces)
                    if dev_alt < dev:
                        out, more, dropped = alt
                        notes.append(
                            f"closed as a solid, the surface moved {dev:.2%} of the "
                            f"bounding-box diagonal from the input (an opening too large "
                            f"to close faithfully); closed as a thin shell instead "
                            f"({dev_alt:.2%})")
            changes.extend(more)
            remeshed = True
            topo = out.mesh()
    n_comp = _pieces(topo)[0]
    closed = is_watertight(topo)
    if not options.watertight and not closed:
        notes.append("the result is not closed: use watertight=True for one closed "
                     "manifold")
    for line in changes:
        log.info("repair: %s", line)
    return RepairResult(
        asset=out, changes=tuple(changes), notes=tuple(notes),
        merged_vertices=int(c.get("merged", 0)),
        removed_unused_vertices=int(c.get("unused", 0)),
        removed_degenerate=int(c.get("degenerate", 0)),
        removed_duplicate_faces=int(c.get("duplicates", 0)),
        removed_nonmanifold_faces=int(c.get("nonmanifold", 0)),
        split_vertices=int(c.get("split", 0)),
        flipped_faces=int(c.get("flipped", 0)), reversed=int(c.get("reversed", 0)),
        removed_floaters=int(c.get("floaters", 0)),
        removed_floater_area=c.get("floater_area_ppm", 0) / 1e6,
        filled_holes=int(c.get("holes", 0)), remeshed=remeshed, dropped_parts=dropped,
        watertight=bool(closed), components=int(n_comp),
    )
