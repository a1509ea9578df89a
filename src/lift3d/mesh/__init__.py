"""Meshing stage: layered depth to a closed, manifold, decimated triangle mesh."""

from __future__ import annotations

import logging

import numpy as np

from ..types import LayeredDepth, Mesh
from .cleanup import (
    components,
    decimate,
    drop_duplicate_faces,
    is_watertight,
    remove_floaters,
    smooth,
    try_decimate,
    weld,
)
from .geometry import face_areas, vertex_normals, volume
from .occupancy import depth_field, field_to_mesh, silhouette_sdf

log = logging.getLogger(__name__)

#: Marching cubes should make about this many times the target face count: enough
#: that decimation picks the triangles, few enough that it never has to remove 90 % of
#: them (which pinches thin parts into non-manifold fins) and that meshing stays fast.
MC_FACES_PER_TARGET: float = 1.6
#: The automatic voxel is between 1 and this many pixels of the depth maps.
MAX_VOXEL_PIXELS: float = 3.0


def _surface_pixels(depth: LayeredDepth) -> float:
    """Estimated area of the closed surface, in square pixels: front and back sheets
    (slopes included) plus the side walls along the outline, for every layer."""
    px = 1.0 / depth.camera.fx
    inside = np.asarray(depth.mask) >= 0.5
    edge = inside & ~_eroded(inside)

    def sheet(z: np.ndarray, where: np.ndarray) -> float:
        gy, gx = np.gradient(np.where(where, z, 0.0) / px)
        slope = np.sqrt(1.0 + np.minimum(gx * gx + gy * gy, 100.0))
        return float(slope[where].sum())

    front, back = np.asarray(depth.front), np.asarray(depth.back)
    area = sheet(front, inside) + sheet(back, inside)
    area += float(((back - front)[edge] / px).clip(0, None).sum())
    if depth.front2 is not None and depth.back2 is not None:
        f2, b2 = np.asarray(depth.front2), np.asarray(depth.back2)
        in2 = inside & np.isfinite(f2) & np.isfinite(b2)
        if in2.any():
            area += sheet(f2, in2) + sheet(b2, in2)
            e2 = in2 & ~_eroded(in2)
            area += float(((b2 - f2)[e2] / px).clip(0, None).sum())
    return area


def _eroded(mask: np.ndarray) -> np.ndarray:
    from scipy.ndimage import binary_erosion

    return binary_erosion(mask)


def auto_voxel(depth: LayeredDepth, faces: int) -> float:
    """Voxel size (object units) for meshing ``depth`` into about ``faces`` triangles.

    Marching cubes makes about two triangles per voxel of surface area, so the voxel
    is ``px * sqrt(2 * area / (MC_FACES_PER_TARGET * faces))`` with the area estimated
    from the depth maps in square pixels, kept within ``[1, MAX_VOXEL_PIXELS]``
    pixels: the maps hold no detail finer than a pixel, and a coarser grid would lose
    thin parts of the outline.
    """
    px = 1.0 / depth.camera.fx
    area = _surface_pixels(depth)
    scale = np.sqrt(2.0 * area / (MC_FACES_PER_TARGET * max(int(faces), 1)))
    return float(px * np.clip(scale, 1.0, MAX_VOXEL_PIXELS))


def mesh_from_depth(
    depth: LayeredDepth,
    faces: int = 20000,
    smooth_iterations: int = 6,
    min_piece_fraction: float = 0.01,
    voxel: float | None = None,
) -> Mesh:
    """Turn layered depth into a watertight mesh in the camera frame (object units).

    Occupancy between entry and exit depth (and between the second entry and exit,
    where the depth has a second layer), marching cubes (closed and manifold by
    construction), removal of floating pieces, quadric decimation to about ``faces``
    triangles, and Taubin smoothing.

    ``voxel`` (object units) defaults to :func:`auto_voxel`.
    """
    px = 1.0 / depth.camera.fx
    if voxel is not None:
        voxels = [float(voxel)]
    else:
        # Parts thin at the target's triangle size can make decimation pinch the
        # surface; a finer grid (thicker parts in voxels), then a coarser one (less to
        # remove), usually gets past it.
        auto = auto_voxel(depth, faces)
        voxels = list(dict.fromkeys([auto, px, min(2.0 * auto, MAX_VOXEL_PIXELS * px)]))
    best: Mesh | None = None
    for vox in voxels:
        field, origin, vox = depth_field(depth, voxel=vox)
        if not (field > 0).any():
            continue  # thinner than the voxel everywhere: try the next grid
        m = remove_floaters(field_to_mesh(field, origin, vox), min_piece_fraction)
        out = try_decimate(m, faces)
        if out is not None:
            best = out
            break
        log.info("mesh: decimating the %.2f px grid opened the surface", vox / px)
        if best is None or len(m.faces) < len(best.faces):
            best = m
    else:
        if best is None:
            raise ValueError("depth: the object is thinner than one voxel everywhere")
        log.warning("decimation kept %d faces: every attempt opened the surface",
                    len(best.faces))
    # Smoothing after decimation costs a tenth as much; the field is already
    # smooth, so what Taubin removes is the decimator's faceting, not voxel steps.
    m = smooth(best, smooth_iterations)
    log.debug("mesh: %d vertices, %d faces", len(m.vertices), len(m.faces))
    return m


__all__ = [
    "MAX_VOXEL_PIXELS",
    "MC_FACES_PER_TARGET",
    "auto_voxel",
    "components",
    "decimate",
    "depth_field",
    "drop_duplicate_faces",
    "face_areas",
    "field_to_mesh",
    "is_watertight",
    "mesh_from_depth",
    "remove_floaters",
    "silhouette_sdf",
    "smooth",
    "vertex_normals",
    "volume",
    "try_decimate",
    "weld",
]
