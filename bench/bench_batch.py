"""Batch throughput: items per minute for the shared photos with 1 and 2 local workers.

    .venv/bin/python bench/bench_batch.py                 # all shared photos, 1 and 2 workers
    .venv/bin/python bench/bench_batch.py --limit 20 --workers 1 2

Each run converts every photo of ``../shared/data/photos`` into its own fresh output
folder (default options: 20k faces, 1024² texture, GLB + preview) and prints a table:
items/min, wall time, the mean time per item inside a worker, and the speed-up over the
first worker count. Worker start-up (spawn, imports, loading the network) is counted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "photos"


def main(argv: list[str] | None = None) -> int:
    from lift3d.batch import BatchItem, BatchOptions, run_batch
    from lift3d.batch.manifest import safe_id
    from lift3d.multiview.frames import IMAGE_SUFFIXES

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--limit", type=int, default=0, help="first N photos only")
    ap.add_argument("--faces", type=int, default=None)
    ap.add_argument("--texture-size", type=int, default=None)
    args = ap.parse_args(argv)
    photos = sorted(p for p in PHOTOS.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        print(f"no photos in {PHOTOS}", file=sys.stderr)
        return 2
    if args.limit:
        photos = photos[: args.limit]
    items = [BatchItem(safe_id(p.stem), (p,)) for p in photos]
    print(f"lift3d batch: {len(items)} shared photos on {os.cpu_count()} cores")
    print()
    print("| workers | items/min | wall s | mean s per item (in worker) | done | failed | "
          "speed-up |")
    print("|---|---|---|---|---|---|---|")
    base = None
    for w in args.workers:
        with tempfile.TemporaryDirectory(prefix="lift3d-bench-batch-") as tmp:
            rep = run_batch(items, tmp, BatchOptions(workers=w, faces=args.faces,
                                                     texture_size=args.texture_size))
        made = [o for o in rep.outcomes if o.status == "done"]
        rate = 60.0 * len(made) / rep.wall_s
        mean = sum(o.seconds for o in made) / max(1, len(made))
        base = base or rate
        print(f"| {w} | {rate:.1f} | {rep.wall_s:.1f} | {mean:.2f} | {rep.done} | {rep.failed} "
              f"| {rate / base:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
