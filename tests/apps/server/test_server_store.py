"""The SQLite job store: claims, leases, recovery, expiry, pagination."""

from __future__ import annotations

import threading
import time

import pytest

from lift3d.apps.server.store import (
    CANCELLED,
    DONE,
    EXPIRED,
    FAILED,
    QUEUED,
    RUNNING,
    JobError,
    JobInput,
    JobOptions,
    JobResult,
    JobStore,
    Progress,
    QueueFull,
    new_job_id,
)
from lift3d.deliver import DeliveredFile, MeshStats, PresetCheck
from lift3d.types import StageTiming

INPUT = (JobInput("mug.jpg", "000.jpg", 10, "image/jpeg"),)


def _add(store: JobStore, n: int = 1, limit: int = 100) -> list[str]:
    ids = []
    for _ in range(n):
        jid = new_job_id()
        store.insert(jid, "image", JobOptions(), INPUT, limit)
        ids.append(jid)
    return ids


@pytest.fixture
def store(tmp_path):
    s = JobStore(tmp_path / "jobs.sqlite")
    yield s
    s.close()


def test_wal_mode_and_round_trip(store, tmp_path):
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    (jid,) = _add(store)
    job = store.get(jid)
    assert job.state == QUEUED and job.inputs == INPUT and job.options == JobOptions()
    claimed = store.claim(worker=3)
    assert claimed.id == jid and claimed.state == RUNNING and claimed.worker == 3
    assert claimed.attempts == 1 and claimed.lease
    result = JobResult(files=(DeliveredFile("model.glb", 5, "model/gltf-binary"),),
                       stats=MeshStats(10, 8, True, (0.1, 0.2, 0.3), True, 256),
                       timings=(StageTiming("load", 0.5),),
                       preset=PresetCheck("web", False, ("too many faces",)))
    assert store.finish(jid, claimed.lease, result)
    again = JobStore(tmp_path / "jobs.sqlite").get(jid)  # another process's view
    assert again.state == DONE and again.result == result
    assert again.progress.percent == 100.0 and again.worker is None


def test_queue_limit(store):
    _add(store, 2, limit=2)
    with pytest.raises(QueueFull):
        _add(store, 1, limit=2)
    store.claim(0)  # running jobs do not count against the queue
    _add(store, 1, limit=2)


def test_concurrent_claims_never_share_a_job(tmp_path):
    path = tmp_path / "jobs.sqlite"
    ids = _add(JobStore(path), 40)
    got: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        s = JobStore(path)  # one connection each, as worker processes have
        while (job := s.claim(n)) is not None:
            with lock:
                got.append(job.id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(ids)


def test_claims_are_oldest_first(store):
    ids = _add(store, 3)
    assert [store.claim(0).id for _ in ids] == ids
    assert store.claim(0) is None


def test_a_lost_lease_stops_the_worker(store):
    (jid,) = _add(store)
    job = store.claim(0)
    assert store.report(jid, job.lease, Progress("shape", 2, ("a", "b", "shape"), 50.0))
    assert store.get(jid).progress.stage == "shape"
    assert not store.report(jid, "not-the-lease", Progress())
    assert store.cancel(jid) == RUNNING
    assert store.get(jid).state == CANCELLED
    assert not store.report(jid, job.lease, Progress())
    assert not store.finish(jid, job.lease, None)
    assert store.cancel(jid) is None  # already on its way out
    store.release(jid, job.lease)
    assert store.get(jid).worker is None


def test_recover_requeues_then_fails(store):
    (jid,) = _add(store)
    store.claim(0)
    requeued, failed = store.recover(max_attempts=2, reason="restart")
    assert (requeued, failed) == ([jid], [])
    job = store.get(jid)
    assert job.state == QUEUED and job.lease is None and "restart" in job.note
    store.claim(0)
    requeued, failed = store.recover(max_attempts=2, reason="restart")
    assert (requeued, failed) == ([], [jid])
    job = store.get(jid)
    assert job.state == FAILED and job.error.code == "interrupted"


def test_a_clean_stop_does_not_count_the_try(store):
    (jid,) = _add(store)
    store.claim(0)
    store.recover(max_attempts=1, reason="stopped", refund=True)
    job = store.get(jid)
    assert job.state == QUEUED and job.attempts == 0


def test_worker_lost(store):
    a, b = _add(store, 2)
    store.claim(0)
    store.claim(1)
    assert store.worker_lost(0, "worker died", max_attempts=1) == [a]
    assert store.get(a).state == FAILED and store.get(a).error.code == "worker_crashed"
    assert store.get(b).state == RUNNING


def test_fail_and_expire(store):
    a, b = _add(store, 2)
    ja = store.claim(0)
    assert store.fail(a, JobError("no_object", "nothing there"), lease=ja.lease)
    assert not store.fail(a, JobError("x", "y"))  # no longer running
    assert store.get(a).error == JobError("no_object", "nothing there")
    assert store.expire(time.time() - 60) == []
    assert store.expire(time.time() + 1) == [a]
    assert store.get(a).state == EXPIRED and store.get(b).state == QUEUED


def test_list_pages_newest_first_and_hides_cancelled(store):
    ids = _add(store, 5)
    job = store.claim(0)
    store.cancel(job.id)
    listed = [j.id for j in store.list(10)]
    assert listed == [i for i in reversed(ids) if i != job.id]
    page1 = store.list(2)
    page2 = store.list(2, (page1[-1].created, page1[-1].id))
    assert [j.id for j in page1 + page2] == listed
    assert store.queue_position(store.get(ids[1])) == 0
    assert store.queue_position(store.get(ids[4])) == 3
