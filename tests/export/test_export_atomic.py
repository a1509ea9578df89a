"""A failing export leaves neither its outputs nor temporary files behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import lift3d.io.atomic as atomic
from lift3d.errors import OutputError
from lift3d.export import export

ALL = [".glb", ".obj", ".ply", ".stl", ".usdz"]


class Boom(RuntimeError):
    pass


def _skip_without_usd(ext: str) -> None:
    if ext == ".usdz":
        pytest.importorskip("pxr")


@pytest.mark.parametrize("ext", ALL)
def test_failure_after_data_written_leaves_nothing(tmp_path, sphere, monkeypatch, ext):
    """The writer fails once the data sits in the temporary files, before renaming."""
    _skip_without_usd(ext)
    seen: list[Path] = []

    def boom(path):
        seen.append(Path(path))
        assert Path(path).stat().st_size > 0  # it really was midway
        raise Boom("disk on fire")

    monkeypatch.setattr(atomic, "_fsync_file", boom)
    with pytest.raises(Boom):
        export(sphere, tmp_path / f"model{ext}")
    assert seen and all(p.parent == tmp_path for p in seen)
    assert list(tmp_path.iterdir()) == []


def test_obj_failing_midway_leaves_none_of_its_files(tmp_path, sphere, monkeypatch):
    """The PNG is written, then writing the MTL fails."""
    real = Path.write_text

    def boom(self, *args, **kwargs):
        real(self, "partial", encoding="utf-8")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", boom)
    with pytest.raises(OutputError, match="No space left"):
        export(sphere, tmp_path / "model.obj")
    assert list(tmp_path.iterdir()) == []


def test_obj_failing_rename_rolls_back(tmp_path, sphere, monkeypatch):
    """The PNG and MTL are renamed into place, then renaming the OBJ fails."""
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append(dst)
        if str(dst).endswith(".obj"):
            raise PermissionError(13, "Permission denied")
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", flaky)
    with pytest.raises(OutputError, match="model.obj"):
        export(sphere, tmp_path / "model.obj")
    assert len(calls) == 3
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext", [".glb", ".stl"])
def test_failed_overwrite_keeps_old_file(tmp_path, sphere, monkeypatch, ext):
    path = tmp_path / f"model{ext}"
    export(sphere, path)
    before = path.read_bytes()

    def fail(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OutputError):
        export(sphere, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_encoding_failure_writes_nothing(tmp_path, sphere, monkeypatch):
    import lift3d.export.gltf as gltf

    def boom(*args, **kwargs):
        raise Boom("encoder bug")

    monkeypatch.setattr(gltf, "png_bytes", boom)
    with pytest.raises(Boom):
        export(sphere, tmp_path / "model.glb")
    assert list(tmp_path.iterdir()) == []
