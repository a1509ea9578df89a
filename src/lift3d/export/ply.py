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
from ._common import validate, welded_vertex_colors

__all__ = ["ply_bytes", "write_ply"]

logger = logging.getLogger(__name__)

_VERTEX_DTYPE = np.dtype([
    ("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
    ("red", "u1"), ("green", "u1"), ("blue", "u1"),
])
_FACE_DTYPE = np.dtype([("n", "u1"), ("vertex_indices", "<i4", (3,))])


def ply_bytes(mesh: TexturedMesh) -> bytes:
    """Encode the welded geometry of ``mesh`` with vertex colours as binary PLY."""
    validate(mesh)
    welded = mesh.welded()
    colors = welded_vertex_colors(mesh)
    verts = np.empty(len(welded.vertices), dtype=_VERTEX_DTYPE)
    for i, axis in enumerate("xyz"):
        verts[axis] = welded.vertices[:, i]
    for i, channel in enumerate(("red", "green", "blue")):
        verts[channel] = colors[:, i]
    faces = np.empty(len(welded.faces), dtype=_FACE_DTYPE)
    faces["n"] = 3
    faces["vertex_indices"] = welded.faces
    header = (
        "ply\n"
        "format binary_little_endian 1.0\n"
        "comment lift3d export: metres, +Y up, front towards +Z\n"
        f"element vertex {len(verts)}\n"
        "property float x\n"
        "property float y\n"
        "property float z\n"
        "property uchar red\n"
        "property uchar green\n"
        "property uchar blue\n"
        f"element face {len(faces)}\n"
        "property list uchar int vertex_indices\n"
        "end_header\n"
    ).encode("ascii")
    return header + verts.tobytes() + faces.tobytes()


def write_ply(mesh: TexturedMesh, path: str | os.PathLike[str]) -> list[Path]:
    """Write ``mesh``'s welded geometry and vertex colours to ``path``, atomically."""
    path = Path(path)
    data = ply_bytes(mesh)
    atomic_write_bytes(path, data)
    logger.info("wrote %s (%d bytes)", path, len(data))
    return [path]
