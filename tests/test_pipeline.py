"""lift3d.reconstruct: frames, scale, progress events and the stage hand-offs."""

from __future__ import annotations

import numpy as np
import pytest

import lift3d
from lift3d import conventions
from lift3d.config import Config
from lift3d.errors import InputError, NoObjectError
from lift3d.mesh import is_watertight
from lift3d.pipeline import ProgressEvent, world_transform


def _two_tone_photo(size=160):
    """A disc on white: its left half red, its right half blue; and a taller ellipse."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (size - 1) / 2
    inside = ((xx - c) / 40) ** 2 + ((yy - c) / 60) ** 2 < 1
    rgb = np.ones((size, size, 3), np.float32)
    rgb[inside & (xx < c)] = (0.9, 0.1, 0.1)
    rgb[inside & (xx >= c)] = (0.1, 0.1, 0.9)
    return rgb


CFG = Config(faces=3000, texture_size=256, resolution=96)


def test_frames_scale_and_texture_sides():
    res = lift3d.reconstruct(_two_tone_photo(), CFG)
    m = res.mesh
    assert res.watertight and is_watertight(m.welded())
    lo, hi = m.bounds
    assert lo[1] == pytest.approx(0.0, abs=1e-6)
    assert hi[1] - lo[1] == pytest.approx(conventions.DEFAULT_HEIGHT_M, rel=1e-5)
    assert abs(lo[0] + hi[0]) < 1e-5 and abs(lo[2] + hi[2]) < 1e-5
    # The ellipse is 80 x 120 px: width / height = 2/3.
    assert (hi[0] - lo[0]) / (hi[1] - lo[1]) == pytest.approx(2 / 3, rel=0.05)
    # The photo's right is world +X: vertices there are blue, on the left red.
    col = m.vertex_colors().astype(float)
    right = m.vertices[:, 0] > 0.5 * hi[0]
    left = m.vertices[:, 0] < 0.5 * lo[0]
    assert col[right, 2].mean() > 150 and col[right, 0].mean() < 100
    assert col[left, 0].mean() > 150 and col[left, 2].mean() < 100
    # UVs are in [0, 1]; texture has no black texels.
    assert m.uv.min() >= 0 and m.uv.max() <= 1
    assert (m.texture.reshape(-1, 3).max(axis=1) > 0).all()
    # Normals point out of the solid: away from the centre on average.
    centre = m.vertices.mean(axis=0)
    assert np.mean(np.sum((m.vertices - centre) * m.normals, axis=1) > 0) > 0.95


def test_front_faces_plus_z():
    # A point in front of the object (nearer the camera: smaller camera z) must land
    # at larger world z.
    near = conventions.world_from_cam_points(np.array([[0.0, 0.0, 1.0]]))
    far = conventions.world_from_cam_points(np.array([[0.0, 0.0, 2.0]]))
    assert near[0, 2] > far[0, 2]
    # Camera +y (down in the image) is world -Y.
    assert conventions.world_from_cam_points(np.array([[0.0, 1.0, 0.0]]))[0, 1] < 0


@pytest.mark.parametrize("axis,name", [(0, "width"), (1, "height"), (2, "depth")])
def test_requested_size(axis, name):
    v = np.random.default_rng(0).normal(size=(50, 3))
    scale, offset = world_transform(v, Config(**{name: 2.5}))
    w = conventions.world_from_cam_points(v) * scale + offset
    assert np.ptp(w[:, axis]) == pytest.approx(2.5)
    assert w[:, 1].min() == pytest.approx(0.0)


def test_progress_events_cover_every_stage_in_order():
    events: list[ProgressEvent] = []
    res = lift3d.reconstruct(_two_tone_photo(), CFG, progress=events.append)
    started = [e.stage for e in events]
    assert started[-1] == "done"
    assert started[:-1] == list(e.stages[e.index] for e in events[:-1])
    assert [t.name for t in res.timings] == started[:-1]
    assert all(t.seconds >= 0 for t in res.timings)
    fr = [e.fraction for e in events]
    assert fr == sorted(fr) and fr[-1] == 1.0


def test_rgba_photo_uses_alpha():
    rgb = _two_tone_photo()
    alpha = (rgb.min(axis=2) < 0.99).astype(np.float32)
    res = lift3d.reconstruct(np.dstack([rgb, alpha]), CFG)
    assert res.segmentation.backend == "alpha"


def test_uniform_photo_has_no_object():
    with pytest.raises(NoObjectError):
        lift3d.reconstruct(np.full((100, 100, 3), 0.5, np.float32), CFG)


@pytest.mark.parametrize("kwargs", [dict(faces=5), dict(texture_size=1000), dict(uv="cube"),
                                    dict(height=-1.0), dict(height=1.0, width=1.0),
                                    dict(segment="magic"), dict(segment="file"),
                                    dict(thickness=0.0)])
def test_config_validation_names_the_argument(kwargs):
    with pytest.raises(InputError) as err:
        Config(**kwargs)
    assert any(k in str(err.value) for k in list(kwargs) + ["mask_path"])


def test_atlas_uv_mode_bakes_a_seamed_texture():
    pytest.importorskip("xatlas")
    res = lift3d.reconstruct(_two_tone_photo(), Config(faces=3000, texture_size=256,
                                                       resolution=96, uv="atlas"))
    m = res.mesh
    assert m.welded_index is not None and len(m.vertices) > m.welded_vertex_count
    assert is_watertight(m.welded())
    assert m.uv.min() >= 0 and m.uv.max() <= 1
    col = m.vertex_colors().astype(float)
    right = m.vertices[:, 0] > 0.5 * m.bounds[1][0]
    assert col[right, 2].mean() > 120


def test_point_cloud_lines_up_with_the_mesh(tmp_path):
    from lift3d.depthmap import depth_on_photo
    from lift3d.pipeline import _Clock, shape_from_photo

    photo_arr = _two_tone_photo()
    mesh = lift3d.reconstruct(photo_arr, CFG).mesh
    photo, _, crop, depth = shape_from_photo(photo_arr, CFG, _Clock((), None), CFG.resolution)
    _, pts = depth_on_photo(photo, crop, depth, CFG)
    lo, hi = mesh.bounds
    voxel = (hi[1] - lo[1]) / 60  # the ellipse is ~60 depth-camera pixels tall
    # Same placement rule: x and y extents agree, and the visible surface is the +Z side.
    np.testing.assert_allclose(pts.min(axis=0)[:2], lo[:2], atol=2 * voxel)
    np.testing.assert_allclose(pts.max(axis=0)[:2], hi[:2], atol=2 * voxel)
    assert pts[:, 2].max() == pytest.approx(hi[2], abs=2 * voxel)
    assert pts[:, 2].min() > lo[2] + voxel


def test_seam_copies_share_one_normal():
    import trimesh

    from lift3d.mesh import vertex_normals

    box = trimesh.creation.icosphere(subdivisions=2)
    # Split every vertex per face, as an atlas with a seam everywhere would.
    v = box.vertices[box.faces].reshape(-1, 3)
    f = np.arange(len(v)).reshape(-1, 3)
    split = vertex_normals(v, f, welded_index=box.faces.ravel())
    welded = vertex_normals(box.vertices, box.faces)
    np.testing.assert_allclose(split, welded[box.faces.ravel()], atol=1e-6)
    # Without the welded index each copy gets its own face's normal.
    assert not np.allclose(vertex_normals(v, f), split, atol=1e-3)
