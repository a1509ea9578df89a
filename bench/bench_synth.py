"""Benchmark the synthetic renderer: scene sampling (CPU) and batched rendering.

Prints samples/s and ms per batch for each part, and optionally writes a contact sheet
(image, front depth, back depth, normals, back colour of each sample).

    .venv/bin/python bench/bench_synth.py [--device cpu|cuda] [--size 128] [--batch 64]
        [--iters 5] [--ssaa 1] [--assets DIR] [--sheet OUT.png] [--sheet-count 24]

Without the shape families (``lift3d.synth.shapes``) it falls back to a few built-in
primitives so the renderer can still be measured.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _primitives():
    """Built-in test meshes: sphere, box, torus, cylinder, cone, a two-part mug."""
    import numpy as np
    import trimesh

    from lift3d.synth.types import SynthMesh

    def norm(v):
        v = np.asarray(v, np.float64)
        v = v - (v.min(0) + v.max(0)) / 2
        return (v / (v.max(0) - v.min(0)).max()).astype(np.float32)

    def mk(m, name):
        return SynthMesh(norm(m.vertices), np.asarray(m.faces, np.int64),
                         np.zeros(len(m.faces), np.int16), name)

    body = trimesh.creation.cylinder(0.35, 0.9, sections=48)
    handle = trimesh.creation.torus(0.22, 0.06, major_sections=32, minor_sections=12)
    handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    handle.apply_translation([0.38, 0, 0])
    for m in (body, handle):
        m.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    v = np.concatenate([body.vertices, handle.vertices])
    f = np.concatenate([body.faces, handle.faces + len(body.vertices)])
    part = np.concatenate([np.zeros(len(body.faces)), np.ones(len(handle.faces))])
    mug = SynthMesh(norm(v), f.astype(np.int64), part.astype(np.int16), "mug")
    cyl = trimesh.creation.cylinder(0.3, 1.0, sections=40)
    cyl.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    cone = trimesh.creation.cone(0.4, 0.8, sections=40)
    cone.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    return [mk(trimesh.creation.icosphere(3), "sphere"),
            mk(trimesh.creation.box((0.7, 1.0, 0.45)), "box"),
            mk(trimesh.creation.torus(0.35, 0.12, major_sections=48, minor_sections=16), "torus"),
            mk(cyl, "cylinder"), mk(cone, "cone"), mug]


def _sampler(assets):
    """``sample(seed, index, split)``: the real one, else primitives with random draws."""
    from lift3d.synth.scene import sample_scene

    try:
        import lift3d.synth.shapes  # noqa: F401
        return lambda seed, i, split: sample_scene(seed, i, split, assets)
    except ImportError:
        print("bench_synth: lift3d.synth.shapes not found; using built-in primitives",
              file=sys.stderr)
        prims = _primitives()
        return lambda seed, i, split: sample_scene(
            seed, i, split, assets, overrides={"mesh": prims[i % len(prims)]})


def _sheet(batch, path: Path, cols: int = 3) -> None:
    import cv2
    import numpy as np

    img = batch.image.permute(0, 2, 3, 1).cpu().numpy()
    mask = batch.mask[:, 0].cpu().numpy()
    depth = batch.depth.cpu().numpy()
    normals = batch.normals.permute(0, 2, 3, 1).cpu().numpy()
    back = batch.back_rgb.permute(0, 2, 3, 1).cpu().numpy()
    layer2 = batch.layer2[:, 0].cpu().numpy()

    def colour_depth(d, m):
        x = np.clip((d + 1.5) / 3.5, 0, 1)
        c = cv2.applyColorMap((x * 255).astype(np.uint8), cv2.COLORMAP_TURBO)[..., ::-1]
        return np.where(m[..., None] > 0, c / 255.0, 0.15)

    cells = []
    for i in range(img.shape[0]):
        hitm = (np.abs(depth[i, 0]) + np.abs(depth[i, 1]) > 0) | (mask[i] > 0.5)
        back_d = colour_depth(depth[i, 1], hitm)
        back_d[layer2[i] > 0] = back_d[layer2[i] > 0] * 0.6 + 0.4  # second layer: paler
        panels = [img[i], colour_depth(depth[i, 0], hitm), back_d,
                  np.where(hitm[..., None], normals[i] * 0.5 + 0.5, 0.15),
                  np.where(hitm[..., None], back[i], 0.15)]
        cells.append(np.concatenate(panels, axis=1))
    rows = []
    blank = np.zeros_like(cells[0])
    for r in range(0, len(cells), cols):
        row = cells[r:r + cols] + [blank] * (cols - len(cells[r:r + cols]))
        rows.append(np.concatenate([np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=1.0)
                                    for c in row], axis=1))
    out = (np.clip(np.concatenate(rows, axis=0), 0, 1) * 255 + 0.5).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), out[..., ::-1])
    print(f"contact sheet: {path}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--ssaa", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="train")
    ap.add_argument("--assets", type=Path, default=None, help="prepared assets directory")
    ap.add_argument("--sheet", type=Path, default=None, help="write a contact sheet here")
    ap.add_argument("--sheet-count", type=int, default=24)
    ap.add_argument("--sheet-size", type=int, default=128)
    args = ap.parse_args(argv)

    import torch

    from lift3d.synth.render import render_scenes

    assets = None
    if args.assets is not None:
        from lift3d.synth.assets import load_assets

        assets = load_assets(args.assets)
    sample = _sampler(assets)
    dev = torch.device(args.device)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    # Warm-up: first-call allocations and kernel selection are not what a run pays.
    render_scenes([sample(args.seed, i, args.split) for i in range(args.batch)],
                  args.size, dev, args.ssaa)
    sync()
    t_sample, t_render = [], []
    for it in range(args.iters):
        base = (it + 1) * args.batch
        t0 = time.perf_counter()
        scenes = [sample(args.seed, base + i, args.split) for i in range(args.batch)]
        t1 = time.perf_counter()
        render_scenes(scenes, args.size, dev, args.ssaa)
        sync()
        t2 = time.perf_counter()
        t_sample.append(t1 - t0)
        t_render.append(t2 - t1)
    faces = statistics.mean(len(s.mesh.faces) for s in scenes)
    print(f"device {dev}  size {args.size}  batch {args.batch}  ssaa {args.ssaa}  "
          f"iters {args.iters}  mean faces {faces:.0f}")
    print(f"{'stage':<22}{'ms/batch':>10}{'samples/s':>12}")
    for name, ts in (("sample scenes (CPU)", t_sample), ("render", t_render)):
        m = statistics.median(ts)
        print(f"{name:<22}{m * 1e3:>10.1f}{args.batch / m:>12.1f}")
    if args.sheet is not None:
        n = args.sheet_count
        scenes = [sample(args.seed, 10_000 + i, args.split) for i in range(n)]
        _sheet(render_scenes(scenes, args.sheet_size, dev, 2), args.sheet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
