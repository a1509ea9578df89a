"""Layered depth to a signed field on a voxel grid, and the field to a closed surface."""

from __future__ import annotations

import logging

import numpy as np

from ..types import LayeredDepth, Mesh

log = logging.getLogger(__name__)


def silhouette_sdf(mask: np.ndarray) -> np.ndarray:
    """Signed distance to the silhouette's edge in pixels (positive inside).

    Args:
        mask: ``(H, W)`` float in ``[0, 1]``, soft. The soft values shift the edge by
            up to half a pixel so the surface follows the matte, not the pixel grid.

    Returns:
        ``(H, W)`` float32.
    """
    from scipy.ndimage import distance_transform_edt

    inside = mask >= 0.5
    d_in = distance_transform_edt(inside)
    d_out = distance_transform_edt(~inside)
    sdf = np.where(inside, d_in - 0.5, -(d_out - 0.5))
    # Sub-pixel edge from the soft matte where it is fractional (boundary pixels).
    frac = (mask > 0.02) & (mask < 0.98) & (np.abs(sdf) <= 1.0)
    sdf = np.where(frac, mask - 0.5, sdf)
    return sdf.astype(np.float32)


def _layer_maps(mask: np.ndarray, front: np.ndarray, back: np.ndarray, px: float,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel ``(edge, mid, half)`` of one entry/exit layer, in object units.

    ``edge`` is the signed distance to the layer's silhouette; ``mid`` and ``half``
    (the interval's centre and half-length) are continued past the silhouette so the
    field stays continuous there: the nearest inside pixel's mid, and a half-length
    that goes negative with the distance from the edge.
    """
    from scipy.ndimage import distance_transform_edt

    inside = mask >= 0.5
    sdf_px = silhouette_sdf(mask)
    mid = 0.5 * (front + back)
    half = 0.5 * (back - front)
    _, (iy, ix) = distance_transform_edt(~inside, return_indices=True)
    mid = np.where(inside, mid, mid[iy, ix]).astype(np.float32)
    half = np.where(inside, half, np.minimum(sdf_px, 0.0) * px).astype(np.float32)
    return (sdf_px * px).astype(np.float32), mid, half


def depth_field(depth: LayeredDepth, voxel: float | None = None,
                ) -> tuple[np.ndarray, np.ndarray, float]:
    """A signed field that is positive inside the object described by ``depth``.

    At a point with camera-frame z that projects to pixel ``p`` the field is
    ``min(z - front(p), back(p) - z, edge(p))``, where ``edge`` is the signed
    distance to the silhouette: inside between entry and exit and inside the mask.
    All three terms are distances in object units, so the zero level set is smooth
    and closes at the rim where front meets back.

    When the depth has a second layer (``front2``/``back2`` finite somewhere), the
    field is the maximum (union) of the first layer's and the second layer's, the
    latter built the same way over the pixels where the second layer exists (its own
    silhouette and edge distance). The union of two fields that are negative on the
    grid's border is too, so the surface stays closed.

    Args:
        depth: the layered depth.
        voxel: grid spacing in object units (default: one pixel of the camera).

    Returns:
        ``(field, origin, voxel)``: ``field`` is ``(NX, NY, NZ)`` float32 indexed
        ``[x, y, z]``; ``origin`` the camera-frame position of voxel ``[0, 0, 0]``.
    """
    cam = depth.camera
    mask = np.asarray(depth.mask, dtype=np.float32)
    inside = mask >= 0.5
    if not inside.any():
        raise ValueError("depth: the mask is empty")
    if cam.model != "orthographic":
        raise NotImplementedError("depth_field: only orthographic cameras are meshed so far")
    px = 1.0 / cam.fx  # object units per pixel
    if voxel is None:
        voxel = px
    front = np.asarray(depth.front, dtype=np.float32)
    back = np.asarray(depth.back, dtype=np.float32)
    edge, mid, half = _layer_maps(mask, front, back, px)

    layer2 = None
    if depth.front2 is not None and depth.back2 is not None:
        f2 = np.asarray(depth.front2, dtype=np.float32)
        b2 = np.asarray(depth.back2, dtype=np.float32)
        in2 = inside & np.isfinite(f2) & np.isfinite(b2) & (b2 >= f2)
        # A lone pixel cannot hold a closed surface at this voxel size; it would only
        # add a speck.
        if in2.sum() >= 4:
            layer2 = (in2, _layer_maps(in2.astype(np.float32), np.where(in2, f2, 0.0),
                                       np.where(in2, b2, 0.0), px))

    ys, xs = np.nonzero(inside)
    pad = 3
    x0 = (xs.min() - pad - cam.cx) * px
    x1 = (xs.max() + pad - cam.cx) * px
    y0 = (ys.min() - pad - cam.cy) * px
    y1 = (ys.max() + pad - cam.cy) * px
    z0 = float(front[inside].min()) - pad * voxel
    z_far = float(back[inside].max())
    if layer2 is not None:
        z_far = max(z_far, float(np.asarray(depth.back2)[layer2[0]].max()))
    z1 = z_far + pad * voxel
    gx = np.arange(x0, x1 + 0.5 * voxel, voxel)
    gy = np.arange(y0, y1 + 0.5 * voxel, voxel)
    gz = np.arange(z0, z1 + 0.5 * voxel, voxel)

    # Orthographic: every voxel column (x, y) sees one pixel, so sample the maps once
    # per column and broadcast over z.
    from scipy.ndimage import map_coordinates

    uu, vv = np.meshgrid(gx * cam.fx + cam.cx, gy * cam.fy + cam.cy, indexing="ij")
    coords = np.stack([vv.ravel(), uu.ravel()])

    def sample(a: np.ndarray, fill: float) -> np.ndarray:
        s = map_coordinates(a, coords, order=1, mode="constant", cval=fill)
        return s.reshape(uu.shape).astype(np.float32)[..., None]

    z = gz.astype(np.float32)[None, None, :]

    def layer_field(e: np.ndarray, m: np.ndarray, h: np.ndarray) -> np.ndarray:
        return np.minimum(sample(h, -1.0) - np.abs(z - sample(m, float(m.mean()))),
                          sample(e, -1.0))

    field = layer_field(edge, mid, half)
    if layer2 is not None:
        np.maximum(field, layer_field(*layer2[1]), out=field)
    origin = np.array([gx[0], gy[0], gz[0]], dtype=np.float64)
    return field.astype(np.float32), origin, float(voxel)


def field_to_mesh(field: np.ndarray, origin: np.ndarray, voxel: float) -> Mesh:
    """Marching cubes on ``field`` (positive inside) into a closed, outward-facing mesh.

    The grid is padded with an outside layer so the surface always closes, and
    samples that sit on the iso-level are nudged off it: marching cubes otherwise
    emits coincident vertices there, which weld into non-manifold edges.
    """
    from skimage.measure import marching_cubes

    eps = 1e-4 * voxel
    f = np.where(np.abs(field) < eps, np.where(field >= 0, eps, -eps), field)
    f = np.pad(f, 1, mode="constant", constant_values=-voxel)
    verts, faces, _, _ = marching_cubes(f, level=0.0, spacing=(voxel, voxel, voxel))
    verts = verts + (np.asarray(origin) - voxel)
    faces = faces.astype(np.int64)
    # skimage orients triangles towards increasing field, i.e. inwards for a field
    # that is positive inside; flip them so normals point out.
    faces = faces[:, ::-1].copy()
    return Mesh(verts.astype(np.float64), faces)
