"""Brute-force ray casting of triangle batches in torch, with layered (union) intervals.

:func:`cast` tests every ray against every triangle of its batch item and keeps the
``k`` nearest hits; :func:`layers` turns those sorted hits into the first two intervals
where the ray is inside the union of the (closed, possibly overlapping) parts.

The triangle test is the precomputed-transform form of Moller-Trumbore (Baldwin and
Weber, JCGT 2016): each triangle gets an affine map taking space to its barycentric
frame ``(u, v, w)`` with the triangle on ``w = 0``. A ray then needs only the mapped
origin and direction, six dot products that one batched matrix product computes for
every (ray, triangle) pair at once; the edge vectors and inverses are computed once
per call, never per chunk. Everything is float32 and device-agnostic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

#: Barycentric slack of the inside test: a ray this close outside an edge (in units of
#: the triangle's own barycentrics) still hits, so rounding never opens a crack between
#: neighbouring triangles. Hits this creates twice at a shared edge are merged by
#: :func:`layers`.
INSIDE_EPS: float = 1e-4

#: Hits of one part closer than this (relative to the ray parameter, at least 1) with
#: the same orientation are one hit counted twice (a ray through a shared edge or vertex).
DUPLICATE_REL: float = 1e-5

# Ray features: origin (3), 1, direction (3); per-triangle outputs: u, v, w of the
# origin (affine) and of the direction (linear).
_NFEAT = 7
_NOUT = 6


class Hits(NamedTuple):
    """The ``k`` nearest hits of each ray, sorted by ``t`` (nearest first).

    Attributes:
        t: ``(B, R, k)`` float32 ray parameter of the hit (``origin + t * dir``);
            ``+inf`` where the ray has fewer than ``k`` hits.
        face: ``(B, R, k)`` int64 index of the triangle hit; ``-1`` where none.
        u, v: ``(B, R, k)`` float32 barycentric coordinates of the hit: the point is
            ``(1 - u - v) * p0 + u * p1 + v * p2``; 0 where none.
    """

    t: Tensor
    face: Tensor
    u: Tensor
    v: Tensor


class Layers(NamedTuple):
    """The first two intervals a ray spends inside the union of closed parts.

    Ray parameters ``t`` are along the ``dirs`` given to :func:`layers`; with camera
    rays whose direction has unit ``z`` they are camera z-depths.

    Attributes:
        entry1, exit1: ``(B, R)`` float32 ``t`` where the ray first enters and first
            leaves the union; ``+inf`` for rays that miss.
        entry2, exit2: ``(B, R)`` float32 the second interval; ``+inf`` where none.
        n_intervals: ``(B, R)`` int64 number of intervals found among the ``k`` hits.
        face_entry1, face_exit1: ``(B, R)`` int64 triangle at ``entry1`` / ``exit1``;
            ``-1`` where none.
        u_entry1, v_entry1, u_exit1, v_exit1: ``(B, R)`` float32 barycentrics there
            (see :class:`Hits`); 0 where none.
    """

    entry1: Tensor
    exit1: Tensor
    entry2: Tensor
    exit2: Tensor
    n_intervals: Tensor
    face_entry1: Tensor
    face_exit1: Tensor
    u_entry1: Tensor
    v_entry1: Tensor
    u_exit1: Tensor
    v_exit1: Tensor


def face_normals(tri: Tensor) -> Tensor:
    """Unit normals ``(B, F, 3)`` of ``tri`` ``(B, F, 3, 3)`` (counter-clockwise = out).

    Degenerate (e.g. all-zero padding) triangles get a zero normal.
    """
    n = torch.cross(tri[..., 1, :] - tri[..., 0, :], tri[..., 2, :] - tri[..., 0, :], dim=-1)
    length = torch.linalg.vector_norm(n, dim=-1, keepdim=True)
    return torch.where(length > 0, n / length.clamp_min(1e-30), torch.zeros_like(n))


def _transforms(tri: Tensor, centre: Tensor) -> Tensor:
    """Per-triangle maps to barycentric space, as a ``(B, 7, 6F)`` matrix.

    Columns ``[0:F]``, ``[F:2F]``, ``[2F:3F]`` give ``u, v, w`` of a ray origin (rows
    0-3: ``x, y, z, 1``, relative to ``centre`` ``(B, 3)``); columns ``[3F:6F]`` give
    ``u, v, w`` of its direction (rows 4-6). Built in float64: the inverse of a small
    triangle's frame has large entries whose rounding would otherwise show as cracks.
    Degenerate triangles map every origin to ``w = nan``, so they can never hit.
    """
    b, f = tri.shape[:2]
    t64 = tri.to(torch.float64) - centre.to(torch.float64)[:, None, None, :]
    p0 = t64[..., 0, :]
    e1 = t64[..., 1, :] - p0
    e2 = t64[..., 2, :] - p0
    n = torch.cross(e1, e2, dim=-1)
    det = (n * n).sum(-1, keepdim=True)  # = e1 . (e2 x n)
    scale = torch.maximum((e1 * e1).sum(-1, keepdim=True), (e2 * e2).sum(-1, keepdim=True))
    ok = det > 1e-14 * scale * scale
    inv_det = torch.where(ok, 1.0 / torch.where(ok, det, torch.ones_like(det)),
                          torch.zeros_like(det))
    # Rows of the inverse of the column matrix [e1 e2 n].
    rows = torch.stack([torch.cross(e2, n, dim=-1), torch.cross(n, e1, dim=-1), n], dim=-2)
    rows = rows * inv_det[..., None]  # (B, F, 3, 3): rows for u, v, w
    offs = -(rows * p0[..., None, :]).sum(-1)  # (B, F, 3)
    nan = torch.full_like(offs[..., 2], float("nan"))
    offs = torch.stack([offs[..., 0], offs[..., 1], torch.where(ok[..., 0], offs[..., 2], nan)],
                       dim=-1)
    w = torch.zeros(b, _NFEAT, _NOUT, f, dtype=torch.float64, device=tri.device)
    lin = rows.permute(0, 3, 2, 1)  # (B, xyz, uvw, F)
    w[:, 0:3, 0:3, :] = lin
    w[:, 3, 0:3, :] = offs.permute(0, 2, 1)
    w[:, 4:7, 3:6, :] = lin
    return w.reshape(b, _NFEAT, _NOUT * f)


def _split_tf32(x: Tensor) -> tuple[Tensor, Tensor]:
    """``x`` as ``hi + lo`` where ``hi`` has a 10-bit mantissa (exact in TF32)."""
    hi = (x.view(torch.int32) & -8192).view(torch.float32)
    return hi, x - hi


def _exact_features(feats: Tensor, weights: Tensor, on_cuda: bool) -> tuple[Tensor, Tensor]:
    """Operands of one ``bmm`` whose product is float32-accurate even under TF32.

    CUDA matmuls may round float32 inputs to TF32 (``torch.set_float32_matmul_precision
    ("high")``, which training code sets), a 1e-3 error that would open cracks between
    triangles. Splitting both sides into TF32-exact high and low parts and stacking
    ``hi*hi + hi*lo + lo*hi`` along the inner dimension keeps ~1e-6 accuracy whatever the
    global setting, at the cost of a 3x deeper (still tiny) inner dimension.
    """
    if not on_cuda:
        return feats, weights
    fh, fl = _split_tf32(feats)
    wh, wl = _split_tf32(weights)
    return torch.cat([fh, fh, fl], dim=-1), torch.cat([wh, wl, wh], dim=-2)


def cast(
    tri: Tensor,
    origins: Tensor,
    dirs: Tensor,
    k: int = 8,
    max_elems: int = 2**28,
    *,
    t_min: float = 0.0,
    eps: float = INSIDE_EPS,
    part: Tensor | None = None,
    shared_origin: bool | None = None,
    face_counts: Sequence[int] | None = None,
) -> Hits:
    """The ``k`` nearest distinct ray-triangle hits of every ray (brute force).

    A ray through a shared edge or vertex hits every triangle there at the same ``t``;
    such repeats (same ``t`` within :data:`DUPLICATE_REL`, same orientation, same
    part) are kept once, so they never crowd out the hits behind them.

    Args:
        tri: ``(B, F, 3, 3)`` float32 triangle corners (any frame; ``B`` batch items
            each with ``F`` triangles, padded with all-zero triangles, which never hit).
        origins: ``(B, R, 3)`` float32 ray origins, same frame.
        dirs: ``(B, R, 3)`` float32 ray directions (need not be unit; ``t`` is in units
            of their length).
        k: hits kept per ray.
        max_elems: no temporary holds more than this many elements; items (grouped
            by face count, so padding costs little) and rays are processed in chunks
            that respect it.
        t_min: hits with ``t <= t_min`` are ignored.
        eps: barycentric slack of the inside test (see :data:`INSIDE_EPS`).
        part: optional ``(B, F)`` int part index per triangle: coincident hits of
            different parts (overlapping parts with a common face) are all kept.
        shared_origin: whether all rays of an item start at one point (camera rays),
            which halves the work; ``None`` checks.
        face_counts: the real (unpadded) face count of each item; ``None`` finds the
            trailing all-zero triangles. Given, they spare two device syncs.

    Returns:
        :class:`Hits`, sorted nearest first.
    """
    if tri.ndim != 4 or tri.shape[2:] != (3, 3):
        raise ValueError(f"tri must be (B, F, 3, 3), got {tuple(tri.shape)}")
    b, f = tri.shape[:2]
    if origins.shape[0] != b or origins.ndim != 3 or origins.shape[2] != 3:
        raise ValueError(f"origins must be (B={b}, R, 3), got {tuple(origins.shape)}")
    if dirs.shape != origins.shape:
        raise ValueError(f"dirs must match origins {tuple(origins.shape)}, got "
                         f"{tuple(dirs.shape)}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    r = origins.shape[1]
    dev = tri.device
    out_t, out_face, out_u, out_v = _no_hits(b, r, k, dev)
    if f == 0 or r == 0:
        return Hits(out_t, out_face, out_u, out_v)
    tri = tri.to(torch.float32)
    origins = origins.to(torch.float32)
    dirs = dirs.to(torch.float32)
    # Camera rays share their origin: its mapped u, v, w are then one row per item and
    # only the directions need the per-pair product (half the work and memory).
    if shared_origin is None:
        shared_origin = bool((origins == origins[:, :1]).all())
    shared = shared_origin
    n_out = 3 if shared else _NOUT

    # Items padded to the batch's largest mesh would test every padding triangle: sort
    # the items by their real face count (trailing all-zero triangles cut) and cast
    # groups of similar size (within 25 %), each as large as the memory budget allows.
    if face_counts is None:
        nonzero = tri.reshape(b, f, 9).abs().amax(-1) > 0
        last = f - torch.argmax(nonzero.flip(1).to(torch.uint8), dim=1)
        counts = torch.where(nonzero.any(1), last, torch.zeros_like(last)).tolist()
    else:
        if len(face_counts) != b:
            raise ValueError(f"face_counts must have {b} entries, got {len(face_counts)}")
        counts = [min(int(c), f) for c in face_counts]
    order = sorted((i for i in range(b) if counts[i] > 0), key=lambda i: counts[i])
    if not order:
        return Hits(out_t, out_face, out_u, out_v)
    bounds = [0]  # groups are runs [bounds[j], bounds[j + 1]) of the sorted items
    for j in range(1, len(order)):
        n = j - bounds[-1] + 1
        if (n * r * n_out * counts[order[j]] > max_elems
                or counts[order[j]] > 1.25 * counts[order[bounds[-1]]]):
            bounds.append(j)
    bounds.append(len(order))
    # One host-to-device copy for the whole permutation: per-group index tensors would
    # each wait for the GPU to drain.
    perm = torch.tensor(order, device=dev)
    tri_s, org_s, dir_s = tri[perm], origins[perm], dirs[perm]
    part_s = None if part is None else part[perm].to(torch.int64)
    res = []
    for g0, g1 in zip(bounds[:-1], bounds[1:], strict=True):
        fg = counts[order[g1 - 1]]
        pg = None if part_s is None else part_s[g0:g1, :fg]
        res.append(_cast_group(tri_s[g0:g1, :fg], org_s[g0:g1], dir_s[g0:g1], k, max_elems,
                               t_min, eps, shared, pg))
    for j, out in enumerate((out_t, out_face, out_u, out_v)):
        out[perm] = torch.cat([x[j] for x in res], dim=0)
    return Hits(out_t, out_face, out_u, out_v)


def _dedupe(t: Tensor, face: Tensor, u: Tensor, v: Tensor, entering: Tensor,
            part: Tensor | None, k: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Drop repeated hits from sorted ``(..., K)`` candidates; keep the first ``k``."""
    kc = t.shape[-1]
    valid = torch.isfinite(t)
    tol = DUPLICATE_REL * t.abs().clamp_min(1.0)
    close = (t[..., :, None] - t[..., None, :]).abs() <= tol[..., :, None]
    same = (entering[..., :, None] == entering[..., None, :]) & valid[..., None, :]
    if part is not None:
        pk = torch.gather(part, -1, face.clamp_min(0).flatten(1)).view_as(face)
        same &= pk[..., :, None] == pk[..., None, :]
    earlier = torch.ones(kc, kc, dtype=torch.bool, device=t.device).tril(-1)
    dup = (close & same & earlier).any(-1) & valid
    pos = torch.arange(kc, device=t.device)
    keep = torch.argsort(dup.to(torch.int64) * kc + pos, dim=-1)[..., :k]
    dup = torch.gather(dup, -1, keep)
    t = torch.gather(t, -1, keep).masked_fill(dup, float("inf"))
    face = torch.gather(face, -1, keep).masked_fill(dup, -1)
    u = torch.gather(u, -1, keep).masked_fill(dup, 0.0)
    v = torch.gather(v, -1, keep).masked_fill(dup, 0.0)
    return t, face, u, v


def _no_hits(b: int, r: int, k: int, dev) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(t, face, u, v)`` of ``(b, r, k)`` rays that hit nothing yet, to be filled."""
    return (torch.full((b, r, k), float("inf"), dtype=torch.float32, device=dev),
            torch.full((b, r, k), -1, dtype=torch.int64, device=dev),
            torch.zeros((b, r, k), dtype=torch.float32, device=dev),
            torch.zeros((b, r, k), dtype=torch.float32, device=dev))


def _cast_group(tri: Tensor, origins: Tensor, dirs: Tensor, k: int, max_elems: int,
                t_min: float, eps: float, shared: bool,
                part: Tensor | None) -> tuple[Tensor, ...]:
    """:func:`cast` for items whose triangles are all real (no long padding tail)."""
    b, f = tri.shape[:2]
    r = origins.shape[1]
    dev = tri.device
    out_t, out_face, out_u, out_v = _no_hits(b, r, k, dev)
    # Work relative to each item's centre: the mapped coordinates then stay small, so
    # the cancellation in u = u_o + t * u_d loses little precision.
    lo = tri.reshape(b, -1, 3).amin(1)
    hi = tri.reshape(b, -1, 3).amax(1)
    centre = 0.5 * (lo + hi)
    weights = _transforms(tri, centre).to(torch.float32)  # (B, 7, 6F)
    on_cuda = dev.type == "cuda"
    if shared:
        feats_o = torch.cat([origins[:, :1] - centre[:, None, :],
                             torch.ones_like(origins[:, :1, :1])], dim=-1)  # (B, 1, 4)
        fo, wo_ = _exact_features(feats_o, weights[:, 0:4, :3 * f], on_cuda)
        o_map = torch.bmm(fo, wo_)  # (B, 1, 3F): u, v, w of the origin
        feats, weights = _exact_features(dirs, weights[:, 4:7, 3 * f:], on_cuda)
        t0 = None
        n_out = 3
    else:
        # Move every origin along its ray to the point nearest the centre, for the same
        # reason; t is shifted back afterwards.
        d2 = (dirs * dirs).sum(-1).clamp_min(1e-30)
        t0 = ((centre[:, None, :] - origins) * dirs).sum(-1) / d2  # (B, R)
        o_rel = origins + t0[..., None] * dirs - centre[:, None, :]
        feats = torch.cat([o_rel, torch.ones_like(o_rel[..., :1]), dirs], dim=-1)
        feats, weights = _exact_features(feats, weights, on_cuda)
        n_out = _NOUT

    # Spare candidates for the repeats a ray through a vertex produces (its valence,
    # ~6, per crossing); a single nearest hit needs none.
    kc = min(f, 3 * k) if k > 1 else 1
    kk = min(k, kc)
    rows = max(1, min(max_elems // (n_out * f), max_elems // (kc * kc)))  # rows per chunk
    bc = b if rows >= b else max(1, rows)
    rc = max(1, rows // bc)
    for b0 in range(0, b, bc):
        b1 = min(b, b0 + bc)
        w_chunk = weights[b0:b1]
        for r0 in range(0, r, rc):
            r1 = min(r, r0 + rc)
            y = torch.bmm(feats[b0:b1, r0:r1], w_chunk)  # (bc, rc, n_out * F)
            if shared:
                uo, vo, wo = o_map[b0:b1].split(f, dim=-1)
                ud, vd, wd = y.split(f, dim=-1)
            else:
                uo, vo, wo, ud, vd, wd = y.split(f, dim=-1)
            t = torch.div(wo, wd).neg_()
            u = torch.addcmul(uo, t, ud)
            v = torch.addcmul(vo, t, vd)
            if t0 is not None:
                t.add_(t0[b0:b1, r0:r1, None])
            bad = u < -eps
            bad |= v < -eps
            bad |= (u + v) > 1.0 + eps
            bad |= ~(t > t_min)  # also rejects nan (degenerate or parallel)
            t.masked_fill_(bad, float("inf"))
            del bad
            tk, idx = torch.topk(t, kc, dim=-1, largest=False, sorted=True)
            found = torch.isfinite(tk)
            fk = torch.where(found, idx, torch.full_like(idx, -1))
            zero = torch.zeros_like(tk)
            uk = torch.where(found, torch.gather(u, -1, idx), zero)
            vk = torch.where(found, torch.gather(v, -1, idx), zero)
            if kc > 1:
                entering = torch.gather(wd, -1, idx) < 0  # w of the direction: n . d / |n|^2
                pc = None if part is None else part[b0:b1]
                tk, fk, uk, vk = _dedupe(tk, fk, uk, vk, entering, pc, kk)
            del y, uo, vo, wo, ud, vd, wd, t, u, v
            out_t[b0:b1, r0:r1, :kk] = tk
            out_face[b0:b1, r0:r1, :kk] = fk
            out_u[b0:b1, r0:r1, :kk] = uk
            out_v[b0:b1, r0:r1, :kk] = vk
    return out_t, out_face, out_u, out_v


def _gather_faces(values: Tensor, face: Tensor) -> Tensor:
    """``values`` ``(B, F, C)`` at ``face`` ``(B, ...)`` (``-1`` gives row 0) -> ``(B, ..., C)``."""
    b = face.shape[0]
    flat = face.clamp_min(0).reshape(b, -1)
    out = torch.gather(values, 1, flat[..., None].expand(-1, -1, values.shape[-1]))
    return out.reshape(*face.shape, values.shape[-1])


def layers(hits: Hits, face_normals: Tensor, dirs: Tensor) -> Layers:
    """Union intervals of each ray from its sorted hits.

    A hit enters when its face normal opposes the ray (``dot(n, dir) < 0``) and exits
    otherwise. Walking the hits in order with a running count of the parts the ray is
    inside (never below 0), an interval starts where the count leaves 0 and ends where
    it returns to 0, so overlapping closed parts merge into one interval. An interval
    still open after the last hit (more than ``k`` hits, or a crack) ends at the last
    hit. Intervals of zero length (a ray grazing a silhouette edge) are dropped.

    Args:
        hits: :class:`Hits` from :func:`cast`.
        face_normals: ``(B, F, 3)`` outward normals (need not be unit).
        dirs: ``(B, R, 3)`` the ray directions given to :func:`cast`.

    Returns:
        :class:`Layers`.
    """
    t, face = hits.t, hits.face
    b, r, k = t.shape
    valid = face >= 0
    n = _gather_faces(face_normals.to(t.dtype), face)  # (B, R, k, 3)
    entering = (n * dirs[:, :, None, :].to(t.dtype)).sum(-1) < 0
    delta = torch.where(entering, 1, -1).to(torch.int64)
    delta = torch.where(valid, delta, torch.zeros_like(delta))

    dev = t.device
    inf = torch.full((b, r), float("inf"), dtype=t.dtype, device=dev)
    zero = torch.zeros((b, r), dtype=t.dtype, device=dev)
    none = torch.full((b, r), -1, dtype=torch.int64, device=dev)
    st = {"entry1": inf, "exit1": inf, "entry2": inf, "exit2": inf, "face_entry1": none,
          "face_exit1": none, "u_entry1": zero, "v_entry1": zero, "u_exit1": zero,
          "v_exit1": zero, "open_t": inf}
    started = torch.zeros((b, r), dtype=torch.int64, device=dev)

    def put(mask: Tensor, **values: Tensor) -> None:
        for name, val in values.items():
            st[name] = torch.where(mask, val, st[name])

    def close(end: Tensor, te: Tensor, fe: Tensor, ue: Tensor, ve: Tensor) -> Tensor:
        """End the open interval where ``end``; one of zero length (a ray grazing an
        edge on the silhouette: its entry and exit coincide) is taken back instead."""
        graze = end & ((te - st["open_t"]).abs() <= DUPLICATE_REL * te.abs().clamp_min(1.0))
        real = end & ~graze
        put(graze & (started == 1), entry1=inf, face_entry1=none, u_entry1=zero,
            v_entry1=zero)
        put(graze & (started == 2), entry2=inf)
        put(real & (started == 1), exit1=te, face_exit1=fe, u_exit1=ue, v_exit1=ve)
        put(real & (started == 2), exit2=te)
        return started - graze.to(torch.int64)

    count = torch.zeros_like(started)
    last_t, last_face, last_u, last_v = inf, none, zero, zero
    # k is small (8): the loop runs over hit slots, every step vectorised over all rays.
    for i in range(k):
        ti, fi, ui, vi = t[..., i], face[..., i], hits.u[..., i], hits.v[..., i]
        new = (count + delta[..., i]).clamp_min(0)
        start = (count == 0) & (new > 0)
        started = close((count > 0) & (new == 0), ti, fi, ui, vi)
        put(start & (started == 0), entry1=ti, face_entry1=fi, u_entry1=ui, v_entry1=vi)
        put(start & (started == 1), entry2=ti)
        put(start, open_t=ti)
        started = started + start.to(torch.int64)
        count = new
        has = valid[..., i]
        last_t = torch.where(has, ti, last_t)
        last_face = torch.where(has, fi, last_face)
        last_u = torch.where(has, ui, last_u)
        last_v = torch.where(has, vi, last_v)
    started = close(count > 0, last_t, last_face, last_u, last_v)
    return Layers(st["entry1"], st["exit1"], st["entry2"], st["exit2"], started,
                  st["face_entry1"], st["face_exit1"], st["u_entry1"], st["v_entry1"],
                  st["u_exit1"], st["v_exit1"])
