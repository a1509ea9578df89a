"""UV atlases and texture baking for any mesh: the texture side of ``lift3d optimize``.

When optimisation changes a mesh's triangles (decimation, remeshing), its old UVs
mean nothing on the new surface. Rather than carry UVs through the simplifier, the
new mesh gets a fresh atlas (:func:`unwrap`) and its texture is *baked* from the
original (:func:`bake_texture`): every texel of the new atlas finds its 3-D point on
the new surface, and takes the colour the original shows at the closest point of its
surface (:func:`lift3d.quality.transfer.sample_colors`: its texture, else its vertex
colours). The new mapping is right by construction, whatever the simplifier did.

Texture conventions are those of :mod:`lift3d.conventions`: uv origin at the
bottom-left, image row 0 at the top, texel centres at ``(u * size - 0.5,
(1 - v) * size - 0.5)``. Rasterisation and gutter filling reuse
:func:`lift3d.texture.raster.rasterize_uv` and :func:`lift3d.texture.bake.fill_empty`;
charting and packing reuse :mod:`lift3d.texture.atlas` (xatlas, extra ``atlas``).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Literal

import numpy as np

from ..errors import InputError
from ..texture.atlas import Unwrap, unwrap_box, unwrap_xatlas
from ..texture.bake import fill_empty
from ..texture.raster import rasterize_uv
from ..types import Mesh, MeshAsset
from .transfer import sample_colors

log = logging.getLogger(__name__)

__all__ = [
    "UnwrapMethod",
    "bake_texture",
    "bake_vertex_colors",
    "padding_for",
    "resize_texture",
    "texture_side",
    "unwrap",
    "weld_positions",
]

UnwrapMethod = Literal["auto", "xatlas", "box"]

#: Above this many faces ``method="auto"`` charts with the fast box unwrapper:
#: xatlas's own charting takes 2-7 s at 20k faces and ~40 s at 70k (box: < 0.5 s
#: at 20k).
XATLAS_MAX_FACES = 10_000

#: Smallest and largest texture side accepted, in texels.
MIN_TEXTURE, MAX_TEXTURE = 8, 16384

#: Texels past each chart border that get the chart's own (extrapolated) colour;
#: the rest of the gutter is push-pull filled from the charts around it.
DILATE_PX = 2


def padding_for(resolution: int) -> int:
    """Gutter between charts, in texels, for a ``resolution`` texture: 4 at 1024,
    scaled with the size (at least 2), so mip levels down to ~1/4 stay seam-free."""
    return max(2, int(resolution) // 256)


def texture_side(asset: MeshAsset) -> int | None:
    """Largest side in texels of ``asset``'s base-colour texture, or None."""
    if asset.texture is None:
        return None
    return int(max(asset.texture.shape[:2]))


def check_texture_size(size: int, name: str) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise InputError(f"{name}: must be an integer number of texels, got {size!r}")
    if not MIN_TEXTURE <= int(size) <= MAX_TEXTURE:
        raise InputError(f"{name}: must be between {MIN_TEXTURE} and {MAX_TEXTURE} texels, "
                         f"got {size}")
    return int(size)


def check_mesh_arrays(vertices: np.ndarray, faces: np.ndarray, vname: str, fname: str
                ) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise InputError(f"{vname}: must be (V, 3), got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
        raise InputError(f"{fname}: must be a non-empty (F, 3) index array, got {f.shape}")
    if not np.issubdtype(f.dtype, np.integer):
        raise InputError(f"{fname}: must hold integer indices, got {f.dtype}")
    f = f.astype(np.int64)
    if f.min() < 0 or f.max() >= len(v):
        raise InputError(f"{fname}: indices must lie in [0, {len(v)}), "
                         f"got [{f.min()}, {f.max()}]")
    if not np.isfinite(v).all():
        raise InputError(f"{vname}: holds NaN or infinite coordinates")
    return v, f


def weld_positions(vertices: np.ndarray, faces: np.ndarray) -> Mesh:
    """Merge vertices with exactly equal positions (UV or colour seams), keeping every
    face in its order (faces that collapse stay, degenerate; unused vertices go).

    Returns:
        the welded :class:`~lift3d.types.Mesh`; face ``i`` is input face ``i``.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    used = np.unique(f)
    uniq, inverse = np.unique(v[used], axis=0, return_inverse=True)
    remap = np.zeros(len(v), dtype=np.int64)
    remap[used] = inverse.ravel()
    return Mesh(uniq, remap[f])


def unwrap(vertices: np.ndarray, faces: np.ndarray, *, resolution: int,
           method: UnwrapMethod = "auto", padding_px: int | None = None) -> Unwrap:
    """A UV atlas for a mesh: charts cut along seams, flattened, packed in a square.

    Args:
        vertices: ``(V, 3)`` float positions, any unit. Pass a *welded* mesh (see
            :func:`weld_positions`): vertices already split would become chart seams.
        faces: ``(F, 3)`` int vertex indices.
        resolution: side in texels of the square texture the atlas is packed for
            (the gutters between charts are sized in its texels).
        method: ``"xatlas"`` (xatlas's charts: fewer seams on organic shapes, slow
            on big meshes), ``"box"`` (charts by dominant normal axis, fast) or
            ``"auto"``: xatlas up to :data:`XATLAS_MAX_FACES` faces, box above, and
            box when xatlas fails.
        padding_px: gutter between charts in texels (default :func:`padding_for`).

    Returns:
        :class:`lift3d.texture.atlas.Unwrap`: ``vertices`` ``(V', 3)`` float64
        seam-split copies, ``faces`` ``(F, 3)`` int64 in the input's order and
        winding, ``uv`` ``(V', 2)`` float32 in ``[0, 1]`` (origin bottom-left), and
        ``welded_index`` ``(V',)`` int64 mapping each copy to its input vertex.
    """
    v, f = check_mesh_arrays(vertices, faces, "vertices", "faces")
    resolution = check_texture_size(resolution, "resolution")
    if method not in ("auto", "xatlas", "box"):
        raise InputError(f"method: must be 'auto', 'xatlas' or 'box', got {method!r}")
    pad = padding_for(resolution) if padding_px is None else int(padding_px)
    if pad < 0 or 2 * pad + 2 >= resolution:
        raise InputError(f"padding_px: {pad} does not fit a {resolution} texture")
    mesh = Mesh(v, f)
    use_xatlas = method == "xatlas" or (method == "auto" and len(f) <= XATLAS_MAX_FACES)
    if use_xatlas:
        try:
            return unwrap_xatlas(mesh, padding_px=pad, resolution=resolution)
        except RuntimeError as exc:
            if method == "xatlas":
                raise
            log.warning("xatlas unwrap failed (%s); using box charts", exc)
    return unwrap_box(mesh, padding_px=pad, resolution=resolution)


def texel_points(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, size: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Texels covered by the uv layout (plus a :data:`DILATE_PX` rim) and what they show.

    Returns ``(covered (S, S) bool, rows, cols, face (N,), bary (N, 3))``.
    """
    face_id, bary = rasterize_uv(uv, faces, size, dilate=DILATE_PX)
    covered = face_id >= 0
    rows, cols = np.nonzero(covered)
    fid = face_id[rows, cols].astype(np.int64)
    return covered, rows, cols, fid, bary[rows, cols].astype(np.float64)


def _assemble(colours: np.ndarray, covered: np.ndarray, rows: np.ndarray, cols: np.ndarray,
              size: int) -> np.ndarray:
    """Texture from per-texel RGBA colours: RGB unless some alpha is below 255; gutters
    push-pull filled so bilinear and mip-mapped lookups never see black."""
    channels = 4 if (len(colours) and (colours[:, 3] < 255).any()) else 3
    tex = np.zeros((size, size, channels), dtype=np.uint8)
    tex[rows, cols] = colours[:, :channels]
    return fill_empty(tex, covered)


def bake_texture(source: MeshAsset, target_vertices: np.ndarray, target_faces: np.ndarray,
                 target_uv: np.ndarray, size: int) -> np.ndarray:
    """Bake what ``source`` looks like onto a new surface's UV atlas.

    For every texel a target uv triangle covers, its 3-D point on the target surface
    (barycentric interpolation of the triangle's corners), then the colour ``source``
    shows at the closest point of its surface (its texture at the interpolated uv,
    else its vertex colours, else its material colour; texture times base-colour
    factor). Texels up to :data:`DILATE_PX` outside a chart take the chart's border
    colour and the remaining gutter is push-pull filled, so bilinear filtering and
    mip-mapping show no seams and no texel inside a chart is empty.

    Args:
        source: the mesh whose colours are wanted, in the same frame and units as the
            target (the target should lie on or near its surface).
        target_vertices: ``(V, 3)`` float positions of the new surface.
        target_faces: ``(F, 3)`` int indices into ``target_vertices``.
        target_uv: ``(V, 2)`` float uv of the new surface, origin bottom-left,
            charts not overlapping (as :func:`unwrap` makes them).
        size: texture side in texels (8 to 16384).

    Returns:
        ``(size, size, 3)`` uint8 sRGB, or ``(size, size, 4)`` RGBA when some baked
        alpha is below 255; row 0 at the top.
    """
    if not isinstance(source, MeshAsset):
        raise InputError(f"source: must be a MeshAsset, got {type(source).__name__}")
    check_mesh_arrays(source.vertices, source.faces, "source.vertices", "source.faces")
    v, f = check_mesh_arrays(target_vertices, target_faces, "target_vertices", "target_faces")
    uv = np.asarray(target_uv, dtype=np.float64)
    if uv.shape != (len(v), 2) or not np.isfinite(uv).all():
        raise InputError(f"target_uv: must be finite ({len(v)}, 2), got {uv.shape}")
    size = check_texture_size(size, "size")
    covered, rows, cols, fid, bary = texel_points(v, f, uv, size)
    if not len(rows):
        raise InputError("target_uv: covers no texel (all triangles degenerate in uv?)")
    points = np.einsum("nk,nkd->nd", bary, v[f[fid]])
    colours = sample_colors(source, points)
    log.debug("baked %d texels of a %dx%d texture", len(rows), size, size)
    return _assemble(colours, covered, rows, cols, size)


def bake_vertex_colors(asset: MeshAsset, size: int = 1024, *,
                       method: UnwrapMethod = "auto") -> MeshAsset:
    """Turn a vertex-coloured mesh into a textured one (the TripoSR case).

    The geometry is welded (equal positions merged), unwrapped (:func:`unwrap`), and
    each texel takes the vertex colours interpolated at its point of its own face,
    exactly (no closest-point search: the surface does not change).

    Args:
        asset: a mesh with ``vertex_colors``.
        size: texture side in texels.
        method: the unwrapper (see :func:`unwrap`).

    Returns:
        the same mesh split along chart seams, with ``uv``, ``texture`` (``(size,
        size, 3)`` uint8, or RGBA when some vertex alpha is below 255),
        ``texture_sizes`` set and ``vertex_colors`` None; unit, axes, material and
        source kept (glTF multiplies the texture by the base-colour factor as it did
        the vertex colours, so the look is unchanged).
    """
    if not isinstance(asset, MeshAsset):
        raise InputError(f"asset: must be a MeshAsset, got {type(asset).__name__}")
    if asset.vertex_colors is None:
        raise InputError("asset: has no vertex colours to bake")
    _, faces = check_mesh_arrays(asset.vertices, asset.faces, "asset.vertices", "asset.faces")
    size = check_texture_size(size, "size")
    welded = weld_positions(asset.vertices, faces)
    atlas = unwrap(welded.vertices, welded.faces, resolution=size, method=method)
    covered, rows, cols, fid, bary = texel_points(atlas.vertices, atlas.faces, atlas.uv, size)
    # unwrap keeps the face order, so texel face ``fid`` is input face ``fid``.
    vc = np.asarray(asset.vertex_colors, dtype=np.float64)[faces[fid]]
    colours = np.clip(np.round(np.einsum("nk,nkd->nd", bary, vc)), 0, 255).astype(np.uint8)
    texture = _assemble(colours, covered, rows, cols, size)
    return dataclasses.replace(
        asset, vertices=atlas.vertices, faces=atlas.faces, uv=atlas.uv.astype(np.float32),
        texture=texture, vertex_colors=None, texture_sizes=((size, size),))


def resize_texture(asset: MeshAsset, max_side: int) -> MeshAsset:
    """``asset`` with its texture shrunk so its larger side is at most ``max_side``.

    Area filter (no aliasing), aspect ratio kept; UVs are normalised so they do not
    change. Returns ``asset`` itself when it has no texture or it is small enough
    (textures are never enlarged).
    """
    import cv2

    if not isinstance(asset, MeshAsset):
        raise InputError(f"asset: must be a MeshAsset, got {type(asset).__name__}")
    if isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer)) \
            or max_side < 1:
        raise InputError(f"max_side: must be a positive integer, got {max_side!r}")
    tex = asset.texture
    if tex is None or max(tex.shape[:2]) <= max_side:
        return asset
    h, w = tex.shape[:2]
    s = max_side / float(max(h, w))
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    out = cv2.resize(np.ascontiguousarray(tex), (nw, nh), interpolation=cv2.INTER_AREA)
    if out.ndim == 2:  # cv2 drops a single channel axis
        out = out[..., None]
    sizes = ((nw, nh),) + tuple(asset.texture_sizes[1:])
    return dataclasses.replace(asset, texture=out.astype(np.uint8), texture_sizes=sizes)
