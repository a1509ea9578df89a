"""Procedural albedo and backgrounds, evaluated in torch for a whole batch at once.

Albedo is a function of the object-frame hit point and the part id (no UVs): solid,
two-tone, stripes, value noise, wood rings, marble veins, and packaging labels wrapped
cylindrically about +Y. Every scene of a batch may use a different kind; each kind is
evaluated for every point and the scene's own is selected, which costs a few cheap
elementwise passes and keeps the batch fully vectorised.

Colours in :class:`~lift3d.synth.scene.Appearance` are sRGB; :func:`albedo` returns
*linear* reflectance for shading. Backgrounds (:func:`background_colors`) are produced
directly as display sRGB.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .scene import (
    APPEARANCE_KINDS,
    BACKGROUND_KINDS,
    LABEL_SHAPE,
    TEXTURE_PATTERNS,
    Appearance,
    Background,
)

_APP_ID = {k: i for i, k in enumerate(APPEARANCE_KINDS)}
_BG_ID = {k: i for i, k in enumerate(BACKGROUND_KINDS)}
_PAT_ID = {"": 0, "vertical": 0, "radial": 1,
           **{k: i for i, k in enumerate(TEXTURE_PATTERNS)}}


def srgb_to_linear(c: Tensor) -> Tensor:
    """sRGB-encoded values in ``[0, 1]`` -> linear."""
    c = c.clamp(0.0, 1.0)
    return torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: Tensor) -> Tensor:
    """Linear values -> sRGB-encoded, clamped to ``[0, 1]``."""
    c = c.clamp(0.0, 1.0)
    return torch.where(c <= 0.0031308, c * 12.92, 1.055 * c.clamp_min(1e-12) ** (1 / 2.4) - 0.055)


# ---------------------------------------------------------------------------- noise


def _hash01(ix: Tensor, iy: Tensor, iz: Tensor, seed: Tensor) -> Tensor:
    """Integer lattice hash -> float32 in ``[0, 1)``; identical on every device."""
    h = ix * 73856093 ^ iy * 19349663 ^ iz * 83492791 ^ seed * 2654435761
    # Masked to 31 bits before each multiply so no product overflows int64.
    h = ((h ^ (h >> 13)) & 0x7FFFFFFF) * 1274126177
    h = h ^ (h >> 16)
    return (h & 0xFFFFFF).to(torch.float32) * (1.0 / 16777216.0)


def value_noise(p: Tensor, seed: Tensor) -> Tensor:
    """Smooth 3-D value noise in ``[0, 1]`` at points ``p`` ``(..., 3)``.

    ``seed`` is an int64 tensor broadcastable to ``p.shape[:-1]``.
    """
    fl = torch.floor(p)
    f = p - fl
    w = f * f * (3.0 - 2.0 * f)
    # The eight lattice corners at once (one hash over a trailing axis of 8); built on
    # the device, since a host-to-device copy here would stall the GPU queue.
    a = torch.arange(8, device=p.device)
    c = torch.stack([(a >> 2) & 1, (a >> 1) & 1, a & 1], dim=-1)  # (8, 3)
    i = fl.to(torch.int64)[..., None, :] + c
    h = _hash01(i[..., 0], i[..., 1], i[..., 2], seed[..., None])
    cf = c.to(p.dtype)
    wc = (w[..., None, :] * cf + (1.0 - w[..., None, :]) * (1.0 - cf)).prod(-1)  # (..., 8)
    return (wc * h).sum(-1)


def fbm(p: Tensor, seed: Tensor, octaves: int = 4) -> Tensor:
    """Fractal sum of :func:`value_noise`, in ``[0, 1]``."""
    total, amp, norm = torch.zeros_like(p[..., 0]), 1.0, 0.0
    for o in range(octaves):
        total = total + amp * value_noise(p * (2.0**o), seed + 7919 * o)
        norm += amp
        amp *= 0.5
    return total / norm


def turbulence(p: Tensor, seed: Tensor, octaves: int = 4) -> Tensor:
    """Sum of ``|2 noise - 1|`` over octaves, in ``[0, 1]``: the creases marble needs."""
    total, amp, norm = torch.zeros_like(p[..., 0]), 1.0, 0.0
    for o in range(octaves):
        total = total + amp * (2.0 * value_noise(p * (2.0**o), seed + 104729 * o) - 1.0).abs()
        norm += amp
        amp *= 0.5
    return total / norm


def _smoothstep(e0: float, e1: float, x: Tensor) -> Tensor:
    t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _mix(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    return a + (b - a) * t[..., None]


# ---------------------------------------------------------------------------- albedo


@dataclass(frozen=True)
class AppearanceTensors:
    """A batch of :class:`~lift3d.synth.scene.Appearance` as tensors on one device.

    Attributes:
        kind: ``(B,)`` int64 index into ``APPEARANCE_KINDS``.
        colors: ``(B, 4, 3)`` float32 *linear* colours.
        axis: ``(B, 3)`` float32 unit pattern axis, object frame.
        freq, phase, offset, noise_scale: ``(B,)`` float32.
        seed: ``(B,)`` int64 noise seed.
        by_part: ``(B,)`` bool.
        label: ``(B, 3, h, w)`` float32 linear label bitmaps (zeros without a label).
        band: ``(B, 4)`` float32 ``(y0, y1, theta0, span)``.
        present: the kind indices some scene uses (host side, so no device sync is
            needed to skip the others).
    """

    kind: Tensor
    colors: Tensor
    axis: Tensor
    freq: Tensor
    phase: Tensor
    offset: Tensor
    noise_scale: Tensor
    seed: Tensor
    by_part: Tensor
    label: Tensor
    band: Tensor
    present: frozenset[int] = frozenset()


def pack_appearance(apps: Sequence[Appearance], device: torch.device) -> AppearanceTensors:
    """Stack per-scene appearance parameters into tensors on ``device``."""

    def t(x, dtype=torch.float32) -> Tensor:
        return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)

    h, w = LABEL_SHAPE
    labels = np.zeros((len(apps), h, w, 3), np.float32)
    for i, a in enumerate(apps):
        if a.label is not None:
            lab = np.asarray(a.label)
            if lab.shape[:2] != (h, w):
                import cv2

                lab = cv2.resize(lab, (w, h), interpolation=cv2.INTER_AREA)
            labels[i] = lab.astype(np.float32) / 255.0
    return AppearanceTensors(
        kind=t([_APP_ID[a.kind] for a in apps], torch.int64),
        colors=srgb_to_linear(t(np.stack([a.colors for a in apps]))),
        axis=t(np.stack([a.axis for a in apps])),
        freq=t([a.freq for a in apps]),
        phase=t([a.phase for a in apps]),
        offset=t([a.offset for a in apps]),
        noise_scale=t([a.noise_scale for a in apps]),
        seed=t([a.seed for a in apps], torch.int64),
        by_part=t([a.by_part for a in apps], torch.bool),
        label=srgb_to_linear(t(labels)).permute(0, 3, 1, 2).contiguous(),
        band=t(np.stack([a.band for a in apps])),
        present=frozenset(_APP_ID[a.kind] for a in apps),
    )


def albedo(points: Tensor, part: Tensor, p: AppearanceTensors) -> Tensor:
    """Linear albedo ``(B, R, 3)`` in ``[0, 1]`` at object-frame ``points`` ``(B, R, 3)``.

    ``part`` ``(B, R)`` int64 is the part index of the face hit at each point. Only the
    kinds some scene of the batch uses are evaluated.
    """
    b = points.shape[0]
    col = p.colors  # (B, 4, 3)
    c0, c1, c2 = col[:, None, 0], col[:, None, 1], col[:, None, 2]  # (B, 1, 3)
    out = c0.expand(b, points.shape[1], 3)
    present = p.present

    def per(x: Tensor) -> Tensor:
        return x.view(b, 1)

    def put(kind: str, value: Tensor) -> None:
        nonlocal out
        out = torch.where(per(p.kind == _APP_ID[kind])[..., None], value, out)

    seed = per(p.seed)
    s_axis = (points * p.axis[:, None, :]).sum(-1)  # (B, R)
    warped = present & {_APP_ID[k] for k in ("stripes", "noise", "wood")}
    warp = fbm(points * per(p.noise_scale)[..., None], seed, 3) if warped else None
    if _APP_ID["two_tone"] in present:  # per part or across a plane
        side = torch.where(per(p.by_part), (part % 2) == 1, s_axis > per(p.offset))
        put("two_tone", torch.where(side[..., None], c1, c0))
    if _APP_ID["stripes"] in present:  # a slight wobble, so they do not look printed
        ph = s_axis * per(p.freq) + per(p.phase) + 0.08 * warp
        put("stripes", torch.where(((ph - torch.floor(ph)) < per(p.offset))[..., None], c1, c0))
    if _APP_ID["noise"] in present:  # soft blotches of two colours, a little of a third
        n = fbm(points * per(p.noise_scale)[..., None] * 0.6, seed + 17, 4)
        put("noise", _mix(_mix(c0, c1, _smoothstep(0.35, 0.65, n)), c2,
                          0.25 * _smoothstep(0.6, 0.8, warp)))
    if _APP_ID["wood"] in present:  # rings about the axis, bent by noise, fine grain
        radial = points - p.axis[:, None, :] * s_axis[..., None]
        r = torch.linalg.vector_norm(radial + 0.15, dim=-1)
        rings = r * per(p.freq) + 1.5 * warp
        ring = (rings - torch.floor(rings)) ** 3
        grain = value_noise(points * 40.0 + 3.0 * s_axis[..., None], seed + 5)
        put("wood", _mix(c0, c1, (0.75 * ring + 0.25 * grain).clamp(0, 1)))
    if _APP_ID["marble"] in present:  # sharp veins along a turbulent sine
        tb = turbulence(points * per(p.noise_scale)[..., None] * 0.7, seed + 29, 5)
        vein = (torch.sin(math.pi * (s_axis * per(p.freq) + 4.0 * tb))).abs() ** 0.35
        put("marble", _mix(c1, c0, vein))
    if _APP_ID["label"] in present:  # cylindrical band about +Y: bitmap inside, base outside
        theta = torch.atan2(points[..., 0], points[..., 2])
        band = p.band
        rel = torch.remainder(theta - band[:, None, 2], 2 * math.pi)
        u = rel / band[:, None, 3].clamp_min(1e-6)
        h = (band[:, None, 1] - band[:, None, 0]).clamp_min(1e-6)
        v = (band[:, None, 1] - points[..., 1]) / h
        inside = (u <= 1.0) & (v >= 0.0) & (v <= 1.0)
        grid = torch.stack([u * 2.0 - 1.0, v * 2.0 - 1.0], dim=-1)[:, :, None, :]
        lab = F.grid_sample(p.label, grid.to(p.label.dtype), mode="bilinear",
                            padding_mode="border", align_corners=False)[..., 0].permute(0, 2, 1)
        put("label", torch.where(inside[..., None], lab, c0.expand_as(lab)))
    return out.clamp(0.0, 1.0)


# ---------------------------------------------------------------------------- backgrounds


@dataclass(frozen=True)
class BackgroundTensors:
    """A batch of :class:`~lift3d.synth.scene.Background` as tensors.

    Attributes:
        kind: ``(B,)`` int64 index into ``BACKGROUND_KINDS``.
        colors: ``(B, 3, 3)`` float32 sRGB.
        pattern: ``(B,)`` int64 (gradient: 0 vertical, 1 radial; texture: index into
            ``TEXTURE_PATTERNS``).
        angle, freq, vignette, shadow: ``(B,)`` float32.
        seed: ``(B,)`` int64.
        present: background kind indices some scene uses (host side).
        patterns: texture pattern indices some texture background uses (host side).
        shadows: some scene has contact shadows (host side).
    """

    kind: Tensor
    colors: Tensor
    pattern: Tensor
    angle: Tensor
    freq: Tensor
    vignette: Tensor
    shadow: Tensor
    seed: Tensor
    present: frozenset[int] = frozenset()
    patterns: frozenset[int] = frozenset()
    shadows: bool = False


def pack_background(bgs: Sequence[Background], device: torch.device) -> BackgroundTensors:
    """Stack per-scene background parameters into tensors on ``device``."""

    def t(x, dtype=torch.float32) -> Tensor:
        return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)

    return BackgroundTensors(
        kind=t([_BG_ID[g.kind] for g in bgs], torch.int64),
        colors=t(np.stack([g.colors for g in bgs])),
        pattern=t([_PAT_ID[g.pattern] for g in bgs], torch.int64),
        angle=t([g.angle for g in bgs]),
        freq=t([g.freq for g in bgs]),
        vignette=t([g.vignette for g in bgs]),
        shadow=t([g.shadow for g in bgs]),
        seed=t([g.seed for g in bgs], torch.int64),
        present=frozenset(_BG_ID[g.kind] for g in bgs),
        patterns=frozenset(_PAT_ID[g.pattern] for g in bgs if g.kind == "texture"),
        shadows=any(g.shadow > 0 for g in bgs),
    )


def background_colors(xn: Tensor, yn: Tensor, p: BackgroundTensors) -> Tensor:
    """Display sRGB ``(B, R, 3)`` of the studio / solid / gradient / texture backgrounds.

    ``xn, yn`` ``(B, R)`` are normalised crop coordinates (``[-1, 1]``, ``yn`` down).
    Scenes whose background is ``hdr`` get a placeholder here; the renderer replaces
    it by the environment seen through the camera.
    """
    b = xn.shape[0]

    def per(x: Tensor) -> Tensor:
        return x.view(b, 1)

    c0, c1, c2 = p.colors[:, None, 0], p.colors[:, None, 1], p.colors[:, None, 2]
    out = c0.expand(b, xn.shape[1], 3)
    present = p.present
    r2 = xn * xn + yn * yn

    def put(sel: Tensor, value: Tensor) -> None:
        nonlocal out
        out = torch.where(per(sel)[..., None], value, out)

    if _BG_ID["studio"] in present:  # a sweep: brighter towards the floor
        put(p.kind == _BG_ID["studio"], _mix(c1, c0, _smoothstep(-1.2, 1.2, yn)))
    if _BG_ID["gradient"] in present:
        radial = _mix(c0, c1, _smoothstep(0.0, 1.6, torch.sqrt(r2 + 1e-12)))
        vertical = _mix(c0, c1, _smoothstep(-1.1, 1.1, yn + 0.2 * xn * torch.sin(per(p.angle))))
        put(p.kind == _BG_ID["gradient"],
            torch.where(per(p.pattern == 1)[..., None], radial, vertical))
    if _BG_ID["texture"] in present:
        ca, sa = torch.cos(per(p.angle)), torch.sin(per(p.angle))
        a = (xn * ca - yn * sa) * per(p.freq) * 0.5
        c = (xn * sa + yn * ca) * per(p.freq) * 0.5
        seed = per(p.seed)
        is_tex = p.kind == _BG_ID["texture"]
        pats = p.patterns
        pid = {k: i for i, k in enumerate(TEXTURE_PATTERNS)}
        if pid["noise"] in pats:
            n = fbm(torch.stack([a, c, torch.zeros_like(a)], -1), seed, 4)
            put(is_tex & (p.pattern == pid["noise"]),
                _mix(_mix(c0, c1, _smoothstep(0.3, 0.7, n)), c2, 0.3 * _smoothstep(0.65, 0.8, n)))
        if pid["stripes"] in pats:
            frac = a - torch.floor(a)
            put(is_tex & (p.pattern == pid["stripes"]),
                _mix(c0, c1, _smoothstep(0.45, 0.55, frac) - _smoothstep(0.95, 1.0, frac)))
        if pid["checker"] in pats:
            chk = (torch.floor(a) + torch.floor(c)).remainder(2.0)
            put(is_tex & (p.pattern == pid["checker"]), _mix(c0, c1, chk))
        if pid["wood"] in pats:  # planks with grain along them
            plank = torch.floor(c * 0.5)
            gn = fbm(torch.stack([a * 0.3, c * 6.0, plank], -1), seed, 4)
            grain = c * 3.0 + 2.0 * gn
            put(is_tex & (p.pattern == pid["wood"]),
                _mix(c0, c1, ((grain - torch.floor(grain)) ** 2 * 0.7 + 0.3 * gn).clamp(0, 1)))
    vign = 1.0 - per(p.vignette) * (r2 / 2.0).clamp(0, 1)
    return (out * vign[..., None]).clamp(0.0, 1.0)
