"""Binary little-endian PLY export of the welded geometry with per-vertex colours.

PLY carries no texture here: each welded vertex gets the base colour sampled from the
texture at its UV (:meth:`~lift3d.types.TexturedMesh.vertex_colors`), averaged over
its seam copies when the mesh was split for a UV atlas. Coordinates are metres in the
glTF axes (+Y up).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write_bytes
from ..types import TexturedMesh
from ._common import Surface, validate_geometry, welded_surface_of

__all__ = ["ply_bytes", "surface_ply_bytes", "write_ply", "write_surface_ply"]

logger = logging.getLogger(__name__)

_FACE_DTYPE = np.dtype([("n", "u1"), ("vertex_indices", "<i4", (3,))])
_CHANNELS = ("red", "green", "blue", "alpha")


def ply_bytes(mesh: TexturedMesh) -> bytes:
    """Encode the welded geometry of ``mesh`` with vertex colours as binary PLY."""
    return surface_ply_bytes(welded_surface_of(mesh))


def surface_ply_bytes(surface: Surface) -> bytes:
    """Encode a :class:`Surface` as binary little-endian PLY.

    Float32 ``x y z``; ``red green blue`` (and ``alpha`` for 4-channel colours) uchar
    properties when the surface has vertex colours; triangles as ``uchar int`` lists.
    Normals, UVs and textures are not written.
    """
    validate_geometry(surface.vertices, surface.faces)
    v = np.asarray(surface.vertices)
    colors = None if surface.colors is None else np.asarray(surface.colors, dtype=np.uint8)
    channels = _CHANNELS[: 0 if colors is None else colors.shape[1]]
    dtype = np.dtype([(axis, "<f4") for axis in "xyz"] + [(c, "u1") for c in channels])
    verts = np.empty(len(v), dtype=dtype)
    for i, axis in enumerate("xyz"):
        verts[axis] = v[:, i]
    for i, channel in enumerate(channels):
        verts[channel] = colors[:, i]
    faces = np.empty(len(surface.faces), dtype=_FACE_DTYPE)
    faces["n"] = 3
    faces["vertex_indices"] = surface.faces
    header = (
        "ply\n"
        "format binary_little_endian 1.0\n"
        f"comment {surface.comment}\n"
        f"element vertex {len(verts)}\n"
        + "".join(f"property float {axis}\n" for axis in "xyz")
        + "".join(f"property uchar {c}\n" for c in channels)
        + f"element face {len(faces)}\n"
        "property list uchar int vertex_indices\n"
        "end_header\n"
    ).encode("ascii")
    return header + verts.tobytes() + faces.tobytes()


def write_ply(mesh: TexturedMesh, path: str | os.PathLike[str]) -> list[Path]:
    """Write ``mesh``'s welded geometry and vertex colours to ``path``, atomically."""
    return write_surface_ply(welded_surface_of(mesh), path)


def write_surface_ply(surface: Surface, path: str | os.PathLike[str]) -> list[Path]:
    """Write a :class:`Surface` to ``path`` as binary PLY, atomically. Returns ``[path]``."""
    path = Path(path)
    data = surface_ply_bytes(surface)
    atomic_write_bytes(path, data)
    logger.info("wrote %s (%d bytes)", path, len(data))
    return [path]
