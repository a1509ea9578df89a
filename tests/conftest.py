"""Shared fixtures: tiny synthetic photos, and the real data in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; skips the test when it is missing."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED} (tests on real data need it)")
    return SHARED


@pytest.fixture(scope="session")
def shared_photos(shared_data: Path) -> list[Path]:
    photos = sorted(p for p in (shared_data / "photos").iterdir() if p.is_file())
    if not photos:
        pytest.skip(f"no photos in {shared_data / 'photos'}")
    return photos


def make_disc_photo(size: int = 160, radius: float = 0.3, bg=(1.0, 1.0, 1.0),
                    fg=(0.8, 0.2, 0.1), alpha: bool = False) -> np.ndarray:
    """A synthetic photo of a disc: ``(size, size, 3|4)`` float32 in ``[0, 1]``."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (size - 1) / 2
    r = np.hypot(xx - c, yy - c) / size
    inside = (r < radius).astype(np.float32)
    shade = 1.0 - 0.5 * (r / radius) ** 2
    rgb = np.where(inside[..., None] > 0, np.array(fg) * shade[..., None], np.array(bg))
    rgb = rgb.astype(np.float32)
    if alpha:
        return np.concatenate([rgb, inside[..., None]], axis=2)
    return rgb


@pytest.fixture
def disc_photo() -> np.ndarray:
    return make_disc_photo()


@pytest.fixture(scope="session")
def write_tiny_isnet():
    """``write(path, gain=-20.0, side=32) -> path``: a tiny ONNX model with ISNet's
    interface, ``sigmoid(gain * mean_c(input))`` (dark pixels are foreground)."""
    onnx = pytest.importorskip("onnx")
    h, tp = onnx.helper, onnx.TensorProto

    def write(path: Path, gain: float = -20.0, side: int = 32) -> Path:
        nodes = [h.make_node("ReduceMean", ["input"], ["m"], axes=[1], keepdims=1),
                 h.make_node("Mul", ["m", "k"], ["z"]),
                 h.make_node("Sigmoid", ["z"], ["output"])]
        graph = h.make_graph(
            nodes, "tiny_isnet",
            [h.make_tensor_value_info("input", tp.FLOAT, [1, 3, side, side])],
            [h.make_tensor_value_info("output", tp.FLOAT, [1, 1, side, side])],
            initializer=[h.make_tensor("k", tp.FLOAT, [], [gain])])
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13)])
        model.ir_version = 8
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(model.SerializeToString())
        return path

    return write


@pytest.fixture(scope="module")
def bench_module():
    """``bench_module("eval_shape")``: a script of ``bench/`` imported as a module (bench/
    is not a package); taken out of ``sys.modules`` again after the test module."""
    import importlib.util
    import sys

    loaded: list[str] = []

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # dataclasses in the script look their module up by name
        loaded.append(name)
        spec.loader.exec_module(mod)
        return mod

    yield load
    for name in loaded:
        sys.modules.pop(name, None)
