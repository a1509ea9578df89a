"""Binary glTF 2.0 (``.glb``) export, written directly (no third-party exporter).

The file holds one scene with one node and one mesh of one triangle primitive:
``POSITION``, ``NORMAL``, ``TEXCOORD_0`` and ``indices``, and one PBR
metallic-roughness material whose ``baseColorTexture`` is a PNG embedded in the
binary chunk. :func:`surface_glb_bytes` writes any :class:`~._common.Surface`
(used for :class:`~lift3d.types.MeshAsset`): ``NORMAL`` and ``TEXCOORD_0`` only when
present, ``COLOR_0`` for vertex colours, and a material without texture when there
is none.

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
from ._common import (
    Surface,
    image_u8,
    png_bytes,
    safe_name,
    surface_of,
    unit_vectors,
    validate_geometry,
)

__all__ = ["glb_bytes", "surface_glb_bytes", "write_glb", "write_surface_glb"]

logger = logging.getLogger(__name__)

GENERATOR = "lift3d"

# glTF enums.
_FLOAT = 5126
_UNSIGNED_BYTE = 5121
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
    return surface_glb_bytes(surface_of(mesh), name=name)


def surface_glb_bytes(surface: Surface, name: str = "lift3d_mesh") -> bytes:
    """Encode a :class:`Surface` (glTF frame, metres) as binary glTF 2.0.

    Attributes written: ``POSITION``, then ``NORMAL``, ``TEXCOORD_0`` (with the texture
    as an embedded PNG) and ``COLOR_0`` (normalised unsigned bytes, RGBA, values as
    given: no sRGB-to-linear conversion, as trimesh writes them) when the surface has
    them. Without a texture the material is the base-colour factor alone.
    """
    validate_geometry(surface.vertices, surface.faces)
    positions = np.ascontiguousarray(surface.vertices, dtype="<f4")
    n = len(positions)
    if n <= 65535:
        index_dtype, index_type = "<u2", _UNSIGNED_SHORT
    else:
        index_dtype, index_type = "<u4", _UNSIGNED_INT
    indices = np.ascontiguousarray(surface.faces, dtype=np.int64).astype(index_dtype).ravel()

    buf = _BinaryBuffer()
    accessors: list[dict] = []
    attributes: dict[str, int] = {}

    def add_attribute(key: str, data: np.ndarray, gltf_type: str, **extra) -> None:
        view = buf.add(np.ascontiguousarray(data).tobytes(), _ARRAY_BUFFER)
        component = _UNSIGNED_BYTE if data.dtype == np.uint8 else _FLOAT
        accessors.append({"bufferView": view, "componentType": component, "count": n,
                          "type": gltf_type, **extra})
        attributes[key] = len(accessors) - 1

    add_attribute("POSITION", positions, "VEC3", min=positions.min(axis=0).tolist(),
                  max=positions.max(axis=0).tolist())
    if surface.normals is not None:
        add_attribute("NORMAL", np.asarray(unit_vectors(surface.normals), dtype="<f4"), "VEC3")
    png = None
    if surface.textured:
        uv = np.asarray(surface.uv, dtype=np.float64)
        add_attribute("TEXCOORD_0", np.stack([uv[:, 0], 1.0 - uv[:, 1]], axis=1).astype("<f4"),
                      "VEC2")
        png = png_bytes(image_u8(surface.texture, min(np.shape(surface.texture)[2], 4)))
    if surface.colors is not None:
        rgba = np.asarray(surface.colors, dtype=np.uint8)
        if rgba.shape[1] == 3:
            rgba = np.concatenate([rgba, np.full((n, 1), 255, np.uint8)], axis=1)
        add_attribute("COLOR_0", rgba, "VEC4", normalized=True)
    v_idx = buf.add(indices.tobytes(), _ELEMENT_ARRAY_BUFFER)
    accessors.append({"bufferView": v_idx, "componentType": index_type,
                      "count": int(indices.size), "type": "SCALAR"})

    mat = surface.material
    pbr: dict = {}
    if png is not None:
        pbr["baseColorTexture"] = {"index": 0, "texCoord": 0}
    pbr.update({
        "baseColorFactor": [float(c) for c in mat.base_color_factor],
        "metallicFactor": float(mat.metallic),
        "roughnessFactor": float(mat.roughness),
    })
    # Blend only where the pixels or colours carry alpha (a factor alone never did).
    translucent = (
        png is not None and np.shape(surface.texture)[2] == 4
        and bool((np.asarray(surface.texture)[..., 3] < 255).any())) or (
        surface.colors is not None and np.shape(surface.colors)[1] == 4
        and bool((np.asarray(surface.colors)[:, 3] < 255).any()))
    material = {"name": mat.name, "pbrMetallicRoughness": pbr, "doubleSided": False,
                "alphaMode": "BLEND" if translucent else "OPAQUE"}
    gltf: dict = {
        "asset": {"version": "2.0", "generator": GENERATOR},
        "scene": 0,
        "scenes": [{"name": name, "nodes": [0]}],
        "nodes": [{"name": name, "mesh": 0}],
        "meshes": [{
            "name": name,
            "primitives": [{
                "attributes": attributes,
                "indices": len(accessors) - 1,
                "material": 0,
                "mode": _TRIANGLES,
            }],
        }],
        "materials": [material],
    }
    if png is not None:
        v_img = buf.add(png)
        gltf["textures"] = [{"name": f"{mat.name}_basecolor", "sampler": 0, "source": 0}]
        gltf["samplers"] = [{"magFilter": _LINEAR, "minFilter": _LINEAR_MIPMAP_LINEAR,
                             "wrapS": _CLAMP_TO_EDGE, "wrapT": _CLAMP_TO_EDGE}]
        gltf["images"] = [{"name": f"{mat.name}_basecolor", "bufferView": v_img,
                           "mimeType": "image/png"}]
    gltf.update({"accessors": accessors, "bufferViews": buf.views,
                 "buffers": [{"byteLength": buf.length}]})

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
    return write_surface_glb(surface_of(mesh), path)


def write_surface_glb(surface: Surface, path: str | os.PathLike[str],
                      name: str | None = None) -> list[Path]:
    """Write a :class:`Surface` to ``path`` as binary glTF, atomically. Returns ``[path]``.

    ``name`` names the node and mesh (default: the file's stem).
    """
    path = Path(path)
    data = surface_glb_bytes(surface, name=safe_name(name or path.stem))
    atomic_write_bytes(path, data)
    logger.info("wrote %s (%d vertices, %d faces, %d bytes)",
                path, len(surface.vertices), len(surface.faces), len(data))
    return [path]
