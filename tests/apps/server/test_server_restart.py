"""A real ``lift3d serve`` process killed and restarted: no job is lost."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="lift3d serve needs the [web] extra")
httpx = pytest.importorskip("httpx", reason="the server tests need httpx")

from serverkit import FAST, MUG, ServerProcess, wait_state  # noqa: E402

SLOW = {"texture_size": "2048", "faces": "40000"}


def _children(pid: int) -> set[int]:
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids |= {int(x) for x in (task / "children").read_text().split()}
        except OSError:
            pass
    return kids


def _workers(pid: int) -> set[int]:
    out = set()
    for k in _children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes() and \
                    b"resource_tracker" not in Path(f"/proc/{k}/cmdline").read_bytes():
                out.add(k)
        except OSError:
            pass
    return out


def _gone(pids: set[int], timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not any(Path(f"/proc/{p}").exists() and
                   "Z" not in Path(f"/proc/{p}/stat").read_text().split()[2:3] for p in pids):
            return True
        time.sleep(0.1)
    return False


def _submit(url: str, data: dict) -> str:
    r = httpx.post(url + "/v1/jobs", files=[("files", ("mug.jpg", MUG.read_bytes(),
                                                       "image/jpeg"))], data=data, timeout=30)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def test_restart_mid_job_loses_nothing(tmp_path):
    data = tmp_path / "data"
    server = ServerProcess(data, "--workers", "1")
    try:
        done_id = _submit(server.url, FAST)
        assert wait_state(server.get, done_id, ("done", "failed"))["state"] == "done"
        glb = server.get(f"/v1/jobs/{done_id}/files/model.glb").content

        running_id = _submit(server.url, SLOW)
        queued_id = _submit(server.url, FAST)
        wait_state(server.get, running_id, ("running",), poll=0.02)
        workers = _workers(server.proc.pid)
        assert len(workers) == 1
        server.kill(signal.SIGKILL)  # a crash: no shutdown code runs
        # The worker must not outlive the server and finish a job behind its back.
        assert _gone(workers), "a worker outlived the killed server"
    finally:
        server.stop()

    server = ServerProcess(data, "--workers", "1")
    try:
        assert server.get(f"/v1/jobs/{done_id}").json()["state"] == "done"
        assert server.get(f"/v1/jobs/{done_id}/files/model.glb").content == glb
        resumed = wait_state(server.get, running_id, ("done", "failed"), timeout=180)
        assert resumed["state"] == "done", resumed["error"]
        assert resumed["attempts"] == 2 and "restart" in resumed["note"]
        assert wait_state(server.get, queued_id, ("done", "failed"))["state"] == "done"
        listing = {j["id"] for j in server.get("/v1/jobs").json()["jobs"]}
        assert {done_id, running_id, queued_id} <= listing

        # A clean stop (SIGTERM) re-queues the running job without counting the try.
        stopped_id = _submit(server.url, SLOW)
        wait_state(server.get, stopped_id, ("running",), poll=0.02)
        server.proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down cleanly, then re-raises the signal for the exit status.
        assert server.proc.wait(30) in (0, -signal.SIGTERM)
        assert "re-queued for the next start" in server.log.read_text()
    finally:
        server.stop()

    server = ServerProcess(data, "--workers", "1")
    try:
        again = wait_state(server.get, stopped_id, ("done", "failed"), timeout=180)
        assert again["state"] == "done" and again["attempts"] == 1

        # A worker that crashes mid-job is replaced and its job runs again.
        crash_id = _submit(server.url, SLOW)
        wait_state(server.get, crash_id, ("running",), poll=0.02)
        (victim,) = _workers(server.proc.pid)
        os.kill(victim, signal.SIGKILL)
        after = wait_state(server.get, crash_id, ("done", "failed"), timeout=180)
        assert after["state"] == "done" and after["attempts"] == 2
        assert "worker process stopped" in after["note"]
        assert server.get("/healthz").json()["workers"]["alive"] == 1
    finally:
        server.stop()
