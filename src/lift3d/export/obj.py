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

import logging
import os
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_paths
from ..types import Material, TexturedMesh
from ._common import (
    Surface,
    image_u8,
    png_bytes,
    safe_name,
    surface_of,
    unit_vectors,
    validate_geometry,
)

__all__ = ["material_mtl_text", "mtl_text", "obj_text", "side_paths", "surface_obj_text",
           "write_obj", "write_surface_obj"]

logger = logging.getLogger(__name__)


def side_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``.mtl`` and texture paths written beside the OBJ ``path``."""
    path = Path(path)
    return path.with_suffix(".mtl"), path.with_name(f"{path.stem}_basecolor.png")


def _material_name(material: Material) -> str:
    """The material's name without spaces or other characters MTL readers trip on."""
    return safe_name(material.name, default="material")


def _block(fmt: str, rows: np.ndarray, chunk: int = 1 << 16) -> str:
    """Format ``rows`` line by line with ``fmt`` (one ``%`` field per column).

    One ``%`` operation per chunk of rows (the same text as :func:`numpy.savetxt`,
    several times faster on large meshes).
    """
    rows = np.asarray(rows)
    line = fmt + "\n"
    out = []
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        out.append((line * len(part)) % tuple(part.ravel().tolist()))
    return "".join(out)


def obj_text(mesh: TexturedMesh, mtl_name: str, object_name: str = "lift3d_mesh") -> str:
    """The OBJ document: ``v``, ``vt``, ``vn`` and ``f v/vt/vn`` (1-based) lines."""
    return surface_obj_text(surface_of(mesh), mtl_name, object_name)


def surface_obj_text(surface: Surface, mtl_name: str | None,
                     object_name: str = "lift3d_mesh") -> str:
    """The OBJ document of a :class:`Surface`.

    ``v x y z`` lines (``v x y z r g b`` with colours in [0, 1] when the surface has
    vertex colours), ``vt`` when it is textured, ``vn`` when it has normals, and
    faces ``f v``, ``f v/vt``, ``f v//vn`` or ``f v/vt/vn`` sharing one index per corner.
    ``mtllib``/``usemtl`` are written when ``mtl_name`` is given.
    """
    validate_geometry(surface.vertices, surface.faces)
    v = np.asarray(surface.vertices, dtype=np.float64)
    f = np.asarray(surface.faces, dtype=np.int64) + 1
    blocks = []
    if surface.colors is not None:
        rgb = np.asarray(surface.colors, dtype=np.float64)[:, :3] / 255.0
        blocks.append(_block("v %.7g %.7g %.7g %.6g %.6g %.6g", np.concatenate([v, rgb], 1)))
    else:
        blocks.append(_block("v %.7g %.7g %.7g", v))
    corner = "%d"
    if surface.textured:
        blocks.append(_block("vt %.7g %.7g", np.asarray(surface.uv, dtype=np.float64)))
        corner += "/%d"
    if surface.normals is not None:
        vn = unit_vectors(surface.normals).astype(np.float64)
        blocks.append(_block("vn %.6g %.6g %.6g", vn))
        corner += "/%d" if surface.textured else "//%d"
    per_corner = corner.count("%d")
    header = (
        f"# lift3d OBJ export: {surface.comment.split(': ', 1)[-1]}\n"
        f"# {len(v)} vertices, {len(f)} faces\n"
        + (f"mtllib {mtl_name}\n" if mtl_name else "")
        + f"o {object_name}\n"
    )
    return "".join([
        header,
        *blocks,
        f"usemtl {_material_name(surface.material)}\n" if mtl_name else "",
        "s off\n",
        _block(" ".join([corner] * 3).join(["f ", ""]), np.repeat(f, per_corner, axis=1)),
    ])


def mtl_text(mesh: TexturedMesh, texture_name: str) -> str:
    """The MTL document: one material with ``map_Kd`` and PBR ``Pm``/``Pr`` constants."""
    return material_mtl_text(mesh.material, texture_name)


def material_mtl_text(material: Material, texture_name: str | None) -> str:
    """One MTL material: ``Kd`` and ``d`` from the base-colour factor, PBR ``Pm``/``Pr``,
    and ``map_Kd`` when a texture name is given."""
    m = material
    r, g, b, a = (float(c) for c in m.base_color_factor)
    return (
        "# lift3d MTL export\n"
        f"newmtl {_material_name(m)}\n"
        "Ka 1 1 1\n"
        f"Kd {r:.6g} {g:.6g} {b:.6g}\n"
        "Ks 0 0 0\n"
        "Ns 10\n"
        f"d {a:.6g}\n"
        "illum 1\n"
        f"Pm {float(m.metallic):.6g}\n"
        f"Pr {float(m.roughness):.6g}\n"
        + (f"map_Kd {texture_name}\n" if texture_name else "")
    )


def write_obj(mesh: TexturedMesh, path: str | os.PathLike[str]) -> list[Path]:
    """Write the OBJ, its MTL and its PNG texture atomically as a group.

    Returns:
        ``[obj, mtl, png]`` paths. References between them are relative (bare names).
    """
    return write_surface_obj(surface_of(mesh), path)


def write_surface_obj(surface: Surface, path: str | os.PathLike[str],
                      name: str | None = None) -> list[Path]:
    """Write a :class:`Surface` as OBJ, atomically as a group with its side files.

    A textured surface gets ``.mtl`` and PNG; a plain one (no texture, no vertex
    colours) an ``.mtl`` carrying the material colour; a vertex-coloured one the OBJ
    alone (colours on the ``v`` lines).

    Returns:
        the paths written, the OBJ first. References between them are bare names.
    """
    path = Path(path)
    mtl_path, png_path = side_paths(path)
    with_mtl = surface.textured or surface.colors is None
    obj = surface_obj_text(surface, mtl_name=mtl_path.name if with_mtl else None,
                           object_name=name or path.stem or "lift3d_mesh")
    files: list[tuple[Path, bytes | str]] = []
    if surface.textured:
        channels = min(np.shape(surface.texture)[2], 4)
        files.append((png_path, png_bytes(image_u8(surface.texture, channels))))
    if with_mtl:
        texture_name = png_path.name if surface.textured else None
        files.append((mtl_path, material_mtl_text(surface.material, texture_name)))
    files.append((path, obj))
    with atomic_paths([target for target, _ in files]) as temps:
        for tmp, (_, data) in zip(temps, files, strict=True):
            if isinstance(data, str):
                tmp.write_text(data, encoding="utf-8")
            else:
                tmp.write_bytes(data)
    logger.info("wrote %s (+ %s; %d vertices, %d faces)", path,
                ", ".join(t.name for t, _ in files[:-1]) or "no side files",
                len(surface.vertices), len(surface.faces))
    return [path] + [target for target, _ in reversed(files[:-1])]
