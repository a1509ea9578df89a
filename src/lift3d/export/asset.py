"""Write any :class:`~lift3d.types.MeshAsset` (textured, vertex-coloured or plain).

The format is chosen by the extension (case-insensitive), as for
:func:`lift3d.export.export`; the same writers encode both:

========  ==========================================================================
``.glb``  metres, +Y up. Textured: ``TEXCOORD_0`` + embedded PNG; vertex colours:
          ``COLOR_0``; plain: the material's base colour only. Vertex normals.
``.obj``  the asset's own units and axes. Textured: ``.mtl`` + ``{stem}_basecolor.png``;
          vertex colours on the ``v`` lines (``v x y z r g b``); plain: ``.mtl`` with
          the material colour.
``.ply``  the asset's own units and axes; binary; RGBA vertex colours (a textured
          asset without vertex colours gets the texels at its UVs).
``.stl``  the asset's own units and axes; binary; geometry only.
``.usdz`` metres, +Y up; ``st`` + PNG, or a ``displayColor`` vertex primvar, or the
          material colour.
========  ==========================================================================

Units: GLB and USDZ always hold metres, converted from ``asset.unit`` (an asset with
no unit is taken to be in metres already); a ``Z``-up asset is turned +Y up for them.
OBJ, PLY and STL write the numbers as they are. Vertices and faces are written as the
asset has them (nothing is welded or dropped), except that STL, a triangle soup,
repeats each corner.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..mesh.geometry import vertex_normals
from ..types import MeshAsset, TexturedMesh
from . import check_output_path
from ._common import Surface, texels_at, validate_geometry

__all__ = ["export_asset"]

logger = logging.getLogger(__name__)

_METRIC = (".glb", ".usdz")


def export_asset(asset: MeshAsset, path: str | os.PathLike[str], *,
                 name: str = "lift3d_mesh") -> list[Path]:
    """Write ``asset`` to ``path`` in the format its extension names, atomically.

    Args:
        asset: the mesh; its ``vertices`` are in ``asset.unit`` (None: metres for GLB
            and USDZ, as they are for the others).
        path: ``.glb``, ``.obj``, ``.ply``, ``.stl`` or ``.usdz``. An ``.obj`` also
            writes a ``.mtl`` (textured or plain assets) and a PNG (textured) beside it.
        name: the node/mesh name in GLB, the prim name in USDZ, the object in OBJ.

    Returns:
        Every file written, the main one first.

    Raises:
        InputError: unsupported extension, or an empty / non-finite / out-of-range mesh.
        OutputError: the files cannot be written.
        MissingExtraError: ``.usdz`` without usd-core.
    """
    p = check_output_path(path)
    ext = p.suffix.lower()
    validate_geometry(asset.vertices, asset.faces)
    if ext == ".stl":
        return _write_stl(asset, p)
    surface = _surface(asset, metric=ext in _METRIC, with_normals=ext != ".ply")
    if ext == ".glb":
        from .gltf import write_surface_glb

        written = write_surface_glb(surface, p, name=name)
    elif ext == ".obj":
        from .obj import write_surface_obj

        written = write_surface_obj(surface, p, name=name)
    elif ext == ".ply":
        from .ply import write_surface_ply

        if surface.colors is None and surface.textured:
            surface = replace(surface, colors=texels_at(surface.texture, surface.uv))
        written = write_surface_ply(surface, p)
    else:
        from .usdz import write_surface_usdz

        written = write_surface_usdz(surface, p, name=name)
    logger.debug("export_asset %s: %s", p, ", ".join(str(w) for w in written))
    return written


def _frame(asset: MeshAsset, metric: bool) -> tuple[np.ndarray, str]:
    """Vertices for the file and the comment describing their frame."""
    v = np.asarray(asset.vertices, dtype=np.float64)
    if not metric:
        unit = asset.unit or "no stated unit"
        up = f"+{asset.up_axis} up" if asset.up_axis else "no stated up axis"
        return v, f"lift3d export: {unit}, {up}"
    scale = asset.metres_per_unit or 1.0
    if scale != 1.0:
        v = v * scale
    if asset.up_axis == "Z":
        # glTF and lift3d's USDZ are +Y up: (x, y, z) -> (x, z, -y).
        logger.info("turning a Z-up asset +Y up for export")
        v = np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1)
    return v, "lift3d export: metres, +Y up"


def _surface(asset: MeshAsset, *, metric: bool, with_normals: bool) -> Surface:
    v, comment = _frame(asset, metric)
    faces = np.asarray(asset.faces, dtype=np.int64)
    textured = asset.uv is not None and asset.texture is not None
    return Surface(
        vertices=v, faces=faces,
        normals=vertex_normals(v, faces) if with_normals else None,
        uv=np.asarray(asset.uv, dtype=np.float32) if textured else None,
        texture=np.asarray(asset.texture) if textured else None,
        colors=None if asset.vertex_colors is None else np.asarray(asset.vertex_colors),
        material=asset.material, comment=comment)


def _write_stl(asset: MeshAsset, path: Path) -> list[Path]:
    """Binary STL through :func:`lift3d.export.stl.stl_bytes` (geometry only)."""
    from ..io.atomic import atomic_write_bytes
    from .stl import stl_bytes

    v, comment = _frame(asset, metric=False)
    n = len(v)
    # stl_bytes takes a TexturedMesh and reads only its welded geometry; the
    # attributes it validates are placeholders.
    shim = TexturedMesh(vertices=v, faces=np.asarray(asset.faces, dtype=np.int64),
                        normals=np.zeros((n, 3), np.float32), uv=np.zeros((n, 2), np.float32),
                        texture=np.zeros((1, 1, 3), np.uint8))
    header = comment.replace("lift3d export:", "lift3d binary STL,").encode("ascii", "replace")
    data = stl_bytes(shim, header=header)
    atomic_write_bytes(path, data)
    logger.info("wrote %s (%d triangles)", path, len(asset.faces))
    return [path]
