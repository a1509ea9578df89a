"""Bake the photo into an atlas texture.

:func:`bake_projective` looks up, for every texel of an :class:`~lift3d.texture.atlas.Unwrap`,
the 3D point it shows (camera frame) and samples the photo where the camera sees that
point. Front and back of the object both project onto the same photo pixel: the back
shows the photo as if seen mirrored from behind, softened so it does not read as a
sharp duplicate, unless a back colour (the learned shape backend's prediction of the
unseen side) is given, which the back then shows instead. :func:`fill_empty` then
floods the gutters between charts (push-pull) so bilinear and mip-mapped sampling
never pull in black.
"""

from __future__ import annotations

import numpy as np

from ..mesh.geometry import vertex_normals
from ..types import Camera
from .atlas import Unwrap
from .raster import rasterize_uv

__all__ = ["inpaint_outside", "bake_projective", "fill_empty"]


def inpaint_outside(rgb: np.ndarray, alpha: np.ndarray, blur_px: float = 2.0) -> np.ndarray:
    """Replace background pixels (``alpha < 0.5``) by the nearest object pixel's colour,
    lightly blurred, so texels on the silhouette rim never sample the background.

    Args:
        rgb: ``(S, S, 3)`` float32 in ``[0, 1]``.
        alpha: ``(S, S)`` float32 in ``[0, 1]``.
        blur_px: Gaussian sigma, in pixels, of the blur applied to the filled region.

    Returns:
        ``(S, S, 3)`` float32; object pixels unchanged. Without any object pixel the
        input is returned as is.
    """
    import cv2
    from scipy.ndimage import distance_transform_edt

    rgb = np.asarray(rgb, dtype=np.float32)
    inside = np.asarray(alpha) >= 0.5
    if inside.all() or not inside.any():
        return rgb.copy()
    _, (ir, ic) = distance_transform_edt(~inside, return_indices=True)
    filled = rgb[ir, ic]
    if blur_px > 0:
        filled = cv2.GaussianBlur(filled, (0, 0), float(blur_px), borderType=cv2.BORDER_REPLICATE)
    out = np.where(inside[..., None], rgb, filled)
    return np.ascontiguousarray(out, dtype=np.float32)


def _scaled_camera(camera: Camera, width: int, height: int) -> Camera:
    """``camera`` for an image of ``width x height`` covering the same field of view."""
    if width == camera.width and height == camera.height:
        return camera
    sx = width / float(camera.width)
    sy = height / float(camera.height)
    return Camera(
        camera.model,
        camera.fx * sx,
        camera.fy * sy,
        (camera.cx + 0.5) * sx - 0.5,  # pixel centres at integers
        (camera.cy + 0.5) * sy - 0.5,
        int(width),
        int(height),
    )


def _back_view(rgb: np.ndarray, blur_sigma: float, desaturate: float) -> np.ndarray:
    """The photo as the back of the object shows it: softened and a little desaturated
    (not darkened)."""
    import cv2

    soft = cv2.GaussianBlur(rgb, (0, 0), float(blur_sigma), borderType=cv2.BORDER_REPLICATE)
    grey = soft @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return soft * (1.0 - desaturate) + grey[..., None] * desaturate


def bake_projective(
    unwrap: Unwrap,
    camera: Camera,
    image: np.ndarray,
    size: int,
    back_blur_px: float = 1.5,
    back_desaturate: float = 0.25,
    back_image: np.ndarray | None = None,
) -> np.ndarray:
    """Bake ``image`` into a ``size x size`` texture for ``unwrap`` by projection.

    Args:
        unwrap: the atlas; its vertices are in ``camera``'s frame.
        camera: the camera that took ``image`` (any resolution: the intrinsics are
            scaled to ``image``'s size).
        image: ``(H, W, 3)`` float32 in ``[0, 1]``, with the background already
            replaced (:func:`inpaint_outside`), at the camera's aspect ratio.
        size: texture side in texels.
        back_blur_px: Gaussian sigma, in pixels of the camera resolution, of the
            softening applied where the surface faces away from the camera.
        back_desaturate: how much of the colour to take out there (0 = none).
        back_image: optional ``(h, w, 3)`` float32 in ``[0, 1]``: the colour of the
            surface where each ray of the camera leaves the object (a shape network's
            back colour), background already replaced, at the camera's aspect ratio
            and any resolution. Texels facing away from the camera then take it,
            sampled at their projected pixel, instead of the softened photo.

    Returns:
        ``(size, size, 3)`` uint8 texture, row 0 at the top, every texel filled.
    """
    import cv2

    img = np.ascontiguousarray(np.asarray(image, dtype=np.float32)[..., :3])
    h, w = img.shape[:2]
    cam = _scaled_camera(camera, w, h)
    face_id, bary = rasterize_uv(unwrap.uv, unwrap.faces, size, dilate=1)
    covered = face_id >= 0
    if not covered.any():
        return fill_empty(np.zeros((size, size, 3), np.uint8), covered)

    rows, cols = np.nonzero(covered)
    fid = face_id[rows, cols].astype(np.int64)
    b = bary[rows, cols].astype(np.float64)
    f = np.asarray(unwrap.faces, dtype=np.int64)[fid]  # (N, 3)
    verts = np.asarray(unwrap.vertices, dtype=np.float64)
    pos = np.einsum("nk,nkj->nj", b, verts[f])
    vn = vertex_normals(unwrap.vertices, unwrap.faces, unwrap.welded_index)
    normals = np.einsum("nk,nkj->nj", b, vn[f])

    uvpix = cam.project(pos)
    map_x = np.full((size, size), -1.0, dtype=np.float32)
    map_y = np.full((size, size), -1.0, dtype=np.float32)
    map_x[rows, cols] = uvpix[:, 0]
    map_y[rows, cols] = uvpix[:, 1]

    front = cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if back_image is None:
        scale = 0.5 * (w / float(camera.width) + h / float(camera.height))
        back_img = _back_view(img, max(back_blur_px * scale, 1e-3), back_desaturate)
        back = cv2.remap(back_img, map_x, map_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    else:
        bimg = np.ascontiguousarray(np.asarray(back_image, dtype=np.float32)[..., :3])
        bcam = _scaled_camera(camera, bimg.shape[1], bimg.shape[0])
        bpix = bcam.project(pos)
        bmap_x = np.full((size, size), -1.0, dtype=np.float32)
        bmap_y = np.full((size, size), -1.0, dtype=np.float32)
        bmap_x[rows, cols] = bpix[:, 0]
        bmap_y[rows, cols] = bpix[:, 1]
        back = cv2.remap(bimg, bmap_x, bmap_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)

    # Facing: n . d, with d the viewing ray (camera -> point). > 0 faces away.
    if cam.model == "orthographic":
        view = np.broadcast_to(np.array([0.0, 0.0, 1.0]), pos.shape)
    else:
        view = pos / np.maximum(np.linalg.norm(pos, axis=1, keepdims=True), 1e-12)
    facing = np.einsum("nj,nj->n", normals, view)
    # Smooth switch over the silhouette rim, by the normal's angle to the view, so the
    # front photo and the back colour meet without a visible line.
    t = np.clip((facing + 0.05) / 0.25, 0.0, 1.0)
    wb = (t * t * (3.0 - 2.0 * t)).astype(np.float32)

    col = front[rows, cols] * (1.0 - wb[:, None]) + back[rows, cols] * wb[:, None]
    tex = np.zeros((size, size, 3), dtype=np.uint8)
    tex[rows, cols] = np.clip(np.round(col * 255.0), 0, 255).astype(np.uint8)
    return fill_empty(tex, covered)


def fill_empty(texture: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Fill every uncovered texel by push-pull: average the covered texels down a mip
    pyramid, then pull the averages back up into the holes (smoothly, bilinearly).

    Covered texels keep their value; gutters take the colours of the charts around
    them, so neither bilinear filtering nor coarse mip levels see black.

    Args:
        texture: ``(T, T, C)`` uint8 (any ``H x W`` works).
        covered: ``(T, T)`` bool, texels holding real colour.

    Returns:
        ``(T, T, C)`` uint8. All zero if nothing is covered.
    """
    import cv2

    tex = np.asarray(texture)
    cov = np.asarray(covered, dtype=bool)
    squeeze = tex.ndim == 2
    if squeeze:
        tex = tex[..., None]
    if cov.all():
        return tex[..., 0].copy() if squeeze else tex.copy()
    if not cov.any():
        return np.zeros_like(tex[..., 0] if squeeze else tex)

    col = tex.astype(np.float32) * cov[..., None]
    wgt = cov.astype(np.float32)
    # Pull: sums of colour and weight, halving the size until 1 texel.
    levels = [(col, wgt)]
    while max(col.shape[:2]) > 1:
        hh, ww = col.shape[:2]
        ph, pw = hh % 2, ww % 2
        if ph or pw:
            col = np.pad(col, ((0, ph), (0, pw), (0, 0)))
            wgt = np.pad(wgt, ((0, ph), (0, pw)))
        col = col[0::2, 0::2] + col[1::2, 0::2] + col[0::2, 1::2] + col[1::2, 1::2]
        wgt = wgt[0::2, 0::2] + wgt[1::2, 0::2] + wgt[0::2, 1::2] + wgt[1::2, 1::2]
        levels.append((col, wgt))

    # Push: from the coarsest level down, holes take the upsampled coarser colour.
    c, wl = levels[-1]
    filled = c / np.maximum(wl, 1e-12)[..., None]
    for c, wl in reversed(levels[:-1]):
        hh, ww = c.shape[:2]
        up = cv2.resize(filled, (filled.shape[1] * 2, filled.shape[0] * 2),
                        interpolation=cv2.INTER_LINEAR)
        if up.ndim == 2:
            up = up[..., None]
        up = up[:hh, :ww]
        mean = c / np.maximum(wl, 1e-12)[..., None]
        filled = np.where((wl > 0)[..., None], mean, up)
    out = np.where(cov[..., None], tex.astype(np.float32), filled)
    out = np.clip(np.round(out), 0, 255).astype(tex.dtype if tex.dtype == np.uint8 else np.uint8)
    return out[..., 0] if squeeze else out
