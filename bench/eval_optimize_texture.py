"""Does `lift3d optimize --faces 5000` keep a textured mesh's texture mapping? Render and compare.

    .venv/bin/python bench/eval_optimize_texture.py [--faces 5000] [--size 256]

Textured meshes: what ``lift3d image`` makes of the bundled example and of a few shared
photos (20 000 faces, 1024² textures), with projective UVs and with an xatlas atlas
(``--uv atlas``). Each is optimised to ``--faces`` with
:func:`lift3d.quality.optimize.optimize_mesh` (decimated, unwrapped again and the
texture re-baked from the original), then the original, the result and a control (the
result with its UVs shuffled between vertices: a broken mapping) are rendered from four
sides with :func:`lift3d.render.view.render_view`. The table gives the mean absolute
difference from the original's renders (0-255, over pixels either render covers) and
the PSNR; a kept mapping scores near the geometry-only error, far below the control.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "photos"
DEFAULT_PHOTOS = ("triposr_robot.png", "instantmesh_fox.jpg", "triposr_hamburger.png")
AZIMUTHS = (30.0, 120.0, 210.0, 300.0)


def to_asset(tm):
    from lift3d.types import MeshAsset

    return MeshAsset(tm.vertices.astype(np.float64), tm.faces.astype(np.int64),
                     uv=tm.uv.astype(np.float32), texture=tm.texture, unit="m",
                     up_axis="Y", material=tm.material)


def to_textured(asset):
    from lift3d.mesh import vertex_normals
    from lift3d.types import TexturedMesh

    v = np.asarray(asset.vertices, np.float64)
    f = np.asarray(asset.faces, np.int64)
    return TexturedMesh(vertices=v.astype(np.float32), faces=f.astype(np.int32),
                        normals=vertex_normals(v, f).astype(np.float32),
                        uv=np.asarray(asset.uv, np.float32), texture=asset.texture[..., :3],
                        material=asset.material)


def compare(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean absolute difference over pixels either image covers (not pure white), PSNR."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    cover = (a < 250).any(axis=2) | (b < 250).any(axis=2)
    d = np.abs(a - b)[cover]
    mse = float((d ** 2).mean())
    return float(d.mean()), 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=5000)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args(argv)

    import lift3d
    from lift3d.quality.optimize import OptimizeOptions, optimize_mesh
    from lift3d.render.view import render_view

    photos = [REPO / "examples" / "mug.jpg"] + [PHOTOS / n for n in DEFAULT_PHOTOS
                                                  if (PHOTOS / n).is_file()]
    rng = np.random.default_rng(0)
    print(f"{'mesh':<34} {'faces':>13} {'MAD kept':>9} {'PSNR':>6} {'MAD control':>12} "
          f"{'PSNR':>6}")
    rows = []
    for photo in photos:
        for uv in ("projective", "atlas"):
            result = lift3d.reconstruct(photo, lift3d.Config(uv=uv))
            src = to_asset(result.mesh)
            out = optimize_mesh(src, OptimizeOptions(faces=args.faces, origin="keep")).lods[0]
            shuffled = out.__class__(**{**out.__dict__,
                                        "uv": out.uv[rng.permutation(len(out.uv))]})
            kept, ctrl = [], []
            for az in AZIMUTHS:
                ref = render_view(to_textured(src), az, size=args.size, shadow=False)
                kept.append(compare(ref, render_view(to_textured(out), az, size=args.size,
                                                     shadow=False)))
                ctrl.append(compare(ref, render_view(to_textured(shuffled), az,
                                                     size=args.size, shadow=False)))
            k, c = np.mean(kept, axis=0), np.mean(ctrl, axis=0)
            rows.append((k, c))
            name = f"{photo.stem} ({uv})"
            print(f"{name:<34} {len(src.faces):>6}->{len(out.faces):<6} {k[0]:9.2f} "
                  f"{k[1]:6.1f} {c[0]:12.2f} {c[1]:6.1f}")
    k = np.mean([r[0] for r in rows], axis=0)
    c = np.mean([r[1] for r in rows], axis=0)
    print(f"\nmean: kept MAD {k[0]:.2f} (PSNR {k[1]:.1f} dB), control MAD {c[0]:.2f} "
          f"(PSNR {c[1]:.1f} dB); {len(AZIMUTHS)} views of {args.size} px each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
