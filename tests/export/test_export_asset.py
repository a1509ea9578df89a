"""export_asset: every format x (textured, vertex-coloured, plain), read back with load_mesh
(and trimesh / usd-core where an independent reader matters)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import trimesh

from lift3d.errors import InputError
from lift3d.export import export
from lift3d.export.asset import export_asset
from lift3d.io.meshes import load_mesh
from lift3d.types import Material, MeshAsset

FORMATS = [".glb", ".obj", ".ply", ".stl", ".usdz"]
KINDS = ["textured", "coloured", "plain"]
RED = (255, 0, 0)
GREY = (128, 128, 128)
MARK = (0.05, 0.95)  # uv of the marked vertex: the top-left corner of the texture


def _sphere_asset(kind: str, unit: str | None = "cm") -> MeshAsset:
    """An icosphere of radius 10 (units), 42 vertices; vertex 0 has uv ``MARK``, which
    lies in the red top-left quarter of a grey texture (row 0 at the top)."""
    ico = trimesh.creation.icosphere(subdivisions=1, radius=10.0)
    v = np.asarray(ico.vertices, dtype=np.float64)
    f = np.asarray(ico.faces, dtype=np.int64)
    kwargs: dict = {}
    if kind == "textured":
        uv = ((v[:, [0, 1]] / 20.0 + 0.5) * 0.5 + 0.5).astype(np.float32)  # bottom-right
        uv[0] = MARK
        tex = np.full((16, 16, 3), GREY, np.uint8)
        tex[:4, :4] = RED
        kwargs = {"uv": uv, "texture": tex}
    elif kind == "coloured":
        rng = np.random.default_rng(0)
        colors = rng.integers(0, 256, (len(v), 4), dtype=np.uint8)
        colors[:, 3] = 255
        kwargs = {"vertex_colors": colors}
    material = Material(metallic=0.2, roughness=0.55, base_color_factor=(0.25, 0.5, 0.75, 1.0),
                        name="paint")
    if kind == "textured":
        material = Material(metallic=0.2, roughness=0.55, name="paint")
    return MeshAsset(v, f, unit=unit, material=material, **kwargs)


@pytest.fixture(scope="module")
def pxr_available() -> bool:
    try:
        import pxr  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip(tmp_path, ext, kind, pxr_available):
    if ext == ".usdz" and not pxr_available:
        pytest.skip("usd-core not installed")
    asset = _sphere_asset(kind)
    written = export_asset(asset, tmp_path / f"m{ext}")
    assert written[0] == tmp_path / f"m{ext}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    back = load_mesh(written[0])
    scale = 0.01 if ext in (".glb", ".usdz") else 1.0  # GLB/USDZ hold metres
    assert back.unit == ("m" if ext in (".glb", ".usdz") else None)

    if ext == ".stl":  # a soup: three corners per facet, geometry only
        assert back.faces.shape == asset.faces.shape and len(back.vertices) == 3 * len(back.faces)
        np.testing.assert_allclose(back.vertices[back.faces], asset.vertices[asset.faces],
                                   atol=1e-5)
        assert back.uv is None and back.vertex_colors is None
        return
    assert back.vertices.shape == asset.vertices.shape  # nothing split or merged
    np.testing.assert_array_equal(back.faces, asset.faces)
    np.testing.assert_allclose(back.vertices, asset.vertices * scale, rtol=1e-6, atol=1e-6)

    if kind == "textured" and ext != ".ply":
        np.testing.assert_allclose(back.uv, asset.uv, atol=1e-6)
        assert back.texture.shape[:2] == (16, 16)
        assert tuple(back.texture[0, 0, :3]) == RED  # row 0 is the top
        assert tuple(back.texture[-1, -1, :3]) == GREY
        x, y = int(back.uv[0, 0] * 16), int((1 - back.uv[0, 1]) * 16)
        assert tuple(back.texture[y, x, :3]) == RED  # the marked vertex sees the mark
        assert back.texture_sizes == ((16, 16),)
    elif kind == "textured":  # PLY: the texels at the UVs become vertex colours
        assert tuple(back.vertex_colors[0, :3]) == RED
        assert tuple(back.vertex_colors[1, :3]) == GREY
    if kind == "coloured":
        np.testing.assert_array_equal(back.vertex_colors, asset.vertex_colors)
    else:
        assert kind == "textured" and ext == ".ply" or back.vertex_colors is None
    if kind == "plain" and ext != ".ply":
        # (trimesh, which reads GLB, keeps the factor as bytes)
        assert back.material.base_color_factor == pytest.approx((0.25, 0.5, 0.75, 1.0),
                                                                abs=1 / 255)
        assert back.texture is None and back.uv is None


def test_file_sets(tmp_path):
    names = {}
    for kind in KINDS:
        d = tmp_path / kind
        d.mkdir()
        names[kind] = [p.name for p in export_asset(_sphere_asset(kind), d / "a.obj")]
    assert names == {"textured": ["a.obj", "a.mtl", "a_basecolor.png"],
                     "coloured": ["a.obj"], "plain": ["a.obj", "a.mtl"]}
    text = (tmp_path / "coloured" / "a.obj").read_text()
    assert "mtllib" not in text and len(text.split("\nv ", 1)[1].split("\n")[0].split()) == 6


def test_glb_structure_and_trimesh_reads_colours(tmp_path):
    asset = _sphere_asset("coloured")
    path = export_asset(asset, tmp_path / "c.glb", name="thing")[0]
    data = path.read_bytes()
    n = struct.unpack_from("<I", data, 12)[0]
    gltf = json.loads(data[20:20 + n])
    prim = gltf["meshes"][0]["primitives"][0]
    assert set(prim["attributes"]) == {"POSITION", "NORMAL", "COLOR_0"}
    color = gltf["accessors"][prim["attributes"]["COLOR_0"]]
    assert color["componentType"] == 5121 and color["normalized"] and color["type"] == "VEC4"
    assert "images" not in gltf and "baseColorTexture" not in json.dumps(gltf["materials"])
    assert gltf["nodes"][0]["name"] == "thing"
    (loaded,) = trimesh.load(path, process=False).geometry.values()
    # with a material (kept: glTF's default one is fully metallic), trimesh files the
    # colours as a vertex attribute
    np.testing.assert_array_equal(loaded.visual.vertex_attributes["color"], asset.vertex_colors)
    assert loaded.visual.material.metallicFactor == pytest.approx(0.2)
    np.testing.assert_allclose(loaded.vertices, asset.vertices * 0.01, atol=1e-6)
    assert loaded.is_watertight and loaded.volume > 0


def test_ply_keeps_alpha(tmp_path):
    asset = _sphere_asset("coloured")
    colors = asset.vertex_colors.copy()
    colors[:, 3] = np.arange(len(colors))
    asset = MeshAsset(asset.vertices, asset.faces, vertex_colors=colors)
    back = load_mesh(export_asset(asset, tmp_path / "a.ply")[0])
    np.testing.assert_array_equal(back.vertex_colors, colors)


def test_units_and_axes(tmp_path):
    asset = _sphere_asset("plain", unit="mm")
    glb = load_mesh(export_asset(asset, tmp_path / "mm.glb")[0])
    np.testing.assert_allclose(glb.vertices, asset.vertices / 1000.0, atol=1e-7)
    obj = load_mesh(export_asset(asset, tmp_path / "mm.obj")[0])
    np.testing.assert_allclose(obj.vertices, asset.vertices, atol=1e-5)  # as they are
    stl = export_asset(asset, tmp_path / "mm.stl")[0]
    assert b"mm" in stl.read_bytes()[:80]

    z_up = MeshAsset(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float), np.array([[0, 1, 2]]),
                     unit=None, up_axis="Z")
    back = load_mesh(export_asset(z_up, tmp_path / "z.glb")[0])
    np.testing.assert_allclose(back.vertices, [[0, 0, 0], [1, 0, 0], [0, 0, -1]], atol=1e-7)


def test_usdz_vertex_colours_are_display_color(tmp_path, pxr_available):
    if not pxr_available:
        pytest.skip("usd-core not installed")
    from pxr import Usd, UsdGeom, UsdShade

    asset = _sphere_asset("coloured")
    path = export_asset(asset, tmp_path / "c.usdz", name="my thing")[0]
    stage = Usd.Stage.Open(str(path))
    assert UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    mesh = next(UsdGeom.Mesh(p) for p in stage.Traverse() if p.IsA(UsdGeom.Mesh))
    assert mesh.GetPrim().GetName() == "my_thing"
    dc = mesh.GetDisplayColorPrimvar()
    assert dc.GetInterpolation() == UsdGeom.Tokens.vertex
    np.testing.assert_allclose(np.asarray(dc.Get()) * 255, asset.vertex_colors[:, :3], atol=1e-3)
    material, _ = UsdShade.MaterialBindingAPI(mesh.GetPrim()).ComputeBoundMaterial()
    surface = material.ComputeSurfaceSource()[0]
    src = surface.GetInput("diffuseColor").GetConnectedSources()[0][0].source
    reader = UsdShade.Shader(src.GetPrim())
    assert reader.GetIdAttr().Get() == "UsdPrimvarReader_float3"
    assert reader.GetInput("varname").Get() == "displayColor"


def test_textured_mesh_export_is_unchanged_by_the_shared_writers(tmp_path, sphere):
    """The TexturedMesh path still writes NORMAL + TEXCOORD_0 and no COLOR_0."""
    path = tmp_path / "s.glb"
    export(sphere, path)
    back = load_mesh(path)
    assert back.vertices.shape == sphere.vertices.shape and back.vertex_colors is None
    np.testing.assert_allclose(back.uv, sphere.uv, atol=1e-6)


def test_bad_assets_and_paths(tmp_path):
    empty = MeshAsset(np.zeros((3, 3)), np.zeros((0, 3), np.int64))
    with pytest.raises(InputError, match="faces must be a non-empty"):
        export_asset(empty, tmp_path / "e.glb")
    asset = _sphere_asset("plain")
    with pytest.raises(InputError, match="unsupported extension"):
        export_asset(asset, tmp_path / "a.fbx")
    bad = MeshAsset(asset.vertices, asset.faces + len(asset.vertices))
    with pytest.raises(InputError, match="face indices"):
        export_asset(bad, tmp_path / "a.ply")
    assert list(tmp_path.iterdir()) == []
