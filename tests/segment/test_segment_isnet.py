"""The ``"isnet"`` segmentation backend, on a tiny stand-in model and (if installed) the real one.

The stand-in has ISNet's interface (``input`` ``(1, 3, S, S)``, ``output``
``(1, 1, S, S)`` in ``[0, 1]``) and computes ``sigmoid(gain * mean over channels)``:
with the ISNet normalisation ``(rgb8 - 128) / 256`` a white background maps to about
``sigmoid(-10)`` and a dark object to near 1, so its mask is the object.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lift3d import models
from lift3d.errors import NoObjectError
from lift3d.models import ModelNotInstalledError
from lift3d.segment import BACKENDS, segment
from lift3d.segment.isnet import drop_small_parts, isnet_alpha, require_isnet, segment_isnet
from lift3d.types import Photo


def disc_photo(h: int = 120, w: int = 200, radius: float = 35.0) -> tuple[Photo, np.ndarray]:
    """A dark disc on white, off-centre, non-square: ``(photo, true mask)``."""
    yy, xx = np.mgrid[0:h, 0:w]
    inside = np.hypot(xx - 0.6 * w, yy - 0.45 * h) < radius
    rgb = np.ones((h, w, 3), np.float32)
    rgb[inside] = (0.5, 0.15, 0.1)
    return Photo(rgb=rgb, alpha=None, source="<array>", original_size=(w, h)), inside


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / float((a | b).sum())


@pytest.fixture
def models_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "models"
    monkeypatch.setenv(models.ENV_MODELS_DIR, str(root))
    return root


def test_not_installed_says_how_to_install(models_root):
    photo, _ = disc_photo()
    with pytest.raises(ModelNotInstalledError, match="lift3d models install isnet") as info:
        segment(photo, "isnet")
    assert info.value.exit_code == 2
    assert str(models_root / "isnet") in str(info.value)


def test_registered_and_segments_the_object(models_root, write_tiny_isnet):
    write_tiny_isnet(models_root / "isnet" / "isnet_fp16.onnx")
    photo, truth = disc_photo()
    seg = segment(photo, "isnet")
    assert BACKENDS["isnet"] is segment_isnet
    assert seg.backend == "isnet"
    assert seg.alpha.shape == truth.shape and seg.alpha.dtype == np.float32
    assert 0.0 <= seg.alpha.min() and seg.alpha.max() <= 1.0
    assert iou(seg.binary, truth) > 0.9
    # Soft: the rim of a 32 px network mask resized to 200 px has in-between values.
    assert np.any((seg.alpha > 0.05) & (seg.alpha < 0.95))


def test_uniform_photo_has_no_object(models_root, write_tiny_isnet):
    write_tiny_isnet(models_root / "isnet" / "isnet_fp16.onnx")
    photo = Photo(rgb=np.ones((64, 64, 3), np.float32), alpha=None, source="<array>",
                  original_size=(64, 64))
    with pytest.raises(NoObjectError):
        segment(photo, "isnet")


def test_prefers_fp16_and_reloads_a_replaced_file(models_root, write_tiny_isnet):
    q8 = write_tiny_isnet(models_root / "isnet" / "isnet_quint8.onnx")
    assert require_isnet() == q8
    fp16 = write_tiny_isnet(models_root / "isnet" / "isnet_fp16.onnx")
    assert require_isnet() == fp16
    photo, truth = disc_photo()
    before = isnet_alpha(photo.rgb, fp16)
    # Same size, new mtime: the cached session must not be reused.
    write_tiny_isnet(fp16, gain=20.0)
    st = fp16.stat()
    os.utime(fp16, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    after = isnet_alpha(photo.rgb, fp16)
    assert iou(before > 0.5, truth) > 0.9 and iou(after > 0.5, ~truth) > 0.9


def test_isnet_alpha_validates_input(models_root, write_tiny_isnet):
    path = write_tiny_isnet(models_root / "isnet" / "isnet_fp16.onnx")
    with pytest.raises(ValueError, match="rgb"):
        isnet_alpha(np.zeros((10, 10), np.float32), path)


def test_broken_model_file_is_a_clear_error(models_root):
    bad = models_root / "isnet" / "isnet_fp16.onnx"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not onnx")
    photo, _ = disc_photo()
    with pytest.raises(models.ModelError, match="reinstall"):
        segment(photo, "isnet")


def test_drop_small_parts_keeps_object_and_its_soft_edge():
    a = np.zeros((100, 100), np.float32)
    a[20:70, 20:70] = 1.0
    a[19, 20:70] = 0.3  # soft edge of the object
    a[90, 10:20] = 1.0  # a 10 px stray line: 0.4% of the object
    a[95, 50:60] = 0.2  # faint haze on its own
    out = drop_small_parts(a)
    assert out[90].max() == 0.0 and out[95].max() == 0.0
    assert np.array_equal(out[:80], a[:80])


# --- the real model, only where it is installed ----------------------------------------------


def test_real_isnet_on_a_cutout(shared_photos, monkeypatch):
    """IoU against the true alpha of an RGBA render composited over white (one photo:
    a 1024 px network pass takes seconds on a laptop CPU)."""
    monkeypatch.delenv(models.ENV_MODELS_DIR, raising=False)
    if models.find_model("isnet") is None:
        pytest.skip("ISNet not installed (run `lift3d models install isnet`)")
    by_name = {p.name: p for p in shared_photos}
    name = "triposr_chair.png"
    if name not in by_name:
        pytest.skip(f"{name} is not in ../shared/data/photos")
    rgba = np.asarray(Image.open(by_name[name]).convert("RGBA"), np.float32) / 255.0
    alpha = rgba[..., 3]
    rgb = rgba[..., :3] * alpha[..., None] + (1.0 - alpha[..., None])
    photo = Photo(rgb=rgb.astype(np.float32), alpha=None, source=name,
                  original_size=(rgb.shape[1], rgb.shape[0]))
    seg = segment(photo, "isnet")
    # Measured 0.994 (quint8) and 0.996 (fp16); the margin is for library noise.
    assert iou(seg.binary, alpha > 0.5) > 0.95
