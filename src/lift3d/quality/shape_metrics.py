"""Shape metrics of single-image 3D reconstruction: Chamfer distance, F-score, volume IoU.

The protocol follows the evaluations of TripoSR and SF3D:

1. Both meshes are normalised to the unit box (:func:`normalise_unit_box`): bounding
   box centred on the origin, largest side 1.
2. ``n`` points are sampled on each surface, area-weighted (:func:`sample_surface`).
3. The prediction is aligned to the ground truth (:func:`align`): a brute-force search
   over fixed orientations (the cube's 24 rotations, tilts about x, yaw steps of 15
   degrees about +Y; no reflections unless asked) scored by Chamfer distance on point
   subsets, then rigid point-to-point ICP from the best few candidates.
4. Scores on the aligned points: :func:`chamfer`, :func:`fscore` at ``tau = 0.1`` and
   ``0.05``, and :func:`volume_iou` of the two solids voxelised on one grid.

:func:`score_meshes` composes these into a :class:`ShapeScore`, with two additions
that its docstring explains: the aligned prediction is re-normalised in the ground
truth's axes (a reconstruction comes in the camera's frame, so step 1 alone would
shrink a perfect answer seen at an angle), and, given the ground truth's part labels,
surface buried inside other parts of an assembly is not ground truth.

Every length is in unit-box units (the largest side of the ground truth is 1).
numpy and scipy only (scipy imported inside the functions that use it).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError

log = logging.getLogger(__name__)

#: Thresholds of the F-score, unit-box units, as the papers report them.
FSCORE_TAUS: tuple[float, float] = (0.1, 0.05)

#: Jitter of the voxeliser's ray columns, as a fraction of a cell. Irrational, so a
#: column practically never passes exactly through a mesh edge or vertex even when the
#: mesh is aligned with the grid (a box from 0 to 1 on a 64-cell grid).
_COLUMN_JITTER = (math.sqrt(2.0) - 1.0) * 1e-3, (math.sqrt(3.0) - 1.0) * 1e-3

#: Most rounds of "re-normalise the aligned prediction, refine by ICP" in
#: :func:`score_meshes`; the scale settles in two or three (a wrong scale biases the
#: pose, and the pose the bounding box, so one round is not always enough).
_RENORMALISE_ROUNDS = 4

#: Largest number of (triangle, column) pairs tested at once by the voxeliser.
_PAIR_CHUNK = 2_000_000


@dataclass(frozen=True)
class ShapeScore:
    """The scores of one predicted mesh against its ground truth.

    Attributes:
        chamfer: mean of the two directional mean nearest-neighbour distances between
            the surface samples, unit-box units (0 = identical; lower is better).
        f_01: F-score at ``tau = 0.1``, in ``[0, 1]`` (higher is better).
        f_005: F-score at ``tau = 0.05``, in ``[0, 1]``.
        iou: volume IoU of the two solids, in ``[0, 1]``.
        rotation: ``(3, 3)`` float64 orthogonal matrix of the alignment (a proper
            rotation unless reflections were allowed).
        translation: ``(3,)`` float64 translation of the alignment.
        scale: the alignment's scale (1 when not re-normalised).

    The alignment maps the unit-box-normalised prediction ``p`` into the
    unit-box-normalised ground truth's frame: ``scale * rotation @ p + translation``.
    """

    chamfer: float
    f_01: float
    f_005: float
    iou: float
    rotation: np.ndarray
    translation: np.ndarray
    scale: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready plain values (lists for the arrays)."""
        return {
            "chamfer": float(self.chamfer),
            "f_01": float(self.f_01),
            "f_005": float(self.f_005),
            "iou": float(self.iou),
            "rotation": np.asarray(self.rotation, dtype=float).round(6).tolist(),
            "translation": np.asarray(self.translation, dtype=float).round(6).tolist(),
            "scale": float(self.scale),
        }


# ---------------------------------------------------------------------------- checks


def _points(a: Any, name: str, min_count: int = 1) -> np.ndarray:
    """Checked ``(N, 3)`` float64 finite points; :class:`InputError` names ``name``."""
    try:
        p = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: expected an (N, 3) array of numbers: {exc}") from None
    if p.ndim != 2 or p.shape[1] != 3:
        raise InputError(f"{name}: expected an (N, 3) array, got shape {p.shape}")
    if len(p) < min_count:
        raise InputError(f"{name}: needs at least {min_count} points, got {len(p)}")
    if not np.isfinite(p).all():
        raise InputError(f"{name}: contains NaN or infinite coordinates")
    return p


def _faces(f: Any, n_vertices: int, name: str) -> np.ndarray:
    """Checked ``(F, 3)`` int64 indices into ``n_vertices`` vertices."""
    faces = np.asarray(f)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise InputError(f"{name}: expected an (F, 3) array, got shape {faces.shape}")
    if len(faces) == 0:
        raise InputError(f"{name}: has no faces")
    if not np.issubdtype(faces.dtype, np.integer):
        raise InputError(f"{name}: must hold integer vertex indices, got {faces.dtype}")
    if faces.min() < 0 or faces.max() >= n_vertices:
        raise InputError(f"{name}: indices must lie in [0, {n_vertices}), got "
                         f"[{faces.min()}, {faces.max()}]")
    return faces.astype(np.int64)


def _mesh(mesh: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices, faces)`` of a tuple or of anything with those attributes."""
    if hasattr(mesh, "vertices") and hasattr(mesh, "faces"):
        v, f = mesh.vertices, mesh.faces
    else:
        try:
            v, f = mesh
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected (vertices, faces) or an object with "
                             f"vertices and faces, got {type(mesh).__name__}") from None
    verts = _points(v, f"{name}.vertices", min_count=3)
    return verts, _faces(f, len(verts), f"{name}.faces")


# ---------------------------------------------------------------------- normalise


def normalise_unit_box(vertices: np.ndarray) -> np.ndarray:
    """Centre the bounding box on the origin and scale its largest side to 1.

    Args:
        vertices: ``(V, 3)`` points, any frame and unit.

    Returns:
        ``(V, 3)`` float64, inside ``[-0.5, 0.5]^3`` with the largest side spanning it.

    Raises:
        ValueError: the points all coincide (no extent to normalise).
    """
    v = _points(vertices, "vertices")
    lo, hi = v.min(axis=0), v.max(axis=0)
    side = float((hi - lo).max())
    if side <= 1e-12:
        raise ValueError("vertices: the bounding box has no extent; cannot normalise")
    return (v - 0.5 * (lo + hi)) / side


def sample_surface(vertices: np.ndarray, faces: np.ndarray, n: int = 10000,
                   rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Sample ``n`` points uniformly over the area of a triangle mesh.

    Args:
        vertices: ``(V, 3)`` float positions.
        faces: ``(F, 3)`` integer vertex indices.
        n: number of points, at least 1.
        rng: a generator or a seed (``None``: fresh entropy).

    Returns:
        ``(n, 3)`` float64 points on the surface, in the vertices' frame.
    """
    v = _points(vertices, "vertices", min_count=3)
    f = _faces(faces, len(v), "faces")
    if int(n) < 1:
        raise ValueError(f"n: must be at least 1, got {n}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return _sample(v, f, int(n), gen)[0]


def _sample(v: np.ndarray, f: np.ndarray, n: int,
            gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sample_surface` on checked arrays; also returns each point's face."""
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    total = float(area.sum())
    if not total > 0.0:
        raise ValueError("faces: the mesh has zero surface area; nothing to sample")
    tri = gen.choice(len(f), size=n, p=area / total)
    # Square-root warp of two uniforms: uniform barycentrics over the triangle.
    r1 = np.sqrt(gen.random(n))[:, None]
    r2 = gen.random(n)[:, None]
    return (1.0 - r1) * a[tri] + r1 * (1.0 - r2) * b[tri] + r1 * r2 * c[tri], tri


# -------------------------------------------------------------------------- distances


def _nn_distances(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each point of ``a`` to ``b`` and from each point of ``b`` to ``a``."""
    from scipy.spatial import cKDTree

    d_ab, _ = cKDTree(b).query(a, workers=-1)
    d_ba, _ = cKDTree(a).query(b, workers=-1)
    return d_ab, d_ba


def _fscore_from(d_ab: np.ndarray, d_ba: np.ndarray, tau: float) -> float:
    precision = float(np.mean(d_ab < tau))
    recall = float(np.mean(d_ba < tau))
    if precision + recall <= 0.0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric Chamfer distance: the mean of the two directional mean distances.

    ``0.5 * (mean_a min_b |a - b| + mean_b min_a |a - b|)``, Euclidean (not squared).

    Args:
        a, b: ``(N, 3)`` and ``(M, 3)`` point sets in one frame.

    Returns:
        the distance, in the points' unit.
    """
    d_ab, d_ba = _nn_distances(_points(a, "a"), _points(b, "b"))
    return float(0.5 * (d_ab.mean() + d_ba.mean()))


def fscore(a: np.ndarray, b: np.ndarray, tau: float) -> float:
    """F-score at threshold ``tau`` of predicted points ``a`` against ground truth ``b``.

    Precision: the fraction of ``a`` within ``tau`` of ``b``; recall: the fraction of
    ``b`` within ``tau`` of ``a``; the score is their harmonic mean (0 when both are 0).

    Args:
        a: ``(N, 3)`` predicted points.
        b: ``(M, 3)`` ground-truth points, same frame.
        tau: distance threshold, > 0, in the points' unit.

    Returns:
        the F-score in ``[0, 1]``.
    """
    try:
        t = float(tau)
    except (TypeError, ValueError):
        t = float("nan")
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"tau: must be a positive distance, got {tau!r}")
    d_ab, d_ba = _nn_distances(_points(a, "a"), _points(b, "b"))
    return _fscore_from(d_ab, d_ba, t)


# -------------------------------------------------------------------------- alignment


def _pitch(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _yaw(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def candidate_rotations(yaw_step_deg: float = 15.0, reflections: bool = False,
                        pitches_deg: Sequence[float] = (-30.0, 0.0, 30.0)) -> np.ndarray:
    """The orientations :func:`align` tries: the cube's symmetries, tilts and yaw steps.

    Each candidate is ``yaw(k * yaw_step_deg) @ pitch(p) @ c``: one of the 24 rotations
    ``c`` of the cube (signed permutation matrices of determinant +1; with
    ``reflections`` also the 24 of determinant -1), then a tilt about +X by each of
    ``pitches_deg``, then a turn about +Y; duplicates removed. The cube group covers
    "which side is up and which faces front"; the yaw steps cover the continuous camera
    azimuth, the pose difference a single photo leaves most open. The tilts go beyond
    the papers' set (cube x yaw, 144 rotations; pass ``pitches_deg=(0,)``) because a
    reconstruction comes in the camera's frame: a camera 35 degrees above the object
    leaves a 35 degree tilt that no candidate of that set is within ICP's reach of
    for round shapes (blobs, tilted extrusions), where the search then stops in a
    wrong basin. With the defaults there are 720 distinct rotations (1440 with
    reflections).

    Returns:
        ``(K, 3, 3)`` float64 orthogonal matrices, the identity first.
    """
    if not (0.0 < yaw_step_deg <= 360.0):
        raise ValueError(f"yaw_step_deg: must be in (0, 360], got {yaw_step_deg}")
    import itertools

    cube = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            m[range(3), perm] = signs
            if reflections or np.linalg.det(m) > 0:
                cube.append(m)
    steps = max(1, int(round(360.0 / yaw_step_deg)))
    out: list[np.ndarray] = []
    seen: set[bytes] = set()
    for k, pitch, c in itertools.product(range(steps), pitches_deg, cube):
        r = _yaw(k * yaw_step_deg) @ _pitch(pitch) @ c
        key = (np.round(r, 6) + 0.0).tobytes()  # + 0.0 folds -0.0 into 0.0
        if key not in seen:
            seen.add(key)
            out.append(r)
    return np.stack(out)


def _kabsch(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Proper rotation and translation minimising ``|R src + t - dst|^2``."""
    cs, cd = src.mean(axis=0), dst.mean(axis=0)
    h = (src - cs).T @ (dst - cd)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return r, cd - r @ cs


def _subset(p: np.ndarray, m: int, seed: int) -> np.ndarray:
    if len(p) <= m:
        return p
    return p[np.random.default_rng(seed).choice(len(p), size=m, replace=False)]


class _Pair:
    """Two point sets with a KD-tree each, for Chamfer scores and ICP under ``(R, t)``."""

    def __init__(self, p: np.ndarray, g: np.ndarray) -> None:
        from scipy.spatial import cKDTree

        self.p, self.g = p, g
        self.p_tree, self.g_tree = cKDTree(p), cKDTree(g)

    def chamfer(self, r: np.ndarray, t: np.ndarray) -> float:
        d_pg, _ = self.g_tree.query(self.p @ r.T + t, workers=-1)
        # The reverse direction in the prediction's own frame: its tree serves any (R, t).
        d_gp, _ = self.p_tree.query((self.g - t) @ r, workers=-1)
        return float(0.5 * (d_pg.mean() + d_gp.mean()))

    def icp(self, r: np.ndarray, t: np.ndarray, iterations: int,
            ) -> tuple[np.ndarray, np.ndarray, float]:
        """Symmetric point-to-point ICP from ``(r, t)``; returns ``(R, t, chamfer)``.

        Both sides' nearest neighbours enter the fit: one-sided correspondences let a
        shape that only partly overlaps the other stall in a wrong basin more often.
        The update is a proper rotation, so ``det(R)`` keeps the sign of the start.
        """
        p, g = self.p, self.g
        prev = np.inf
        for _ in range(iterations):
            q = p @ r.T + t
            d1, i1 = self.g_tree.query(q, workers=-1)
            d2, i2 = self.p_tree.query((g - t) @ r, workers=-1)
            err = float(0.5 * (d1.mean() + d2.mean()))
            if prev - err < 1e-4 * err:
                break
            prev = err
            r_inc, t_inc = _kabsch(np.concatenate([q, q[i2]]), np.concatenate([g[i1], g]))
            r, t = r_inc @ r, r_inc @ t + t_inc
        return r, t, self.chamfer(r, t)


def align(pred_pts: np.ndarray, gt_pts: np.ndarray, *, candidates: np.ndarray | None = None,
          yaw_step_deg: float = 15.0, reflections: bool = False, subset: int = 2000,
          coarse_subset: int = 500, top_k: int = 8, refine_k: int = 2,
          iterations: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rigidly align predicted surface points to ground-truth ones.

    Brute force, then refinement, in three tiers:

    1. every orientation of ``candidates`` (default :func:`candidate_rotations`) is
       applied about the centroids and scored by the Chamfer distance between
       ``coarse_subset``-point random subsets (all candidates in one batched KD-tree
       query per side);
    2. a short ICP (``iterations // 3`` steps, same subsets) runs from each of the
       ``top_k`` best; several starts matter because a rough candidate 20 to 30
       degrees off the true pose often scores worse than a flipped pose that happens
       to lie close to a candidate (a cow upside down is still cow-shaped);
    3. full ICP (``iterations`` steps on ``subset``-point subsets) from the
       ``refine_k`` best of tier 2; the one with the lowest Chamfer distance wins.

    ICP is rigid, point-to-point, with correspondences taken both ways. With
    ``reflections`` the search also tries mirror images; off by default, since a
    mirrored reconstruction is a wrong one and should not score as right.

    Args:
        pred_pts: ``(N, 3)`` predicted surface points (the points that move).
        gt_pts: ``(M, 3)`` ground-truth surface points, same unit.
        candidates: ``(K, 3, 3)`` orthogonal starting orientations; pass
            ``np.eye(3)[None]`` for ICP refinement only.
        yaw_step_deg, reflections: the default candidate set (ignored with
            ``candidates``).
        subset, coarse_subset: points per side in tier 3 and in tiers 1-2.
        top_k, refine_k: ICP starts in tiers 2 and 3.
        iterations: ICP iterations of tier 3.
        seed: seeds the subsets, so the result is deterministic.

    Returns:
        ``(R, t)``: ``(3, 3)`` float64 orthogonal and ``(3,)`` float64, such that
        ``pred_pts @ R.T + t`` lies on ``gt_pts``. ``R`` is a proper rotation unless
        a reflection was among the candidates.
    """
    pred = _points(pred_pts, "pred_pts", min_count=3)
    gt = _points(gt_pts, "gt_pts", min_count=3)
    if candidates is None:
        cands = candidate_rotations(yaw_step_deg, reflections)
    else:
        cands = np.asarray(candidates, dtype=np.float64)
        if cands.ndim != 3 or cands.shape[1:] != (3, 3) or len(cands) == 0:
            raise ValueError(f"candidates: expected (K, 3, 3), got {cands.shape}")
    if min(subset, coarse_subset) < 3 or min(top_k, refine_k) < 1 or iterations < 0:
        raise ValueError("subset, coarse_subset, top_k, refine_k, iterations: need "
                         "subsets >= 3, starts >= 1 and iterations >= 0; got "
                         f"{subset}, {coarse_subset}, {top_k}, {refine_k}, {iterations}")
    # Each side's subset is drawn with the same seed: identical inputs get identical
    # subsets, so an exact copy scores 0 at the identity.
    coarse = _Pair(_subset(pred, coarse_subset, seed), _subset(gt, coarse_subset, seed))
    fine = _Pair(_subset(pred, subset, seed + 1), _subset(gt, subset, seed + 1))
    # Centroids of the full sets: the subsets' would add their sampling noise.
    cp, cg = pred.mean(axis=0), gt.mean(axis=0)

    # Tier 1: all candidates at once.
    p, g = coarse.p, coarse.g
    ts = cg[None, :] - np.einsum("kij,j->ki", cands, cp)
    moved = np.einsum("nj,kij->kni", p, cands) + ts[:, None, :]
    d_pg, _ = coarse.g_tree.query(moved.reshape(-1, 3), workers=-1)
    back = np.einsum("kni,kij->knj", g[None, :, :] - ts[:, None, :], cands)
    d_gp, _ = coarse.p_tree.query(back.reshape(-1, 3), workers=-1)
    scores = 0.5 * (d_pg.reshape(len(cands), -1).mean(axis=1)
                    + d_gp.reshape(len(cands), -1).mean(axis=1))
    starts = np.argsort(scores, kind="stable")[:top_k]

    # Tier 2: short ICP from each start, on the small subsets.
    short = [coarse.icp(cands[k], ts[k], max(1, iterations // 3)) for k in starts]
    order = sorted(range(len(short)), key=lambda i: short[i][2])[:refine_k]

    # Tier 3: full ICP from the best few.
    best: tuple[np.ndarray, np.ndarray, float] | None = None
    for i in order:
        r, t, cd = fine.icp(short[i][0], short[i][1], iterations)
        log.debug("align: candidate %d (coarse %.4f, short %.4f) -> chamfer %.4f",
                  starts[i], scores[starts[i]], short[i][2], cd)
        if best is None or cd < best[2]:
            best = (r, t, cd)
    assert best is not None
    return best[0], best[1]


# --------------------------------------------------------------------------- volume


def voxelise(vertices: np.ndarray, faces: np.ndarray, lo: np.ndarray, hi: np.ndarray,
             res: int = 64, rule: str = "winding") -> np.ndarray:
    """Occupancy of a closed mesh on the ``res^3`` cell centres of the box ``[lo, hi]``.

    Each ``(x, y)`` column of cells casts a ray along +z; its crossings with every
    triangle (vectorised over the triangles' bounding boxes, in chunks) are counted
    below each cell centre. Columns are offset by a tiny irrational fraction of a
    cell so that no ray passes exactly through an edge or vertex.

    Args:
        vertices: ``(V, 3)`` positions; faces: ``(F, 3)`` indices of a closed mesh.
        lo, hi: ``(3,)`` corners of the box the grid spans.
        res: cells per axis.
        rule: ``"winding"`` (inside where the winding number is non-zero: correct
            for assemblies of overlapping closed parts, as :class:`SynthMesh` allows,
            and for either global orientation) or ``"parity"`` (an odd number of
            crossings: insensitive to face orientation, but overlaps of parts count
            as outside).

    Returns:
        ``(res, res, res)`` bool, indexed ``[ix, iy, iz]``.
    """
    v = _points(vertices, "vertices", min_count=3)
    f = _faces(faces, len(v), "faces")
    if rule not in ("winding", "parity"):
        raise ValueError(f"rule: must be 'winding' or 'parity', got {rule!r}")
    if int(res) < 1:
        raise ValueError(f"res: must be at least 1, got {res}")
    res = int(res)
    lo = np.asarray(lo, dtype=np.float64).reshape(3)
    hi = np.asarray(hi, dtype=np.float64).reshape(3)
    if not (hi > lo).all():
        raise ValueError(f"lo, hi: need hi > lo on every axis, got {lo} and {hi}")
    cell = (hi - lo) / res
    # First column's ray and first cell centre in z.
    x0 = lo[0] + (0.5 + _COLUMN_JITTER[0]) * cell[0]
    y0 = lo[1] + (0.5 + _COLUMN_JITTER[1]) * cell[1]
    z0 = lo[2] + 0.5 * cell[2]

    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    # Twice the signed area of the xy projection = z of the face normal (unnormalised).
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    keep = np.abs(area) > 1e-14  # triangles seen edge-on are never crossed
    a, b, c, area = a[keep], b[keep], c[keep], area[keep]
    tri_xy = np.stack([a[:, :2], b[:, :2], c[:, :2]], axis=1)
    mn, mx = tri_xy.min(axis=1), tri_xy.max(axis=1)
    ix_lo = np.clip(np.ceil((mn[:, 0] - x0) / cell[0]), 0, res).astype(np.int64)
    ix_hi = np.clip(np.floor((mx[:, 0] - x0) / cell[0]), -1, res - 1).astype(np.int64)
    iy_lo = np.clip(np.ceil((mn[:, 1] - y0) / cell[1]), 0, res).astype(np.int64)
    iy_hi = np.clip(np.floor((mx[:, 1] - y0) / cell[1]), -1, res - 1).astype(np.int64)
    nx = np.maximum(ix_hi - ix_lo + 1, 0)
    ny = np.maximum(iy_hi - iy_lo + 1, 0)
    counts = nx * ny

    delta = np.zeros(res * res * (res + 1), dtype=np.float64)
    cum = np.cumsum(counts)
    start = 0
    while start < len(counts):
        # Triangles whose pairs fit the chunk (at least one triangle per chunk).
        base = cum[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(cum, base + _PAIR_CHUNK, side="right")))
        sel = np.arange(start, stop)
        start = stop
        cnt = counts[sel]
        total = int(cnt.sum())
        if total == 0:
            continue
        tri = np.repeat(sel, cnt)
        k = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        ix = ix_lo[tri] + k % nx[tri]
        iy = iy_lo[tri] + k // nx[tri]
        px = x0 + ix * cell[0]
        py = y0 + iy * cell[1]
        ta, tb, tc = a[tri], b[tri], c[tri]
        # Barycentrics of the column in the projected triangle (signed areas / area).
        w_a = ((tb[:, 0] - px) * (tc[:, 1] - py) - (tc[:, 0] - px) * (tb[:, 1] - py))
        w_b = ((tc[:, 0] - px) * (ta[:, 1] - py) - (ta[:, 0] - px) * (tc[:, 1] - py))
        w_a, w_b = w_a / area[tri], w_b / area[tri]
        w_c = 1.0 - w_a - w_b
        hit = (w_a >= 0) & (w_b >= 0) & (w_c >= 0)
        if not hit.any():
            continue
        z = w_a[hit] * ta[hit, 2] + w_b[hit] * tb[hit, 2] + w_c[hit] * tc[hit, 2]
        # The ray runs towards +z: a face whose normal points to -z is entered (+1).
        weight = -np.sign(area[tri[hit]]) if rule == "winding" else np.ones(len(z))
        iz = np.clip(np.ceil((z - z0) / cell[2]), 0, res).astype(np.int64)
        col = ix[hit] * res + iy[hit]
        delta += np.bincount(col * (res + 1) + iz, weights=weight, minlength=delta.size)
    # Crossings below a cell centre, per cell.
    below = np.cumsum(delta.reshape(res * res, res + 1)[:, :res], axis=1)
    below = np.rint(below).astype(np.int64)
    inside = below != 0 if rule == "winding" else (below % 2) == 1
    return inside.reshape(res, res, res)


def points_inside(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Which points lie inside a closed mesh (or a union of closed parts).

    Each point casts a ray towards +z (offset by a tiny irrational amount in x and y,
    as in :func:`voxelise`); the signed crossings above it give its winding number,
    and a point is inside where that is non-zero, so overlapping parts count once.
    Triangles are binned on an xy grid so each point tests only its bin's triangles.

    Args:
        points: ``(N, 3)`` query points.
        vertices, faces: the mesh, ``(V, 3)`` and ``(F, 3)``.

    Returns:
        ``(N,)`` bool. A point on the surface may fall either way.
    """
    q = _points(points, "points")
    v = _points(vertices, "vertices", min_count=3)
    f = _faces(faces, len(v), "faces")
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    keep = np.abs(area) > 1e-14
    a, b, c, area = a[keep], b[keep], c[keep], area[keep]
    inside = np.zeros(len(q), dtype=bool)
    if len(a) == 0:
        return inside
    span = float(np.ptp(np.concatenate([v[:, :2], q[:, :2]]), axis=0).max()) or 1.0
    px = q[:, 0] + _COLUMN_JITTER[0] * 1e-3 * span
    py = q[:, 1] + _COLUMN_JITTER[1] * 1e-3 * span
    lo = np.minimum(v[:, :2].min(axis=0), [px.min(), py.min()])
    hi = np.maximum(v[:, :2].max(axis=0), [px.max(), py.max()])
    nb = int(np.clip(np.sqrt(len(a)), 4, 256))
    cell = np.maximum((hi - lo) / nb, 1e-12)

    def bin_of(x: np.ndarray, axis: int) -> np.ndarray:
        return np.clip(((x - lo[axis]) / cell[axis]).astype(np.int64), 0, nb - 1)

    tri_xy = np.stack([a[:, :2], b[:, :2], c[:, :2]], axis=1)
    bx0, by0 = bin_of(tri_xy[:, :, 0].min(axis=1), 0), bin_of(tri_xy[:, :, 1].min(axis=1), 1)
    bx1, by1 = bin_of(tri_xy[:, :, 0].max(axis=1), 0), bin_of(tri_xy[:, :, 1].max(axis=1), 1)
    nx, ny = bx1 - bx0 + 1, by1 - by0 + 1
    cnt = nx * ny
    tri = np.repeat(np.arange(len(a)), cnt)
    k = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    bins = (bx0[tri] + k % nx[tri]) * nb + by0[tri] + k // nx[tri]
    order = np.argsort(bins, kind="stable")
    bin_tris = tri[order]
    per_bin = np.bincount(bins, minlength=nb * nb)
    first = np.cumsum(per_bin) - per_bin

    qbin = bin_of(px, 0) * nb + bin_of(py, 1)
    winding = np.zeros(len(q), dtype=np.float64)
    # Chunks of points, so the (point, triangle) pairs stay bounded.
    chunk = max(1, _PAIR_CHUNK // max(1, int(per_bin.max())))
    for s0 in range(0, len(q), chunk):
        idx = np.arange(s0, min(len(q), s0 + chunk))
        m = per_bin[qbin[idx]]
        pt = np.repeat(idx, m)
        kk = np.arange(int(m.sum())) - np.repeat(np.cumsum(m) - m, m)
        t = bin_tris[first[qbin[pt]] + kk]
        x, y = px[pt], py[pt]
        ta, tb, tc = a[t], b[t], c[t]
        w_a = ((tb[:, 0] - x) * (tc[:, 1] - y) - (tc[:, 0] - x) * (tb[:, 1] - y)) / area[t]
        w_b = ((tc[:, 0] - x) * (ta[:, 1] - y) - (ta[:, 0] - x) * (tc[:, 1] - y)) / area[t]
        w_c = 1.0 - w_a - w_b
        z = w_a * ta[:, 2] + w_b * tb[:, 2] + w_c * tc[:, 2]
        hit = (w_a >= 0) & (w_b >= 0) & (w_c >= 0) & (z > q[pt, 2])
        # Going up, a face whose normal points to +z is left behind: +1 (was inside).
        winding += np.bincount(pt[hit], weights=np.sign(area[t[hit]]), minlength=len(q))
    inside = np.rint(winding).astype(np.int64) != 0
    return inside


def surface_of_union(vertices: np.ndarray, faces: np.ndarray, part: np.ndarray,
                     points: np.ndarray, point_face: np.ndarray,
                     eps: float = 1e-4) -> np.ndarray:
    """Which surface samples of a multi-part mesh lie on the outside of the union.

    A :class:`~lift3d.synth.types.SynthMesh` assembly may let closed parts overlap (a
    handle sunk into a mug, legs into a seat); their surface inside another part is
    inside the solid, where no reconstruction can place a surface, so it must not count
    as ground truth. Each sample is pushed ``eps`` outwards along its face's normal
    and tested against the other parts (:func:`points_inside`): so faces of two parts
    that share a plane and face the same way (bases on the ground) stay, and faces
    pressed against each other go.

    Args:
        vertices, faces: the mesh, ``(V, 3)`` and ``(F, 3)``, faces counter-clockwise
            from outside.
        part: ``(F,)`` integer part index of each face.
        points: ``(N, 3)`` samples on the surface; point_face: ``(N,)`` face of each.
        eps: the outward push, in the vertices' unit.

    Returns:
        ``(N,)`` bool: True where the sample is not inside any other part.
    """
    v = _points(vertices, "vertices", min_count=3)
    f = _faces(faces, len(v), "faces")
    part = np.asarray(part)
    if part.shape != (len(f),):
        raise ValueError(f"part: expected ({len(f)},), got {part.shape}")
    pts = _points(points, "points")
    pf = np.asarray(point_face, dtype=np.int64)
    if pf.shape != (len(pts),):
        raise ValueError(f"point_face: expected ({len(pts)},), got {pf.shape}")
    keep = np.ones(len(pts), dtype=bool)
    labels = np.unique(part)
    if len(labels) < 2:
        return keep
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)
    pushed = pts + eps * n[pf]
    sample_part = part[pf]
    for lab in labels:
        on = np.flatnonzero(sample_part == lab)
        if len(on):
            keep[on] = ~points_inside(pushed[on], v, f[part != lab])
    return keep


def volume_iou(mesh_a: Any, mesh_b: Any, res: int = 64, rule: str = "winding") -> float:
    """Volume IoU of two closed meshes, voxelised on one grid over their joint box.

    Args:
        mesh_a, mesh_b: ``(vertices, faces)`` tuples, or objects with ``vertices``
            and ``faces`` (e.g. :class:`lift3d.types.Mesh`, ``SynthMesh``), in one
            frame. Align the prediction first (:func:`score_meshes` does).
        res: cells per axis of the ``res^3`` grid.
        rule: inside test, see :func:`voxelise`.

    Returns:
        ``|A and B| / |A or B|`` in ``[0, 1]``; 0 when both are empty.
    """
    va, fa = _mesh(mesh_a, "mesh_a")
    vb, fb = _mesh(mesh_b, "mesh_b")
    lo = np.minimum(va.min(axis=0), vb.min(axis=0))
    hi = np.maximum(va.max(axis=0), vb.max(axis=0))
    # A flat mesh would give a zero-width axis; give it a sliver so the grid exists.
    pad = 1e-9 * max(float((hi - lo).max()), 1e-9)
    lo, hi = lo - pad, hi + pad
    occ_a = voxelise(va, fa, lo, hi, res, rule)
    occ_b = voxelise(vb, fb, lo, hi, res, rule)
    union = int(np.count_nonzero(occ_a | occ_b))
    if union == 0:
        return 0.0
    return float(np.count_nonzero(occ_a & occ_b)) / union


# ----------------------------------------------------------------------------- score


def score_meshes(pred_v: np.ndarray, pred_f: np.ndarray, gt_v: np.ndarray, gt_f: np.ndarray,
                 n: int = 10000, seed: int = 0, *, reflections: bool = False,
                 renormalise: bool = True, iou_res: int = 64,
                 gt_part: np.ndarray | None = None) -> ShapeScore:
    """Score a predicted closed mesh against the ground truth (TripoSR / SF3D protocol).

    Both meshes are normalised to the unit box, ``n`` points sampled on each, and the
    prediction aligned with :func:`align`. With ``renormalise`` the aligned prediction
    is then normalised to the unit box again, now in the ground truth's axes, and
    refined by ICP, until the scale settles (at most a few rounds): a reconstruction
    is made in the camera's frame, and when the camera looked at the object at an
    angle its bounding box there is larger than in the object's own axes (up to
    sqrt(2) for a box seen at 45 degrees), so the first normalisation alone would
    shrink a perfect answer. The alignment thus becomes a similarity whose scale comes
    from the bounding boxes, never from fitting the points. Chamfer, F@0.1, F@0.05 and
    the volume IoU (``iou_res^3`` cells) are measured after alignment.

    Args:
        pred_v, pred_f: ``(V, 3)`` vertices (any frame and unit) and ``(F, 3)`` faces of
            the prediction, a closed mesh.
        gt_v, gt_f: the ground truth, likewise.
        n: surface points per mesh.
        seed: seeds sampling and alignment: the score is deterministic. Both meshes
            are sampled with the same random stream, so identical meshes get identical
            samples (and score exactly 0) and the sampling noise of near-identical
            ones largely cancels.
        reflections: let the alignment mirror the prediction (see :func:`align`).
        renormalise: re-normalise after alignment (see above).
        iou_res: voxel grid resolution of the IoU.
        gt_part: ``(F,)`` part index of each ground-truth face (``SynthMesh.part``).
            With several parts, ground-truth samples inside another part are dropped
            (:func:`surface_of_union`), so slightly fewer than ``n`` remain; the IoU
            takes the union of the parts either way.

    Returns:
        a :class:`ShapeScore` in unit-box units of the ground truth.
    """
    pv0 = _points(pred_v, "pred_v", min_count=3)
    pf = _faces(pred_f, len(pv0), "pred_f")
    gv0 = _points(gt_v, "gt_v", min_count=3)
    gf = _faces(gt_f, len(gv0), "gt_f")
    if int(n) < 10:
        raise ValueError(f"n: must be at least 10, got {n}")
    pv = normalise_unit_box(pv0)
    gv = normalise_unit_box(gv0)
    # Both sides draw the same random numbers: identical meshes give identical samples
    # (and score exactly 0), and the sampling noise of similar meshes correlates.
    pp, _ = _sample(pv, pf, int(n), np.random.default_rng(seed))
    gp, g_tri = _sample(gv, gf, int(n), np.random.default_rng(seed))
    if gt_part is not None:
        keep = surface_of_union(gv, gf, gt_part, gp, g_tri)
        if keep.sum() < 10:
            raise ValueError("gt_part: fewer than 10 ground-truth samples lie on the "
                             "outside of the union of the parts")
        gp = gp[keep]

    rot, trans = align(pp, gp, reflections=reflections, seed=seed)
    scale = 1.0
    for _ in range(_RENORMALISE_ROUNDS if renormalise else 0):
        moved = scale * (pv @ rot.T) + trans
        lo, hi = moved.min(axis=0), moved.max(axis=0)
        s2 = 1.0 / float((hi - lo).max())
        if abs(s2 - 1.0) < 1e-4:
            break
        # Rescale about the box centre, keeping the position ICP found.
        c2 = 0.5 * (lo + hi)
        r2, t2 = align(s2 * (scale * (pp @ rot.T) + trans) + (1.0 - s2) * c2, gp,
                       candidates=np.eye(3)[None], seed=seed)
        # Compose p -> r2 (s2 (scale rot p + trans) + (1 - s2) c2) + t2.
        scale, rot = s2 * scale, r2 @ rot
        trans = r2 @ (s2 * trans + (1.0 - s2) * c2) + t2
    pred_pts = scale * (pp @ rot.T) + trans
    pred_verts = scale * (pv @ rot.T) + trans

    d_pg, d_gp = _nn_distances(pred_pts, gp)
    iou = volume_iou((pred_verts, pf), (gv, gf), res=iou_res)
    score = ShapeScore(
        chamfer=float(0.5 * (d_pg.mean() + d_gp.mean())),
        f_01=_fscore_from(d_pg, d_gp, FSCORE_TAUS[0]),
        f_005=_fscore_from(d_pg, d_gp, FSCORE_TAUS[1]),
        iou=iou,
        rotation=rot,
        translation=trans,
        scale=scale,
    )
    log.debug("score: CD %.4f F@0.1 %.3f F@0.05 %.3f IoU %.3f", score.chamfer, score.f_01,
              score.f_005, score.iou)
    return score
