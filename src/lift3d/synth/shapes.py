"""Procedural shape families: closed, part-labelled triangle meshes in the object frame.

Every mesh :func:`sample_mesh` returns is a :class:`~lift3d.synth.types.SynthMesh`: the
concatenation of one or more *parts*, each a closed triangle mesh wound
counter-clockwise seen from outside (positive volume). Parts may overlap; the renderer
unions them by counting ray entries and exits. Object frame: +Y up (the object stands
on its base at ``y = min``), +Z its front (a chair faces +Z), bounding box centred at
the origin, largest extent exactly 1. At most :data:`MAX_FACES` faces (the GPU ray
caster is brute force); smooth shapes get a few hundred faces at least.

Families (:data:`FAMILIES`):

* ``box``: boxes and packaging: sharp, bevelled and rounded boxes, boxes with a lid,
  tall cartons, flat boxes.
* ``cylinder``: cans (with rims), tins (with a lid), tubes (with a cap), standing or
  lying.
* ``revolve``: bottles, vases (some hollow), cups and mugs with a real cavity (and a
  bent-tube handle on mugs), bowls, lamp shades (a thin closed shell).
* ``superquadric``: superellipsoids with random exponents and axes.
* ``extrude``: extruded 2-D outlines (stars, polygons, smooth random radial shapes,
  letter-like shapes), optionally bevelled, standing or lying.
* ``blob``: fruit (noisy spheroids with a stem), rocks (faceted noise), plush toys
  (smooth unions of body, head, ears and limbs through marching cubes).
* ``assembly``: tables, chairs, stools, shelves, hammers, axes, lamps.
* ``thin``: plates, lids, discs, flat tools (spatula, knife), boards.
* ``composite``: two or three objects of the other families stacked, side by side
  or overlapping.

Held-out parameters
-------------------
Each family draws one *primary variate* ``u`` (:func:`primary_variate`) that drives
its main proportions (a box's height over its width, a mug's height over its
radius, a superquadric's vertical aspect, an extrusion's depth, a thin object's
thickness, ...). With ``split="eval"`` ``u`` is drawn from ``[0.45, 0.55)``
(:data:`EVAL_BAND`) only; with ``split="train"`` from ``[0, 0.45) U [0.55, 1)``,
never from that band. Evaluation objects therefore have proportions no training
object has, inside the range training covers (interpolation, not extrapolation).
Composites draw a ``u`` of their own (the relative size of their members) and
each member draws its own ``u`` from the same split. Shared real meshes
(``assets``) are split by name instead (:attr:`Assets.eval_meshes`).

Determinism: everything is drawn from the ``numpy.random.Generator`` passed in, so
a generator in the same state gives the same mesh, array for array.

Only numpy, scipy and scikit-image are used here (no trimesh): this module runs in
the DataLoader workers of the training machine.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import InputError
from .types import Assets, SynthMesh

#: Most faces a sampled mesh may have (the GPU ray caster is brute force).
MAX_FACES: int = 3000
#: The procedural families, in a fixed order.
FAMILIES: tuple[str, ...] = (
    "box", "cylinder", "revolve", "superquadric", "extrude", "blob", "assembly", "thin",
    "composite",
)
#: Valid values of ``split``.
SPLITS: tuple[str, ...] = ("train", "eval")
#: ``[lo, hi)`` band of the primary variate reserved for ``split="eval"``.
EVAL_BAND: tuple[float, float] = (0.45, 0.55)
#: Share of :func:`sample_mesh` draws that return a shared real mesh when ``assets``
#: are given (and have meshes for the split). Real meshes are few but the most like
#: what people photograph, and the network trailed the smooth prior on them at 0.12.
ASSET_FRACTION: float = 0.18
#: Relative draw weights of :data:`FAMILIES`. Organic blobs (fruit, rocks, plush) get
#: more: their backs are the least predictable from the outline.
FAMILY_WEIGHTS: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.6, 1.0, 1.0, 1.0)

#: A part: ``(V, 3)`` float64 vertices and ``(F, 3)`` int64 faces.
Part = tuple[np.ndarray, np.ndarray]

__all__ = [
    "ASSET_FRACTION",
    "EVAL_BAND",
    "FAMILIES",
    "FAMILY_WEIGHTS",
    "MAX_FACES",
    "SPLITS",
    "box_mesh",
    "concat_parts",
    "cylinder_between",
    "extrude_mesh",
    "generate",
    "loft_mesh",
    "normalise",
    "primary_variate",
    "revolve_mesh",
    "sample_mesh",
    "superquadric_mesh",
    "torus_mesh",
    "triangulate_polygon",
    "tube_mesh",
    "uv_sphere",
]


# ---------------------------------------------------------------------------------------
# Arguments and the primary variate
# ---------------------------------------------------------------------------------------


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise InputError(f"argument 'split' must be one of {SPLITS}, got {split!r}")
    return split


def primary_variate(rng: np.random.Generator, split: str = "train") -> float:
    """The primary variate ``u`` of one object, in ``[0, 1)``.

    ``split="eval"``: uniform on :data:`EVAL_BAND`; ``split="train"``: uniform on
    the rest of ``[0, 1)``. One ``rng.random()`` draw either way.

    Raises:
        InputError: naming ``split`` when it is not ``"train"`` or ``"eval"``.
    """
    _check_split(split)
    lo, hi = EVAL_BAND
    x = float(rng.random())
    if split == "eval":
        return min(lo + (hi - lo) * x, math.nextafter(hi, 0.0))
    x *= 1.0 - (hi - lo)
    if x < lo:
        return x
    return min(max(x + (hi - lo), hi), math.nextafter(1.0, 0.0))


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def _loglerp(a: float, b: float, t: float) -> float:
    return math.exp(_lerp(math.log(a), math.log(b), t))


# ---------------------------------------------------------------------------------------
# Mesh utilities
# ---------------------------------------------------------------------------------------


def _signed_volume(v: np.ndarray, f: np.ndarray) -> float:
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return float(np.einsum("ij,ij->", a, np.cross(b, c)) / 6.0)


def _orient(part: Part) -> Part:
    """The part with its faces flipped when its signed volume is negative."""
    v, f = part
    if _signed_volume(v, f) < 0:
        f = f[:, ::-1].copy()
    return v, f


def normalise(vertices: np.ndarray) -> np.ndarray:
    """``vertices`` moved so the bounding box is centred at the origin and scaled so its
    largest extent is 1 (float64)."""
    v = np.asarray(vertices, dtype=np.float64)
    lo, hi = v.min(axis=0), v.max(axis=0)
    ext = float((hi - lo).max())
    if not ext > 0:
        raise ValueError("normalise: degenerate vertices (zero extent)")
    return (v - 0.5 * (lo + hi)) / ext


def concat_parts(parts: Sequence[Part]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate parts: ``(vertices (V, 3) float64, faces (F, 3) int64, part (F,) int16)``.

    Each part is oriented outwards (flipped when its signed volume is negative).
    """
    vs, fs, ps = [], [], []
    offset = 0
    for i, (v, f) in enumerate(parts):
        v = np.asarray(v, dtype=np.float64)
        f = np.asarray(f, dtype=np.int64)
        v, f = _orient((v, f))
        vs.append(v)
        fs.append(f + offset)
        ps.append(np.full(len(f), i, dtype=np.int16))
        offset += len(v)
    return np.concatenate(vs), np.concatenate(fs), np.concatenate(ps)


def _transform(part: Part, rot: np.ndarray | None = None, scale=None,
               shift=None) -> Part:
    """``v -> rot @ (v * scale) + shift`` (faces flipped back outwards if mirrored)."""
    v, f = part
    if scale is not None:
        v = v * np.asarray(scale, dtype=np.float64)
    if rot is not None:
        v = v @ np.asarray(rot, dtype=np.float64).T
    if shift is not None:
        v = v + np.asarray(shift, dtype=np.float64)
    return _orient((v, f))


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=np.float64)


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=np.float64)


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=np.float64)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def _parts_bounds(parts: Sequence[Part]) -> tuple[np.ndarray, np.ndarray]:
    lo = np.min([p[0].min(axis=0) for p in parts], axis=0)
    hi = np.max([p[0].max(axis=0) for p in parts], axis=0)
    return lo, hi


def _on_ground(parts: Sequence[Part]) -> list[Part]:
    """Parts shifted so the lowest vertex is at ``y = 0``."""
    lo, _ = _parts_bounds(parts)
    return [(v - np.array([0.0, lo[1], 0.0]), f) for v, f in parts]


# ---------------------------------------------------------------------------------------
# Primitives
# ---------------------------------------------------------------------------------------


def loft_mesh(rings: np.ndarray, start=None, end=None, closed: bool = False) -> Part:
    """A closed surface through ``K`` rings of ``S`` points each.

    Args:
        rings: ``(K, S, 3)``; consecutive rings are joined by quads, each ring closes
            on itself.
        start, end: how to close the first and last ring: a point ``(3,)`` (a fan
            around it: a pole), an ``(T, 3)`` int array triangulating the ring
            (indices into the ring, wound so their normals follow ``end``'s ring
            orientation), or ``None`` when ``closed``.
        closed: the last ring joins the first (a torus-like tube); ``start`` and ``end``
            are ignored.

    Returns:
        An outward-oriented closed part.
    """
    rings = np.asarray(rings, dtype=np.float64)
    k, s = rings.shape[:2]
    v = [rings.reshape(-1, 3)]
    idx = np.arange(k * s).reshape(k, s)
    nxt = np.roll(idx, -1, axis=1)
    kk = k if closed else k - 1
    a = idx[:kk]
    b = nxt[:kk]
    c = np.roll(nxt, -1, axis=0)[:kk]
    d = np.roll(idx, -1, axis=0)[:kk]
    faces = [np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)]
    nv = k * s
    if not closed:
        for cap, ring, first in ((start, 0, True), (end, k - 1, False)):
            cap = np.asarray(cap)
            if cap.ndim == 1:  # a pole
                v.append(cap.reshape(1, 3).astype(np.float64))
                p = np.full(s, nv)
                nv += 1
                if first:
                    faces.append(np.stack([p, nxt[ring], idx[ring]], -1))
                else:
                    faces.append(np.stack([p, idx[ring], nxt[ring]], -1))
            else:  # a triangulation of the ring polygon
                tri = idx[ring][np.asarray(cap, dtype=np.int64)]
                faces.append(tri[:, ::-1] if first else tri)
    return _orient((np.concatenate(v), np.concatenate(faces).astype(np.int64)))


def revolve_mesh(profile_rz, segments: int = 48, closed: bool = False) -> Part:
    """Revolve a profile about the +Y axis.

    Args:
        profile_rz: ``(K, 2)`` points ``(r, y)``. Open profile (``closed=False``): a
            polyline whose ends lie on the axis (``r = 0``; added when missing), e.g.
            bottom centre, outside wall up, rim, inside wall down, inner bottom centre:
            the surface is a topological sphere. Closed profile: a loop with ``r > 0``
            everywhere (a ring, e.g. a lamp shade's wall): a topological torus.
        segments: points around the axis.
        closed: see above.
    """
    p = _dedupe(np.asarray(profile_rz, dtype=np.float64))
    seg = max(3, int(segments))
    ang = np.arange(seg) * (2.0 * math.pi / seg)
    sin, cos = np.sin(ang), np.cos(ang)
    if closed:
        if np.allclose(p[0], p[-1]):
            p = p[:-1]
        r, y = p[:, 0:1], p[:, 1:2]
        rings = np.stack([r * sin, np.broadcast_to(y, (len(p), seg)), r * cos], -1)
        return loft_mesh(rings, closed=True)
    eps = 1e-9
    start = np.array([0.0, p[0, 1], 0.0])
    end = np.array([0.0, p[-1, 1], 0.0])
    body = p[(p[:, 0] > eps)]
    r, y = body[:, 0:1], body[:, 1:2]
    rings = np.stack([r * sin, np.broadcast_to(y, (len(body), seg)), r * cos], -1)
    return loft_mesh(rings, start=start, end=end)


def _dedupe(p: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Drop points equal to their predecessor."""
    keep = np.ones(len(p), dtype=bool)
    keep[1:] = np.linalg.norm(np.diff(p, axis=0), axis=1) > tol
    return p[keep]


def uv_sphere(n_lat: int = 16, n_lon: int = 32, radius: float = 1.0) -> Part:
    """A UV sphere (``n_lat`` bands, ``n_lon`` segments) centred at the origin."""
    t = np.linspace(0.0, math.pi, max(2, n_lat) + 1)
    prof = np.stack([np.sin(t), -np.cos(t)], -1) * radius
    prof[0, 0] = prof[-1, 0] = 0.0
    return revolve_mesh(prof, n_lon)


def torus_mesh(major: float, minor: float, n_major: int = 32, n_minor: int = 12) -> Part:
    """A torus about +Y through the origin: ring radius ``major``, tube radius ``minor``."""
    t = np.arange(max(3, n_minor)) * (2 * math.pi / max(3, n_minor))
    prof = np.stack([major + minor * np.cos(t), minor * np.sin(t)], -1)
    return revolve_mesh(prof, n_major, closed=True)


def tube_mesh(path, radius, sides: int = 12) -> Part:
    """A tube of circular section swept along a polyline, both ends capped flat.

    Args:
        path: ``(M, 3)`` points, ``M >= 2``.
        radius: a float or ``(M,)`` radii.
        sides: points around the section.
    """
    p = _dedupe(np.asarray(path, dtype=np.float64))
    m = len(p)
    rad = np.broadcast_to(np.asarray(radius, dtype=np.float64), (len(path),))[: m]
    seg = np.diff(p, axis=0)
    seg /= np.linalg.norm(seg, axis=1, keepdims=True)
    tang = np.empty_like(p)
    tang[0], tang[-1] = seg[0], seg[-1]
    if m > 2:
        mid = seg[:-1] + seg[1:]
        tang[1:-1] = mid / np.maximum(np.linalg.norm(mid, axis=1, keepdims=True), 1e-12)
    helper = np.array([0.0, 1.0, 0.0]) if abs(tang[0, 1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    n = np.cross(tang[0], helper)
    n /= np.linalg.norm(n)
    normals = np.empty_like(p)
    normals[0] = n
    for i in range(1, m):  # parallel transport by projection
        n = n - np.dot(n, tang[i]) * tang[i]
        n /= np.linalg.norm(n)
        normals[i] = n
    binormals = np.cross(tang, normals)
    ang = np.arange(max(3, sides)) * (2 * math.pi / max(3, sides))
    ring = (np.cos(ang)[None, :, None] * normals[:, None, :]
            + np.sin(ang)[None, :, None] * binormals[:, None, :])
    rings = p[:, None, :] + rad[:, None, None] * ring
    return loft_mesh(rings, start=p[0], end=p[-1])


def cylinder_between(p0, p1, radius: float, sides: int = 16) -> Part:
    """A capped cylinder from ``p0`` to ``p1``."""
    return tube_mesh(np.array([p0, p1], dtype=np.float64), radius, sides)


@functools.lru_cache(maxsize=32)
def _cube_grid(nodes: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The surface of the cube ``[nodes[0], nodes[-1]]^3`` gridded at ``nodes`` on every
    axis: ``(V, 3)`` float64 grid points and ``(F, 3)`` outward faces (read-only)."""
    t = np.asarray(nodes, dtype=np.float64)
    n = len(t)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    ii, jj = i[:-1, :-1].ravel(), j[:-1, :-1].ravel()
    a = ii * n + jj
    b = (ii + 1) * n + jj
    c = (ii + 1) * n + jj + 1
    d = ii * n + jj + 1
    quad = np.concatenate([np.stack([a, b, c], -1), np.stack([a, c, d], -1)])
    keys, faces = [], []
    for axis in range(3):
        others = [x for x in range(3) if x != axis]
        cross_sign = -1 if axis == 1 else 1
        for side in (0, n - 1):
            g = np.zeros((n * n, 3), dtype=np.int64)
            g[:, axis] = side
            g[:, others[0]] = i.ravel()
            g[:, others[1]] = j.ravel()
            out_sign = 1 if side == n - 1 else -1
            fq = quad if cross_sign * out_sign > 0 else quad[:, ::-1]
            faces.append(fq + len(keys) * n * n)
            keys.append(g)
    allk = np.concatenate(keys)
    uniq, inverse = np.unique(allk, axis=0, return_inverse=True)
    f = inverse.ravel()[np.concatenate(faces)]
    q = t[uniq]
    q.setflags(write=False)
    f.setflags(write=False)
    return q, f


def _cube_sphere_dirs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions of an equi-angular cube sphere with ``n`` cells per face edge."""
    nodes = tuple(np.tan(np.linspace(-math.pi / 4, math.pi / 4, max(1, n) + 1)).round(12))
    q, f = _cube_grid(nodes)
    return q / np.linalg.norm(q, axis=1, keepdims=True), f


def box_mesh(size=(1.0, 1.0, 1.0), radius: float = 0.0, segments: int = 3,
             centre=(0.0, 0.0, 0.0)) -> Part:
    """An axis-aligned box, optionally with rounded (``segments >= 2``) or bevelled
    (``segments == 1``) edges of ``radius``."""
    h = 0.5 * np.asarray(size, dtype=np.float64)
    r = min(float(radius), 0.98 * float(h.min()))
    if r <= 1e-9 or segments < 1:
        q, f = _cube_grid((-1.0, 1.0))
        return _orient((q * h + np.asarray(centre), f.copy()))
    b = np.arange(segments + 1) / segments
    nodes = tuple(np.concatenate([-(1.0 + b[::-1]), 1.0 + b]))
    q, f = _cube_grid(nodes)
    aq = np.abs(q)
    sq = np.sign(q)
    d = sq * np.tan(np.clip(aq - 1.0, 0.0, 1.0) * (math.pi / 4))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    v = sq * np.minimum(aq, 1.0) * (h - r) + r * d
    return _orient((v + np.asarray(centre), f.copy()))


def superquadric_mesh(axes=(1.0, 1.0, 1.0), e1: float = 1.0, e2: float = 1.0,
                      n: int = 14) -> Part:
    """A superellipsoid with semi-axes ``axes`` (x, y, z), ``e1`` the exponent along +Y
    (the polar axis) and ``e2`` around it; ``n`` cells per cube-sphere face edge."""
    d, f = _cube_sphere_dirs(n)
    ax = np.asarray(axes, dtype=np.float64)
    p = d * ax
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    x, y, z = np.abs(p[:, 0] / ax[0]), np.abs(p[:, 1] / ax[1]), np.abs(p[:, 2] / ax[2])
    val = (x ** (2 / e2) + z ** (2 / e2)) ** (e2 / e1) + y ** (2 / e1)
    s = val ** (-e1 / 2)
    return _orient((p * s[:, None], f.copy()))


def _polygon_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def triangulate_polygon(poly) -> np.ndarray:
    """Ear-clipping triangulation of a simple polygon ``(N, 2)``.

    Returns ``(N - 2, 3)`` int64 indices, each triangle in the polygon's vertex order
    (counter-clockwise when the polygon is), so they close a ring consistently.
    Non-adjacent ears are clipped together, so it takes a few dozen numpy passes even
    for a hundred vertices. Always returns a topologically valid fan of the cycle
    (for a degenerate polygon the geometry may fold).
    """
    p = np.asarray(poly, dtype=np.float64)
    sign = 1.0 if _polygon_area(p) >= 0 else -1.0
    idx = np.arange(len(p))
    tris = []
    scale = float(np.ptp(p, axis=0).max()) or 1.0
    eps = 1e-12 * scale * scale
    while len(idx) > 3:
        q = p[idx]
        prv, nxt = np.roll(q, 1, axis=0), np.roll(q, -1, axis=0)
        cross = sign * ((q[:, 0] - prv[:, 0]) * (nxt[:, 1] - q[:, 1])
                        - (q[:, 1] - prv[:, 1]) * (nxt[:, 0] - q[:, 0]))
        convex = cross > eps
        reflex = np.flatnonzero(~convex)
        ear = convex.copy()
        cand = np.flatnonzero(convex)
        if len(reflex) and len(cand):
            a, b, c = prv[cand][:, None], q[cand][:, None], nxt[cand][:, None]
            r = q[reflex][None]

            def side(u, w, pt):
                return sign * ((w[..., 0] - u[..., 0]) * (pt[..., 1] - u[..., 1])
                               - (w[..., 1] - u[..., 1]) * (pt[..., 0] - u[..., 0]))

            inside = (side(a, b, r) >= -eps) & (side(b, c, r) >= -eps) & (side(c, a, r) >= -eps)
            # A reflex vertex that is one of the triangle's own corners does not count.
            same = (np.abs(r - a).sum(-1) < 1e-15) | (np.abs(r - c).sum(-1) < 1e-15)
            ear[cand] = ~(inside & ~same).any(axis=1)
        ears = np.flatnonzero(ear)
        if len(ears) == 0:
            ears = np.array([int(np.argmax(cross))])
        # Clip an independent set: no two ears adjacent in the current cycle.
        chosen = []
        last = -10
        for e in ears:
            if e - last >= 2:
                chosen.append(e)
                last = e
        if len(chosen) > 1 and chosen[0] == 0 and chosen[-1] == len(idx) - 1:
            chosen.pop()
        chosen = chosen[: max(1, len(idx) - 3)]
        chosen = np.asarray(chosen)
        m = len(idx)
        tris.append(np.stack([idx[(chosen - 1) % m], idx[chosen], idx[(chosen + 1) % m]], -1))
        keep = np.ones(m, dtype=bool)
        keep[chosen] = False
        idx = idx[keep]
    tris.append(idx[None, :])
    return np.concatenate(tris).astype(np.int64)


def _offset_polygon(poly: np.ndarray, d: float) -> np.ndarray | None:
    """``poly`` (CCW) moved inwards by ``d`` with mitred corners, or ``None`` when that
    folds an edge over (the outline is too thin or too sharp for ``d``)."""
    prv, nxt = np.roll(poly, 1, axis=0), np.roll(poly, -1, axis=0)
    e0 = poly - prv
    e1 = nxt - poly
    e0 /= np.linalg.norm(e0, axis=1, keepdims=True)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    n0 = np.stack([-e0[:, 1], e0[:, 0]], -1)  # inward normals of a CCW polygon
    n1 = np.stack([-e1[:, 1], e1[:, 0]], -1)
    m = n0 + n1
    m /= np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    cos_half = np.sum(m * n1, axis=1)
    if np.any(cos_half < 0.35):
        return None
    out = poly + m * (d / cos_half)[:, None]
    before = np.roll(poly, -1, axis=0) - poly
    after = np.roll(out, -1, axis=0) - out
    if np.any(np.sum(before * after, axis=1) <= 0.2 * np.sum(before * before, axis=1)):
        return None
    return out


def extrude_mesh(outline_xy, depth: float, bevel: float = 0.0) -> Part:
    """Extrude a simple 2-D outline along +Z, centred on ``z = 0``.

    Args:
        outline_xy: ``(N, 2)`` simple polygon (either winding).
        depth: the extrusion length.
        bevel: a 45 degree chamfer of this size around both caps (dropped when the
            outline is too thin for it).
    """
    poly = _dedupe(np.asarray(outline_xy, dtype=np.float64))
    if np.allclose(poly[0], poly[-1]):
        poly = poly[:-1]
    if _polygon_area(poly) < 0:
        poly = poly[::-1].copy()
    z0, z1 = -0.5 * depth, 0.5 * depth
    inset = None
    if bevel > 0 and 2.5 * bevel < depth:
        inset = _offset_polygon(poly, bevel)
    if inset is not None:
        cap = triangulate_polygon(inset)
        levels = [(inset, z0), (poly, z0 + bevel), (poly, z1 - bevel), (inset, z1)]
    else:
        cap = triangulate_polygon(poly)
        levels = [(poly, z0), (poly, z1)]
    rings = np.stack([np.column_stack([pp, np.full(len(pp), z)]) for pp, z in levels])
    return loft_mesh(rings, start=cap, end=cap)


def _fillet(points, radii, n: int = 4) -> np.ndarray:
    """A polyline ``(K, 2)`` with interior corner ``k`` rounded by a circular arc of
    radius ``radii[k]`` (0: sharp), ``n`` segments per arc."""
    p = np.asarray(points, dtype=np.float64)
    out = [p[0]]
    for k in range(1, len(p) - 1):
        r = float(radii[k])
        if r <= 0 or n < 1:
            out.append(p[k])
            continue
        a, c = p[k - 1] - p[k], p[k + 1] - p[k]
        la, lc = float(np.linalg.norm(a)), float(np.linalg.norm(c))
        if la < 1e-12 or lc < 1e-12:
            out.append(p[k])
            continue
        ua, uc = a / la, c / lc
        cosang = float(np.clip(np.dot(ua, uc), -1.0, 1.0))
        half = 0.5 * math.acos(cosang)
        if half < 1e-3 or half > math.pi / 2 - 1e-3:
            out.append(p[k])
            continue
        t = r / math.tan(half)
        tmax = 0.49 * min(la, lc)
        if t > tmax:
            t = tmax
            r = t * math.tan(half)
        bis = ua + uc
        bis /= np.linalg.norm(bis)
        ctr = p[k] + bis * (r / math.sin(half))
        t1, t2 = p[k] + ua * t, p[k] + uc * t
        a1 = math.atan2(t1[1] - ctr[1], t1[0] - ctr[0])
        a2 = math.atan2(t2[1] - ctr[1], t2[0] - ctr[0])
        da = (a2 - a1 + math.pi) % (2 * math.pi) - math.pi
        ang = a1 + da * np.linspace(0.0, 1.0, n + 1)
        out.extend(np.stack([ctr[0] + r * np.cos(ang), ctr[1] + r * np.sin(ang)], -1))
    out.append(p[-1])
    return _dedupe(np.asarray(out))


def _fillet_closed(poly, radius: float, n: int = 3) -> np.ndarray:
    """A closed polygon with every corner rounded by ``radius``."""
    p = np.asarray(poly, dtype=np.float64)
    ext = np.concatenate([p[-1:], p, p[:1]])
    out = _fillet(ext, np.full(len(ext), radius), n)
    # Drop the duplicated end points (the first and last corners' neighbours).
    return _dedupe(out[1:-1])


def _catmull_rom(xs: np.ndarray, ys: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Cubic Hermite interpolation through ``(xs, ys)`` (increasing ``xs``) with
    centred finite-difference slopes, evaluated at ``x``."""
    m = np.gradient(ys, xs)
    k = np.clip(np.searchsorted(xs, x, side="right") - 1, 0, len(xs) - 2)
    h = xs[k + 1] - xs[k]
    t = (x - xs[k]) / h
    t2, t3 = t * t, t * t * t
    return ((2 * t3 - 3 * t2 + 1) * ys[k] + (t3 - 2 * t2 + t) * h * m[k]
            + (-2 * t3 + 3 * t2) * ys[k + 1] + (t3 - t2) * h * m[k + 1])


def _chaikin(poly: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Chaikin corner cutting of a closed polygon."""
    p = np.asarray(poly, dtype=np.float64)
    for _ in range(iterations):
        q = np.roll(p, -1, axis=0)
        p = np.stack([0.75 * p + 0.25 * q, 0.25 * p + 0.75 * q], 1).reshape(-1, 2)
    return p


def _offset_curve(curve: np.ndarray, t: float) -> np.ndarray:
    """Offset an open ``(r, y)`` polyline by ``t`` to its left (inwards for a profile
    that runs from the bottom centre out and up).

    Points whose offset would run backwards (the swallowtail of a corner tighter
    than ``t``) are dropped, so the offset curve never folds over itself.
    """
    d = np.gradient(curve, axis=0)
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    nrm = np.stack([-d[:, 1], d[:, 0]], -1)
    off = curve + t * nrm
    keep = [0]
    for i in range(1, len(off)):
        if np.dot(off[i] - off[keep[-1]], d[i]) > 1e-9 * (abs(t) + 1.0):
            keep.append(i)
    if keep[-1] != len(off) - 1:
        keep[-1] = len(off) - 1
    return off[keep]


def _rim_arc(outer_end: np.ndarray, inner_end: np.ndarray, n: int) -> np.ndarray:
    """Interior points of a half circle over the rim from ``outer_end`` to ``inner_end``
    (both excluded), bulging upwards (out of the material)."""
    mid = 0.5 * (outer_end + inner_end)
    half = inner_end - mid
    rad = float(np.linalg.norm(half))
    if rad < 1e-12 or n < 2:
        return np.zeros((0, 2))
    nrm = half / rad  # towards the inner end
    tang = np.array([nrm[1], -nrm[0]])  # candidate "up" direction
    if tang[1] < 0 or (abs(tang[1]) < 1e-9 and tang[0] < 0):
        tang = -tang
    a = np.linspace(0.0, math.pi, n + 1)[1:-1]
    return mid - np.outer(np.cos(a), nrm) * rad + np.outer(np.sin(a), tang) * rad


def _hollow_profile(outer: np.ndarray, wall: float, rim_n: int) -> np.ndarray:
    """A revolve profile with a cavity: ``outer`` runs from the bottom centre (on the
    axis) out and up to the rim; the inner wall is ``outer`` offset by ``wall``, the
    rim a half circle, and the profile ends on the axis at the inner bottom."""
    inner = _offset_curve(outer, wall)
    inner[0, 0] = 0.0
    inner[:, 0] = np.maximum(inner[:, 0], 0.0)
    # Keep the inner wall strictly inside: drop points that left r > 0.
    keep = np.ones(len(inner), dtype=bool)
    keep[1:] = inner[1:, 0] > 1e-6
    inner = inner[keep]
    rim = _rim_arc(outer[-1], inner[-1], rim_n)
    return np.concatenate([outer, rim, inner[::-1]])


# ---------------------------------------------------------------------------------------
# Families. Each generator takes (rng, u, detail) and returns parts (un-normalised).
# ``detail`` in (0, 1] scales the tessellation (composites pass less).
# ---------------------------------------------------------------------------------------


def _res(base: float, detail: float, lo: int) -> int:
    return max(lo, int(round(base * math.sqrt(detail))))


def _gen_box(rng: np.random.Generator, u: float, detail: float) -> list[Part]:
    kind = ("plain", "rounded", "bevel", "lid", "carton", "flat")[rng.integers(6)]
    w = 1.0
    d = w * rng.uniform(0.35, 1.0)
    if kind == "carton":
        h = w * _lerp(1.4, 3.2, u)
        d = w * rng.uniform(0.4, 1.0)
    elif kind == "flat":
        h = w * _lerp(0.06, 0.3, u)
        d = w * rng.uniform(0.5, 1.2)
    else:
        h = w * _loglerp(0.35, 1.6, u)
    small = min(w, h, d)
    seg = _res(4, detail, 2)
    if kind == "plain":
        return [box_mesh((w, h, d))]
    if kind == "rounded":
        return [box_mesh((w, h, d), rng.uniform(0.06, 0.45) * small, seg)]
    if kind == "bevel":
        return [box_mesh((w, h, d), rng.uniform(0.04, 0.18) * small, 1)]
    if kind == "carton":
        r = rng.uniform(0.0, 0.08) * small
        parts = [box_mesh((w, h, d), r, 1 if rng.random() < 0.5 else seg)]
        if rng.random() < 0.5:  # gable-top ridge
            ridge = box_mesh((w * 0.98, 0.12 * w, 0.08 * d), 0.0, 0, (0.0, 0.5 * h, 0.0))
            parts.append(ridge)
        if rng.random() < 0.5:  # screw cap
            cap_r = rng.uniform(0.08, 0.14) * small
            cap = _cap_cylinder(cap_r, 0.08 * small, detail)
            parts.append(_transform(cap, shift=(0.0, 0.5 * h - 0.02 * small,
                                                rng.uniform(-0.2, 0.2) * d)))
        return parts
    # Body and a lid: the lid is slightly wider and shallow, over the body's top.
    r = rng.uniform(0.0, 0.1) * small if kind == "lid" else rng.uniform(0.0, 0.2) * small
    body = box_mesh((w, h, d), r, seg if r > 0 else 0)
    lid_h = _lerp(0.1, 0.3, rng.random()) * h
    grow = rng.uniform(0.02, 0.06) * small
    lid = box_mesh((w + grow, lid_h, d + grow), min(r + 0.3 * grow, 0.4 * lid_h),
                   seg if r > 0 else 0, (0.0, 0.5 * h - 0.5 * lid_h + 0.15 * lid_h, 0.0))
    return [body, lid]


def _cap_cylinder(r: float, h: float, detail: float, round_top: bool = True) -> Part:
    """A small capped cylinder standing on ``y = 0`` (caps, knobs)."""
    n = _res(3, detail, 1)
    rr = 0.25 * min(r, h) if round_top else 0.0
    prof = _fillet([[0.0, 0.0], [r, 0.0], [r, h], [0.0, h]], [0, 0, rr, 0], n)
    return revolve_mesh(prof, _res(24, detail, 10))


def _gen_cylinder(rng: np.random.Generator, u: float, detail: float) -> list[Part]:
    kind = ("can", "tin", "tube", "plain")[rng.integers(4)]
    seg = _res(48, detail, 12)
    nf = _res(4, detail, 1)
    r = 0.5
    if kind == "can":
        h = 2 * r * _lerp(1.0, 2.4, u)
    elif kind == "tin":
        h = 2 * r * _lerp(0.2, 0.85, u)
    elif kind == "tube":
        h = 2 * r * _lerp(2.5, 7.0, u)
    else:
        h = 2 * r * _loglerp(0.3, 3.0, u)
    edge = rng.uniform(0.0, 0.15) * min(r, h)
    parts: list[Part] = []
    if kind == "can":
        neck = rng.uniform(0.8, 0.92) * r
        top_h = rng.uniform(0.05, 0.12) * h
        prof = _fillet([[0, 0], [r * 0.9, 0], [r, 0.06 * h], [r, h - top_h], [neck, h], [0, h]],
                       [0, 0.03 * r, 0.05 * r, 0.1 * r, 0, 0], nf)
        parts.append(revolve_mesh(prof, seg))
        rim_r = rng.uniform(0.015, 0.03) * r * 2
        rim = torus_mesh(neck - 0.5 * rim_r, rim_r, seg, _res(8, detail, 4))
        parts.append(_transform(rim, shift=(0.0, h, 0.0)))
    else:
        prof = _fillet([[0, 0], [r, 0], [r, h], [0, h]], [0, edge, edge, 0], nf)
        parts.append(revolve_mesh(prof, seg))
        if kind == "tin" and rng.random() < 0.8:  # a slightly wider lid
            lid_h = rng.uniform(0.15, 0.35) * h
            grow = rng.uniform(0.01, 0.04) * r
            lp = _fillet([[0, 0], [r + grow, 0], [r + grow, lid_h], [0, lid_h]],
                         [0, 0, 0.3 * lid_h, 0], nf)
            parts.append(_transform(revolve_mesh(lp, seg), shift=(0, h - lid_h + 0.02 * h, 0)))
        if kind == "tube" and rng.random() < 0.8:  # a cap of another radius
            cr = rng.uniform(0.5, 1.15) * r
            ch = rng.uniform(0.05, 0.15) * h
            parts.append(_transform(_cap_cylinder(cr, ch, detail), shift=(0, h - 0.01 * h, 0)))
    if kind == "tube" and rng.random() < 0.5 or kind == "plain" and rng.random() < 0.25:
        parts = [_transform(p, rot=_rot_z(math.pi / 2) @ _rot_y(rng.uniform(0, math.pi)))
                 for p in parts]  # lying on its side
    return parts


def _gen_revolve(rng: np.random.Generator, u: float, detail: float) -> list[Part]:
    kind = ("bottle", "vase", "mug", "cup", "bowl", "shade")[rng.integers(6)]
    seg = _res(44, detail, 12)
    nf = _res(4, detail, 1)
    if kind == "bottle":
        r = 0.5
        h = 2 * r * _lerp(1.6, 4.2, u)
        body_h = rng.uniform(0.45, 0.7) * h
        neck_r = rng.uniform(0.18, 0.45) * r
        shoulder = rng.uniform(0.08, 0.25) * h
        lip = rng.uniform(0.03, 0.06) * h
        top = h
        prof = [[0, 0], [r, 0], [r, body_h], [neck_r, body_h + shoulder],
                [neck_r, top - lip], [neck_r * 1.12, top - lip], [neck_r * 1.12, top], [0, top]]
        radii = [0, 0.1 * r, rng.uniform(0.3, 1.0) * r, rng.uniform(0.05, 0.3) * r, 0.01 * r,
                 0, 0.02 * r, 0]
        parts = [revolve_mesh(_fillet(prof, radii, nf + 1), seg)]
        if rng.random() < 0.6:  # a cap over the lip
            ch = rng.uniform(0.05, 0.1) * h
            parts.append(_transform(_cap_cylinder(neck_r * 1.25, ch, detail),
                                    shift=(0, top - 0.6 * ch, 0)))
        return parts
    if kind == "vase":
        r = 0.5
        h = 2 * r * _lerp(0.9, 3.0, u)
        k = int(rng.integers(4, 7))
        ys = np.linspace(0.0, h, k)
        rs = rng.uniform(0.35, 1.0, size=k) * r
        rs[0] = rng.uniform(0.5, 0.9) * r
        yy = np.linspace(0.0, h, _res(18, detail, 8))
        rr = np.maximum(_catmull_rom(ys, rs, yy), 0.2 * r)
        outer = np.concatenate([[[0.0, 0.0]], np.stack([rr, yy], -1)])
        outer = _fillet(outer, [0, 0.05 * r] + [0] * (len(outer) - 2), nf)
        if rng.random() < 0.6:  # hollow, with a real opening
            wall = rng.uniform(0.03, 0.07) * r
            return [revolve_mesh(_hollow_profile(outer, wall, 4), seg)]
        return [revolve_mesh(np.concatenate([outer, [[0.0, h]]]), seg)]
    if kind in ("mug", "cup"):
        rb = 0.5
        h = 2 * rb * _lerp(0.55, 1.5, u)
        rt = rb * (rng.uniform(1.0, 1.1) if kind == "mug" else rng.uniform(1.05, 1.45))
        wall = rng.uniform(0.04, 0.08) * rb
        corner = rng.uniform(0.05, 0.2) * rb
        outer = _fillet([[0, 0], [rb, 0], [rt, h]], [0, corner, 0], nf + 1)
        # Resample the straight wall so the offset follows it closely.
        wall_pts = np.linspace(outer[-2], outer[-1], 5)[1:-1]
        outer = np.concatenate([outer[:-1], wall_pts, outer[-1:]])
        parts = [revolve_mesh(_hollow_profile(outer, wall, 5), seg)]
        if kind == "mug" or rng.random() < 0.3:
            parts.append(_mug_handle(rng, rb, rt, h, wall, detail))
        return parts
    if kind == "bowl":
        r = 0.5
        depth = 2 * r * _lerp(0.22, 0.65, u)
        foot = rng.uniform(0.25, 0.55) * r
        th0 = math.asin(foot / r)
        n = _res(14, detail, 6)
        th = np.linspace(th0, math.pi / 2, n)
        flare = rng.uniform(0.0, 0.15) * r
        rr = r * np.sin(th) + flare * np.linspace(0, 1, n) ** 2
        yy = depth * (math.cos(th0) - np.cos(th)) / math.cos(th0)
        outer = np.concatenate([[[0.0, 0.0]], np.stack([rr, yy], -1)])
        wall = rng.uniform(0.025, 0.06) * r
        parts = [revolve_mesh(_hollow_profile(outer, wall, 4), seg)]
        if rng.random() < 0.4:  # a foot ring under the bowl
            fh = rng.uniform(0.03, 0.08) * depth + 0.01
            ring = [[foot * 0.7, 0], [foot * 0.95, 0], [foot * 0.95, fh], [foot * 0.7, fh]]
            parts = [_transform(p, shift=(0, fh * 0.8, 0)) for p in parts]
            parts.append(revolve_mesh(ring, seg, closed=True))
        return parts
    # Lamp shade: a thin closed shell (a topological torus).
    rb = 0.5
    h = 2 * rb * _lerp(0.4, 1.3, u)
    rt = rb * rng.uniform(0.45, 1.0)
    bulge = rng.uniform(-0.08, 0.12) * rb
    n = _res(10, detail, 4)
    s = np.linspace(0.0, 1.0, n)
    side = np.stack([rb + (rt - rb) * s + bulge * np.sin(math.pi * s), h * s], -1)
    wall = rng.uniform(0.01, 0.03) * rb
    loop = np.concatenate([side, (side - np.array([wall, 0.0]))[::-1]])
    return [revolve_mesh(loop, seg, closed=True)]


def _mug_handle(rng: np.random.Generator, rb: float, rt: float, h: float, wall: float,
                detail: float) -> Part:
    """A bent-tube handle whose ends are buried in the middle of the mug's wall."""
    y_top = h * rng.uniform(0.72, 0.85)
    y_bot = h * rng.uniform(0.15, 0.3)
    tube_r = min(rng.uniform(0.5, 0.8) * wall + rng.uniform(0.02, 0.035) * h, 0.12 * h)
    tube_r = min(tube_r, 0.45 * (y_top - y_bot))

    def radius_at(y):
        return rb + (rt - rb) * y / h

    reach = rng.uniform(0.25, 0.5) * rb + tube_r
    rc = max(radius_at(y_top), radius_at(y_bot))
    yc, hh = 0.5 * (y_top + y_bot), 0.5 * (y_top - y_bot)
    n = _res(14, detail, 6)
    a = np.linspace(math.pi / 2, -math.pi / 2, n)
    squash = rng.uniform(0.6, 1.6)
    rho = rc + reach * np.cos(a) ** (1.0 / squash)
    ys = yc + hh * np.sin(a)
    rho = np.concatenate([[radius_at(y_top) - 0.5 * wall], rho, [radius_at(y_bot) - 0.5 * wall]])
    ys = np.concatenate([[y_top], ys, [y_bot]])
    phi = rng.uniform(0.0, 2 * math.pi)
    path = np.stack([rho * math.sin(phi), ys, rho * math.cos(phi)], -1)
    return tube_mesh(path, tube_r, _res(12, detail, 6))


def _gen_superquadric(rng: np.random.Generator, u: float, detail: float) -> list[Part]:
    a = 1.0
    c = a * rng.uniform(0.4, 1.0)
    b = a * _loglerp(0.3, 2.5, u)
    e1 = float(rng.choice([rng.uniform(0.15, 0.6), rng.uniform(0.6, 1.3), rng.uniform(1.3, 2.2)]))
    e2 = float(rng.choice([rng.uniform(0.15, 0.6), rng.uniform(0.6, 1.3), rng.uniform(1.3, 2.2)]))
    part = superquadric_mesh((a, b, c), e1, e2, _res(13, detail, 5))
    if rng.random() < 0.3:
        rot = _random_rotation(rng)
    else:
        rot = _rot_y(rng.uniform(0, 2 * math.pi))
    return [_transform(part, rot=rot)]


_LETTERS: dict[str, list[tuple[float, float]]] = {
    "L": [(0, 0), (3, 0), (3, 1), (1, 1), (1, 5), (0, 5)],
    "T": [(1, 0), (2, 0), (2, 4), (3, 4), (3, 5), (0, 5), (0, 4), (1, 4)],
    "U": [(0, 0), (3, 0), (3, 5), (2, 5), (2, 1), (1, 1), (1, 5), (0, 5)],
    "H": [(0, 0), (1, 0), (1, 2), (2, 2), (2, 0), (3, 0), (3, 5), (2, 5), (2, 3), (1, 3),
          (1, 5), (0, 5)],
    "C": [(0, 0), (3, 0), (3, 1), (1, 1), (1, 4), (3, 4), (3, 5), (0, 5)],
    "E": [(0, 0), (3, 0), (3, 1), (1, 1), (1, 2), (2, 2), (2, 3), (1, 3), (1, 4), (3, 4),
          (3, 5), (0, 5)],
    "F": [(0, 0), (1, 0), (1, 2), (2, 2), (2, 3), (1, 3), (1, 4), (3, 4), (3, 5), (0, 5)],
    "S": [(0, 0), (3, 0), (3, 3), (1, 3), (1, 4), (3, 4), (3, 5), (0, 5), (0, 2), (2, 2),
          (2, 1), (0, 1)],
    "Z": [(0, 0), (3, 0), (3, 1), (1.3, 1), (3, 4), (3, 5), (0, 5), (0, 4), (1.7, 4), (0, 1)],
    "+": [(1, 0), (2, 0), (2, 1), (3, 1), (3, 2), (2, 2), (2, 3), (1, 3), (1, 2), (0, 2),
          (0, 1), (1, 1)],
    "arrow": [(0, 1), (2, 1), (2, 0), (3.6, 1.5), (2, 3), (2, 2), (0, 2)],
}


def _outline(rng: np.random.Generator, detail: float) -> np.ndarray:
    """A random simple 2-D outline, roughly unit-sized, counter-clockwise."""
    kind = ("star", "polygon", "radial", "letter")[rng.integers(4)]
    n = _res(72, detail, 24)
    if kind == "star":
        k = int(rng.integers(4, 9))
        inner = rng.uniform(0.35, 0.7)
        ang = np.arange(2 * k) * (math.pi / k) + rng.uniform(0, math.pi)
        rad = np.where(np.arange(2 * k) % 2 == 0, 1.0, inner)
        poly = np.stack([rad * np.cos(ang), rad * np.sin(ang)], -1)
        if rng.random() < 0.5:
            poly = _chaikin(poly, 2)
        return poly
    if kind == "polygon":
        k = int(rng.integers(3, 9))
        ang = np.arange(k) * (2 * math.pi / k) + rng.uniform(0, math.pi)
        poly = np.stack([np.cos(ang), np.sin(ang)], -1)
        if rng.random() < 0.6:
            poly = _fillet_closed(poly, rng.uniform(0.05, 0.35), _res(4, detail, 1))
        return poly
    if kind == "radial":
        t = np.arange(n) * (2 * math.pi / n)
        rad = np.ones(n)
        for f in range(1, 6):
            rad += rng.normal(0.0, 0.25 / f) * np.cos(f * t + rng.uniform(0, 2 * math.pi))
        rad = np.clip(rad, 0.3, None)
        return np.stack([rad * np.cos(t), rad * np.sin(t)], -1)
    name = list(_LETTERS)[rng.integers(len(_LETTERS))]
    poly = np.asarray(_LETTERS[name], dtype=np.float64)
    if _polygon_area(poly) < 0:
        poly = poly[::-1].copy()
    poly *= np.array([rng.uniform(0.7, 1.3), 1.0]) / 5.0
    if rng.random() < 0.5:
        poly = _fillet_closed(poly, rng.uniform(0.02, 0.08), _res(3, detail, 1))
    return poly


def _gen_extrude(rng: np.random.Generator, u: float, detail: float) -> list[Part]:
    poly = _outline(rng, detail)
    poly = poly - 0.5 * (poly.min(axis=0) + poly.max(axis=0))
    poly /= np.ptp(poly, axis=0).max()
    depth = _loglerp(0.06, 1.0, u)
    bevel = rng.uniform(0.01, 0.05) if rng.random() < 0.5 else 0.0
    part = extrude_mesh(poly, depth, min(bevel, 0.3 * depth))
    if rng.random() < 0.5:  # standing, outline facing the front
        rot = _rot_y(rng.uniform(-0.5, 0.5))
    else:  # lying on its face
        rot = _rot_y(rng.uniform(0, 2 * math.pi)) @ _rot_x(-math.pi / 2)
    return [_transform(part, rot=rot)]


def _sphere_noise(rng: np.random.Generator, d: np.ndarray, k: int, amp: float,
                  sharp: tuple[float, float]) -> np.ndarray:
    """Smooth random bumps on the unit sphere: ``(N,)`` values about 0."""
    centres = rng.normal(size=(k, 3))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    kappa = rng.uniform(sharp[0], sharp[1], size=k)
    w = rng.normal(0.0, amp, size=k)
    return (np.exp(kappa[None] * (d @ centres.T - 1.0)) * w[None]).sum(axis=1)


def _gen_blob(rng: np.random.Generator, u: float, detail: float) -> list[Part]:
    kind = ("fruit", "rock", "plush")[rng.integers(3)]
    if kind == "fruit":
        return _fruit(rng, u, detail)
    if kind == "rock":
        d, f = _cube_sphere_dirs(_res(6, detail, 3) + int(rng.integers(0, 4)))
        r = (1.0 + _sphere_noise(rng, d, 10, 0.2, (1.0, 4.0))
             + _sphere_noise(rng, d, 24, 0.08, (5.0, 12.0)))
        r = np.clip(r, 0.4, None)
        axes = np.array([1.0, _loglerp(0.3, 1.0, u), rng.uniform(0.5, 1.0)])
        v = d * r[:, None] * axes
        v = v @ _rot_y(rng.uniform(0, 2 * math.pi)).T
        # Fracture faces: flatten everything beyond a few random planes.
        for _ in range(int(rng.integers(2, 6))):
            n = rng.normal(size=3)
            n /= np.linalg.norm(n)
            proj = v @ n
            cut = proj.max() - rng.uniform(0.03, 0.14) * np.ptp(proj)
            v = v - np.maximum(proj - cut, 0.0)[:, None] * n
        if rng.random() < 0.7:  # a flattened base
            lo = v[:, 1].min()
            cut = lo + rng.uniform(0.05, 0.2) * np.ptp(v[:, 1])
            v[:, 1] = np.maximum(v[:, 1], cut)
        return [_orient((v, f.copy()))]
    return [_plush(rng, u, detail)]


def _fruit(rng: np.random.Generator, u: float, detail: float) -> list[Part]:
    kind = ("apple", "orange", "pear", "lemon")[rng.integers(4)]
    n_lat, n_lon = _res(18, detail, 8), _res(36, detail, 12)
    t = np.linspace(0.0, math.pi, n_lat + 1)
    aspect = _lerp(0.75, 1.35, u)
    r = np.sin(t)
    y = -np.cos(t) * aspect
    if kind == "apple":
        r = r * (1.0 + 0.12 * np.sin(t) ** 2) * (1 - 0.1 * (1 + np.cos(t)) / 2)
        # Dimples: the bottom pole pushed up a little, the top one down more.
        y = (y + 0.08 * aspect * np.exp(-(t / 0.35) ** 2)
             - 0.18 * aspect * np.exp(-((math.pi - t) / 0.35) ** 2))
    elif kind == "pear":
        s = (1 - np.cos(t)) / 2  # 0 at the bottom, 1 at the top
        r = r * (1.0 - 0.55 * s ** 1.5)
        y = y * 1.3
    elif kind == "lemon":
        r = r * (1 - 0.25 * np.cos(t) ** 8)
        y = y * 1.25
    prof = np.stack([r, y], -1)
    prof[0, 0] = prof[-1, 0] = 0.0
    v, f = revolve_mesh(prof, n_lon)
    d = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    v = v * (1.0 + _sphere_noise(rng, d, 6, 0.05, (1.0, 3.0)))[:, None]
    if kind == "lemon":  # lying on its side
        v = v @ _rot_z(math.pi / 2).T
        top = np.array([v[:, 0].max(), 0.0, 0.0])
        parts = [_orient((v, f))]
        stem_dir = np.array([1.0, 0.0, 0.0])
    else:
        top = np.array([0.0, v[:, 1].max(), 0.0])
        parts = [_orient((v, f))]
        stem_dir = np.array([0.0, 1.0, 0.0])
    if rng.random() < 0.8:
        top_inside = top - stem_dir * 0.15
        bend = np.array([rng.uniform(-0.1, 0.1), 0.0, rng.uniform(-0.1, 0.1)])
        length = rng.uniform(0.15, 0.35)
        path = [top_inside, top + stem_dir * 0.5 * length + 0.3 * bend,
                top + stem_dir * length + bend]
        parts.append(tube_mesh(path, rng.uniform(0.025, 0.045), _res(8, detail, 5)))
    return parts


def _plush(rng: np.random.Generator, u: float, detail: float) -> Part:
    """A plush toy: smooth union of body, head, ears and limbs, meshed by marching cubes."""
    from skimage.measure import marching_cubes

    prims: list[tuple] = []  # ("e", centre, radii) ellipsoids, ("c", a, b, r) capsules
    four_legged = rng.random() < 0.4
    head_r = _lerp(0.3, 0.55, u)
    if four_legged:
        bl, bh = rng.uniform(0.5, 0.8), rng.uniform(0.28, 0.4)
        prims.append(("e", (0.0, 0.0, 0.0), (bh * 0.95, bh, bl)))
        hc = np.array([0.0, bh * 0.9, bl * 0.85])
        prims.append(("e", tuple(hc), (head_r * 0.8, head_r * 0.8, head_r * 0.85)))
        leg_r = rng.uniform(0.09, 0.14)
        for sx in (-1, 1):
            for sz in (-1, 1):
                top = np.array([sx * bh * 0.5, -bh * 0.3, sz * bl * 0.6])
                prims.append(("c", tuple(top), tuple(top + [0, -bh * 0.9, 0]), leg_r))
        if rng.random() < 0.7:
            a = np.array([0.0, bh * 0.3, -bl * 0.9])
            prims.append(("c", tuple(a), tuple(a + [0, 0.15, -0.2]), leg_r * 0.6))
    else:
        br = rng.uniform(0.35, 0.5)
        prims.append(("e", (0.0, 0.0, 0.0), (br, br * rng.uniform(1.0, 1.3), br * 0.85)))
        hc = np.array([0.0, br * 1.15 + head_r * 0.75, 0.05])
        prims.append(("e", tuple(hc), (head_r, head_r * 0.92, head_r * 0.88)))
        limb_r = rng.uniform(0.1, 0.15)
        for sx in (-1, 1):  # arms
            a = np.array([sx * br * 0.75, br * 0.45, 0.0])
            b = a + [sx * rng.uniform(0.15, 0.3), -rng.uniform(0.2, 0.4), rng.uniform(0.0, 0.25)]
            prims.append(("c", tuple(a), tuple(b), limb_r))
        for sx in (-1, 1):  # legs, sitting
            a = np.array([sx * br * 0.45, -br * 0.65, 0.1])
            b = a + [sx * 0.05, -0.05, rng.uniform(0.25, 0.4)]
            prims.append(("c", tuple(a), tuple(b), limb_r * 1.2))
        if rng.random() < 0.5:  # a snout
            prims.append(("e", tuple(hc + [0, -0.2 * head_r, 0.8 * head_r]),
                          (head_r * 0.4, head_r * 0.3, head_r * 0.3)))
    ear = ("round", "long", "none")[rng.integers(3)]
    if ear != "none":
        er = head_r * rng.uniform(0.25, 0.4)
        for sx in (-1, 1):
            base = hc + np.array([sx * head_r * 0.6, head_r * 0.7, 0.0])
            if ear == "round":
                prims.append(("e", tuple(base), (er, er, er * 0.45)))
            else:
                tip = base + [sx * 0.1, head_r * rng.uniform(0.8, 1.3), -0.05]
                prims.append(("c", tuple(base), tuple(tip), er * 0.55))
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    for p in prims:
        if p[0] == "e":
            c, r = np.asarray(p[1]), np.asarray(p[2])
            lo, hi = np.minimum(lo, c - r), np.maximum(hi, c + r)
        else:
            a, b, r = np.asarray(p[1]), np.asarray(p[2]), p[3]
            lo = np.minimum(lo, np.minimum(a, b) - r)
            hi = np.maximum(hi, np.maximum(a, b) + r)
    k_smooth = rng.uniform(0.05, 0.12)
    res = _res(24, detail, 12)
    budget = MAX_FACES * detail
    for _ in range(6):
        step = float((hi - lo).max()) / res
        lo_g = lo - 2 * step
        # Per-axis sample coordinates; every distance below is built from them by
        # broadcasting (separable terms), never from a (N, 3) point array.
        ax = [np.arange(lo_g[i], hi[i] + 2.5 * step, step, dtype=np.float32) for i in range(3)]
        grid = [ax[0][:, None, None], ax[1][None, :, None], ax[2][None, None, :]]
        field = None
        for p in prims:
            if p[0] == "e":
                c, r = p[1], p[2]
                q2 = sum(((grid[i] - np.float32(c[i])) / np.float32(r[i])) ** 2 for i in range(3))
                sd = (np.sqrt(q2) - 1.0) * np.float32(min(r))
            else:
                a, b, r = np.asarray(p[1]), np.asarray(p[2]), p[3]
                ab = b - a
                ab2 = max(float(ab @ ab), 1e-12)
                rel = [grid[i] - np.float32(a[i]) for i in range(3)]
                dot = sum(rel[i] * np.float32(ab[i]) for i in range(3))
                t = np.clip(dot / np.float32(ab2), 0.0, 1.0)
                d2 = sum(r_ * r_ for r_ in rel) - 2 * t * dot + t * t * np.float32(ab2)
                sd = np.sqrt(np.maximum(d2, 0.0)) - np.float32(r)
            if field is None:
                field = sd
            else:  # polynomial smooth minimum
                hmix = np.clip(0.5 + 0.5 * (sd - field) / k_smooth, 0.0, 1.0)
                field = sd * (1 - hmix) + field * hmix - k_smooth * hmix * (1 - hmix)
        inside = -field
        eps = np.float32(1e-4 * step)
        inside[np.abs(inside) < eps] = -eps  # no samples exactly on the surface
        inside = np.pad(inside, 1, constant_values=-step)
        verts, faces, _, _ = marching_cubes(inside, 0.0, spacing=(step, step, step))
        if len(faces) <= budget or res <= 12:
            break
        res = max(12, int(res * 0.97 * math.sqrt(budget / len(faces))))
    verts = verts + lo_g - step
    v, f = _weld(verts.astype(np.float64), faces[:, ::-1].astype(np.int64))
    return _orient((v, f))


def _weld(v: np.ndarray, f: np.ndarray) -> Part:
    """Merge coincident vertices, drop faces that collapse, compact."""
    scale = float(np.ptp(v, axis=0).max()) or 1.0
    key = np.round(v / scale * 1e9).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    f2 = inverse.ravel()[f]
    ok = (f2[:, 0] != f2[:, 1]) & (f2[:, 1] != f2[:, 2]) & (f2[:, 2] != f2[:, 0])
    f2 = f2[ok]
    used = np.zeros(len(first), dtype=bool)
    used[f2.ravel()] = True
    remap = -np.ones(len(first), dtype=np.int64)
    remap[used] = np.arange(int(used.sum()))
    return v[first][used], remap[f2]


def _leg(p0, p1, r: float, square: bool, sides: int) -> Part:
    """A leg/post from ``p0`` to ``p1``: a capped cylinder, or a square post."""
    p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    if square and abs((p1 - p0)[0]) < 1e-9 and abs((p1 - p0)[2]) < 1e-9:
        c = 0.5 * (p0 + p1)
        return box_mesh((2 * r, abs(p1[1] - p0[1]), 2 * r), centre=c)
    return cylinder_between(p0, p1, r, sides)


def _gen_assembly(rng: np.random.Generator, u: float, detail: float) -> list[Part]:
    kind = ("table", "chair", "stool", "shelf", "hammer", "axe", "lamp")[rng.integers(7)]
    sides = _res(14, detail, 6)
    if kind == "table":
        w, d = 1.0, rng.uniform(0.5, 1.0)
        h = _lerp(0.3, 1.1, u)
        t = rng.uniform(0.03, 0.07)
        round_top = rng.random() < 0.35
        if round_top:
            d = w
            top = _transform(_cap_cylinder(0.5 * w, t, detail, False), shift=(0, h - t, 0))
        else:
            top = box_mesh((w, t, d), rng.uniform(0.0, 0.4) * t, 1, (0, h - t / 2, 0))
        parts = [top]
        if round_top and rng.random() < 0.6 or rng.random() < 0.15:  # pedestal
            col_r = rng.uniform(0.04, 0.08)
            parts.append(cylinder_between((0, 0.02, 0), (0, h - t + 0.01, 0), col_r, sides))
            base_r = rng.uniform(0.2, 0.35) * w
            parts.append(_cap_cylinder(base_r, rng.uniform(0.02, 0.05), detail))
            return parts
        leg_r = rng.uniform(0.02, 0.045)
        inset = rng.uniform(0.03, 0.12)
        square = rng.random() < 0.5
        legs = []
        for sx in (-1, 1):
            for sz in (-1, 1):
                if round_top:
                    a = math.pi / 4 + (sx + 1) * math.pi / 2 + (sz + 1) * math.pi / 4
                    x, z = 0.35 * w * math.cos(a), 0.35 * w * math.sin(a)
                else:
                    x, z = sx * (w / 2 - inset), sz * (d / 2 - inset)
                legs.append(_leg((x, 0, z), (x, h - t + 0.005, z), leg_r, square, sides))
        parts.append(_merge(legs))
        if rng.random() < 0.4 and not round_top:  # apron
            ah = rng.uniform(0.05, 0.12)
            parts.append(box_mesh((w - 2 * inset, ah, d - 2 * inset), 0, 0,
                                  (0, h - t - ah / 2 + 0.005, 0)))
        return parts
    if kind == "chair":
        w = 1.0
        d = rng.uniform(0.85, 1.1)
        seat_h = rng.uniform(0.9, 1.1)
        t = rng.uniform(0.06, 0.12)
        back_h = _lerp(0.5, 1.4, u)
        leg_r = rng.uniform(0.035, 0.06)
        square = rng.random() < 0.6
        parts = [box_mesh((w, t, d), rng.uniform(0.0, 0.4) * t, 1, (0, seat_h - t / 2, 0))]
        legs = []
        for sx in (-1, 1):
            for sz in (-1, 1):
                x, z = sx * (w / 2 - leg_r * 1.5), sz * (d / 2 - leg_r * 1.5)
                legs.append(_leg((x, 0, z), (x, seat_h - t + 0.01, z), leg_r, square, sides))
        parts.append(_merge(legs))
        tilt = rng.uniform(0.0, 0.2)
        zb = -d / 2 + leg_r * 1.5
        if rng.random() < 0.5:  # a solid back panel
            bt = rng.uniform(0.04, 0.08)
            panel = box_mesh((w, back_h, bt), rng.uniform(0, 0.4) * bt, 1, (0, back_h / 2, 0))
            panel = _transform(panel, rot=_rot_x(-tilt), shift=(0, seat_h - 0.01, zb))
            parts.append(panel)
        else:  # posts and rails or slats
            post_top = np.array([0.0, seat_h + back_h, zb - back_h * math.sin(tilt)])
            posts = []
            for sx in (-1, 1):
                x = sx * (w / 2 - leg_r * 1.5)
                posts.append(cylinder_between((x, seat_h - 0.02, zb), post_top + [x, 0, 0],
                                              leg_r * 0.9, sides))
            parts.append(_merge(posts))
            n_rail = int(rng.integers(1, 4))
            vertical = rng.random() < 0.4
            rails = []
            if vertical:
                for i in range(n_rail + 1):
                    x = (i / n_rail - 0.5) * (w - 4 * leg_r) * 0.7 if n_rail else 0.0
                    a = np.array([x, seat_h, zb]) + [0, 0.02, 0]
                    b = post_top + [x, -0.08, 0]
                    rails.append(cylinder_between(a, b, leg_r * 0.5, sides))
                rails.append(cylinder_between(post_top + [-w / 2 + leg_r, -0.05, 0],
                                              post_top + [w / 2 - leg_r, -0.05, 0],
                                              leg_r * 0.9, sides))
            else:
                for i in range(n_rail):
                    f = 1.0 - i * 0.25
                    y = seat_h + back_h * f - 0.05
                    z = zb - (y - seat_h) * math.tan(tilt)
                    rails.append(box_mesh((w - 2 * leg_r, rng.uniform(0.06, 0.15), 0.04), 0.01,
                                          1, (0, y, z)))
            parts.append(_merge(rails))
        if rng.random() < 0.3:  # armrests
            arms = []
            for sx in (-1, 1):
                x = sx * (w / 2 - leg_r)
                arms.append(box_mesh((0.06, 0.05, d * 0.85), 0.01, 1,
                                     (x, seat_h + 0.3, -0.05)))
                arms.append(cylinder_between((x, seat_h - 0.02, d * 0.3),
                                             (x, seat_h + 0.3, d * 0.3), leg_r * 0.7, sides))
            parts.append(_merge(arms))
        return parts
    if kind == "stool":
        r = 0.5
        h = 2 * r * _lerp(0.5, 1.8, u)
        t = rng.uniform(0.05, 0.1)
        parts = [_transform(_cap_cylinder(r, t, detail), shift=(0, h - t, 0))]
        n_leg = int(rng.integers(3, 5))
        splay = rng.uniform(0.0, 0.2)
        leg_r = rng.uniform(0.03, 0.06)
        legs = []
        phase = rng.uniform(0, 2 * math.pi)
        for i in range(n_leg):
            a = phase + 2 * math.pi * i / n_leg
            top = np.array([0.7 * r * math.cos(a), h - t + 0.01, 0.7 * r * math.sin(a)])
            bot = np.array([(0.7 * r + splay * h) * math.cos(a), 0.0,
                            (0.7 * r + splay * h) * math.sin(a)])
            legs.append(cylinder_between(bot + [0, leg_r, 0], top, leg_r, sides))
        parts.append(_merge(legs))
        if rng.random() < 0.5:  # a foot ring
            y = h * rng.uniform(0.25, 0.4)
            ring_r = 0.7 * r + splay * (h - y)
            parts.append(_transform(torus_mesh(ring_r, leg_r * 0.7, _res(32, detail, 12),
                                               _res(8, detail, 4)), shift=(0, y, 0)))
        return parts
    if kind == "shelf":
        w = 1.0
        h = _loglerp(0.5, 2.5, u)
        d = rng.uniform(0.25, 0.5)
        t = rng.uniform(0.025, 0.05)
        n = int(rng.integers(2, 6))
        parts = [_merge([box_mesh((t, h, d), 0, 0, (sx * (w / 2 - t / 2), h / 2, 0))
                         for sx in (-1, 1)])]
        boards = [box_mesh((w - 1.5 * t, t, d * 0.98), 0, 0, (0, t / 2 + i * (h - t) / n, 0))
                  for i in range(n + 1)]
        parts.append(_merge(boards))
        if rng.random() < 0.5:
            parts.append(box_mesh((w - t, h - t, t * 0.5), 0, 0, (0, h / 2, -d / 2 + t * 0.25)))
        return parts
    if kind in ("hammer", "axe"):
        length = 1.0
        handle_r = _lerp(0.02, 0.06, u) * length
        head_w = rng.uniform(0.3, 0.5) * length
        path = np.array([[0, 0, 0], [0, 0.5 * length, 0], [0, length, 0]], dtype=np.float64)
        path[1, 2] += rng.uniform(-0.02, 0.02)
        parts = [tube_mesh(path, handle_r * np.array([1.0, 0.9, 0.85]), sides)]
        if kind == "hammer":
            hs = rng.uniform(0.06, 0.1) * length
            if rng.random() < 0.5:
                head = cylinder_between((-head_w / 2, length - hs, 0), (head_w / 2, length - hs, 0),
                                        hs, sides)
            else:
                head = box_mesh((head_w, 2 * hs, 2 * hs), 0.2 * hs, 1, (0, length - hs, 0))
            parts.append(head)
        else:
            # Head outline (x towards the edge, y along the handle): a narrow poll
            # behind the handle, a neck, and a blade flaring to a curved edge.
            bl = head_w
            eh = rng.uniform(0.25, 0.4) * length  # edge height
            neck = rng.uniform(0.07, 0.1) * length
            beard = rng.uniform(0.0, 0.35) * eh
            k = 7
            arc_y = np.linspace(-0.5 * eh - beard, 0.5 * eh, k)
            arc_x = bl * (0.75 + 0.08 * (1 - (2 * (arc_y - arc_y.mean()) / np.ptp(arc_y)) ** 2))
            poly = np.concatenate([
                [[-0.18 * bl, -0.5 * neck], [0.25 * bl, -0.5 * neck]],
                np.stack([arc_x, arc_y], -1),
                [[0.25 * bl, 0.5 * neck], [-0.18 * bl, 0.5 * neck]],
            ])
            poly = _fillet_closed(poly, 0.012, 2)
            head = extrude_mesh(poly, rng.uniform(0.04, 0.08) * length, 0.006)
            parts.append(_transform(head, shift=(0, length - 0.6 * neck, 0)))
        if rng.random() < 0.6:  # lying on the table
            parts = [_transform(p, rot=_rot_x(math.pi / 2) @ _rot_y(rng.uniform(-0.3, 0.3)))
                     for p in parts]
        return parts
    # lamp: base, stem, shade
    base_r = rng.uniform(0.15, 0.3)
    base_h = rng.uniform(0.03, 0.08)
    stem_h = _lerp(0.4, 1.6, u)
    shade_h = rng.uniform(0.25, 0.45)
    shade_rb = rng.uniform(0.25, 0.45)
    shade_rt = shade_rb * rng.uniform(0.5, 0.9)
    parts = [_cap_cylinder(base_r, base_h, detail)]
    parts.append(cylinder_between((0, base_h - 0.01, 0), (0, stem_h + 0.02, 0),
                                  rng.uniform(0.012, 0.025), sides))
    wall = 0.012
    n = _res(6, detail, 3)
    s = np.linspace(0, 1, n)
    side = np.stack([shade_rb + (shade_rt - shade_rb) * s,
                     stem_h - 0.3 * shade_h + shade_h * s], -1)
    loop = np.concatenate([side, (side + [-wall, 0])[::-1]])
    parts.append(revolve_mesh(loop, _res(36, detail, 12), closed=True))
    spokes = []
    top = np.array([0.0, stem_h + 0.02, 0.0])
    for i in range(3):  # the spider holding the shade
        a = 2 * math.pi * i / 3
        rim = side[-1] - [0.5 * wall, 0.0]
        spokes.append(cylinder_between(top, (rim[0] * math.sin(a), rim[1] - 0.005,
                                             rim[0] * math.cos(a)), 0.006, 5))
    parts.append(_merge(spokes))
    if rng.random() < 0.6:  # bulb
        bulb = uv_sphere(_res(8, detail, 4), _res(16, detail, 8), rng.uniform(0.05, 0.08))
        parts.append(_transform(bulb, shift=(0, stem_h + 0.05, 0)))
    return parts


def _merge(parts: Sequence[Part]) -> Part:
    """Several closed pieces as one part (each oriented outwards)."""
    vs, fs, off = [], [], 0
    for v, f in parts:
        v, f = _orient((v, f))
        vs.append(v)
        fs.append(f + off)
        off += len(v)
    return np.concatenate(vs), np.concatenate(fs)


def _gen_thin(rng: np.random.Generator, u: float, detail: float) -> list[Part]:
    kind = ("plate", "lid", "disc", "spatula", "knife", "board")[rng.integers(6)]
    thick = _loglerp(0.012, 0.1, u)  # thickness over the largest size
    seg = _res(48, detail, 12)
    nf = _res(3, detail, 1)
    parts: list[Part]
    if kind == "plate":
        r = 0.5
        well = rng.uniform(0.45, 0.75) * r
        h = rng.uniform(0.02, 0.12) * r + thick
        outer = np.array([[0.0, 0.0], [well * 0.8, 0.0], [well, h * 0.6], [r, h]])
        outer = _fillet(outer, [0, 0.3 * well, 0.2 * well, 0], nf + 1)
        parts = [revolve_mesh(_hollow_profile(outer, thick, 3), seg)]
    elif kind == "lid":
        r = 0.5
        dome = rng.uniform(0.0, 0.15)
        prof = [[0, 0], [r, 0], [r, thick * 1.5], [0.8 * r, thick * 1.5 + dome * 0.6],
                [0, thick * 1.5 + dome]]
        parts = [revolve_mesh(_fillet(prof, [0, 0, 0.5 * thick, 0.2 * r, 0], nf + 1), seg)]
        top = thick * 1.5 + dome
        knob_r = rng.uniform(0.05, 0.12)
        if rng.random() < 0.5:
            knob = _transform(uv_sphere(_res(8, detail, 4), _res(16, detail, 8), knob_r),
                              scale=(1, 0.7, 1), shift=(0, top + 0.5 * knob_r, 0))
        else:
            knob = _transform(_cap_cylinder(knob_r, rng.uniform(0.04, 0.1), detail),
                              shift=(0, top - 0.01, 0))
        parts.append(knob)
    elif kind == "disc":
        r = 0.5
        h = thick * 1.5
        e = rng.uniform(0.0, 0.45) * h
        prof = _fillet([[0, 0], [r, 0], [r, h], [0, h]], [0, e, e, 0], nf)
        parts = [revolve_mesh(prof, seg)]
    elif kind in ("spatula", "knife"):
        length = 1.0
        handle_len = rng.uniform(0.35, 0.55) * length
        hw = rng.uniform(0.05, 0.09)
        ht = max(thick * 1.5, 0.03)
        handle = box_mesh((handle_len, ht, hw), 0.4 * min(ht, hw), _res(3, detail, 1),
                          (-length / 2 + handle_len / 2, ht / 2, 0))
        blade_len = length - handle_len
        x0 = -length / 2 + handle_len - 0.02
        if kind == "spatula":
            bw = rng.uniform(0.15, 0.3)
            poly = np.array([[x0, -0.02], [x0 + 0.3 * blade_len, -bw / 2],
                             [x0 + blade_len, -bw / 2], [x0 + blade_len, bw / 2],
                             [x0 + 0.3 * blade_len, bw / 2], [x0, 0.02]])
            poly = _fillet_closed(poly, 0.02, nf)
        else:
            bw = rng.uniform(0.06, 0.12)
            poly = np.array([[x0, -bw / 2], [x0 + 0.7 * blade_len, -bw / 2],
                             [x0 + blade_len, bw / 2], [x0, bw / 2]])
            poly = _fillet_closed(poly, 0.005, nf)
        bt = min(thick, 0.02)
        blade = extrude_mesh(poly, bt)
        blade = _transform(blade, rot=_rot_x(-math.pi / 2), shift=(0, ht / 2, 0))
        yaw = _rot_y(rng.uniform(0, 2 * math.pi))
        parts = [_transform(p, rot=yaw) for p in (handle, blade)]
    else:  # board
        w, d = 1.0, rng.uniform(0.4, 0.8)
        poly = np.array([[-w / 2, -d / 2], [w / 2, -d / 2], [w / 2, d / 2], [-w / 2, d / 2]])
        if rng.random() < 0.4:  # a handle tab
            poly = np.array([[-w / 2, -d / 2], [w / 2 - 0.15, -d / 2], [w / 2 - 0.15, -0.06],
                             [w / 2, -0.06], [w / 2, 0.06], [w / 2 - 0.15, 0.06],
                             [w / 2 - 0.15, d / 2], [-w / 2, d / 2]])
        poly = _fillet_closed(poly, rng.uniform(0.01, 0.08), nf)
        board = extrude_mesh(poly, thick * 2, rng.uniform(0.0, 0.4) * thick)
        parts = [_transform(board, rot=_rot_x(-math.pi / 2))]
    if rng.random() < 0.2:  # standing on its edge, facing the front
        parts = [_transform(p, rot=_rot_x(math.pi / 2)) for p in parts]
    return parts


def _gen_composite(rng: np.random.Generator, u: float, detail: float,
                   split: str = "train") -> list[Part]:
    k = 2 if rng.random() < 0.7 else 3
    members = [f for f in FAMILIES if f != "composite"]
    arrangement = ("stack", "side", "overlap")[rng.integers(3)]
    placed: list[list[Part]] = []
    for i in range(k):
        fam = members[rng.integers(len(members))]
        sub_u = primary_variate(rng, split)
        parts = _GENERATORS[fam](rng, sub_u, detail / k)
        lo, hi = _parts_bounds(parts)
        scale = 1.0 / float((hi - lo).max())
        if i > 0:
            scale *= _lerp(0.35, 1.0, u) * rng.uniform(0.8, 1.0)
        rot = _rot_y(rng.uniform(0, 2 * math.pi)) if rng.random() < 0.5 else None
        parts = [_transform((v - 0.5 * (lo + hi), f), rot=rot, scale=None)
                 for v, f in parts]
        parts = [(v * scale, f) for v, f in parts]
        parts = _on_ground(parts)
        if placed:
            prev = [p for grp in placed for p in grp]
            plo, phi = _parts_bounds(prev)
            lo, hi = _parts_bounds(parts)
            if arrangement == "stack":
                overlap = rng.uniform(0.0, 0.03) * (hi[1] - lo[1])
                shift = np.array([rng.uniform(-0.15, 0.15) * (phi[0] - plo[0]), phi[1] - overlap,
                                  rng.uniform(-0.15, 0.15) * (phi[2] - plo[2])])
                shift[0] += 0.5 * (plo[0] + phi[0]) - 0.5 * (lo[0] + hi[0])
                shift[2] += 0.5 * (plo[2] + phi[2]) - 0.5 * (lo[2] + hi[2])
            elif arrangement == "side":
                gap = rng.uniform(-0.05, 0.05) * (hi[0] - lo[0])
                shift = np.array([phi[0] - lo[0] + gap, 0.0,
                                  0.5 * (plo[2] + phi[2]) - 0.5 * (lo[2] + hi[2])
                                  + rng.uniform(-0.2, 0.2) * (hi[2] - lo[2])])
            else:
                shift = np.array([0.5 * (plo[0] + phi[0]) - 0.5 * (lo[0] + hi[0])
                                  + rng.uniform(-0.4, 0.4) * (phi[0] - plo[0]), 0.0,
                                  0.5 * (plo[2] + phi[2]) - 0.5 * (lo[2] + hi[2])
                                  + rng.uniform(-0.4, 0.4) * (phi[2] - plo[2])])
            parts = [(v + shift, f) for v, f in parts]
        placed.append(parts)
    return [p for grp in placed for p in grp]


_GENERATORS: dict[str, Callable[..., list[Part]]] = {
    "box": _gen_box,
    "cylinder": _gen_cylinder,
    "revolve": _gen_revolve,
    "superquadric": _gen_superquadric,
    "extrude": _gen_extrude,
    "blob": _gen_blob,
    "assembly": _gen_assembly,
    "thin": _gen_thin,
}


# ---------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------


def generate(family: str, rng: np.random.Generator, u: float,
             split: str = "train") -> SynthMesh:
    """One mesh of ``family`` with primary variate ``u`` (normalised, <= MAX_FACES).

    ``split`` matters only for ``"composite"`` (its members draw their own ``u``).
    Tessellation is lowered (with the generator rewound, so the same shape comes out)
    until the face budget holds.

    Raises:
        InputError: naming ``family`` when it is not one of :data:`FAMILIES`.
    """
    if family not in FAMILIES:
        raise InputError(f"argument 'family' must be one of {FAMILIES}, got {family!r}")
    _check_split(split)
    state = rng.bit_generator.state
    detail = 1.0
    for _ in range(8):
        if family == "composite":
            parts = _gen_composite(rng, u, detail, split)
        else:
            parts = _GENERATORS[family](rng, u, detail)
        nf = sum(len(f) for _, f in parts)
        if nf <= MAX_FACES:
            break
        detail *= 0.75 * MAX_FACES / nf
        rng.bit_generator.state = state
    else:  # pragma: no cover - every generator fits at its lowest detail
        raise RuntimeError(f"{family}: could not fit {MAX_FACES} faces")
    v, f, p = concat_parts(parts)
    v = normalise(v)
    return SynthMesh(vertices=v.astype(np.float32), faces=f, part=p, family=family)


def sample_mesh(rng: np.random.Generator, split: str = "train", assets: Assets | None = None,
                family: str | None = None) -> SynthMesh:
    """Draw one mesh: a procedural family (:data:`FAMILY_WEIGHTS`) or, when ``assets`` are given,
    a shared real mesh of ``split`` in :data:`ASSET_FRACTION` of the draws.

    Args:
        rng: the random generator (its state is advanced).
        split: ``"train"`` or ``"eval"``: which band of the primary variate (and which
            shared meshes) to draw from (see the module docstring).
        assets: prepared real data (:func:`lift3d.synth.assets.ensure_assets`), or None.
        family: force one of :data:`FAMILIES`, or ``"shared"`` for a random shared
            mesh of the split (needs ``assets``); None draws it.

    Returns:
        A :class:`SynthMesh` in the object frame.

    Raises:
        InputError: naming ``split`` or ``family`` when invalid, or ``assets`` when a
            shared mesh is asked for and there is none.
    """
    _check_split(split)
    if family is not None and family not in FAMILIES and family != "shared":
        raise InputError(
            f"argument 'family' must be one of {FAMILIES + ('shared',)} or None, got {family!r}"
        )
    names = assets.names("meshes", split) if assets is not None else ()
    if family == "shared" or (family is None and assets is not None
                              and rng.random() < ASSET_FRACTION and names):
        if not names:
            raise InputError(f"argument 'assets' has no shared meshes for split {split!r}")
        return assets.meshes[names[int(rng.integers(len(names)))]]
    if family is None:
        p = np.asarray(FAMILY_WEIGHTS) / sum(FAMILY_WEIGHTS)
        family = FAMILIES[int(rng.choice(len(FAMILIES), p=p))]
    u = primary_variate(rng, split)
    return generate(family, rng, u, split)
