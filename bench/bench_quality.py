"""Time `lift3d repair --watertight` and `lift3d optimize --faces 20000` on a 1M-face mesh.

    .venv/bin/python bench/bench_quality.py [--mesh FILE] [--subdivide 2] [--out DIR]

The mesh is the shared Stanford bunny (``../shared/data/meshes``) subdivided
``--subdivide`` times (69 451 x 4^2 = 1.11 M faces) and coloured per vertex by
position, the way TripoSR-style generators deliver their meshes, written as a binary
PLY. Each command runs through the same library pipeline as the CLI (load, operation,
export, check of the written file), in this process; the table gives each stage's
seconds and the ratio to the issue's 30 s target.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TARGET_S = 30.0


def make_mesh(src: Path, subdivide: int, out: Path) -> int:
    """Subdivide ``src``, colour it by position and write it to ``out``; faces."""
    import trimesh

    from lift3d.export.asset import export_asset
    from lift3d.io.meshes import load_mesh
    from lift3d.types import MeshAsset

    a = load_mesh(src)
    v, f = np.asarray(a.vertices), np.asarray(a.faces)
    for _ in range(subdivide):
        v, f = trimesh.remesh.subdivide(v, f)
    lo, hi = v.min(axis=0), v.max(axis=0)
    rgb = (255 * (v - lo) / np.maximum(hi - lo, 1e-12)).astype(np.uint8)
    colours = np.concatenate([rgb, np.full((len(v), 1), 255, np.uint8)], axis=1)
    export_asset(MeshAsset(v, f, vertex_colors=colours), out)
    return len(f)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mesh", type=Path, default=SHARED / "meshes" / "stanford-bunny.obj")
    ap.add_argument("--subdivide", type=int, default=2)
    ap.add_argument("--faces", type=int, default=20000, help="optimize target (20000)")
    ap.add_argument("--out", type=Path, default=None, help="keep the files here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not args.mesh.is_file():
        print(f"bench_quality: {args.mesh} not found (needs ../shared/data)", file=sys.stderr)
        return 2
    from lift3d.quality.optimize import OptimizeOptions
    from lift3d.quality.pipeline import optimize_file, repair_file
    from lift3d.quality.repair import RepairOptions

    with tempfile.TemporaryDirectory() as tmp:
        work = args.out or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        src = work / "big.ply"
        n = make_mesh(args.mesh, args.subdivide, src)
        print(f"input: {args.mesh.name} subdivided {args.subdivide}x: {n:,} faces, "
              f"vertex colours, {src.stat().st_size / 1e6:.1f} MB PLY")
        runs = [
            ("repair --watertight", lambda: repair_file(
                src, work / "repaired.glb", RepairOptions(watertight=True))),
            (f"optimize --faces {args.faces}", lambda: optimize_file(
                src, work / "optimized.glb", OptimizeOptions(faces=args.faces))),
        ]
        print(f"\n{'command':<24} {'total s':>8} {'ratio':>6}  faces out  watertight  stages")
        for name, fn in runs:
            t = time.perf_counter()
            run = fn()
            total = time.perf_counter() - t
            stages = "  ".join(f"{s.name} {s.seconds:.1f}" for s in run.timings)
            print(f"{name:<24} {total:8.1f} {total / TARGET_S:6.2f}  {run.after.faces:9,}"
                  f"  {str(run.after.watertight):>10}  {stages}")
    print(f"\nratio = seconds / {TARGET_S:.0f} s target (2-core machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
