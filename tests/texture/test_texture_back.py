"""Back colour in the atlas modes, and the two-sided texture mode."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lift3d.errors import InputError
from lift3d.mesh import is_watertight, mesh_from_depth, vertex_normals
from lift3d.shape import prior_shape
from lift3d.texture import MODES, texture_mesh
from lift3d.texture.twosided import BACK, FRONT, two_sided_charts
from lift3d.types import Crop, Mesh, TexturedMesh

GREEN = np.array([0.1, 0.8, 0.1], np.float32)
RED = np.array([0.9, 0.05, 0.05], np.float32)
SIZE = 64


@pytest.fixture(scope="module")
def scene():
    """A green disc crop on grey, its prior mesh, and a red back colour."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    c = (SIZE - 1) / 2
    alpha = (np.hypot(xx - c, yy - 0.9 * c) < 20).astype(np.float32)
    rgb = np.where(alpha[..., None] > 0, GREEN, np.float32(0.4)).astype(np.float32)
    crop = Crop(rgb=rgb, alpha=alpha, box=(0.0, 0.0, float(SIZE), float(SIZE)))
    depth = prior_shape(crop, thickness=0.8)
    # Background pixels of the back colour are junk (blue): they must never show.
    back = np.where(alpha[..., None] > 0, RED, np.array([0.0, 0.0, 1.0], np.float32))
    depth = dataclasses.replace(depth, back_rgb=back.astype(np.float32))
    mesh = mesh_from_depth(depth, faces=1500)
    return crop, depth, mesh


def _colours_by_facing(tx, size):
    """Vertex colours (sampled from the texture at each uv) and camera-frame normal z."""
    tm = TexturedMesh(vertices=tx.vertices.astype(np.float32), faces=tx.faces.astype(np.int32),
                      normals=np.zeros_like(tx.vertices, dtype=np.float32), uv=tx.uv,
                      texture=tx.texture, welded_index=tx.welded_index)
    n = vertex_normals(tx.vertices, tx.faces, tx.welded_index)
    return tm.vertex_colors().astype(float) / 255.0, n[:, 2]


@pytest.mark.parametrize("mode", ["atlas", "two-sided"])
def test_back_facing_texels_take_the_back_colour(scene, mode):
    if mode == "atlas":
        pytest.importorskip("xatlas")
    crop, depth, mesh = scene
    tx = texture_mesh(mesh, crop, depth.camera, size=256, mode=mode, back_rgb=depth.back_rgb)
    col, nz = _colours_by_facing(tx, 256)
    front, back = nz < -0.5, nz > 0.5
    assert front.sum() > 50 and back.sum() > 50
    np.testing.assert_allclose(col[front].mean(axis=0), GREEN, atol=0.05)
    np.testing.assert_allclose(col[back].mean(axis=0), RED, atol=0.05)
    # No texel anywhere is black, nor the back colour's blue background.
    tex = tx.texture.reshape(-1, 3).astype(int)
    assert (tex.max(axis=1) > 0).all()
    assert not ((tex[:, 2] > 200) & (tex[:, 0] < 50)).any()


def test_without_a_back_colour_the_back_shows_the_photo(scene):
    crop, depth, mesh = scene
    for mode in ("projective", "two-sided"):
        tx = texture_mesh(mesh, crop, depth.camera, size=128, mode=mode)
        col, nz = _colours_by_facing(tx, 128)
        assert col[nz > 0.5, 1].mean() > 2 * col[nz > 0.5, 0].mean()


def test_projective_ignores_the_back_colour(scene):
    crop, depth, mesh = scene
    a = texture_mesh(mesh, crop, depth.camera, size=128, mode="projective")
    b = texture_mesh(mesh, crop, depth.camera, size=128, mode="projective",
                     back_rgb=depth.back_rgb)
    np.testing.assert_array_equal(a.texture, b.texture)
    np.testing.assert_array_equal(a.uv, b.uv)


def test_two_sided_splits_only_along_the_chart_boundary(scene):
    _, depth, mesh = scene
    ch = two_sided_charts(mesh, depth.camera, 256)
    f = np.asarray(mesh.faces)
    # Welding back gives the input mesh exactly.
    np.testing.assert_array_equal(ch.welded_index[ch.faces], f)
    np.testing.assert_allclose(ch.vertices, np.asarray(mesh.vertices)[ch.welded_index])
    welded = Mesh(np.asarray(mesh.vertices), ch.welded_index[ch.faces])
    assert is_watertight(welded)
    # One extra copy per vertex shared by front and back faces, none elsewhere.
    in_front = np.zeros(len(mesh.vertices), bool)
    in_back = np.zeros(len(mesh.vertices), bool)
    in_front[f[ch.face_chart == FRONT].ravel()] = True
    in_back[f[ch.face_chart == BACK].ravel()] = True
    assert len(ch.vertices) == len(mesh.vertices) + int((in_front & in_back).sum())
    assert (in_front & in_back).sum() > 0


def test_two_sided_charts_are_square_disjoint_and_keep_the_winding(scene):
    _, depth, mesh = scene
    size = 256
    ch = two_sided_charts(mesh, depth.camera, size)
    assert ch.uv.dtype == np.float32 and ch.uv.min() >= 0 and ch.uv.max() <= 1
    # Both charts counter-clockwise in uv, like the atlas modes.
    t = ch.uv[ch.faces].astype(np.float64)
    e1, e2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    area = 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    big = np.abs(area) > 1e-9
    assert (area[big] > 0).all()
    # The charts' uv boxes do not overlap.
    boxes = []
    for c in (FRONT, BACK):
        uv = ch.uv[np.unique(ch.faces[ch.face_chart == c])]
        boxes.append((uv.min(axis=0), uv.max(axis=0)))
    (lo0, hi0), (lo1, hi1) = boxes
    assert (hi0 < lo1).any() or (hi1 < lo0).any()
    # Square texels: a face's uv area is its projected image area times scale^2.
    px = depth.camera.project(np.asarray(mesh.vertices))
    p = px[np.asarray(mesh.faces)] / np.array([depth.camera.width, depth.camera.height])
    a, b = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    img_area = np.abs(0.5 * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]))
    # (uv is float32: a sliver's area is good to a few parts in a thousand)
    np.testing.assert_allclose(np.abs(area) * size**2, img_area * ch.scale**2, rtol=5e-3,
                               atol=1e-6)
    # The charts use the texture well: each is far larger than a quarter of it.
    assert ch.scale > 0.5 * size


def test_two_sided_layout_follows_the_object_shape():
    # A wide, flat object stacks its charts; a tall one puts them side by side.
    import trimesh

    from lift3d.types import Camera

    cam = Camera.orthographic_square(64, half_extent=1.0)
    for extents, axis in (((1.6, 0.3, 0.4), 1), ((0.3, 1.6, 0.4), 0)):
        box = trimesh.creation.box(extents=extents)
        m = Mesh(np.asarray(box.vertices) + [0, 0, 2.0], np.asarray(box.faces))
        assert two_sided_charts(m, cam, 128).split[0] == axis


def test_unknown_mode_and_bad_back_colour_are_input_errors(scene):
    crop, depth, mesh = scene
    assert "two-sided" in MODES
    with pytest.raises(InputError, match="uv"):
        texture_mesh(mesh, crop, depth.camera, size=64, mode="cube")
    with pytest.raises(InputError, match="back_rgb"):
        texture_mesh(mesh, crop, depth.camera, size=64, mode="two-sided",
                     back_rgb=np.zeros((SIZE, SIZE), np.float32))
