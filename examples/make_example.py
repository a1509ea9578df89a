"""Render examples/mug.jpg: a studio photo of a mug, made from scratch (no assets).

A numpy sphere-tracer over signed distance functions: a ceramic mug (hollow body with
a striped glaze and a handle) on a white sweep with a soft contact shadow, seen from
a little above. Deterministic: ``python examples/make_example.py`` rewrites the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 640


def _cyl(p, r, h0, h1, round_=0.03):
    d_r = np.hypot(p[..., 0], p[..., 2]) - (r - round_)
    d_y = np.maximum(h0 + round_ - p[..., 1], p[..., 1] - (h1 - round_))
    outside = np.hypot(np.maximum(d_r, 0), np.maximum(d_y, 0))
    return outside + np.minimum(np.maximum(d_r, d_y), 0) - round_


def _torus_xy(p, c, big, small):
    q = p - c
    return np.hypot(np.hypot(q[..., 0], q[..., 1]) - big, q[..., 2]) - small


def scene(p):
    body = _cyl(p, 0.36, 0.0, 0.82)
    inner = _cyl(p, 0.31, 0.07, 1.2, round_=0.02)
    mug = np.maximum(body, -inner)
    handle = _torus_xy(p, np.array([0.36, 0.43, 0.0]), 0.2, 0.05)
    handle = np.maximum(handle, 0.33 - p[..., 0])  # only the part outside the body
    return np.minimum(mug, handle)


def normal(p, eps=1e-3):
    e = np.eye(3) * eps
    n = np.stack([scene(p + e[i]) - scene(p - e[i]) for i in range(3)], axis=-1)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def render() -> np.ndarray:
    elev = np.radians(14.0)
    fwd = np.array([0.0, -np.sin(elev), -np.cos(elev)])
    right = np.array([1.0, 0.0, 0.0])
    up = np.cross(right, fwd)
    eye = np.array([0.0, 0.42, 0.0]) - fwd * 6.0
    fov = np.radians(13.0)
    s = (np.arange(SIZE) + 0.5) / SIZE * 2 - 1
    u, v = np.meshgrid(s, -s)
    d = fwd + np.tan(fov / 2) * (u[..., None] * right + v[..., None] * up)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    t = np.full(u.shape, 4.0)
    hit = np.zeros(u.shape, bool)
    for _ in range(160):
        p = eye + d * t[..., None]
        dist = scene(p)
        hit |= dist < 1e-4
        t = np.where(hit, t, t + dist * 0.9)
    p = eye + d * t[..., None]
    hit &= t < 9.0

    light = np.array([-0.5, 0.8, 0.6])
    light /= np.linalg.norm(light)
    img = np.zeros(u.shape + (3,))
    # Backdrop: white sweep, slightly darker at the top; a soft shadow on the floor.
    tf = (0.0 - eye[1]) / d[..., 1]
    floor = eye + d * tf[..., None]
    r = np.hypot(floor[..., 0] + 0.12, floor[..., 2] + 0.08)
    shadow = 0.28 * np.exp(-np.maximum(r - 0.3, 0) ** 2 / 0.03)
    bg = 0.97 - 0.07 * (v + 1) / 2
    img[:] = (bg * (1 - np.where(tf > 0, shadow, 0)))[..., None]

    n = normal(p[hit])
    ph = p[hit]
    radial = np.hypot(ph[:, 0], ph[:, 2])
    inside_wall = (radial < 0.315) & (ph[:, 1] > 0.06)
    stripe = (ph[:, 1] > 0.5) & (ph[:, 1] < 0.58)
    base = np.where(stripe[:, None], [0.93, 0.86, 0.7], [0.1, 0.45, 0.52])
    base = np.where(inside_wall[:, None], [0.9, 0.87, 0.8], base)
    lam = np.clip(n @ light, 0, 1)
    h = light - d[hit]
    h /= np.linalg.norm(h, axis=-1, keepdims=True)
    spec = np.clip(np.sum(n * h, axis=-1), 0, 1) ** 60
    ao = np.where(inside_wall, 0.6 + 0.4 * (ph[:, 1] / 0.82), 1.0)
    col = base * (0.28 + 0.72 * lam[:, None]) * ao[:, None] + 0.5 * spec[:, None]
    img[hit] = col
    rng = np.random.default_rng(7)
    img += rng.normal(0, 0.008, img.shape)  # sensor noise, as in a real photo
    return (np.clip(img, 0, 1) ** (1 / 1.1) * 255 + 0.5).astype(np.uint8)


if __name__ == "__main__":
    out = Path(__file__).with_name("mug.jpg")
    Image.fromarray(render()).save(out, quality=88)
    print(f"wrote {out} ({out.stat().st_size // 1024} kB)")
