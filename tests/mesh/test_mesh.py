"""Meshing: layered depth to closed, manifold meshes; clean-up keeps them closed."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lift3d.mesh import (
    components,
    decimate,
    drop_duplicate_faces,
    is_watertight,
    mesh_from_depth,
    remove_floaters,
    volume,
    weld,
)
from lift3d.shape import prior_shape
from lift3d.types import Crop, Mesh


def _crop(alpha: np.ndarray) -> Crop:
    s = alpha.shape[0]
    return Crop(rgb=np.ones((s, s, 3), np.float32), alpha=alpha.astype(np.float32),
                box=(0, 0, s, s))


def _disc(size=96, r=30.0, cx=None, cy=None):
    yy, xx = np.mgrid[0:size, 0:size]
    cx = (size - 1) / 2 if cx is None else cx
    cy = (size - 1) / 2 if cy is None else cy
    return (np.hypot(xx - cx, yy - cy) < r).astype(np.float32)


def test_disc_becomes_sphere_of_right_volume():
    d = prior_shape(_crop(_disc(128, 40)), thickness=1.0)
    m = mesh_from_depth(d, faces=5000)
    assert is_watertight(m)
    assert trimesh.Trimesh(m.vertices, m.faces).is_watertight
    r = 40 * 2 / 128
    assert volume(m) == pytest.approx(4 / 3 * np.pi * r**3, rel=0.06)
    assert len(m.faces) <= 5000 * 1.01


def test_ring_keeps_its_hole():
    a = _disc(128, 45) - _disc(128, 20)
    m = mesh_from_depth(prior_shape(_crop(a), 1.0), faces=4000)
    t = trimesh.Trimesh(m.vertices, m.faces)
    assert t.is_watertight
    assert t.euler_number == 0  # genus 1: a torus


def test_floaters_removed_and_big_parts_kept():
    # Two discs 6 px apart: more than the coarsest automatic voxel (3 px).
    a = np.maximum(_disc(128, 30, cx=40, cy=64), _disc(128, 24, cx=100, cy=64))
    a[5:7, 5:7] = 1.0  # a 2x2 speck
    m = mesh_from_depth(prior_shape(_crop(a), 1.0), faces=6000)
    n, _ = components(m)
    assert n == 2
    assert is_watertight(m)


def test_watertight_check_catches_open_and_flipped():
    box = trimesh.creation.box()
    good = Mesh(box.vertices, box.faces)
    assert is_watertight(good)
    assert not is_watertight(Mesh(box.vertices, box.faces[1:]))
    flipped = box.faces.copy()
    flipped[0] = flipped[0, ::-1]
    assert not is_watertight(Mesh(box.vertices, flipped))


def test_weld_merges_duplicates():
    box = trimesh.creation.box()
    v = box.vertices[box.faces].reshape(-1, 3)
    f = np.arange(len(v)).reshape(-1, 3)
    w = weld(Mesh(v, f))
    assert len(w.vertices) == 8 and is_watertight(w)


def test_decimate_hits_target_and_stays_closed():
    s = trimesh.creation.icosphere(subdivisions=5)
    m = decimate(Mesh(s.vertices, s.faces), 2000)
    assert 1900 <= len(m.faces) <= 2100
    assert is_watertight(m)


def test_remove_floaters_noop_on_single_piece():
    s = trimesh.creation.icosphere(subdivisions=2)
    m = Mesh(s.vertices, s.faces)
    assert remove_floaters(m) is m


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(12, 52), st.integers(12, 52), st.integers(4, 14)),
                min_size=1, max_size=4),
       st.floats(0.3, 1.5))
def test_random_blobs_always_mesh_watertight(blobs, thickness):
    a = np.zeros((64, 64), np.float32)
    for cx, cy, r in blobs:
        a = np.maximum(a, _disc(64, r, cx=cx, cy=cy))
    m = mesh_from_depth(prior_shape(_crop(a), thickness), faces=3000)
    assert is_watertight(m)
    assert volume(m) > 0


def test_duplicate_face_fin_is_removed():
    box = trimesh.creation.box()
    v = np.vstack([box.vertices, [[0.0, 0.9, 0.0]]])
    f = box.faces.copy()
    e0, e1 = f[0, 0], f[0, 1]
    # A fin: two opposite triangles on an existing edge, meeting at a new vertex.
    fin = np.array([[e0, e1, 8], [e1, e0, 8]])
    m = Mesh(v, np.vstack([f, fin]))
    assert not is_watertight(m)
    fixed = drop_duplicate_faces(m)
    assert is_watertight(fixed) and len(fixed.faces) == 12
