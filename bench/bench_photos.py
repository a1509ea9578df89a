"""Benchmark of ``lift3d photos``: registration on every shared photo set, and the whole
pipeline's per-stage times on one of them.

    .venv/bin/python bench/bench_photos.py --sfm-only            # lund, monstree, sceaux
    .venv/bin/python bench/bench_photos.py sceaux_castle -o bench/out/sceaux.glb

The first prints, per set, registered images, mean reprojection error and track
lengths (the acceptance figures of structure from motion). The second runs the
pipeline at its default settings, prints each stage's wall time and the total, and
writes the mesh (compare it with the reference by ``bench/eval_photos.py``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "multiview"
SETS = ("lund", "monstree", "sceaux_castle")


def sfm_table(sets: list[str]) -> int:
    from lift3d.multiview.frames import gather_images
    from lift3d.multiview.sfm import SfmOptions, run_sfm

    rows = []
    for name in sets:
        inputs = gather_images(DATA / name)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            model = run_sfm(inputs.paths, Path(tmp), SfmOptions())
            wall = time.perf_counter() - t0
        r = model.report
        rows.append((name, r, wall))
    print(f"{'set':<15}{'registered':>12}{'share':>8}{'reproj px':>11}{'track':>8}"
          f"{'points':>8}{'mapper':>13}{'focal':>8}{'seconds':>9}")
    ok = True
    for name, r, wall in rows:
        share = r.registered_fraction
        ok &= share >= 0.9 and r.mean_reprojection_error < 1.0
        print(f"{name:<15}{len(r.registered):>6}/{r.images:<5}{100 * share:>7.0f}%"
              f"{r.mean_reprojection_error:>11.3f}{r.mean_track_length:>8.2f}{r.points:>8}"
              f"{r.mapper:>13}{'exif' if r.focal_from_exif else 'guess':>8}{wall:>9.1f}")
        hist = ", ".join(f"{k}:{c}" for k, c in r.track_length_histogram)
        print(f"{'':<15}track lengths {hist}")
    print("acceptance (>= 90% registered, < 1.0 px):", "PASS" if ok else "FAIL")
    return 0 if ok else 1


def pipeline(name: str, output: Path, workspace: str | None) -> int:
    from lift3d.multiview.pipeline import PhotosOptions, photos_to_file

    t0 = time.perf_counter()
    result, written = photos_to_file(DATA / name, output, PhotosOptions(),
                                     workspace=workspace)
    wall = time.perf_counter() - t0
    rep = result.report
    print(f"lift3d photos {name} (defaults), {len(rep.sfm.registered)}/{rep.sfm.images} "
          f"registered")
    print(f"{'stage':<10}{'seconds':>9}{'share':>8}")
    for t in rep.timings:
        print(f"{t.name:<10}{t.seconds:>9.1f}{100 * t.seconds / wall:>7.0f}%")
    sfm_parts = ", ".join(f"{k} {v:.1f} s" for k, v in rep.sfm.seconds)
    print(f"{'total':<10}{wall:>9.1f}   (sfm: {sfm_parts})")
    if rep.reused:
        print(f"reused from the workspace: {', '.join(rep.reused)} (not a cold run)")
    for line in rep.summary_lines():
        print("  " + line)
    print("wrote", ", ".join(str(p) for p in written))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set", nargs="?", default="sceaux_castle", choices=SETS)
    ap.add_argument("-o", "--output", type=Path, default=REPO / "bench" / "out" / "photos.glb")
    ap.add_argument("--workspace", default=None,
                    help="reuse a workspace (then the timings are not a cold run)")
    ap.add_argument("--sfm-only", action="store_true",
                    help="only structure from motion, on every set")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not DATA.is_dir():
        print(f"no shared data at {DATA}", file=sys.stderr)
        return 2
    if args.sfm_only:
        return sfm_table(list(SETS))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    return pipeline(args.set, args.output, args.workspace)


if __name__ == "__main__":
    sys.exit(main())
