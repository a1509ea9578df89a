"""Topology repairs used after decimation (and by ``lift3d repair``): fins, pinched
vertices, holes; and the automatic meshing voxel."""

from __future__ import annotations

import numpy as np
import trimesh

from lift3d.mesh import auto_voxel, is_watertight, mesh_from_depth, volume
from lift3d.mesh.cleanup import (
    boundary_loops,
    close_fins,
    drop_nonmanifold_faces,
    fill_holes,
    split_nonmanifold_vertices,
)
from lift3d.shape import prior_shape
from lift3d.types import Crop, Mesh


def _box(offset=(0.0, 0.0, 0.0)) -> Mesh:
    b = trimesh.creation.box()
    return Mesh(np.asarray(b.vertices) + offset, np.asarray(b.faces, dtype=np.int64))


def _two_boxes_touching_at_a_corner() -> Mesh:
    a, b = _box(), _box((1.0, 1.0, 1.0))
    v = np.vstack([a.vertices, b.vertices])
    f = np.vstack([a.faces, b.faces + len(a.vertices)])
    # Weld the shared corner (0.5, 0.5, 0.5): one vertex, two fans.
    _, inv = np.unique(np.round(v, 9), axis=0, return_inverse=True)
    inv = inv.ravel()
    return Mesh(np.unique(np.round(v, 9), axis=0), inv[f])


def test_fill_holes_closes_an_open_box_with_consistent_winding():
    box = _box()
    side = (box.vertices[box.faces][:, :, 0] > 0.4).all(axis=1)
    assert side.sum() == 2
    m = Mesh(box.vertices, box.faces[~side])  # the +x side removed
    assert not is_watertight(m)
    loops = boundary_loops(m)
    assert [len(x) for x in loops] == [4]
    filled = fill_holes(m)
    assert is_watertight(filled)
    assert np.isclose(volume(filled), 1.0)
    # Holes over the size limit stay open.
    assert not is_watertight(fill_holes(m, max_edges=3))


def test_split_gives_each_fan_its_own_vertex():
    m = _two_boxes_touching_at_a_corner()
    assert len(m.vertices) == 15
    split = split_nonmanifold_vertices(m)
    assert len(split.vertices) == 16 and is_watertight(split)
    # Nudged copies no longer coincide, so a merging loader keeps them apart.
    nudged = split_nonmanifold_vertices(m, nudge=0.05)
    t = trimesh.Trimesh(nudged.vertices, nudged.faces)
    assert len(t.vertices) == 16 and t.is_watertight
    # A manifold mesh comes back unchanged.
    box = _box()
    assert split_nonmanifold_vertices(box) is box


def test_close_fins_repairs_a_flap_on_an_edge():
    box = _box()
    v = np.vstack([box.vertices, [[0.0, 1.5, 0.0], [0.3, 1.5, 0.2]]])
    a, b = box.faces[0, 0], box.faces[0, 1]
    # Two extra faces on one edge: four faces share it (a flap, not a duplicate pair).
    flap = np.array([[a, b, 8], [b, a, 9]])
    m = Mesh(v, np.vstack([box.faces, flap]))
    assert not is_watertight(m)
    cleared = drop_nonmanifold_faces(m)
    assert len(cleared.faces) < len(m.faces)
    fixed = close_fins(m)
    assert is_watertight(fixed)
    assert trimesh.Trimesh(fixed.vertices, fixed.faces).is_watertight
    assert abs(volume(fixed) - 1.0) < 0.2


def _crop(alpha: np.ndarray) -> Crop:
    rgb = np.ones(alpha.shape + (3,), np.float32) * 0.5
    return Crop(rgb=rgb, alpha=alpha, box=(0, 0, alpha.shape[1], alpha.shape[0]))


def test_auto_voxel_coarsens_for_small_budgets_within_limits():
    yy, xx = np.mgrid[:128, :128]
    disc = (((xx - 64) ** 2 + (yy - 64) ** 2) < 50**2).astype(np.float32)
    depth = prior_shape(_crop(disc), 0.8)
    px = 1.0 / depth.camera.fx
    fine, coarse = auto_voxel(depth, 200_000), auto_voxel(depth, 2_000)
    assert fine == px  # never finer than a pixel
    assert px < coarse <= 3.0 * px + 1e-12
    m = mesh_from_depth(depth, faces=2_000)
    assert is_watertight(m) and len(m.faces) <= 2_500 and volume(m) > 0
