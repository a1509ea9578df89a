"""Synthetic textured meshes for the renderer tests, built with trimesh."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import trimesh

from lift3d.types import TexturedMesh

RED = (220, 30, 30)
BLUE = (30, 40, 220)
GREEN = (30, 200, 40)


def two_colour_texture(low=BLUE, high=RED, size: int = 64) -> np.ndarray:
    """``(size, size, 3)`` uint8: columns with ``u < 0.5`` are ``low``, the others
    ``high``."""
    tex = np.empty((size, size, 3), dtype=np.uint8)
    tex[:, : size // 2] = low
    tex[:, size // 2 :] = high
    return tex


def projective_uv(vertices: np.ndarray, axis: int) -> np.ndarray:
    """``(V, 2)`` float32 uv: ``u`` runs 0 -> 1 along world ``axis``, ``v`` along +Y."""
    v = np.asarray(vertices, dtype=np.float64)

    def norm(a: np.ndarray) -> np.ndarray:
        span = a.max() - a.min()
        return (a - a.min()) / (span if span > 0 else 1.0)

    return np.stack([norm(v[:, axis]), norm(v[:, 1])], axis=1).astype(np.float32)


def to_textured(tm: trimesh.Trimesh, uv: np.ndarray, texture: np.ndarray) -> TexturedMesh:
    """A :class:`TexturedMesh` with the dtypes the pipeline produces."""
    return TexturedMesh(
        vertices=np.asarray(tm.vertices, dtype=np.float32),
        faces=np.asarray(tm.faces, dtype=np.int32),
        normals=np.asarray(tm.vertex_normals, dtype=np.float32),
        uv=np.asarray(uv, dtype=np.float32),
        texture=texture,
    )


def sphere(radius: float = 0.1, subdivisions: int = 3, centre=(0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    m = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    m.apply_translation(centre)
    return m


@pytest.fixture
def front_red_sphere() -> TexturedMesh:
    """Icosphere (subdiv 3, r = 0.1 m, resting on y = 0): red where z > 0 (the front),
    blue where z < 0."""
    m = sphere(centre=(0.0, 0.1, 0.0))
    return to_textured(m, projective_uv(m.vertices, axis=2), two_colour_texture(BLUE, RED))


@pytest.fixture
def right_green_sphere() -> TexturedMesh:
    """Icosphere: green where x > 0, blue where x < 0."""
    m = sphere(centre=(0.0, 0.1, 0.0))
    return to_textured(m, projective_uv(m.vertices, axis=0), two_colour_texture(BLUE, GREEN))


@pytest.fixture
def tall_box() -> TexturedMesh:
    """Box 0.1 x 0.3 x 0.1 m (width x height x depth) standing on y = 0."""
    m = trimesh.creation.box(extents=(0.1, 0.3, 0.1))
    m.apply_translation((0.0, 0.15, 0.0))
    return to_textured(m, projective_uv(m.vertices, axis=0), two_colour_texture())


@pytest.fixture
def occluded_pair() -> TexturedMesh:
    """A big red sphere (r = 0.1) at the origin and a small green one (r = 0.03) right
    behind it on the -Z axis: hidden from the front, in plain sight from the back."""
    big = sphere(0.1)
    small = sphere(0.03, centre=(0.0, 0.0, -0.2))
    both = trimesh.util.concatenate([big, small])
    uv = np.concatenate(
        [
            np.full((len(big.vertices), 2), (0.25, 0.5)),
            np.full((len(small.vertices), 2), (0.75, 0.5)),
        ]
    )
    return to_textured(both, uv, two_colour_texture(RED, GREEN))


@pytest.fixture
def empty_mesh() -> TexturedMesh:
    return TexturedMesh(
        vertices=np.zeros((0, 3), dtype=np.float32),
        faces=np.zeros((0, 3), dtype=np.int32),
        normals=np.zeros((0, 3), dtype=np.float32),
        uv=np.zeros((0, 2), dtype=np.float32),
        texture=two_colour_texture(),
    )


@pytest.fixture
def mesh_factory() -> Callable[..., TexturedMesh]:
    """``factory(trimesh_mesh, axis=2, texture=None)`` -> :class:`TexturedMesh`."""

    def factory(tm: trimesh.Trimesh, axis: int = 2, texture: np.ndarray | None = None):
        tex = two_colour_texture() if texture is None else texture
        return to_textured(tm, projective_uv(tm.vertices, axis), tex)

    return factory
