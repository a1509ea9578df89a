"""Where the object is: an upright frame, the region the cameras look at, the ground.

SfM's world frame is arbitrary. :func:`find_region` builds an *object frame* from the
sparse model:

* **Up**: orthogonal to every photo's horizontal axis (the camera's x, turned by the
  EXIF orientation): people hold cameras level, though they pitch them
  (:func:`estimate_up`). A dominant plane near that direction under most points (the
  ground, a table) refines it.
* **Front** (+Z): from the object towards the mean camera position, so the side that
  was photographed faces +Z; for a full orbit (cameras all round) towards the first
  photo.
* **Region**: when the optical axes converge (an object photographed from around it),
  the sparse points within reach of the convergence point; otherwise (a facade, a
  scene) the bulk of the sparse points. The box is cut above the ground plane, so the
  ground is not part of the object. ``keep_scene`` keeps everything.

The object frame is ``x_obj = R (x_world - origin)``: a rotation and a translation, so
depths and distances keep their SfM units. Its axes are glTF's (+Y up, +Z front).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .fuse import Box
from .types import View

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Region:
    """The object frame and the box to reconstruct.

    Attributes:
        rotation: ``(3, 3)`` float64 ``R``: rows are the object frame's x, y (up) and
            z (front) axes in world coordinates.
        origin: ``(3,)`` float64 world position of the object frame's origin.
        box: region to reconstruct, object frame.
        object_centric: the cameras converge on an object (else a facade or scene).
        ground_height: y of the ground plane in the object frame, or ``None``.
        kept: number of sparse points inside ``box``.
    """

    rotation: np.ndarray
    origin: np.ndarray
    box: Box
    object_centric: bool
    ground_height: float | None
    kept: int

    def to_object(self, points_world: np.ndarray) -> np.ndarray:
        """``(N, 3)`` world points to the object frame."""
        return (np.asarray(points_world, dtype=np.float64) - self.origin) @ self.rotation.T

    def view_in_object_frame(self, view: View) -> View:
        """The same camera with ``cam_from_world`` replaced by ``cam_from_object``."""
        R = view.R @ self.rotation.T
        t = view.R @ self.origin + view.t
        return View(view.name, view.K, np.column_stack([R, t]), view.width, view.height)


def convergence_point(views: Sequence[View]) -> tuple[np.ndarray, float]:
    """The least-squares point nearest to every camera's optical axis.

    Returns ``(point (3,), conditioning in [0, 1])``: the smallest over the largest
    eigenvalue of the normal equations; near 0 when the axes are (nearly) parallel and
    the point is meaningless (a facade shot straight on). Solved relative to the
    cameras' mean centre, so the answer does not depend on the SfM origin.
    """
    centres = np.stack([v.center for v in views])
    mean = centres.mean(axis=0)
    A = np.zeros((3, 3))
    b = np.zeros(3)
    for v, c in zip(views, centres, strict=True):
        a = v.axis
        P = np.eye(3) - np.outer(a, a)
        A += P
        b += P @ (c - mean)
    ev = np.linalg.eigvalsh(A)
    cond = float(ev[0] / ev[-1]) if ev[-1] > 0 else 0.0
    return mean + np.linalg.lstsq(A, b, rcond=None)[0], cond


def estimate_up(views: Sequence[View], ups_cam: Sequence[np.ndarray]) -> np.ndarray:
    """``(3,)`` world up: orthogonal to every photo's horizontal axis.

    A level photo's horizontal axis (perpendicular to its true up and its viewing
    direction) is horizontal in the world even when the camera pitches up or down, so
    up is the direction most orthogonal to all of them (smallest eigenvector), signed
    by the mean of the photos' ups. Averaging the ups directly would tilt with the
    cameras' pitch. Falls back to that average when the horizontals are all parallel
    (every photo taken with the same heading).
    """
    mean_up = np.sum([v.R.T @ np.asarray(u, float) for v, u in
                      zip(views, ups_cam, strict=True)], axis=0)
    mean_up /= max(np.linalg.norm(mean_up), 1e-12)
    H = np.zeros((3, 3))
    for v, u in zip(views, ups_cam, strict=True):
        h = v.R.T @ np.cross(np.asarray(u, float), [0.0, 0.0, 1.0])
        H += np.outer(h, h)
    w, vec = np.linalg.eigh(H)
    if w[1] < 1e-3 * max(w[2], 1e-12):
        return mean_up
    up = vec[:, 0]
    return up if up @ mean_up >= 0 else -up


def _fit_plane(points: np.ndarray, threshold: float, rng: np.random.Generator,
               up: np.ndarray, max_tilt_deg: float, iterations: int = 300
               ) -> tuple[np.ndarray, float, np.ndarray] | None:
    """RANSAC plane ``n . x = d`` with ``n`` within ``max_tilt_deg`` of ``up``.

    Returns ``(n, d, inlier mask)`` with ``n . up > 0``, or ``None``.
    """
    if len(points) < 30:
        return None
    best = None
    cos_max = np.cos(np.radians(max_tilt_deg))
    for _ in range(iterations):
        p = points[rng.choice(len(points), 3, replace=False)]
        n = np.cross(p[1] - p[0], p[2] - p[0])
        norm = np.linalg.norm(n)
        if norm < 1e-12:
            continue
        n /= norm
        if n @ up < 0:
            n = -n
        if n @ up < cos_max:
            continue
        inl = np.abs(points @ n - n @ p[0]) < threshold
        if best is None or inl.sum() > best[2].sum():
            best = (n, float(n @ p[0]), inl)
    if best is None:
        return None
    n, d, inl = best
    # Refine on the inliers (least squares), keep the orientation.
    q = points[inl]
    c = q.mean(axis=0)
    _, _, vt = np.linalg.svd(q - c, full_matrices=False)
    n2 = vt[2] if vt[2] @ n > 0 else -vt[2]
    d2 = float(n2 @ c)
    return n2, d2, np.abs(points @ n2 - d2) < threshold


def find_region(views: Sequence[View], points: np.ndarray, track_lengths: np.ndarray,
                ups_cam: Sequence[np.ndarray] | None = None, *, keep_scene: bool = False,
                seed: int = 0) -> Region:
    """The object frame and the box to reconstruct (see the module docstring).

    Args:
        views: registered views (world frame).
        points: ``(N, 3)`` sparse points, world frame.
        track_lengths: ``(N,)`` views seeing each point (points seen by fewer than
            three are ignored: they are the least reliable).
        ups_cam: per view, the photo's true up in its camera frame (from
            :func:`lift3d.multiview.images.exif_up`); default ``-y``.
        keep_scene: reconstruct everything the photos show, ground included.
        seed: RANSAC seed.
    """
    rng = np.random.default_rng(seed)
    pts = points[track_lengths >= 3] if (track_lengths >= 3).sum() >= 50 else points
    centres = np.stack([v.center for v in views])
    if ups_cam is None:
        ups_cam = [np.array([0.0, -1.0, 0.0])] * len(views)
    up = estimate_up(views, ups_cam)

    # Do the optical axes converge in front of the cameras?
    p, conditioning = convergence_point(views)
    dist = np.linalg.norm(centres - p, axis=1)
    toward = (p - centres) / np.maximum(dist[:, None], 1e-12)
    cos = np.einsum("nd,nd->n", toward, np.stack([v.axis for v in views]))
    object_centric = (bool(np.mean(cos > np.cos(np.radians(25))) >= 0.7) and not keep_scene
                      and conditioning > 1e-3)
    if object_centric:
        # Cameras stand outside the object: keep what lies within most of their distance.
        reach = 0.7 * float(np.median(dist))
        near = np.linalg.norm(pts - p, axis=1) < reach
        if near.sum() >= 30:
            pts_obj = pts[near]
        else:
            object_centric, pts_obj = False, pts
    else:
        pts_obj = pts
    lo_q, hi_q = (0.5, 99.5) if keep_scene else (2.0, 98.0)

    # Ground plane: a large plane roughly normal to up, with the rest above it.
    ground = None
    if not keep_scene and len(pts_obj) >= 50:
        ext = np.percentile(pts_obj, 98, axis=0) - np.percentile(pts_obj, 2, axis=0)
        fit = _fit_plane(pts_obj, 0.01 * float(np.linalg.norm(ext)), rng, up, 30.0)
        if fit is not None:
            n, d, inl = fit
            rest = pts_obj[~inl] @ n - d
            if inl.mean() >= 0.15 and len(rest) and np.mean(rest > 0) >= 0.8:
                ground = (n, d)
                up = n
                pts_obj = pts_obj[~inl & (pts_obj @ n - d > 0)]

    # Front: towards the cameras, horizontal.
    centre = np.median(pts_obj, axis=0)
    front = centres.mean(axis=0) - centre
    front -= (front @ up) * up
    if np.linalg.norm(front) < 0.25 * float(np.median(np.linalg.norm(centres - centre, axis=1))):
        front = views[0].center - centre
        front -= (front @ up) * up
    if np.linalg.norm(front) < 1e-9:
        front = np.cross(up, [1.0, 0, 0]) if abs(up[0]) < 0.9 else np.cross(up, [0, 0, 1.0])
    front /= np.linalg.norm(front)
    x_axis = np.cross(up, front)
    x_axis /= np.linalg.norm(x_axis)
    front = np.cross(x_axis, up)
    R = np.stack([x_axis, up, front])
    origin = centre

    local = (pts_obj - origin) @ R.T
    lo, hi = np.percentile(local, lo_q, axis=0), np.percentile(local, hi_q, axis=0)
    pad = (0.10 if keep_scene else 0.05) * (hi - lo) + 1e-9
    lower, upper = lo - pad, hi + pad
    ground_height = None
    if ground is not None:
        n, d = ground
        ground_height = float(d - n @ origin)
        # Cut just above the ground so it does not join the object.
        lower[1] = max(lower[1], ground_height + 0.01 * float(np.linalg.norm(hi - lo)))
    kept = int(Box(lower, upper).contains((pts - origin) @ R.T).sum())
    log.info("region: %s, %d sparse points inside, ground %s",
             "object" if object_centric else ("scene" if keep_scene else "main structure"),
             kept, "found" if ground is not None else "not found")
    return Region(R, origin, Box(lower, upper), object_centric, ground_height, kept)
