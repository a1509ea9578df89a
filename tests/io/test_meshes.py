"""load_mesh: every format as the file has it, side files, scene transforms, errors."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lift3d.errors import InputError
from lift3d.export.asset import export_asset
from lift3d.io.meshes import fan_triangulate, load_mesh
from lift3d.types import MeshAsset

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"

RED = (255, 0, 0)
GREY = (128, 128, 128)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _png(path: Path, size: tuple[int, int], corner=RED) -> Path:
    """A grey image ``size = (w, h)`` with its top-left pixel ``corner``."""
    a = np.full((size[1], size[0], 3), GREY, np.uint8)
    a[0, 0] = corner
    Image.fromarray(a).save(path)
    return path


# ------------------------------------------------------------------------------------ OBJ


def test_obj_keeps_file_vertices_triangulates_and_resolves_negative_indices(tmp_path):
    path = _write(tmp_path / "quad.obj", "\n".join([
        "# a quad, a triangle with negative indices, a duplicated and a loose vertex",
        "v 0 0 0", "v 1 0 0", "v 1 1 0", "v 0 1 0",
        "f 1 2 3 4",
        "v 0 0 0",  # duplicate of vertex 1: must stay
        "v 5 5 5",  # unreferenced: must stay
        "  f -2 -5 -4",  # relative to the 6 vertices defined so far; indented
        "",
    ]))
    a = load_mesh(path)
    assert a.vertices.shape == (6, 3) and a.vertices.dtype == np.float64
    np.testing.assert_array_equal(a.vertices[4], [0, 0, 0])
    np.testing.assert_array_equal(a.faces, [[0, 1, 2], [0, 2, 3], [4, 1, 2]])
    assert a.faces.dtype == np.int64
    assert a.unit is None and a.up_axis is None and a.uv is None and a.texture is None
    assert a.file_bytes == path.stat().st_size and a.source == str(path)


def test_obj_vertex_colours(tmp_path):
    path = _write(tmp_path / "c.obj", "v 0 0 0 1 0 0\nv 1 0 0 0 1 0\nv 0 1 0 0 0 0.5\nf 1 2 3\n")
    a = load_mesh(path)
    np.testing.assert_array_equal(a.vertex_colors, [[255, 0, 0, 255], [0, 255, 0, 255],
                                                    [0, 0, 128, 255]])


def test_obj_mtl_texture_uv_split_and_side_files(tmp_path):
    _png(tmp_path / "albedo.png", (8, 4))
    _png(tmp_path / "bump.png", (2, 2))
    _write(tmp_path / "m.mtl", "newmtl skin\nKd 0.5 0.25 1\nPm 0.3\nPr 0.4\n"
                               "map_Kd -s 1 1 1 albedo.png\nmap_Bump bump.png\n")
    path = _write(tmp_path / "t.obj", "\n".join([
        "mtllib m.mtl", "v 0 0 0", "v 1 0 0", "v 0 1 0", "v 1 1 0",
        "vt 0 1", "vt 1 0", "vt 0 0", "vt 0.5 0.5",
        "usemtl skin",
        "f 1/1 2/2 3/3",
        "f 2/2 4/4 3/4",  # vertex 3 with a second UV: one copy appended
        "",
    ]))
    a = load_mesh(path)
    assert a.vertices.shape == (5, 3)
    np.testing.assert_array_equal(a.vertices[4], a.vertices[2])
    np.testing.assert_array_equal(a.faces, [[0, 1, 2], [1, 3, 4]])
    np.testing.assert_allclose(a.uv, [[0, 1], [1, 0], [0, 0], [0.5, 0.5], [0.5, 0.5]])
    assert a.texture.shape == (4, 8, 3) and tuple(a.texture[0, 0]) == RED
    assert sorted(a.texture_sizes) == [(2, 2), (8, 4)]
    # Kd is the factor when a map_Kd is present too (as MTL readers multiply them)
    assert a.material.base_color_factor == pytest.approx((0.5, 0.25, 1.0, 1.0))
    assert a.material.metallic == pytest.approx(0.3)
    assert a.material.roughness == pytest.approx(0.4)
    assert a.material.name == "skin"
    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert a.file_bytes == total


def test_obj_missing_mtl_still_loads(tmp_path):
    path = _write(tmp_path / "x.obj", "mtllib gone.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    a = load_mesh(path)
    assert a.faces.shape == (1, 3) and a.texture is None


# ------------------------------------------------------------------------- OFF, STL, PLY


def test_off_with_colours_and_a_quad(tmp_path):
    path = _write(tmp_path / "q.off", "COFF\n# comment\n5 2 0\n"
                  "0 0 0 255 0 0 255\n1 0 0 0 255 0 255\n1 1 0 0 0 255 255\n"
                  "0 1 0 1 2 3 255\n5 5 5 9 9 9 255\n4 0 1 2 3\n3 0 2 1\n")
    a = load_mesh(path)
    assert a.vertices.shape == (5, 3)
    np.testing.assert_array_equal(a.faces, [[0, 1, 2], [0, 2, 3], [0, 2, 1]])
    np.testing.assert_array_equal(a.vertex_colors[:2], [[255, 0, 0, 255], [0, 255, 0, 255]])


def test_ascii_stl_is_a_soup(tmp_path):
    facet = ("facet normal 0 0 1\n outer loop\n  vertex {} 0 0\n  vertex 1 0 0\n"
             "  vertex 0 1 0\n endloop\nendfacet\n")
    path = _write(tmp_path / "a.stl", "solid test\n" + facet.format(0) + facet.format(2)
                  + "endsolid test\n")
    a = load_mesh(path)
    assert a.vertices.shape == (6, 3) and a.faces.shape == (2, 3)  # nothing merged
    np.testing.assert_array_equal(a.vertices[a.faces[1]], [[2, 0, 0], [1, 0, 0], [0, 1, 0]])


def test_binary_stl(tmp_path):
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    path = tmp_path / "b.stl"
    export_asset(MeshAsset(v, f), path)
    assert not path.read_bytes().startswith(b"solid")
    a = load_mesh(path)
    assert a.faces.shape == (4, 3) and a.vertices.shape == (12, 3)
    np.testing.assert_allclose(a.vertices[a.faces], v[f], atol=1e-7)


def test_ply_quad_with_colours(tmp_path):
    path = _write(tmp_path / "q.ply", "\n".join([
        "ply", "format ascii 1.0", "element vertex 4", "property float x", "property float y",
        "property float z", "property uchar red", "property uchar green", "property uchar blue",
        "element face 1", "property list uchar int vertex_indices", "end_header",
        "0 0 0 255 0 0", "1 0 0 0 255 0", "1 1 0 0 0 255", "0 1 0 9 9 9", "4 0 1 2 3", ""]))
    a = load_mesh(path)
    assert a.vertices.shape == (4, 3) and a.faces.shape == (2, 3)
    assert set(a.faces.ravel()) == {0, 1, 2, 3}
    np.testing.assert_array_equal(a.vertex_colors[3], [9, 9, 9, 255])


def test_ply_triangle_strips(tmp_path):
    path = _write(tmp_path / "s.ply", "\n".join([
        "ply", "format ascii 1.0", "element vertex 6", "property float x", "property float y",
        "property float z", "element tristrips 1", "property list int int vertex_indices",
        "end_header", "0 0 0", "0 1 0", "1 0 0", "1 1 0", "2 0 0", "2 1 0",
        "8 0 2 1 3 -1 2 4 3", ""]))
    a = load_mesh(path)
    # strip 0 2 1 3: (0 2 1), (2 1 3) reversed to (1 2 3); restart: (2 4 3)
    np.testing.assert_array_equal(a.faces, [[0, 2, 1], [1, 2, 3], [2, 4, 3]])


# ------------------------------------------------------------------------ glTF and USD


def _split_glb(glb: Path, out: Path) -> Path:
    """Rewrite a GLB as ``.gltf`` + external ``.bin`` + PNG, with two transformed nodes."""
    data = glb.read_bytes()
    n = struct.unpack_from("<I", data, 12)[0]
    gltf = json.loads(data[20:20 + n])
    blob = data[20 + n + 8:]
    image = gltf["images"][0]
    view = gltf["bufferViews"][image.pop("bufferView")]
    (out / "tex.png").write_bytes(blob[view["byteOffset"]:view["byteOffset"] + view["byteLength"]])
    image["uri"] = "tex.png"
    (out / "scene.bin").write_bytes(blob)
    gltf["buffers"][0]["uri"] = "scene.bin"
    gltf["nodes"] = [{"mesh": 0, "translation": [10, 0, 0]},
                     {"children": [2], "scale": [2, 2, 2]},
                     {"mesh": 0, "translation": [0, 1, 0]}]
    gltf["scenes"][0]["nodes"] = [0, 1]
    path = out / "scene.gltf"
    path.write_text(json.dumps(gltf))
    return path


def test_gltf_with_external_files_bakes_node_transforms(tmp_path):
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float)
    uv = np.array([[0, 1], [1, 1], [0, 0]], np.float32)
    tex = np.full((4, 4, 3), GREY, np.uint8)
    tex[0, 0] = RED
    export_asset(MeshAsset(v, np.array([[0, 1, 2]]), uv=uv, texture=tex), tmp_path / "a.glb")
    ext = tmp_path / "ext"
    ext.mkdir()
    path = _split_glb(tmp_path / "a.glb", ext)
    a = load_mesh(path)
    assert a.unit == "m" and a.up_axis == "Y"
    assert a.vertices.shape == (6, 3) and a.faces.shape == (2, 3)
    tris = a.vertices[a.faces]
    order = np.argsort(tris[:, 0, 0])[::-1]  # the instance moved to x = 10 first
    np.testing.assert_allclose(tris[order[0]], v + [10, 0, 0], atol=1e-6)
    np.testing.assert_allclose(tris[order[1]], 2 * (v + [0, 1, 0]), atol=1e-6)  # parent scale
    np.testing.assert_allclose(a.uv[a.faces[order[0]]], uv, atol=1e-6)
    np.testing.assert_allclose(a.uv[a.faces[order[1]]], uv, atol=1e-6)
    assert tuple(a.texture[0, 0]) == RED and a.texture_sizes == ((4, 4),)
    assert a.file_bytes == sum(p.stat().st_size for p in ext.iterdir())


def test_gltf_mirroring_node_reverses_the_winding(tmp_path):
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float)
    glb = tmp_path / "a.glb"
    export_asset(MeshAsset(v, np.array([[0, 1, 2]])), glb)
    data = glb.read_bytes()
    n = struct.unpack_from("<I", data, 12)[0]
    gltf = json.loads(data[20:20 + n])
    gltf["nodes"][0]["scale"] = [-1, 1, 1]
    blob = data[20 + n:]
    doc = json.dumps(gltf).encode()
    doc += b" " * (-len(doc) % 4)
    body = struct.pack("<II", len(doc), 0x4E4F534A) + doc + blob
    glb.write_bytes(struct.pack("<III", 0x46546C67, 2, 12 + len(body)) + body)
    a = load_mesh(glb)
    tri = a.vertices[a.faces[0]]
    # the normal still points to +Z, as a renderer shows it (glTF flips mirrored winding)
    assert np.cross(tri[1] - tri[0], tri[2] - tri[0])[2] > 0
    np.testing.assert_allclose(np.sort(a.vertices[:, 0]), [-1, 0, 0], atol=1e-7)


@pytest.fixture
def pxr():
    return pytest.importorskip("pxr")


def test_usd_z_up_centimetres_facevarying_st(tmp_path, pxr):
    _png(tmp_path / "t.png", (4, 2))
    path = _write(tmp_path / "z.usda", """#usda 1.0
(
    defaultPrim = "Root"
    metersPerUnit = 0.01
    upAxis = "Z"
)
def Xform "Root"
{
    double3 xformOp:translate = (0, 0, 5)
    uniform token[] xformOpOrder = ["xformOp:translate"]
    def Mesh "quad" (prepend apiSchemas = ["MaterialBindingAPI"])
    {
        int[] faceVertexCounts = [4]
        int[] faceVertexIndices = [0, 1, 2, 3]
        point3f[] points = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)]
        texCoord2f[] primvars:st = [(0, 0), (1, 0), (1, 1)] (interpolation = "faceVarying")
        int[] primvars:st:indices = [0, 1, 2, 0]
        color3f[] primvars:displayColor = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)] (
            interpolation = "vertex")
        rel material:binding = </Root/M>
    }
    def Material "M"
    {
        token outputs:surface.connect = </Root/M/S.outputs:surface>
        def Shader "S"
        {
            uniform token info:id = "UsdPreviewSurface"
            color3f inputs:diffuseColor.connect = </Root/M/T.outputs:rgb>
            float inputs:roughness = 0.25
            token outputs:surface
        }
        def Shader "T"
        {
            uniform token info:id = "UsdUVTexture"
            asset inputs:file = @t.png@
            float3 outputs:rgb
        }
    }
}
""")
    a = load_mesh(path)
    assert a.unit == "cm" and a.up_axis == "Y"
    # Z-up (x, y, z) -> Y-up (x, z, -y), after the +5 z translation
    np.testing.assert_allclose(a.vertices[:4], [[0, 5, 0], [1, 5, 0], [1, 5, -1], [0, 5, -1]],
                               atol=1e-9)
    # corner 3 reuses st 0, so vertex 3 keeps (0, 0): vertex 0 and 3 share a uv, no split
    np.testing.assert_array_equal(a.faces, [[0, 1, 2], [0, 2, 3]])
    np.testing.assert_allclose(a.uv, [[0, 0], [1, 0], [1, 1], [0, 0]])
    normal = np.cross(a.vertices[1] - a.vertices[0], a.vertices[2] - a.vertices[0])
    assert normal[1] > 0  # the face that pointed up (+Z) points up (+Y)
    np.testing.assert_array_equal(a.vertex_colors[:, :3], [[255, 0, 0], [0, 255, 0],
                                                          [0, 0, 255], [255, 255, 255]])
    assert a.texture.shape == (2, 4, 3) and tuple(a.texture[0, 0]) == RED
    assert a.texture_sizes == ((4, 2),)
    assert a.material.roughness == pytest.approx(0.25)


def test_fan_triangulate():
    np.testing.assert_array_equal(fan_triangulate(np.array([3, 5, 2])),
                                  [[0, 1, 2], [3, 4, 5], [3, 5, 6], [3, 6, 7]])


# --------------------------------------------------------------------------------- errors


TRI = "v 0 0 0\nv 1 0 0\nv 0 1 0\n"


@pytest.mark.parametrize("name, content, match", [
    ("gone.obj", None, "file not found"),
    ("mesh.xyz", "1 2 3\n", r"unsupported mesh extension '\.xyz'.*\.glb.*\.usdz"),
    ("empty.ply", "", r"empty \(0 bytes\)"),
    ("junk.glb", "not a glb at all", "cannot parse"),
    ("junk.gltf", "{not json", "cannot parse"),
    ("junk.stl", "\x00\x01garbage", "not an STL file"),
    ("junk.ply", "hello\n", "not a PLY file"),
    ("junk.off", "hello\n", "not an OFF file"),
    ("points.obj", TRI, "no faces"),
    ("points.ply", "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\n"
                   "property float z\nend_header\n0 0 0\n1 1 1\n", "no faces"),
    ("nan.obj", "v 0 0 nan\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "NaN or infinite"),
    ("inf.off", "OFF\n3 1 0\n0 0 inf\n1 0 0\n0 1 0\n3 0 1 2\n", "NaN or infinite"),
    ("range.obj", TRI + "f 1 2 4\n", "out of range"),
    ("range.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n", "out of range"),
    ("range.ply", "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                  "property float z\nelement face 1\nproperty list uchar int vertex_indices\n"
                  "end_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", "out of range"),
    ("zero.obj", TRI + "f 0 1 2\n", "index 0"),
])
def test_input_errors_name_the_path(tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="latin-1")
    with pytest.raises(InputError, match=match) as info:
        load_mesh(path)
    assert str(info.value).startswith("path: ")


def test_directory_is_refused(tmp_path):
    (tmp_path / "d.obj").mkdir()
    with pytest.raises(InputError, match="directory"):
        load_mesh(tmp_path / "d.obj")


def test_max_faces(tmp_path):
    path = _write(tmp_path / "q.obj", TRI + "v 1 1 0\nf 1 2 3 4\n")  # a quad: 2 triangles
    assert load_mesh(path, max_faces=2).faces.shape == (2, 3)
    with pytest.raises(InputError, match="2 triangles, more than max_faces=1"):
        load_mesh(path, max_faces=1)
    stl = tmp_path / "b.stl"
    export_asset(MeshAsset(np.eye(3), np.array([[0, 1, 2], [0, 2, 1]])), stl)
    with pytest.raises(InputError, match="max_faces"):
        load_mesh(stl, max_faces=1)
    with pytest.raises(InputError, match="max_faces"):
        load_mesh(path, max_faces=0)


# ---------------------------------------------------------------------------- real data


def _shared(rel: str) -> Path:
    path = SHARED / rel
    if not path.is_file():
        pytest.skip(f"shared mesh not found: {path}")
    return path


def _edges_manifold(faces: np.ndarray) -> bool:
    e = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    return bool((counts == 2).all())


def test_shared_bunny_keeps_every_file_vertex():
    path = _shared("meshes/stanford-bunny.obj")
    lines = path.read_text().splitlines()
    a = load_mesh(path)
    assert len(a.vertices) == sum(ln.startswith("v ") for ln in lines)  # loose ones too
    assert len(a.faces) == sum(ln.startswith("f ") for ln in lines)
    assert len(np.unique(a.faces)) < len(a.vertices)  # the file has unreferenced vertices


def test_shared_igea_triangle_strips_make_a_closed_surface():
    a = load_mesh(_shared("meshes/igea.ply"))
    assert a.vertices.shape == (134345, 3)
    assert len(a.faces) > 2 * len(a.vertices) - 100
    assert _edges_manifold(a.faces)


def test_shared_openmvs_reference_mesh():
    a = load_mesh(_shared("multiview/sceaux_castle/openmvs_reference_mesh.ply"))
    assert a.vertices.shape == (7378, 3) and a.faces.shape == (14709, 3)
    assert a.unit is None and np.isfinite(a.vertices).all()
