"""Cheap, plausible image-based lighting in torch: SH9 diffuse, pre-blurred glossy
reflections, a key light with shadows, tonemapping, and contact shadows on the floor.

All directions are in the object frame (+Y up), where the scene's environment map
lives (see :class:`~lift3d.synth.scene.Lighting`). Radiance is linear; :func:`tonemap`
turns it into display sRGB.

* Diffuse: irradiance from the map's 9 spherical-harmonic coefficients (Ramamoorthi
  and Hanrahan 2001), times albedo / pi.
* Glossy: the map convolved once per scene with a von Mises-Fisher lobe whose width
  follows the scene's roughness, looked up in the mirror direction and scaled by the
  split-sum environment BRDF approximation (Karis 2014); Schlick Fresnel with F0 = 0.04
  for dielectrics and the albedo for metals.
* Key light: Lambert plus normalised Blinn-Phong, times a visibility the renderer gets
  from shadow rays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .appearance import linear_to_srgb
from .scene import ENV_SHAPE, Lighting, env_directions

#: The glossy map's size.
BLUR_SHAPE: tuple[int, int] = (ENV_SHAPE[0] // 4, ENV_SHAPE[1] // 4)
#: Largest lobe sharpness of the blurred map; sharper lobes blend in the full map.
_KAPPA_MAX = 1000.0

_TONEMAP_ID = {"filmic": 0, "reinhard": 1}


@dataclass(frozen=True)
class LightingTensors:
    """A batch of :class:`~lift3d.synth.scene.Lighting`, ready for shading.

    Attributes:
        env: ``(B, 3, h, w + 2)`` float32 linear environment, one column wrapped onto
            each side so bilinear lookups are seamless at azimuth +-pi.
        env_blur: ``(B, 3, h / 4, w / 4 + 2)`` the environment blurred for each scene's
            roughness, wrapped likewise.
        sharp: ``(B,)`` weight of ``env`` (against ``env_blur``) in glossy lookups.
        sh: ``(B, 9, 3)`` spherical-harmonic radiance coefficients.
        key_dir: ``(B, 3)`` unit direction towards the key light, object frame.
        key_color: ``(B, 3)`` key light radiance scale (irradiance / pi).
        exposure: ``(B,)`` linear exposure multiplier.
        tonemap: ``(B,)`` int64: 0 filmic, 1 Reinhard.
        env_gain: ``(B,)`` mean radiance of the environment.
    """

    env: Tensor
    env_blur: Tensor
    sharp: Tensor
    sh: Tensor
    key_dir: Tensor
    key_color: Tensor
    exposure: Tensor
    tonemap: Tensor
    env_gain: Tensor


def sh9(d: Tensor) -> Tensor:
    """Real spherical harmonics up to band 2 at unit directions ``(..., 3)`` -> ``(..., 9)``."""
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    return torch.stack([
        torch.full_like(x, 0.282095),
        0.488603 * y, 0.488603 * z, 0.488603 * x,
        1.092548 * x * y, 1.092548 * y * z, 0.315392 * (3.0 * z * z - 1.0),
        1.092548 * x * z, 0.546274 * (x * x - y * y)], dim=-1)


def sh_irradiance(sh: Tensor, n: Tensor) -> Tensor:
    """Irradiance ``(B, R, 3)`` at unit normals ``n`` ``(B, R, 3)`` from ``sh`` ``(B, 9, 3)``."""
    y = sh9(n)
    # Clamped-cosine convolution weights per band: pi, 2 pi / 3, pi / 4.
    y = torch.cat([y[..., :1] * math.pi, y[..., 1:4] * (2.0 * math.pi / 3.0),
                   y[..., 4:] * (math.pi / 4.0)], dim=-1)
    return torch.einsum("brk,bkc->brc", y, sh).clamp_min(0.0)


def _wrap(env: Tensor) -> Tensor:
    return torch.cat([env[..., -1:], env, env[..., :1]], dim=-1)


def env_lookup(env: Tensor, d: Tensor) -> Tensor:
    """Bilinear radiance ``(B, R, 3)`` of a wrapped map ``(B, 3, h, w + 2)`` towards ``d``.

    ``d`` ``(B, R, 3)`` need not be unit.
    """
    w = env.shape[3] - 2
    phi = torch.atan2(d[..., 0], d[..., 2])
    dn = torch.linalg.vector_norm(d, dim=-1).clamp_min(1e-12)
    theta = torch.acos((d[..., 1] / dn).clamp(-1.0, 1.0))
    col = (phi + math.pi) / (2 * math.pi) * w + 0.5  # +1 for the wrap column, -0.5 centre
    gx = (col + 0.5) / (w + 2) * 2.0 - 1.0
    gy = theta / math.pi * 2.0 - 1.0
    grid = torch.stack([gx, gy], dim=-1)[:, :, None, :].to(env.dtype)
    out = F.grid_sample(env, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[..., 0].permute(0, 2, 1)


def prepare_lighting(lights: Sequence[Lighting], roughness: Tensor,
                     device: torch.device) -> LightingTensors:
    """Stack the scenes' lights and precompute SH and glossy maps on ``device``.

    Args:
        lights: one :class:`Lighting` per scene.
        roughness: ``(B,)`` float32 scene roughness in ``[0, 1]`` (sets the blur).
        device: where the tensors go.
    """
    env_np = np.stack([np.asarray(li.env, np.float32) for li in lights])  # (B, h, w, 3)
    env = torch.as_tensor(env_np, device=device).permute(0, 3, 1, 2).contiguous()
    b, _, h, w = env.shape
    dirs, domega = env_directions((h, w))
    dirs_t = torch.as_tensor(dirs, dtype=torch.float32, device=device).reshape(-1, 3)
    dom_t = torch.as_tensor(domega, dtype=torch.float32, device=device).reshape(-1)
    flat = env.reshape(b, 3, -1)
    sh = torch.einsum("bcn,nk->bkc", flat * dom_t, sh9(dirs_t))

    # Glossy map: the 2x2-averaged map convolved with each scene's lobe, evaluated on
    # a grid half as fine again (the lobes it serves are wider than its texels).
    src = F.avg_pool2d(env, 2)
    sh_, sw_ = src.shape[2:]
    bh, bw = BLUR_SHAPE
    sdirs, sdom = env_directions((sh_, sw_))
    tdirs, _ = env_directions((bh, bw))
    sd = torch.as_tensor(sdirs, dtype=torch.float32, device=device).reshape(-1, 3)
    so = torch.as_tensor(sdom, dtype=torch.float32, device=device).reshape(-1)
    td = torch.as_tensor(tdirs, dtype=torch.float32, device=device).reshape(-1, 3)
    cosang = td @ sd.T - 1.0  # (Nt, Ns), <= 0
    alpha = roughness.to(torch.float32).clamp(0.02, 1.0) ** 2
    kappa = (2.0 / (alpha * alpha)).clamp(max=_KAPPA_MAX)
    sflat = src.reshape(b, 3, -1).transpose(1, 2)  # (B, Ns, 3)
    blur = torch.empty(b, td.shape[0], 3, device=device)
    step = max(1, (1 << 23) // cosang.numel())
    for i in range(0, b, step):
        k = torch.exp(kappa[i:i + step, None, None] * cosang) * so  # (bc, Nt, Ns)
        blur[i:i + step] = torch.bmm(k, sflat[i:i + step]) / k.sum(-1, keepdim=True).clamp_min(
            1e-30)
    blur = blur.transpose(1, 2).reshape(b, 3, bh, bw)
    sharp = ((kappa - 100.0) / 400.0).clamp(0.0, 1.0)

    def t(x, dtype=torch.float32) -> Tensor:
        return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)

    return LightingTensors(
        env=_wrap(env), env_blur=_wrap(blur), sharp=sharp, sh=sh,
        key_dir=t(np.stack([li.key_dir for li in lights])),
        key_color=t(np.stack([li.key_color for li in lights])),
        exposure=t([li.exposure for li in lights]),
        tonemap=t([_TONEMAP_ID[li.tonemap] for li in lights], torch.int64),
        env_gain=t([li.env_gain for li in lights]),
    )


def _env_brdf(f0: Tensor, rough: Tensor, nv: Tensor) -> Tensor:
    """Karis' analytic fit of the split-sum GGX environment BRDF: ``f0 * A + B``."""
    r0 = 1.0 - rough
    r1 = 0.0425 - 0.0275 * rough
    r2 = 1.04 - 0.572 * rough
    r3 = 0.022 * rough - 0.04
    a004 = torch.minimum(r0 * r0, torch.exp2(-9.28 * nv)) * r0 + r1
    a = a004 * -1.04 + r2
    bb = a004 * 1.04 + r3
    return f0 * a[..., None] + bb[..., None]


def shade(albedo: Tensor, n: Tensor, v: Tensor, roughness: Tensor, metallic: Tensor,
          light: LightingTensors, visibility: Tensor | None = None) -> Tensor:
    """Linear radiance ``(B, R, 3)`` leaving surface points towards the viewer.

    Args:
        albedo: ``(B, R, 3)`` linear base colour in ``[0, 1]``.
        n: ``(B, R, 3)`` unit shading normals, object frame.
        v: ``(B, R, 3)`` unit directions from the point towards the viewer, object frame.
        roughness, metallic: ``(B,)`` per scene.
        light: :class:`LightingTensors`.
        visibility: ``(B, R)`` key-light visibility in ``[0, 1]`` (shadow rays); ``None``
            for unshadowed.
    """
    b = n.shape[0]
    rough = roughness.view(b, 1).expand(n.shape[:2])
    metal = metallic.view(b, 1, 1)
    nv = (n * v).sum(-1).clamp(1e-4, 1.0)
    f0 = 0.04 + (albedo - 0.04) * metal
    diff = albedo * (1.0 - metal)
    diffuse = diff * sh_irradiance(light.sh, n) / math.pi
    refl = 2.0 * nv[..., None] * n - v
    sharp = light.sharp.view(b, 1, 1)
    spec_env = (env_lookup(light.env_blur, refl) * (1.0 - sharp)
                + env_lookup(light.env, refl) * sharp)
    spec = spec_env * _env_brdf(f0, rough, nv)
    ld = light.key_dir[:, None, :]
    nl = (n * ld).sum(-1).clamp_min(0.0)
    hv = ld + v
    hv = hv / torch.linalg.vector_norm(hv, dim=-1, keepdim=True).clamp_min(1e-8)
    nh = (n * hv).sum(-1).clamp(0.0, 1.0)
    vh = (v * hv).sum(-1).clamp(0.0, 1.0)
    alpha = rough.clamp_min(0.05) ** 2
    s = (2.0 / (alpha * alpha) - 2.0).clamp(1.0, 4000.0)
    fres = f0 + (1.0 - f0) * ((1.0 - vh) ** 5)[..., None]
    lobe = ((s + 8.0) / 8.0 * nh ** s)[..., None]
    key = light.key_color[:, None, :] * nl[..., None] * (diff + fres * lobe)
    if visibility is not None:
        key = key * visibility[..., None]
    return diffuse + spec + key


def tonemap(x: Tensor, exposure: Tensor, mode: Tensor) -> Tensor:
    """Linear radiance ``(B, ..., 3)`` -> display sRGB in ``[0, 1]``.

    ``exposure`` ``(B,)`` scales first; ``mode`` ``(B,)`` picks the curve: 0 the ACES
    filmic fit (Narkowicz 2015), 1 extended Reinhard per channel (white point 4).
    """
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    x = x.clamp_min(0.0) * exposure.view(shape)
    aces = (x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14)
    reinhard = x * (1.0 + x / 16.0) / (1.0 + x)
    y = torch.where(mode.view(shape) == 0, aces, reinhard)
    return linear_to_srgb(y)


def contact_shadow(ground: Tensor, valid: Tensor, points: Tensor, ground_y: Tensor,
                   key_dir: Tensor, ao_strength: Tensor, key_strength: Tensor,
                   max_elems: int = 1 << 24) -> Tensor:
    """Soft shadow of the object on the floor: a multiplier ``(B, R)`` in ``[0, 1]``.

    Two splatted terms from surface points ``points`` ``(B, P, 3)`` (object frame):
    an ambient-occlusion footprint (points near the floor darken it around them, more
    sharply the lower they are) and the key light's cast shadow (points projected to
    the floor along the light, blurred more the higher they are).

    Args:
        ground: ``(B, R, 3)`` floor points (object frame) seen through each pixel.
        valid: ``(B, R)`` bool, the pixel sees the floor.
        points: ``(B, P, 3)`` surface samples.
        ground_y: ``(B,)`` the floor height (the object's lowest y).
        key_dir: ``(B, 3)`` unit direction towards the key light.
        ao_strength, key_strength: ``(B,)`` in ``[0, 1]``.
        max_elems: bound on the ``(B, R', P)`` temporaries (rays are chunked).
    """
    b, r = valid.shape
    h = (points[..., 1] - ground_y[:, None]).clamp_min(0.0)  # (B, P)
    pxz = points[..., [0, 2]]
    sig_ao = 0.04 + 0.3 * h
    w_ao = torch.exp(-h / 0.2) * 0.6
    ly = key_dir[:, 1].clamp_min(0.3)
    proj = pxz - key_dir[:, None, [0, 2]] * (h / ly[:, None])[..., None]
    sig_k = 0.04 + 0.06 * h
    g = ground[..., [0, 2]]
    out = torch.ones((b, r), dtype=ground.dtype, device=ground.device)
    step = max(1, max_elems // max(1, b * points.shape[1]))
    for r0 in range(0, r, step):
        gc = g[:, r0:r0 + step, None, :]  # (B, rc, 1, 2)
        d_ao = ((gc - pxz[:, None]) ** 2).sum(-1)
        ao = (w_ao[:, None] * torch.exp(-0.5 * d_ao / (sig_ao[:, None] ** 2))).sum(-1)
        d_k = ((gc - proj[:, None]) ** 2).sum(-1)
        kk = torch.exp(-0.5 * d_k / (sig_k[:, None] ** 2)).sum(-1)
        occ_ao = 1.0 - torch.exp(-ao)
        occ_k = 1.0 - torch.exp(-0.5 * kk)
        f = (1.0 - ao_strength[:, None] * occ_ao) * (1.0 - key_strength[:, None] * occ_k)
        out[:, r0:r0 + step] = torch.where(valid[:, r0:r0 + step], f, torch.ones_like(f))
    return out.clamp(0.0, 1.0)
