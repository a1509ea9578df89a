"""GLB export: trimesh round trip, texture orientation, material, file structure."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
import trimesh
from PIL import Image

from lift3d.export import export
from lift3d.types import Material

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def _parse_glb(data: bytes) -> tuple[dict, bytes]:
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert magic == 0x46546C67 and version == 2 and length == len(data)
    json_len, json_type = struct.unpack_from("<II", data, 12)
    assert json_type == 0x4E4F534A
    gltf = json.loads(data[20 : 20 + json_len])
    off = 20 + json_len
    bin_len, bin_type = struct.unpack_from("<II", data, off)
    assert bin_type == 0x004E4942
    return gltf, data[off + 8 : off + 8 + bin_len]


def _accessor(gltf: dict, blob: bytes, index: int) -> np.ndarray:
    acc = gltf["accessors"][index]
    view = gltf["bufferViews"][acc["bufferView"]]
    dtype = {5126: "<f4", 5123: "<u2", 5125: "<u4"}[acc["componentType"]]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3}[acc["type"]]
    raw = blob[view["byteOffset"] : view["byteOffset"] + view["byteLength"]]
    return np.frombuffer(raw, dtype=dtype, count=acc["count"] * width).reshape(-1, width)


@pytest.fixture
def glb(tmp_path, sphere):
    path = tmp_path / "sphere.glb"
    assert export(sphere, path) == [path]
    return path


def test_round_trip_geometry(glb, sphere):
    loaded = trimesh.load(glb, force="mesh")
    assert loaded.is_watertight
    assert len(loaded.vertices) == len(sphere.vertices)
    assert len(loaded.faces) == len(sphere.faces)
    np.testing.assert_allclose(loaded.bounds, sphere.bounds, atol=1e-5)
    assert loaded.volume > 0  # outward (counter-clockwise) winding survives


def test_round_trip_texture_and_orientation(glb, sphere, texel):
    loaded = trimesh.load(glb, force="mesh")
    image = loaded.visual.material.baseColorTexture
    assert image is not None and image.size == (64, 64)
    top = int(np.argmax(loaded.vertices[:, 1]))
    bottom = int(np.argmin(loaded.vertices[:, 1]))
    assert loaded.visual.uv[top, 1] == pytest.approx(1.0, abs=1e-5)
    rgb = np.asarray(image.convert("RGB"))
    assert tuple(texel(rgb, *loaded.visual.uv[top])) == RED
    assert tuple(texel(rgb, *loaded.visual.uv[bottom])) == BLUE
    np.testing.assert_allclose(loaded.visual.uv, sphere.uv, atol=1e-6)  # same order


def test_material_factors(tmp_path, make_sphere):
    mesh = make_sphere(Material(metallic=0.8, roughness=0.15,
                                base_color_factor=(0.5, 0.6, 0.7, 1.0), name="shiny"))
    path = tmp_path / "shiny.glb"
    export(mesh, path)
    mat = trimesh.load(path, force="mesh").visual.material
    assert mat.metallicFactor == pytest.approx(0.8)
    assert mat.roughnessFactor == pytest.approx(0.15)
    np.testing.assert_allclose(np.asarray(mat.baseColorFactor)[:3] / 255.0, [0.5, 0.6, 0.7],
                               atol=1 / 255)


def test_file_structure_follows_gltf_uv_convention(glb, sphere):
    """Spec level, independent of trimesh: glTF's (0, 0) is the image's top-left, so
    the top vertex has TEXCOORD_0 v = 0 and row 0 of the embedded PNG is red."""
    gltf, blob = _parse_glb(glb.read_bytes())
    assert gltf["asset"] == {"version": "2.0", "generator": "lift3d"}
    assert gltf["nodes"][0]["name"] == "sphere"
    assert gltf["meshes"][0]["name"] == "sphere"
    prim = gltf["meshes"][0]["primitives"][0]
    assert set(prim["attributes"]) == {"POSITION", "NORMAL", "TEXCOORD_0"}
    pbr = gltf["materials"][prim["material"]]["pbrMetallicRoughness"]
    assert pbr["metallicFactor"] == pytest.approx(0.25)
    assert pbr["roughnessFactor"] == pytest.approx(0.6)
    assert gltf["images"][0]["mimeType"] == "image/png"
    for view in gltf["bufferViews"]:
        assert view["byteOffset"] % 4 == 0

    pos = _accessor(gltf, blob, prim["attributes"]["POSITION"])
    nrm = _accessor(gltf, blob, prim["attributes"]["NORMAL"])
    tc = _accessor(gltf, blob, prim["attributes"]["TEXCOORD_0"])
    idx = _accessor(gltf, blob, prim["indices"]).reshape(-1, 3)
    np.testing.assert_allclose(pos, sphere.vertices)
    np.testing.assert_allclose(np.linalg.norm(nrm, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(idx, sphere.faces)
    acc = gltf["accessors"][prim["attributes"]["POSITION"]]
    np.testing.assert_allclose(acc["min"], pos.min(axis=0))
    np.testing.assert_allclose(acc["max"], pos.max(axis=0))

    top = int(np.argmax(pos[:, 1]))
    assert tc[top, 1] == pytest.approx(0.0, abs=1e-6)
    view = gltf["bufferViews"][gltf["images"][0]["bufferView"]]
    png = blob[view["byteOffset"] : view["byteOffset"] + view["byteLength"]]
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert tuple(image[0, 0]) == RED and tuple(image[-1, 0]) == BLUE


def test_seam_split_mesh_keeps_vertices(tmp_path, split_sphere):
    path = tmp_path / "split.glb"
    export(split_sphere, path)
    gltf, blob = _parse_glb(path.read_bytes())
    prim = gltf["meshes"][0]["primitives"][0]
    assert gltf["accessors"][prim["attributes"]["POSITION"]]["count"] == len(split_sphere.vertices)
