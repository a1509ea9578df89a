"""The shipped shape network on CPU: synthetic renders with known depth, and real photos."""

from __future__ import annotations

import numpy as np
import pytest

from lift3d import Config
from lift3d.shape import learned
from lift3d.shape.prior import MID_PLANE_Z
from lift3d.types import Crop

pytest.importorskip("onnxruntime")
if not learned.default_model_path().is_file():
    pytest.skip("the packaged shape_net.onnx is missing", allow_module_level=True)


@pytest.fixture(scope="module")
def renders():
    """Four held-out synthetic scenes at the network's size, with exact ground truth."""
    pytest.importorskip("torch")
    from lift3d.synth.render import render_scenes
    from lift3d.synth.scene import sample_scene
    from lift3d.synth.shapes import sample_mesh

    scenes = []
    for i, fam in enumerate(("box", "cylinder", "assembly", "revolve")):
        mesh = sample_mesh(np.random.default_rng(100 + i), "eval", None, family=fam)
        scenes.append(sample_scene(7, i, split="eval", overrides={"mesh": mesh}))
    return render_scenes(scenes, size=128)


def _depth_errors(depth, batch, i):
    """Mean absolute front and thickness errors inside the true mask (crop half-widths)."""
    inside = batch.mask[i, 0].numpy() > 0.5
    gt_front = batch.depth[i, 0].numpy()
    gt_thick = batch.depth[i, 1].numpy() - gt_front
    front = depth.front - MID_PLANE_Z
    # Depth is defined up to a shift: compare both about their medians.
    front = front - np.median(front[inside])
    gt_front = gt_front - np.median(gt_front[inside])
    thick = depth.back - depth.front
    return (float(np.abs(front - gt_front)[inside].mean()),
            float(np.abs(thick - gt_thick)[inside].mean()))


def test_learned_depth_beats_the_prior_on_held_out_renders(renders):
    from lift3d.shape.prior import prior_shape

    learned_err, prior_err = [], []
    for i in range(renders.image.shape[0]):
        rgb = renders.image[i].permute(1, 2, 0).numpy().astype(np.float32)
        alpha = renders.mask[i, 0].numpy().astype(np.float32)
        crop = Crop(rgb=rgb, alpha=alpha, box=(0.0, 0.0, 128.0, 128.0))
        d = learned.learned_shape(crop, resolution=128)
        assert np.all(d.back >= d.front)
        learned_err.append(_depth_errors(d, renders, i))
        prior_err.append(_depth_errors(prior_shape(crop, resolution=128), renders, i))
    learned_thick = np.mean([e[1] for e in learned_err])
    prior_thick = np.mean([e[1] for e in prior_err])
    assert learned_thick < prior_thick, (learned_err, prior_err)
    assert np.mean([e[0] for e in learned_err]) < 0.2


def test_learned_is_the_default_and_meshes_real_photos_watertight(shared_data):
    from lift3d.pipeline import reconstruct

    assert Config().shape == "learned"
    for name in ("triposr_chair.png", "instantmesh_fox.jpg"):
        path = shared_data / "photos" / name
        if not path.is_file():
            pytest.skip(f"{name} not in the shared photos")
        result = reconstruct(path, Config(texture_size=256, faces=5000))
        assert result.watertight, name
        assert result.layered_depth.back_rgb is not None
        extent = np.ptp(result.mesh.vertices, axis=0)
        # A real object has depth: not the prior's thin pebble, not a flat card.
        assert extent[2] > 0.15 * extent[1], (name, extent)
