"""Job records in SQLite (WAL mode), shared by the server process and its workers.

One row per job. The server inserts rows; a worker claims the oldest queued row in a
write transaction (so two workers never take the same job), reports progress and
writes the outcome. Every worker write names the claim's ``lease``; a worker that lost
its job (the job was cancelled, timed out or re-queued after a restart) finds its
writes ignored and stops.

States: ``queued`` -> ``running`` -> ``done`` | ``failed``; ``done`` and ``failed`` ->
``expired`` after the retention period (files removed, record kept); ``cancelled``
rows are hidden from the API and removed once no worker holds them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...deliver import DeliveredFile, Delivery, MeshStats, PresetCheck
from ...types import StageTiming

QUEUED, RUNNING, DONE, FAILED, EXPIRED, CANCELLED = (
    "queued", "running", "done", "failed", "expired", "cancelled")
#: States the API shows.
VISIBLE_STATES = (QUEUED, RUNNING, DONE, FAILED, EXPIRED)
TERMINAL_STATES = (DONE, FAILED, EXPIRED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    mode TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    started REAL,
    finished REAL,
    options TEXT NOT NULL,
    inputs TEXT NOT NULL,
    progress TEXT NOT NULL,
    error TEXT,
    result TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker INTEGER,
    lease TEXT,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_state_created ON jobs (state, created);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created);
"""


class QueueFull(Exception):
    """The queue holds its limit of waiting jobs."""


@dataclass(frozen=True)
class JobOptions:
    """What a job was asked to make.

    Attributes:
        faces: triangle budget, or None for the pipeline's default.
        texture_size: texture side in pixels, or None for the default.
        height: the object's height in metres, or None (single photo: the default
            height; photos: arbitrary scale).
        formats: file formats to deliver (``lift3d.deliver.FORMATS``).
        preset: ``web``, ``ar``, ``game``, ``print`` or None.
    """

    faces: int | None = None
    texture_size: int | None = None
    height: float | None = None
    formats: tuple[str, ...] = ("glb", "usdz", "obj")
    preset: str | None = None


@dataclass(frozen=True)
class JobInput:
    """One uploaded file.

    Attributes:
        name: the client's file name, sanitised (display only).
        stored: the file's name in the job's ``input`` folder.
        size: bytes.
        content_type: the media type the bytes were checked to be.
    """

    name: str
    stored: str
    size: int
    content_type: str


@dataclass(frozen=True)
class Progress:
    """Where a running job is: ``percent`` in ``[0, 100]`` over the whole job."""

    stage: str = ""
    stage_index: int = 0
    stages: tuple[str, ...] = ()
    percent: float = 0.0
    message: str = ""


@dataclass(frozen=True)
class JobError:
    """Why a job failed: a stable ``code`` (snake_case) and a sentence for people."""

    code: str
    message: str


@dataclass(frozen=True)
class JobResult:
    """What a finished job delivered (see :class:`lift3d.deliver.Delivery`)."""

    files: tuple[DeliveredFile, ...]
    stats: MeshStats
    timings: tuple[StageTiming, ...]
    preset: PresetCheck | None = None

    @classmethod
    def from_delivery(cls, d: Delivery) -> JobResult:
        return cls(d.files, d.stats, d.timings, d.preset)


@dataclass(frozen=True)
class Job:
    """One job's record. Times are Unix seconds (UTC)."""

    id: str
    state: str
    mode: str
    created: float
    updated: float
    options: JobOptions
    inputs: tuple[JobInput, ...]
    progress: Progress = field(default_factory=Progress)
    started: float | None = None
    finished: float | None = None
    error: JobError | None = None
    result: JobResult | None = None
    attempts: int = 0
    worker: int | None = None
    lease: str | None = None
    note: str = ""


def new_job_id() -> str:
    """A random, unguessable job id: 32 hex digits."""
    return uuid.uuid4().hex


def _dump(obj) -> str:
    return json.dumps(asdict(obj) if obj is not None else None)


def _result(text: str | None) -> JobResult | None:
    if not text:
        return None
    d = json.loads(text)
    if d is None:
        return None
    s = d["stats"]
    stats = MeshStats(**{**s, "size_m": tuple(s["size_m"])})
    preset = d.get("preset")
    return JobResult(
        files=tuple(DeliveredFile(**f) for f in d["files"]),
        stats=stats,
        timings=tuple(StageTiming(t["name"], t["seconds"]) for t in d["timings"]),
        preset=PresetCheck(preset["preset"], preset["passed"], tuple(preset["failures"]))
        if preset else None,
    )


def _job(row: sqlite3.Row) -> Job:
    opts = json.loads(row["options"])
    prog = json.loads(row["progress"])
    err = json.loads(row["error"]) if row["error"] else None
    return Job(
        id=row["id"], state=row["state"], mode=row["mode"], created=row["created"],
        updated=row["updated"], started=row["started"], finished=row["finished"],
        options=JobOptions(**{**opts, "formats": tuple(opts["formats"])}),
        inputs=tuple(JobInput(**i) for i in json.loads(row["inputs"])),
        progress=Progress(**{**prog, "stages": tuple(prog["stages"])}),
        error=JobError(**err) if err else None, result=_result(row["result"]),
        attempts=row["attempts"], worker=row["worker"], lease=row["lease"], note=row["note"],
    )


class JobStore:
    """The job table in ``path`` (created when missing). Safe to share between threads;
    each process opens its own store."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                   check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        # WAL: readers (status requests) never wait for the writer (a worker's progress).
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken at its start (BEGIN IMMEDIATE), so that a
        read-then-write (claim, queue limit) cannot interleave with another writer."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, args=()) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    # ------------------------------------------------------------------ server side

    def insert(self, job_id: str, mode: str, options: JobOptions,
               inputs: tuple[JobInput, ...], max_queued: int) -> Job:
        """Queue a new job.

        Raises:
            QueueFull: ``max_queued`` jobs are already waiting.
        """
        now = time.time()
        with self._write() as db:
            (queued,) = db.execute("SELECT COUNT(*) FROM jobs WHERE state=?",
                                   (QUEUED,)).fetchone()
            if queued >= max_queued:
                raise QueueFull(f"{queued} jobs are waiting (the limit is {max_queued})")
            db.execute(
                "INSERT INTO jobs (id, state, mode, created, updated, options, inputs, "
                "progress) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, QUEUED, mode, now, now, _dump(options),
                 json.dumps([asdict(i) for i in inputs]), _dump(Progress())))
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        row = self._one("SELECT * FROM jobs WHERE id=?", (job_id,))
        return _job(row) if row is not None else None

    def list(self, limit: int, before: tuple[float, str] | None = None) -> list[Job]:
        """Visible jobs, newest first; ``before`` = ``(created, id)`` of the last one seen."""
        marks = ",".join("?" * len(VISIBLE_STATES))
        sql = f"SELECT * FROM jobs WHERE state IN ({marks})"
        args: list = list(VISIBLE_STATES)
        if before is not None:
            sql += " AND (created < ? OR (created = ? AND id < ?))"
            args += [before[0], before[0], before[1]]
        sql += " ORDER BY created DESC, id DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_job(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return {r[0]: r[1] for r in rows}

    def queue_position(self, job: Job) -> int | None:
        """Jobs queued ahead of ``job`` (0: next to run), or None when not queued."""
        if job.state != QUEUED:
            return None
        row = self._one("SELECT COUNT(*) FROM jobs WHERE state=? AND "
                        "(created < ? OR (created = ? AND id < ?))",
                        (QUEUED, job.created, job.created, job.id))
        return int(row[0]) if row else 0

    def cancel(self, job_id: str) -> str | None:
        """Take a job out of the API. Returns its state before, or None when unknown.

        A running job becomes ``cancelled`` (its worker's next write fails and it
        stops; the supervisor ends it if it does not); other rows are deleted.
        """
        with self._write() as db:
            row = db.execute("SELECT state FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None or row["state"] == CANCELLED:
                return None
            if row["state"] == RUNNING:
                db.execute("UPDATE jobs SET state=?, updated=? WHERE id=?",
                           (CANCELLED, time.time(), job_id))
            else:
                db.execute("DELETE FROM jobs WHERE id=?", (job_id,))
            return row["state"]

    def recover(self, max_attempts: int, reason: str,
                refund: bool = False) -> tuple[list[str], list[str]]:
        """After a restart (or at a stop): every ``running`` job is re-queued, or failed
        when it has had ``max_attempts`` tries. ``refund``: the interruption was not
        the job's doing (a clean stop), so the try does not count and it is always
        re-queued. Returns (re-queued, failed) ids."""
        requeued: list[str] = []
        failed: list[str] = []
        with self._write() as db:
            rows = db.execute("SELECT id, attempts FROM jobs WHERE state=?",
                              (RUNNING,)).fetchall()
            for r in rows:
                again = refund or r["attempts"] < max_attempts
                err = JobError("interrupted", f"{reason}; the job had {r['attempts']} tries "
                                              f"and is not retried again")
                self._requeue_or_fail(db, r["id"], again, reason, err, refund)
                (requeued if again else failed).append(r["id"])
        return requeued, failed

    def worker_lost(self, worker: int, reason: str, max_attempts: int) -> list[str]:
        """``worker`` died: its running job is re-queued or failed (as :meth:`recover`);
        its cancelled job is released. Returns the affected job ids."""
        ids: list[str] = []
        with self._write() as db:
            rows = db.execute("SELECT id, state, attempts FROM jobs WHERE worker=? AND "
                              "state IN (?, ?)", (worker, RUNNING, CANCELLED)).fetchall()
            for r in rows:
                ids.append(r["id"])
                if r["state"] == CANCELLED:
                    db.execute("UPDATE jobs SET worker=NULL, lease=NULL WHERE id=?", (r["id"],))
                else:
                    self._requeue_or_fail(db, r["id"], r["attempts"] < max_attempts, reason,
                                          JobError("worker_crashed", reason))
        return ids

    @staticmethod
    def _requeue_or_fail(db: sqlite3.Connection, job_id: str, again: bool, reason: str,
                         error: JobError, refund: bool = False) -> None:
        now = time.time()
        if again:
            db.execute("UPDATE jobs SET state=?, worker=NULL, lease=NULL, updated=?, "
                       "started=NULL, progress=?, note=?, attempts=attempts-? WHERE id=?",
                       (QUEUED, now, _dump(Progress(message=reason)), f"re-queued: {reason}",
                        1 if refund else 0, job_id))
        else:
            db.execute("UPDATE jobs SET state=?, worker=NULL, lease=NULL, updated=?, "
                       "finished=?, error=? WHERE id=?",
                       (FAILED, now, now, _dump(error), job_id))

    def fail(self, job_id: str, error: JobError, *, lease: str | None = None) -> bool:
        """Mark a running job failed (for the supervisor: timeouts; for a worker: pass
        its ``lease``). Returns False when the job was no longer this claim's."""
        now = time.time()
        sql = ("UPDATE jobs SET state=?, updated=?, finished=?, error=?, worker=NULL "
               "WHERE id=? AND state=?")
        args: list = [FAILED, now, now, _dump(error), job_id, RUNNING]
        if lease is not None:
            sql += " AND lease=?"
            args.append(lease)
        with self._write() as db:
            return db.execute(sql, args).rowcount == 1

    def running(self) -> list[Job]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs WHERE state=?", (RUNNING,)).fetchall()
        return [_job(r) for r in rows]

    def cancelled(self) -> list[Job]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs WHERE state=?",
                                    (CANCELLED,)).fetchall()
        return [_job(r) for r in rows]

    def remove(self, job_id: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM jobs WHERE id=?", (job_id,))

    def expire(self, older_than: float) -> list[str]:
        """Finished jobs whose end is before ``older_than``: now ``expired`` (files
        listed no more). Returns their ids (the caller removes the files)."""
        with self._write() as db:
            rows = db.execute("SELECT id FROM jobs WHERE state IN (?, ?) AND finished < ?",
                              (DONE, FAILED, older_than)).fetchall()
            ids = [r["id"] for r in rows]
            for i in ids:
                db.execute("UPDATE jobs SET state=?, updated=?, result=NULL WHERE id=?",
                           (EXPIRED, time.time(), i))
        return ids

    # ------------------------------------------------------------------ worker side

    def claim(self, worker: int) -> Job | None:
        """Take the oldest queued job for ``worker``, or None when none waits."""
        now = time.time()
        lease = uuid.uuid4().hex
        with self._write() as db:
            row = db.execute("SELECT id FROM jobs WHERE state=? ORDER BY created, id LIMIT 1",
                             (QUEUED,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET state=?, worker=?, lease=?, attempts=attempts+1, "
                       "started=?, updated=?, progress=? WHERE id=?",
                       (RUNNING, worker, lease, now, now, _dump(Progress()), row["id"]))
        return self.get(row["id"])

    def report(self, job_id: str, lease: str, progress: Progress) -> bool:
        """Store progress. False when the claim is gone: the worker should stop."""
        with self._write() as db:
            return db.execute("UPDATE jobs SET progress=?, updated=? WHERE id=? AND lease=? "
                              "AND state=?", (_dump(progress), time.time(), job_id, lease,
                                              RUNNING)).rowcount == 1

    def finish(self, job_id: str, lease: str, result: JobResult) -> bool:
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT progress FROM jobs WHERE id=?", (job_id,)).fetchone()
            prog = json.loads(row["progress"]) if row else asdict(Progress())
            done = Progress(stage="done", stage_index=len(prog["stages"]),
                            stages=tuple(prog["stages"]), percent=100.0)
            return db.execute(
                "UPDATE jobs SET state=?, updated=?, finished=?, result=?, progress=?, "
                "worker=NULL WHERE id=? AND lease=? AND state=?",
                (DONE, now, now, _dump(result), _dump(done), job_id, lease, RUNNING),
            ).rowcount == 1

    def release(self, job_id: str, lease: str) -> None:
        """A worker lets go of a cancelled job."""
        with self._write() as db:
            db.execute("UPDATE jobs SET worker=NULL WHERE id=? AND lease=?", (job_id, lease))
