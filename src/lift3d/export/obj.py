"""Wavefront OBJ export: ``{stem}.obj`` + ``{stem}.mtl`` + ``{stem}_basecolor.png``.

OBJ has no axis or unit convention; lift3d writes metres in the glTF axes (+Y up,
front towards +Z), which is what most tools assume on import.

Texture orientation: OBJ's ``vt`` has its origin at the bottom-left of the image, like
lift3d's ``uv``, so ``uv`` is written unchanged and the PNG is stored upright.

The three files are written as a group: each goes to a temporary file first and the
renames happen only once all three are complete (the ``.obj`` last, so it never
appears before the files it refers to).
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_paths
from ..types import TexturedMesh
from ._common import png_bytes, safe_name, texture_rgb8, unit_normals, validate

__all__ = ["mtl_text", "obj_text", "side_paths", "write_obj"]

logger = logging.getLogger(__name__)


def side_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``.mtl`` and texture paths written beside the OBJ ``path``."""
    path = Path(path)
    return path.with_suffix(".mtl"), path.with_name(f"{path.stem}_basecolor.png")


def _material_name(mesh: TexturedMesh) -> str:
    """The material's name without spaces or other characters MTL readers trip on."""
    return safe_name(mesh.material.name, default="material")


def _block(fmt: str, rows: np.ndarray) -> str:
    """Format ``rows`` line by line with ``fmt`` (one ``%`` field per column)."""
    out = io.StringIO()
    np.savetxt(out, rows, fmt=fmt)
    return out.getvalue()


def obj_text(mesh: TexturedMesh, mtl_name: str, object_name: str = "lift3d_mesh") -> str:
    """The OBJ document: ``v``, ``vt``, ``vn`` and ``f v/vt/vn`` (1-based) lines."""
    validate(mesh)
    v = np.asarray(mesh.vertices, dtype=np.float64)
    vt = np.asarray(mesh.uv, dtype=np.float64)
    vn = unit_normals(mesh).astype(np.float64)
    f = np.asarray(mesh.faces, dtype=np.int64) + 1
    f3 = np.repeat(f, 3, axis=1)  # v/vt/vn share one index per corner
    header = (
        "# lift3d OBJ export: metres, +Y up, front towards +Z\n"
        f"# {len(v)} vertices, {len(f)} faces\n"
        f"mtllib {mtl_name}\n"
        f"o {object_name}\n"
    )
    return "".join([
        header,
        _block("v %.7g %.7g %.7g", v),
        _block("vt %.7g %.7g", vt),
        _block("vn %.6g %.6g %.6g", vn),
        f"usemtl {_material_name(mesh)}\n",
        "s off\n",
        _block("f %d/%d/%d %d/%d/%d %d/%d/%d", f3),
    ])


def mtl_text(mesh: TexturedMesh, texture_name: str) -> str:
    """The MTL document: one material with ``map_Kd`` and PBR ``Pm``/``Pr`` constants."""
    m = mesh.material
    r, g, b, a = (float(c) for c in m.base_color_factor)
    return (
        "# lift3d MTL export\n"
        f"newmtl {_material_name(mesh)}\n"
        "Ka 1 1 1\n"
        f"Kd {r:.6g} {g:.6g} {b:.6g}\n"
        "Ks 0 0 0\n"
        "Ns 10\n"
        f"d {a:.6g}\n"
        "illum 1\n"
        f"Pm {float(m.metallic):.6g}\n"
        f"Pr {float(m.roughness):.6g}\n"
        f"map_Kd {texture_name}\n"
    )


def write_obj(mesh: TexturedMesh, path: str | os.PathLike[str]) -> list[Path]:
    """Write the OBJ, its MTL and its PNG texture atomically as a group.

    Returns:
        ``[obj, mtl, png]`` paths. References between them are relative (bare names).
    """
    path = Path(path)
    mtl_path, png_path = side_paths(path)
    obj = obj_text(mesh, mtl_name=mtl_path.name, object_name=path.stem or "lift3d_mesh")
    mtl = mtl_text(mesh, texture_name=png_path.name)
    png = png_bytes(texture_rgb8(mesh))
    with atomic_paths([png_path, mtl_path, path]) as (tmp_png, tmp_mtl, tmp_obj):
        tmp_png.write_bytes(png)
        tmp_mtl.write_text(mtl, encoding="utf-8")
        tmp_obj.write_text(obj, encoding="utf-8")
    logger.info("wrote %s (+ %s, %s; %d vertices, %d faces)",
                path, mtl_path.name, png_path.name, len(mesh.vertices), len(mesh.faces))
    return [path, mtl_path, png_path]
