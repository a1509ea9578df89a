"""Worker processes that run jobs, and the supervisor that keeps them alive.

Jobs never run in the web server's process: each of ``workers`` processes claims the
oldest queued job from the store, runs the pipeline into the job's ``out`` folder and
records the outcome. The supervisor (a thread of the server) restarts a worker that
died and re-queues (or fails) its job, stops jobs past the timeout, finishes
cancellations and removes files past the retention period.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import shutil
import signal
import threading
import time
from pathlib import Path

from ...errors import error_code, one_line
from ...io.process import die_with_parent
from .config import ServerConfig
from .store import Job, JobError, JobResult, JobStore, Progress

log = logging.getLogger("lift3d.serve.worker")

#: Seconds between a worker's looks at the queue when idle.
POLL_S = 0.2
#: Progress is written at most this often (and at every stage change).
REPORT_EVERY_S = 0.25


class _Lost(Exception):
    """The job is no longer this worker's (cancelled, timed out, re-queued)."""


def error_of(exc: BaseException) -> JobError:
    """The job error for an exception from the pipeline."""
    code = error_code(exc)
    if code == "out_of_memory":
        return JobError(code, "out of memory: try fewer faces or a smaller texture")
    if code == "internal":
        return JobError(code, "internal error while making the model; the server log has "
                              "the details")
    return JobError(code, one_line(exc, 400))


def run_job(job: Job, job_dir: Path, progress) -> JobResult:
    """Run ``job``'s pipeline on ``job_dir/input`` into ``job_dir/out``."""
    from ...deliver import deliver

    inputs = [job_dir / "input" / i.stored for i in job.inputs]
    # One image or one video as it is; several photos as their folder (only they are in it).
    source = inputs[0] if len(inputs) == 1 else job_dir / "input"
    o = job.options
    delivery = deliver(source, job_dir / "out", faces=o.faces, texture_size=o.texture_size,
                       height=o.height, formats=o.formats, preset=o.preset,
                       workspace=job_dir / "work", progress=progress)
    return JobResult.from_delivery(delivery)


def worker_main(worker: int, config: ServerConfig, parent: int) -> None:
    """A worker process: claim, run, record; until the server goes."""
    from .logs import setup_logging

    die_with_parent()
    setup_logging(config.log_format)
    # The server handles Ctrl-C and stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    store = JobStore(config.db_path)
    log.info("worker started", extra={"worker": worker, "pid": os.getpid()})
    while os.getppid() == parent:
        job = store.claim(worker)
        if job is None:
            time.sleep(POLL_S)
            continue
        _run_one(store, job, worker, config, parent)


def _run_one(store: JobStore, job: Job, worker: int, config: ServerConfig, parent: int) -> None:
    lease = job.lease or ""
    job_dir = config.job_dir(job.id)
    last = {"t": 0.0, "stage": ""}
    t0 = time.perf_counter()

    def progress(ev) -> None:
        now = time.perf_counter()
        if ev.stage == last["stage"] and now - last["t"] < REPORT_EVERY_S:
            return
        last.update(t=now, stage=ev.stage)
        p = Progress(stage=ev.stage, stage_index=ev.index, stages=tuple(ev.stages),
                     percent=round(100.0 * ev.fraction, 1), message=ev.message)
        if not store.report(job.id, lease, p) or os.getppid() != parent:
            raise _Lost(job.id)

    log.info("job started", extra={"job": job.id, "worker": worker, "mode": job.mode,
                                   "attempt": job.attempts})
    try:
        # A retry starts from clean outputs; the photos workspace is kept to resume.
        shutil.rmtree(job_dir / "out", ignore_errors=True)
        result = run_job(job, job_dir, progress)
    except _Lost:
        log.info("job given up (cancelled or taken back)", extra={"job": job.id})
        store.release(job.id, lease)
        return
    except Exception as exc:  # noqa: BLE001 - every failure becomes the job's reason
        err = error_of(exc)
        if err.code == "internal":
            log.exception("job failed with an internal error", extra={"job": job.id})
        else:
            log.info("job failed", extra={"job": job.id, "code": err.code,
                                          "reason": err.message})
        store.fail(job.id, err, lease=lease)
        return
    if store.finish(job.id, lease, result):
        log.info("job done", extra={"job": job.id, "seconds": round(time.perf_counter() - t0, 3),
                                    "faces": result.stats.faces})
    else:
        store.release(job.id, lease)


class WorkerPool:
    """``config.workers`` worker processes and their supervisor thread."""

    def __init__(self, config: ServerConfig, store: JobStore) -> None:
        self.config = config
        self.store = store
        self._ctx = mp.get_context("spawn")
        self._procs: dict[int, mp.process.BaseProcess] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.restarts = 0

    # The number of live workers, for /healthz.
    @property
    def alive(self) -> int:
        return sum(1 for p in self._procs.values() if p.is_alive())

    def start(self) -> None:
        for w in range(self.config.workers):
            self._spawn(w)
        self._thread = threading.Thread(target=self._supervise, name="lift3d-supervisor",
                                        daemon=True)
        self._thread.start()

    def _spawn(self, worker: int) -> None:
        p = self._ctx.Process(target=worker_main, args=(worker, self.config, os.getpid()),
                              name=f"lift3d-worker-{worker}", daemon=True)
        p.start()
        self._procs[worker] = p

    def _kill(self, worker: int) -> None:
        p = self._procs.get(worker)
        if p is not None and p.is_alive():
            p.kill()
            p.join(5)

    def stop(self) -> None:
        """Stop the workers; their running jobs are queued again for the next start."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        for w in list(self._procs):
            p = self._procs[w]
            if p.is_alive():
                p.terminate()
        for p in self._procs.values():
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join(2)
        requeued, _ = self.store.recover(self.config.max_attempts, "the server was stopped",
                                         refund=True)
        if requeued:
            log.info("jobs re-queued for the next start", extra={"jobs": requeued})

    def _supervise(self) -> None:
        last_sweep = 0.0
        while not self._stop.wait(0.5):
            try:
                self._check_workers()
                self._check_jobs()
                if time.time() - last_sweep > 60.0:
                    last_sweep = time.time()
                    self.sweep()
            except Exception:  # noqa: BLE001 - the supervisor must keep going
                log.exception("supervisor error")

    def _check_workers(self) -> None:
        for w, p in list(self._procs.items()):
            if p.is_alive() or self._stop.is_set():
                continue
            reason = f"the worker process stopped (exit code {p.exitcode})"
            jobs = self.store.worker_lost(w, reason, self.config.max_attempts)
            log.warning("worker died; restarting it", extra={"worker": w, "exitcode": p.exitcode,
                                                             "jobs": jobs})
            self.restarts += 1
            self._spawn(w)

    def _check_jobs(self) -> None:
        now = time.time()
        for job in self.store.running():
            if job.started is not None and now - job.started > self.config.job_timeout_s:
                limit = self.config.job_timeout_s
                if self.store.fail(job.id, JobError("timeout", f"the job ran longer than "
                                                               f"{limit:.0f} s and was stopped")):
                    log.warning("job timed out", extra={"job": job.id, "worker": job.worker})
                    if job.worker is not None:
                        self._kill(job.worker)
        for job in self.store.cancelled():
            if job.worker is not None and now - job.updated > 3.0:
                # Its worker is inside a long step with no progress call: end it.
                self._kill(job.worker)
            proc = self._procs.get(job.worker) if job.worker is not None else None
            if proc is None or not proc.is_alive():
                shutil.rmtree(self.config.job_dir(job.id), ignore_errors=True)
                self.store.remove(job.id)

    def sweep(self) -> list[str]:
        """Remove the files of jobs finished more than the retention period ago."""
        ids = self.store.expire(time.time() - self.config.retention_s)
        for i in ids:
            shutil.rmtree(self.config.job_dir(i), ignore_errors=True)
        if ids:
            log.info("expired jobs removed", extra={"jobs": ids})
        return ids
