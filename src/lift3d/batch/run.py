"""Running a batch: the one function per item, and the local and Ray executors.

:func:`process_item` makes one item's folder; local worker processes (Pebble) and Ray
tasks both call it, so both paths give the same files. :func:`run_batch` decides from
the ledger what is left to do, runs it, records every outcome as it arrives and writes
the report.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..deliver import DeliveredFile, MeshStats, PresetCheck, check_formats
from ..errors import InputError, error_code, one_line
from ..types import StageTiming
from .ledger import Ledger, item_key, parse_result, result_json
from .types import (
    DONE,
    FAILED,
    PENDING,
    RUNNING,
    BatchItem,
    BatchOptions,
    BatchReport,
    ItemOutcome,
)

log = logging.getLogger(__name__)

#: Failures worth another try in the same run: the item itself may be fine.
TRANSIENT = ("timeout", "crashed", "out_of_memory")


@dataclass(frozen=True)
class ItemResult:
    """What :func:`process_item` returns (from another process: plain, picklable data)."""

    id: str
    ok: bool
    seconds: float
    code: str | None = None
    reason: str | None = None
    files: tuple[DeliveredFile, ...] = ()
    stats: MeshStats | None = None
    timings: tuple[StageTiming, ...] = ()
    preset: PresetCheck | None = None


@dataclass(frozen=True)
class BatchProgress:
    """What a batch progress callback receives, after each item and about once a second.

    Attributes:
        total: items in the batch. done, failed: finished so far (reused included).
        reused: done in an earlier run. running: in flight now.
        elapsed_s: since this run started. items_per_minute: made in this run.
        eta_s: estimated seconds left, None until an item has been made.
        last: the id and status of the item that just finished, or None on a tick.
    """

    total: int
    done: int
    failed: int
    reused: int
    running: int
    elapsed_s: float
    items_per_minute: float
    eta_s: float | None
    last: tuple[str, str] | None = None


def _source(item: BatchItem, staging: Path) -> Path:
    """An item's input: its one photo or video, or a folder of links to its photos."""
    if len(item.images) == 1:
        return item.images[0]
    folder = staging.parent / f"{staging.name}-in"
    folder.mkdir(parents=True, exist_ok=True)
    for n, img in enumerate(item.images):
        link = folder / f"{n:04d}_{img.name}"
        if not link.exists():
            os.symlink(img, link)
    return folder


def process_item(item: BatchItem, out_dir: str | os.PathLike,
                 options: BatchOptions) -> ItemResult:
    """Make ``OUT/<id>/`` for one item: ``model.glb``, the requested formats and
    ``preview.png``. Never raises: a failure comes back as ``ok=False`` with a code and
    a reason. The folder appears whole or not at all (made aside, then renamed)."""
    from ..deliver import deliver

    t0 = time.perf_counter()
    out = Path(out_dir)
    work = out / ".lift3d"
    staging = work / "partial" / f"{item.id}-{uuid.uuid4().hex[:8]}"
    try:
        if item.problem:
            raise InputError(item.problem)
        delivery = deliver(
            _source(item, staging), staging,
            faces=item.faces if item.faces is not None else options.faces,
            texture_size=options.texture_size,
            height=item.height if item.height is not None else options.height,
            formats=options.formats,
            preset=item.preset if item.preset is not None else options.preset,
            workspace=work / "workspaces" / item.id)
        _swap(staging, out / item.id, work)
        shutil.rmtree(work / "workspaces" / item.id, ignore_errors=True)
    except Exception as exc:  # noqa: BLE001 - per-item isolation: every failure is a reason
        shutil.rmtree(staging, ignore_errors=True)
        code = error_code(exc)
        if code == "internal":
            log.exception("item %s: internal error", item.id)
            reason = f"internal error: {type(exc).__name__}: {one_line(exc)}"
        elif code == "out_of_memory":
            reason = "out of memory"
        else:
            reason = one_line(exc, 400)
        return ItemResult(item.id, False, time.perf_counter() - t0, code, reason)
    finally:
        shutil.rmtree(staging.parent / f"{staging.name}-in", ignore_errors=True)
    return ItemResult(item.id, True, time.perf_counter() - t0, files=delivery.files,
                      stats=delivery.stats, timings=delivery.timings, preset=delivery.preset)


def _swap(staging: Path, target: Path, work: Path) -> None:
    """Put the finished folder in place of an older one in two renames."""
    old = None
    if target.exists():
        old = work / "trash" / f"{target.name}-{uuid.uuid4().hex[:8]}"
        old.parent.mkdir(parents=True, exist_ok=True)
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def init_worker(threads: int) -> None:
    """A worker process's start: share the cores, then load the models once."""
    from ..io.process import die_with_parent

    die_with_parent()
    os.environ["LIFT3D_THREADS"] = str(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        import cv2

        cv2.setNumThreads(threads)
    except ImportError:  # pragma: no cover - OpenCV is a core dependency
        pass
    try:
        from ..shape.learned import load_session

        load_session()
    except Exception as exc:  # noqa: BLE001 - an item will report it properly
        log.warning("could not preload the shape network: %s", one_line(exc))


# ----------------------------------------------------------------------------- executors

def _run_local(todo: deque[BatchItem], out_dir: Path, options: BatchOptions, workers: int,
               item_fn: Callable[..., ItemResult], started: Callable[[BatchItem], None],
               finished: Callable[[BatchItem, ItemResult], bool],
               tick: Callable[[], None]) -> None:
    """Run ``todo`` on ``workers`` local processes. ``finished`` returns True when the
    item should run again (a transient failure with tries left)."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures import TimeoutError as FutureTimeout

    from pebble import ProcessExpired, ProcessPool

    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPool(max_workers=workers, initializer=init_worker, initargs=(threads,),
                       context=mp.get_context("spawn"))
    flying: dict = {}
    try:
        while todo or flying:
            # Only as many in flight as workers: "running" in the ledger means running.
            while todo and len(flying) < workers:
                item = todo.popleft()
                started(item)
                fut = pool.schedule(item_fn, args=(item, out_dir, options),
                                    timeout=options.item_timeout_s)
                flying[fut] = (item, time.perf_counter())
            ready, _ = wait(list(flying), timeout=1.0, return_when=FIRST_COMPLETED)
            for fut in ready:
                item, t0 = flying.pop(fut)
                try:
                    res = fut.result()
                except FutureTimeout:
                    res = ItemResult(item.id, False, time.perf_counter() - t0, "timeout",
                                     f"stopped after the item timeout of "
                                     f"{options.item_timeout_s:g} s")
                except ProcessExpired as exc:
                    res = ItemResult(item.id, False, time.perf_counter() - t0, "crashed",
                                     f"the worker process died (exit code {exc.exitcode})")
                except Exception as exc:  # noqa: BLE001 - e.g. a result that fails to unpickle
                    res = ItemResult(item.id, False, time.perf_counter() - t0, "internal",
                                     f"internal error: {type(exc).__name__}: {one_line(exc)}")
                if finished(item, res):
                    todo.append(item)
            tick()
    except BaseException:
        # Ctrl-C: stop now; the caller puts the items in flight back in the ledger.
        pool.stop()
        pool.join()
        raise
    pool.close()
    pool.join()


def _ray_item(item_fn, item: BatchItem, out_dir: str, options: BatchOptions) -> ItemResult:
    # Ray reuses its worker processes: the shape network loads once per worker (cached
    # per process by lift3d.models), not once per item.
    return item_fn(item, out_dir, options)


def _run_ray(todo: deque[BatchItem], out_dir: Path, options: BatchOptions,
             item_fn: Callable[..., ItemResult], started: Callable[[BatchItem], None],
             finished: Callable[[BatchItem, ItemResult], bool],
             tick: Callable[[], None]) -> int:
    """Run ``todo`` as Ray tasks on the cluster at ``options.ray_address`` (or the Ray
    instance this process already joined). Returns the CPUs used."""
    from ..errors import require

    ray = require("ray", "cluster", "lift3d batch --ray")
    if not ray.is_initialized():
        ray.init(address=options.ray_address, ignore_reinit_error=True,
                 log_to_driver=False, runtime_env={"env_vars": {"LIFT3D_THREADS": "1"}})
    resources = ray.cluster_resources()
    cpus = max(1, int(resources.get("CPU", 1)))
    gpus = float(resources.get("GPU", 0.0))
    # With GPUs, each task asks for a share of one so that ONNX Runtime's CUDA provider
    # gets it; a CPU-only cluster asks for none.
    task = ray.remote(num_cpus=1, num_gpus=min(1.0, gpus / cpus) if gpus else 0,
                      max_retries=0)(_ray_item)
    flying: dict = {}
    while todo or flying:
        while todo and len(flying) < cpus:
            item = todo.popleft()
            started(item)
            flying[task.remote(item_fn, item, str(out_dir), options)] = (item,
                                                                         time.perf_counter())
        ready, _ = ray.wait(list(flying), num_returns=1, timeout=1.0)
        now = time.perf_counter()
        for ref in list(flying):
            item, t0 = flying[ref]
            if ref not in ready and now - t0 > options.item_timeout_s:
                ray.cancel(ref, force=True)
                flying.pop(ref)
                res = ItemResult(item.id, False, now - t0, "timeout",
                                 f"stopped after the item timeout of "
                                 f"{options.item_timeout_s:g} s")
                if finished(item, res):
                    todo.append(item)
        for ref in ready:
            item, t0 = flying.pop(ref)
            try:
                res = ray.get(ref)
            except ray.exceptions.WorkerCrashedError:
                res = ItemResult(item.id, False, now - t0, "crashed",
                                 "the Ray worker process died")
            except ray.exceptions.RayError as exc:
                res = ItemResult(item.id, False, now - t0, "internal",
                                 f"Ray error: {one_line(exc)}")
            if finished(item, res):
                todo.append(item)
        tick()
    return cpus


# ----------------------------------------------------------------------------- the batch


class _Tally(dict):
    """Outcomes by item id, with running counts by status: progress reports them after
    every item, and counting afresh each time would be quadratic in the batch size."""

    def __init__(self) -> None:
        super().__init__()
        self.status: Counter[str] = Counter()
        self.reused = 0

    def __setitem__(self, item_id: str, o: ItemOutcome) -> None:
        old = self.get(item_id)
        if old is not None:
            self.status[old.status] -= 1
            self.reused -= old.reused
        self.status[o.status] += 1
        self.reused += o.reused
        super().__setitem__(item_id, o)


def _outcome_from_row(item: BatchItem, row, key: str, reused: bool) -> ItemOutcome:
    files, stats, timings, preset = parse_result(row["result"])
    return ItemOutcome(item=item, status=row["status"], reused=reused, reason=row["reason"],
                       code=row["code"], attempts=int(row["attempts"]),
                       seconds=float(row["seconds"]), key=key, files=files, stats=stats,
                       timings=timings, preset=preset)


def run_batch(items: Sequence[BatchItem], out_dir: str | os.PathLike,
              options: BatchOptions | None = None,
              progress: Callable[[BatchProgress], None] | None = None, *,
              item_fn: Callable[..., ItemResult] = process_item) -> BatchReport:
    """Make every item's folder under ``out_dir``, skipping what an earlier run made
    from the same inputs and options, and write ``report.json`` and ``report.html``.

    ``item_fn`` (default :func:`process_item`) makes one item; another function with its
    signature, importable by name in worker processes, runs a custom pipeline per item.

    Failed items never stop the batch; each is reported with its reason. On Ctrl-C the
    items in flight are put back (they run again next time) and the report is written
    before ``KeyboardInterrupt`` goes on.

    Raises:
        InputError: bad options, duplicate item ids, an unwritable ``out_dir``.
    """
    from ..io.atomic import check_writable_dir
    from .report import write_report

    options = options if options is not None else BatchOptions()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_writable_dir(out)
    formats = check_formats(options.formats)
    if options.preset is not None:
        from ..quality.presets import get_preset

        get_preset(options.preset)
    if options.retries < 0 or options.item_timeout_s <= 0 or options.workers < 0:
        raise InputError("retries, item_timeout, workers: must not be negative (timeout > 0)")
    options = dataclasses.replace(options, formats=formats)
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        dup = sorted(i for i, n in Counter(ids).items() if n > 1)
        raise InputError(f"items: duplicate ids {', '.join(dup[:5])}")

    t_start = time.perf_counter()
    ledger = Ledger(out)
    rows = ledger.rows()
    for row in rows.values():
        if row["status"] == RUNNING:  # the last run was killed in the middle of it
            ledger.pending(row["id"], row["key"])
    rows = ledger.rows()
    keys = {it.id: item_key(it, options) for it in items}
    outcomes = _Tally()
    todo: deque[BatchItem] = deque()
    tries = 1 + options.retries
    for it in items:
        row, key = rows.get(it.id), keys[it.id]
        fresh = row is not None and row["key"] == key
        if fresh and row["status"] == DONE and (out / it.id / "model.glb").is_file():
            outcomes[it.id] = _outcome_from_row(it, row, key, reused=True)
        elif it.problem:  # nothing to try: the manifest row itself is unusable
            ledger.failed(it.id, key, 0.0, "manifest", it.problem, attempts=1)
            outcomes[it.id] = ItemOutcome(it, FAILED, reason=it.problem, code="manifest",
                                          attempts=1, key=key)
        elif fresh and row["status"] == FAILED and row["attempts"] >= tries:
            outcomes[it.id] = _outcome_from_row(it, row, key, reused=True)
        else:
            outcomes[it.id] = ItemOutcome(it, PENDING, key=key,
                                          attempts=ledger.attempts(it.id, key))
            todo.append(it)

    made = [0]
    last_tick = [0.0]

    def tell(last: tuple[str, str] | None = None) -> None:
        if progress is None:
            return
        now = time.perf_counter()
        if last is None and now - last_tick[0] < 1.0:
            return
        last_tick[0] = now
        elapsed = now - t_start
        done, failed = outcomes.status[DONE], outcomes.status[FAILED]
        left = len(outcomes) - done - failed
        rate = 60.0 * made[0] / elapsed if elapsed > 0 else 0.0
        eta = (elapsed / made[0]) * left if made[0] else None
        progress(BatchProgress(len(outcomes), done, failed, outcomes.reused,
                               outcomes.status[RUNNING], elapsed, rate, eta, last))

    def started(item: BatchItem) -> None:
        n = ledger.start(item.id, keys[item.id])
        outcomes[item.id] = dataclasses.replace(outcomes[item.id], status=RUNNING, attempts=n)

    def put_back(item: BatchItem) -> None:
        ledger.pending(item.id, keys[item.id])
        o = outcomes[item.id]
        outcomes[item.id] = dataclasses.replace(o, status=PENDING,
                                                attempts=max(0, o.attempts - 1))

    def finished(item: BatchItem, res: ItemResult) -> bool:
        key = keys[item.id]
        n = outcomes[item.id].attempts
        if res.ok:
            ledger.done(item.id, key, res.seconds,
                        result_json(res.files, res.stats, res.timings, res.preset))
            made[0] += 1
            outcomes[item.id] = ItemOutcome(item, DONE, attempts=n, seconds=res.seconds,
                                            key=key, files=res.files, stats=res.stats,
                                            timings=res.timings, preset=res.preset)
        else:
            ledger.failed(item.id, key, res.seconds, res.code or "internal", res.reason or "")
            outcomes[item.id] = ItemOutcome(item, FAILED, reason=res.reason, code=res.code,
                                            attempts=n, seconds=res.seconds, key=key)
            log.info("item %s failed (%s): %s", item.id, res.code, res.reason)
        tell((item.id, outcomes[item.id].status))
        again = not res.ok and res.code in TRANSIENT and n < tries
        return again

    backend = "ray" if options.ray_address else "local"
    workers = options.workers or max(1, os.cpu_count() or 1)
    interrupted = None
    try:
        if todo:
            if backend == "ray":
                workers = _run_ray(todo, out, options, item_fn, started, finished, tell)
            else:
                _run_local(todo, out, options, min(workers, len(todo)), item_fn, started,
                           finished, tell)
    except KeyboardInterrupt as exc:
        interrupted = exc
        for o in list(outcomes.values()):
            if o.status == RUNNING:
                put_back(o.item)
    finally:
        ledger.close()
    report = BatchReport(out_dir=out, outcomes=tuple(outcomes[i] for i in ids),
                         backend=backend, workers=workers,
                         wall_s=time.perf_counter() - t_start, options=options)
    write_report(report)
    if interrupted is not None:
        raise interrupted
    return report
