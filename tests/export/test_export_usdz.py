"""USDZ export through usd-core."""

from __future__ import annotations

import sys
import zipfile

import numpy as np
import pytest

from lift3d.errors import MissingExtraError
from lift3d.export import export
from lift3d.types import Material


@pytest.fixture(scope="module")
def pxr():
    return pytest.importorskip("pxr")


@pytest.fixture
def usdz(tmp_path, make_sphere, pxr):
    mesh = make_sphere(Material(metallic=0.3, roughness=0.45, name="my material"))
    path = tmp_path / "my sphere.usdz"
    assert export(mesh, path) == [path]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my sphere.usdz"]
    return path, mesh


def test_package_contents(usdz):
    path, _ = usdz
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert zf.testzip() is None
    assert names[0].endswith((".usdc", ".usda"))  # the root layer comes first
    assert any(n.endswith(".png") for n in names)


def test_stage(usdz):
    from pxr import Usd, UsdGeom, UsdShade

    path, mesh = usdz
    stage = Usd.Stage.Open(str(path))
    assert UsdGeom.GetStageUpAxis(stage) == UsdGeom.Tokens.y
    assert UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    assert stage.GetDefaultPrim().IsValid()
    meshes = [UsdGeom.Mesh(p) for p in stage.Traverse() if p.IsA(UsdGeom.Mesh)]
    assert len(meshes) == 1
    m = meshes[0]
    points = np.asarray(m.GetPointsAttr().Get())
    assert points.shape == mesh.vertices.shape
    np.testing.assert_allclose(points, mesh.vertices, atol=1e-7)
    assert list(m.GetFaceVertexCountsAttr().Get()) == [3] * len(mesh.faces)
    np.testing.assert_array_equal(np.asarray(m.GetFaceVertexIndicesAttr().Get()),
                                  mesh.faces.ravel())
    assert len(m.GetNormalsAttr().Get()) == len(mesh.vertices)
    st = UsdGeom.PrimvarsAPI(m).GetPrimvar("st")
    assert st.GetInterpolation() == UsdGeom.Tokens.vertex
    # USD's st has its origin at the image's bottom-left, like lift3d's uv: unchanged
    np.testing.assert_allclose(np.asarray(st.Get()), mesh.uv, atol=1e-7)

    material, _ = UsdShade.MaterialBindingAPI(m.GetPrim()).ComputeBoundMaterial()
    assert material
    surface = material.ComputeSurfaceSource()[0]
    assert surface.GetIdAttr().Get() == "UsdPreviewSurface"
    assert surface.GetInput("metallic").Get() == pytest.approx(0.3)
    assert surface.GetInput("roughness").Get() == pytest.approx(0.45)
    tex = surface.GetInput("diffuseColor").GetConnectedSources()[0][0].source
    tex = UsdShade.Shader(tex.GetPrim())
    assert tex.GetIdAttr().Get() == "UsdUVTexture"
    asset = tex.GetInput("file").Get()
    assert asset.path.endswith(".png") and asset.resolvedPath
    reader = UsdShade.Shader(tex.GetInput("st").GetConnectedSources()[0][0].source.GetPrim())
    assert reader.GetIdAttr().Get() == "UsdPrimvarReader_float2"
    assert reader.GetInput("varname").Get() == "st"


def test_missing_usd_core(tmp_path, sphere, monkeypatch):
    monkeypatch.setitem(sys.modules, "pxr", None)  # makes `import pxr` fail
    with pytest.raises(MissingExtraError, match=r"lift3d\[usd\]"):
        export(sphere, tmp_path / "model.usdz")
    assert list(tmp_path.iterdir()) == []
