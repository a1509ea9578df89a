"""Texture a reconstructed mesh from its registered photos: ``lift3d photos``' last stage.

:func:`bake_views` gives the mesh a fresh UV atlas and fills it from the photos.

The atlas (:func:`unwrap_views`, the default) is made of *view-projection charts*, as
photogrammetry texturers (mvs-texturing, OpenMVS) make them: each face is labelled
with the view that sees it best, labels are smoothed over the surface so charts are
large even on a noisy reconstruction, and each chart is laid out as its projection
into its photo (texel density follows the photo; no face is flattened wrongly), the
charts packed with one uniform scale. The geometric unwrappers of
:func:`lift3d.quality.bake.unwrap` (``"auto"``, ``"xatlas"``, ``"box"``) remain
available. Then:

1. every texel of the atlas finds its 3-D point and normal on the surface;
2. each view rasterises the mesh into a z-buffer (at most :data:`DEPTH_MAX_SIDE`
   pixels on the long side) and sees a texel when the texel projects into its image,
   agrees with its z-buffer (no occluder in front) and faces it (tested per texel
   only on faces a view sees in part: faces it sees whole take their corners'
   scores, interpolated);
3. each (texel, view) gets a score, ``cos(normal, direction to camera) * focal / depth``
   (the image's resolution on the surface, in pixels per unit length); a texel keeps
   its best ``max_views_per_texel`` views scoring at least :data:`KEEP_FRACTION` of its
   best, blended with weights ``score ** 4`` (sharp, yet seams fade over a few texels
   rather than jump; the blend does not depend on the charts, so chart seams do not
   show);
4. photos differ in exposure and white balance: a gain per view and channel, solved in
   linear light by robust least squares on texels several views share
   (:func:`solve_gains`), brings them to a common level before blending;
5. texels no view sees take their neighbours' colours (push-pull, as
   :func:`lift3d.texture.bake.fill_empty`), as the gutters between charts do.

Frames follow :mod:`lift3d.conventions` (OpenCV cameras, pixel centres at integers,
z-depth; uv origin bottom-left, texture row 0 at the top). Colours are blended in
linear light and stored sRGB.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import InputError
from ..mesh.geometry import vertex_normals
from ..quality.bake import (
    DILATE_PX,
    check_mesh_arrays,
    check_texture_size,
    padding_for,
    unwrap,
)
from ..render.raster import rasterize
from ..texture.atlas import Unwrap
from ..types import Mesh, TexturedMesh
from .types import View

__all__ = ["TextureReport", "TextureUnwrap", "bake_views", "solve_gains", "unwrap_views"]

log = logging.getLogger(__name__)

#: Atlas makers :func:`bake_views` accepts: ``"views"`` (:func:`unwrap_views`) or one of
#: :func:`lift3d.quality.bake.unwrap`'s methods.
TextureUnwrap = Literal["views", "auto", "xatlas", "box"]

#: Long side, in pixels, of the z-buffers that decide visibility (photos are sampled at
#: full resolution; visibility does not need it and costs ~ pixels).
DEPTH_MAX_SIDE = 1024
#: A texel must project this many pixels inside a photo's border to be seen in it
#: (bilinear sampling then never reads past the edge).
IMAGE_MARGIN_PX = 2.0
#: Smallest cosine between the surface's face normal and the direction to the camera
#: for a view to see it: grazing views show smeared, foreshortened texture.
MIN_COS = 0.1
#: A texel blends the views scoring at least this fraction of its best view's score.
KEEP_FRACTION = 0.5
#: Exponent of the blend weights ``score ** BLEND_POWER``.
BLEND_POWER = 4.0
#: Texels sampled to solve the colour-balance gains.
BALANCE_SAMPLES = 50_000
#: Regularisation of the log gains towards 0, relative to the mean number of
#: constraints per view (1% shrinkage: keeps views with little overlap near 1).
BALANCE_LAMBDA = 0.01
#: Samples darker (linear, any channel) or brighter (any channel) than these take no
#: part in the balance: noise dominates the first, clipping the second.
BALANCE_DARK, BALANCE_SATURATED = 0.005, 0.9
#: Scale, in log units, of the robust (Cauchy) weights of the balance's residuals:
#: disagreements far above it (speculars, occlusion errors) count little.
BALANCE_ROBUST_SCALE = 0.15
#: Gains are clamped to ``[1 / GAIN_LIMIT, GAIN_LIMIT]``.
GAIN_LIMIT = 4.0
#: Texels processed together when scoring views: bounds memory to ~100 B per texel.
CHUNK_TEXELS = 1 << 18


@dataclass(frozen=True)
class TextureReport:
    """What :func:`bake_views` did.

    Attributes:
        views_used: views that contributed to at least one texel.
        texel_coverage: fraction in ``[0, 1]`` of chart texels seen by at least one view
            (the rest were filled from their neighbours).
        gains: ``(n_views, 3)`` float64 colour-balance gains applied to each view's
            linear RGB (all 1 when ``balance=False``); their log has mean 0 per channel.
        seconds: wall time of the bake.
    """

    views_used: int
    texel_coverage: float
    gains: np.ndarray
    seconds: float


@dataclass(frozen=True)
class _DepthMap:
    """A view's z-buffer: ``depth`` ``(h, w)`` float32 z-depth (inf where empty) for the
    view ``view`` (the photo's view scaled to ``w x h``); ``cam`` ``(V, 3)`` float32:
    the mesh's vertices in the camera frame (kept: the view charts reuse them)."""

    view: View
    depth: np.ndarray
    cam: np.ndarray


@dataclass(frozen=True)
class _Texels:
    """The atlas texels that show the surface, as float32 rows (``(3, N)``: one
    contiguous row per axis, so the per-view projections are single small matmuls).

    Attributes:
        origin: ``(3,)`` float64 world point the positions are relative to (float32
            keeps sub-micron precision on an object however far the SfM origin is).
        points: ``(3, N)`` float32 positions minus ``origin``.
        normals: ``(3, N)`` float32 unit interpolated (smooth) normals.
        face_normals: ``(3, N)`` float32 unit normals of each texel's face.
    """

    origin: np.ndarray
    points: np.ndarray
    normals: np.ndarray
    face_normals: np.ndarray

    def subset(self, idx) -> _Texels:
        return _Texels(self.origin, np.ascontiguousarray(self.points[:, idx]),
                       np.ascontiguousarray(self.normals[:, idx]),
                       np.ascontiguousarray(self.face_normals[:, idx]))


@dataclass(frozen=True)
class _Surface:
    """Where the atlas texels lie on the surface; builds :class:`_Texels` (with their
    normals) only for the texels that need them.

    Attributes:
        origin: ``(3,)`` float64, as :attr:`_Texels.origin`.
        points: ``(3, N)`` float32 texel positions minus ``origin``.
        face: ``(N,)`` int64 face of each texel.
        bary: ``(N, 3)`` float32 barycentrics of each texel in its face.
        corners: ``(N, 3)`` int64 (welded) vertices of each texel's face.
        vertex_normals: ``(3, V)`` float32 unit smooth normals (0 where undefined).
        face_normals: ``(3, F)`` float32 unit face normals.
    """

    origin: np.ndarray
    points: np.ndarray
    face: np.ndarray
    bary: np.ndarray
    corners: np.ndarray
    vertex_normals: np.ndarray
    face_normals: np.ndarray

    def take(self, idx) -> _Texels:
        """The texels ``idx`` (a slice or index array) with their normals."""
        b = self.bary[idx]
        c = self.corners[idx]
        normals = np.zeros((3, len(b)), dtype=np.float32)
        for k in range(3):
            normals += self.vertex_normals.take(c[:, k], axis=1) * b[:, k]
        fn = self.face_normals.take(self.face[idx], axis=1)
        norm = np.sqrt(np.einsum("jn,jn->n", normals, normals))
        # Where the smooth normals cancel (a sharp fold), the face's own normal stands in.
        normals = np.where(norm > 1e-3, normals / np.maximum(norm, 1e-30), fn)
        return _Texels(self.origin, np.ascontiguousarray(self.points[:, idx]),
                       normals.astype(np.float32), fn)


def _pose32(view: View, origin: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``view``'s rotation ``(3, 3)``, translation ``(3, 1)`` and centre ``(3, 1)``,
    float32, for points relative to ``origin``."""
    t = view.R @ origin + view.t
    c = view.center - origin
    return (view.R.astype(np.float32), t.astype(np.float32)[:, None],
            c.astype(np.float32)[:, None])


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float32)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(np.asarray(c, dtype=np.float32), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92,
                    1.055 * np.power(c, 1.0 / 2.4) - 0.055).astype(np.float32)


_U8_TO_LINEAR = _srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0)
#: Linear light in 1/65535 steps to 8-bit sRGB (an 8-bit level is >= 20 steps wide).
_LINEAR16_TO_U8 = np.round(_linear_to_srgb(np.arange(65536, dtype=np.float32) / 65535.0)
                           * 255.0).astype(np.uint8)


def _linear_to_srgb_u8(c: np.ndarray) -> np.ndarray:
    """Linear RGB (any shape, clipped to ``[0, 1]``) to uint8 sRGB, by table."""
    idx = np.clip(np.asarray(c, dtype=np.float32) * np.float32(65535.0) + np.float32(0.5),
                  0.0, 65535.0).astype(np.uint16)
    return _LINEAR16_TO_U8[idx]


def _linear_image(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 or float sRGB photo to float32 linear RGB."""
    if image.dtype == np.uint8:
        return _U8_TO_LINEAR[image]  # a table lookup: ~10x faster than the power law
    return _srgb_to_linear(np.clip(image, 0.0, 1.0))


# --------------------------------------------------------------------------- checks


def _check_views(views: Sequence[View]) -> None:
    if isinstance(views, View) or not isinstance(views, Sequence) or len(views) == 0:
        raise InputError("views: must be a non-empty sequence of View")
    for i, view in enumerate(views):
        if not isinstance(view, View):
            raise InputError(f"views[{i}]: must be a View, got {type(view).__name__}")


def _check_tolerances(depth_tolerance: float, depth_tolerance_abs: float) -> None:
    for name, value in (("depth_tolerance", depth_tolerance),
                        ("depth_tolerance_abs", depth_tolerance_abs)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not (np.isfinite(value) and value >= 0):
            raise InputError(f"{name}: must be a finite number >= 0, got {value!r}")


def _check_inputs(mesh: Mesh, views: Sequence[View], images: Sequence[np.ndarray],
                  unwrap_method: str, max_views_per_texel: int, depth_tolerance: float,
                  depth_tolerance_abs: float, progress) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(mesh, Mesh):
        raise InputError(f"mesh: must be a lift3d.types.Mesh, got {type(mesh).__name__}")
    v, f = check_mesh_arrays(mesh.vertices, mesh.faces, "mesh.vertices", "mesh.faces")
    _check_views(views)
    if isinstance(images, np.ndarray) and images.ndim == 3:
        raise InputError("images: must be a sequence of (H, W, 3) images, got one image")
    if len(images) != len(views):
        raise InputError(f"images: got {len(images)} images for {len(views)} views")
    for i, (view, img) in enumerate(zip(views, images, strict=True)):
        if not isinstance(img, np.ndarray):
            raise InputError(f"images[{i}]: must be a numpy array, got {type(img).__name__}")
        if img.ndim != 3 or img.shape[2] != 3:
            raise InputError(f"images[{i}]: must be (H, W, 3) RGB, got {img.shape}")
        if img.dtype != np.uint8 and not np.issubdtype(img.dtype, np.floating):
            raise InputError(f"images[{i}]: must be uint8 or float in [0, 1], got {img.dtype}")
        if img.shape[:2] != (view.height, view.width):
            raise InputError(f"images[{i}]: is {img.shape[1]}x{img.shape[0]} but views[{i}] "
                             f"({view.name}) is {view.width}x{view.height}")
        if img.dtype != np.uint8 and not np.isfinite(img).all():
            raise InputError(f"images[{i}]: holds NaN or infinite values")
    if unwrap_method not in ("views", "auto", "xatlas", "box"):
        raise InputError(f"unwrap_method: must be 'views', 'auto', 'xatlas' or 'box', "
                         f"got {unwrap_method!r}")
    if isinstance(max_views_per_texel, bool) or not isinstance(
            max_views_per_texel, (int, np.integer)) or max_views_per_texel < 1:
        raise InputError(f"max_views_per_texel: must be a positive integer, "
                         f"got {max_views_per_texel!r}")
    _check_tolerances(depth_tolerance, depth_tolerance_abs)
    if progress is not None and not callable(progress):
        raise InputError(f"progress: must be callable or None, got {type(progress).__name__}")
    return v, f


# ----------------------------------------------------------------------- visibility


def _depth_map(view: View, vertices: np.ndarray, faces: np.ndarray) -> _DepthMap:
    """The z-buffer of ``view`` (scaled to at most :data:`DEPTH_MAX_SIDE`)."""
    s = min(1.0, DEPTH_MAX_SIDE / max(view.width, view.height))
    w, h = max(1, round(view.width * s)), max(1, round(view.height * s))
    small = view.scaled(w, h) if (w, h) != (view.width, view.height) else view
    cam = view.to_cam(vertices)
    xy, z = _pixels(small, cam)
    # Vertices behind the camera have no pixel; the rasteriser drops their faces by
    # depth, the placeholder only keeps its arithmetic finite.
    xy = np.nan_to_num(xy, nan=0.0)
    # Both sides: an open mesh's back faces hide what is behind them too.
    frags = rasterize(xy, z, faces, w, h, cull_backfaces=False)
    depth = np.full(w * h, np.inf, dtype=np.float32)
    if frags.pixels.size:
        zf = z[faces[frags.faces]]  # (N, 3)
        # Perspective-correct barycentrics interpolate camera-space z linearly.
        depth[frags.pixels] = np.einsum("nk,nk->n", frags.bary.astype(np.float64), zf)
    return _DepthMap(small, depth.reshape(h, w), cam.astype(np.float32))


def _pixels(view: View, cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame points ``cam`` ``(n, 3)`` to ``view``'s pixels: ``(xy (n, 2)
    float64, NaN behind the camera; z (n,) float64)``."""
    cam = np.asarray(cam, dtype=np.float64)
    z = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = cam[:, :2] / z[:, None] * np.diag(view.K)[:2] + view.K[:2, 2]
    xy[z <= 0] = np.nan
    return xy, z


def _view_scores(view: View, dmap: _DepthMap, texels: _Texels, depth_tolerance: float,
                 depth_tolerance_abs: float) -> np.ndarray:
    """``(n,)`` float32 score of ``view`` for every texel of ``texels``: 0 where not
    seen, else ``cos * focal / z`` (pixels of the photo per unit length of surface)."""
    R, t, c = _pose32(view, texels.origin)
    p = texels.points
    n = p.shape[1]
    score = np.zeros(n, dtype=np.float32)
    pc = R @ p + t  # (3, n) camera frame
    z = pc[2]
    to_cam = c - p
    dist = np.sqrt(np.einsum("jn,jn->n", to_cam, to_cam))
    cos_face = np.einsum("jn,jn->n", texels.face_normals, to_cam) / np.maximum(dist, 1e-30)
    K = view.K
    with np.errstate(divide="ignore", invalid="ignore"):
        u = pc[0] / z * np.float32(K[0, 0]) + np.float32(K[0, 2])
        v = pc[1] / z * np.float32(K[1, 1]) + np.float32(K[1, 2])
    m = IMAGE_MARGIN_PX
    cand = np.flatnonzero((cos_face > MIN_COS) & (z > 1e-9) & (u >= m)
                          & (u <= view.width - 1 - m) & (v >= m) & (v <= view.height - 1 - m))
    if not cand.size:
        return score
    u, v, z, cf = u[cand], v[cand], z[cand], cos_face[cand]

    # Depth test against the four z-buffer pixels around the texel's projection: seen
    # when one of them holds this surface and none holds something in front of it. The
    # tolerance grows with depth (reconstruction noise), with the buffer's footprint
    # and with the surface's slope (the buffer is sampled a pixel or so away).
    small, depth = dmap.view, dmap.depth
    h, w = depth.shape
    sx, sy = small.width / view.width, small.height / view.height
    us, vs = (u + 0.5) * np.float32(sx) - 0.5, (v + 0.5) * np.float32(sy) - 0.5
    cf = np.clip(cf, MIN_COS, 1.0)
    footprint = z / np.float32(small.K[0, 0])
    tol = np.float32(depth_tolerance) * z + np.float32(depth_tolerance_abs) + footprint * (
        2.0 + np.sqrt(1.0 - cf * cf) / cf)
    x0 = np.clip(us.astype(np.int32), 0, w - 1)  # us >= -0.5: truncation is floor here
    y0 = np.clip(vs.astype(np.int32), 0, h - 1)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    match = np.zeros(cand.size, dtype=bool)
    hidden = np.zeros(cand.size, dtype=bool)
    for yy, xx in ((y0, x0), (y0, x1), (y1, x0), (y1, x1)):
        d = depth[yy, xx]
        match |= np.abs(d - z) <= tol
        hidden |= d < z - tol
    seen = match & ~hidden
    cand, z = cand[seen], z[seen]

    # Resolution on the surface: the smooth normal's cosine (so weights vary smoothly
    # across faces), never below the cut-off the face normal passed.
    cos_s = np.einsum("jn,jn->n", texels.normals[:, cand], to_cam[:, cand]) / dist[cand]
    focal = 0.5 * (K[0, 0] + K[1, 1])
    score[cand] = np.maximum(cos_s, MIN_COS) * np.float32(focal) / z
    return score


def _select(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` views per texel: ``view`` ``(n, k)`` int16 (int32 past 32767 views),
    -1 = none, and ``weight`` ``(n, k)`` float32, rows summing to 1 or all 0."""
    n, nv = scores.shape
    if nv > k:
        idx = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        idx = np.broadcast_to(np.arange(nv), (n, nv))
    s = np.take_along_axis(scores, idx, axis=1)
    best = scores.max(axis=1, keepdims=True)
    keep = (s > 0) & (s >= KEEP_FRACTION * best)
    with np.errstate(divide="ignore", invalid="ignore"):
        wgt = np.where(keep, (s / np.maximum(best, 1e-30)) ** BLEND_POWER, 0.0)
    total = wgt.sum(axis=1, keepdims=True)
    wgt = np.where(total > 0, wgt / np.maximum(total, 1e-30), 0.0).astype(np.float32)
    dtype = np.int16 if nv < 2**15 else np.int32  # 6 bytes per texel and slot, not 8
    return np.where(keep, idx, -1).astype(dtype), wgt


# ------------------------------------------------------------------------- sampling


def _sample(image: np.ndarray, view: View, texels: _Texels | _Surface, idx: np.ndarray
            ) -> np.ndarray:
    """Bilinear samples ``(n, 3)`` float32 of ``image`` (``(H, W, 3)``, any dtype cv2
    remaps) where ``view`` sees the texels ``idx`` (their projections lie inside)."""
    import cv2

    n = len(idx)
    if not n:
        return np.zeros((0, 3), dtype=np.float32)
    R, t, _ = _pose32(view, texels.origin)
    pc = R @ texels.points[:, idx] + t
    K = view.K
    # cv2.remap wants maps under 32767 on a side: lay the samples out in rows.
    cols = 4096
    rows = -(-n // cols)
    mx = np.zeros(rows * cols, dtype=np.float32)
    my = np.zeros(rows * cols, dtype=np.float32)
    mx[:n] = pc[0] / pc[2] * np.float32(K[0, 0]) + np.float32(K[0, 2])
    my[:n] = pc[1] / pc[2] * np.float32(K[1, 1]) + np.float32(K[1, 2])
    out = cv2.remap(image, mx.reshape(rows, cols), my.reshape(rows, cols),
                    cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(-1, 3)[:n].astype(np.float32)


# ------------------------------------------------------------------------ balancing


def solve_gains(colours: np.ndarray, *, lam: float = BALANCE_LAMBDA) -> np.ndarray:
    """Per-view, per-channel gains that make views agree on the texels they share.

    Minimises, per channel, ``sum_pairs w * (log g_a + log I_a - log g_b - log I_b)**2
    + lam' * sum_v (log g_v)**2`` over every pair of views seeing a texel, with
    robust (Cauchy, scale :data:`BALANCE_ROBUST_SCALE`) weights ``w`` from three
    reweighting rounds, ``lam' = lam * mean(constraints per view)``, and the mean of
    ``log g`` over views fixed at 0. Samples darker than :data:`BALANCE_DARK` in the
    channel, or brighter than :data:`BALANCE_SATURATED` in any channel, are left out.

    Args:
        colours: ``(n, n_views, 3)`` linear RGB of ``n`` texels in every view, NaN where
            a view does not see the texel.
        lam: regularisation strength (see above).

    Returns:
        ``(n_views, 3)`` float64 gains, clamped to ``[1/GAIN_LIMIT, GAIN_LIMIT]``;
        1 for a view that shares no usable texel with another.
    """
    col = np.asarray(colours, dtype=np.float64)
    if col.ndim != 3 or col.shape[2] != 3:
        raise InputError(f"colours: must be (n, n_views, 3), got {col.shape}")
    nv = col.shape[1]
    logg = np.zeros((nv, 3))
    if nv < 2:
        return np.ones((nv, 3))
    seen = np.isfinite(col).all(axis=2)
    bright_ok = ~(np.nan_to_num(col, nan=np.inf) >= BALANCE_SATURATED).any(axis=2)
    for c in range(3):
        ch = np.nan_to_num(col[..., c], nan=0.0)
        valid = seen & bright_ok & (ch > BALANCE_DARK)
        logi = np.log(np.maximum(ch, 1e-12))
        pairs = []
        for a in range(nv):
            for b in range(a + 1, nv):
                m = valid[:, a] & valid[:, b]
                if m.any():
                    pairs.append((a, b, logi[m, a] - logi[m, b]))
        if not pairs:
            continue
        x = np.zeros(nv)
        for _ in range(3):
            L = np.zeros((nv, nv))
            rhs = np.zeros(nv)
            for a, b, d in pairs:
                r = x[a] - x[b] + d
                w = 1.0 / (1.0 + (r / BALANCE_ROBUST_SCALE) ** 2)
                sw, swd = w.sum(), (w * d).sum()
                L[a, a] += sw
                L[b, b] += sw
                L[a, b] -= sw
                L[b, a] -= sw
                rhs[a] -= swd
                rhs[b] += swd
            reg = lam * max(float(np.mean(np.diag(L))), 1e-12)
            x = np.linalg.solve(L + reg * np.eye(nv), rhs)
        logg[:, c] = x - x.mean()
    lim = np.log(GAIN_LIMIT)
    return np.exp(np.clip(logg, -lim, lim))


# --------------------------------------------------------------------- view charts


@dataclass(frozen=True)
class _FaceViews:
    """How every view sees every face (``F`` faces, ``nv`` views).

    Attributes:
        score: ``(F, nv)`` float32 ``cos * focal / z`` (pixels per unit length, with
            the smoothed normal) where the view sees the face's centre (as
            :func:`_view_scores` sees a texel) and the face is *bounded* in it (its
            three corners lie in front of the camera and project within one image
            size of the photo: a chart in that view has a finite, bounded layout);
            0 elsewhere.
        proj: ``(F, nv)`` bool: the face is bounded in the view and its centre
            projects into the photo with no surface more than
            :data:`NEAR_TOLERANCES` depth tolerances in front of it (a wrinkle of
            the surface, not something behind an occluder whose texels it would
            share in that view's chart).
        front: ``(F, nv)`` float32 ``cos * focal / z`` where the face is bounded in
            the view and its smoothed normal faces the camera, else 0; occlusion
            ignored (for faces no view sees: a noisy face's own normal would scatter
            them over many views and charts).
        normals: ``(F, 3)`` float64 unit face normals (zero for degenerate faces).
        smooth: ``(F, 3)`` float64 unit smoothed face normals.
    """

    score: np.ndarray
    proj: np.ndarray
    front: np.ndarray
    normals: np.ndarray
    smooth: np.ndarray


@dataclass(frozen=True)
class _Charts:
    """Face labels of a view atlas.

    Attributes:
        key: ``(F,)`` int64 chart kind and projection of each face: ``k < nv``: a
            chart of faces view ``k`` sees (and of small wrinkles and islands it can
            project), laid out in its photo; ``nv <= k < 2 nv``: unseen faces facing
            view ``k - nv``, laid out in its photo; ``k >= 2 nv``: unseen faces,
            projected orthographically along box axis ``k - 2 nv``.
        chart: ``(F,)`` int64 chart (edge-connected component of equal ``key``).
        n_charts: number of charts.
    """

    key: np.ndarray
    chart: np.ndarray
    n_charts: int


#: Rounds of neighbour averaging of the face normals that score the views for labels.
NORMAL_SMOOTHING = 4
#: Iterations of the label smoothing ("adopt your edge-neighbours' majority view").
LABEL_ITERATIONS = 8
#: A face adopts its neighbours' view only if it scores at least this fraction of its
#: best view there (keeps the photo's resolution on it; mvs-texturing's data term).
LABEL_KEEP = 0.5
#: Charts with at most this many faces merge into a neighbouring chart even where its
#: view does not see them (noise wrinkles, a face hidden behind its neighbour): their
#: few folded-over or shared texels show the neighbourhood that view shows.
ISLAND_FACES = 8
#: Charts with fewer faces are merged, whole, into a neighbouring chart whose view
#: :data:`MERGE_ALLOWED` of their faces may take (see :data:`LABEL_KEEP`): every chart
#: costs a gutter in the atlas and a seam on the surface.
SMALL_CHART_FACES = 64
#: Fraction of a small chart's faces that must accept the view it merges into.
MERGE_ALLOWED = 0.9
#: Edge-connected groups of at most this many faces that face away from every view
#: (noise wrinkles of a reconstructed surface) join their neighbours' charts: their
#: few folded-over texels are filled, and they do not become charts of their own.
WRINKLE_FACES = 8
#: Texel density of charts no view sees, relative to the seen ones: they are only
#: filled from their neighbours, detail there would waste the atlas.
UNSEEN_DENSITY = 0.25
#: How far (in depth tolerances) behind a view's nearest surface a face may lie and
#: still join a chart of that view it is not seen in (see :attr:`_FaceViews.proj`).
NEAR_TOLERANCES = 3.0
#: Smallest cosine between an unseen face's normal and its box axis.
BOX_MIN_COS = 0.25
#: The packing gutter is halved (down to 2 texels) while that scales the charts up by
#: more than ``1 / PAD_TRADE``.
PAD_TRADE = 0.85

_BOX_DIRS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]],
                     dtype=np.float64)
# Per box axis d, tangents (t1, t2) with t1 x t2 = d: a chart laid out as
# (x, y) = (p . t1, -p . t2) has the orientation of a photo of the surface (y down).
_BOX_T1 = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 1], [1, 0, 0], [1, 0, 0], [0, 1, 0]],
                   dtype=np.float64)
_BOX_T2 = np.cross(_BOX_DIRS, _BOX_T1)


def _smooth_normals(cross: np.ndarray, pairs: np.ndarray, iterations: int) -> np.ndarray:
    """``(F, 3)`` unit face normals, area-weighted (``cross``: the faces' edge cross
    products) and averaged ``iterations`` times over edge neighbours (``pairs``, both
    directions); a face whose average cancels keeps its own."""
    from scipy.sparse import coo_matrix, identity

    nf = len(cross)
    acc = cross.copy()
    if iterations > 0 and len(pairs):
        adj = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])),
                         shape=(nf, nf)).tocsr() + identity(nf, format="csr")
        for _ in range(iterations):
            acc = adj @ acc
    out, ok = _unit_rows(acc)
    own, _ = _unit_rows(cross)
    out[~ok] = own[~ok]
    return out


def _unit_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``a`` normalised (zero rows stay zero) and where they were non-zero."""
    norm = np.linalg.norm(a, axis=1, keepdims=True)
    ok = norm[:, 0] > 0
    return np.where(ok[:, None], a / np.where(ok[:, None], norm, 1.0), 0.0), ok


def _near_front(dmap: _DepthMap, cam: np.ndarray, depth_tolerance: float,
                depth_tolerance_abs: float) -> np.ndarray:
    """``(n,)`` bool: the camera-frame points ``cam`` ``(n, 3)`` project into the
    z-buffer and lie at most :data:`NEAR_TOLERANCES` depth tolerances behind its
    nearest surface there (the four pixels around the projection)."""
    small, depth = dmap.view, dmap.depth
    h, w = depth.shape
    xy, z = _pixels(small, cam)
    inside = np.isfinite(xy).all(axis=1) & (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) \
        & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)
    xy = np.where(inside[:, None], xy, 0.0)
    x0, y0 = np.floor(xy[:, 0]).astype(np.int64), np.floor(xy[:, 1]).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    front = np.minimum(np.minimum(depth[y0, x0], depth[y0, x1]),
                       np.minimum(depth[y1, x0], depth[y1, x1]))
    tol = depth_tolerance * z + depth_tolerance_abs + 3.0 * z / small.K[0, 0]
    return inside & (z > 0) & (z - front <= NEAR_TOLERANCES * tol)


def _face_views(v: np.ndarray, f: np.ndarray, pairs: np.ndarray, views: Sequence[View],
                dmaps: Sequence[_DepthMap], depth_tolerance: float,
                depth_tolerance_abs: float) -> _FaceViews:
    """Visibility and scores of every face's centre in every view (``pairs``: the
    faces' edge neighbours, both directions)."""
    nf, nv = len(f), len(views)
    tri = v[f]
    cen = tri.mean(axis=1)
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals, _ = _unit_rows(cross)
    # Scores use the normals smoothed over the neighbourhood: a noisy surface's own
    # face normals would make the best view flicker from face to face (and the charts
    # tiny); the face's own normal still decides whether it faces a view.
    smooth = _smooth_normals(cross, pairs, NORMAL_SMOOTHING)
    origin = 0.5 * (v.min(axis=0) + v.max(axis=0))
    centres = _Texels(origin, np.ascontiguousarray((cen - origin).T, dtype=np.float32),
                      np.ascontiguousarray(smooth.T, dtype=np.float32),
                      np.ascontiguousarray(normals.T, dtype=np.float32))
    score = np.zeros((nf, nv), dtype=np.float32)
    proj = np.zeros((nf, nv), dtype=bool)
    front = np.zeros((nf, nv), dtype=np.float32)
    for i, (view, dm) in enumerate(zip(views, dmaps, strict=True)):
        xy, z = _pixels(view, dm.cam)
        ok_v = z > 1e-9 * max(1.0, float(np.abs(z).max()))
        # Within one image size of the photo: keeps a chart's layout bounded even for
        # faces that reach far out of the picture.
        w, h = view.width, view.height
        with np.errstate(invalid="ignore"):
            ok_v &= (xy[:, 0] > -w) & (xy[:, 0] < 2 * w) & (xy[:, 1] > -h) \
                & (xy[:, 1] < 2 * h)
        bounded = ok_v[f].all(axis=1)
        cen_cam = dm.cam[f].mean(axis=1, dtype=np.float64)
        proj[:, i] = bounded & _near_front(dm, cen_cam, depth_tolerance,
                                           depth_tolerance_abs)
        to_cam = view.center - cen
        dist = np.linalg.norm(to_cam, axis=1)
        cos_s = np.einsum("fj,fj->f", smooth, to_cam) / np.maximum(dist, 1e-30)
        focal = 0.5 * (view.K[0, 0] + view.K[1, 1])
        front[:, i] = np.where(bounded & (cos_s > 0), np.maximum(cos_s, MIN_COS) * focal
                               / np.maximum(cen_cam[:, 2], 1e-30), 0.0)
        s = _view_scores(view, dm, centres, depth_tolerance, depth_tolerance_abs)
        score[:, i] = np.where(bounded, s, 0.0)
    return _FaceViews(score, proj, front, normals, smooth)


def _edge_pairs(faces: np.ndarray) -> np.ndarray:
    """``(E, 2)`` int64 pairs of faces sharing an edge, both directions (a
    non-manifold edge links each of its faces to the next)."""
    nf = len(faces)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e.sort(axis=1)
    key = e[:, 0] * (int(faces.max()) + 1) + e[:, 1]
    fid = np.tile(np.arange(nf, dtype=np.int64), 3)
    order = np.argsort(key, kind="stable")
    key, fid = key[order], fid[order]
    same = key[1:] == key[:-1]
    pairs = np.stack([fid[:-1][same], fid[1:][same]], axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.concatenate([pairs, pairs[:, ::-1]])


def _neighbour_counts(pairs: np.ndarray, key: np.ndarray, n_keys: int, rows: np.ndarray
                      ) -> np.ndarray:
    """``(len(rows), n_keys)`` int64: how many of the edge-neighbours (``pairs``) of
    the faces ``rows`` carry each key."""
    pos = np.full(len(key), -1, dtype=np.int64)
    pos[rows] = np.arange(len(rows))
    sub = pairs[pos[pairs[:, 0]] >= 0]
    flat = pos[sub[:, 0]] * n_keys + key[sub[:, 1]]
    return np.bincount(flat, minlength=len(rows) * n_keys).reshape(len(rows), n_keys)


def _adopt_majority(key: np.ndarray, pairs: np.ndarray, allowed: np.ndarray,
                    movable: np.ndarray, iterations: int) -> np.ndarray:
    """Majority smoothing: a ``movable`` face takes the key most of its edge-neighbours
    have when ``allowed[face, key]`` and more neighbours have it than its own key."""
    key = key.copy()
    rows = np.flatnonzero(movable)
    if not rows.size or not len(pairs):
        return key
    sub = pairs[movable[pairs[:, 0]]]
    ok = allowed[rows]
    at = np.arange(len(rows))
    for _ in range(iterations):
        cnt = _neighbour_counts(sub, key, allowed.shape[1], rows)
        cand = np.where(ok, cnt, -1).argmax(axis=1)
        change = (cnt[at, cand] > cnt[at, key[rows]]) & ok[at, cand]
        if not change.any():
            break
        key[rows[change]] = cand[change]
    return key


def _components(nf: int, pairs: np.ndarray, key: np.ndarray) -> tuple[int, np.ndarray]:
    """Edge-connected components of faces with equal ``key``: ``(count, (F,) int64)``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    same = pairs[key[pairs[:, 0]] == key[pairs[:, 1]]]
    g = coo_matrix((np.ones(len(same), dtype=np.int8), (same[:, 0], same[:, 1])),
                   shape=(nf, nf))
    n, lab = connected_components(g, directed=False)
    return int(n), lab.astype(np.int64)


def _grow(key: np.ndarray, pairs: np.ndarray, left: np.ndarray, reach: np.ndarray,
          iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Faces in ``left`` take the key most of their settled edge-neighbours (those not
    in ``left``) have, among the keys ``reach[face]`` allows, and are settled; repeated
    ``iterations`` times so the keys grow inwards. Returns ``(key, left)``."""
    key, left = key.copy(), left.copy()
    for _ in range(iterations):
        rows = np.flatnonzero(left)
        if not rows.size:
            break
        sub = pairs[left[pairs[:, 0]] & ~left[pairs[:, 1]]]
        cnt = _neighbour_counts(sub, key, reach.shape[1], rows)
        cand = np.where(reach[rows], cnt, -1).argmax(axis=1)
        at = np.arange(len(rows))
        take = (cnt[at, cand] > 0) & reach[rows, cand]
        if not take.any():
            break
        key[rows[take]] = cand[take]
        left[rows[take]] = False
    return key, left


def _per_chart(mask: np.ndarray, chart: np.ndarray, n: int) -> np.ndarray:
    """``(n, K)`` int64: per chart, how many of its faces have each column of ``mask``
    ``(m, K)`` bool set (``chart`` ``(m,)``: chart of each row)."""
    r, c = np.nonzero(mask)
    k = mask.shape[1]
    return np.bincount(chart[r] * k + c, minlength=n * k).reshape(n, k)


def _merge_small(key: np.ndarray, pairs: np.ndarray, allowed: np.ndarray,
                 reach: np.ndarray, min_faces: int, rounds: int = 4) -> np.ndarray:
    """Charts (edge-connected groups of equal ``key``) of fewer than ``min_faces``
    faces take, whole, the key of the larger neighbouring chart they share most edges
    with, if every face can ``reach`` that key and :data:`MERGE_ALLOWED` of them are
    ``allowed`` it (charts of up to :data:`ISLAND_FACES` faces only need ``reach``).

    Majority smoothing leaves compact islands of a few faces (each has more
    neighbours inside than outside); whole-chart moves remove them."""
    nf, n_keys = allowed.shape
    key = key.copy()
    for _ in range(rounds):
        n, chart = _components(nf, pairs, key)
        size = np.bincount(chart, minlength=n)
        small = size < min_faces
        if not small.any():
            break
        cid = np.full(n, -1, dtype=np.int64)
        cid[small] = np.arange(int(small.sum()))
        ns = int(small.sum())
        fs = np.flatnonzero(small[chart])
        fc = cid[chart[fs]]
        sz = size[small][:, None]
        need = np.where(sz <= ISLAND_FACES, 0, np.ceil(MERGE_ALLOWED * sz))
        ok = (_per_chart(reach[fs], fc, ns) >= sz) & (_per_chart(allowed[fs], fc, ns) >= need)
        a, b = pairs[:, 0], pairs[:, 1]
        m = small[chart[a]] & (size[chart[b]] > size[chart[a]])
        cnt = np.bincount(cid[chart[a[m]]] * n_keys + key[b[m]],
                          minlength=ns * n_keys).reshape(ns, n_keys)
        cand = np.where(ok, cnt, -1).argmax(axis=1)
        at = np.arange(ns)
        take = (cnt[at, cand] > 0) & ok[at, cand]
        if not take.any():
            break
        move = take[fc]
        key[fs[move]] = cand[fc[move]]
    return key


def _label_faces(fv: _FaceViews, pairs: np.ndarray) -> _Charts:
    """Charts of a view atlas (see :class:`_Charts` for the keys).

    Seen faces take their best view, then their neighbours' majority view where it
    scores at least :data:`LABEL_KEEP` of their best, then small charts merge whole
    into a neighbour (:func:`_merge_small`). Small islands of unseen faces (noise
    wrinkles, :data:`WRINKLE_FACES`) join the charts around them; larger unseen
    regions form charts of their own, in a view they face (never joined to seen
    charts, which they would overlap where an occluder hides them) or box-projected.
    """
    nf, nv = fv.score.shape
    n_keys = 2 * nv + 6
    seen = fv.score.max(axis=1) > 0
    frontal = ~seen & (fv.front.max(axis=1) > 0)
    boxed = ~seen & ~frontal
    pref = np.zeros((nf, n_keys), dtype=np.float32)
    pref[seen, :nv] = fv.score[seen]
    pref[frontal, nv:2 * nv] = fv.front[frontal]
    dots = fv.smooth[boxed] @ _BOX_DIRS.T  # smoothed: noise would scatter the axes
    pref[boxed, 2 * nv:] = np.where(dots >= BOX_MIN_COS, dots, 0.0)
    # Degenerate faces (no normal) may take any box axis.
    pref[boxed & (pref.max(axis=1) <= 0), 2 * nv:] = 1.0
    key = pref.argmax(axis=1).astype(np.int64)
    # Keys a face can be laid out in at all (possibly folded over: only for a few faces).
    reach = np.zeros((nf, n_keys), dtype=bool)
    reach[:, :nv] = fv.proj
    reach[:, nv:2 * nv] = fv.proj
    reach |= pref > 0

    # Wrinkles: small islands of unseen faces take the keys of the charts around them,
    # growing in from their border.
    if (~seen).any() and seen.any():
        n_u, comp = _components(nf, pairs[~seen[pairs[:, 0]] & ~seen[pairs[:, 1]]],
                                np.zeros(nf, dtype=np.int64))
        wrinkle = ~seen & (np.bincount(comp, minlength=n_u)[comp] <= WRINKLE_FACES)
        key, left = _grow(key, pairs, wrinkle, reach & wrinkle[:, None], WRINKLE_FACES)
        joined = wrinkle & ~left
        pref[joined] = reach[joined]  # from now on they may follow any view they reach

    best = pref.max(axis=1, keepdims=True)
    allowed = (pref > 0) & (pref >= LABEL_KEEP * best)
    key = _adopt_majority(key, pairs, allowed, np.ones(nf, dtype=bool), LABEL_ITERATIONS)
    key = _merge_small(key, pairs, allowed, reach, SMALL_CHART_FACES)
    n, chart = _components(nf, pairs, key)
    return _Charts(key, chart, n)


def _align_charts(xy: np.ndarray, chart: np.ndarray, n: int) -> np.ndarray:
    """Rotate each chart's points ``xy`` ``(V, 2)`` (``chart`` ``(V,)``, ``n`` charts)
    about its centroid so its principal axis is horizontal: a slanted, elongated chart
    then has a much smaller bounding box to pack. A true rotation: never mirrored."""
    cnt = np.maximum(np.bincount(chart, minlength=n), 1).astype(np.float64)
    mean = np.stack([np.bincount(chart, xy[:, 0], n), np.bincount(chart, xy[:, 1], n)],
                    axis=1) / cnt[:, None]
    d = xy - mean[chart]
    sxx = np.bincount(chart, d[:, 0] * d[:, 0], n)
    syy = np.bincount(chart, d[:, 1] * d[:, 1], n)
    sxy = np.bincount(chart, d[:, 0] * d[:, 1], n)
    theta = 0.5 * np.arctan2(2.0 * sxy, sxx - syy)  # angle of the principal axis
    c, s = np.cos(theta)[chart], np.sin(theta)[chart]
    return np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], axis=1)


def _shelf_pack(w: np.ndarray, h: np.ndarray, size: int, pad: int, scale: float
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """Shelf-pack rectangles ``w x h`` (chart units) scaled by ``scale`` into a
    ``size``-texel square with ``pad`` texels around each: cells sorted by height,
    laid left to right in rows. Returns the cells' top-left ``(x, y)`` int64 texels,
    or None when they do not fit. O(n log n)."""
    cw = np.maximum(np.ceil(w * scale), 1).astype(np.int64) + pad
    ch = np.maximum(np.ceil(h * scale), 1).astype(np.int64) + pad
    if cw.max() > size or ch.max() > size:
        return None
    order = np.lexsort((-cw, -ch))
    cum = np.cumsum(cw[order])
    x = np.empty(len(w), dtype=np.int64)
    y = np.empty(len(w), dtype=np.int64)
    i, top, n = 0, 0, len(w)
    while i < n:
        start = int(cum[i - 1]) if i else 0
        j = int(np.searchsorted(cum, start + size, side="right"))
        row_h = int(ch[order[i]])
        if top + row_h > size:
            return None
        idx = order[i:j]
        x[idx] = cum[i:j] - cw[idx] - start
        y[idx] = top
        top += row_h
        i = j
    return x, y


def _pack_scale(w: np.ndarray, h: np.ndarray, size: int, pad: int) -> float:
    """Largest scale (to 0.2%) at which :func:`_shelf_pack` fits, or 0 when even
    1-texel charts do not."""
    if _shelf_pack(w, h, size, pad, 0.0) is None:
        return 0.0
    area = float(np.sum(w * h))
    longest = float(max(w.max(), h.max()))
    if longest <= 0:  # every chart is a point
        return 1.0
    # Past either bound the charts cannot fit: more area than the square, or one
    # chart longer than its side.
    hi = 1.0001 * min(size / np.sqrt(area) if area > 0 else np.inf, size / longest)
    lo = 0.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if _shelf_pack(w, h, size, pad, mid) is not None:
            lo = mid
        else:
            hi = mid
        if lo > 0 and hi - lo < 0.002 * lo:
            break
    return lo


def _unwrap_views(v: np.ndarray, f: np.ndarray, views: Sequence[View],
                  dmaps: Sequence[_DepthMap], resolution: int, padding: int,
                  depth_tolerance: float, depth_tolerance_abs: float,
                  size_name: str = "size") -> Unwrap:
    """View-projection atlas (see :func:`unwrap_views`), given the views' z-buffers
    (``size_name``: the caller's name for ``resolution``, for errors)."""
    t0 = time.perf_counter()
    nf, nv = len(f), len(views)
    pairs = _edge_pairs(f)
    fv = _face_views(v, f, pairs, views, dmaps, depth_tolerance, depth_tolerance_abs)
    t_vis = time.perf_counter()
    charts = _label_faces(fv, pairs)
    t_label = time.perf_counter()
    n = charts.n_charts

    # Split vertices along chart seams: one copy per (chart, vertex).
    nvert = len(v)
    split_key = charts.chart[:, None] * nvert + f
    uniq, inv = np.unique(split_key.ravel(), return_inverse=True)
    faces_out = inv.reshape(-1, 3).astype(np.int64)
    welded = (uniq % nvert).astype(np.int64)
    vchart = (uniq // nvert).astype(np.int64)
    ckey = np.zeros(n, dtype=np.int64)
    ckey[charts.chart] = charts.key
    vkey = ckey[vchart]

    # Each chart's layout, in its own units: photo pixels for view charts (x right, y
    # down), world units along the box axes for the rest.
    xy = np.zeros((len(welded), 2), dtype=np.float64)
    for i, (view, dm) in enumerate(zip(views, dmaps, strict=True)):
        m = (vkey == i) | (vkey == nv + i)
        if m.any():
            xy[m], _ = _pixels(view, dm.cam[welded[m]])
    # (Every face laid out in a view is bounded in it: this only guards the packing.)
    xy = np.nan_to_num(xy, nan=0.0, posinf=0.0, neginf=0.0)
    seen_best = fv.score.max(axis=1)
    seen_best = seen_best[seen_best > 0]
    if seen_best.size:
        px_per_unit = float(np.median(seen_best))
    else:  # nothing seen: about a texel per edge, the packing scales it anyway
        px_per_unit = 1.0 / max(float(np.median(np.linalg.norm(v[f[:, 1]] - v[f[:, 0]],
                                                               axis=1))), 1e-12)
    for a in range(6):
        m = vkey == 2 * nv + a
        if m.any():
            p = v[welded[m]]
            xy[m, 0] = p @ _BOX_T1[a] * px_per_unit
            xy[m, 1] = -(p @ _BOX_T2[a]) * px_per_unit
    density = np.where(ckey < nv, 1.0, UNSEEN_DENSITY)
    xy *= density[vchart, None]
    xy = _align_charts(xy, vchart, n)
    lo = np.full((n, 2), np.inf)
    hi = np.full((n, 2), -np.inf)
    np.minimum.at(lo, vchart, xy)
    np.maximum.at(hi, vchart, xy)
    local = xy - lo[vchart]
    ext = hi - lo
    # Lay every chart flat (wider than tall): a true rotation, never a mirror.
    rot = ext[:, 1] > ext[:, 0]
    w = np.where(rot, ext[:, 1], ext[:, 0])
    h = np.where(rot, ext[:, 0], ext[:, 1])
    t_layout = time.perf_counter()

    # Uniform scale, as large as fits; halve the gutter while that gains enough.
    pad = int(padding)
    scale = scale0 = _pack_scale(w, h, resolution, pad)
    while pad > 2:
        smaller = max(2, pad // 2)
        s2 = _pack_scale(w, h, resolution, smaller)
        if scale >= PAD_TRADE * s2:
            break
        pad, scale = smaller, s2
    if scale <= 0:
        raise InputError(f"{size_name}: {n} charts do not fit a {resolution} texture "
                         f"(raise the texture size)")
    if pad != int(padding):
        log.info("view atlas: %d charts; gutter %d texels instead of %d (charts %.0f%% "
                 "larger)", n, pad, padding, 100 * (scale / max(scale0, 1e-30) - 1))
    cx, cy = _shelf_pack(w, h, resolution, pad, scale)
    # Texel coordinates (centres at integers, row 0 at the top) of each vertex.
    r = rot[vchart]
    lx, ly = local[:, 0], local[:, 1]
    eh = ext[vchart, 1]
    col = np.where(r, eh - ly, lx) * scale + cx[vchart] + 0.5 * pad - 0.5
    row = np.where(r, lx, ly) * scale + cy[vchart] + 0.5 * pad - 0.5
    uv = np.stack([(col + 0.5) / resolution, 1.0 - (row + 0.5) / resolution], axis=1)
    t_pack = time.perf_counter()
    kinds = np.bincount(np.minimum(ckey // nv, 2), minlength=3)
    log.info("view atlas: %d faces, %d charts (%d seen, %d unseen, %d box), scale %.3f "
             "texels/px, gutter %d; %.2f s (visibility %.2f, labels %.2f, layout %.2f, "
             "pack %.2f)", nf, n, kinds[0], kinds[1], kinds[2], scale, pad,
             t_pack - t0, t_vis - t0, t_label - t_vis, t_layout - t_label,
             t_pack - t_layout)
    return Unwrap(vertices=v[welded], faces=faces_out,
                  uv=np.clip(uv, 0.0, 1.0).astype(np.float32), welded_index=welded,
                  face_chart=charts.chart.astype(np.int32), resolution=int(resolution))


def unwrap_views(mesh: Mesh, views: Sequence[View], *, resolution: int,
                 padding_px: int | None = None, depth_tolerance: float = 0.01,
                 depth_tolerance_abs: float = 0.0) -> Unwrap:
    """A UV atlas whose charts are the mesh as the photos see it (view-projection
    charts, as photogrammetry texturers make them).

    Every face takes the view that sees it best (``cos * focal / depth``, occlusion
    tested in z-buffers of at most :data:`DEPTH_MAX_SIDE` pixels), smoothed over edge
    neighbours so charts are large; a chart is an edge-connected group of faces with
    one view, laid out as its projection into that photo, so its texel density follows
    the photo's and no face is flattened wrongly (seen faces face their view).
    Faces no view sees form charts of their own at :data:`UNSEEN_DENSITY` (projected
    into a view they face, else box-projected), as they will only be filled. Charts
    are packed as rectangles with one uniform scale, the largest that fits.

    Args:
        mesh: welded triangle mesh in the views' world frame.
        views: the registered pinhole views.
        resolution: side in texels of the square texture (8 to 16384).
        padding_px: gutter between charts in texels (default
            :func:`lift3d.quality.bake.padding_for`); halved, down to 2, while that
            makes the charts more than ``1 / PAD_TRADE`` larger.
        depth_tolerance, depth_tolerance_abs: visibility tolerances, as in
            :func:`bake_views`.

    Returns:
        :class:`lift3d.texture.atlas.Unwrap`: ``vertices`` ``(V', 3)`` float64 split
        along chart seams, ``faces`` ``(F, 3)`` int64 in the input's order and winding,
        ``uv`` ``(V', 2)`` float32 in ``[0, 1]`` (origin bottom-left; faces keep their
        orientation, but for the few noise wrinkles of a rough surface that face away
        from their chart's view), ``welded_index`` ``(V',)`` int64, ``face_chart``
        ``(F,)`` int32 and ``resolution``.

    Raises:
        InputError: an argument is unusable (the message names it).
    """
    if not isinstance(mesh, Mesh):
        raise InputError(f"mesh: must be a lift3d.types.Mesh, got {type(mesh).__name__}")
    v, f = check_mesh_arrays(mesh.vertices, mesh.faces, "mesh.vertices", "mesh.faces")
    _check_views(views)
    resolution = check_texture_size(resolution, "resolution")
    pad = padding_for(resolution) if padding_px is None else padding_px
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 0 \
            or 2 * pad + 2 >= resolution:
        raise InputError(f"padding_px: must be an integer >= 0 that fits a {resolution} "
                         f"texture, got {padding_px!r}")
    _check_tolerances(depth_tolerance, depth_tolerance_abs)
    dmaps = [_depth_map(view, v, f) for view in views]
    return _unwrap_views(v, f, views, dmaps, resolution, int(pad), depth_tolerance,
                         depth_tolerance_abs, size_name="resolution")


# ---------------------------------------------------------------------------- bake


def _atlas_texels(uv: np.ndarray, faces: np.ndarray, size: int, dilate: int = DILATE_PX
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which face each texel of a ``size x size`` atlas shows, and where.

    Faces are filled conservatively (large ones first, so small ones keep their
    texels) with barycentrics clamped into the face, then texels up to ``dilate`` texels
    outside the charts take the nearest covered texel's face (bilinear lookups at a
    chart's border then read the chart's own colour).

    Args:
        uv: ``(V, 2)`` uv, origin bottom-left.
        faces: ``(F, 3)`` int vertex indices.

    Returns:
        ``covered`` ``(S, S)`` bool, ``rows``, ``cols`` ``(N,)`` int64 texels (row 0 at
        the top), ``face`` ``(N,)`` int64 and ``bary`` ``(N, 3)`` float32 (>= 0, sum 1).
    """
    import cv2

    shift = 8  # cv2's sub-pixel bits
    f = np.asarray(faces, dtype=np.int64)
    pix = np.empty((len(uv), 2), dtype=np.float64)
    pix[:, 0] = np.asarray(uv[:, 0], dtype=np.float64) * size - 0.5
    pix[:, 1] = (1.0 - np.asarray(uv[:, 1], dtype=np.float64)) * size - 0.5
    tri = pix[f]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    ids = np.zeros((size, size), dtype=np.int32)
    order = np.flatnonzero(np.abs(det) > 1e-9)  # degenerate faces would paint lines
    order = order[np.argsort(-np.abs(det[order]), kind="stable")]
    pts = np.round(tri * (1 << shift)).astype(np.int32)
    fill = cv2.fillConvexPoly
    for i in order.tolist():
        fill(ids, pts[i], i + 1, cv2.LINE_8, shift)

    if dilate > 0 and ids.any():
        # Labels of the nearest covered texel (numbered in raster order) for the rim.
        empty = (ids == 0).astype(np.uint8)
        dist, label = cv2.distanceTransformWithLabels(empty, cv2.DIST_L2, 5,
                                                      labelType=cv2.DIST_LABEL_PIXEL)
        src = np.flatnonzero(ids.ravel())
        ring = np.flatnonzero(empty.ravel() & (dist.ravel() <= dilate * np.sqrt(2.0) + 0.01))
        flat = ids.ravel()
        flat[ring] = flat[src[label.ravel()[ring] - 1]]
    rows, cols = np.nonzero(ids)
    fid = ids[rows, cols].astype(np.int64) - 1
    # Barycentrics of the texel centres: per-face affine functions of (col, row).
    ok = np.abs(det) > 1e-30
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    a1, b1 = e2[:, 1] * inv, -e2[:, 0] * inv
    a2, b2 = -e1[:, 1] * inv, e1[:, 0] * inv
    c1 = -(a1 * tri[:, 0, 0] + b1 * tri[:, 0, 1])
    c2 = -(a2 * tri[:, 0, 0] + b2 * tri[:, 0, 1])
    x, y = cols.astype(np.float64), rows.astype(np.float64)
    bary = np.empty((len(fid), 3), dtype=np.float32)
    bary[:, 1] = a1[fid] * x + b1[fid] * y + c1[fid]
    bary[:, 2] = a2[fid] * x + b2[fid] * y + c2[fid]
    bary[:, 0] = 1.0 - bary[:, 1] - bary[:, 2]
    np.maximum(bary, 0.0, out=bary)
    total = bary.sum(axis=1, keepdims=True)
    bary /= np.where(total > 0, total, 1.0)
    bary[total[:, 0] <= 0] = (1.0, 0.0, 0.0)
    return ids > 0, rows, cols, fid, bary


def _surface(atlas: Unwrap, v: np.ndarray, f: np.ndarray, size: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, _Surface]:
    """Covered texels of ``atlas`` (``covered (S, S) bool, rows, cols``) and where they
    lie on the welded mesh ``v``, ``f`` (the atlas keeps its faces' order)."""
    covered, rows, cols, fid, bary = _atlas_texels(atlas.uv, atlas.faces, size)
    origin = 0.5 * (v.min(axis=0) + v.max(axis=0))
    corners = f[fid]  # (N, 3)
    vt = np.ascontiguousarray((v - origin).T, dtype=np.float32)
    points = np.zeros((3, len(fid)), dtype=np.float32)
    for k in range(3):
        points += vt.take(corners[:, k], axis=1) * bary[:, k]
    fn, _ = _unit_rows(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]))
    return covered, rows, cols, _Surface(
        origin, points, fid, bary, corners,
        np.ascontiguousarray(vertex_normals(v, f).T, dtype=np.float32),
        np.ascontiguousarray(fn.T, dtype=np.float32))


@dataclass(frozen=True)
class _CornerScores:
    """View scores at the mesh's vertices, which stand in for the texels of faces a
    view sees whole (testing each texel costs ~10x more).

    Attributes:
        vertex: ``(V, nv)`` float32 score of every (welded) vertex in every view, as
            :func:`_view_scores` scores a texel there (smooth normal), 0 where unseen.
        whole: ``(F, nv)`` bool: the view sees the face's three corners and its centre,
            and the face faces it at each corner: its texels take the interpolated
            corner scores.
        some: ``(F, nv)`` bool: the view sees at least one of them; texels of faces
            ``some`` but not ``whole`` are tested one by one, the others are unseen.
    """

    vertex: np.ndarray
    whole: np.ndarray
    some: np.ndarray


def _corner_scores(v: np.ndarray, f: np.ndarray, views: Sequence[View],
                   dmaps: Sequence[_DepthMap], depth_tolerance: float,
                   depth_tolerance_abs: float) -> _CornerScores:
    """Scores at the welded mesh's vertices and face centres (see
    :class:`_CornerScores`)."""
    origin = 0.5 * (v.min(axis=0) + v.max(axis=0))
    vn = vertex_normals(v, f).astype(np.float64)
    cross = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    fn, _ = _unit_rows(cross)
    lost = np.linalg.norm(vn, axis=1) < 0.5
    vn32 = np.ascontiguousarray(vn.T, dtype=np.float32)
    at_vertices = _Texels(origin, np.ascontiguousarray((v - origin).T, dtype=np.float32),
                          vn32, vn32)
    cen = v[f].mean(axis=1)
    fn32 = np.ascontiguousarray(fn.T, dtype=np.float32)
    at_centres = _Texels(origin, np.ascontiguousarray((cen - origin).T, dtype=np.float32),
                         fn32, fn32)
    nv = len(views)
    vertex = np.zeros((len(v), nv), dtype=np.float32)
    whole = np.zeros((len(f), nv), dtype=bool)
    some = np.zeros((len(f), nv), dtype=bool)
    for i, (view, dm) in enumerate(zip(views, dmaps, strict=True)):
        sv = _view_scores(view, dm, at_vertices, depth_tolerance, depth_tolerance_abs)
        sv[lost] = 0.0  # isolated vertices: no normal to score with
        vertex[:, i] = sv
        seen_c = _view_scores(view, dm, at_centres, depth_tolerance, depth_tolerance_abs) > 0
        seen_v = sv[f] > 0  # (F, 3)
        to_cam = view.center[None, None, :] - v[f]  # (F, 3, 3)
        cos = np.einsum("fj,fkj->fk", fn, to_cam) / np.maximum(
            np.linalg.norm(to_cam, axis=2), 1e-30)
        whole[:, i] = seen_c & seen_v.all(axis=1) & (cos > MIN_COS).all(axis=1)
        some[:, i] = seen_c | seen_v.any(axis=1)
    return _CornerScores(vertex, whole, some)


def _texel_scores(views: Sequence[View], dmaps: Sequence[_DepthMap], surf: _Surface,
                  lo: int, hi: int, cs: _CornerScores, depth_tolerance: float,
                  depth_tolerance_abs: float) -> np.ndarray:
    """``(hi - lo, nv)`` float32 scores of the texels ``lo:hi`` of ``surf``."""
    fid, bary, corners = surf.face[lo:hi], surf.bary[lo:hi], surf.corners[lo:hi]
    score = np.zeros((hi - lo, len(views)), dtype=np.float32)
    for k in range(3):
        score += cs.vertex[corners[:, k]] * bary[:, k:k + 1]
    whole = cs.whole[fid]
    score *= whole
    test = cs.some[fid] & ~whole
    rows = np.flatnonzero(test.any(axis=1))
    if rows.size:
        texels = surf.take(rows + lo)
        test = test[rows]
        for i, (view, dm) in enumerate(zip(views, dmaps, strict=True)):
            idx = np.flatnonzero(test[:, i])
            if idx.size:
                score[rows[idx], i] = _view_scores(view, dm, texels.subset(idx),
                                                   depth_tolerance, depth_tolerance_abs)
    return score


def _push_pull(texture: np.ndarray, have: np.ndarray) -> np.ndarray:
    """Fill the texels of ``texture`` (``(S, S, 3)`` uint8) not in ``have`` (``(S, S)``
    bool) by push-pull: weighted means down a pyramid of halvings, pulled back up
    bilinearly into the holes. The result of :func:`lift3d.texture.bake.fill_empty`,
    with OpenCV's resampling (~5x faster on a 4096 texture)."""
    import cv2

    if have.all() or not have.any():
        return texture.copy() if have.all() else np.zeros_like(texture)
    w = have.astype(np.float32)
    col = texture.astype(np.float32) * w[..., None]
    levels = []
    while max(col.shape[:2]) > 1:
        size = (max(1, (col.shape[1] + 1) // 2), max(1, (col.shape[0] + 1) // 2))
        # Area resampling of colour*weight and weight: their ratio is the weighted mean.
        col = cv2.resize(col, size, interpolation=cv2.INTER_AREA).reshape(
            size[1], size[0], -1)
        w = cv2.resize(w, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0])
        levels.append((col, w))
    col, w = levels[-1]
    filled = col / np.maximum(w, 1e-12)[..., None]
    for col, w in reversed(levels[:-1]):
        up = cv2.resize(filled, (col.shape[1], col.shape[0]), interpolation=cv2.INTER_LINEAR)
        up = up.reshape(col.shape)
        filled = np.where((w > 0)[..., None], col / np.maximum(w, 1e-12)[..., None], up)
    # The full-resolution level holds the covered texels themselves.
    up = cv2.resize(filled, (texture.shape[1], texture.shape[0]),
                    interpolation=cv2.INTER_LINEAR).reshape(texture.shape)
    up = np.clip(np.round(up), 0, 255).astype(np.uint8)
    return np.where(have[..., None], texture, up)


def bake_views(mesh: Mesh, views: Sequence[View], images: Sequence[np.ndarray], *,
               size: int = 2048, unwrap_method: TextureUnwrap = "views", balance: bool = True,
               max_views_per_texel: int = 3,
               depth_tolerance: float = 0.01, depth_tolerance_abs: float = 0.0,
               progress: Callable[[float], None] | None = None
               ) -> tuple[TexturedMesh, TextureReport]:
    """UV-unwrap ``mesh`` and bake a texture for it from registered photos.

    Args:
        mesh: welded triangle mesh (float positions, any unit) in the views' world frame.
        views: the registered, undistorted pinhole views (world -> camera).
        images: ``images[i]`` the photo of ``views[i]``: ``(H, W, 3)`` uint8, or float in
            ``[0, 1]``, sRGB, with ``(W, H) == (views[i].width, views[i].height)``.
        size: texture side in texels (8 to 16384).
        unwrap_method: ``"views"`` (view-projection charts, :func:`unwrap_views`: few
            seams, texel density following the photos, fast on big noisy meshes), or
            ``"auto"``, ``"xatlas"``, ``"box"`` (geometric charts, see
            :func:`lift3d.quality.bake.unwrap`).
        balance: solve and apply per-view colour gains (exposure / white balance).
        max_views_per_texel: views blended per texel at most.
        depth_tolerance: visibility tolerance relative to depth: a texel is seen when no
            surface in the view's z-buffer lies more than ``depth_tolerance * z +
            depth_tolerance_abs`` (plus a few z-buffer pixels' footprint, more on
            slanted surfaces) in front of it. Raise it for noisy meshes.
        depth_tolerance_abs: absolute part of the tolerance, in world units (e.g. a
            few voxels of the dense reconstruction).
        progress: called with the fraction done, in ``[0, 1]``.

    Returns:
        ``(textured, report)``. ``textured`` is in the *input's* frame and units:
        float32 vertices split along chart seams, int32 faces in the input's order and
        winding, float32 unit vertex normals, float32 uv in ``[0, 1]`` (origin
        bottom-left), ``(size, size, 3)`` uint8 sRGB texture (row 0 at the top),
        ``welded_index`` mapping each vertex to its input vertex and
        ``welded_vertex_count == len(mesh.vertices)``. ``report``: see
        :class:`TextureReport`.

    Raises:
        InputError: an argument is unusable (the message names it), or no view sees
            any part of the mesh (mesh and cameras in different frames?).
    """
    t0 = time.perf_counter()
    v, f = _check_inputs(mesh, views, images, unwrap_method, max_views_per_texel,
                         depth_tolerance, depth_tolerance_abs, progress)
    size = check_texture_size(size, "size")
    k = int(max_views_per_texel)
    nv = len(views)

    def report(x: float) -> None:
        if progress is not None:
            progress(float(min(max(x, 0.0), 1.0)))

    report(0.0)
    # The z-buffers serve the view charts' visibility and the texels' alike.
    dmaps = [_depth_map(view, v, f) for view in views]
    t_depth = time.perf_counter()
    report(0.1)
    if unwrap_method == "views":
        atlas = _unwrap_views(v, f, views, dmaps, size, padding_for(size), depth_tolerance,
                              depth_tolerance_abs)
    else:
        atlas = unwrap(v, f, resolution=size, method=unwrap_method)
    covered, rows, cols, surf = _surface(atlas, v, f, size)
    n = len(rows)
    if not n:
        raise InputError("mesh: its atlas covers no texel (all triangles degenerate?)")
    t_unwrap = time.perf_counter()
    report(0.25)

    # Scores, chunk by chunk; only the chosen views and their weights are kept.
    cs = _corner_scores(v, f, views, dmaps, depth_tolerance, depth_tolerance_abs)
    sel = np.empty((n, min(k, nv)), dtype=np.int16 if nv < 2**15 else np.int32)
    wgt = np.empty((n, min(k, nv)), dtype=np.float32)
    for lo in range(0, n, CHUNK_TEXELS):
        hi = min(n, lo + CHUNK_TEXELS)
        sc = _texel_scores(views, dmaps, surf, lo, hi, cs, depth_tolerance,
                           depth_tolerance_abs)
        sel[lo:hi], wgt[lo:hi] = _select(sc, k)
        report(0.25 + 0.35 * hi / n)
    seen = (wgt > 0).any(axis=1)
    if not seen.any():
        raise InputError("views: none sees any part of the mesh (are the mesh and the "
                         "cameras in the same frame?)")
    t_score = time.perf_counter()

    # Colour balance, from a random subset of texels sampled in every view that sees
    # them (bilinear in sRGB, then linearised: plenty for gains).
    gains = np.ones((nv, 3))
    if balance and nv > 1:
        rng = np.random.default_rng(0)
        sub = np.sort(rng.choice(n, size=min(n, BALANCE_SAMPLES), replace=False))
        sub_tex = surf.take(sub)
        sub_vis = np.stack([_view_scores(view, dm, sub_tex, depth_tolerance,
                                         depth_tolerance_abs) > 0
                            for view, dm in zip(views, dmaps, strict=True)], axis=1)
        keep = sub_vis.sum(axis=1) >= 2
        sub, sub_vis = sub[keep], sub_vis[keep]
        if len(sub):
            sub_col = np.full((len(sub), nv, 3), np.nan, dtype=np.float32)
            for i, (view, image) in enumerate(zip(views, images, strict=True)):
                s_idx = np.flatnonzero(sub_vis[:, i])
                if s_idx.size:
                    img = np.asarray(image)
                    col = _sample(img, view, surf, sub[s_idx])
                    if img.dtype == np.uint8:
                        col = col / np.float32(255.0)
                    sub_col[s_idx, i] = _srgb_to_linear(np.clip(col, 0.0, 1.0))
            gains = solve_gains(sub_col)

    # One pass over the photos: each view adds its weighted, balanced samples.
    lin = np.zeros((n, 3), dtype=np.float32)
    for i, (view, image) in enumerate(zip(views, images, strict=True)):
        t_idx, slot = np.nonzero(sel == i)
        if t_idx.size:
            col = _sample(_linear_image(np.asarray(image)), view, surf, t_idx)
            col *= gains[i].astype(np.float32)
            lin[t_idx] += col * wgt[t_idx, slot][:, None]
        report(0.6 + 0.3 * (i + 1) / nv)
    t_sample = time.perf_counter()

    texture = np.zeros((size, size, 3), dtype=np.uint8)
    texture[rows, cols] = _linear_to_srgb_u8(lin)
    # Texels no view sees count as empty: push-pull gives them their neighbours' colour.
    have = np.zeros_like(covered)
    have[rows[seen], cols[seen]] = True
    texture = _push_pull(texture, have)

    normals = vertex_normals(atlas.vertices, atlas.faces, atlas.welded_index)
    lost = np.linalg.norm(normals, axis=1) < 0.5
    normals[lost] = (0.0, 0.0, 1.0)  # isolated vertices: any unit vector
    textured = TexturedMesh(
        vertices=np.asarray(atlas.vertices, dtype=np.float32),
        faces=np.asarray(atlas.faces, dtype=np.int32),
        normals=normals.astype(np.float32),
        uv=np.clip(np.asarray(atlas.uv, dtype=np.float32), 0.0, 1.0),
        texture=texture,
        welded_index=np.asarray(atlas.welded_index, dtype=np.int64),
        welded_vertex_count=len(v),
    )
    used = np.unique(sel[wgt > 0])
    t_end = time.perf_counter()
    rep = TextureReport(views_used=int((used >= 0).sum()),
                        texel_coverage=float(seen.mean()), gains=gains.astype(np.float64),
                        seconds=t_end - t0)
    log.info("baked %d views into a %d texture: %.1f%% of %d texels seen, %d views used, "
             "%.1f s (unwrap %.1f, depth %.1f, score %.1f, sample %.1f, fill %.1f)",
             nv, size, 100 * rep.texel_coverage, n, rep.views_used, rep.seconds,
             t_unwrap - t_depth, t_depth - t0, t_score - t_unwrap, t_sample - t_score,
             t_end - t_sample)
    report(1.0)
    return textured, rep
