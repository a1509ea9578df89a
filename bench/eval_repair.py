"""`lift3d repair --watertight` on every test mesh: closed? one piece? how far moved?

    .venv/bin/python bench/eval_repair.py [--corpus] [--resolution 256]

Meshes: the 16 of ``../shared/data/meshes`` and the OpenMVS reconstruction of
``../shared/data/multiview/sceaux_castle`` (a real photogrammetry mesh with holes),
plus, with ``--corpus``, the planted-defect corpus of ``tests/quality/broken.py``
(compared with its undamaged meshes). Each is loaded with :func:`lift3d.io.meshes.load_mesh`,
repaired with ``RepairOptions(watertight=True)`` and judged: watertight and one
component (:func:`lift3d.quality.check.check_mesh` on the result), and the symmetric
mean surface distance to the input (20 000 area-uniform samples each way, exact
closest-point distances) as a percentage of the input's bounding-box diagonal. The
issue's bar is 1 %.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def _meshes() -> list[Path]:
    found = sorted(p for p in (SHARED / "meshes").glob("*")
                   if p.suffix.lower() in (".obj", ".ply", ".off", ".stl", ".glb"))
    sceaux = SHARED / "multiview" / "sceaux_castle" / "openmvs_reference_mesh.ply"
    return found + ([sceaux] if sceaux.is_file() else [])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", action="store_true", help="also the planted-defect corpus")
    ap.add_argument("--resolution", type=int, default=256)
    args = ap.parse_args(argv)

    from lift3d.io.meshes import load_mesh
    from lift3d.quality.check import check_mesh
    from lift3d.quality.repair import RepairOptions, repair_mesh, surface_deviation

    jobs = [(p.name, lambda p=p: load_mesh(p), None) for p in _meshes()]
    if args.corpus:
        sys.path.insert(0, str(REPO / "tests" / "quality"))
        from broken import corpus

        jobs += [(f"corpus:{k}", lambda c=c: c.asset, c.clean) for k, c in corpus(0).items()]
    if not jobs:
        print("eval_repair: no meshes found (needs ../shared/data)", file=sys.stderr)
        return 2
    opts = RepairOptions(watertight=True, resolution=args.resolution)
    print(f"{'mesh':<34} {'faces in':>9} {'faces out':>9} {'closed':>6} {'parts':>5} "
          f"{'dist %':>7} {'s':>6}  how")
    worst, failures = 0.0, 0
    for name, load, reference in jobs:
        asset = load()
        t = time.perf_counter()
        result = repair_mesh(asset, opts)
        seconds = time.perf_counter() - t
        out = result.asset
        report = check_mesh(out, intersections=False)
        ref = reference or asset
        dist = 100.0 * surface_deviation(ref.vertices, ref.faces, out.vertices, out.faces)
        ok = report.watertight_after_weld and report.components == 1 and dist <= 1.0
        failures += not ok
        worst = max(worst, dist)
        how = ("remeshed" if result.remeshed else "safe clean-up") + (
            " (shell)" if any("thin shell" in n for n in result.notes) else "")
        print(f"{name:<34} {len(asset.faces):>9,} {len(out.faces):>9,} "
              f"{str(report.watertight_after_weld):>6} {report.components:>5} {dist:7.3f} "
              f"{seconds:6.1f}  {how}{'' if ok else '  <-- FAILS'}")
    print(f"\n{len(jobs) - failures}/{len(jobs)} closed, one piece and within 1 % "
          f"(worst {worst:.3f} % of the bounding-box diagonal)")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
