"""Scene sampling: shape, camera, material, light and background as plain numpy.

:func:`sample_scene` is a pure function of ``(seed, index, split)`` (and the assets): it
draws everything a render needs and returns a frozen, picklable :class:`Scene`. It
imports no torch, so DataLoader workers can run it; :mod:`lift3d.synth.render` turns a
list of scenes into images and ground truth on any device.

Frames: the mesh is in the object frame (+Y up, +Z front, see
:class:`~lift3d.synth.types.SynthMesh`); ``cam_from_object`` maps it to the OpenCV camera
frame (+x right, +y down, +z forward). Image coordinates are *normalised* so that any
render size works: ``xn, yn`` in ``[-1, 1]`` span the square crop (``xn = -1`` its left
edge, ``yn = -1`` its top edge), and a camera-frame point projects to
``xn = x / (z * tan(fov / 2)) + principal[0]`` (likewise ``yn``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import optimize, sparse, spatial

from ..errors import InputError
from .types import Assets, SynthMesh

log = logging.getLogger(__name__)

#: Procedural albedo kinds, evaluated at object-frame points (see :mod:`.appearance`).
APPEARANCE_KINDS: tuple[str, ...] = (
    "solid", "two_tone", "stripes", "noise", "wood", "marble", "label")
_APPEARANCE_WEIGHTS = (0.22, 0.14, 0.10, 0.12, 0.10, 0.10, 0.22)
#: Background kinds and their sampling weights.
BACKGROUND_KINDS: tuple[str, ...] = ("studio", "solid", "gradient", "hdr", "texture")
_BACKGROUND_WEIGHTS = (0.35, 0.20, 0.15, 0.15, 0.15)
#: Patterns of ``texture`` backgrounds (and of ``gradient``: ``vertical``, ``radial``).
TEXTURE_PATTERNS: tuple[str, ...] = ("noise", "stripes", "checker", "wood")
#: Environment maps are stored at this ``(rows, columns)`` size.
ENV_SHAPE: tuple[int, int] = (64, 128)
#: Label bitmaps: ``(rows, columns)``.
LABEL_SHAPE: tuple[int, int] = (64, 256)
#: Surface points kept for contact shadows.
SHADOW_POINTS: int = 256
#: Normals of faces meeting at more than this angle are not averaged (hard edges).
CREASE_DEG: float = 40.0

_OVERRIDE_KEYS = frozenset({
    "mesh", "appearance", "background", "pattern", "environment", "hdri", "fov",
    "elevation", "azimuth", "roll", "fill", "offset", "principal", "roughness", "metallic",
    "tonemap", "key_intensity", "exposure"})


@dataclass(frozen=True)
class Appearance:
    """Procedural albedo parameters (evaluated by :func:`lift3d.synth.appearance.albedo`).

    Attributes:
        kind: one of :data:`APPEARANCE_KINDS`.
        colors: ``(4, 3)`` float32 sRGB in ``[0, 1]``: base, second, third, accent.
        axis: ``(3,)`` float32 unit vector, object frame: stripe / split / grain direction.
        freq: pattern frequency, cycles per object unit.
        phase: pattern phase, cycles.
        offset: split-plane offset (two-tone, object units) or stripe duty cycle.
        noise_scale: frequency of the noise that perturbs patterns, per object unit.
        seed: integer hash seed of the noise.
        by_part: two-tone colours alternate per mesh part instead of across a plane.
        label: ``(h, w, 3)`` uint8 sRGB label bitmap (row 0 = top), or ``None``.
        band: ``(4,)`` float32 label band ``(y0, y1, theta0, span)``: object-frame
            heights and azimuth start / extent in radians (azimuth ``atan2(x, z)``).
    """

    kind: str
    colors: np.ndarray
    axis: np.ndarray
    freq: float
    phase: float
    offset: float
    noise_scale: float
    seed: int
    by_part: bool = False
    label: np.ndarray | None = None
    band: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))


@dataclass(frozen=True)
class Lighting:
    """Environment and key light, in the object frame.

    Attributes:
        env: ``(64, 128, 3)`` float32 linear radiance, equirectangular in the object
            frame (row 0 = +Y, column 0 = azimuth -pi, azimuth from +Z towards +X), its
            yaw already applied, scaled so that its mean radiance is ``env_gain``.
        env_name: ``"hdri:<name>"`` or ``"procedural:studio"`` / ``"procedural:sky"``.
        yaw: rotation applied to the map about +Y, radians.
        env_gain: mean radiance of ``env`` (solid-angle weighted luminance).
        key_dir: ``(3,)`` float32 unit direction towards the key light, object frame.
        key_color: ``(3,)`` float32 linear irradiance of the key light at normal
            incidence, divided by pi (so a white Lambertian surface facing it
            reflects this radiance).
        exposure: linear multiplier applied before tonemapping.
        tonemap: ``"filmic"`` (ACES fit) or ``"reinhard"``.
    """

    env: np.ndarray
    env_name: str
    yaw: float
    env_gain: float
    key_dir: np.ndarray
    key_color: np.ndarray
    exposure: float
    tonemap: str


@dataclass(frozen=True)
class Background:
    """What the camera sees behind the object.

    Attributes:
        kind: one of :data:`BACKGROUND_KINDS`.
        colors: ``(3, 3)`` float32 sRGB in ``[0, 1]``.
        pattern: ``"vertical"`` / ``"radial"`` for gradients, one of
            :data:`TEXTURE_PATTERNS` for textures, ``""`` otherwise.
        angle: pattern rotation in the image, radians.
        freq: pattern frequency, cycles per crop width.
        vignette: darkening at the crop corners, fraction.
        seed: integer hash seed of the noise.
        shadow: contact-shadow strength in ``[0, 1]`` on the ground plane (0: none).
    """

    kind: str
    colors: np.ndarray
    pattern: str
    angle: float
    freq: float
    vignette: float
    seed: int
    shadow: float


@dataclass(frozen=True)
class Scene:
    """Everything one synthetic render needs; numpy only, picklable.

    Attributes:
        mesh: the object (:class:`SynthMesh`, object frame).
        normals: ``(F, 3, 3)`` float32 unit shading normal at each face corner, object
            frame: vertex normals averaged over faces meeting within
            :data:`CREASE_DEG`, so hard edges stay hard.
        cam_from_object: ``(4, 4)`` float64 rigid transform, object frame -> OpenCV
            camera frame.
        fov: full field of view of the square crop, radians.
        principal: ``(2,)`` float64 principal point in normalised crop coordinates
            (0 = crop centre, +-1 = crop edges).
        appearance: :class:`Appearance`.
        lighting: :class:`Lighting`.
        background: :class:`Background`.
        roughness: in ``[0.1, 0.9]``.
        metallic: 0 or 1.
        shadow_points: ``(P, 3)`` float32 points on the surface (object frame) for
            contact shadows.
        view: ``(azimuth, elevation, roll)`` of the camera, degrees.
        fill: projected bounding-box side over crop side.
        offset: ``(2,)`` projected bounding-box centre, normalised crop coordinates.
        split: ``"train"`` or ``"eval"``.
        seed, index: what :func:`sample_scene` was called with.
    """

    mesh: SynthMesh
    normals: np.ndarray
    cam_from_object: np.ndarray
    fov: float
    principal: np.ndarray
    appearance: Appearance
    lighting: Lighting
    background: Background
    roughness: float
    metallic: float
    shadow_points: np.ndarray
    view: tuple[float, float, float]
    fill: float
    offset: np.ndarray
    split: str
    index: int
    seed: int


# ---------------------------------------------------------------------------- geometry


def corner_normals(vertices: np.ndarray, faces: np.ndarray,
                   crease_deg: float = CREASE_DEG) -> np.ndarray:
    """Crease-aware shading normals ``(F, 3, 3)`` float32 at every face corner.

    Vertices at the same position are welded first, so seams in the vertex list do
    not show. Each corner averages the normals of the faces around its vertex that are
    within ``crease_deg`` of its own face, weighted by their corner angle.
    """
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    nf = len(f)
    if nf == 0:
        return np.zeros((0, 3, 3), np.float32)
    _, weld = np.unique(np.round(v * 1e6).astype(np.int64), axis=0, return_inverse=True)
    weld = weld.reshape(-1)
    fw = weld[f]
    p = v[f]  # (F, 3, 3)
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    ln = np.linalg.norm(n, axis=1, keepdims=True)
    fn = np.divide(n, ln, out=np.zeros_like(n), where=ln > 0)
    # Corner angles: the usual weights, so a fan of slivers does not dominate.
    a = p[:, [1, 2, 0]] - p
    b = p[:, [2, 0, 1]] - p
    cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1),
                                       1e-30)
    angle = np.arccos(np.clip(cos, -1.0, 1.0)).reshape(-1)  # (3F,)
    cv = fw.reshape(-1)
    corners = np.arange(3 * nf)
    inc = sparse.csr_matrix((np.ones(3 * nf), (cv, corners)), shape=(int(weld.max()) + 1, 3 * nf))
    pairs = (inc.T @ inc).tocoo()
    c1, c2 = pairs.row, pairs.col
    f1, f2 = c1 // 3, c2 // 3
    keep = (fn[f1] * fn[f2]).sum(-1) >= math.cos(math.radians(crease_deg))
    acc = np.zeros((3 * nf, 3))
    np.add.at(acc, c1[keep], fn[f2[keep]] * angle[c2[keep], None])
    la = np.linalg.norm(acc, axis=1, keepdims=True)
    out = np.where(la > 1e-12, acc / np.maximum(la, 1e-30), np.repeat(fn, 3, axis=0))
    return out.reshape(nf, 3, 3).astype(np.float32)


def _surface_points(mesh: SynthMesh, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, 3)`` float32 points drawn uniformly by area on the mesh surface."""
    p = np.asarray(mesh.vertices, np.float64)[np.asarray(mesh.faces)]
    area = 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
    if area.sum() <= 0:
        return np.zeros((n, 3), np.float32)
    fi = rng.choice(len(p), size=n, p=area / area.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    w = np.stack([1 - s, s * (1 - r2), s * r2], axis=1)
    return (w[:, :, None] * p[fi]).sum(1).astype(np.float32)


def look_rotation(azimuth: float, elevation: float, roll: float) -> np.ndarray:
    """``(3, 3)`` float64 camera-from-object rotation of a camera orbiting the object.

    ``azimuth`` (radians, about +Y, 0 = camera on +Z looking at the front, increasing
    towards +X), ``elevation`` (radians, positive = above, looking down), ``roll``
    (radians, about the optical axis). Rows are the camera axes in object coordinates.
    """
    to_cam = np.array([math.sin(azimuth) * math.cos(elevation), math.sin(elevation),
                       math.cos(azimuth) * math.cos(elevation)])
    fwd = -to_cam
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    rot = np.stack([right, down, fwd])
    c, s = math.cos(roll), math.sin(roll)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ rot


def project(points_cam: np.ndarray, fov: float, principal: np.ndarray) -> np.ndarray:
    """Normalised crop coordinates ``(N, 2)`` of camera-frame points ``(N, 3)``."""
    p = np.asarray(points_cam, np.float64)
    a = math.tan(fov / 2)
    return p[:, :2] / (p[:, 2:3] * a) + np.asarray(principal, np.float64)


def place_object(vertices: np.ndarray, rot: np.ndarray, fov: float, fill: float,
                 offset: np.ndarray, principal: np.ndarray) -> np.ndarray:
    """Translation ``(3,)`` putting the object's projected bounding box where asked.

    Solves for ``t`` so that the vertices ``rot @ v + t`` project (see :func:`project`)
    to a box whose larger side is ``fill`` times the crop side and whose centre is
    ``offset`` (normalised crop coordinates), exactly up to ~1e-9.
    """
    q = np.asarray(vertices, np.float64) @ np.asarray(rot, np.float64).T
    # The projected box's extremes lie on the convex hull: fit on its vertices only.
    try:
        q = q[spatial.ConvexHull(q).vertices]
    except (spatial.QhullError, ValueError):
        pass  # flat or tiny point sets: use them all
    a = math.tan(fov / 2)
    pp = np.asarray(principal, np.float64)
    target = np.asarray(offset, np.float64)

    def box(t: np.ndarray) -> tuple[float, np.ndarray]:
        uv = (q[:, :2] + t[:2]) / ((q[:, 2:3] + t[2]) * a) + pp
        lo, hi = uv.min(0), uv.max(0)
        return float((hi - lo).max() / 2.0), (lo + hi) / 2.0

    lo_z = -q[:, 2].min() + 1e-3

    def fit_z(txy: np.ndarray) -> np.ndarray:
        z = optimize.brentq(lambda z: box(np.array([txy[0], txy[1], z]))[0] - fill,
                            lo_z, lo_z + 1e4, xtol=1e-13, rtol=1e-13)
        return np.array([txy[0], txy[1], z])

    # Damped Newton on the lateral offset; the depth is re-solved exactly at each step,
    # so the size always matches and only the centre is iterated.
    t = fit_z(np.zeros(2))
    err = target - box(t)[1]
    for _ in range(50):
        if np.abs(err).max() < 1e-11:
            break
        h = 1e-6 * max(t[2], 1e-3)
        jac = np.stack([(box(t + np.array([h, 0, 0]))[1] - box(t)[1]) / h,
                        (box(t + np.array([0, h, 0]))[1] - box(t)[1]) / h], axis=1)
        try:
            step = np.linalg.solve(jac, err)
        except np.linalg.LinAlgError:
            step = err * t[2] * a
        lam = 1.0
        while lam > 1e-4:
            cand = fit_z(t[:2] + lam * step)
            cerr = target - box(cand)[1]
            if np.abs(cerr).max() < np.abs(err).max():
                t, err = cand, cerr
                break
            lam *= 0.5
        else:
            break
    size, c = box(t)
    if abs(size - fill) > 1e-6 or np.abs(c - target).max() > 1e-6:
        log.warning("place_object: fit off by %.2g (size) / %.2g (centre)",
                    abs(size - fill), np.abs(c - target).max())
    return t


# ---------------------------------------------------------------------------- colours


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    hsv = np.array([[[h * 179.0, s * 255.0, v * 255.0]]], np.float32)
    rgb = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)
    return rgb[0, 0].astype(np.float32) / 255.0


def random_color(rng: np.random.Generator) -> np.ndarray:
    """A product-like sRGB colour ``(3,)`` float32: saturated, pastel, neutral or earthy."""
    kind = rng.choice(4, p=[0.35, 0.2, 0.3, 0.15])
    h = rng.random()
    if kind == 0:
        return _hsv(h, rng.uniform(0.55, 1.0), rng.uniform(0.45, 1.0))
    if kind == 1:
        return _hsv(h, rng.uniform(0.15, 0.45), rng.uniform(0.75, 1.0))
    if kind == 2:
        g = rng.choice([rng.uniform(0.03, 0.15), rng.uniform(0.2, 0.7), rng.uniform(0.8, 0.97)])
        return np.clip(g + rng.normal(0, 0.015, 3), 0, 1).astype(np.float32)
    return _hsv(rng.uniform(0.02, 0.12), rng.uniform(0.3, 0.8), rng.uniform(0.2, 0.8))


def _luma(c: np.ndarray) -> float:
    return float(np.dot(c, [0.299, 0.587, 0.114]))


def _contrasting(rng: np.random.Generator, c: np.ndarray) -> np.ndarray:
    """A colour at least 0.4 luma away from ``c``."""
    for _ in range(20):
        d = random_color(rng)
        if abs(_luma(d) - _luma(c)) > 0.4:
            return d
    return np.ones(3, np.float32) if _luma(c) < 0.5 else np.full(3, 0.05, np.float32)


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return (v / np.linalg.norm(v)).astype(np.float32)


# ---------------------------------------------------------------------------- appearance

_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
          cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX)
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def make_label(rng: np.random.Generator, full_wrap: bool) -> np.ndarray:
    """A packaging label ``LABEL_SHAPE + (3,)`` uint8 sRGB: brand text, small print, blocks.

    ``full_wrap`` labels repeat the brand so it shows from every side.
    """
    h, w = LABEL_SHAPE
    bg = random_color(rng)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = np.round(bg * 255)
    ink = _contrasting(rng, bg)
    accent = random_color(rng)
    if rng.random() < 0.6:  # colour bands at top and bottom
        bh = int(rng.integers(3, 9))
        col = tuple(int(x) for x in np.round(accent * 255))
        cv2.rectangle(img, (0, 0), (w - 1, bh), col, -1)
        cv2.rectangle(img, (0, h - 1 - bh), (w - 1, h - 1), col, -1)
    copies = 2 if full_wrap else 1
    span = w // copies
    ink_c = tuple(int(x) for x in np.round(ink * 255))
    font = int(rng.choice(_FONTS))
    brand = "".join(rng.choice(list(_LETTERS), size=int(rng.integers(3, 8))))
    small = "".join(rng.choice(list(_LETTERS + "0123456789 "), size=int(rng.integers(6, 14))))
    thick = int(rng.integers(2, 4))
    (tw, th), _ = cv2.getTextSize(brand, font, 1.0, thick)
    scale = min(0.8 * span / max(tw, 1), 0.45 * h / max(th, 1))
    (tw, th), _ = cv2.getTextSize(brand, font, scale, thick)
    small_scale = 0.35
    (sw, sh), _ = cv2.getTextSize(small, cv2.FONT_HERSHEY_SIMPLEX, small_scale, 1)
    for i in range(copies):
        x0 = i * span + (span - tw) // 2
        y0 = int(h * 0.52 + th / 2)
        cv2.putText(img, brand, (x0, y0), font, scale, ink_c, thick, cv2.LINE_AA)
        sx = i * span + (span - sw) // 2
        cv2.putText(img, small, (sx, min(h - 4, y0 + sh + 6)), cv2.FONT_HERSHEY_SIMPLEX,
                    small_scale, ink_c, 1, cv2.LINE_AA)
        # Glyph-like blocks: a logo square and a barcode-ish run of bars.
        if rng.random() < 0.7:
            bx = i * span + int(rng.integers(4, max(5, span // 6)))
            by = int(rng.integers(4, max(5, h // 4)))
            s = int(rng.integers(6, 12))
            cv2.rectangle(img, (bx, by), (bx + s, by + s),
                          tuple(int(x) for x in np.round(accent * 255)), -1)
        if rng.random() < 0.5:
            bx = i * span + span - 34
            for j in range(int(rng.integers(6, 12))):
                x = bx + 2 * j + int(rng.integers(0, 2))
                cv2.line(img, (x, h - 22), (x, h - 10), ink_c, 1)
    return img


def sample_appearance(rng: np.random.Generator, mesh: SynthMesh, kind: str | None = None,
                      metallic: bool = False) -> Appearance:
    """Random procedural albedo for ``mesh`` (``kind`` forces one of APPEARANCE_KINDS)."""
    if kind is None:
        kind = str(rng.choice(APPEARANCE_KINDS, p=_APPEARANCE_WEIGHTS))
    elif kind not in APPEARANCE_KINDS:
        raise InputError(f"appearance must be one of {APPEARANCE_KINDS}, got {kind!r}")
    c0 = random_color(rng)
    colors = np.stack([c0, _contrasting(rng, c0) if rng.random() < 0.7 else random_color(rng),
                       random_color(rng), random_color(rng)]).astype(np.float32)
    axis = _unit(rng)
    if rng.random() < 0.5:  # patterns along the object's main axes are common
        axis = np.eye(3, dtype=np.float32)[rng.integers(3)]
    seed = int(rng.integers(0, 2**31 - 1))
    freq, phase, offset = float(rng.uniform(2, 10)), float(rng.random()), 0.0
    noise_scale = float(rng.uniform(2.0, 8.0))
    by_part = False
    label = None
    band = np.zeros(4, np.float32)
    n_parts = len(np.unique(np.asarray(mesh.part)))
    if kind == "two_tone":
        by_part = n_parts > 1 and rng.random() < 0.7
        offset = float(rng.uniform(-0.25, 0.25))
    elif kind == "stripes":
        offset = float(rng.uniform(0.2, 0.6))  # duty cycle
    elif kind == "wood":
        light = _hsv(rng.uniform(0.05, 0.11), rng.uniform(0.35, 0.6), rng.uniform(0.6, 0.9))
        colors[0] = light
        colors[1] = light * rng.uniform(0.45, 0.7)
        freq = float(rng.uniform(6, 20))
        noise_scale = float(rng.uniform(1.0, 4.0))
    elif kind == "marble":
        base = np.clip(rng.uniform(0.75, 0.97) + rng.normal(0, 0.02, 3), 0, 1)
        colors[0] = base
        colors[1] = random_color(rng) * rng.uniform(0.2, 0.6)
        freq = float(rng.uniform(1.5, 5))
    elif kind == "label":
        y = np.asarray(mesh.vertices)[:, 1]
        y_lo, y_hi = float(y.min()), float(y.max())
        height = y_hi - y_lo
        frac = rng.uniform(0.3, 0.6)
        margin = height * (frac / 2 + 0.1)
        centre = rng.uniform(y_lo + margin, y_hi - margin) if 2 * margin < height else (
            0.5 * (y_lo + y_hi))
        full = rng.random() < 0.5
        span = 2 * math.pi if full else float(rng.uniform(0.6, 1.0) * math.pi)
        theta0 = -span / 2 + float(rng.uniform(-0.3, 0.3))
        band = np.array([centre - frac * height / 2, centre + frac * height / 2, theta0, span],
                        np.float32)
        label = make_label(rng, full)
    if metallic:  # metals show their colour as reflectance: keep it bright
        colors = np.clip(0.5 + 0.5 * colors, 0, 1).astype(np.float32)
    return Appearance(kind=kind, colors=colors.astype(np.float32), axis=axis, freq=freq,
                      phase=phase, offset=offset, noise_scale=noise_scale, seed=seed,
                      by_part=bool(by_part), label=label, band=band)


# ---------------------------------------------------------------------------- lighting


def env_directions(shape: tuple[int, int] = ENV_SHAPE) -> tuple[np.ndarray, np.ndarray]:
    """Texel-centre directions ``(h, w, 3)`` and solid angles ``(h, w)`` of an
    equirectangular map (row 0 = +Y, column 0 = azimuth -pi, azimuth from +Z to +X)."""
    h, w = shape
    theta = (np.arange(h) + 0.5) * math.pi / h
    phi = -math.pi + (np.arange(w) + 0.5) * 2 * math.pi / w
    st = np.sin(theta)[:, None]
    d = np.stack([st * np.sin(phi)[None], np.cos(theta)[:, None] * np.ones((1, w)),
                  st * np.cos(phi)[None]], axis=-1)
    domega = (2 * math.pi / w) * (math.pi / h) * np.sin(theta)[:, None] * np.ones((1, w))
    return d, domega


def _procedural_env(rng: np.random.Generator, kind: str) -> np.ndarray:
    """A ``ENV_SHAPE + (3,)`` float32 linear environment: a photo studio or a sky."""
    d, _ = env_directions()
    y = d[..., 1:2]
    if kind == "studio":
        g = rng.uniform(0.15, 0.45)
        tint = 1 + rng.normal(0, 0.04, 3)
        env = g * tint * (0.55 + 0.45 * np.clip(y, -1, 1)) * np.ones((1, 1, 3))
        env = np.where(y < 0, rng.uniform(0.3, 0.9) * g * tint, env)  # the floor
        for _ in range(int(rng.integers(2, 5))):
            az = rng.uniform(-math.pi, math.pi)
            el = rng.uniform(0.1, 1.3)
            c = np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])
            size = rng.uniform(0.15, 0.45)
            cosang = np.clip((d * c).sum(-1, keepdims=True), -1, 1)
            ang = np.arccos(cosang)
            box = 1 / (1 + np.exp((ang - size) / (0.15 * size)))
            env = env + rng.uniform(2.0, 8.0) * box * (1 + rng.normal(0, 0.05, 3))
        return env.astype(np.float32)
    zenith = np.array([0.25, 0.45, 0.9]) * rng.uniform(0.6, 1.2)
    horizon = np.array([0.85, 0.88, 0.92]) * rng.uniform(0.8, 1.3)
    t = np.sqrt(np.clip(y, 0, 1))
    sky = horizon * (1 - t) + zenith * t
    ground = _hsv(rng.uniform(0.05, 0.3), rng.uniform(0.1, 0.5), rng.uniform(0.2, 0.5))
    env = np.where(y >= 0, sky, ground * rng.uniform(0.3, 0.8))
    az = rng.uniform(-math.pi, math.pi)
    el = rng.uniform(0.25, 1.2)
    c = np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])
    ang = np.arccos(np.clip((d * c).sum(-1, keepdims=True), -1, 1))
    env = env + rng.uniform(30, 120) * np.exp(-0.5 * (ang / 0.05) ** 2) * np.array([1, 0.95, 0.85])
    return env.astype(np.float32)


def _rotate_env(env: np.ndarray, yaw: float) -> np.ndarray:
    """Turn an equirectangular map by ``yaw`` about +Y (linear interpolation in azimuth).

    A direction at azimuth ``phi`` in the result sees what the input had at ``phi - yaw``.
    """
    w = env.shape[1]
    src = (np.arange(w) - yaw / (2 * math.pi) * w) % w
    i0 = np.floor(src).astype(int)
    f = (src - i0)[None, :, None]
    return (env[:, i0] * (1 - f) + env[:, (i0 + 1) % w] * f).astype(np.float32)


def _mean_radiance(env: np.ndarray) -> float:
    _, domega = env_directions(env.shape[:2])
    lum = env @ np.array([0.2126, 0.7152, 0.0722])
    return float((lum * domega).sum() / domega.sum())


def sample_lighting(rng: np.random.Generator, split: str, assets: Assets | None,
                    cam_azimuth: float, environment: str | None = None,
                    hdri: str | None = None, tonemap: str | None = None,
                    key_intensity: float | None = None,
                    exposure: float | None = None) -> Lighting:
    """Environment (an asset HDR map, else procedural) plus a key light."""
    names = assets.names("hdris", split) if assets is not None else ()
    if hdri is not None:
        if assets is None or hdri not in names:
            raise InputError(f"hdri {hdri!r} is not among the {split} HDR maps {names}")
        names = (hdri,)
    use_hdr = environment in (None, "hdri") and len(names) > 0
    if environment == "hdri" and not names:
        raise InputError(f"environment 'hdri' needs assets with {split} HDR maps")
    if use_hdr:
        name = str(names[int(rng.integers(len(names)))])
        env = np.asarray(assets.hdris[name], np.float32)
        if env.shape[:2] != ENV_SHAPE:
            env = cv2.resize(env, ENV_SHAPE[::-1], interpolation=cv2.INTER_AREA)
        env_name = f"hdri:{name}"
    else:
        kind = environment or str(rng.choice(["studio", "sky"], p=[0.6, 0.4]))
        if kind not in ("studio", "sky"):
            raise InputError(f"environment must be 'hdri', 'studio' or 'sky', got {kind!r}")
        env = _procedural_env(rng, kind)
        env_name = f"procedural:{kind}"
    env = np.nan_to_num(np.maximum(env, 0.0), nan=0.0, posinf=0.0)
    yaw = float(rng.uniform(0, 2 * math.pi))
    env = _rotate_env(env, yaw)
    gain = float(rng.uniform(0.45, 1.0))
    env = (env * (gain / max(_mean_radiance(env), 1e-6))).astype(np.float32)
    # Key light: upper hemisphere, mostly from the camera's side.
    az = cam_azimuth + rng.uniform(-1.75, 1.75)
    el = rng.uniform(0.35, 1.3)
    key_dir = np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)],
                       np.float32)
    warm = rng.uniform(-1, 1)
    tint = np.array([1 + 0.12 * warm, 1.0, 1 - 0.15 * warm])
    inten = float(rng.uniform(0.4, 2.0)) if key_intensity is None else float(key_intensity)
    key_color = (inten * tint / tint.mean()).astype(np.float32)
    tm = tonemap or str(rng.choice(["filmic", "reinhard"], p=[0.6, 0.4]))
    if tm not in ("filmic", "reinhard"):
        raise InputError(f"tonemap must be 'filmic' or 'reinhard', got {tm!r}")
    expo = float(2.0 ** rng.uniform(-0.5, 0.5)) if exposure is None else float(exposure)
    if tm == "reinhard":
        expo *= 1.3  # its shoulder is softer; keep midtones at the same brightness
    return Lighting(env=env, env_name=env_name, yaw=yaw, env_gain=gain, key_dir=key_dir,
                    key_color=key_color, exposure=expo, tonemap=tm)


def sample_background(rng: np.random.Generator, kind: str | None = None,
                      pattern: str | None = None) -> Background:
    """Random background (``kind`` forces one of BACKGROUND_KINDS)."""
    if kind is None:
        kind = str(rng.choice(BACKGROUND_KINDS, p=_BACKGROUND_WEIGHTS))
    elif kind not in BACKGROUND_KINDS:
        raise InputError(f"background must be one of {BACKGROUND_KINDS}, got {kind!r}")
    colors = np.stack([random_color(rng) for _ in range(3)]).astype(np.float32)
    angle = float(rng.uniform(-math.pi, math.pi))
    freq = float(rng.uniform(2, 12))
    vignette = float(rng.uniform(0.0, 0.2))
    seed = int(rng.integers(0, 2**31 - 1))
    shadow = 0.0
    pat = ""
    if kind == "studio":
        white = np.clip(rng.uniform(0.9, 1.0) + rng.normal(0, 0.012, 3), 0, 1)
        colors[0] = white
        colors[1] = white * rng.uniform(0.85, 1.0)
        shadow = float(rng.uniform(0.5, 0.9))
    elif kind == "solid":
        if _luma(colors[0]) > 0.55:
            shadow = float(rng.uniform(0.4, 0.8))
        vignette *= 0.5
    elif kind == "gradient":
        pat = pattern or str(rng.choice(["vertical", "radial"]))
        if pat not in ("vertical", "radial"):
            raise InputError(f"gradient pattern must be 'vertical' or 'radial', got {pat!r}")
        if rng.random() < 0.5:  # a tonal gradient of one hue
            colors[1] = np.clip(colors[0] * rng.uniform(0.4, 0.8), 0, 1)
    elif kind == "texture":
        pat = pattern or str(rng.choice(TEXTURE_PATTERNS))
        if pat not in TEXTURE_PATTERNS:
            raise InputError(f"texture pattern must be one of {TEXTURE_PATTERNS}, got {pat!r}")
        if pat == "wood":
            light = _hsv(rng.uniform(0.05, 0.11), rng.uniform(0.35, 0.65), rng.uniform(0.5, 0.85))
            colors[0], colors[1] = light, light * rng.uniform(0.5, 0.75)
            freq = float(rng.uniform(4, 12))
    if pattern is not None and kind not in ("gradient", "texture"):
        raise InputError(f"pattern applies to gradient and texture backgrounds, not {kind!r}")
    return Background(kind=kind, colors=colors, pattern=pat, angle=angle, freq=freq,
                      vignette=vignette, seed=seed, shadow=shadow)


# ---------------------------------------------------------------------------- scene


def sample_scene(seed: int, index: int, split: str = "train", assets: Assets | None = None,
                 overrides: dict | None = None) -> Scene:
    """Draw scene ``index`` of the stream ``seed`` (deterministic; numpy only).

    Args:
        seed, index: the scene is a pure function of these (and ``split``, ``assets``).
        split: ``"train"`` or ``"eval"`` (eval draws held-out HDR maps and shapes).
        assets: real meshes and HDR maps; ``None`` uses procedural environments only.
        overrides: fix some draws, e.g. for tests: ``mesh`` (a SynthMesh),
            ``appearance`` / ``background`` (a kind name), ``pattern`` (of a gradient
            or texture background), ``environment`` (``"hdri"``, ``"studio"``,
            ``"sky"``), ``hdri`` (a name), ``fov``, ``elevation``, ``azimuth``,
            ``roll`` (degrees), ``fill``, ``offset`` (2,), ``principal`` (2,),
            ``roughness``, ``metallic`` (bool), ``tonemap``, ``key_intensity``,
            ``exposure``. The other draws stay as they would be without overrides.

    Returns:
        :class:`Scene`.
    """
    if split not in ("train", "eval"):
        raise InputError(f"split must be 'train' or 'eval', got {split!r}")
    ov = dict(overrides or {})
    unknown = set(ov) - _OVERRIDE_KEYS
    if unknown:
        raise InputError(f"overrides: unknown keys {sorted(unknown)}; known: "
                         f"{sorted(_OVERRIDE_KEYS)}")
    rng = np.random.default_rng([seed, index, 0 if split == "train" else 1])
    # Independent streams per component: overriding one leaves the others unchanged.
    r_cam, r_app, r_light, r_bg, r_pts = rng.spawn(5)
    if "mesh" in ov:
        mesh = ov["mesh"]
        if not isinstance(mesh, SynthMesh):
            raise InputError(f"overrides['mesh'] must be a SynthMesh, got {type(mesh).__name__}")
    else:
        from .shapes import sample_mesh

        mesh = sample_mesh(rng, split, assets)
    verts = np.asarray(mesh.vertices, np.float64)
    if len(verts) == 0 or len(mesh.faces) == 0:
        raise InputError("mesh has no faces")

    def pick(key: str, draw: float) -> float:
        return float(ov[key]) if key in ov else draw

    fov = math.radians(pick("fov", r_cam.uniform(20, 60)))
    elev = math.radians(pick("elevation", r_cam.uniform(-10, 50)))
    azim = math.radians(pick("azimuth", r_cam.uniform(0, 360)))
    roll = math.radians(pick("roll", r_cam.uniform(-3, 3)))
    fill = pick("fill", r_cam.uniform(0.6, 0.95))
    # Off-centre by up to 5 % of the crop side, but never so far that the box leaves it.
    offset = r_cam.uniform(-1.0, 1.0, 2) * min(0.1, max(0.0, 0.99 - fill))
    principal = r_cam.uniform(-0.25, 0.25, 2) * (r_cam.random() < 0.5)
    offset = np.asarray(ov.get("offset", offset), np.float64)
    principal = np.asarray(ov.get("principal", principal), np.float64)
    if not 0 < fov < math.pi * 0.9:
        raise InputError(f"fov must be in (0, 162) degrees, got {math.degrees(fov)}")
    if not 0 < fill <= 1.5:
        raise InputError(f"fill must be in (0, 1.5], got {fill}")
    rot = look_rotation(azim, elev, roll)
    trans = place_object(verts, rot, fov, fill, offset, principal)
    cam = np.eye(4)
    cam[:3, :3] = rot
    cam[:3, 3] = trans

    metallic = bool(ov["metallic"]) if "metallic" in ov else bool(r_app.random() < 0.1)
    roughness = pick("roughness", r_app.uniform(0.1, 0.9))
    appearance = sample_appearance(r_app, mesh, ov.get("appearance"), metallic)
    lighting = sample_lighting(r_light, split, assets, azim, ov.get("environment"),
                               ov.get("hdri"), ov.get("tonemap"), ov.get("key_intensity"),
                               ov.get("exposure"))
    background = sample_background(r_bg, ov.get("background"), ov.get("pattern"))
    return Scene(
        mesh=mesh,
        normals=corner_normals(verts, mesh.faces),
        cam_from_object=cam,
        fov=fov,
        principal=principal,
        appearance=appearance,
        lighting=lighting,
        background=background,
        roughness=roughness,
        metallic=1.0 if metallic else 0.0,
        shadow_points=_surface_points(mesh, SHADOW_POINTS, r_pts),
        view=(math.degrees(azim), math.degrees(elev), math.degrees(roll)),
        fill=fill,
        offset=offset,
        split=split,
        index=int(index),
        seed=int(seed),
    )
