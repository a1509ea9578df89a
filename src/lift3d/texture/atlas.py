"""UV atlases: split a welded mesh into charts, flatten them and pack them in a square.

Two unwrappers, both returning an :class:`Unwrap`:

* :func:`unwrap_box`: fast "box" charting. Each face is labelled by the dominant axis
  of its (lightly smoothed) normal (``+x, -x, +y, -y, +z, -z``), charts are the
  edge-connected components of equally labelled faces (tiny ones merged into a
  neighbour), and each chart is projected orthographically along its axis. A chart
  that would overlap itself in projection is cut at its median depth until it does
  not. xatlas only packs the charts.
* :func:`unwrap_xatlas`: xatlas's own charting and parametrisation (slower, fewer
  seams on smooth organic shapes), packed by the same packer.

Both guarantee: ``uv`` in ``[0, 1]`` with the origin at the bottom-left (see
:mod:`lift3d.conventions`); every chart keeps its orientation (no mirroring: a face
counter-clockwise from outside is counter-clockwise in uv); charts are scaled by
their true 3D size, so texel density is roughly uniform; charts do not overlap and
are at least ``padding_px`` texels apart in a ``resolution x resolution`` texture
(the padding is halved, with a warning, only when the charts cannot fit otherwise).
Packing may rotate charts (never mirror them).

xatlas is an optional dependency (extra ``atlas``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..errors import require
from ..types import Mesh

_log = logging.getLogger(__name__)

__all__ = ["Unwrap", "unwrap_box", "unwrap_xatlas", "chart_components"]

#: Unit directions of the six box labels, in label order.
_AXIS_DIRS = np.array(
    [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float64
)

#: Orthographic projection of each label: rows are the (u, v) axes, chosen so that
#: ``u x v`` is the label's outward direction (a face seen from outside stays
#: counter-clockwise) and, for the side labels, v points to world up (camera -y).
_AXIS_PROJ = np.array(
    [
        [[0, 0, 1], [0, -1, 0]],  # +x: u = z, v = -y
        [[0, 0, -1], [0, -1, 0]],  # -x: u = -z, v = -y
        [[-1, 0, 0], [0, 0, 1]],  # +y: u = -x, v = z
        [[1, 0, 0], [0, 0, 1]],  # -y: u = x, v = z
        [[-1, 0, 0], [0, -1, 0]],  # +z (back, seen from behind): u = -x, v = -y
        [[1, 0, 0], [0, -1, 0]],  # -z (front, faces the camera): u = x, v = -y
    ],
    dtype=np.float64,
)


@dataclass(frozen=True)
class Unwrap:
    """A mesh split along chart seams, with one uv per vertex.

    Attributes:
        vertices: ``(V', 3)`` float64, seam-split copies of the input vertices.
        faces: ``(F, 3)`` int64, same order and winding as the input faces.
        uv: ``(V', 2)`` float32 in ``[0, 1]``, origin at the bottom-left.
        welded_index: ``(V',)`` int64 index of each vertex in the input mesh.
        face_chart: ``(F,)`` int32 chart of each face, or -1 for faces no chart took
            (degenerate, zero-area faces; their uv triangle is collapsed). ``None``
            when the producer does not know the charts.
        resolution: texture size (texels) the packing was made for; ``padding_px``
            is meant in texels of this size.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    welded_index: np.ndarray
    face_chart: np.ndarray | None = None
    resolution: int | None = None

    @property
    def chart_count(self) -> int:
        """Number of charts (connected uv islands when ``face_chart`` is unknown)."""
        if self.face_chart is not None:
            fc = self.face_chart[self.face_chart >= 0]
            return int(np.unique(fc).size)
        return int(chart_components(self.faces, len(self.vertices))[0])

    def welded(self) -> Mesh:
        """The input geometry: seam-split vertices merged back."""
        n = int(self.welded_index.max()) + 1 if len(self.welded_index) else 0
        verts = np.zeros((n, 3), dtype=np.float64)
        verts[self.welded_index] = self.vertices
        return Mesh(verts, self.welded_index[self.faces].astype(np.int64))


# ----------------------------------------------------------------------------- helpers


def chart_components(faces: np.ndarray, n_vertices: int) -> tuple[int, np.ndarray]:
    """Connected components of faces that share a vertex: ``(count, label per face)``.

    On a seam-split mesh these are its uv charts.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    faces = np.asarray(faces, dtype=np.int64)
    nf = len(faces)
    if nf == 0:
        return 0, np.zeros(0, dtype=np.int32)
    rows = np.repeat(np.arange(nf), 3)
    g = coo_matrix((np.ones(3 * nf, dtype=np.int8), (rows, faces.ravel())),
                   shape=(nf, max(int(n_vertices), int(faces.max()) + 1))).tocsr()
    adj = g @ g.T
    n, lab = connected_components(adj, directed=False)
    return int(n), lab.astype(np.int32)


def _face_geometry(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit face normals (zero for degenerate faces) and face areas."""
    v = vertices[faces]
    cross = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    norm = np.linalg.norm(cross, axis=1)
    normals = np.zeros_like(cross)
    ok = norm > 0
    normals[ok] = cross[ok] / norm[ok, None]
    return normals, 0.5 * norm


def _edge_face_pairs(faces: np.ndarray) -> np.ndarray:
    """``(E, 2)`` pairs of faces sharing an edge (consecutive pairs on non-manifold edges)."""
    nf = len(faces)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e.sort(axis=1)
    fid = np.tile(np.arange(nf), 3)
    key = e[:, 0] * (int(faces.max()) + 1) + e[:, 1]
    order = np.argsort(key, kind="stable")
    key, fid = key[order], fid[order]
    same = key[1:] == key[:-1]
    pairs = np.stack([fid[:-1][same], fid[1:][same]], axis=1)
    return pairs[pairs[:, 0] != pairs[:, 1]]


def _components(n: int, pairs: np.ndarray) -> tuple[int, np.ndarray]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    g = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    k, lab = connected_components(g, directed=False)
    return int(k), lab.astype(np.int64)


def _signed_uv_area(uv: np.ndarray, faces: np.ndarray) -> np.ndarray:
    t = uv[faces].astype(np.float64)
    a, b = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    return 0.5 * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])


def _split_by_chart(faces: np.ndarray, face_chart: np.ndarray, n_vertices: int):
    """One vertex copy per (chart, vertex): new faces, welded index, chart of each copy."""
    key = face_chart[:, None].astype(np.int64) * n_vertices + faces
    uniq, inv = np.unique(key.ravel(), return_inverse=True)
    new_faces = inv.reshape(-1, 3).astype(np.int64)
    return new_faces, (uniq % n_vertices).astype(np.int64), (uniq // n_vertices).astype(np.int64)


def _rescale_charts(uv: np.ndarray, faces: np.ndarray, face_chart: np.ndarray,
                    vert_chart: np.ndarray, area3d: np.ndarray, n_charts: int) -> np.ndarray:
    """Scale each chart so its uv area equals its 3D area (uniform texel density)."""
    a_uv = np.bincount(face_chart, weights=np.abs(_signed_uv_area(uv, faces)), minlength=n_charts)
    a_3d = np.bincount(face_chart, weights=area3d, minlength=n_charts)
    s = np.ones(n_charts)
    ok = (a_uv > 0) & (a_3d > 0)
    s[ok] = np.sqrt(a_3d[ok] / a_uv[ok])
    return uv * s[vert_chart, None]


# ----------------------------------------------------------------------------- packing


def _pack(uv: np.ndarray, faces: np.ndarray, face_chart: np.ndarray, n_charts: int,
          resolution: int, padding: int):
    """Pack charts (given in a common length unit) into one square atlas with xatlas.

    Returns ``(vmapping, faces_out, uv_out (in [0, 1]), face_chart_out)``: xatlas's
    output vertices map to input vertices through ``vmapping``; ``face_chart_out`` is
    xatlas's chart of each face (its uv islands; -1 for faces it left out of every
    chart, which are degenerate in uv). xatlas charts by uv connectivity within one
    ``face_chart`` id, so its charts are the given ones unless one is only held
    together by degenerate faces.
    """
    xatlas = require("xatlas", "atlas", "UV atlas packing")
    resolution = int(resolution)
    padding = int(max(0, padding))
    if resolution <= 2 * padding + 2:
        raise ValueError(f"atlas resolution {resolution} too small for padding {padding}")
    uv32 = np.ascontiguousarray(uv, dtype=np.float32)
    f32 = np.ascontiguousarray(faces, dtype=np.uint32)
    mat = np.ascontiguousarray(face_chart, dtype=np.uint32).reshape(-1, 1)

    def run(tpu: float | None):
        # xatlas adds the padding around the outer border itself: ask for the inside.
        atlas = xatlas.Atlas()
        atlas.add_uv_mesh(uv32, f32, mat)
        po = xatlas.PackOptions()
        po.padding = padding
        po.resolution = resolution - 2 * padding
        po.bilinear = True
        # rotate_charts turns a chart by swapping x and y, which mirrors it: off, so
        # the winding survives packing. rotate_charts_to_axis is a true rotation.
        po.rotate_charts = False
        po.rotate_charts_to_axis = True
        if tpu is not None:
            po.texels_per_unit = float(tpu)
        atlas.generate(pack_options=po)
        return atlas

    # Pass 1: xatlas guesses texels-per-unit from the chart area (assuming 75 %
    # utilisation) and grows the atlas as needed; pass 2 rescales that guess so the
    # charts fill the requested square, and shrinks it again if they overflow. When
    # even that fails (thousands of charts in a small square), the padding shrinks.
    atlas = None
    while atlas is None:
        inner = resolution - 2 * padding
        first = run(None)
        extent = max(int(first.width), int(first.height), 1)
        tpu = float(first.texels_per_unit) * 0.985 * inner / extent
        for _ in range(16):
            candidate = run(tpu)
            if int(candidate.atlas_count) == 1:
                atlas = candidate
                break
            tpu *= 0.85
        if atlas is None:
            if padding == 0:
                raise RuntimeError("xatlas could not pack the charts into one atlas")
            _log.warning("atlas: %d charts do not fit %dx%d with %d px padding; using %d",
                         n_charts, resolution, resolution, padding, padding // 2)
            padding //= 2
    w, h = int(atlas.width), int(atlas.height)
    vmapping, out_faces, out_uv = atlas[0]
    vmapping = vmapping.astype(np.int64)
    out_faces = out_faces.astype(np.int64)
    if out_faces.shape != faces.shape or not np.array_equal(vmapping[out_faces], faces):
        raise RuntimeError("xatlas reordered the faces of the mesh; cannot map the atlas back")
    # xatlas normalises by its own (w, h); express in texels of the square texture,
    # offset by the outer padding it stripped.
    texels = out_uv.astype(np.float64) * np.array([w, h], dtype=np.float64) + padding
    out_fc = np.full(len(faces), -1, dtype=np.int64)
    for c in range(int(atlas.get_mesh_chart_count(0))):
        ch = atlas.get_mesh_chart(0, c)
        out_fc[np.asarray(ch.faces, dtype=np.int64)] = c
    _collapse_uncharted(texels, out_faces, out_fc)
    uv01 = np.clip(texels / resolution, 0.0, 1.0)
    if int(atlas.chart_count) != n_charts:
        _log.debug("xatlas packed %d charts for %d given", int(atlas.chart_count), n_charts)
    return vmapping, out_faces, uv01, out_fc


def _collapse_uncharted(texels: np.ndarray, faces: np.ndarray, face_chart: np.ndarray) -> None:
    """Give vertices used only by uncharted faces the uv of a charted vertex of the same
    face (or of the face's first vertex), so leftover faces have no uv area. In place."""
    bad = face_chart < 0
    if not bad.any():
        return
    charted_vert = np.zeros(len(texels), dtype=bool)
    charted_vert[faces[~bad].ravel()] = True
    for f in faces[bad]:
        anchor = next((int(i) for i in f if charted_vert[i]), int(f[0]))
        for i in f:
            if not charted_vert[i]:
                texels[i] = texels[anchor]


def _finish(vertices: np.ndarray, welded_of_split: np.ndarray, packed, resolution: int) -> Unwrap:
    vmapping, out_faces, uv01, out_fc = packed
    welded = welded_of_split[vmapping]
    fc = out_fc.astype(np.int32)
    return Unwrap(
        vertices=np.asarray(vertices, dtype=np.float64)[welded],
        faces=out_faces.astype(np.int64),
        uv=uv01.astype(np.float32),
        welded_index=welded.astype(np.int64),
        face_chart=fc,
        resolution=int(resolution),
    )


# ----------------------------------------------------------------------------- box


#: Smallest cosine between a face's normal and its chart's projection axis: below it
#: the face would be squashed (or flipped) by the projection.
_MIN_COS = 0.25


def _smooth_normals(normals: np.ndarray, area: np.ndarray, pairs: np.ndarray,
                    iterations: int) -> np.ndarray:
    """Area-weighted face normals diffused over edge neighbours (noise-free labels)."""
    from scipy.sparse import coo_matrix, identity

    nf = len(normals)
    if iterations <= 0 or len(pairs) == 0:
        return normals
    both = np.concatenate([pairs, pairs[:, ::-1]])
    adj = coo_matrix((np.ones(len(both)), (both[:, 0], both[:, 1])), shape=(nf, nf)).tocsr()
    adj = adj + identity(nf, format="csr")
    n = normals * area[:, None]
    for _ in range(iterations):
        n = adj @ n
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return np.where(norm > 0, n / np.where(norm > 0, norm, 1.0), normals)


def _box_labels(normals: np.ndarray, area: np.ndarray, pairs: np.ndarray,
                min_faces: int, smooth_iterations: int = 4,
                merge_iterations: int = 5) -> np.ndarray:
    """Box label (index into ``_AXIS_DIRS``) of every face.

    The dominant axis of the *smoothed* normal, so surface noise does not shatter the
    charts, unless the face's own normal is too far from it (then its own dominant
    axis); charts smaller than ``min_faces`` are then merged into a neighbouring
    label (majority of the adjacent faces) where all of their faces project well.
    """
    dots = normals @ _AXIS_DIRS.T  # (F, 6)
    raw = dots.argmax(axis=1)
    nf = len(raw)
    good = area > 1e-12 * max(float(area.max(initial=0.0)), 1e-300)
    smooth = _smooth_normals(normals, area, pairs, smooth_iterations)
    label = (smooth @ _AXIS_DIRS.T).argmax(axis=1)
    off = good & (dots[np.arange(nf), label] < _MIN_COS)
    label[off] = raw[off]
    both = np.concatenate([pairs, pairs[:, ::-1]])
    for _ in range(merge_iterations):
        same = label[both[:, 0]] == label[both[:, 1]]
        k, comp = _components(nf, both[same])
        size = np.bincount(comp, minlength=k)
        tiny = size[comp] < min_faces
        if not tiny.any():
            break
        cross = both[(~same) & tiny[both[:, 0]]]
        if len(cross) == 0:
            break
        votes = np.zeros((k, 6))
        np.add.at(votes, (comp[cross[:, 0]], label[cross[:, 1]]), 1.0)
        worst = np.full((k, 6), np.inf)
        np.minimum.at(worst, comp[good], dots[good])
        votes[worst < _MIN_COS] = 0.0
        target = votes.argmax(axis=1)
        change = (votes.max(axis=1) > 0) & (size < min_faces)
        new = np.where(change[comp], target[comp], label)
        if np.array_equal(new, label):
            break
        label = new
    return label


def _boundary_crossings(uv: np.ndarray, faces: np.ndarray, face_chart: np.ndarray) -> np.ndarray:
    """Faces where a chart overlaps itself in uv.

    A chart whose triangles all keep their orientation is one-to-one unless a vertex's
    triangles wrap more than once around it (angle sum over 2 pi, seen at boundary
    vertices) or two of its boundary edges cross. Both are tested; pairs of boundary
    edges come from a uniform grid. Returns the faces at fault.
    """
    nf = len(faces)
    if nf == 0:
        return np.zeros(0, dtype=np.int64)
    # Angle sums per vertex.
    t = uv[faces].astype(np.float64)
    angle_sum = np.zeros(len(uv))
    for k in range(3):
        d1 = t[:, (k + 1) % 3] - t[:, k]
        d2 = t[:, (k + 2) % 3] - t[:, k]
        ang = np.arctan2(d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0], (d1 * d2).sum(axis=1))
        angle_sum += np.bincount(faces[:, k], weights=ang, minlength=len(uv))
    wrapped = angle_sum > 2.0 * np.pi * (1.0 + 1e-6)
    fan = np.flatnonzero(wrapped[faces].any(axis=1))
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    owner = np.tile(np.arange(nf), 3)
    s = np.sort(e, axis=1)
    key = s[:, 0] * (int(faces.max()) + 1) + s[:, 1]
    _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    bnd = cnt[inv] == 1
    if bnd.sum() < 4:
        return fan
    e, owner = e[bnd], owner[bnd]
    chart = face_chart[owner].astype(np.int64)
    p0, p1 = uv[e[:, 0]].astype(np.float64), uv[e[:, 1]].astype(np.float64)
    lo, hi = np.minimum(p0, p1), np.maximum(p0, p1)
    length = np.linalg.norm(p1 - p0, axis=1)
    h = 2.0 * float(np.median(length[length > 0])) if (length > 0).any() else 1.0
    origin = lo.min(axis=0)
    n_seg = len(e)
    for _ in range(30):
        c0 = np.floor((lo - origin) / h).astype(np.int64)
        c1 = np.floor((hi - origin) / h).astype(np.int64)
        nx, ny = c1[:, 0] - c0[:, 0] + 1, c1[:, 1] - c0[:, 1] + 1
        n = nx * ny
        if n.sum() <= 16 * n_seg:
            break
        h *= 2.0
    seg = np.repeat(np.arange(n_seg), n)
    local = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    cx = c0[seg, 0] + local % nx[seg]
    cy = c0[seg, 1] + local // nx[seg]
    span = int(max(cx.max(), cy.max())) + 1
    cell = (chart[seg] * span + cx) * span + cy
    order = np.argsort(cell, kind="stable")
    cell, seg = cell[order], seg[order]
    start = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    size = np.diff(np.r_[start, len(cell)])
    gid = np.repeat(np.arange(len(start)), size)
    pos = np.arange(len(cell))
    later = start[gid] + size[gid] - 1 - pos  # elements after this one in its cell
    if later.sum() == 0:
        return fan
    first = np.repeat(pos, later)
    second = first + 1 + (np.arange(later.sum()) - np.repeat(np.cumsum(later) - later, later))
    a, b = seg[first], seg[second]
    pair = np.unique(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1), axis=0)
    a, b = pair[:, 0], pair[:, 1]
    ea, eb = e[a], e[b]
    share = ((ea[:, :, None] == eb[:, None, :]).any(axis=(1, 2)))
    a, b = a[~share], b[~share]
    if len(a) == 0:
        return fan

    def orient(p, q, r):
        return (q[:, 0] - p[:, 0]) * (r[:, 1] - p[:, 1]) - (q[:, 1] - p[:, 1]) * (r[:, 0] - p[:, 0])

    tol = 1e-12 * h * h
    o1 = orient(p0[a], p1[a], p0[b])
    o2 = orient(p0[a], p1[a], p1[b])
    o3 = orient(p0[b], p1[b], p0[a])
    o4 = orient(p0[b], p1[b], p1[a])
    hit = (o1 * o2 < -tol * tol) & (o3 * o4 < -tol * tol)
    return np.unique(np.concatenate([fan, owner[a[hit]], owner[b[hit]]]))


def _box_charts(vertices, faces, normals, area, pairs, label):
    """Charts from labels, re-split until no chart overlaps itself in projection.

    Returns ``(n_charts, face_chart, chart_label, split_faces, welded_of_split,
    vert_chart, uv)`` with ``uv`` in object units (each chart's own frame).
    """
    nf = len(faces)
    raw = (normals @ _AXIS_DIRS.T).argmax(axis=1)
    part = np.zeros(nf, dtype=np.int64)  # extra subdivision of a label
    for attempt in range(8):
        key = label * (1 << 40) + part
        same = key[pairs[:, 0]] == key[pairs[:, 1]]
        n_charts, face_chart = _components(nf, pairs[same])
        chart_label = np.zeros(n_charts, dtype=np.int64)
        chart_label[face_chart] = label
        split_faces, welded, vert_chart = _split_by_chart(faces, face_chart, len(vertices))
        proj = _AXIS_PROJ[chart_label[vert_chart]]  # (V', 2, 3)
        uv = np.einsum("vij,vj->vi", proj, vertices[welded])
        bad = _boundary_crossings(uv, split_faces, face_chart)
        if len(bad) == 0 or attempt == 7:
            break
        _log.debug("box unwrap: %d charts overlap themselves, splitting",
                   np.unique(face_chart[bad]).size)
        in_bad = np.isin(face_chart, np.unique(face_chart[bad]))
        if attempt < 5:
            # Cut each bad chart at its median depth along the projection axis: the
            # layers that overlap in projection lie at different depths.
            cen = vertices[faces].mean(axis=1)
            depth = np.einsum("fj,fj->f", cen, _AXIS_DIRS[label])
            med = np.zeros(n_charts)
            for c in np.unique(face_chart[bad]):
                med[c] = np.median(depth[face_chart == c])
            part = np.where(in_bad, part * 2 + (depth > med[face_chart]), part)
        elif attempt == 5:
            # Undo smoothing and merging in those charts.
            label = np.where(in_bad, raw, label)
        else:
            # Last resort: the faces along the crossing edges become charts of their own.
            part[bad] = (1 << 30) + bad
    return n_charts, face_chart, chart_label, split_faces, welded, vert_chart, uv


def unwrap_box(mesh: Mesh, padding_px: int = 4, resolution: int = 1024,
               min_chart_faces: int = 8) -> Unwrap:
    """Fast box-projection charts, packed with xatlas.

    Args:
        mesh: the welded mesh (any frame; the camera frame in the pipeline).
        padding_px: gutter between charts, in texels of a ``resolution`` texture.
        resolution: side of the square texture the atlas is packed for.
        min_chart_faces: charts with fewer faces are merged into a neighbour.
    """
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if len(faces) == 0:
        raise ValueError("cannot unwrap a mesh without faces")
    normals, area = _face_geometry(vertices, faces)
    pairs = _edge_face_pairs(faces)
    label = _box_labels(normals, area, pairs, min_chart_faces)
    n_charts, face_chart, _, split_faces, welded_of_split, vert_chart, uv = _box_charts(
        vertices, faces, normals, area, pairs, label)
    uv = _rescale_charts(uv, split_faces, face_chart, vert_chart, area, n_charts)
    # Shift each chart to its own origin (keeps float32 precise for far-off meshes).
    lo = np.full((n_charts, 2), np.inf)
    np.minimum.at(lo, vert_chart, uv)
    uv = uv - lo[vert_chart]

    packed = _pack(uv, split_faces, face_chart, n_charts, resolution, padding_px)
    return _finish(vertices, welded_of_split, packed, resolution)


# ----------------------------------------------------------------------------- xatlas


def unwrap_xatlas(mesh: Mesh, padding_px: int = 4, resolution: int = 1024,
                  max_iterations: int = 1) -> Unwrap:
    """xatlas charting and parametrisation (``Atlas.add_mesh`` + ``generate``), then
    packed into one square like :func:`unwrap_box`."""
    xatlas = require("xatlas", "atlas", "UV atlas unwrapping")
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if len(faces) == 0:
        raise ValueError("cannot unwrap a mesh without faces")
    # Centre before float32 so far-off meshes keep their precision.
    centre = 0.5 * (vertices.min(axis=0) + vertices.max(axis=0))
    atlas = xatlas.Atlas()
    atlas.add_mesh(np.ascontiguousarray(vertices - centre, dtype=np.float32),
                   np.ascontiguousarray(faces, dtype=np.uint32))
    co = xatlas.ChartOptions()
    co.max_iterations = int(max_iterations)
    co.fix_winding = True
    po = xatlas.PackOptions()  # this packing is thrown away; _pack repacks below
    po.padding = int(padding_px)
    po.resolution = int(resolution)
    po.rotate_charts = False
    atlas.generate(chart_options=co, pack_options=po)
    vm, xf, xuv = atlas[0]
    vm = vm.astype(np.int64)
    xf = xf.astype(np.int64)
    if xf.shape != faces.shape or not np.array_equal(vm[xf], faces):
        raise RuntimeError("xatlas reordered the faces of the mesh; cannot map the atlas back")

    # xatlas's charts: one chart id per face (-1: xatlas ignored it, e.g. zero area).
    fc = np.full(len(faces), -1, dtype=np.int64)
    for c in range(int(atlas.get_mesh_chart_count(0))):
        fc[np.asarray(atlas.get_mesh_chart(0, c).faces, dtype=np.int64)] = c
    _, area = _face_geometry(vertices, faces)
    # Put ignored faces into a chart of a neighbour sharing a vertex, so the split
    # below never makes one vertex belong to an extra chart with garbage uv.
    if (fc < 0).any():
        vchart = np.full(len(vm), -1, dtype=np.int64)
        vchart[xf[fc >= 0].ravel()] = np.repeat(fc[fc >= 0], 3)
        for f in np.flatnonzero(fc < 0):
            cands = vchart[xf[f]]
            cands = cands[cands >= 0]
            fc[f] = cands[0] if len(cands) else -1
    orphans = fc < 0
    if orphans.any():  # isolated degenerate faces: a chart of their own each
        fc[orphans] = fc.max(initial=-1) + 1 + np.arange(int(orphans.sum()))
    n_charts = int(fc.max()) + 1

    # Split xatlas's vertices per chart (they already are, apart from moved faces).
    n_x = len(vm)
    split_faces, xvert_of_split, vert_chart = _split_by_chart(xf, fc, n_x)
    uv = xuv.astype(np.float64)[xvert_of_split] * np.array([atlas.width, atlas.height], float)
    # Make every chart counter-clockwise (xatlas's fix_winding should already have).
    sa = np.bincount(fc, weights=_signed_uv_area(uv, split_faces), minlength=n_charts)
    mirrored = sa < 0
    if mirrored.any():
        uv[mirrored[vert_chart], 0] *= -1.0
    uv = _rescale_charts(uv, split_faces, fc, vert_chart, area, n_charts)
    lo = np.full((n_charts, 2), np.inf)
    np.minimum.at(lo, vert_chart, uv)
    uv = uv - lo[vert_chart]
    welded_of_split = vm[xvert_of_split]
    packed = _pack(uv, split_faces, fc, n_charts, resolution, padding_px)
    return _finish(vertices, welded_of_split, packed, resolution)
