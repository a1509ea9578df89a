"""Load test of ``lift3d serve``: N jobs from C concurrent clients, on loopback only.

Starts a server in a subprocess on 127.0.0.1 (a free port, a temporary data folder),
then C client threads share N jobs: each submits a photo, polls ``GET /v1/jobs/{id}``
every ``--poll`` seconds until the job ends, and downloads ``model.glb``. Reports the
throughput, the latency of the status endpoint while the workers are busy, and that
every job finished without an error.

    .venv/bin/python bench/load_serve.py                      # 50 jobs, 4 clients, 2 workers
    .venv/bin/python bench/load_serve.py --jobs 10 --workers 1

The photos are ``../shared/data/photos`` (cycled), or ``examples/mug.jpg`` without them.
Exit status 1 when any job failed or was lost.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "apps" / "server"))

from serverkit import ServerProcess  # noqa: E402

PHOTOS = REPO.parent / "shared" / "data" / "photos"
_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


def _photos() -> list[Path]:
    found = sorted(p for p in PHOTOS.glob("*") if p.suffix.lower() in _TYPES)
    return found or [REPO / "examples" / "mug.jpg"]


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--poll", type=float, default=0.25, help="status poll interval, s")
    ap.add_argument("--faces", type=int, default=None, help="job option (default: lift3d's)")
    ap.add_argument("--texture-size", type=int, default=None, help="job option")
    ap.add_argument("--formats", default="glb,usdz,obj", help="job option")
    ap.add_argument("--timeout", type=float, default=1800.0, help="give up after this, s")
    args = ap.parse_args(argv)
    if not (1 <= args.jobs <= 1000 and 1 <= args.clients <= 32):
        ap.error("--jobs must be in 1..1000 and --clients in 1..32 (a bounded test)")

    import httpx

    photos = _photos()
    form = {"formats": args.formats}
    if args.faces:
        form["faces"] = str(args.faces)
    if args.texture_size:
        form["texture_size"] = str(args.texture_size)

    with tempfile.TemporaryDirectory(prefix="lift3d-load-") as tmp:
        server = ServerProcess(Path(tmp) / "data", "--workers", str(args.workers),
                               "--max-queue", str(max(100, args.jobs)))
        assert server.url.startswith("http://127.0.0.1:")  # loopback only
        lock = threading.Lock()
        next_job = iter(range(args.jobs))
        status_ms: list[float] = []
        submit_ms: list[float] = []
        turnaround: list[float] = []
        outcomes: dict[int, str] = {}
        deadline = time.monotonic() + args.timeout

        def client() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                while True:
                    with lock:
                        n = next(next_job, None)
                    if n is None:
                        return
                    photo = photos[n % len(photos)]
                    t0 = time.perf_counter()
                    r = http.post("/v1/jobs", data=form, files=[(
                        "files", (photo.name, photo.read_bytes(), _TYPES[photo.suffix.lower()]))])
                    t1 = time.perf_counter()
                    if r.status_code != 202:
                        with lock:
                            outcomes[n] = f"submit {r.status_code}: {r.text[:200]}"
                        continue
                    job_id = r.json()["id"]
                    local: list[float] = []
                    while time.monotonic() < deadline:
                        s0 = time.perf_counter()
                        body = http.get(f"/v1/jobs/{job_id}").json()
                        local.append(1000 * (time.perf_counter() - s0))
                        if body["state"] in ("done", "failed", "expired"):
                            break
                        time.sleep(args.poll)
                    state = body["state"]
                    if state == "done":
                        glb = http.get(f"/v1/jobs/{job_id}/files/model.glb")
                        if glb.status_code != 200 or glb.content[:4] != b"glTF":
                            state = f"download {glb.status_code}"
                    elif state == "failed":
                        state = f"failed: {body['error']}"
                    with lock:
                        submit_ms.append(1000 * (t1 - t0))
                        status_ms.extend(local)
                        turnaround.append(time.perf_counter() - t0)
                        outcomes[n] = state

        t_start = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t_start
        server.stop()

    done = sum(1 for s in outcomes.values() if s == "done")
    errors = {n: s for n, s in outcomes.items() if s != "done"}
    print(f"lift3d serve load test: {args.jobs} jobs, {args.clients} clients, "
          f"{args.workers} workers, {len(photos)} photos, options {form}")
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| jobs done / submitted | {done} / {args.jobs} |")
    print(f"| errors | {len(errors)} |")
    print(f"| wall time | {wall:.1f} s |")
    print(f"| throughput | {60 * done / wall:.1f} jobs/min |")
    print(f"| job turnaround p50 / p95 | {_pct(turnaround, 50):.1f} / "
          f"{_pct(turnaround, 95):.1f} s |")
    print(f"| submit (upload) latency p50 / p95 | {_pct(submit_ms, 50):.1f} / "
          f"{_pct(submit_ms, 95):.1f} ms |")
    print(f"| status latency p50 / p95 / max (n={len(status_ms)}) | {_pct(status_ms, 50):.1f} / "
          f"{_pct(status_ms, 95):.1f} / {max(status_ms, default=float('nan')):.1f} ms |")
    for n, s in sorted(errors.items())[:10]:
        print(f"job {n}: {s}")
    return 0 if done == args.jobs else 1


if __name__ == "__main__":
    sys.exit(main())
