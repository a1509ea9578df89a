"""Fixtures for the export tests: a small textured sphere with a two-colour texture."""

from __future__ import annotations

import numpy as np
import pytest

from lift3d.types import Material, TexturedMesh

RED = (255, 0, 0)
BLUE = (0, 0, 255)
TEXTURE_SIZE = 64


def make_sphere_mesh(material: Material | None = None) -> TexturedMesh:
    """An icosphere 0.3 m across, resting on ``y = 0``, with projective UVs.

    ``uv`` is ``(x, y)`` normalised to ``[0, 1]``, so the highest vertex has ``v = 1``
    (the top of the texture). The texture's top half is red and its bottom half blue.
    """
    import trimesh

    ico = trimesh.creation.icosphere(subdivisions=2, radius=0.15)
    v = np.asarray(ico.vertices, dtype=np.float64)
    v[:, 1] -= v[:, 1].min()
    xy = v[:, :2]
    uv = (xy - xy.min(axis=0)) / np.ptp(xy, axis=0)
    tex = np.zeros((TEXTURE_SIZE, TEXTURE_SIZE, 3), dtype=np.uint8)
    tex[: TEXTURE_SIZE // 2] = RED
    tex[TEXTURE_SIZE // 2 :] = BLUE
    return TexturedMesh(
        vertices=v.astype(np.float32),
        faces=np.asarray(ico.faces, dtype=np.int32),
        normals=np.asarray(ico.vertex_normals, dtype=np.float32),
        uv=uv.astype(np.float32),
        texture=tex,
        material=material or Material(metallic=0.25, roughness=0.6),
    )


def split_mesh(mesh: TexturedMesh) -> TexturedMesh:
    """``mesh`` with every face given its own three vertices (as an atlas would seam
    everything), ``welded_index`` mapping them back."""
    corners = np.asarray(mesh.faces, dtype=np.int64).ravel()
    return TexturedMesh(
        vertices=mesh.vertices[corners],
        faces=np.arange(len(corners), dtype=np.int32).reshape(-1, 3),
        normals=mesh.normals[corners],
        uv=mesh.uv[corners],
        texture=mesh.texture,
        material=mesh.material,
        welded_index=corners,
        welded_vertex_count=len(mesh.vertices),
    )


@pytest.fixture
def sphere() -> TexturedMesh:
    return make_sphere_mesh()


@pytest.fixture
def split_sphere(sphere: TexturedMesh) -> TexturedMesh:
    return split_mesh(sphere)


@pytest.fixture
def make_sphere():
    """Factory: ``make_sphere(material)`` builds the sphere with another material."""
    return make_sphere_mesh


def _texel(image, u: float, v: float) -> np.ndarray:
    """The texel of ``image`` (row 0 on top) at bottom-left-origin ``(u, v)``."""
    a = np.asarray(image)
    h, w = a.shape[:2]
    x = int(np.clip(np.floor(u * w), 0, w - 1))
    y = int(np.clip(np.floor((1.0 - v) * h), 0, h - 1))
    return a[y, x, :3]


@pytest.fixture
def texel():
    """``texel(image, u, v)``: sample an image at a bottom-left-origin uv."""
    return _texel
