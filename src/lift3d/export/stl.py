"""Binary STL export of the welded geometry (no colour, no texture).

STL has no unit; lift3d writes metres in the glTF axes (+Y up). Slicers usually assume
millimetres, so a 0.3 m object may import 1000 times too small there.
"""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write_bytes
from ..types import TexturedMesh
from ._common import validate

__all__ = ["stl_bytes", "write_stl"]

logger = logging.getLogger(__name__)

_FACET_DTYPE = np.dtype([
    ("normal", "<f4", (3,)),
    ("vertices", "<f4", (3, 3)),
    ("attributes", "<u2"),
])


def stl_bytes(mesh: TexturedMesh, header: bytes = b"lift3d binary STL, metres, +Y up") -> bytes:
    """Encode the welded geometry of ``mesh`` as binary STL."""
    validate(mesh)
    welded = mesh.welded()
    tri = welded.vertices[welded.faces]  # (F, 3, 3) float64
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(normal, axis=1, keepdims=True)
    normal = np.divide(normal, length, out=np.zeros_like(normal), where=length > 0)
    facets = np.zeros(len(tri), dtype=_FACET_DTYPE)
    facets["normal"] = normal
    facets["vertices"] = tri
    head = header[:80].ljust(80, b" ")
    if head.lstrip().lower().startswith(b"solid"):
        head = b"binary " + head[:73]  # "solid" at the start would mark an ASCII STL
    return head + struct.pack("<I", len(facets)) + facets.tobytes()


def write_stl(mesh: TexturedMesh, path: str | os.PathLike[str]) -> list[Path]:
    """Write ``mesh``'s welded geometry to ``path`` as binary STL, atomically."""
    path = Path(path)
    data = stl_bytes(mesh)
    atomic_write_bytes(path, data)
    logger.info("wrote %s (%d triangles)", path, len(mesh.faces))
    return [path]
