"""Meshing stage: layered depth to a closed, manifold, decimated triangle mesh."""

from __future__ import annotations

import logging

from ..types import LayeredDepth, Mesh
from .cleanup import (
    components,
    decimate,
    drop_duplicate_faces,
    is_watertight,
    remove_floaters,
    smooth,
    weld,
)
from .geometry import face_areas, vertex_normals, volume
from .occupancy import depth_field, field_to_mesh, silhouette_sdf

log = logging.getLogger(__name__)


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
    """
    field, origin, vox = depth_field(depth, voxel=voxel)
    m = field_to_mesh(field, origin, vox)
    m = remove_floaters(m, min_piece_fraction)
    # Smoothing after decimation costs a tenth as much; the field is already
    # smooth, so what Taubin removes is the decimator's faceting, not voxel steps.
    m = decimate(m, faces)
    m = smooth(m, smooth_iterations)
    log.debug("mesh: %d vertices, %d faces", len(m.vertices), len(m.faces))
    return m


__all__ = [
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
    "weld",
]
