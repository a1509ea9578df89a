"""The silhouette prior: Poisson inflation of the mask into front and back depth.

The object is assumed to be a smooth solid whose cross-sections are round where the
silhouette is narrow and broad where it is wide, mirrored about a mid-plane parallel
to the image. Solving ``laplacian(h) = -4`` inside the silhouette with ``h = 0`` on
its boundary and taking ``sqrt(h)`` gives exactly ``sqrt(R^2 - r^2)`` for a disc of
radius ``R``: a hemisphere. For any other silhouette it gives a smooth height that
is large where the silhouette is wide, falls to zero at the rim with a vertical
tangent (so the mesh closes without a crease), and is thin in narrow parts (legs,
handles). The back is the front mirrored about the mid-plane.
"""

from __future__ import annotations

import logging

import numpy as np

from ..types import Camera, Crop, LayeredDepth

log = logging.getLogger(__name__)

#: z of the mid-plane in the orthographic camera frame. Any value works for an
#: orthographic camera; a positive one keeps depths positive, as depth maps expect.
MID_PLANE_Z = 2.0


def poisson_height(mask: np.ndarray) -> np.ndarray:
    """Solve ``laplacian(h) = -4`` in ``mask`` with ``h = 0`` outside; return ``h``.

    Args:
        mask: ``(H, W)`` bool.

    Returns:
        ``(H, W)`` float64, pixels squared; zero outside the mask.
    """
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    m = np.asarray(mask, dtype=bool).copy()
    # Pixels on the image border are boundary: the crop leaves a margin, but a mask
    # touching the frame must still get h = 0 there.
    m[0, :] = m[-1, :] = m[:, 0] = m[:, -1] = False
    idx = -np.ones(m.shape, dtype=np.int64)
    n = int(m.sum())
    h = np.zeros(m.shape, dtype=np.float64)
    if n == 0:
        return h
    idx[m] = np.arange(n)
    ys, xs = np.nonzero(m)
    rows = [np.arange(n)]
    cols = [np.arange(n)]
    vals = [np.full(n, 4.0)]
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        nb = idx[ys + dy, xs + dx]
        ok = nb >= 0
        rows.append(np.arange(n)[ok])
        cols.append(nb[ok])
        vals.append(np.full(int(ok.sum()), -1.0))
    a = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    # -laplacian(h) = 4 with unit grid spacing: (4 h_ij - sum of neighbours) = 4.
    sol = spla.spsolve(a.tocsc(), np.full(n, 4.0))
    h[m] = np.maximum(sol, 0.0)
    return h


def inflate(mask: np.ndarray, thickness: float = 0.8) -> np.ndarray:
    """Half-thickness of the object at each pixel, in pixels.

    Args:
        mask: ``(H, W)`` bool silhouette.
        thickness: ratio of depth to local width; 1.0 makes a disc a sphere.

    Returns:
        ``(H, W)`` float32 half-thickness in pixels, zero outside the mask.
    """
    return (thickness * np.sqrt(poisson_height(mask))).astype(np.float32)


def prior_shape(crop: Crop, thickness: float = 0.8, resolution: int | None = None) -> LayeredDepth:
    """Layered depth of the object in ``crop`` by silhouette inflation.

    Args:
        crop: the object crop; its alpha is the silhouette.
        thickness: object depth over silhouette width (1.0: round cross-sections).
        resolution: work at this crop size (default: the crop's own).

    Returns:
        a :class:`LayeredDepth` seen by an orthographic camera whose image spans
        ``[-1, 1]`` in x and y (object units: the crop's half-width is 1); front and
        back are mirrored about ``z = MID_PLANE_Z``.
    """
    if resolution is not None and resolution != crop.size:
        crop = crop.resized(resolution)
    size = crop.size
    mask = crop.alpha >= 0.5
    if not mask.any():
        raise ValueError("crop: the crop's alpha has no pixel >= 0.5")
    cam = Camera.orthographic_square(size, half_extent=1.0)
    half = inflate(mask, thickness) / cam.fx  # pixels to object units
    front = np.where(mask, MID_PLANE_Z - half, MID_PLANE_Z).astype(np.float32)
    back = np.where(mask, MID_PLANE_Z + half, MID_PLANE_Z).astype(np.float32)
    log.debug("prior: %d px inside, max half-thickness %.3f", int(mask.sum()), float(half.max()))
    return LayeredDepth(camera=cam, mask=crop.alpha.astype(np.float32), front=front, back=back)
