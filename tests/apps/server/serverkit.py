"""Helpers the server tests share: images, a real server in a subprocess, waiting."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[3]
MUG = REPO / "examples" / "mug.jpg"

#: Small, fast job options for tests.
FAST = {"faces": "3000", "texture_size": "256"}


def png_bytes(rgb: np.ndarray | None = None, size=(64, 48)) -> bytes:
    if rgb is None:
        rgb = np.full((size[1], size[0], 3), 200, np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``lift3d serve`` in a subprocess on a free loopback port."""

    def __init__(self, data_dir: Path, *args: str, log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log or data_dir.parent / f"server-{self.port}.log"
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lift3d", "serve", "--port", str(self.port),
             "--data-dir", str(data_dir), *args],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}): "
                                   f"{self.log.read_text()[-2000:]}")
            try:
                r = httpx.get(self.url + "/healthz", timeout=2)
                if r.status_code == 200 and r.json()["workers"]["alive"] > 0:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"server not healthy in {timeout} s: {self.log.read_text()[-2000:]}")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the server's process (its workers die with it)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(30)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()


def wait_state(get, job_id: str, states, timeout: float = 120.0, poll: float = 0.05) -> dict:
    """Poll ``get(url) -> response`` until the job is in one of ``states``."""
    end = time.monotonic() + timeout
    while True:
        body = get(f"/v1/jobs/{job_id}").json()
        if body.get("state") in states:
            return body
        if time.monotonic() > end:
            raise TimeoutError(f"job {job_id} still {body.get('state')} after {timeout} s")
        time.sleep(poll)
