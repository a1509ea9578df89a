"""Synthetic scenes and renders: exact ground truth, ranges, determinism, every kind."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
import trimesh

from lift3d.errors import InputError
from lift3d.synth.lighting import contact_shadow, prepare_lighting, shade
from lift3d.synth.render import render_batch, render_photo, render_scenes
from lift3d.synth.scene import (
    APPEARANCE_KINDS,
    BACKGROUND_KINDS,
    LABEL_SHAPE,
    TEXTURE_PATTERNS,
    Lighting,
    project,
    sample_scene,
)
from lift3d.synth.types import Assets, SynthBatch, SynthMesh


def _mesh(m: trimesh.Trimesh, family: str, part=None) -> SynthMesh:
    v = np.asarray(m.vertices, np.float64)
    v = v - (v.min(0) + v.max(0)) / 2
    v = v / (v.max(0) - v.min(0)).max()
    p = np.zeros(len(m.faces), np.int16) if part is None else np.asarray(part, np.int16)
    return SynthMesh(v.astype(np.float32), np.asarray(m.faces, np.int64), p, family)


def _torus_y() -> trimesh.Trimesh:
    t = trimesh.creation.torus(0.35, 0.12, major_sections=32, minor_sections=12)
    t.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    return t


def _two_boxes() -> SynthMesh:
    a = trimesh.creation.box((1.0, 0.5, 0.5))
    b = trimesh.creation.box((0.4, 0.9, 0.4))
    b.apply_translation([0.2, 0.1, 0.0])
    both = trimesh.util.concatenate([a, b])
    return _mesh(both, "parts", [0] * len(a.faces) + [1] * len(b.faces))


SPHERE = _mesh(trimesh.creation.icosphere(3), "sphere")
BOX = _mesh(trimesh.creation.box((0.6, 1.0, 0.4)), "box")
TORUS = _mesh(_torus_y(), "torus")
PARTS = _two_boxes()
SIZE = 40


def _dirs(scene, size: int) -> np.ndarray:
    """Camera-frame pixel-centre ray directions ``(size, size, 3)`` with unit z."""
    c = (np.arange(size) + 0.5) * 2.0 / size - 1.0
    yn, xn = np.meshgrid(c, c, indexing="ij")
    a = math.tan(scene.fov / 2)
    return np.stack([(xn - scene.principal[0]) * a, (yn - scene.principal[1]) * a,
                     np.ones_like(xn)], axis=-1)


@pytest.fixture(scope="module")
def scenes():
    return [sample_scene(0, 0, overrides={"mesh": SPHERE}),
            sample_scene(0, 1, overrides={"mesh": BOX}),
            sample_scene(0, 2, overrides={"mesh": TORUS, "elevation": 0.0, "roll": 0.0}),
            sample_scene(0, 3, overrides={"mesh": PARTS})]


@pytest.fixture(scope="module")
def batch(scenes) -> SynthBatch:
    return render_scenes(scenes, SIZE)


def test_shapes_dtypes_and_ranges(batch):
    b, s = 4, SIZE
    shapes = {"image": (b, 3, s, s), "mask": (b, 1, s, s), "depth": (b, 4, s, s),
              "layer2": (b, 1, s, s), "normals": (b, 3, s, s), "back_rgb": (b, 3, s, s),
              "z_ref": (b,), "scale": (b,), "fov": (b,)}
    for name, shape in shapes.items():
        x = getattr(batch, name)
        assert tuple(x.shape) == shape, name
        assert x.dtype == torch.float32 and torch.isfinite(x).all(), name
    assert batch.image.min() >= 0 and batch.image.max() <= 1
    assert set(batch.mask.unique().tolist()) <= {0.0, 1.0}  # no supersampling
    assert set(batch.layer2.unique().tolist()) <= {0.0, 1.0}
    assert batch.back_rgb.min() >= 0 and batch.back_rgb.max() <= 1
    on = batch.mask[:, 0] > 0
    for i in range(b):  # every object fills a good part of its crop
        assert 0.15 < on[i].float().mean() < 0.95


def test_ground_truth_is_zero_off_the_object(batch):
    off = batch.mask[:, 0] == 0
    assert (batch.depth.permute(1, 0, 2, 3)[:, off] == 0).all()
    assert (batch.normals.permute(1, 0, 2, 3)[:, off] == 0).all()
    assert (batch.back_rgb.permute(1, 0, 2, 3)[:, off] == 0).all()
    assert (batch.layer2[:, 0][off] == 0).all()
    one = (batch.mask[:, 0] > 0) & (batch.layer2[:, 0] == 0)
    assert (batch.depth[:, 2][one] == 0).all() and (batch.depth[:, 3][one] == 0).all()


def test_layers_are_ordered(batch):
    on = batch.mask[:, 0] > 0
    front, back, front2, back2 = batch.depth.unbind(1)
    assert (back[on] > front[on]).all()
    two = batch.layer2[:, 0] > 0
    assert two[2].sum() > 10, "the torus seen edge-on shows its second layer"
    assert (front2[two] > back[two]).all() and (back2[two] > front2[two]).all()


def test_netio_normalisation(batch, scenes):
    on = batch.mask[:, 0] > 0
    for i, sc in enumerate(scenes):
        front = batch.depth[i, 0][on[i]]
        assert abs(float(front.median())) < 1e-6  # z_ref is the median front depth
        assert math.isclose(float(batch.fov[i]), sc.fov, rel_tol=1e-6)
        assert math.isclose(float(batch.scale[i]),
                            float(batch.z_ref[i]) * math.tan(sc.fov / 2), rel_tol=1e-5)


def test_sphere_depths_and_normals_are_exact(batch, scenes):
    sc = scenes[0]
    centre = sc.cam_from_object[:3, 3]
    on = (batch.mask[0, 0] > 0).numpy()
    d = _dirs(sc, SIZE)[on]
    z_ref, s = float(batch.z_ref[0]), float(batch.scale[0])
    for ch in (0, 1):
        z = z_ref + s * batch.depth[0, ch].numpy()[on]
        r = np.linalg.norm(d * z[:, None] - centre, axis=1)
        np.testing.assert_allclose(r, 0.5, atol=3e-3)  # icosphere(3) chord error
    p = d * (z_ref + s * batch.depth[0, 0].numpy()[on])[:, None]
    n = np.moveaxis(batch.normals[0].numpy(), 0, -1)[on]
    inner = np.linalg.norm(n - (p - centre) / 0.5, axis=1)
    assert np.percentile(inner, 95) < 0.03


def test_normals_are_unit_and_face_the_camera(batch, scenes):
    for i, sc in enumerate(scenes):
        on = (batch.mask[i, 0] > 0).numpy()
        n = np.moveaxis(batch.normals[i].numpy(), 0, -1)[on]
        np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-5)
        assert ((n * _dirs(sc, SIZE)[on]).sum(1) < 0).all()


def test_determinism_and_variety():
    s1 = [sample_scene(5, i, overrides={"mesh": TORUS}) for i in (0, 1)]
    s2 = [sample_scene(5, i, overrides={"mesh": TORUS}) for i in (0, 1)]
    b1, b2 = render_scenes(s1, 24), render_scenes(s2, 24)
    for f in ("image", "mask", "depth", "layer2", "normals", "back_rgb", "z_ref", "scale", "fov"):
        assert torch.equal(getattr(b1, f), getattr(b2, f)), f
    assert not torch.equal(b1.image[0], b1.image[1])
    # A pickled scene (as DataLoader workers send them) renders identically, and the
    # batch it is rendered in changes at most rounding.
    alone = render_scenes([s1[0]], 24)
    b3 = render_scenes([pickle.loads(pickle.dumps(s1[0]))], 24)
    assert torch.equal(b3.image, alone.image) and torch.equal(b3.depth, alone.depth)
    assert float((alone.image[0] - b1.image[0]).abs().mean()) < 1e-3


def test_scene_fit_is_exact():
    for i in range(8):
        sc = sample_scene(3, i, overrides={"mesh": (SPHERE, BOX, TORUS, PARTS)[i % 4]})
        m = sc.cam_from_object
        v = np.asarray(sc.mesh.vertices, np.float64) @ m[:3, :3].T + m[:3, 3]
        uv = project(v, sc.fov, sc.principal)
        lo, hi = uv.min(0), uv.max(0)
        assert math.isclose((hi - lo).max() / 2, sc.fill, abs_tol=1e-6)
        np.testing.assert_allclose((lo + hi) / 2, sc.offset, atol=1e-6)
        assert 0.6 <= sc.fill <= 0.95 and np.abs(sc.offset).max() <= 0.1
        assert lo.min() >= -1 and hi.max() <= 1  # never clipped by the crop
        assert math.radians(20) <= sc.fov <= math.radians(60)
        assert -10 <= sc.view[1] <= 50
        assert np.allclose(m[:3, :3] @ m[:3, :3].T, np.eye(3))


def test_every_appearance_and_background_kind_renders():
    kinds = [{"appearance": k} for k in APPEARANCE_KINDS]
    kinds += [{"background": k} for k in BACKGROUND_KINDS if k not in ("gradient", "texture")]
    kinds += [{"background": "gradient", "pattern": p} for p in ("vertical", "radial")]
    kinds += [{"background": "texture", "pattern": p} for p in TEXTURE_PATTERNS]
    scs = [sample_scene(11, i, overrides={"mesh": BOX if i % 2 else SPHERE, **ov})
           for i, ov in enumerate(kinds)]
    out = render_scenes(scs, 24)
    img = out.image
    assert torch.isfinite(img).all() and img.min() >= 0 and img.max() <= 1
    off = out.mask[:, 0] == 0
    for i, (sc, ov) in enumerate(zip(scs, kinds, strict=True)):
        assert sc.appearance.kind == ov.get("appearance", sc.appearance.kind)
        assert sc.background.kind == ov.get("background", sc.background.kind)
        bg = img[i].permute(1, 2, 0)[off[i]]
        if ov.get("background") == "texture":
            assert float(bg.std(0).max()) > 0.02, ov
        if ov.get("background") == "studio":
            assert float(bg.mean()) > 0.6, ov  # near white, shadows and vignette aside
    label = next(s for s in scs if s.appearance.kind == "label").appearance.label
    assert label.dtype == np.uint8 and label.shape == (*LABEL_SHAPE, 3) and label.std() > 10
    # Distinct backgrounds really differ.
    means = [float(img[i].permute(1, 2, 0)[off[i]].mean()) for i in range(len(scs))]
    assert len({round(m, 3) for m in means}) > len(scs) // 2


def _fake_assets() -> Assets:
    def hdr(c):
        env = np.ones((64, 128, 3), np.float32) * np.array(c, np.float32)
        env[:10] *= 4.0  # a bright sky band
        return env
    return Assets(meshes={}, hdris={"a": hdr([1, 0.5, 0.2]), "b": hdr([0.2, 0.5, 1]),
                                    "c": hdr([0.5, 1, 0.5])},
                  eval_meshes=(), eval_hdris=("c",))


def test_eval_split_uses_only_eval_hdris():
    assets = _fake_assets()
    ev = {sample_scene(0, i, "eval", assets, {"mesh": SPHERE}).lighting.env_name
          for i in range(12)}
    tr = {sample_scene(0, i, "train", assets, {"mesh": SPHERE}).lighting.env_name
          for i in range(24)}
    assert ev == {"hdri:c"}
    assert tr <= {"hdri:a", "hdri:b"} and len(tr) == 2
    sc = sample_scene(0, 0, "eval", assets, {"mesh": SPHERE, "background": "hdr"})
    out = render_scenes([sc], 24)
    assert torch.isfinite(out.image).all()
    with pytest.raises(InputError, match="hdri"):
        sample_scene(0, 0, "eval", assets, {"mesh": SPHERE, "hdri": "a"})


def test_supersampling_keeps_ground_truth_exact():
    sc = [sample_scene(2, 0, overrides={"mesh": TORUS})]
    one, two = render_scenes(sc, 24, ssaa=1), render_scenes(sc, 24, ssaa=2)
    for f in ("depth", "layer2", "normals", "back_rgb", "z_ref", "scale"):
        assert torch.equal(getattr(one, f), getattr(two, f)), f
    frac = two.mask[(two.mask > 0) & (two.mask < 1)]
    assert frac.numel() > 0  # edges are fractional coverage
    assert float((one.image - two.image).abs().mean()) < 0.05


def test_render_photo_and_batch():
    photo = render_photo(sample_scene(1, 0, overrides={"mesh": BOX}), 20)
    assert photo.dtype == np.uint8 and photo.shape == (20, 20, 3)
    with pytest.raises(InputError, match="size"):
        render_scenes([sample_scene(1, 0, overrides={"mesh": BOX})], 1)
    with pytest.raises(InputError, match="ssaa"):
        render_scenes([sample_scene(1, 0, overrides={"mesh": BOX})], 8, ssaa=0)


def test_bad_overrides_and_split():
    with pytest.raises(InputError, match="unknown"):
        sample_scene(0, 0, overrides={"mesh": BOX, "colour": 1})
    with pytest.raises(InputError, match="appearance"):
        sample_scene(0, 0, overrides={"mesh": BOX, "appearance": "chrome"})
    with pytest.raises(InputError, match="background"):
        sample_scene(0, 0, overrides={"mesh": BOX, "background": "beach"})
    with pytest.raises(InputError, match="split"):
        sample_scene(0, 0, "test", overrides={"mesh": BOX})


def test_real_shape_families_render():
    pytest.importorskip("lift3d.synth.shapes")
    out = render_batch(0, 0, 3, 24)
    assert torch.isfinite(out.image).all()
    assert (out.mask.flatten(1).sum(1) > 0).all()
    on = out.mask[:, 0] > 0
    assert (out.depth[:, 1][on] > out.depth[:, 0][on]).all()


def test_scene_module_imports_no_torch():
    code = ("import sys, lift3d.synth.scene, lift3d.synth.types; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_uniform_environment_shades_a_lambertian_surface_by_its_albedo():
    env = np.ones((64, 128, 3), np.float32)
    light = Lighting(env=env, env_name="test", yaw=0.0, env_gain=1.0,
                     key_dir=np.array([0, 1, 0], np.float32),
                     key_color=np.array([1, 1, 1], np.float32), exposure=1.0, tonemap="filmic")
    lt = prepare_lighting([light], torch.tensor([0.9]), torch.device("cpu"))
    n = torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]])
    v = torch.tensor([[[0.0, 0.6, 0.8], [0.8, 0.0, 0.6]]])
    alb = torch.full((1, 2, 3), 0.5)
    zero = torch.zeros(1)
    dark = shade(alb, n, v, torch.tensor([0.9]), zero, lt, torch.zeros(1, 2))
    # Irradiance pi from every direction: diffuse radiance = albedo, plus a little gloss.
    assert torch.all(dark >= 0.5 - 1e-3) and torch.all(dark <= 0.6)
    lit = shade(alb, n, v, torch.tensor([0.9]), zero, lt, torch.ones(1, 2))
    assert float(lit[0, 0, 0] - dark[0, 0, 0]) > 0.45  # the key light from straight above
    assert torch.allclose(lit[0, 1], dark[0, 1])  # ... does not reach a vertical face


def test_contact_shadow_darkens_the_floor_under_the_object_only():
    pts = torch.tensor([[[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.3, 0.0]]])
    ground = torch.tensor([[[0.05, 0.0, 0.0], [3.0, 0.0, 3.0], [0.05, 0.0, 0.0]]])
    valid = torch.tensor([[True, True, False]])
    f = contact_shadow(ground, valid, pts, torch.zeros(1), torch.tensor([[0.0, 1.0, 0.0]]),
                       torch.tensor([0.8]), torch.tensor([0.5]))
    assert float(f[0, 0]) < 0.6
    assert float(f[0, 1]) == pytest.approx(1.0, abs=1e-6)
    assert float(f[0, 2]) == 1.0
