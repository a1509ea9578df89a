"""COLMAP's CUDA PatchMatch route: everything but the CUDA kernel, on tiny local files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lift3d.errors import InputError
from lift3d.multiview import colmap_dense
from lift3d.multiview.colmap_dense import read_colmap_array


def _write_colmap_array(path: Path, arr: np.ndarray) -> None:
    a = arr if arr.ndim == 3 else arr[:, :, None]
    h, w, c = a.shape
    header = f"{w}&{h}&{c}&".encode()
    body = np.transpose(a, (1, 0, 2)).astype(np.float32).ravel(order="F").tobytes()
    path.write_bytes(header + body)


@pytest.mark.parametrize("shape", [(5, 7), (4, 6, 3)])
def test_read_colmap_array_round_trip(tmp_path: Path, shape) -> None:
    arr = np.random.default_rng(0).random(shape).astype(np.float32)
    _write_colmap_array(tmp_path / "a.bin", arr)
    np.testing.assert_array_equal(read_colmap_array(tmp_path / "a.bin"), arr)


@pytest.mark.parametrize("data", [b"no header at all", b"3&2&1&" + b"\x00" * 8,
                                  b"x&2&1&" + b"\x00" * 8])
def test_read_colmap_array_rejects_bad_files(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "b.bin").write_bytes(data)
    with pytest.raises(InputError, match="b.bin"):
        read_colmap_array(tmp_path / "b.bin")


def test_colmap_backend_without_cuda_says_what_to_install(monkeypatch, tmp_path: Path) -> None:
    pytest.importorskip("pycolmap")
    monkeypatch.setattr(colmap_dense, "cuda_available", lambda: False)
    with pytest.raises(InputError, match="pycolmap-cuda12"):
        colmap_dense.patch_match_depth_maps(tmp_path, tmp_path, tmp_path / "w", 640)
