"""UV unwrapping and texture baking for any mesh (lift3d.quality.bake)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("xatlas")
pytest.importorskip("gpytoolbox")
trimesh = pytest.importorskip("trimesh")
cv2 = pytest.importorskip("cv2")

from lift3d.errors import InputError  # noqa: E402
from lift3d.quality.bake import (  # noqa: E402
    bake_texture,
    bake_vertex_colors,
    resize_texture,
    unwrap,
    weld_positions,
)
from lift3d.quality.transfer import sample_colors  # noqa: E402
from lift3d.texture.raster import rasterize_uv  # noqa: E402
from lift3d.types import MeshAsset  # noqa: E402


def sphere(subdivisions: int = 3) -> MeshAsset:
    s = trimesh.creation.icosphere(subdivisions=subdivisions)
    return MeshAsset(np.asarray(s.vertices, np.float64), np.asarray(s.faces, np.int64))


def smooth_colours(p: np.ndarray, alpha: int = 255) -> np.ndarray:
    """``(N, 4)`` uint8, a smooth, never-dark colour field over the unit sphere."""
    rgb = 140 + 100 * np.stack([p[:, 0], p[:, 1], p[:, 2]], axis=1)
    a = np.full((len(p), 1), alpha)
    return np.clip(np.round(np.concatenate([rgb, a], axis=1)), 0, 255).astype(np.uint8)


def at_uv(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Nearest texel of ``texture`` at each uv (origin bottom-left)."""
    h, w = texture.shape[:2]
    x = np.clip(np.round(uv[:, 0] * w - 0.5), 0, w - 1).astype(int)
    y = np.clip(np.round((1 - uv[:, 1]) * h - 0.5), 0, h - 1).astype(int)
    return texture[y, x]


def coloured_sphere(alpha: int = 255) -> MeshAsset:
    s = sphere(3)
    return dataclasses.replace(s, vertex_colors=smooth_colours(s.vertices, alpha))


def test_unwrap_maps_back_to_the_input():
    s = sphere(3)
    for method in ("xatlas", "box"):
        a = unwrap(s.vertices, s.faces, resolution=256, method=method)
        assert np.array_equal(a.welded_index[a.faces], s.faces)  # same faces, same order
        assert np.allclose(a.vertices, s.vertices[a.welded_index])
        assert a.uv.dtype == np.float32 and a.uv.min() >= 0 and a.uv.max() <= 1
        assert len(a.vertices) > len(s.vertices)  # seams split vertices
        # Charts do not overlap: every uv triangle covers its own texels.
        fid, _ = rasterize_uv(a.uv, a.faces, 256, dilate=0)
        assert len(np.unique(fid[fid >= 0])) > 0.9 * len(s.faces)


def test_weld_positions_merges_seams_and_keeps_face_order():
    s = sphere(2)
    a = unwrap(s.vertices, s.faces, resolution=128, method="box")
    w = weld_positions(a.vertices, a.faces)
    assert len(w.vertices) == len(s.vertices)
    assert np.allclose(w.vertices[w.faces], s.vertices[s.faces])


def test_bake_texture_reproduces_the_source_everywhere():
    src = coloured_sphere()
    a = unwrap(src.vertices, src.faces, resolution=128, method="xatlas")
    tex = bake_texture(src, a.vertices, a.faces, a.uv, 128)
    assert tex.shape == (128, 128, 3) and tex.dtype == np.uint8
    # At the vertices the texture shows the vertex colours.
    want = src.vertex_colors[a.welded_index, :3].astype(int)
    assert np.abs(at_uv(tex, a.uv).astype(int) - want).mean() < 4.0
    # No texel is left empty (black): gutters are filled too.
    assert tex.max(axis=2).min() > 20
    # Mip-mapped (4x smaller) lookups still show the right colours, not gutter black.
    small = cv2.resize(tex, (32, 32), interpolation=cv2.INTER_AREA)
    centroid_uv = a.uv[a.faces].mean(axis=1)
    centroid_col = src.vertex_colors[a.welded_index[a.faces], :3].mean(axis=1)
    err = np.abs(at_uv(small, centroid_uv).astype(float) - centroid_col).mean()
    assert err < 15.0, err


def test_bake_texture_onto_a_different_surface_uses_closest_points():
    src = coloured_sphere()
    coarse = sphere(2)  # a different triangulation of the same sphere
    a = unwrap(coarse.vertices, coarse.faces, resolution=128, method="xatlas")
    tex = bake_texture(src, a.vertices, a.faces, a.uv, 128)
    out = MeshAsset(a.vertices, a.faces, uv=a.uv, texture=tex)
    pts = coarse.vertices[coarse.faces].mean(axis=1)  # face centres of the coarse mesh
    diff = np.abs(sample_colors(out, pts).astype(int) - sample_colors(src, pts).astype(int))
    assert diff[:, :3].mean() < 4.0


def test_bake_texture_keeps_alpha_when_the_source_has_some():
    src = coloured_sphere(alpha=128)
    a = unwrap(src.vertices, src.faces, resolution=64, method="box")
    tex = bake_texture(src, a.vertices, a.faces, a.uv, 64)
    assert tex.shape == (64, 64, 4)
    assert np.abs(tex[..., 3].astype(int) - 128).max() <= 1


def test_bake_vertex_colors_makes_a_textured_mesh():
    src = coloured_sphere()
    out = bake_vertex_colors(src, 128)
    assert out.vertex_colors is None and out.texture.shape == (128, 128, 3)
    assert out.texture_sizes == ((128, 128),)
    assert len(out.faces) == len(src.faces)
    pts = src.vertices[src.faces].mean(axis=1)
    diff = np.abs(sample_colors(out, pts).astype(int) - sample_colors(src, pts).astype(int))
    assert diff[:, :3].mean() < 3.0
    rgba = bake_vertex_colors(coloured_sphere(alpha=100), 64)
    assert rgba.texture.shape == (64, 64, 4)


def test_resize_texture_keeps_aspect_and_is_a_no_op_when_small():
    s = sphere(1)
    uv = np.zeros((len(s.vertices), 2), np.float32)
    tex = np.zeros((400, 200, 3), np.uint8)
    tex[:200] = 255  # top half white
    a = MeshAsset(s.vertices, s.faces, uv=uv, texture=tex, texture_sizes=((200, 400),))
    small = resize_texture(a, 100)
    assert small.texture.shape == (100, 50, 3)
    assert small.texture_sizes == ((50, 100),)
    assert small.texture[:45].min() == 255 and small.texture[55:].max() == 0
    assert resize_texture(a, 400) is a
    assert resize_texture(s, 16) is s


def test_invalid_arguments_name_themselves():
    src = coloured_sphere()
    a = unwrap(src.vertices, src.faces, resolution=64, method="box")
    with pytest.raises(InputError, match="^size:"):
        bake_texture(src, a.vertices, a.faces, a.uv, 4)
    with pytest.raises(InputError, match="^target_uv:"):
        bake_texture(src, a.vertices, a.faces, a.uv[:-1], 64)
    with pytest.raises(InputError, match="^target_faces:"):
        bake_texture(src, a.vertices, a.faces + len(a.vertices), a.uv, 64)
    with pytest.raises(InputError, match="^asset:"):
        bake_vertex_colors(sphere(1), 64)
    with pytest.raises(InputError, match="^method:"):
        unwrap(src.vertices, src.faces, resolution=64, method="magic")
    with pytest.raises(InputError, match="^max_side:"):
        resize_texture(src, 0)
