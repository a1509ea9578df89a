"""Render batches of :class:`~lift3d.synth.scene.Scene` into :class:`SynthBatch` ground truth.

One vectorised pass per batch on any torch device: meshes are padded to the batch's
largest face count and ray cast brute force (:mod:`.raycast`) from pixel centres, so
every ground-truth map is exact at the pixel centre:

* ``depth``: z of the first entry / exit and second entry / exit of the ray through the
  union of the object's parts, normalised as :mod:`lift3d.shape.netio` defines
  (``z_ref`` = median first-entry z over the object's pixels, ``s = z_ref * tan(fov /
  2)``, the crop's half-width at ``z_ref``);
* ``normals``: interpolated (crease-aware) vertex normals at the first entry, camera
  frame, facing the camera;
* ``back_rgb``: the surface where the ray first leaves the object, shaded for a viewer
  behind it (same light and tonemap, no shadows).

The photo-like ``image`` is shaded at the first entry (environment, glossy reflections,
key light with shadow rays) over the scene's background, with soft contact shadows on
light floors. ``ssaa > 1`` renders the image and mask at ``ssaa`` times the size and
box-filters them (the mask becomes fractional coverage); the ground truth always comes
from rays through the pixel centres.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import InputError
from .appearance import (
    AppearanceTensors,
    BackgroundTensors,
    albedo,
    background_colors,
    linear_to_srgb,
    pack_appearance,
    pack_background,
    srgb_to_linear,
)
from .lighting import (
    LightingTensors,
    contact_shadow,
    env_lookup,
    prepare_lighting,
    shade,
    tonemap,
)
from .raycast import Hits, Layers, cast, layers
from .scene import Scene, sample_scene
from .types import Assets, SynthBatch

log = logging.getLogger(__name__)

#: Hits kept per camera ray (enough for two intervals through overlapping parts).
K_HITS: int = 8
#: Shadow-ray origins are lifted this far (object units) along the geometric normal.
SHADOW_OFFSET: float = 2e-3
_HDR_KIND = 3  # index of "hdr" in scene.BACKGROUND_KINDS


@dataclass(frozen=True)
class _Packed:
    """A batch of scenes as tensors (camera frame unless noted)."""

    tri: Tensor  # (B, F, 3, 3) float32, zero-padded
    nfaces: tuple[int, ...]  # real face count per item
    fnormal: Tensor  # (B, F, 3) unit face normals
    cnormal: Tensor  # (B, F, 9) corner shading normals
    part: Tensor  # (B, F) int64
    rot: Tensor  # (B, 3, 3) cam_from_object rotation
    trans: Tensor  # (B, 3)
    tan_half: Tensor  # (B,) tan(fov / 2)
    fov: Tensor  # (B,)
    principal: Tensor  # (B, 2)
    bbox: Tensor  # (B, 4) projected xmin, xmax, ymin, ymax (normalised crop coords)
    cam_obj: Tensor  # (B, 3) camera centre, object frame
    ground_y: Tensor  # (B,) object frame
    shadow_pts: Tensor  # (B, P, 3) object frame
    roughness: Tensor  # (B,)
    metallic: Tensor  # (B,)
    app: AppearanceTensors
    bg: BackgroundTensors
    light: LightingTensors


def _pack(scenes: Sequence[Scene], device: torch.device) -> _Packed:
    b = len(scenes)
    fmax = max(len(s.mesh.faces) for s in scenes)
    tri = np.zeros((b, fmax, 3, 3), np.float32)
    cn = np.zeros((b, fmax, 3, 3), np.float32)
    part = np.zeros((b, fmax), np.int64)
    bbox = np.zeros((b, 4), np.float64)
    for i, s in enumerate(scenes):
        m = s.cam_from_object
        v = np.asarray(s.mesh.vertices, np.float64) @ m[:3, :3].T + m[:3, 3]
        f = np.asarray(s.mesh.faces, np.int64)
        tri[i, :len(f)] = v[f]
        cn[i, :len(f)] = np.asarray(s.normals, np.float64) @ m[:3, :3].T
        part[i, :len(f)] = np.asarray(s.mesh.part)
        a = math.tan(s.fov / 2)
        uv = v[:, :2] / (v[:, 2:3] * a) + s.principal
        bbox[i] = [uv[:, 0].min(), uv[:, 0].max(), uv[:, 1].min(), uv[:, 1].max()]
    rot = np.stack([s.cam_from_object[:3, :3] for s in scenes])
    trans = np.stack([s.cam_from_object[:3, 3] for s in scenes])
    cam_obj = -np.einsum("bji,bj->bi", rot, trans)

    def t(x, dtype=torch.float32) -> Tensor:
        return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)

    tri_t = t(tri)
    e = torch.cross(tri_t[..., 1, :] - tri_t[..., 0, :], tri_t[..., 2, :] - tri_t[..., 0, :], -1)
    ln = torch.linalg.vector_norm(e, dim=-1, keepdim=True)
    fnormal = torch.where(ln > 0, e / ln.clamp_min(1e-30), torch.zeros_like(e))
    rough = t([s.roughness for s in scenes])
    return _Packed(
        tri=tri_t, nfaces=tuple(len(s.mesh.faces) for s in scenes), fnormal=fnormal,
        cnormal=t(cn.reshape(b, fmax, 9)),
        part=t(part, torch.int64), rot=t(rot), trans=t(trans),
        tan_half=t([math.tan(s.fov / 2) for s in scenes]), fov=t([s.fov for s in scenes]),
        principal=t(np.stack([s.principal for s in scenes])), bbox=t(bbox), cam_obj=t(cam_obj),
        ground_y=t([float(np.asarray(s.mesh.vertices)[:, 1].min()) for s in scenes]),
        shadow_pts=t(np.stack([s.shadow_points for s in scenes])),
        roughness=rough, metallic=t([s.metallic for s in scenes]),
        app=pack_appearance([s.appearance for s in scenes], device),
        bg=pack_background([s.background for s in scenes], device),
        light=prepare_lighting([s.lighting for s in scenes], rough, device),
    )


def _grid(n: int, b: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Normalised crop coordinates ``(B, n*n)`` of an ``n x n`` grid of pixel centres."""
    c = (torch.arange(n, dtype=torch.float32, device=device) + 0.5) * (2.0 / n) - 1.0
    yn, xn = torch.meshgrid(c, c, indexing="ij")
    return xn.reshape(1, -1).expand(b, -1), yn.reshape(1, -1).expand(b, -1)


def _compact(sel: Tensor) -> tuple[Tensor, Tensor, int]:
    """Indices ``(B, M)`` putting each row's selected rays first, validity, and ``M``."""
    counts = sel.sum(1)
    m = int(counts.max())
    order = torch.argsort((~sel).to(torch.uint8), dim=1, stable=True)[:, :m]
    valid = torch.arange(m, device=sel.device)[None, :] < counts[:, None]
    return order, valid, m


def _take(x: Tensor, idx: Tensor) -> Tensor:
    """Rows ``idx`` ``(B, M)`` of ``x`` ``(B, R, ...)``."""
    shape = idx.shape + x.shape[2:]
    flat = idx.reshape(idx.shape[0], -1, *([1] * (x.ndim - 2))).expand(shape)
    return torch.gather(x, 1, flat)


def _cast_selected(pk: _Packed, origins: Tensor, dirs: Tensor, sel: Tensor, k: int,
                   t_min: float = 0.0, camera: bool = False) -> Hits:
    """:func:`cast` for the rays where ``sel`` ``(B, R)``; the others get no hits.

    ``camera``: the rays start at the camera (shared origin) and repeated hits are
    merged per part; otherwise (shadow rays) only the nearest hit matters.
    """
    b, r = sel.shape
    tri = pk.tri
    dev = tri.device
    t = torch.full((b, r, k), float("inf"), device=dev)
    face = torch.full((b, r, k), -1, dtype=torch.int64, device=dev)
    u = torch.zeros((b, r, k), device=dev)
    v = torch.zeros((b, r, k), device=dev)
    order, valid, m = _compact(sel)
    if m == 0:
        return Hits(t, face, u, v)
    h = cast(tri, _take(origins, order), _take(dirs, order), k=k, t_min=t_min,
             part=pk.part if camera else None, shared_origin=camera, face_counts=pk.nfaces)
    vk = valid[..., None]
    idx = order[..., None].expand(-1, -1, k)
    t.scatter_(1, idx, torch.where(vk, h.t, torch.full_like(h.t, float("inf"))))
    face.scatter_(1, idx, torch.where(vk, h.face, torch.full_like(h.face, -1)))
    u.scatter_(1, idx, torch.where(vk, h.u, torch.zeros_like(h.u)))
    v.scatter_(1, idx, torch.where(vk, h.v, torch.zeros_like(h.v)))
    return Hits(t, face, u, v)


@dataclass(frozen=True)
class _Trace:
    xn: Tensor  # (B, R)
    yn: Tensor
    dirs: Tensor  # (B, R, 3) camera frame, unit z
    lay: Layers
    hit: Tensor  # (B, R) bool


def _trace(pk: _Packed, n: int) -> _Trace:
    b = pk.tri.shape[0]
    dev = pk.tri.device
    xn, yn = _grid(n, b, dev)
    th = pk.tan_half[:, None]
    dirs = torch.stack([(xn - pk.principal[:, :1]) * th, (yn - pk.principal[:, 1:]) * th,
                        torch.ones_like(xn)], dim=-1)
    # Rays outside the projected vertex bounding box cannot hit: skip them.
    m = 1e-4
    sel = ((xn >= pk.bbox[:, :1] - m) & (xn <= pk.bbox[:, 1:2] + m)
           & (yn >= pk.bbox[:, 2:3] - m) & (yn <= pk.bbox[:, 3:4] + m))
    hits = _cast_selected(pk, torch.zeros_like(dirs), dirs, sel, K_HITS, camera=True)
    lay = layers(hits, pk.fnormal, dirs)
    return _Trace(xn, yn, dirs, lay, lay.n_intervals > 0)


def _faces(values: Tensor, face: Tensor) -> Tensor:
    """Per-face ``values`` ``(B, F, C)`` at ``face`` ``(B, R)`` -> ``(B, R, C)``."""
    idx = face.clamp_min(0)[..., None].expand(-1, -1, values.shape[-1])
    return torch.gather(values, 1, idx)


def _surface(pk: _Packed, tr: _Trace, exit_: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Point, shading normal, geometric normal (camera frame) and part at the first entry
    (or exit). Normals face the viewer: the camera for the entry, a viewer behind the
    object (looking back along the ray) for the exit."""
    lay = tr.lay
    if exit_:
        z, face, u, v = lay.exit1, lay.face_exit1, lay.u_exit1, lay.v_exit1
    else:
        z, face, u, v = lay.entry1, lay.face_entry1, lay.u_entry1, lay.v_entry1
    z = torch.where(tr.hit, z, torch.zeros_like(z))
    p = tr.dirs * z[..., None]
    cn = _faces(pk.cnormal, face).view(*face.shape, 3, 3)
    n = ((1.0 - u - v)[..., None] * cn[..., 0, :] + u[..., None] * cn[..., 1, :]
         + v[..., None] * cn[..., 2, :])
    g = _faces(pk.fnormal, face)
    toward = tr.dirs / torch.linalg.vector_norm(tr.dirs, dim=-1, keepdim=True)
    if not exit_:
        toward = -toward  # unit vector from the surface to its viewer
    # The geometric normal of an entry (exit) face already points at its viewer; the
    # interpolated one can tip past the silhouette: pull it back to face the viewer.
    g = torch.where(((g * toward).sum(-1) < 0)[..., None], -g, g)
    n = torch.where(((n * g).sum(-1) < 0)[..., None], -n, n)
    nv = (n * toward).sum(-1, keepdim=True)
    n = torch.where(nv < 1e-3, n + (1e-3 - nv) * toward, n)
    n = n / torch.linalg.vector_norm(n, dim=-1, keepdim=True).clamp_min(1e-12)
    part = torch.gather(pk.part, 1, face.clamp_min(0))
    return p, n, g, part


def _to_object(pk: _Packed, x: Tensor, point: bool) -> Tensor:
    """Camera-frame vectors (``point``: positions) ``(B, R, 3)`` -> object frame."""
    if point:
        x = x - pk.trans[:, None, :]
    return torch.einsum("bij,bri->brj", pk.rot, x)


def _subset(tr: _Trace, sel: Tensor) -> tuple[_Trace, Tensor, Tensor, int]:
    """The rays of ``tr`` where ``sel`` ``(B, R)``, packed first in each row (padding
    rows have ``hit`` False), with the gather order, the validity of each row and the
    packed row length ``M`` (0: nothing selected)."""
    order, valid, m = _compact(sel)
    lay = Layers(*(_take(x, order) for x in tr.lay))
    sub = _Trace(_take(tr.xn, order), _take(tr.yn, order), _take(tr.dirs, order), lay,
                 _take(tr.hit, order) & valid)
    return sub, order, valid, m


def _scatter(values: Tensor, order: Tensor, valid: Tensor, r: int) -> Tensor:
    """Inverse of :func:`_subset` for ``values`` ``(B, M, C)`` -> ``(B, R, C)`` (0 elsewhere)."""
    b, _, c = values.shape
    out = torch.zeros((b, r, c), dtype=values.dtype, device=values.device)
    vals = torch.where(valid[..., None], values, torch.zeros_like(values))
    return out.scatter_(1, order[..., None].expand(-1, -1, c), vals)


def _shade_surface(pk: _Packed, tr: _Trace, exit_: bool, shadows: bool) -> Tensor:
    """Display sRGB ``(B, R, 3)`` of the first entry (or exit) surface of each ray that
    hits; 0 for the others."""
    r = tr.hit.shape[1]
    tr, order, valid, m = _subset(tr, tr.hit)
    if m == 0:
        return torch.zeros((tr.hit.shape[0], r, 3), device=tr.dirs.device)
    p, n, g, part = _surface(pk, tr, exit_)
    view = tr.dirs / torch.linalg.vector_norm(tr.dirs, dim=-1, keepdim=True)
    if not exit_:
        view = -view
    p_obj = _to_object(pk, p, True)
    n_obj = _to_object(pk, n, False)
    v_obj = _to_object(pk, view, False)
    alb = albedo(p_obj, part, pk.app)
    vis = None
    if shadows:
        l_cam = torch.einsum("bij,bj->bi", pk.rot, pk.light.key_dir)  # (B, 3)
        lit = tr.hit & ((n * l_cam[:, None, :]).sum(-1) > 0)
        origins = p + g * SHADOW_OFFSET
        dirs = l_cam[:, None, :].expand_as(origins)
        sh = _cast_selected(pk, origins, dirs, lit, 1, t_min=1e-5)
        vis = (~torch.isfinite(sh.t[..., 0])).to(p.dtype)
    rad = shade(alb, n_obj, v_obj, pk.roughness, pk.metallic, pk.light, vis)
    return _scatter(tonemap(rad, pk.light.exposure, pk.light.tonemap), order, valid, r)


def _background(pk: _Packed, tr: _Trace) -> Tensor:
    """Display sRGB ``(B, R, 3)`` of what each ray that misses the object sees behind
    it; 0 for the rays that hit."""
    r = tr.hit.shape[1]
    tr, order, valid, m = _subset(tr, ~tr.hit)
    if m == 0:
        return torch.zeros((tr.hit.shape[0], r, 3), device=tr.dirs.device)
    bg = background_colors(tr.xn, tr.yn, pk.bg)
    d_obj = _to_object(pk, tr.dirs, False)
    is_hdr = (pk.bg.kind == _HDR_KIND)
    if _HDR_KIND in pk.bg.present:
        env = tonemap(env_lookup(pk.light.env, d_obj), pk.light.exposure, pk.light.tonemap)
        bg = torch.where(is_hdr[:, None, None], env, bg)
    has = pk.bg.shadow > 0
    if pk.bg.shadows:
        c = pk.cam_obj[:, None, :]
        dy = d_obj[..., 1]
        above = (c[..., 1] > pk.ground_y[:, None] + 1e-4)
        floor = (dy < -1e-6) & above & valid & has[:, None]
        tg = (pk.ground_y[:, None] - c[..., 1]) / torch.where(floor, dy, -torch.ones_like(dy))
        ground = c + tg[..., None] * d_obj
        # The key light's cast shadow is as dark as its share of the light.
        key = pk.light.key_color.mean(-1)
        share = key / (key + pk.light.env_gain)
        fac = contact_shadow(ground, floor, pk.shadow_pts, pk.ground_y, pk.light.key_dir,
                             pk.bg.shadow, pk.bg.shadow * share)
        bg = linear_to_srgb(srgb_to_linear(bg) * fac[..., None])
    return _scatter(bg, order, valid, r)


def _planes(x: Tensor, n: int) -> Tensor:
    """``(B, n*n, C)`` -> ``(B, C, n, n)``."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], n, n)


def render_scenes(scenes: Sequence[Scene], size: int, device: str | torch.device = "cpu",
                  ssaa: int = 1) -> SynthBatch:
    """Render ``scenes`` at ``size x size`` pixels with exact ground truth.

    Args:
        scenes: from :func:`lift3d.synth.scene.sample_scene`.
        size: output side ``S`` in pixels.
        device: torch device for the whole computation and the result.
        ssaa: supersampling factor of ``image`` and ``mask`` (1 = none).

    Returns:
        :class:`SynthBatch` of ``B = len(scenes)`` samples on ``device`` (see its
        docstring for every map). Depth, normals and ``back_rgb`` are set where the
        pixel-centre ray hits the object and 0 elsewhere.
    """
    if len(scenes) == 0:
        raise InputError("scenes: need at least one scene")
    if int(size) != size or size < 2:
        raise InputError(f"size must be an integer >= 2, got {size}")
    if int(ssaa) != ssaa or ssaa < 1:
        raise InputError(f"ssaa must be an integer >= 1, got {ssaa}")
    size, ssaa = int(size), int(ssaa)
    dev = torch.device(device)
    pk = _pack(scenes, dev)

    gt = _trace(pk, size)
    col = gt if ssaa == 1 else _trace(pk, size * ssaa)
    front = _shade_surface(pk, col, exit_=False, shadows=True)
    rgb = torch.where(col.hit[..., None], front, _background(pk, col))
    cover = col.hit.to(torch.float32)[..., None]
    image = _planes(rgb, size * ssaa)
    mask = _planes(cover, size * ssaa)
    if ssaa > 1:
        image = F.avg_pool2d(image, ssaa)
        mask = F.avg_pool2d(mask, ssaa)

    lay = gt.lay
    hit = gt.hit
    z1 = torch.where(hit, lay.entry1, torch.full_like(lay.entry1, float("nan")))
    z_ref = torch.nanmedian(z1, dim=1).values
    z_ref = torch.where(torch.isfinite(z_ref), z_ref, pk.trans[:, 2])
    scale = z_ref * pk.tan_half
    two = lay.n_intervals >= 2

    def norm(z: Tensor, valid: Tensor) -> Tensor:
        zn = (z - z_ref[:, None]) / scale[:, None]
        return torch.where(valid, zn, torch.zeros_like(zn))

    depth = torch.stack([norm(lay.entry1, hit), norm(lay.exit1, hit),
                         norm(lay.entry2, two), norm(lay.exit2, two)], dim=-1)
    _, normal, _, _ = _surface(pk, gt, exit_=False)
    normal = torch.where(hit[..., None], normal, torch.zeros_like(normal))
    back = _shade_surface(pk, gt, exit_=True, shadows=False)
    back = torch.where(hit[..., None], back, torch.zeros_like(back))
    return SynthBatch(
        image=image.clamp(0.0, 1.0).contiguous(),
        mask=mask.contiguous(),
        depth=_planes(depth, size).contiguous(),
        layer2=_planes(two.to(torch.float32)[..., None], size).contiguous(),
        normals=_planes(normal, size).contiguous(),
        back_rgb=_planes(back, size).contiguous(),
        z_ref=z_ref.to(torch.float32),
        scale=scale.to(torch.float32),
        fov=pk.fov.to(torch.float32),
    )


def render_batch(seed: int, start: int, count: int, size: int, split: str = "train",
                 device: str | torch.device = "cpu", assets: Assets | None = None,
                 ssaa: int = 1) -> SynthBatch:
    """Sample scenes ``start .. start + count - 1`` of stream ``seed`` and render them."""
    if count < 1:
        raise InputError(f"count must be >= 1, got {count}")
    scenes = [sample_scene(seed, start + i, split, assets) for i in range(count)]
    return render_scenes(scenes, size, device, ssaa)


def render_photo(scene: Scene, size: int, ssaa: int = 2) -> np.ndarray:
    """The photo-like render of one scene: ``(size, size, 3)`` uint8 sRGB, on the CPU."""
    img = render_scenes([scene], size, "cpu", ssaa).image[0]
    return (img.permute(1, 2, 0) * 255.0 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
