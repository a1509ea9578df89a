"""USDZ export (Apple AR Quick Look) through usd-core (``pxr``), an optional extra.

The stage has ``upAxis = "Y"`` and ``metersPerUnit = 1`` (the glTF frame, metres) and
holds, under the default prim ``/Root``:

* ``/Root/Geom/<name>``: a ``Mesh`` with ``points``, ``faceVertexCounts``,
  ``faceVertexIndices``, vertex ``normals``, a vertex ``primvars:st`` (texCoord2f)
  and ``subdivisionScheme = "none"`` (for any :class:`~._common.Surface`: normals and
  ``st`` only when present, vertex colours as a ``displayColor`` vertex primvar);
* ``/Root/Materials/<material>``: a ``UsdPreviewSurface`` whose ``diffuseColor``
  comes from a ``UsdUVTexture`` reading the PNG at the ``st`` given by a
  ``UsdPrimvarReader_float2``, and constant ``metallic`` and ``roughness``.

Texture orientation: UsdPreviewSurface's ``st`` puts ``(0, 0)`` at the *bottom-left*
of the image as viewed (the same as lift3d's ``uv``), so ``uv`` is written unchanged
and the PNG is stored upright.

The layer and the PNG are written to a temporary directory, packaged with
``UsdUtils.CreateNewARKitUsdzPackage`` into a temporary file beside the target, and
renamed onto the target.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import OutputError, require
from ..io.atomic import atomic_path
from ..types import TexturedMesh
from ._common import (
    Surface,
    image_u8,
    png_bytes,
    safe_name,
    surface_of,
    unit_vectors,
    validate_geometry,
)

__all__ = ["build_stage", "build_surface_stage", "write_surface_usdz", "write_usdz"]

logger = logging.getLogger(__name__)

TEXTURE_NAME = "basecolor.png"


def _pxr():
    """Import the pxr modules needed, or raise :class:`MissingExtraError`."""
    require("pxr", "usd", "USDZ export")
    from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade, UsdUtils, Vt

    return Gf, Sdf, Usd, UsdGeom, UsdShade, UsdUtils, Vt


def build_stage(mesh: TexturedMesh, layer_path: str | os.PathLike[str],
                texture_path: str = TEXTURE_NAME, name: str = "lift3d_mesh"):
    """Create and save a USD stage for ``mesh`` at ``layer_path``; return the stage.

    Args:
        mesh: the textured mesh (glTF frame, metres).
        layer_path: where to create the root layer (``.usdc`` or ``.usda``).
        texture_path: the asset path of the base-colour PNG, relative to the layer.
        name: the mesh prim's name (made a valid prim name).
    """
    return build_surface_stage(surface_of(mesh), layer_path, texture_path, name)


def build_surface_stage(surface: Surface, layer_path: str | os.PathLike[str],
                        texture_path: str = TEXTURE_NAME, name: str = "lift3d_mesh"):
    """Create and save a USD stage for a :class:`Surface` (glTF frame, metres).

    Vertex normals and ``st`` are written when the surface has them; the
    ``UsdPreviewSurface``'s ``diffuseColor`` reads the texture at ``texture_path``
    (textured), or the ``displayColor`` vertex primvar through a
    ``UsdPrimvarReader_float3`` (vertex colours), or is the material's colour.
    """
    Gf, Sdf, Usd, UsdGeom, UsdShade, UsdUtils, Vt = _pxr()
    validate_geometry(surface.vertices, surface.faces)
    stage = Usd.Stage.CreateNew(str(layer_path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    stage.SetMetadata("comment", surface.comment)

    root = UsdGeom.Xform.Define(stage, "/Root")
    stage.SetDefaultPrim(root.GetPrim())
    Usd.ModelAPI(root.GetPrim()).SetKind("component")
    UsdGeom.Scope.Define(stage, "/Root/Geom")
    UsdGeom.Scope.Define(stage, "/Root/Materials")

    points = np.asarray(surface.vertices, dtype=np.float32)
    faces = np.asarray(surface.faces, dtype=np.int32)
    usd_mesh = UsdGeom.Mesh.Define(stage, f"/Root/Geom/{safe_name(name)}")
    usd_mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
    usd_mesh.CreateOrientationAttr(UsdGeom.Tokens.rightHanded)
    usd_mesh.CreateDoubleSidedAttr(False)
    usd_mesh.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(points)))
    usd_mesh.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(len(faces), 3, np.int32)))
    usd_mesh.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(np.ascontiguousarray(faces.ravel())))
    if surface.normals is not None:
        usd_mesh.CreateNormalsAttr(Vt.Vec3fArray.FromNumpy(unit_vectors(surface.normals)))
        usd_mesh.SetNormalsInterpolation(UsdGeom.Tokens.vertex)
    lo, hi = points.min(axis=0), points.max(axis=0)
    usd_mesh.CreateExtentAttr(Vt.Vec3fArray([Gf.Vec3f(*map(float, lo)), Gf.Vec3f(*map(float, hi))]))
    primvars = UsdGeom.PrimvarsAPI(usd_mesh)
    if surface.textured:
        st = primvars.CreatePrimvar("st", Sdf.ValueTypeNames.TexCoord2fArray,
                                    UsdGeom.Tokens.vertex)
        st.Set(Vt.Vec2fArray.FromNumpy(np.ascontiguousarray(surface.uv, dtype=np.float32)))
    if surface.colors is not None:
        rgba = np.asarray(surface.colors, dtype=np.float32) / 255.0
        usd_mesh.CreateDisplayColorPrimvar(UsdGeom.Tokens.vertex).Set(
            Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(rgba[:, :3])))
        if rgba.shape[1] == 4 and (rgba[:, 3] < 1.0).any():
            usd_mesh.CreateDisplayOpacityPrimvar(UsdGeom.Tokens.vertex).Set(
                Vt.FloatArray.FromNumpy(np.ascontiguousarray(rgba[:, 3])))

    m = surface.material
    mat_path = f"/Root/Materials/{safe_name(m.name, 'material')}"
    material = UsdShade.Material.Define(stage, mat_path)
    shader = UsdShade.Shader.Define(stage, f"{mat_path}/PreviewSurface")
    shader.CreateIdAttr("UsdPreviewSurface")
    shader.CreateInput("metallic", Sdf.ValueTypeNames.Float).Set(float(m.metallic))
    shader.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(float(m.roughness))
    shader.CreateInput("opacity", Sdf.ValueTypeNames.Float).Set(float(m.base_color_factor[3]))
    material.CreateSurfaceOutput().ConnectToSource(
        shader.ConnectableAPI(), "surface")
    diffuse = shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f)
    r, g, b, a = (float(c) for c in m.base_color_factor)

    if surface.textured:
        reader = UsdShade.Shader.Define(stage, f"{mat_path}/stReader")
        reader.CreateIdAttr("UsdPrimvarReader_float2")
        reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("st")
        reader_out = reader.CreateOutput("result", Sdf.ValueTypeNames.Float2)

        tex = UsdShade.Shader.Define(stage, f"{mat_path}/BaseColorTexture")
        tex.CreateIdAttr("UsdUVTexture")
        tex.CreateInput("file", Sdf.ValueTypeNames.Asset).Set(Sdf.AssetPath(texture_path))
        tex.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(reader_out)
        tex.CreateInput("sourceColorSpace", Sdf.ValueTypeNames.Token).Set("sRGB")
        tex.CreateInput("wrapS", Sdf.ValueTypeNames.Token).Set("clamp")
        tex.CreateInput("wrapT", Sdf.ValueTypeNames.Token).Set("clamp")
        tex.CreateInput("scale", Sdf.ValueTypeNames.Float4).Set(Gf.Vec4f(r, g, b, a))
        diffuse.ConnectToSource(tex.CreateOutput("rgb", Sdf.ValueTypeNames.Float3))
    elif surface.colors is not None:
        reader = UsdShade.Shader.Define(stage, f"{mat_path}/colorReader")
        reader.CreateIdAttr("UsdPrimvarReader_float3")
        reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("displayColor")
        diffuse.ConnectToSource(reader.CreateOutput("result", Sdf.ValueTypeNames.Float3))
    else:
        diffuse.Set(Gf.Vec3f(r, g, b))

    UsdShade.MaterialBindingAPI.Apply(usd_mesh.GetPrim()).Bind(material)
    stage.GetRootLayer().Save()
    return stage


def write_usdz(mesh: TexturedMesh, path: str | os.PathLike[str]) -> list[Path]:
    """Write ``mesh`` to ``path`` as a USDZ package, atomically. Returns ``[path]``.

    Raises:
        MissingExtraError: usd-core is not installed.
        OutputError: packaging failed.
    """
    _pxr()
    return write_surface_usdz(surface_of(mesh), path)


def write_surface_usdz(surface: Surface, path: str | os.PathLike[str],
                       name: str | None = None) -> list[Path]:
    """Write a :class:`Surface` (glTF frame, metres) as a USDZ package, atomically.

    Returns ``[path]``; ``name`` names the mesh prim (default: the file's stem).

    Raises:
        MissingExtraError: usd-core is not installed.
        OutputError: packaging failed.
    """
    _, Sdf, _, _, _, UsdUtils, _ = _pxr()
    validate_geometry(surface.vertices, surface.faces)
    path = Path(path)
    name = safe_name(name or path.stem)
    with tempfile.TemporaryDirectory(prefix="lift3d-usdz-") as tmpdir:
        layer = Path(tmpdir) / f"{name}.usdc"
        if surface.textured:
            channels = min(np.shape(surface.texture)[2], 4)
            (Path(tmpdir) / TEXTURE_NAME).write_bytes(
                png_bytes(image_u8(surface.texture, channels)))
        build_surface_stage(surface, layer, texture_path=TEXTURE_NAME, name=name)
        with atomic_path(path) as tmp:
            ok = UsdUtils.CreateNewARKitUsdzPackage(Sdf.AssetPath(str(layer)), str(tmp))
            if not ok:
                raise OutputError(f"cannot write {path}: USD could not create the USDZ package")
    logger.info("wrote %s (%d vertices, %d faces)", path, len(surface.vertices),
                len(surface.faces))
    return [path]
