"""The ``learned`` segmentation backend (the shape network's mask), with a tiny network."""

from __future__ import annotations

import numpy as np
import pytest

from lift3d.errors import InputError, NoObjectError
from lift3d.segment import BACKENDS, LazyBackend, segment
from lift3d.segment.learned import letterbox, segment_learned
from lift3d.shape import netio
from lift3d.types import Photo

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    return netio.write_stub_model(tmp_path_factory.mktemp("net") / "tiny.onnx")


def _photo(h: int = 180, w: int = 260, cx: float = 170.0, cy: float = 80.0,
           rx: float = 40.0, ry: float = 55.0) -> tuple[Photo, np.ndarray]:
    """A green ellipse off-centre on white, and its true mask."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1
    rgb = np.ones((h, w, 3), np.float32)
    rgb[inside] = (0.1, 0.7, 0.2)
    return Photo(rgb=rgb, alpha=None, source="<array>", original_size=(w, h)), inside


def test_letterbox_keeps_the_aspect_and_pads_with_edges():
    rgb = np.zeros((50, 100, 3), np.float32)
    rgb[:, :, 0] = np.linspace(0, 1, 100)[None, :]
    sq, (left, top, w, h) = letterbox(rgb, 64)
    assert sq.shape == (64, 64, 3) and (left, top, w, h) == (0, 16, 64, 32)
    # Rows above and below repeat the first and last image rows.
    np.testing.assert_allclose(sq[0], sq[top], atol=1e-6)
    np.testing.assert_allclose(sq[-1], sq[top + h - 1], atol=1e-6)


def test_learned_segmentation_finds_the_object(tiny):
    photo, truth = _photo()
    seg = segment(photo, "learned", model_path=tiny)
    assert seg.backend == "learned"
    assert seg.alpha.shape == truth.shape and seg.alpha.dtype == np.float32
    assert 0.0 <= seg.alpha.min() and seg.alpha.max() <= 1.0
    found = seg.alpha >= 0.5
    iou = (found & truth).sum() / (found | truth).sum()
    assert iou > 0.95
    # Soft only along the edge: far from it the alpha is exactly 0 or 1.
    assert seg.alpha[80, 170] == 1.0 and seg.alpha[5, 5] == 0.0


def test_learned_segmentation_on_a_tall_photo(tiny):
    photo, truth = _photo(h=300, w=120, cx=60, cy=200, rx=30, ry=60)
    seg = segment_learned(photo, model_path=tiny)
    assert seg.alpha.shape == (300, 120)
    found = seg.alpha >= 0.5
    assert (found & truth).sum() / (found | truth).sum() > 0.95


def test_no_object_is_reported(tiny):
    photo = Photo(rgb=np.ones((90, 120, 3), np.float32), alpha=None, source="<array>",
                  original_size=(120, 90))
    with pytest.raises(NoObjectError):
        segment_learned(photo, model_path=tiny)


def test_missing_model_is_an_input_error(tmp_path):
    photo, _ = _photo()
    with pytest.raises(InputError, match="not found"):
        segment(photo, "learned", model_path=tmp_path / "none.onnx")


def test_options_a_backend_does_not_take_are_refused(tiny):
    photo, _ = _photo()
    with pytest.raises(InputError, match="model_path"):
        segment(photo, "classical", model_path=tiny)


def test_lazy_backends_are_registered_and_load_on_use():
    assert "learned" in BACKENDS and "isnet" in BACKENDS
    lazy = LazyBackend("nothing", "no_such_backend_module", "segment_nothing")
    with pytest.raises(InputError, match="nothing"):
        lazy.load()
    assert LazyBackend("learned", "learned", "segment_learned").load() is segment_learned
