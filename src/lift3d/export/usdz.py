"""USDZ export (Apple AR Quick Look) through usd-core (``pxr``), an optional extra.

The stage has ``upAxis = "Y"`` and ``metersPerUnit = 1`` (the glTF frame, metres) and
holds, under the default prim ``/Root``:

* ``/Root/Geom/<name>``: a ``Mesh`` with ``points``, ``faceVertexCounts``,
  ``faceVertexIndices``, vertex ``normals``, a vertex ``primvars:st`` (texCoord2f)
  and ``subdivisionScheme = "none"``;
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
from ._common import png_bytes, safe_name, texture_rgb8, unit_normals, validate

__all__ = ["build_stage", "write_usdz"]

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
    Gf, Sdf, Usd, UsdGeom, UsdShade, UsdUtils, Vt = _pxr()
    validate(mesh)
    stage = Usd.Stage.CreateNew(str(layer_path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    stage.SetMetadata("comment", "lift3d export: metres, +Y up, front towards +Z")

    root = UsdGeom.Xform.Define(stage, "/Root")
    stage.SetDefaultPrim(root.GetPrim())
    Usd.ModelAPI(root.GetPrim()).SetKind("component")
    UsdGeom.Scope.Define(stage, "/Root/Geom")
    UsdGeom.Scope.Define(stage, "/Root/Materials")

    points = np.asarray(mesh.vertices, dtype=np.float32)
    faces = np.asarray(mesh.faces, dtype=np.int32)
    usd_mesh = UsdGeom.Mesh.Define(stage, f"/Root/Geom/{safe_name(name)}")
    usd_mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
    usd_mesh.CreateOrientationAttr(UsdGeom.Tokens.rightHanded)
    usd_mesh.CreateDoubleSidedAttr(False)
    usd_mesh.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(points)))
    usd_mesh.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(len(faces), 3, np.int32)))
    usd_mesh.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(np.ascontiguousarray(faces.ravel())))
    usd_mesh.CreateNormalsAttr(Vt.Vec3fArray.FromNumpy(unit_normals(mesh)))
    usd_mesh.SetNormalsInterpolation(UsdGeom.Tokens.vertex)
    lo, hi = points.min(axis=0), points.max(axis=0)
    usd_mesh.CreateExtentAttr(Vt.Vec3fArray([Gf.Vec3f(*map(float, lo)), Gf.Vec3f(*map(float, hi))]))
    st = UsdGeom.PrimvarsAPI(usd_mesh).CreatePrimvar(
        "st", Sdf.ValueTypeNames.TexCoord2fArray, UsdGeom.Tokens.vertex)
    st.Set(Vt.Vec2fArray.FromNumpy(np.ascontiguousarray(mesh.uv, dtype=np.float32)))

    m = mesh.material
    mat_path = f"/Root/Materials/{safe_name(m.name, 'material')}"
    material = UsdShade.Material.Define(stage, mat_path)
    surface = UsdShade.Shader.Define(stage, f"{mat_path}/PreviewSurface")
    surface.CreateIdAttr("UsdPreviewSurface")
    surface.CreateInput("metallic", Sdf.ValueTypeNames.Float).Set(float(m.metallic))
    surface.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(float(m.roughness))
    surface.CreateInput("opacity", Sdf.ValueTypeNames.Float).Set(float(m.base_color_factor[3]))
    material.CreateSurfaceOutput().ConnectToSource(
        surface.ConnectableAPI(), "surface")

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
    r, g, b, a = (float(c) for c in m.base_color_factor)
    tex.CreateInput("scale", Sdf.ValueTypeNames.Float4).Set(Gf.Vec4f(r, g, b, a))
    rgb_out = tex.CreateOutput("rgb", Sdf.ValueTypeNames.Float3)
    surface.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).ConnectToSource(rgb_out)

    UsdShade.MaterialBindingAPI.Apply(usd_mesh.GetPrim()).Bind(material)
    stage.GetRootLayer().Save()
    return stage


def write_usdz(mesh: TexturedMesh, path: str | os.PathLike[str]) -> list[Path]:
    """Write ``mesh`` to ``path`` as a USDZ package, atomically. Returns ``[path]``.

    Raises:
        MissingExtraError: usd-core is not installed.
        OutputError: packaging failed.
    """
    _, Sdf, _, _, _, UsdUtils, _ = _pxr()
    validate(mesh)
    path = Path(path)
    name = safe_name(path.stem)
    with tempfile.TemporaryDirectory(prefix="lift3d-usdz-") as tmpdir:
        layer = Path(tmpdir) / f"{name}.usdc"
        (Path(tmpdir) / TEXTURE_NAME).write_bytes(png_bytes(texture_rgb8(mesh)))
        build_stage(mesh, layer, texture_path=TEXTURE_NAME, name=name)
        with atomic_path(path) as tmp:
            ok = UsdUtils.CreateNewARKitUsdzPackage(Sdf.AssetPath(str(layer)), str(tmp))
            if not ok:
                raise OutputError(f"cannot write {path}: USD could not create the USDZ package")
    logger.info("wrote %s (%d vertices, %d faces)", path, len(mesh.vertices), len(mesh.faces))
    return [path]
