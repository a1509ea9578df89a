"""Fusing depth maps into one surface: a truncated signed distance field (TSDF).

Each voxel of a box keeps the weighted mean of its signed distance to the surface
along every view's rays (positive in front of the surface, truncated to
``+-truncation``); the surface is the zero level set, extracted by marching cubes only
where voxels were observed. Only voxels near some depth sample are evaluated (a
narrow band), so a 400^3 box costs what its surface costs.

numpy and scikit-image only; open3d is not needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..types import Mesh
from .dense import DepthMap

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in the world frame.

    Attributes:
        lower, upper: ``(3,)`` float64 corners.
    """

    lower: np.ndarray
    upper: np.ndarray

    @property
    def size(self) -> np.ndarray:
        return np.asarray(self.upper) - np.asarray(self.lower)

    @property
    def diagonal(self) -> float:
        return float(np.linalg.norm(self.size))

    def contains(self, points: np.ndarray) -> np.ndarray:
        p = np.asarray(points)
        return np.all((p >= self.lower) & (p <= self.upper), axis=1)


@dataclass(frozen=True)
class FusionOptions:
    """Options of :func:`tsdf_fuse`.

    Attributes:
        voxel: voxel side in world units; ``None``: from the depth maps' pixel
            footprint, at least ``box`` longest side / ``max_voxels_per_side``.
        truncation_voxels: truncation distance, voxels.
        max_voxels_per_side: resolution cap of the box.
        min_weight: voxels seen by less total weight stay unobserved.
    """

    voxel: float | None = None
    truncation_voxels: float = 4.0
    max_voxels_per_side: int = 512
    min_weight: float = 1.5


def pixel_footprint(maps: Sequence[DepthMap]) -> float:
    """Median size of a depth pixel on the surface, world units."""
    sizes = []
    for m in maps:
        d = m.depth[m.depth > 0]
        if len(d):
            sizes.append(np.median(d) / m.view.K[0, 0])
    return float(np.median(sizes)) if sizes else float("nan")


def tsdf_fuse(maps: Sequence[DepthMap], box: Box, options: FusionOptions = FusionOptions(),
              progress: Callable[[float], None] | None = None) -> Mesh:
    """Fuse depth maps inside ``box`` into a triangle mesh.

    Args:
        maps: depth maps (0 = unknown) with their views, one world frame.
        box: the region to reconstruct; depth outside it is ignored.
        options: see :class:`FusionOptions`.
        progress: called with a fraction in [0, 1].

    Returns:
        The zero level set as a :class:`Mesh` in the world frame, faces
        counter-clockwise seen from the cameras' side. Open where the views stop
        (fusion cannot invent unseen surface). Empty when no depth falls in ``box``.
    """
    from skimage.measure import marching_cubes

    lower = np.asarray(box.lower, dtype=np.float64)
    size = box.size
    voxel = options.voxel
    floor = float(size.max()) / options.max_voxels_per_side
    if voxel is None:
        voxel = max(1.5 * pixel_footprint(maps), floor)
        if not np.isfinite(voxel):
            voxel = floor
    voxel = max(float(voxel), floor)
    dims = np.maximum(np.ceil(size / voxel).astype(np.int64) + 1, 2)
    trunc = options.truncation_voxels * voxel
    log.debug("TSDF grid %s, voxel %.4g", dims.tolist(), voxel)

    # Narrow band: voxels within the truncation distance of some depth sample.
    band = np.zeros(dims, dtype=bool)
    r = int(np.ceil(options.truncation_voxels))
    for m in maps:
        v, u = np.nonzero(m.depth > 0)
        if not len(v):
            continue
        X = m.view.unproject(u, v, m.depth[v, u])
        X = X[box.contains(X)]
        idx = np.round((X - lower) / voxel).astype(np.int64)
        idx = np.clip(idx, 0, dims - 1)
        band[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    if not band.any():
        return Mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64))
    from scipy import ndimage

    band = ndimage.binary_dilation(band, iterations=r)
    cells = np.argwhere(band)
    centres = lower + cells * voxel
    tsdf = np.zeros(len(cells), dtype=np.float32)
    weight = np.zeros(len(cells), dtype=np.float32)
    for i, m in enumerate(maps):
        if progress:
            progress(i / len(maps))
        h, w = m.depth.shape
        uv, z = m.view.project(centres)
        u = np.round(uv[:, 0])
        v = np.round(uv[:, 1])
        inb = (z > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        sel = np.nonzero(inb)[0]
        d = m.depth[v[sel].astype(np.int64), u[sel].astype(np.int64)].astype(np.float64)
        sdf = d - z[sel]
        # Behind the surface by more than the truncation: unknown (occluded), not empty.
        use = (d > 0) & (sdf > -trunc)
        sel, sdf = sel[use], np.minimum(sdf[use], trunc) / trunc
        tsdf[sel] += sdf.astype(np.float32)
        weight[sel] += 1.0
    seen = weight >= options.min_weight
    grid = np.ones(dims, dtype=np.float32)
    grid[tuple(cells[seen].T)] = tsdf[seen] / weight[seen]
    observed = np.zeros(dims, dtype=bool)
    observed[tuple(cells[seen].T)] = True
    # skimage tests the mask at one corner of each cube only; a cube with an unobserved
    # corner (filled with +1) would put a false surface just behind the real one. Mark
    # a cube (at its upper corner, which skimage reads) only when all 8 corners were seen.
    mask = np.zeros(dims, dtype=bool)
    cube = observed[1:, 1:, 1:].copy()
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                cube &= observed[dx:dims[0] - 1 + dx, dy:dims[1] - 1 + dy, dz:dims[2] - 1 + dz]
    mask[1:, 1:, 1:] = cube
    if progress:
        progress(1.0)
    empty = Mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64))
    if not cube.any() or grid[mask].min() >= 0 or grid[mask].max() <= 0:
        return empty
    try:
        verts, faces, _, _ = marching_cubes(grid, level=0.0, mask=mask)
    except (RuntimeError, ValueError):
        return empty
    verts = lower + verts * voxel
    # With the default gradient direction, faces wind counter-clockwise seen from the
    # positive side (free space, where the cameras are): lift3d's "outside".
    return Mesh(verts.astype(np.float64), faces.astype(np.int64))
