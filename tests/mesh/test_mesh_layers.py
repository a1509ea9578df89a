"""Meshing layered depth with a second entry/exit pair (handles, rings seen edge-on)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lift3d.mesh import components, depth_field, is_watertight, mesh_from_depth, volume
from lift3d.shape import prior_shape
from lift3d.types import Camera, Crop, LayeredDepth

ZC = 2.0  # torus centre depth
R_MAJOR, R_MINOR = 0.55, 0.22


def torus_depth(size: int = 96, layer2: bool = True) -> LayeredDepth:
    """Exact layered depth of a torus whose axis is the camera's y axis.

    Seen from the camera it is a band; rays through its middle (``|x| < R - r``) cross
    the near tube, the hole, then the far tube: a second layer behind the first.
    """
    cam = Camera.orthographic_square(size, half_extent=1.0)
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    x = (u - cam.cx) / cam.fx
    y = (v - cam.cy) / cam.fy
    a = np.sqrt(np.clip(R_MINOR**2 - y**2, 0.0, None))
    outer, inner = R_MAJOR + a, R_MAJOR - a
    hit = (np.abs(y) < R_MINOR) & (np.abs(x) < outer)
    through = hit & (np.abs(x) < inner)  # the ray passes the hole
    zo = np.sqrt(np.clip(outer**2 - x**2, 0.0, None))
    zi = np.sqrt(np.clip(inner**2 - x**2, 0.0, None))
    front = np.where(hit, ZC - zo, ZC)
    back = np.where(through, ZC - zi, np.where(hit, ZC + zo, ZC))
    f2 = np.where(through, ZC + zi, np.nan)
    b2 = np.where(through, ZC + zo, np.nan)
    return LayeredDepth(
        camera=cam, mask=hit.astype(np.float32), front=front.astype(np.float32),
        back=back.astype(np.float32),
        front2=f2.astype(np.float32) if layer2 else None,
        back2=b2.astype(np.float32) if layer2 else None,
    )


def winding_number(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Generalised winding number of a closed mesh at ``points`` (1 inside, 0 outside)."""
    out = []
    for p in np.atleast_2d(points):
        t = np.asarray(vertices)[faces] - p
        a, b, c = t[:, 0], t[:, 1], t[:, 2]
        la, lb, lc = (np.linalg.norm(q, axis=1) for q in (a, b, c))
        num = np.einsum("ij,ij->i", a, np.cross(b, c))
        den = (la * lb * lc + np.einsum("ij,ij->i", a, b) * lc
               + np.einsum("ij,ij->i", b, c) * la + np.einsum("ij,ij->i", c, a) * lb)
        out.append(2.0 * np.arctan2(num, den).sum() / (4.0 * np.pi))
    return np.array(out)


HOLE = [0.0, 0.0, ZC]
NEAR_TUBE = [0.0, 0.0, ZC - R_MAJOR]
FAR_TUBE = [0.0, 0.0, ZC + R_MAJOR]
SIDE_TUBE = [R_MAJOR, 0.0, ZC]


def test_two_layer_ring_is_a_closed_torus_with_its_hole():
    m = mesh_from_depth(torus_depth(), faces=4000)
    assert is_watertight(m)
    t = trimesh.Trimesh(m.vertices, m.faces, process=False)
    assert t.is_watertight and t.euler_number == 0  # genus 1
    assert components(m)[0] == 1
    w = winding_number(m.vertices, m.faces, np.array([HOLE, NEAR_TUBE, FAR_TUBE, SIDE_TUBE]))
    np.testing.assert_allclose(w, [0.0, 1.0, 1.0, 1.0], atol=0.05)
    # Volume of a torus: 2 pi^2 R r^2.
    assert t.volume == pytest.approx(2 * np.pi**2 * R_MAJOR * R_MINOR**2, rel=0.08)


def test_without_the_second_layer_the_far_tube_is_missing():
    m = mesh_from_depth(torus_depth(layer2=False), faces=4000)
    assert is_watertight(m)
    t = trimesh.Trimesh(m.vertices, m.faces, process=False)
    assert t.euler_number == 2  # a bent sausage, no handle
    w = winding_number(m.vertices, m.faces, np.array([NEAR_TUBE, FAR_TUBE]))
    np.testing.assert_allclose(w, [1.0, 0.0], atol=0.05)


def test_empty_second_layer_changes_nothing():
    d = torus_depth(layer2=False)
    nan = np.full(d.front.shape, np.nan, np.float32)
    d2 = dataclasses.replace(d, front2=nan, back2=nan)
    assert not d2.has_layer2
    f1, o1, v1 = depth_field(d)
    f2, o2, v2 = depth_field(d2)
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(o1, o2)


@pytest.mark.parametrize("size", [64, 128])
def test_second_layer_field_is_negative_on_the_grid_border(size):
    field, _, _ = depth_field(torus_depth(size))
    for face in (field[0], field[-1], field[:, 0], field[:, -1], field[:, :, 0],
                 field[:, :, -1]):
        assert (face < 0).all()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.tuples(st.integers(18, 46), st.integers(18, 46), st.integers(8, 16)),
       st.lists(st.tuples(st.integers(8, 56), st.integers(8, 56), st.integers(1, 10)),
                min_size=1, max_size=3),
       st.floats(0.0, 0.4), st.floats(0.02, 0.5))
def test_random_second_layers_always_mesh_watertight(body, parts, gap, thick):
    """A disc body with random blobs behind it (some touching it, some slivers)."""
    size = 64
    yy, xx = np.mgrid[0:size, 0:size]
    cx, cy, r = body
    a = (np.hypot(xx - cx, yy - cy) < r).astype(np.float32)
    d = prior_shape(Crop(rgb=np.ones((size, size, 3), np.float32), alpha=a,
                         box=(0.0, 0.0, float(size), float(size))), 1.0)
    l2 = np.zeros((size, size), bool)
    for px, py, pr in parts:
        l2 |= np.hypot(xx - px, yy - py) < pr
    l2 &= a >= 0.5
    f2 = np.where(l2, d.back + gap, np.nan).astype(np.float32)
    b2 = (f2 + thick).astype(np.float32)
    m = mesh_from_depth(dataclasses.replace(d, front2=f2, back2=b2), faces=2000,
                        min_piece_fraction=0.0)
    assert is_watertight(m)
    assert volume(m) > 0


def test_layered_depth_checks_the_new_fields():
    d = torus_depth(32, layer2=False)
    with pytest.raises(ValueError, match="together"):
        dataclasses.replace(d, front2=d.front)
    with pytest.raises(ValueError, match="back2"):
        dataclasses.replace(d, front2=d.front, back2=d.back[:-1])
    with pytest.raises(ValueError, match="back_rgb"):
        dataclasses.replace(d, back_rgb=np.zeros((32, 32), np.float32))
    with pytest.raises(ValueError, match="normals"):
        dataclasses.replace(d, normals=np.zeros((32, 31, 3), np.float32))
    ok = dataclasses.replace(d, back_rgb=np.zeros((32, 32, 3), np.float32),
                             normals=np.zeros((32, 32, 3), np.float32))
    assert ok.back_rgb.shape == (32, 32, 3) and not ok.has_layer2
