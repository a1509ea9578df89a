"""The learned shape backend with a tiny stand-in network, and the pipeline around it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import lift3d
from lift3d.config import Config
from lift3d.errors import InputError, MissingExtraError
from lift3d.mesh import is_watertight, mesh_from_depth
from lift3d.shape import BACKENDS, estimate_shape, netio
from lift3d.shape.learned import DEFAULT_MODEL_PATH, learned_shape, network_input
from lift3d.types import Crop

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

GREEN = (0.1, 0.8, 0.1)
FRONT, BACK, FRONT2, BACK2 = (netio.STUB_FRONT, netio.STUB_BACK, netio.STUB_FRONT2,
                              netio.STUB_BACK2)
write_tiny_net = netio.write_stub_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    return write_tiny_net(tmp_path_factory.mktemp("net") / "tiny.onnx")


@pytest.fixture(scope="module")
def tiny2(tmp_path_factory) -> str:
    return write_tiny_net(tmp_path_factory.mktemp("net2") / "tiny2.onnx", layer2=True)


def _disc_crop(size: int = 96, r: float = 30.0, bg=(0.2, 0.2, 0.2)) -> Crop:
    yy, xx = np.mgrid[0:size, 0:size]
    c = (size - 1) / 2
    alpha = (np.hypot(xx - c, yy - c) < r).astype(np.float32)
    rgb = np.where(alpha[..., None] > 0, np.array(GREEN), np.array(bg)).astype(np.float32)
    return Crop(rgb=rgb, alpha=alpha, box=(0.0, 0.0, float(size), float(size)))


def _ellipse_photo(h: int = 150, w: int = 130) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    inside = ((xx - (w - 1) / 2) / 35) ** 2 + ((yy - (h - 1) / 2) / 50) ** 2 < 1
    rgb = np.ones((h, w, 3), np.float32)
    rgb[inside] = GREEN
    return rgb


# ----------------------------------------------------------------------------- backend


def test_learned_is_registered_next_to_prior():
    assert BACKENDS["learned"] is learned_shape and "prior" in BACKENDS
    assert DEFAULT_MODEL_PATH.name == "shape_net.onnx"
    assert DEFAULT_MODEL_PATH.parent.name == "weights"


def test_layered_depth_from_the_network(tiny):
    crop = _disc_crop()
    d = estimate_shape(crop, "learned", resolution=64, model_path=tiny)
    assert d.camera.model == "orthographic" and (d.camera.width, d.camera.height) == (64, 64)
    assert d.camera.fx == pytest.approx(32.0)  # the crop spans [-1, 1]
    # The mask is the crop's alpha (the segmentation decides the silhouette).
    np.testing.assert_allclose(d.mask, crop.resized(64).alpha, atol=1e-6)
    inside = d.mask >= 0.5
    assert np.isfinite(d.front).all() and np.isfinite(d.back).all()
    # The slab: constant thickness, centred on the prior's mid-plane.
    np.testing.assert_allclose((d.back - d.front)[inside], BACK - FRONT, atol=1e-5)
    from lift3d.shape.prior import MID_PLANE_Z

    np.testing.assert_allclose(0.5 * (d.front + d.back)[inside], MID_PLANE_Z, atol=1e-5)
    assert d.front2 is None and d.back2 is None and not d.has_layer2
    assert d.back_rgb.shape == (64, 64, 3) and d.back_rgb.dtype == np.float32
    assert (d.back_rgb[inside, 0] > 0.95).all() and (d.back_rgb[inside, 1:] < 0.05).all()
    np.testing.assert_allclose(np.linalg.norm(d.normals, axis=2), 1.0, atol=1e-5)
    m = mesh_from_depth(d, faces=2000)
    assert is_watertight(m)
    # The mesh spans the slab's depth.
    z = np.asarray(m.vertices)[:, 2]
    assert np.ptp(z) == pytest.approx(BACK - FRONT, abs=2 * 2 / 64)


def test_thickness_is_ignored_and_resolution_defaults_to_the_crop(tiny):
    crop = _disc_crop(size=80, r=25)
    a = learned_shape(crop, thickness=0.2, model_path=tiny)
    b = learned_shape(crop, thickness=3.0, model_path=tiny)
    assert a.front.shape == (80, 80)
    np.testing.assert_array_equal(a.front, b.front)
    np.testing.assert_array_equal(a.back, b.back)


def test_back_is_at_least_one_pixel_behind_front(tmp_path):
    # A network whose back lies in front of its front: decode clamps it to the front,
    # the backend pushes it one pixel further.
    path = write_tiny_net(tmp_path / "flat.onnx")
    m = onnx.load(path)
    b = onnx.numpy_helper.to_array(m.graph.initializer[1]).copy()
    b[netio.CH_BACK] = -0.5
    m.graph.initializer[1].CopyFrom(onnx.numpy_helper.from_array(b, "b"))
    onnx.save(m, path)
    d = learned_shape(_disc_crop(), resolution=48, model_path=path)
    inside = d.mask >= 0.5
    assert ((d.back - d.front)[inside] >= 2.0 / 48 - 1e-6).all()
    assert is_watertight(mesh_from_depth(d, faces=1000))


def test_the_network_sees_the_object_over_white():
    crop = _disc_crop(bg=(0.0, 0.0, 0.0))
    x = network_input(crop.rgb, crop.alpha)
    c = netio.INPUT_SIZE // 2
    assert x.shape == (netio.INPUT_SIZE, netio.INPUT_SIZE, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0], 1.0)
    np.testing.assert_allclose(x[c, c], GREEN, atol=1e-3)


def test_depth_is_extrapolated_where_the_network_sees_no_object(tiny):
    # The right half of the disc is white: the network calls it background, but the
    # segmentation's alpha says object, so it must still get depth.
    crop = _disc_crop(size=96, r=30)
    rgb = crop.rgb.copy()
    rgb[:, 48:] = 1.0
    crop = Crop(rgb=rgb, alpha=crop.alpha, box=crop.box)
    d = learned_shape(crop, resolution=96, model_path=tiny)
    inside = d.mask >= 0.5
    assert inside[:, 60:].any()
    np.testing.assert_allclose((d.back - d.front)[inside], BACK - FRONT, atol=1e-5)
    m = mesh_from_depth(d, faces=2000)
    assert is_watertight(m)
    # The mesh covers the whole silhouette, not only the half the network saw.
    x = np.asarray(m.vertices)[:, 0]
    assert x.max() == pytest.approx(30 / 48, abs=0.05)
    assert x.min() == pytest.approx(-30 / 48, abs=0.05)


def test_second_layer_lies_behind_the_first_and_meshes_closed(tiny2):
    d = learned_shape(_disc_crop(), resolution=64, model_path=tiny2)
    inside = d.mask >= 0.5
    assert d.has_layer2
    assert np.isfinite(d.front2[inside]).all() and np.isnan(d.front2[~inside]).all()
    assert (d.front2[inside] >= d.back[inside]).all()
    assert (d.back2[inside] >= d.front2[inside] + 2.0 / 64 - 1e-6).all()
    np.testing.assert_allclose((d.front2 - d.front)[inside], FRONT2 - FRONT, atol=1e-5)
    m = mesh_from_depth(d, faces=3000)
    assert is_watertight(m)
    z = np.asarray(m.vertices)[:, 2]
    assert z.max() == pytest.approx(float(d.back2[inside].max()), abs=2 * 2 / 64)


# ----------------------------------------------------------------------------- errors


def test_missing_weights_name_the_path_and_the_fallback(tmp_path):
    missing = tmp_path / "nowhere" / "shape_net.onnx"
    with pytest.raises(InputError) as err:
        learned_shape(_disc_crop(), model_path=missing)
    msg = str(err.value)
    assert str(missing) in msg and "--shape prior" in msg and "\n" not in msg


def test_corrupt_model_is_a_one_line_input_error(tmp_path):
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"this is not a protobuf \x00\x01\x02" * 50)
    with pytest.raises(InputError) as err:
        learned_shape(_disc_crop(), model_path=bad)
    msg = str(err.value)
    assert str(bad) in msg and "\n" not in msg and len(msg) < 400


def test_model_with_other_io_names_is_refused(tmp_path):
    path = write_tiny_net(tmp_path / "other.onnx", input_name="x")
    with pytest.raises(InputError, match="not a lift3d shape network"):
        learned_shape(_disc_crop(), model_path=path)


def test_missing_onnxruntime_names_the_package(tmp_path, monkeypatch):
    path = write_tiny_net(tmp_path / "fresh.onnx")  # not in the session cache yet
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingExtraError, match="onnxruntime"):
        learned_shape(_disc_crop(), model_path=path)


def test_model_path_is_refused_by_the_prior(tiny):
    with pytest.raises(InputError, match="model_path"):
        estimate_shape(_disc_crop(), "prior", model_path=tiny)
    # ... but None means "not given".
    assert estimate_shape(_disc_crop(), "prior", model_path=None).front.shape == (96, 96)


def test_importing_lift3d_does_not_import_onnxruntime():
    code = ("import sys, lift3d, lift3d.shape, lift3d.segment; "
            "lift3d.Config(shape='learned', segment='learned', uv='two-sided'); "
            "bad = [m for m in ('onnxruntime', 'torch', 'onnx') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- config


def test_config_accepts_the_new_backends_and_modes(tmp_path):
    c = Config(shape="learned", segment="learned", uv="two-sided", model_path=tmp_path / "m.onnx")
    assert c.model_path == str(tmp_path / "m.onnx")
    assert Config(segment="isnet").segment == "isnet"
    for kwargs, name in ((dict(shape="magic"), "shape"), (dict(uv="three-sided"), "uv"),
                         (dict(segment="magic"), "segment"), (dict(model_path=3), "model_path")):
        with pytest.raises(InputError, match=name):
            Config(**kwargs)


# ----------------------------------------------------------------------------- pipeline


UV_MODES = ["projective", "atlas", "xatlas", "two-sided"]


@pytest.mark.parametrize("uv", UV_MODES)
def test_pipeline_with_the_learned_backend_is_watertight(tiny, uv):
    if uv in ("atlas", "xatlas"):
        pytest.importorskip("xatlas")
    from lift3d.render.view import render_view

    cfg = Config(shape="learned", model_path=tiny, uv=uv, faces=2000, texture_size=256,
                 resolution=64)
    res = lift3d.reconstruct(_ellipse_photo(), cfg)
    m = res.mesh
    assert res.watertight and is_watertight(m.welded())
    assert res.layered_depth.back_rgb is not None
    if uv == "projective":
        assert m.welded_index is None
    else:
        assert m.welded_index is not None and len(m.vertices) > m.welded_vertex_count
    assert m.uv.min() >= 0 and m.uv.max() <= 1
    # The photo's green is in front; the back shows the predicted red, except with
    # projective UVs, which can only mirror the photo.
    front = render_view(m, 0.0, 0.0, size=48, shadow=False)[24, 24].astype(int)
    back = render_view(m, 180.0, 0.0, size=48, shadow=False)[24, 24].astype(int)
    assert front[1] > 2 * front[0]
    if uv == "projective":
        assert back[1] > 2 * back[0]
    else:
        assert back[0] > 3 * back[1]


def test_pipeline_second_layer_and_learned_segmentation(tiny2):
    cfg = Config(shape="learned", segment="learned", model_path=tiny2, faces=2000,
                 texture_size=256, resolution=64, uv="two-sided")
    res = lift3d.reconstruct(_ellipse_photo(), cfg)
    assert res.segmentation.backend == "learned"
    assert res.layered_depth.has_layer2
    assert res.watertight and is_watertight(res.mesh.welded())


def test_depth_cloud_lines_up_with_a_two_layer_mesh(tiny2):
    from lift3d.depthmap import depth_on_photo
    from lift3d.pipeline import _Clock, shape_from_photo

    cfg = Config(shape="learned", model_path=tiny2, faces=2000, texture_size=256, resolution=64)
    photo_arr = _ellipse_photo()
    mesh = lift3d.reconstruct(photo_arr, cfg).mesh
    photo, _, crop, depth = shape_from_photo(photo_arr, cfg, _Clock((), None), cfg.resolution)
    _, pts = depth_on_photo(photo, crop, depth, cfg)
    lo, hi = mesh.bounds
    voxel = (hi[1] - lo[1]) / 50  # the ellipse is ~50 depth-camera pixels tall
    np.testing.assert_allclose(pts.min(axis=0)[:2], lo[:2], atol=2 * voxel)
    np.testing.assert_allclose(pts.max(axis=0)[:2], hi[:2], atol=2 * voxel)
    # The visible surface is the front of the first layer, the mesh's +Z side.
    assert pts[:, 2].max() == pytest.approx(hi[2], abs=2 * voxel)
