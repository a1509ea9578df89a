"""Binary glTF 2.0 (``.glb``) export, written directly (no third-party exporter).

The file holds one scene with one node and one mesh of one triangle primitive:
``POSITION``, ``NORMAL``, ``TEXCOORD_0`` and ``indices``, and one PBR
metallic-roughness material whose ``baseColorTexture`` is a PNG embedded in the
binary chunk.

Vertices are written exactly as given: none are duplicated, so a welded, watertight
:class:`~lift3d.types.TexturedMesh` loads back welded and watertight.

Texture orientation: lift3d's ``uv`` has its origin at the *bottom-left* of the image
(:mod:`lift3d.conventions`), while glTF's ``TEXCOORD_0`` has ``(0, 0)`` at the
*top-left* (first pixel of the image). So ``v_gltf = 1 - v``; the PNG is stored
unchanged (row 0 at the top).
"""

from __future__ import annotations

import json
import logging
import os
import struct
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write_bytes
from ..types import TexturedMesh
from ._common import png_bytes, safe_name, texture_rgb8, unit_normals, validate

__all__ = ["glb_bytes", "write_glb"]

logger = logging.getLogger(__name__)

GENERATOR = "lift3d"

# glTF enums.
_FLOAT = 5126
_UNSIGNED_SHORT = 5123
_UNSIGNED_INT = 5125
_ARRAY_BUFFER = 34962
_ELEMENT_ARRAY_BUFFER = 34963
_TRIANGLES = 4
_LINEAR = 9729
_LINEAR_MIPMAP_LINEAR = 9987
_CLAMP_TO_EDGE = 33071

_GLB_MAGIC = 0x46546C67  # b"glTF"
_CHUNK_JSON = 0x4E4F534A  # b"JSON"
_CHUNK_BIN = 0x004E4942  # b"BIN\0"


def _pad4(data: bytes, fill: bytes = b"\x00") -> bytes:
    return data + fill * (-len(data) % 4)


class _BinaryBuffer:
    """Accumulates buffer views (each 4-byte aligned) in one binary blob."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.length = 0
        self.views: list[dict] = []

    def add(self, data: bytes, target: int | None = None) -> int:
        view: dict = {"buffer": 0, "byteOffset": self.length, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.views.append(view)
        padded = _pad4(data)
        self.parts.append(padded)
        self.length += len(padded)
        return len(self.views) - 1

    def blob(self) -> bytes:
        return b"".join(self.parts)


def glb_bytes(mesh: TexturedMesh, name: str = "lift3d_mesh") -> bytes:
    """Encode ``mesh`` as a binary glTF 2.0 file and return its bytes.

    Args:
        mesh: the textured mesh (glTF frame, metres).
        name: name given to the node and the mesh.
    """
    validate(mesh)
    positions = np.ascontiguousarray(mesh.vertices, dtype="<f4")
    normals = np.ascontiguousarray(unit_normals(mesh), dtype="<f4")
    uv = np.asarray(mesh.uv, dtype=np.float64)
    texcoord = np.ascontiguousarray(np.stack([uv[:, 0], 1.0 - uv[:, 1]], axis=1), dtype="<f4")
    if len(positions) <= 65535:
        index_dtype, index_type = "<u2", _UNSIGNED_SHORT
    else:
        index_dtype, index_type = "<u4", _UNSIGNED_INT
    indices = np.ascontiguousarray(mesh.faces, dtype=np.int64).astype(index_dtype).ravel()
    png = png_bytes(texture_rgb8(mesh))

    buf = _BinaryBuffer()
    v_pos = buf.add(positions.tobytes(), _ARRAY_BUFFER)
    v_nrm = buf.add(normals.tobytes(), _ARRAY_BUFFER)
    v_uv = buf.add(texcoord.tobytes(), _ARRAY_BUFFER)
    v_idx = buf.add(indices.tobytes(), _ELEMENT_ARRAY_BUFFER)
    v_img = buf.add(png)

    n = len(positions)
    accessors = [
        {"bufferView": v_pos, "componentType": _FLOAT, "count": n, "type": "VEC3",
         "min": positions.min(axis=0).tolist(), "max": positions.max(axis=0).tolist()},
        {"bufferView": v_nrm, "componentType": _FLOAT, "count": n, "type": "VEC3"},
        {"bufferView": v_uv, "componentType": _FLOAT, "count": n, "type": "VEC2"},
        {"bufferView": v_idx, "componentType": index_type, "count": int(indices.size),
         "type": "SCALAR"},
    ]
    mat = mesh.material
    material = {
        "name": mat.name,
        "pbrMetallicRoughness": {
            "baseColorTexture": {"index": 0, "texCoord": 0},
            "baseColorFactor": [float(c) for c in mat.base_color_factor],
            "metallicFactor": float(mat.metallic),
            "roughnessFactor": float(mat.roughness),
        },
        "doubleSided": False,
        "alphaMode": "OPAQUE",
    }
    gltf = {
        "asset": {"version": "2.0", "generator": GENERATOR},
        "scene": 0,
        "scenes": [{"name": name, "nodes": [0]}],
        "nodes": [{"name": name, "mesh": 0}],
        "meshes": [{
            "name": name,
            "primitives": [{
                "attributes": {"POSITION": 0, "NORMAL": 1, "TEXCOORD_0": 2},
                "indices": 3,
                "material": 0,
                "mode": _TRIANGLES,
            }],
        }],
        "materials": [material],
        "textures": [{"name": f"{mat.name}_basecolor", "sampler": 0, "source": 0}],
        "samplers": [{"magFilter": _LINEAR, "minFilter": _LINEAR_MIPMAP_LINEAR,
                      "wrapS": _CLAMP_TO_EDGE, "wrapT": _CLAMP_TO_EDGE}],
        "images": [{"name": f"{mat.name}_basecolor", "bufferView": v_img,
                    "mimeType": "image/png"}],
        "accessors": accessors,
        "bufferViews": buf.views,
        "buffers": [{"byteLength": buf.length}],
    }

    json_chunk = _pad4(json.dumps(gltf, separators=(",", ":")).encode("utf-8"), b" ")
    bin_chunk = buf.blob()
    total = 12 + 8 + len(json_chunk) + 8 + len(bin_chunk)
    return b"".join([
        struct.pack("<III", _GLB_MAGIC, 2, total),
        struct.pack("<II", len(json_chunk), _CHUNK_JSON), json_chunk,
        struct.pack("<II", len(bin_chunk), _CHUNK_BIN), bin_chunk,
    ])


def write_glb(mesh: TexturedMesh, path: str | os.PathLike[str]) -> list[Path]:
    """Write ``mesh`` to ``path`` as binary glTF, atomically. Returns ``[path]``."""
    path = Path(path)
    data = glb_bytes(mesh, name=safe_name(path.stem))
    atomic_write_bytes(path, data)
    logger.info("wrote %s (%d vertices, %d faces, %d bytes)",
                path, len(mesh.vertices), len(mesh.faces), len(data))
    return [path]
