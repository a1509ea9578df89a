"""Helpers shared by the exporters: checks, texture encoding, welded colours."""

from __future__ import annotations

import io
import re

import numpy as np

from ..errors import InputError
from ..types import TexturedMesh


def validate(mesh: TexturedMesh) -> None:
    """Raise :class:`InputError` unless ``mesh``'s arrays agree in shape and range."""
    v = np.asarray(mesh.vertices)
    f = np.asarray(mesh.faces)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise InputError(f"export: vertices must be a non-empty (V, 3) array, got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
        raise InputError(f"export: faces must be a non-empty (F, 3) array, got {f.shape}")
    if f.min() < 0 or f.max() >= len(v):
        raise InputError(f"export: face indices must lie in [0, {len(v)}), "
                         f"got [{f.min()}, {f.max()}]")
    if not np.all(np.isfinite(v)):
        raise InputError("export: vertices contain NaN or infinity")
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


def texture_rgb8(mesh: TexturedMesh) -> np.ndarray:
    """The base-colour texture as a contiguous ``(H, W, 3)`` uint8 array, row 0 on top."""
    t = np.asarray(mesh.texture)[..., :3]
    if t.dtype != np.uint8:
        t = np.clip(np.round(np.asarray(t, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(t)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an ``(H, W, 3)`` uint8 image as PNG (row 0 at the top of the picture)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buf, format="PNG")
    return buf.getvalue()


def unit_normals(mesh: TexturedMesh) -> np.ndarray:
    """``(V, 3)`` float32 vertex normals renormalised; degenerate ones become +Y."""
    n = np.asarray(mesh.normals, dtype=np.float64)
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
