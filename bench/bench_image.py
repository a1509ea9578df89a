"""Benchmark `lift3d image` on every photo in ../shared/data/photos.

Prints per-stage median and max times, end-to-end median, peak memory (RSS), faces,
watertight rate and failures, and writes a contact sheet of every preview.

    .venv/bin/python bench/bench_image.py [--photos DIR] [--out DIR] [--limit N]

Each photo runs in-process, as a server or batch worker would; imports are done
once before timing starts (their one-off cost is printed separately).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=REPO.parent / "shared" / "data" / "photos")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    ap.add_argument("--limit", type=int, default=0, help="only the first N photos")
    ap.add_argument("--names", default="",
                    help="comma-separated file names: only these photos, in this order")
    ap.add_argument("--sheet", type=Path, default=None,
                    help="contact sheet path (default OUT/contact_sheet.png)")
    ap.add_argument("--uv", default="projective")
    ap.add_argument("--cli", action="store_true",
                    help="time `lift3d image` as a fresh process per photo (imports included; "
                         "peak RSS of the largest child)")
    args = ap.parse_args(argv)
    if not args.photos.is_dir():
        print(f"bench: no photos at {args.photos}", file=sys.stderr)
        return 2

    if args.cli:
        return bench_cli(args)
    t0 = time.perf_counter()
    import numpy as np

    import lift3d
    from lift3d.errors import NoObjectError
    from lift3d.export import export
    from lift3d.render import contact_sheet, render_view

    # Warm up the lazy imports (skimage, scipy.sparse, cv2, fast_simplification) so
    # the first photo's figures are comparable with the rest.
    yy, xx = np.mgrid[0:96, 0:96]
    disc = (np.hypot(xx - 48, yy - 48) < 30)[..., None] * np.array([0.8, 0.3, 0.2])
    lift3d.reconstruct(np.where(disc > 0, disc, 1.0).astype(np.float32),
                       lift3d.Config(faces=2000, texture_size=256))
    import_s = time.perf_counter() - t0

    photos = _select(args)
    args.out.mkdir(parents=True, exist_ok=True)
    cfg = lift3d.Config(uv=args.uv)
    rows, stage_times, totals, thumbs, labels = [], {}, [], [], []
    failures, no_object = [], []
    for p in photos:
        t = time.perf_counter()
        try:
            res = lift3d.reconstruct(p, cfg)
            t_rec = time.perf_counter() - t
            te = time.perf_counter()
            export(res.mesh, args.out / f"{p.stem}.glb")
            t_exp = time.perf_counter() - te
        except NoObjectError as exc:
            no_object.append((p.name, str(exc)))
            print(f"{p.name:40s} no object: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not stop
            failures.append((p.name, f"{type(exc).__name__}: {exc}"))
            print(f"{p.name:40s} FAILED: {type(exc).__name__}: {exc}")
            continue
        total = t_rec + t_exp
        totals.append(total)
        for st in res.timings:
            stage_times.setdefault(st.name, []).append(st.seconds)
        stage_times.setdefault("export", []).append(t_exp)
        rows.append((p.name, total, len(res.mesh.faces), res.watertight))
        # A three-quarter view and a side view: the side shows the guessed depth.
        thumbs.append(np.hstack([
            render_view(res.mesh, azimuth_deg=30.0, elevation_deg=15.0, size=256),
            render_view(res.mesh, azimuth_deg=100.0, elevation_deg=10.0, size=256),
        ]))
        labels.append(f"{p.stem[:28]}{'' if res.watertight else ' (open)'}")
        print(f"{p.name:40s} {total:6.2f} s  {len(res.mesh.faces):6d} faces  "
              f"watertight={res.watertight}")

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    n = len(photos)
    ok = len(rows)
    wt = sum(1 for r in rows if r[3])
    print()
    print(f"photos: {n}   converted: {ok}   no object (exit 3): {len(no_object)}   "
          f"failed: {len(failures)}")
    print(f"one-off import + warm-up: {import_s:.2f} s")
    print()
    print(f"{'stage':<10}{'median s':>10}{'max s':>10}")
    for name, vals in stage_times.items():
        print(f"{name:<10}{statistics.median(vals):>10.3f}{max(vals):>10.3f}")
    if totals:
        print(f"{'total':<10}{statistics.median(totals):>10.3f}{max(totals):>10.3f}")
        print()
        print(f"median end-to-end: {statistics.median(totals):.2f} s per photo "
              f"(target <= 3 s: ratio {statistics.median(totals) / 3.0:.2f})")
        faces = [r[2] for r in rows]
        print(f"faces: median {int(statistics.median(faces))}, min {min(faces)}, max {max(faces)}")
        print(f"watertight: {wt}/{ok} = {100.0 * wt / max(ok, 1):.1f}% (target >= 95%)")
    print(f"peak RSS: {peak_mb:.0f} MB (target <= 2048 MB: ratio {peak_mb / 2048:.2f})")
    for name, why in failures:
        print(f"FAILED {name}: {why}")
    if thumbs:
        sheet = contact_sheet(thumbs, labels, columns=4, cell=384)
        path = args.sheet or (args.out / "contact_sheet.png")
        from PIL import Image

        Image.fromarray(sheet).save(path, quality=85) if path.suffix.lower() in (
            ".jpg", ".jpeg") else Image.fromarray(sheet).save(path)
        print(f"contact sheet: {path}")
    return 1 if failures else 0


def _select(args: argparse.Namespace) -> list[Path]:
    photos = sorted(p for p in args.photos.iterdir() if p.is_file())
    if args.names:
        by_name = {p.name: p for p in photos}
        missing = [n for n in args.names.split(",") if n not in by_name]
        if missing:
            raise SystemExit(f"bench: not in {args.photos}: {', '.join(missing)}")
        photos = [by_name[n] for n in args.names.split(",")]
    if args.limit:
        photos = photos[: args.limit]
    return photos


def bench_cli(args: argparse.Namespace) -> int:
    """Wall time of the command line, one process per photo, as a user runs it."""
    import json
    import subprocess

    photos = _select(args)
    args.out.mkdir(parents=True, exist_ok=True)
    walls, codes, watertight = [], {}, 0
    for p in photos:
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "lift3d", "image", str(p), "-o",
                            str(args.out / f"{p.stem}.glb"), "--json"],
                           capture_output=True, text=True)
        wall = time.perf_counter() - t
        codes[r.returncode] = codes.get(r.returncode, 0) + 1
        if r.returncode == 0:
            walls.append(wall)
            watertight += bool(json.loads(r.stdout)["watertight"])
        print(f"{p.name:40s} exit {r.returncode}  {wall:6.2f} s")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    print()
    print(f"photos: {len(photos)}   exit codes: {codes}")
    if walls:
        print(f"CLI wall time per photo: median {statistics.median(walls):.2f} s, "
              f"max {max(walls):.2f} s (target <= 3 s: ratio "
              f"{statistics.median(walls) / 3.0:.2f})")
        print(f"watertight: {watertight}/{len(walls)}")
    print(f"peak RSS of one CLI process: {peak_mb:.0f} MB (target <= 2048 MB)")
    return 0 if set(codes) <= {0, 3} else 1


if __name__ == "__main__":
    sys.exit(main())
