"""Render one shaded, textured view of a :class:`~lift3d.types.TexturedMesh` on the CPU.

The camera conventions are in :mod:`lift3d.render.camera`; the rasteriser in
:mod:`lift3d.render.raster`. Shading is deliberately simple and view-independent apart
from a mild rim term: ``colour = texture * base_colour * (ambient + diffuse * max(n.L, 0)
+ rim * (1 - max(n.V, 0))^3)``, with the key light fixed in *camera* space (upper front
left), so every view of a turntable is lit alike. The texture is treated as display
colour (no sRGB decoding): the preview shows the texels as they are stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import cv2
import numpy as np

from ..errors import InputError
from ..types import TexturedMesh
from .camera import OrbitCamera, bounding_sphere, orbit_camera
from .raster import rasterize

log = logging.getLogger(__name__)

#: Shading constants (see the module docstring).
AMBIENT: float = 0.45
DIFFUSE: float = 0.55
RIM: float = 0.12
#: Key light direction in the view frame (x right, y up, z towards the viewer).
KEY_LIGHT: np.ndarray = np.array([-0.45, 0.6, 0.66]) / np.linalg.norm([-0.45, 0.6, 0.66])
KEY_LIGHT.setflags(write=False)
#: Darkness at the centre of the soft ground shadow (0 = none, 1 = black).
SHADOW_STRENGTH: float = 0.22
#: Grey used when a mesh carries no usable texture.
_UNTEXTURED = np.array([[[200, 200, 200]]], dtype=np.uint8)


def _checked_arrays(mesh: TexturedMesh, func: str) -> dict[str, np.ndarray]:
    """Validate ``mesh`` and return its arrays as the renderer wants them.

    Returns a dict with ``vertices`` ``(V, 3)`` float64, ``faces`` ``(F, 3)`` int64,
    ``normals`` ``(V, 3)`` float32 (computed from the faces when absent or malformed),
    ``uv`` ``(V, 2)`` float32 and ``texture`` ``(T, T', 3)`` uint8.

    Raises:
        InputError: (a ``ValueError``) naming the argument ``mesh`` when it is empty,
            degenerate (all vertices in one point) or malformed.
    """
    if not isinstance(mesh, TexturedMesh):
        raise InputError(
            f"{func}: argument 'mesh' must be a TexturedMesh, got {type(mesh).__name__}"
        )
    v = np.asarray(mesh.vertices)
    f = np.asarray(mesh.faces)
    if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] == 0:
        raise InputError(f"{func}: argument 'mesh' has no vertices (mesh.vertices shape {v.shape})")
    if f.ndim != 2 or f.shape[1] != 3 or f.shape[0] == 0:
        raise InputError(f"{func}: argument 'mesh' has no faces (mesh.faces shape {f.shape})")
    v = v.astype(np.float64)
    f = f.astype(np.int64)
    if not np.isfinite(v).all():
        raise InputError(f"{func}: argument 'mesh' has non-finite vertices")
    if not (np.ptp(v, axis=0).max() > 1e-9):
        raise InputError(f"{func}: argument 'mesh' is degenerate: all its vertices coincide")
    if f.min() < 0 or f.max() >= v.shape[0]:
        raise InputError(
            f"{func}: argument 'mesh' has face indices outside [0, {v.shape[0]}) "
            f"(min {f.min()}, max {f.max()})"
        )

    n = None if mesh.normals is None else np.asarray(mesh.normals, dtype=np.float32)
    if n is None or n.shape != v.shape or not np.isfinite(n).all():
        log.warning("%s: mesh normals missing or malformed; computing them from faces", func)
        from ..mesh.geometry import vertex_normals

        n = vertex_normals(v, f)

    uv = None if mesh.uv is None else np.asarray(mesh.uv, dtype=np.float32)
    if uv is None or uv.shape != (v.shape[0], 2) or not np.isfinite(uv).all():
        log.warning("%s: mesh uv missing or malformed; rendering untextured", func)
        uv = np.full((v.shape[0], 2), 0.5, dtype=np.float32)
        tex = _UNTEXTURED
    else:
        tex = _texture_uint8(mesh.texture, func)
    factor = np.asarray(mesh.material.base_color_factor, dtype=np.float32)[:3]
    return {"vertices": v, "faces": f, "normals": n, "uv": uv, "texture": tex, "factor": factor}


def _texture_uint8(texture: np.ndarray | None, func: str) -> np.ndarray:
    """Any ``(H, W)``, ``(H, W, 1|3|4)`` uint8 or float-in-[0, 1] image as ``(H, W, 3)``
    contiguous uint8."""
    if texture is None:
        return _UNTEXTURED
    t = np.asarray(texture)
    if t.ndim == 2:
        t = t[..., None]
    if t.ndim != 3 or t.shape[0] == 0 or t.shape[1] == 0 or t.shape[2] not in (1, 3, 4):
        log.warning("%s: mesh texture has shape %s; rendering untextured", func, t.shape)
        return _UNTEXTURED
    if t.dtype != np.uint8:
        t = np.clip(np.asarray(t, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if t.shape[2] == 1:
        t = np.repeat(t, 3, axis=2)
    return np.ascontiguousarray(t[..., :3])


def _check_background(background: Sequence[float]) -> np.ndarray:
    bg = np.asarray(background, dtype=np.float32).reshape(-1)
    if bg.shape != (3,) or not np.isfinite(bg).all() or (bg < 0).any() or (bg > 1).any():
        raise InputError(
            f"argument 'background' must be three floats in [0, 1], got {background!r}"
        )
    return bg


def _check_size(size: int) -> int:
    if isinstance(size, bool) or int(size) != size or int(size) < 8:
        raise InputError(f"argument 'size' must be an integer >= 8, got {size!r}")
    return int(size)


def _ground_shadow(
    cam: OrbitCamera, vertices: np.ndarray, empty: np.ndarray, radius: float
) -> np.ndarray | None:
    """Soft elliptical contact shadow on the plane under the mesh.

    Args:
        cam: the render camera (image ``size x size``).
        vertices: ``(V, 3)`` float64 world positions.
        empty: ``(size*size,)`` bool, pixels the mesh does not cover.
        radius: bounding-sphere radius (metres).

    Returns:
        ``(M,)`` float32 multiplicative factors in ``(0, 1]`` for the ``empty`` pixels,
        in their flat order, or ``None`` when the ground is not seen from above.
    """
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    ground = lo[1]
    height = cam.position[1] - ground
    if height <= 1e-9 or not empty.any():
        return None
    half = 0.5 * (hi - lo)
    big = max(half[0], half[2], 1e-6)
    rx = 1.05 * max(half[0], 0.3 * big) + 0.03 * radius
    rz = 1.05 * max(half[2], 0.3 * big) + 0.03 * radius
    cx, cz = 0.5 * (lo[0] + hi[0]), 0.5 * (lo[2] + hi[2])

    idx = np.flatnonzero(empty)
    s = cam.size
    rays = cam.pixel_rays((idx % s).astype(np.float32), (idx // s).astype(np.float32))
    dy = rays[:, 1]
    hits = dy < -1e-6  # rays going down reach the ground in front of the camera
    t = np.where(hits, -height / np.where(hits, dy, -1.0), 0.0)
    gx = (cam.position[0] + t * rays[:, 0] - cx) / rx
    gz = (cam.position[2] + t * rays[:, 2] - cz) / rz
    d2 = gx * gx + gz * gz
    falloff = np.clip(1.0 - d2, 0.0, 1.0)
    falloff *= falloff
    falloff[~hits] = 0.0
    return (1.0 - SHADOW_STRENGTH * falloff).astype(np.float32)


def render_view(
    mesh: TexturedMesh,
    azimuth_deg: float,
    elevation_deg: float = 15.0,
    size: int = 384,
    background: Sequence[float] = (1.0, 1.0, 1.0),
    *,
    shadow: bool = True,
    double_sided: bool = False,
    supersample: int = 2,
) -> np.ndarray:
    """Render a shaded, textured view of ``mesh``.

    The camera orbits the bounding box's centre (see :mod:`lift3d.render.camera`):
    ``azimuth_deg = 0`` looks at the front (camera on +Z), ``90`` from +X, ``180`` at
    the back, ``270`` from -X; ``elevation_deg`` lifts the camera above the horizon.
    Perspective with a 30 degree field of view framing the bounding sphere, so all views
    of one mesh share a scale.

    Args:
        mesh: the textured mesh, glTF frame (see :class:`~lift3d.types.TexturedMesh`).
        azimuth_deg: camera azimuth, degrees, counter-clockwise about +Y seen from above.
        elevation_deg: camera elevation above the horizon, degrees.
        size: output width and height in pixels.
        background: RGB floats in ``[0, 1]``; pixels the mesh and its shadow do not
            touch get exactly ``round(255 * background)``.
        shadow: draw a soft elliptical contact shadow on the ground plane ``y = min y``.
        double_sided: rasterise back faces too (for open meshes or flipped windings);
            by default back faces are culled.
        supersample: render at ``supersample * size`` and downscale with area
            averaging (antialiasing); 1 disables it.

    Returns:
        ``(size, size, 3)`` uint8 RGB image, row 0 at the top.

    Raises:
        InputError: (a ``ValueError``) naming the bad argument: an empty or malformed
            ``mesh``, a ``size`` below 8, a ``background`` outside ``[0, 1]``, a
            non-finite angle.
    """
    t_start = time.perf_counter()
    arrays = _checked_arrays(mesh, "render_view")
    size = _check_size(size)
    bg = _check_background(background)
    for name, angle in (("azimuth_deg", azimuth_deg), ("elevation_deg", elevation_deg)):
        if not np.isfinite(float(angle)):
            raise InputError(f"argument {name!r} must be a finite number, got {angle!r}")
    ss = int(supersample)
    if ss < 1:
        raise InputError(f"argument 'supersample' must be >= 1, got {supersample!r}")
    s = size * ss

    v, f = arrays["vertices"], arrays["faces"]
    centre, radius = bounding_sphere(v)
    cam = orbit_camera(centre, radius, azimuth_deg, elevation_deg, s)
    xy, depth = cam.project(v)
    frags = rasterize(xy, depth, f, s, s, cull_backfaces=not double_sided, perspective=True)

    image = np.empty((s * s, 3), dtype=np.float32)
    image[:] = bg
    if shadow:
        empty = frags.face_id.reshape(-1) < 0
        factor = _ground_shadow(cam, v, empty, radius)
        if factor is not None:
            image[empty] *= factor[:, None]

    if frags.pixels.size:
        image[frags.pixels] = _shade(cam, arrays, frags.pixels, frags.faces, frags.bary,
                                     double_sided)

    img = image.reshape(s, s, 3)
    if ss > 1:
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    out = np.clip(img * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)
    log.debug(
        "render_view az=%.1f el=%.1f size=%d x%d: %d faces, %d px covered, %.3f s",
        azimuth_deg, elevation_deg, size, ss, f.shape[0], frags.pixels.size,
        time.perf_counter() - t_start,
    )
    return out


def _shade(
    cam: OrbitCamera,
    arrays: dict[str, np.ndarray],
    pixels: np.ndarray,
    faces: np.ndarray,
    bary: np.ndarray,
    double_sided: bool,
) -> np.ndarray:
    """Shaded colours ``(N, 3)`` float32 in ``[0, 1]`` of the covered pixels.

    Args:
        cam: the render camera.
        arrays: the output of :func:`_checked_arrays`.
        pixels: ``(N,)`` int64 flat pixel indices.
        faces: ``(N,)`` int32 face per pixel.
        bary: ``(N, 3)`` float32 perspective-correct barycentrics.
        double_sided: flip normals that face away from the viewer.
    """
    s = cam.size
    tri = arrays["faces"][faces]  # (N, 3)
    b0, b1, b2 = bary[:, 0:1], bary[:, 1:2], bary[:, 2:3]
    # One interpolation for uv and view-frame normals together: (V, 5) attributes.
    n_view = arrays["normals"] @ cam.rotation.T.astype(np.float32)
    attrs = np.concatenate([arrays["uv"], n_view], axis=1).astype(np.float32)
    interp = attrs[tri[:, 0]] * b0
    interp += attrs[tri[:, 1]] * b1
    interp += attrs[tri[:, 2]] * b2
    uv, n = interp[:, :2], interp[:, 2:]

    # Texture: bilinear lookup via cv2.remap over the full frame (uv origin
    # bottom-left, texture row 0 at the top; texel centres at +0.5).
    tex = arrays["texture"]
    th, tw = tex.shape[:2]
    map_x = np.full(s * s, -1.0, dtype=np.float32)
    map_y = np.full(s * s, -1.0, dtype=np.float32)
    map_x[pixels] = uv[:, 0] * tw - 0.5
    map_y[pixels] = (1.0 - uv[:, 1]) * th - 0.5
    sampled = cv2.remap(
        tex, map_x.reshape(s, s), map_y.reshape(s, s), interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    ).reshape(-1, 3)[pixels]
    albedo = sampled.astype(np.float32)
    albedo *= arrays["factor"] / 255.0

    # Shading in the view frame (x right, y up, z towards the viewer).
    nx, ny, nz = n[:, 0], n[:, 1], n[:, 2]
    inv_len = 1.0 / np.sqrt(np.maximum(nx * nx + ny * ny + nz * nz, 1e-24))
    nx, ny, nz = nx * inv_len, ny * inv_len, nz * inv_len
    # Direction to the eye per pixel, view frame: (-x, -y, 1) / |.| with (x, y) the
    # normalised image coordinates.
    ex = (cam.center - (pixels % s).astype(np.float32)) / np.float32(cam.focal)
    ey = ((pixels // s).astype(np.float32) - cam.center) / np.float32(cam.focal)
    n_dot_v = (nx * ex + ny * ey + nz) / np.sqrt(ex * ex + ey * ey + 1.0)
    if double_sided:
        sign = np.where(n_dot_v < 0, np.float32(-1.0), np.float32(1.0))
        nx, ny, nz = nx * sign, ny * sign, nz * sign
        n_dot_v = np.abs(n_dot_v)
    lx, ly, lz = (np.float32(c) for c in KEY_LIGHT)
    diffuse = np.maximum(nx * lx + ny * ly + nz * lz, 0.0)
    rim = 1.0 - np.minimum(np.maximum(n_dot_v, 0.0), 1.0)
    shade = AMBIENT + DIFFUSE * diffuse + RIM * rim * rim * rim
    albedo *= shade[:, None]
    return np.minimum(albedo, 1.0, out=albedo)
