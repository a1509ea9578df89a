"""Texture stage: UVs and a base-colour texture for the camera-frame mesh.

Modes (``Config.uv``):

* ``"projective"`` (default): UV = the vertex's pixel in the crop; the texture is
  the crop with object colours pushed past the silhouette. Seamless: one UV per
  vertex, so the welded mesh stays watertight in GLB, OBJ and USDZ.
* ``"atlas"``: charts by dominant normal axis, packed by xatlas, texture baked by
  projecting each texel into the photo; seams split vertices.
* ``"xatlas"``: xatlas's own charts (slower), baked the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..types import Camera, Crop, Mesh
from .projective import projective_uv


@dataclass(frozen=True)
class Texturing:
    """The texture stage's output, still in the camera frame.

    Attributes:
        vertices: ``(V, 3)`` float64 camera-frame positions (seam-split copies for
            atlas modes; the input vertices for projective).
        faces: ``(F, 3)`` int64.
        uv: ``(V, 2)`` float32 in ``[0, 1]``, origin bottom-left.
        texture: ``(T, T, 3)`` uint8 sRGB, row 0 at the top.
        welded_index: ``(V,)`` int64 index into the input mesh's vertices, or
            ``None`` when vertices were not split.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    texture: np.ndarray
    welded_index: np.ndarray | None


def texture_mesh(mesh: Mesh, crop: Crop, camera: Camera, size: int = 1024,
                 mode: str = "projective") -> Texturing:
    """UV-map ``mesh`` (camera frame) and make its base-colour texture from ``crop``.

    Args:
        mesh: closed mesh in ``camera``'s frame.
        crop: the object crop at any resolution; the camera's image spans the crop.
        camera: the camera of the layered depth the mesh came from.
        size: texture side in pixels.
        mode: ``"projective"``, ``"atlas"`` or ``"xatlas"``.
    """
    from .bake import inpaint_outside

    image = crop.resized(size) if mode == "projective" else crop
    colour = inpaint_outside(image.rgb, image.alpha)
    if mode == "projective":
        uv = projective_uv(mesh, camera)
        tex = (np.clip(colour, 0, 1) * 255.0 + 0.5).astype(np.uint8)
        return Texturing(np.asarray(mesh.vertices), np.asarray(mesh.faces), uv, tex, None)
    if mode in ("atlas", "xatlas"):
        from .atlas import unwrap_box, unwrap_xatlas
        from .bake import bake_projective

        unwrap = (unwrap_box if mode == "atlas" else unwrap_xatlas)(mesh, resolution=size)
        tex = bake_projective(unwrap, camera, colour, size)
        return Texturing(unwrap.vertices, unwrap.faces, unwrap.uv, tex, unwrap.welded_index)
    raise InputError(f"uv: unknown mode {mode!r}; use projective, atlas or xatlas")


__all__ = ["Texturing", "projective_uv", "texture_mesh"]
