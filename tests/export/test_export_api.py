"""check_output_path and export dispatch."""

from __future__ import annotations

import os

import pytest

from lift3d.errors import InputError, OutputError
from lift3d.export import SUPPORTED_EXTENSIONS, check_output_path, export


def test_supported_extensions():
    assert SUPPORTED_EXTENSIONS == (".glb", ".obj", ".ply", ".stl", ".usdz")


def test_unsupported_extension(tmp_path):
    with pytest.raises(InputError, match=r"output: unsupported extension '\.xyz'; use one of"):
        check_output_path(tmp_path / "model.xyz")


def test_unsupported_extension_lists_choices(tmp_path):
    with pytest.raises(InputError) as info:
        check_output_path(tmp_path / "model.fbx")
    for ext in SUPPORTED_EXTENSIONS:
        assert ext in str(info.value)
    assert info.value.exit_code == 2


def test_missing_extension(tmp_path):
    with pytest.raises(InputError, match="no file extension"):
        check_output_path(tmp_path / "model")


def test_missing_directory(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(OutputError, match="does not exist") as info:
        check_output_path(missing / "model.glb")
    assert str(missing) in str(info.value)
    assert info.value.exit_code == 2


def test_file_in_place_of_directory(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="not a directory"):
        check_output_path(blocker / "model.glb")


def test_output_is_a_directory(tmp_path):
    (tmp_path / "model.glb").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        check_output_path(tmp_path / "model.glb")


def test_unwritable_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        probe = locked / "probe"
        try:
            probe.write_text("x")
        except PermissionError:
            pass
        else:  # root, or a filesystem that ignores modes
            probe.unlink()
            pytest.skip("the directory stays writable for this user")
        with pytest.raises(OutputError, match="not writable"):
            check_output_path(locked / "model.glb")
    finally:
        locked.chmod(0o755)


def test_case_insensitive_and_returns_path(tmp_path, sphere):
    p = check_output_path(str(tmp_path / "Model.GLB"))
    assert p == tmp_path / "Model.GLB"
    assert export(sphere, p) == [p]
    assert p.read_bytes()[:4] == b"glTF"


def test_relative_path(tmp_path, sphere, monkeypatch):
    monkeypatch.chdir(tmp_path)
    written = export(sphere, "model.stl")
    assert [os.fspath(w) for w in written] == ["model.stl"]
    assert (tmp_path / "model.stl").is_file()


def test_export_checks_path_before_writing(tmp_path, sphere):
    with pytest.raises(InputError):
        export(sphere, tmp_path / "model.xyz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext", [".glb", ".obj", ".ply", ".stl"])
def test_export_returns_every_file(tmp_path, sphere, ext):
    written = export(sphere, tmp_path / f"model{ext}")
    assert written[0] == tmp_path / f"model{ext}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
