"""Helpers shared by the exporters: checks, texture encoding, welded colours, and the
:class:`Surface` every format writer encodes (from a :class:`TexturedMesh` or a
:class:`~lift3d.types.MeshAsset`)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..types import Material, TexturedMesh


@dataclass(frozen=True)
class Surface:
    """What a format writer encodes: geometry plus optional per-vertex attributes.

    Attributes:
        vertices: ``(V, 3)`` positions, written as they are (the caller has converted
            units and axes already).
        faces: ``(F, 3)`` int vertex indices, counter-clockwise from outside.
        normals: ``(V, 3)`` vertex normals (writers renormalise them), or None (readers then
            compute their own).
        uv: ``(V, 2)`` float32 texture coordinates, origin bottom-left, or None.
        texture: ``(H, W, 3|4)`` uint8 base colour, row 0 on top, or None.
        colors: ``(V, 3|4)`` uint8 per-vertex colours, or None.
        material: PBR constants (multiplied with the texture or colours).
        comment: one line saying the frame and unit, for the formats that have comments.
    """

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray | None = None
    uv: np.ndarray | None = None
    texture: np.ndarray | None = None
    colors: np.ndarray | None = None
    material: Material = field(default_factory=Material)
    comment: str = "lift3d export: metres, +Y up, front towards +Z"

    @property
    def textured(self) -> bool:
        return self.uv is not None and self.texture is not None


def surface_of(mesh: TexturedMesh) -> Surface:
    """The full :class:`Surface` of a textured mesh (seam-split vertices as they are)."""
    validate(mesh)
    return Surface(vertices=np.asarray(mesh.vertices), faces=np.asarray(mesh.faces),
                   normals=np.asarray(mesh.normals), uv=np.asarray(mesh.uv),
                   texture=texture_rgb8(mesh), material=mesh.material)


def welded_surface_of(mesh: TexturedMesh) -> Surface:
    """The welded geometry of a textured mesh with its texture sampled per vertex."""
    validate(mesh)
    welded = mesh.welded()
    return Surface(vertices=welded.vertices, faces=welded.faces,
                   colors=welded_vertex_colors(mesh), material=mesh.material)


def validate_geometry(vertices: np.ndarray, faces: np.ndarray) -> None:
    """Raise :class:`InputError` unless the arrays are a non-empty, finite, in-range mesh."""
    v = np.asarray(vertices)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise InputError(f"export: vertices must be a non-empty (V, 3) array, got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
        raise InputError(f"export: faces must be a non-empty (F, 3) array, got {f.shape}")
    if f.min() < 0 or f.max() >= len(v):
        raise InputError(f"export: face indices must lie in [0, {len(v)}), "
                         f"got [{f.min()}, {f.max()}]")
    if not np.all(np.isfinite(v)):
        raise InputError("export: vertices contain NaN or infinity")


def validate(mesh: TexturedMesh) -> None:
    """Raise :class:`InputError` unless ``mesh``'s arrays agree in shape and range."""
    validate_geometry(mesh.vertices, mesh.faces)
    v = np.asarray(mesh.vertices)
    for name, width in (("normals", 3), ("uv", 2)):
        a = np.asarray(getattr(mesh, name))
        if a.shape != (len(v), width):
            raise InputError(f"export: {name} must be ({len(v)}, {width}), got {a.shape}")
    t = np.asarray(mesh.texture)
    if t.ndim != 3 or t.shape[2] not in (3, 4) or t.shape[0] == 0 or t.shape[1] == 0:
        raise InputError(f"export: texture must be an (H, W, 3) image, got {t.shape}")
    if mesh.welded_index is not None and np.asarray(mesh.welded_index).shape != (len(v),):
        raise InputError(f"export: welded_index must be ({len(v)},), "
                         f"got {np.asarray(mesh.welded_index).shape}")


def image_u8(image: np.ndarray, channels: int = 3) -> np.ndarray:
    """An image as a contiguous ``(H, W, channels)`` uint8 array (floats in [0, 1] are
    scaled; RGB gets an opaque alpha when 4 channels are asked for), row 0 on top."""
    t = np.asarray(image)
    if t.dtype != np.uint8:
        t = np.clip(np.round(np.asarray(t, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    if t.ndim == 2:
        t = np.repeat(t[..., None], 3, axis=2)
    if channels == 4 and t.shape[2] == 3:
        t = np.concatenate([t, np.full(t.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return np.ascontiguousarray(t[..., :channels])


def texture_rgb8(mesh: TexturedMesh) -> np.ndarray:
    """The base-colour texture as a contiguous ``(H, W, 3)`` uint8 array, row 0 on top."""
    return image_u8(mesh.texture, 3)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an ``(H, W, 3|4)`` uint8 image as PNG (row 0 at the top of the picture)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def texels_at(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """The nearest texels of ``image`` (row 0 on top) at bottom-left-origin ``uv``.

    Args:
        image: ``(H, W, C)`` array.
        uv: ``(N, 2)`` coordinates; outside ``[0, 1]`` they clamp to the border.

    Returns:
        ``(N, C)`` values of ``image``'s dtype.
    """
    t = np.asarray(image)
    uv = np.asarray(uv, dtype=np.float64)
    h, w = t.shape[:2]
    x = np.clip(np.round(uv[:, 0] * w - 0.5), 0, w - 1).astype(np.int64)
    y = np.clip(np.round((1.0 - uv[:, 1]) * h - 0.5), 0, h - 1).astype(np.int64)
    return t[y, x]


def unit_normals(mesh: TexturedMesh) -> np.ndarray:
    """``(V, 3)`` float32 vertex normals renormalised; degenerate ones become +Y."""
    return unit_vectors(mesh.normals)


def unit_vectors(normals: np.ndarray) -> np.ndarray:
    """``(V, 3)`` float32 rows renormalised; zero or non-finite rows become +Y."""
    n = np.asarray(normals, dtype=np.float64)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    bad = ~np.isfinite(length[:, 0]) | (length[:, 0] < 1e-12)
    n = np.where(bad[:, None], 0.0, n / np.where(bad[:, None], 1.0, length))
    n[bad] = (0.0, 1.0, 0.0)
    return n.astype(np.float32)


def welded_vertex_colors(mesh: TexturedMesh) -> np.ndarray:
    """``(Vw, 3)`` uint8 colours of the welded vertices of :meth:`TexturedMesh.welded`.

    Seam copies of one welded vertex (``welded_index``) get their colours averaged.
    """
    colors = np.asarray(mesh.vertex_colors())
    if mesh.welded_index is None:
        return colors.astype(np.uint8)
    idx = np.asarray(mesh.welded_index, dtype=np.int64)
    n = int(mesh.welded_vertex_count or (idx.max() + 1))
    total = np.zeros((n, 3))
    count = np.zeros(n)
    np.add.at(total, idx, colors.astype(np.float64))
    np.add.at(count, idx, 1.0)
    mean = total / np.maximum(count, 1.0)[:, None]
    return np.clip(np.round(mean), 0, 255).astype(np.uint8)


def safe_name(text: str, default: str = "lift3d_mesh") -> str:
    """An identifier made of ``[A-Za-z0-9_]`` not starting with a digit (USD prim rules)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_")
    if not name:
        return default
    if name[0].isdigit():
        name = "_" + name
    return name
