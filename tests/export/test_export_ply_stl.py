"""PLY and STL export of the welded geometry."""

from __future__ import annotations

import numpy as np
import trimesh

from lift3d.export import export
from lift3d.export._common import welded_vertex_colors

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def test_ply_round_trip(tmp_path, sphere):
    path = tmp_path / "sphere.ply"
    assert export(sphere, path) == [path]
    assert path.read_bytes().startswith(b"ply\nformat binary_little_endian 1.0\n")
    loaded = trimesh.load(path, force="mesh", process=False)
    assert loaded.is_watertight
    assert len(loaded.vertices) == len(sphere.vertices)
    np.testing.assert_allclose(loaded.bounds, sphere.bounds, atol=1e-5)
    colors = loaded.visual.vertex_colors[:, :3]
    np.testing.assert_array_equal(colors, sphere.vertex_colors())
    top = int(np.argmax(loaded.vertices[:, 1]))
    bottom = int(np.argmin(loaded.vertices[:, 1]))
    assert tuple(colors[top]) == RED and tuple(colors[bottom]) == BLUE


def test_ply_welds_seam_split_mesh(tmp_path, split_sphere, sphere):
    path = tmp_path / "split.ply"
    export(split_sphere, path)
    loaded = trimesh.load(path, force="mesh", process=False)
    assert len(loaded.vertices) == len(sphere.vertices)
    assert loaded.is_watertight
    np.testing.assert_array_equal(loaded.visual.vertex_colors[:, :3], sphere.vertex_colors())


def test_welded_colours_average_seam_copies(split_sphere):
    uv = split_sphere.uv.copy()
    target = split_sphere.welded_index[0]
    copies = np.flatnonzero(split_sphere.welded_index == target)
    uv[copies[0]] = (0.5, 0.9)  # red half
    uv[copies[1:]] = (0.5, 0.1)  # blue half
    mesh = type(split_sphere)(**{**split_sphere.__dict__, "uv": uv})
    n = len(copies)
    expected = np.round(np.array([255.0, 0.0, 0.0]) / n + np.array([0.0, 0.0, 255.0]) * (n - 1) / n)
    np.testing.assert_array_equal(welded_vertex_colors(mesh)[target], expected)


def test_stl_round_trip(tmp_path, sphere, split_sphere):
    for name, mesh in (("sphere.stl", sphere), ("split.stl", split_sphere)):
        path = tmp_path / name
        assert export(mesh, path) == [path]
        assert not path.read_bytes().startswith(b"solid")
        assert len(path.read_bytes()) == 84 + 50 * len(sphere.faces)
        loaded = trimesh.load(path, force="mesh")
        assert loaded.is_watertight
        assert len(loaded.vertices) == len(sphere.vertices)
        np.testing.assert_allclose(loaded.bounds, sphere.bounds, atol=1e-5)
        assert loaded.volume > 0
        # stored facet normals agree with the winding
        np.testing.assert_allclose(
            loaded.face_normals, trimesh.Trimesh(loaded.vertices, loaded.faces).face_normals,
            atol=1e-5)
