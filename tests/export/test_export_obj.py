"""OBJ export: three files, relative references, trimesh round trip."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from lift3d.export import export

RED = (255, 0, 0)


@pytest.fixture
def obj(tmp_path, sphere):
    path = tmp_path / "sphere.obj"
    written = export(sphere, path)
    assert written == [path, tmp_path / "sphere.mtl", tmp_path / "sphere_basecolor.png"]
    return path


def test_writes_three_files_with_relative_references(obj, tmp_path):
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sphere.mtl", "sphere.obj", "sphere_basecolor.png"]
    text = obj.read_text()
    assert "mtllib sphere.mtl\n" in text
    assert "usemtl lift3d_material\n" in text
    assert text.count("\nf ") == 320 and "/" in text.split("\nf ", 1)[1].split()[0]
    mtl = (tmp_path / "sphere.mtl").read_text()
    assert "newmtl lift3d_material\n" in mtl
    assert "map_Kd sphere_basecolor.png\n" in mtl
    assert str(tmp_path) not in text + mtl


def test_round_trip(obj, sphere, texel):
    loaded = trimesh.load(obj, force="mesh")
    np.testing.assert_allclose(loaded.bounds, sphere.bounds, atol=1e-5)
    assert len(loaded.faces) == len(sphere.faces)
    assert loaded.is_watertight
    image = loaded.visual.material.image
    assert image is not None and image.size == (64, 64)
    top = int(np.argmax(loaded.vertices[:, 1]))
    assert tuple(texel(np.asarray(image.convert("RGB")), *loaded.visual.uv[top])) == RED


def test_vertex_lines_round_trip(obj, sphere):
    lines = obj.read_text().splitlines()
    v = np.array([[float(x) for x in ln.split()[1:]] for ln in lines if ln.startswith("v ")])
    vt = np.array([[float(x) for x in ln.split()[1:]] for ln in lines if ln.startswith("vt ")])
    vn = np.array([[float(x) for x in ln.split()[1:]] for ln in lines if ln.startswith("vn ")])
    np.testing.assert_allclose(v, sphere.vertices, atol=1e-6)
    np.testing.assert_allclose(vt, sphere.uv, atol=1e-6)  # OBJ vt: bottom-left origin too
    np.testing.assert_allclose(vn, sphere.normals, atol=1e-5)
