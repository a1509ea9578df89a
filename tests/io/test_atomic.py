"""lift3d.io.atomic: temp-then-rename writes and the writable-directory check."""

from __future__ import annotations

import os

import pytest

import lift3d.io.atomic as atomic
from lift3d.errors import OutputError
from lift3d.io.atomic import atomic_path, atomic_paths, atomic_write_bytes, check_writable_dir


class Boom(RuntimeError):
    pass


def test_write_bytes_creates_and_overwrites(tmp_path):
    target = tmp_path / "a.bin"
    assert atomic_write_bytes(target, b"one") == target
    assert target.read_bytes() == b"one"
    atomic_write_bytes(str(target), b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_write_bytes_respects_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o644


def test_temp_name_and_place(tmp_path):
    target = tmp_path / "model.glb"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".model.glb.tmp-")
        assert tmp.suffix == ".glb"
        assert tmp.exists() and not target.exists()
        tmp.write_bytes(b"data")
    assert not tmp.exists()
    assert target.read_bytes() == b"data"


def test_exception_removes_temp_and_keeps_target(tmp_path):
    target = tmp_path / "model.txt"
    target.write_text("old")
    with pytest.raises(Boom):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise Boom()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.txt"]


def test_exception_leaves_no_file(tmp_path):
    with pytest.raises(Boom):
        with atomic_path(tmp_path / "new.txt") as tmp:
            tmp.write_text("half")
            raise Boom()
    assert list(tmp_path.iterdir()) == []


def test_os_error_becomes_output_error(tmp_path):
    target = tmp_path / "new.txt"
    with pytest.raises(OutputError, match="new.txt") as info:
        with atomic_path(target):
            raise OSError(28, "No space left on device")
    assert "No space left on device" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_rename_failure(tmp_path, monkeypatch):
    def fail(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OutputError, match="cannot write .*x.bin.*Permission denied"):
        atomic_write_bytes(tmp_path / "x.bin", b"x")
    assert list(tmp_path.iterdir()) == []


def test_missing_directory(tmp_path):
    with pytest.raises(OutputError, match="nope"):
        atomic_write_bytes(tmp_path / "nope" / "x.bin", b"x")


def test_group_all_or_nothing(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    with atomic_paths([a, b]) as (ta, tb):
        ta.write_text("a")
        tb.write_text("b")
    assert a.read_text() == "a" and b.read_text() == "b"

    c, d = tmp_path / "c.txt", tmp_path / "d.txt"
    with pytest.raises(Boom):
        with atomic_paths([c, d]) as (tc, _td):
            tc.write_text("c")
            raise Boom()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_group_rename_failure_rolls_back(tmp_path, monkeypatch):
    real = os.replace

    def flaky(src, dst):
        if str(dst).endswith("second.txt"):
            raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", flaky)
    with pytest.raises(OutputError, match="second.txt"):
        with atomic_paths([tmp_path / "first.txt", tmp_path / "second.txt"]) as temps:
            for t in temps:
                t.write_text("x")
    assert list(tmp_path.iterdir()) == []


def test_check_writable_dir_ok(tmp_path):
    assert check_writable_dir(tmp_path) == tmp_path
    assert check_writable_dir(str(tmp_path)) == tmp_path
    assert list(tmp_path.iterdir()) == []  # the probe file is gone


def test_check_writable_dir_missing(tmp_path):
    with pytest.raises(OutputError, match=r"output directory .*nope does not exist"):
        check_writable_dir(tmp_path / "nope")


def test_check_writable_dir_is_a_file(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(OutputError, match="is not a directory"):
        check_writable_dir(f)


def test_check_writable_dir_denied(tmp_path, monkeypatch):
    """Simulated, since root may write anywhere and os.access would not tell."""
    real = os.open

    def deny(path, flags, *args, **kwargs):
        if ".lift3d-write-test-" in str(path):
            raise PermissionError(13, "Permission denied")
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "open", deny)
    with pytest.raises(OutputError, match=r"output directory .* is not writable"):
        check_writable_dir(tmp_path)


def test_check_writable_dir_read_only_mode(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    try:
        if os.access(d, os.W_OK) or os.geteuid() == 0:
            pytest.skip("this user can write to a 0o555 directory")
        with pytest.raises(OutputError, match="not writable"):
            check_writable_dir(d)
    finally:
        d.chmod(0o755)
