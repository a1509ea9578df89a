"""Compare a photogrammetry mesh with a reference mesh: similarity alignment, Chamfer, F-score.

    .venv/bin/python bench/eval_photos.py OURS.ply|glb|obj|... [--reference REF.ply]
        [--json OUT.json] [--samples 200000] [--seed 0] [--verbose]

The acceptance test of ``lift3d photos``: our dense mesh of the ``sceaux_castle`` photos
against the mesh the OpenMVS pipeline made from the same photos (the default
``--reference``, ``../shared/data/multiview/sceaux_castle/openmvs_reference_mesh.ply``).
Both meshes are read with :func:`lift3d.io.meshes.load_mesh` (any format it reads) and
compared with :func:`lift3d.multiview.compare.compare_meshes`: ours is aligned onto the
reference by a similarity (both come from structure from motion, so rotation,
translation and scale are unknown), then Chamfer distance and precision / recall /
F-score at 1% and 2% of the reference's bounding-box diagonal are measured over the
region both meshes cover, and over everything. The module docstring of
:mod:`lift3d.multiview.compare` gives the protocol.

Prints a table; ``--json`` also writes every number (atomically). Exit codes: 0 done,
2 bad input (unreadable mesh, bad option).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: The OpenMVS mesh of the sceaux_castle photos, beside the checkout.
DEFAULT_REFERENCE = (REPO.parent / "shared" / "data" / "multiview" / "sceaux_castle"
                     / "openmvs_reference_mesh.ply")

log = logging.getLogger("eval_photos")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ours", type=Path, help="our mesh (any format lift3d reads)")
    ap.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE,
                    help=f"the reference mesh (default: {DEFAULT_REFERENCE})")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    ap.add_argument("--samples", type=int, default=200_000,
                    help="surface samples per mesh (default 200000)")
    ap.add_argument("--seed", type=int, default=0, help="seed of sampling and alignment")
    ap.add_argument("--verbose", action="store_true", help="log the alignment's progress")
    return ap.parse_args(argv)


def _rotation_angle_deg(rotation: Any) -> float:
    import numpy as np

    cos = (float(np.trace(rotation)) - 1.0) / 2.0
    return math.degrees(math.acos(min(1.0, max(-1.0, cos))))


def format_table(result: Any, ours: str, ref: str, sizes: dict[str, tuple[int, int]],
                 seconds: float) -> str:
    """The report of one :class:`~lift3d.multiview.compare.MeshComparison`, as text."""
    c = result
    t1, t2 = (f"{100 * t:g}%" for t in c.taus)
    rows = [
        ("Chamfer (ref units)", c.chamfer, c.chamfer_all, "{:.4g}"),
        ("Chamfer / diagonal", c.chamfer_relative, c.chamfer_relative_all, "{:.3%}"),
        (f"precision @{t1}", c.precision_1, c.precision_1_all, "{:.4f}"),
        (f"recall @{t1}", c.recall_1, c.recall_1_all, "{:.4f}"),
        (f"F-score @{t1}", c.fscore_1, c.fscore_1_all, "{:.4f}"),
        (f"precision @{t2}", c.precision_2, c.precision_2_all, "{:.4f}"),
        (f"recall @{t2}", c.recall_2, c.recall_2_all, "{:.4f}"),
        (f"F-score @{t2}", c.fscore_2, c.fscore_2_all, "{:.4f}"),
    ]
    xf = c.transform
    lines = [
        f"ours:       {ours} ({sizes['ours'][0]} vertices, {sizes['ours'][1]} faces)",
        f"reference:  {ref} ({sizes['ref'][0]} vertices, {sizes['ref'][1]} faces)",
        f"alignment:  scale {xf.scale:.6g}, rotation {_rotation_angle_deg(xf.rotation):.2f} deg,"
        f" ICP RMS {c.icp_rmse:.4g} ({c.icp_rmse / c.diagonal:.3%} of the diagonal),"
        f" {c.candidates_tried} starts",
        f"diagonal:   {c.diagonal:.6g} (reference units); {c.samples_ours} samples a mesh",
        f"common:     {c.common_fraction_ours:.1%} of our surface, "
        f"{c.common_fraction_ref:.1%} of the reference's",
        "",
        f"{'metric':<22} {'common':>10} {'all':>10}",
    ]
    for name, common, everything, fmt in rows:
        lines.append(f"{name:<22} {fmt.format(common):>10} {fmt.format(everything):>10}")
    lines.append(f"\n{seconds:.1f} s")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from lift3d.errors import Lift3DError
    from lift3d.io.meshes import load_mesh
    from lift3d.multiview.compare import compare_meshes

    t0 = time.perf_counter()
    try:
        ours = load_mesh(args.ours)
        ref = load_mesh(args.reference)
        result = compare_meshes(ours.vertices, ours.faces, ref.vertices, ref.faces,
                                samples=args.samples, seed=args.seed)
    except Lift3DError as exc:  # bad input or a missing extra: the message says which
        print(f"eval_photos: {exc}", file=sys.stderr)
        return exc.exit_code
    seconds = time.perf_counter() - t0
    sizes = {"ours": (len(ours.vertices), len(ours.faces)),
             "ref": (len(ref.vertices), len(ref.faces))}
    print(format_table(result, str(args.ours), str(args.reference), sizes, seconds))
    if args.json is not None:
        from lift3d.io.atomic import atomic_write_bytes

        payload = {"ours": str(args.ours), "reference": str(args.reference),
                   "ours_faces": sizes["ours"][1], "reference_faces": sizes["ref"][1],
                   "seconds": round(seconds, 3), "seed": args.seed, **result.as_dict()}
        try:
            atomic_write_bytes(args.json, (json.dumps(payload, indent=1) + "\n").encode())
        except OSError as exc:  # OutputError names the path
            print(f"eval_photos: --json: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {args.json}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
