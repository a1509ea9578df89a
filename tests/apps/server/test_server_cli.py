"""``lift3d serve`` on the command line: bad settings exit 2 with one clear line."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

pytest.importorskip("fastapi", reason="lift3d serve needs the [web] extra")

from serverkit import ServerProcess  # noqa: E402


def _serve(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lift3d", "serve", *args],
                          capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize("args, fragment", [
    (["--workers", "0"], "workers"),
    (["--port", "70000"], "port"),
    (["--max-queue", "0"], "max_queue"),
    (["--token", "short"], "token"),
    (["--root-path", "3d/"], "root_path"),
])
def test_bad_settings_exit_2(tmp_path, args, fragment):
    r = _serve("--data-dir", str(tmp_path), *args)
    assert r.returncode == 2, r.stderr
    assert fragment in r.stderr and "Traceback" not in r.stderr


def test_port_in_use_exits_2(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = _serve("--data-dir", str(tmp_path), "--port", str(port))
    assert r.returncode == 2 and "cannot listen" in r.stderr, r.stderr


def test_data_dir_in_use_exits_2(tmp_path):
    server = ServerProcess(tmp_path / "data")
    try:
        r = _serve("--data-dir", str(tmp_path / "data"), "--port", "1")
        assert r.returncode == 2 and "in use by another lift3d serve" in r.stderr, r.stderr
    finally:
        server.stop()


def test_missing_web_extra_names_the_install(tmp_path):
    code = ("import sys; sys.modules['fastapi'] = None; from lift3d.apps.cli import main; "
            f"sys.exit(main(['serve', '--data-dir', {str(tmp_path)!r}]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "lift3d[web]" in r.stderr, r.stderr


def test_help_documents_the_operations_options():
    r = subprocess.run([sys.executable, "-m", "lift3d", "serve", "--help"],
                       capture_output=True, text=True, timeout=60)
    for opt in ("--host", "--port", "--workers", "--data-dir", "--token", "--max-queue",
                "--retention-hours", "--root-path"):
        assert opt in r.stdout
