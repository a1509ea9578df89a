"""Compare a photogrammetry mesh with a reference mesh of the same scene.

Both meshes come out of structure from motion, so each lives in its own arbitrary frame:
unknown rotation, translation *and* scale (ours may also have been moved into glTF axes,
+Y up, and metres). They may also be cropped differently: ours can keep extra ground or
miss parts the reference has. :func:`compare_meshes` therefore

1. samples ``samples`` points uniformly over the area of each mesh (the sampler of
   :func:`lift3d.quality.shape_metrics.sample_surface`, which also gives each sample's
   face);
2. aligns ours onto the reference with a similarity (:func:`align_similarity`, below);
3. measures, for every sample, its distance to the *other surface*: the nearest few
   samples of the other mesh (KD-tree) name candidate triangles, and the exact
   point-to-triangle distance to those (never more than the point-to-point distance) is
   kept. Dense samples alone would add about half the sample spacing to every distance;
4. finds the region both meshes cover: the aligned samples of both are binned on a voxel
   grid whose cell is 2.5% of the reference's bounding-box diagonal; cells that hold
   samples of both meshes, dilated by one cell (26-neighbourhood), are the common region.
   The fractions of each mesh's samples inside it are reported, so a crop shows;
5. scores the samples inside the common region, and again all samples:
   Chamfer = mean of the two directional mean distances; precision at ``tau`` = fraction
   of our samples within ``tau`` of the reference surface; recall = fraction of reference
   samples within ``tau`` of our surface; F = 2PR / (P + R). ``tau`` is 1% and 2% of the
   reference's bounding-box diagonal by default. Lengths are in reference units. A
   sample in the common region is measured against the whole other surface.

Limits: the alignment starts from principal axes (see the closing note), so when one
mesh has more surface that the other lacks than surface they share, no start may lie in
the right basin and the alignment (and every score) is then wrong; low F-scores show it.
The ICP pairs points with points, so its residual floor is about the sample spacing,
which its 20000-point stage keeps well below the F-score thresholds.

numpy and scipy only (scipy imported inside the functions that use it). The closing
note says exactly how we align.

**How we align** (:func:`align_similarity`; source = our samples, target = the reference's).
Every stage runs on random subsets of the samples (KD-trees: scipy ``cKDTree``):

* **Coarse starts** (``coarse="pca"``): centroids matched, scale = ratio of the RMS
  radii about the centroids, rotation from the principal axes: ``R = U_t D U_s^T`` for
  each of the 24 signed permutation matrices ``D`` that make ``R`` a proper rotation
  (``det = +1``). All 24, not only the 4 sign flips of sorted axes, because a different
  crop can reorder the principal axes (extra ground makes a facade "deeper").
* **Candidate selection**: the crop also moves the centroid, the RMS radius and the
  axes, so each start is only a start. Successive halving: the ICP below runs 20
  iterations from every start on 1000 points a side, 30 more from the best 4, then 20
  from the best 2 on 4000 points a side, and the best of those wins. "Best" is the
  pose score: the mean of the best half of the nearest distances in each direction,
  averaged (target units). A right pose matches at least half of each surface whatever
  the crops, and a wrong one that matches a patch well (a wall on the ground) leaves
  most of the other direction's best half far away; a mean over a larger fraction lets
  the unmatched parts decide.
* **Refinement**: the same ICP from the winner, on the 4000 points a side for at most
  ``iterations`` iterations (until an update moves the pose by < 3e-5: relative scale,
  radians, target RMS radii), then on 20000 points a side for at most ``iterations // 6``
  plain (unaccelerated) iterations (until < 1e-5), where the pairs' sampling noise
  averages out. Every ICP also stops once its pose score has not improved by 0.01% in
  8 iterations.
* **The ICP**: trimmed, symmetric, with scale. Each iteration pairs every source point
  with its nearest target point *and* every target point with its nearest source point
  (symmetric pairs keep the scale from collapsing, which one-sided pairs reward); each
  direction keeps its pairs within ``min(q_trim, 3 * m)`` (``q_trim``: that
  direction's ``trim`` quantile; ``m``: the smaller of the two directions' median
  distances, so that a mesh with more unmatched surface than matched still has its
  outliers cut by the other direction's median). That trim distance shrinks with the
  residuals, so once aligned the parts only one mesh has (extra ground, a missing wing)
  stop pulling. The similarity is then solved in closed form on the kept pairs
  (Umeyama 1991: SVD of the cross-covariance, reflection excluded, scale = trace /
  source variance). Plain ICP crawls when one surface slides along the other (a facade
  is nearly flat), so the fixed-point map "pose -> Umeyama fit of its pairs" is
  Anderson-accelerated (window 5; the pose as ``(log s, rotation vector, where the
  source centroid lands)``); an accelerated pose is kept only if it lowers the pose
  score, else the plain Umeyama step is taken.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError

# The area-uniform sampler that also returns each sample's face (needed for the
# point-to-triangle distances); inputs are checked here before it runs.
from ..quality.shape_metrics import _faces, _points, _sample

log = logging.getLogger(__name__)

__all__ = ["MeshComparison", "Similarity", "align_similarity", "compare_meshes"]

#: Iterations and trim of the alignment :func:`compare_meshes` runs.
ICP_ITERATIONS = 60
ICP_TRIM = 0.8
#: Common-region voxel size, as a fraction of the reference's bounding-box diagonal.
COMMON_CELL = 0.025
#: Default F-score thresholds, as fractions of the reference's bounding-box diagonal.
DEFAULT_TAUS: tuple[float, float] = (0.01, 0.02)

#: Points a side for the candidate search (short ICP from each of the 24 starts).
_COARSE_POINTS = 1000
#: Successive halving of the candidate search: iterations from every start, then from
#: the best :data:`_SHORT_KEEP` ``[0]`` (same subset), then from the best ``[1]`` (on the
#: :data:`_MID_POINTS` subset).
_SHORT_ITERATIONS = (20, 30, 20)
_SHORT_KEEP = (4, 2)
#: Points a side for the end of the candidate search and the first stage of the final
#: ICP (iterated to convergence).
_MID_POINTS = 4000
#: Points a side for the last stage of the final ICP: enough that the sampling noise of
#: the pairs averages out well below 0.1 degree and 0.1% of scale.
_FINE_POINTS = 20000
#: Past iterations the Anderson acceleration of the ICP extrapolates from.
_ANDERSON = 5
#: An ICP stops once its pose score has not improved by :data:`_PROGRESS` (relative)
#: for :data:`_PATIENCE` iterations.
_PROGRESS = 1e-4
_PATIENCE = 8
#: Queries of at least this many points use all cores.
_THREADED_QUERY = 50000
#: Fraction of the nearest distances (each direction) that the pose score averages: a
#: right pose matches at least half of each surface, whatever the crops.
_SCORE_FRACTION = 0.5
#: ICP pairs farther than this many times the smaller of the two directions' median
#: distances are dropped.
_MEDIAN_CUTOFF = 3.0
#: Nearest samples of the other mesh whose triangles are tested for the surface distance.
_SURFACE_K = 4
#: Query points per chunk of the point-to-triangle step (bounds the temporaries).
_CHUNK = 65536


# --------------------------------------------------------------------------- types


def _frozen(a: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.array(a, dtype=np.float64)
    if arr.shape != shape or not np.isfinite(arr).all():
        raise InputError(f"{name}: expected a finite {shape} array, got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class Similarity:
    """A similarity transform ``p -> scale * rotation @ p + translation``.

    Attributes:
        scale: positive factor.
        rotation: ``(3, 3)`` float64 proper rotation (read-only).
        translation: ``(3,)`` float64 (read-only).
    """

    scale: float
    rotation: np.ndarray
    translation: np.ndarray

    def __post_init__(self) -> None:
        s = float(self.scale)
        if not (math.isfinite(s) and s > 0.0):
            raise InputError(f"Similarity.scale: must be a positive number, got {self.scale!r}")
        object.__setattr__(self, "scale", s)
        r = _frozen(self.rotation, (3, 3), "Similarity.rotation")
        if not (np.allclose(r.T @ r, np.eye(3), atol=1e-6) and np.linalg.det(r) > 0):
            raise InputError("Similarity.rotation: must be a proper rotation (orthonormal, "
                             "determinant +1)")
        object.__setattr__(self, "rotation", r)
        object.__setattr__(self, "translation",
                           _frozen(self.translation, (3,), "Similarity.translation"))

    def apply(self, points: np.ndarray) -> np.ndarray:
        """``(N, 3)`` points to ``(N, 3)`` float64 ``scale * R @ p + t``."""
        p = np.asarray(points, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 3:
            raise InputError(f"points: expected an (N, 3) array, got shape {p.shape}")
        return self.scale * (p @ self.rotation.T) + self.translation

    def inverse(self) -> Similarity:
        """The transform that undoes this one."""
        r_inv = self.rotation.T
        return Similarity(1.0 / self.scale, r_inv, -(r_inv @ self.translation) / self.scale)

    def matrix(self) -> np.ndarray:
        """``(4, 4)`` float64 homogeneous matrix acting on column vectors."""
        m = np.eye(4)
        m[:3, :3] = self.scale * self.rotation
        m[:3, 3] = self.translation
        return m


@dataclass(frozen=True)
class MeshComparison:
    """How well our mesh matches the reference, after aligning ours onto it.

    Every length is in reference units. Fields without a suffix score the common region
    (the samples of both meshes inside the region both cover, see the module docstring);
    fields ending in ``_all`` score every sample. ``_1`` / ``_2`` refer to the first and
    second threshold of ``taus`` (1% and 2% of the diagonal by default). Scores are in
    ``[0, 1]`` (higher is better); Chamfer distances are ``>= 0`` (lower is better), and
    ``inf`` when the common region is empty.

    Attributes:
        transform: maps OUR vertices into the reference frame.
        diagonal: the reference's bounding-box diagonal.
        taus: the F-score thresholds as fractions of ``diagonal``.
        chamfer: mean of the two directional mean surface distances (common region).
        chamfer_relative: ``chamfer / diagonal``.
        precision_1, recall_1, fscore_1: at ``taus[0] * diagonal`` (common region).
        precision_2, recall_2, fscore_2: at ``taus[1] * diagonal`` (common region).
        common_fraction_ours: fraction of our samples inside the common region.
        common_fraction_ref: fraction of the reference's samples inside it.
        chamfer_all ... fscore_2_all: the same scores over all samples.
        icp_rmse: RMS distance of the pairs the final ICP kept (reference units).
        candidates_tried: coarse starts the alignment tried (24 with PCA).
        samples_ours, samples_ref: surface samples drawn on each mesh.
    """

    transform: Similarity
    diagonal: float
    taus: tuple[float, float]
    chamfer: float
    chamfer_relative: float
    precision_1: float
    recall_1: float
    fscore_1: float
    precision_2: float
    recall_2: float
    fscore_2: float
    common_fraction_ours: float
    common_fraction_ref: float
    chamfer_all: float
    chamfer_relative_all: float
    precision_1_all: float
    recall_1_all: float
    fscore_1_all: float
    precision_2_all: float
    recall_2_all: float
    fscore_2_all: float
    icp_rmse: float
    candidates_tried: int
    samples_ours: int
    samples_ref: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready plain values: the transform as scale, rotation and translation
        lists, non-finite numbers as None."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, Similarity):
                out[name] = {"scale": value.scale,
                             "rotation": value.rotation.round(9).tolist(),
                             "translation": value.translation.round(9).tolist()}
            elif isinstance(value, tuple):
                out[name] = [float(x) for x in value]
            elif isinstance(value, float) and not math.isfinite(value):
                out[name] = None  # JSON has no infinity (Chamfer of an empty region)
            else:
                out[name] = value
        return out


@dataclass(frozen=True)
class _Fit:
    """One ICP result: the transform, its pose score and the RMS of its kept pairs."""

    similarity: Similarity
    residual: float  # _score of the pose
    rmse: float


# -------------------------------------------------------------------------- checks


def _check_mesh(vertices: Any, faces: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Checked ``(V, 3)`` float64 vertices and ``(F, 3)`` int64 faces of positive area."""
    v = _points(vertices, f"{name}_vertices", min_count=3)
    f = _faces(faces, len(v), f"{name}_faces")
    area = np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    if not float(area.sum()) > 0.0:
        raise InputError(f"{name}: the mesh has zero surface area; nothing to compare")
    return v, f


def _generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


# ------------------------------------------------------------------------ alignment


def _umeyama(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """``(s, R, t)`` minimising ``sum |s R x + t - y|^2`` with ``R`` proper (Umeyama)."""
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    cov = yc.T @ xc / len(x)
    u, d, vt = np.linalg.svd(cov)
    sign = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2] = -1.0  # the best reflection is not allowed: flip the weakest axis
    r = (u * sign) @ vt
    var_x = float((xc**2).sum(axis=1).mean())
    s = float((d * sign).sum()) / var_x if var_x > 0 else 1.0
    if not s > 0:  # degenerate pairing (all pairs on one point): keep the scale sane
        s = 1.0
    return s, r, my - s * (r @ mx)


def _score(d_st: np.ndarray, d_ts: np.ndarray) -> float:
    """The pose score, from the nearest distances both ways: the mean of the best
    :data:`_SCORE_FRACTION` of each direction, averaged (lower is better).

    It ranks the candidate poses and guards the acceleration. A fixed function of the
    pose (the pairs ICP keeps change from pose to pose), robust to the parts only one
    mesh has, and hard to cheat: a pose that matches a small patch well (a flat wall
    on the ground) leaves most of the other direction's best half far away.
    """
    return 0.5 * (_trimmed_mean(d_st, _SCORE_FRACTION) + _trimmed_mean(d_ts, _SCORE_FRACTION))


def _trimmed_mean(d: np.ndarray, trim: float) -> float:
    k = max(1, int(math.ceil(trim * len(d))))
    return float(np.partition(d, k - 1)[:k].mean())


def _workers(n: int) -> int:
    # Threads pay off only for large queries; small ones lose more to thread start-up.
    return -1 if n >= _THREADED_QUERY else 1


@dataclass(frozen=True)
class _Pairs:
    """The trimmed closest-point pairs at one pose, and how good the pose is."""

    x: np.ndarray  # (K, 3) source points
    y: np.ndarray  # (K, 3) target points they pair with
    score: float  # the pose score (_score), target units
    rmse: float  # RMS distance of the kept pairs, target units


class _Icp:
    """Symmetric trimmed ICP with scale between two fixed point sets; see the module doc.

    Poses are handled as 7-vectors ``u = (log s, w, m / r_t)``: the pose maps
    ``x -> s exp(w) R0 (x - c_s) + m`` (``R0`` the start's rotation, ``c_s`` the source
    centroid, ``m`` where the centroid lands, ``r_t`` the target's RMS radius), so the
    components are decoupled and of comparable size, which Anderson acceleration needs.
    """

    def __init__(self, src: np.ndarray, tgt: np.ndarray, trim: float) -> None:
        from scipy.spatial import cKDTree

        self.src, self.tgt, self.trim = src, tgt, trim
        self.src_tree, self.tgt_tree = cKDTree(src), cKDTree(tgt)
        self.c_s = src.mean(axis=0)
        self.r_t = max(_rms_radius(tgt), 1e-300)
        self.w_s, self.w_t = _workers(len(src)), _workers(len(tgt))
        self.r0 = np.eye(3)

    def to_u(self, s: float, r: np.ndarray, t: np.ndarray) -> np.ndarray:
        from scipy.spatial.transform import Rotation

        w = Rotation.from_matrix(r @ self.r0.T).as_rotvec()
        return np.concatenate([[math.log(s)], w, (s * (r @ self.c_s) + t) / self.r_t])

    def from_u(self, u: np.ndarray) -> Similarity:
        from scipy.spatial.transform import Rotation

        s = math.exp(float(u[0]))
        r = Rotation.from_rotvec(u[1:4]).as_matrix() @ self.r0
        return Similarity(s, r, u[4:] * self.r_t - s * (r @ self.c_s))

    def distances(self, xf: Similarity) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Nearest distances and indices: source -> target and target -> source."""
        s, r, t = xf.scale, xf.rotation, xf.translation
        d_st, i_st = self.tgt_tree.query(s * (self.src @ r.T) + t, workers=self.w_s)
        # Target points into the source frame: the source tree serves any pose.
        d_ts, i_ts = self.src_tree.query(((self.tgt - t) @ r) / s, workers=self.w_t)
        return d_st, i_st, d_ts * s, i_ts

    def pairs(self, xf: Similarity) -> _Pairs:
        d_st, i_st, d_ts, i_ts = self.distances(xf)
        # Each direction keeps its pairs within its trim quantile and within a few times
        # the smaller median: that bound shrinks with the residuals, so once aligned
        # the parts only one mesh has (extra ground, a missing wing) stop pulling, even
        # when they are most of that mesh (its own median would then be an outlier's).
        cut = _MEDIAN_CUTOFF * min(np.median(d_st), np.median(d_ts))
        keep_st = d_st <= min(np.quantile(d_st, self.trim), cut)
        keep_ts = d_ts <= min(np.quantile(d_ts, self.trim), cut)
        kept = np.concatenate([d_st[keep_st], d_ts[keep_ts]])
        return _Pairs(np.concatenate([self.src[keep_st], self.src[i_ts[keep_ts]]]),
                      np.concatenate([self.tgt[i_st[keep_st]], self.tgt[keep_ts]]),
                      _score(d_st, d_ts), float(np.sqrt(np.mean(kept**2))))

    def score(self, xf: Similarity) -> float:
        """The robust misfit of a pose (see :func:`_score`), target units."""
        d_st, _, d_ts, _ = self.distances(xf)
        return _score(d_st, d_ts)

    def run(self, start: Similarity, iterations: int, tol: float,
            accelerate: bool = True) -> _Fit:
        """ICP from ``start``: at most ``iterations`` Umeyama fits, stopping once one moves
        the pose by less than ``tol`` (relative scale, radians, target RMS radii) or
        once the pose score stalls (:data:`_PATIENCE`).

        Plain ICP crawls when one surface slides along the other (a facade is nearly
        flat); Anderson acceleration (window :data:`_ANDERSON`) of the fixed-point map
        "pose -> Umeyama fit of its pairs" extrapolates along the crawl. An accelerated
        pose is kept only when it lowers the pose score, else the plain step is taken.
        Without ``accelerate``, plain steps only: one evaluation of the pairs per
        iteration instead of up to two, for polishing a pose that has converged.
        """
        self.r0 = start.rotation
        u = self.to_u(start.scale, start.rotation, start.translation)
        cur = self.pairs(start)
        g_hist: list[np.ndarray] = []
        f_hist: list[np.ndarray] = []
        best, stalled = cur.score, 0
        for it in range(iterations):
            if len(cur.x) < 3:
                break
            g = self.to_u(*_umeyama(cur.x, cur.y))
            f = g - u
            if float(np.abs(f).max()) < tol:
                u = g
                log.debug("icp: %d points a side converged after %d iterations",
                          len(self.src), it + 1)
                break
            g_hist, f_hist = (g_hist + [g])[-_ANDERSON - 1:], (f_hist + [f])[-_ANDERSON - 1:]
            nxt = g
            if accelerate and len(g_hist) > 1:
                d_g = np.diff(np.array(g_hist), axis=0).T
                d_f = np.diff(np.array(f_hist), axis=0).T
                theta = np.linalg.lstsq(d_f, f, rcond=None)[0]
                nxt = g - d_g @ theta
            new = self.pairs(self.from_u(nxt)) if nxt is not g else None
            if new is None or not new.score <= cur.score:
                nxt, new = g, self.pairs(self.from_u(g))
                g_hist, f_hist = [g], [f]
            u, cur = nxt, new
            # A pose that wobbles without getting better (a wrong start, or a mesh that
            # is not the reference) is not worth more queries.
            stalled = stalled + 1 if cur.score > best * (1.0 - _PROGRESS) else 0
            best = min(best, cur.score)
            if stalled >= _PATIENCE:
                log.debug("icp: %d points a side stalled after %d iterations",
                          len(self.src), it + 1)
                break
        xf = self.from_u(u)
        return _Fit(xf, self.score(xf), cur.rmse)


def _rms_radius(p: np.ndarray) -> float:
    return float(np.sqrt(((p - p.mean(axis=0)) ** 2).sum(axis=1).mean()))


def _principal_axes(p: np.ndarray) -> np.ndarray:
    """``(3, 3)`` columns: principal axes of ``p``, largest variance first."""
    c = p - p.mean(axis=0)
    _, vecs = np.linalg.eigh(c.T @ c)
    return vecs[:, ::-1]


def _signed_permutations() -> list[np.ndarray]:
    """All 48 signed permutation matrices (proper and improper)."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            m[range(3), perm] = signs
            out.append(m)
    return out


def _coarse_starts(src: np.ndarray, tgt: np.ndarray, coarse: str) -> list[Similarity]:
    cs, ct = src.mean(axis=0), tgt.mean(axis=0)
    rs, rt = _rms_radius(src), _rms_radius(tgt)
    if not (rs > 0.0 and rt > 0.0):
        raise InputError("source/target: all points coincide; no extent to align")
    s = rt / rs
    if coarse == "identity":
        rots = [np.eye(3)]
    else:
        us, ut = _principal_axes(src), _principal_axes(tgt)
        rots = [r for d in _signed_permutations() if np.linalg.det(r := ut @ d @ us.T) > 0]
    return [Similarity(s, r, ct - s * (r @ cs)) for r in rots]


def _subset(p: np.ndarray, m: int, gen: np.random.Generator) -> np.ndarray:
    if len(p) <= m:
        return p
    return p[gen.choice(len(p), size=m, replace=False)]


def _align(source: np.ndarray, target: np.ndarray, coarse: str, iterations: int, trim: float,
           gen: np.random.Generator) -> tuple[_Fit, int]:
    """:func:`align_similarity` on checked arrays; also returns the candidates tried."""

    def icp(m: int) -> _Icp:
        return _Icp(_subset(source, m, gen), _subset(target, m, gen), trim)

    starts = _coarse_starts(source, target, coarse)
    best = starts[0]
    mid_icp = icp(_MID_POINTS)
    if len(starts) > 1:
        # Successive halving: every start on a small subset, more iterations from the
        # best few, then the last two on a medium subset (a near-symmetric scene can
        # rank them wrongly on the small one). Each iteration costs two KD queries.
        small = icp(_COARSE_POINTS)
        fits = [small.run(st, _SHORT_ITERATIONS[0], 1e-4) for st in starts]
        for keep, n_iter in zip(_SHORT_KEEP, _SHORT_ITERATIONS[1:], strict=True):
            order = np.argsort([f.residual for f in fits], kind="stable")[:keep]
            run = small if keep > min(_SHORT_KEEP) else mid_icp
            fits = [run.run(fits[k].similarity, n_iter, 1e-4) for k in order]
        fits.sort(key=lambda f: f.residual)
        log.debug("align: %d starts; scores of the last %d: %s", len(starts), len(fits),
                  ", ".join(f"{f.residual:.4g}" for f in fits))
        best = fits[0].similarity
    # Converge on the medium subset, where an iteration is cheap, then polish on a
    # large one, where the pairs' sampling noise averages out.
    mid = mid_icp.run(best, iterations, 3e-5)
    fit = icp(_FINE_POINTS).run(mid.similarity, max(1, iterations // 6), 1e-5,
                                accelerate=False)
    return fit, len(starts)


def align_similarity(source: np.ndarray, target: np.ndarray, *, coarse: str = "pca",
                     iterations: int = ICP_ITERATIONS, trim: float = ICP_TRIM,
                     rng: np.random.Generator | int | None = None) -> Similarity:
    """The similarity that moves ``source`` points onto the surface ``target`` samples.

    See the module docstring for the method (PCA starts, short trimmed ICP from each,
    then trimmed ICP with scale). The two sets need not correspond point to point, nor
    cover the same part of the surface.

    Args:
        source: ``(N, 3)`` points, any frame and unit (N >= 3).
        target: ``(M, 3)`` points, any frame and unit (M >= 3).
        coarse: ``"pca"`` (24 principal-axis starts) or ``"identity"`` (the frames are
            already roughly aligned: centroid and RMS-radius scale only).
        iterations: most iterations of the final ICP, >= 1.
        trim: fraction of the nearest-point pairs each direction keeps, in ``(0, 1]``.
        rng: generator or seed of the random subsets (``None``: fresh entropy).

    Returns:
        the :class:`Similarity` with ``transform.apply(source)`` on ``target``.

    Raises:
        InputError: bad shapes, non-finite points, a degenerate point set, or bad options.
    """
    src = _points(source, "source", min_count=3)
    tgt = _points(target, "target", min_count=3)
    _check_options(coarse, iterations, trim)
    fit, _ = _align(src, tgt, coarse, int(iterations), float(trim), _generator(rng))
    return fit.similarity


def _check_options(coarse: str, iterations: int, trim: float) -> None:
    if coarse not in ("pca", "identity"):
        raise InputError(f"coarse: must be 'pca' or 'identity', got {coarse!r}")
    if not isinstance(iterations, int | np.integer) or iterations < 1:
        raise InputError(f"iterations: must be a positive integer, got {iterations!r}")
    if not (isinstance(trim, int | float) and 0.0 < trim <= 1.0):
        raise InputError(f"trim: must be in (0, 1], got {trim!r}")


# ------------------------------------------------------------------------ distances


def _point_triangle_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray,
                             c: np.ndarray) -> np.ndarray:
    """Distance from each point to its triangle, ``(N, 3)`` arrays each, to ``(N,)``.

    Ericson, *Real-Time Collision Detection*, 5.1.5: the Voronoi region of the closest
    feature (vertex, edge or face), vectorised. Degenerate triangles give NaN.
    """

    def dot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", u, v)

    ab, ac, ap = b - a, c - a, p - a
    bp, cp = p - b, p - c
    d1, d2 = dot(ab, ap), dot(ac, ap)
    d3, d4 = dot(ab, bp), dot(ac, bp)
    d5, d6 = dot(ab, cp), dot(ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        # Inside the face, then overwritten region by region in reverse order of
        # Ericson's tests, so the first test that holds wins.
        denom = va + vb + vc
        q = a + ab * (vb / denom)[:, None] + ac * (vc / denom)[:, None]
        m = (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0)  # edge BC
        w = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        q[m] = b[m] + w[m, None] * (c[m] - b[m])
        m = (vb <= 0) & (d2 >= 0) & (d6 <= 0)  # edge AC
        w = d2 / (d2 - d6)
        q[m] = a[m] + w[m, None] * ac[m]
        m = (d6 >= 0) & (d5 <= d6)  # vertex C
        q[m] = c[m]
        m = (vc <= 0) & (d1 >= 0) & (d3 <= 0)  # edge AB
        w = d1 / (d1 - d3)
        q[m] = a[m] + w[m, None] * ab[m]
        m = (d3 >= 0) & (d4 <= d3)  # vertex B
        q[m] = b[m]
        m = (d1 <= 0) & (d2 <= 0)  # vertex A
        q[m] = a[m]
    return np.linalg.norm(p - q, axis=1)


def _surface_distance(query: np.ndarray, samples: np.ndarray, sample_face: np.ndarray,
                      vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Distance from each query point to a mesh, through its samples.

    The :data:`_SURFACE_K` nearest samples name candidate triangles; the smallest exact
    point-to-triangle distance is kept, capped by the point-to-point distance (so a
    degenerate triangle never makes it worse). An upper bound of the true distance, far
    tighter than the point-to-point one.
    """
    from scipy.spatial import cKDTree

    tree = cKDTree(samples)
    k = min(_SURFACE_K, len(samples))
    out = np.empty(len(query))
    for s0 in range(0, len(query), _CHUNK):
        q = query[s0:s0 + _CHUNK]
        d_pp, idx = tree.query(q, k=k, workers=_workers(len(q)))
        d_pp, idx = d_pp.reshape(len(q), k), idx.reshape(len(q), k)
        tri = faces[sample_face[idx.ravel()]]
        qq = np.repeat(q, k, axis=0)
        d_tri = _point_triangle_distance(qq, vertices[tri[:, 0]], vertices[tri[:, 1]],
                                         vertices[tri[:, 2]]).reshape(len(q), k)
        out[s0:s0 + len(q)] = np.fmin(d_tri.min(axis=1, initial=np.inf), d_pp[:, 0])
    return out


# ---------------------------------------------------------------------- common region


def _common_masks(ours: np.ndarray, ref: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                  cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Which samples of each set lie in the cells both occupy, dilated by one cell."""
    # The grid spans the reference's box plus a margin: our samples beyond it cannot
    # share a cell with the reference, and clipping them away keeps the keys small.
    origin = lo - 2.0 * cell
    dims = np.floor((hi + 2.0 * cell - origin) / cell).astype(np.int64) + 1

    def keys(p: np.ndarray) -> np.ndarray:
        ijk = np.floor((p - origin) / cell).astype(np.int64)
        inside = ((ijk >= 0) & (ijk < dims)).all(axis=1)
        key = np.full(len(p), -1, dtype=np.int64)
        i = ijk[inside]
        key[inside] = (i[:, 0] * dims[1] + i[:, 1]) * dims[2] + i[:, 2]
        return key

    k_ours, k_ref = keys(ours), keys(ref)
    both = np.intersect1d(k_ours[k_ours >= 0], k_ref)
    if len(both) == 0:
        return np.zeros(len(ours), bool), np.zeros(len(ref), bool)
    ijk = np.stack([both // (dims[1] * dims[2]), (both // dims[2]) % dims[1],
                    both % dims[2]], axis=1)
    offsets = np.array(list(itertools.product((-1, 0, 1), repeat=3)))
    grown = (ijk[:, None, :] + offsets[None, :, :]).reshape(-1, 3)
    grown = grown[((grown >= 0) & (grown < dims)).all(axis=1)]
    common = np.unique((grown[:, 0] * dims[1] + grown[:, 1]) * dims[2] + grown[:, 2])
    return np.isin(k_ours, common), np.isin(k_ref, common)


@dataclass(frozen=True)
class _Scores:
    chamfer: float
    precision: tuple[float, float]
    recall: tuple[float, float]
    fscore: tuple[float, float]


def _scores(d_ours: np.ndarray, d_ref: np.ndarray, taus: Sequence[float]) -> _Scores:
    """Chamfer and precision/recall/F per threshold; empty sets score inf and 0."""
    if len(d_ours) == 0 or len(d_ref) == 0:
        zero = (0.0, 0.0)
        return _Scores(float("inf"), zero, zero, zero)
    prec, rec, fs = [], [], []
    for tau in taus:
        p, r = float(np.mean(d_ours < tau)), float(np.mean(d_ref < tau))
        prec.append(p)
        rec.append(r)
        fs.append(2.0 * p * r / (p + r) if p + r > 0 else 0.0)
    chamfer = float(0.5 * (d_ours.mean() + d_ref.mean()))
    return _Scores(chamfer, (prec[0], prec[1]), (rec[0], rec[1]), (fs[0], fs[1]))


# --------------------------------------------------------------------------- compare


def compare_meshes(ours_vertices: np.ndarray, ours_faces: np.ndarray,
                   ref_vertices: np.ndarray, ref_faces: np.ndarray, *,
                   samples: int = 200_000, taus: Sequence[float] = DEFAULT_TAUS,
                   seed: int = 0) -> MeshComparison:
    """Align our mesh onto the reference with a similarity and score it there.

    See the module docstring for the protocol.

    Args:
        ours_vertices: ``(V, 3)`` float vertices of our mesh, any frame and unit.
        ours_faces: ``(F, 3)`` integer vertex indices of our mesh.
        ref_vertices: ``(V', 3)`` vertices of the reference mesh, any frame and unit.
        ref_faces: ``(F', 3)`` faces of the reference.
        samples: surface samples per mesh, >= 100.
        taus: the two F-score thresholds as fractions of the reference's bounding-box
            diagonal, each in ``(0, 1)``.
        seed: seeds sampling and alignment subsets: the result is deterministic.

    Returns:
        a :class:`MeshComparison` in reference units.

    Raises:
        InputError: bad shapes, non-finite vertices, out-of-range or non-integer faces,
            meshes without area, or bad options.
    """
    ov, of = _check_mesh(ours_vertices, ours_faces, "ours")
    rv, rf = _check_mesh(ref_vertices, ref_faces, "ref")
    if not isinstance(samples, int | np.integer) or samples < 100:
        raise InputError(f"samples: must be an integer >= 100, got {samples!r}")
    try:
        tau_list = [float(t) for t in taus]
    except (TypeError, ValueError):
        tau_list = []
    if len(tau_list) != 2 or not all(0.0 < t < 1.0 for t in tau_list):
        raise InputError(f"taus: expected two fractions of the diagonal in (0, 1), got {taus!r}")

    gen = np.random.default_rng(seed)
    used = rv[np.unique(rf)]  # unreferenced vertices are not part of the surface
    lo, hi = used.min(axis=0), used.max(axis=0)
    diagonal = float(np.linalg.norm(hi - lo))
    ours_pts, ours_tri = _sample(ov, of, int(samples), gen)
    ref_pts, ref_tri = _sample(rv, rf, int(samples), gen)

    fit, tried = _align(ours_pts, ref_pts, "pca", ICP_ITERATIONS, ICP_TRIM, gen)
    xf = fit.similarity
    moved_v = xf.apply(ov)
    moved = xf.apply(ours_pts)
    log.info("compare: aligned ours with scale %.6g, icp rmse %.4g (%.3g%% of the diagonal)",
             xf.scale, fit.rmse, 100.0 * fit.rmse / diagonal)

    d_ours = _surface_distance(moved, ref_pts, ref_tri, rv, rf)
    d_ref = _surface_distance(ref_pts, moved, ours_tri, moved_v, of)
    in_ours, in_ref = _common_masks(moved, ref_pts, lo, hi, COMMON_CELL * diagonal)
    if not (in_ours.any() and in_ref.any()):
        log.warning("compare: the meshes share no region after alignment")

    abs_taus = [t * diagonal for t in tau_list]
    common = _scores(d_ours[in_ours], d_ref[in_ref], abs_taus)
    every = _scores(d_ours, d_ref, abs_taus)
    return MeshComparison(
        transform=xf, diagonal=diagonal, taus=(tau_list[0], tau_list[1]),
        chamfer=common.chamfer, chamfer_relative=common.chamfer / diagonal,
        precision_1=common.precision[0], recall_1=common.recall[0], fscore_1=common.fscore[0],
        precision_2=common.precision[1], recall_2=common.recall[1], fscore_2=common.fscore[1],
        common_fraction_ours=float(in_ours.mean()), common_fraction_ref=float(in_ref.mean()),
        chamfer_all=every.chamfer, chamfer_relative_all=every.chamfer / diagonal,
        precision_1_all=every.precision[0], recall_1_all=every.recall[0],
        fscore_1_all=every.fscore[0], precision_2_all=every.precision[1],
        recall_2_all=every.recall[1], fscore_2_all=every.fscore[1],
        icp_rmse=fit.rmse, candidates_tried=tried,
        samples_ours=int(samples), samples_ref=int(samples))
