"""Texture stage: UVs and a base-colour texture for the camera-frame mesh.

Modes (``Config.uv``):

* ``"projective"`` (default): UV = the vertex's pixel in the crop; the texture is
  the crop with object colours pushed past the silhouette. Seamless: one UV per
  vertex, so the welded mesh stays watertight in GLB, OBJ and USDZ.
* ``"atlas"``: charts by dominant normal axis, packed by xatlas, texture baked by
  projecting each texel into the photo; seams split vertices. Texels facing away
  from the camera show the back colour when the shape stage predicted one
  (``back_rgb``), else the softened photo.
* ``"xatlas"``: xatlas's own charts (slower), baked the same way.
* ``"two-sided"``: two projective charts in one texture, the photo for faces that
  face the camera and the back colour (or the softened photo) for the others
  (:mod:`.twosided`); vertices split only where the charts meet.
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


#: The texture modes :func:`texture_mesh` knows.
MODES: tuple[str, ...] = ("projective", "atlas", "xatlas", "two-sided")


def _back_colour(back_rgb: np.ndarray, crop: Crop) -> np.ndarray:
    """The back colour with the crop's background replaced by object colours."""
    from .bake import inpaint_outside

    b = np.asarray(back_rgb, dtype=np.float32)
    if b.ndim != 3 or b.shape[2] != 3 or b.shape[0] < 2 or b.shape[1] < 2:
        raise InputError(f"back_rgb: expected an (H, W, 3) colour image, got {b.shape}")
    if b.shape[0] != b.shape[1]:
        raise InputError(f"back_rgb: must cover the crop's square, got {b.shape[:2]}")
    alpha = crop.resized(b.shape[0]).alpha
    return inpaint_outside(np.clip(b, 0.0, 1.0), alpha)


def texture_mesh(mesh: Mesh, crop: Crop, camera: Camera, size: int = 1024,
                 mode: str = "projective", back_rgb: np.ndarray | None = None) -> Texturing:
    """UV-map ``mesh`` (camera frame) and make its base-colour texture from ``crop``.

    Args:
        mesh: closed mesh in ``camera``'s frame.
        crop: the object crop at any resolution; the camera's image spans the crop.
        camera: the camera of the layered depth the mesh came from.
        size: texture side in pixels.
        mode: one of :data:`MODES`.
        back_rgb: optional ``(R, R, 3)`` float32 sRGB in ``[0, 1]`` over the crop's
            square (:attr:`lift3d.types.LayeredDepth.back_rgb`): the colour where each
            ray leaves the object. Used by ``"atlas"``, ``"xatlas"`` and
            ``"two-sided"``; ``"projective"`` has one uv per vertex and so shows the
            photo on the back whatever is given.
    """
    from .bake import inpaint_outside

    if mode not in MODES:
        raise InputError(f"uv: unknown mode {mode!r}; use {', '.join(MODES)}")
    image = crop.resized(size) if mode == "projective" else crop
    colour = inpaint_outside(image.rgb, image.alpha)
    if mode == "projective":
        uv = projective_uv(mesh, camera)
        tex = (np.clip(colour, 0, 1) * 255.0 + 0.5).astype(np.uint8)
        return Texturing(np.asarray(mesh.vertices), np.asarray(mesh.faces), uv, tex, None)
    back = _back_colour(back_rgb, crop) if back_rgb is not None else None
    if mode == "two-sided":
        from .bake import _back_view
        from .twosided import bake_two_sided, two_sided_charts

        charts = two_sided_charts(mesh, camera, size)
        if back is None:
            # No predicted back: the softened photo, as the atlas modes show it.
            back = _back_view(colour, 1.5 * colour.shape[0] / camera.width, 0.25)
        tex = bake_two_sided(charts, colour, back)
        return Texturing(charts.vertices, charts.faces, charts.uv, tex, charts.welded_index)
    from .atlas import unwrap_box, unwrap_xatlas
    from .bake import bake_projective

    unwrap = (unwrap_box if mode == "atlas" else unwrap_xatlas)(mesh, resolution=size)
    tex = bake_projective(unwrap, camera, colour, size, back_image=back)
    return Texturing(unwrap.vertices, unwrap.faces, unwrap.uv, tex, unwrap.welded_index)


__all__ = ["MODES", "Texturing", "projective_uv", "texture_mesh"]
