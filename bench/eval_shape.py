"""Evaluate shape backends on held-out synthetic objects: Chamfer, F-score, volume IoU.

    .venv/bin/python bench/eval_shape.py [--backends prior,learned] [--count 48]
        [--seed 20261121] [--size 384] [--out bench/out/eval] [--segment auto|gt|NAME]
        [--device auto|cpu|cuda] [--model NET.onnx] [--points 10000]
        [--faces N] [--texture-size N] [--save-meshes] [--reuse-photos]

Objects come from the synthetic ``eval`` split (:mod:`lift3d.synth`): the held-out
parameter band of every shape family and the held-out shared meshes, lit by held-out
HDR maps. The list is deterministic and balanced: object ``i`` takes slot
``i mod K`` of the families followed by one ``shared`` slot (which cycles through the
held-out shared meshes when the prepared assets exist).

For each object a photo is rendered at ``--size`` (written as PNG), then the full
pipeline (``lift3d.reconstruct``) runs on that file once per backend in this process,
so every backend sees the same photo and the same segmentation. Each welded output
mesh is scored against the ground-truth mesh with
:func:`lift3d.quality.score_meshes` (unit-box normalisation, rotation search + ICP,
Chamfer distance, F@0.1, F@0.05, volume IoU). A failing object is recorded as a
failure of that backend and excluded from its metric means.

``--segment gt`` writes the renderer's exact coverage mask as a PNG and hands it to
the pipeline (``segment="file"``): this separates shape quality from segmentation
errors. The default ``auto`` is what a user gets (the renders have no alpha, so the
classical segmenter).

Writes ``results.json`` and ``results.md`` to ``--out`` (atomically), and the photos
(and masks) under ``--out/photos`` (``--out/masks``). The training streams use seeds
0..99, so those are refused here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: Default seed of the evaluation stream; training uses seeds 0..99.
EVAL_SEED = 20261121
#: Seeds the training streams use, refused here so eval objects stay unseen.
TRAIN_SEEDS = range(0, 100)
#: The slot of the held-out shared (real) meshes in the round-robin.
SHARED_SLOT = "shared"
#: Metrics of :class:`lift3d.quality.ShapeScore` the tables report, with their headers.
METRICS: tuple[tuple[str, str], ...] = (
    ("chamfer", "CD"), ("f_01", "F@0.1"), ("f_005", "F@0.05"), ("iou", "IoU"))

log = logging.getLogger("eval_shape")


@dataclass(frozen=True)
class EvalObject:
    """One held-out object and the scene that shows it.

    Attributes:
        index: position in the evaluation list (also the scene index of the stream).
        slot: its round-robin slot: a family name or :data:`SHARED_SLOT`.
        scene: :class:`lift3d.synth.scene.Scene` (``scene.mesh`` is the ground truth:
            object frame, +Y up, largest extent 1).
    """

    index: int
    slot: str
    scene: Any

    @property
    def name(self) -> str:
        """File stem, e.g. ``007_extrude`` or ``009_shared-spot``."""
        label = self.scene.mesh.family.replace(":", "-").replace("/", "-")
        return f"{self.index:03d}_{label}"


def eval_plan(count: int, families: Sequence[str], shared: Sequence[str]) -> list[tuple[str, str]]:
    """The round-robin object list, before any mesh is drawn.

    Args:
        count: number of objects.
        families: procedural families, in order.
        shared: held-out shared mesh names (may be empty: no shared slot then).

    Returns:
        ``count`` pairs ``(slot, what)``: ``(family, family)`` or
        ``(SHARED_SLOT, mesh_name)``; the shared slot cycles through ``shared``.
    """
    if count < 1:
        raise ValueError(f"count: must be at least 1, got {count}")
    slots = list(families) + ([SHARED_SLOT] if shared else [])
    if not slots:
        raise ValueError("families: need at least one family or shared mesh")
    plan = []
    for i in range(count):
        slot = slots[i % len(slots)]
        if slot == SHARED_SLOT:
            plan.append((slot, shared[(i // len(slots)) % len(shared)]))
        else:
            plan.append((slot, slot))
    return plan


def eval_objects(count: int, seed: int = EVAL_SEED, assets: Any = None) -> list[EvalObject]:
    """The deterministic, balanced held-out objects (see :func:`eval_plan`).

    Args:
        count: number of objects.
        seed: the evaluation stream (not one of :data:`TRAIN_SEEDS`).
        assets: :class:`lift3d.synth.types.Assets` or ``None`` (procedural families
            and procedural lighting only).
    """
    if seed in TRAIN_SEEDS:
        raise ValueError(f"seed: {seed} is a training seed (0..99); pick another")
    from lift3d.synth.scene import sample_scene
    from lift3d.synth.shapes import FAMILIES, sample_mesh

    shared = assets.names("meshes", "eval") if assets is not None else ()
    objects = []
    for i, (slot, what) in enumerate(eval_plan(count, FAMILIES, shared)):
        if slot == SHARED_SLOT:
            mesh = assets.meshes[what]
        else:
            mesh = sample_mesh(np.random.default_rng([seed, i, 7]), "eval", assets,
                               family=what)
        scene = sample_scene(seed, i, "eval", assets, overrides={"mesh": mesh})
        objects.append(EvalObject(index=i, slot=slot, scene=scene))
    return objects


def render_object(scene: Any, size: int, device: str = "cpu",
                  ssaa: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Render one scene: the photo and the exact coverage mask.

    The photo is what :func:`lift3d.synth.render.render_photo` makes (one render pass
    gives both, on any torch device).

    Returns:
        ``(size, size, 3)`` uint8 sRGB photo and ``(size, size)`` float32 coverage in
        ``[0, 1]``.
    """
    import torch

    from lift3d.synth.render import render_scenes

    batch = render_scenes([scene], size, device, ssaa)
    img = batch.image[0].detach().cpu()
    photo = (img.permute(1, 2, 0) * 255.0 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
    mask = batch.mask[0, 0].detach().cpu().numpy().astype(np.float32)
    return photo, mask


def _write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    from lift3d.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def _read_cached(photo_path: Path, mask_path: Path | None,
                 size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The photo (and mask) an earlier run wrote, or None when missing or of another size."""
    from PIL import Image

    if not photo_path.is_file() or (mask_path is not None and not mask_path.is_file()):
        return None
    photo = np.asarray(Image.open(photo_path).convert("RGB"))
    if photo.shape[:2] != (size, size):
        return None
    if mask_path is None:
        return photo, np.zeros((size, size), np.float32)
    mask = np.asarray(Image.open(mask_path).convert("L"), dtype=np.float32) / 255.0
    return photo, mask


def evaluate_object(obj: EvalObject, backends: Sequence[str], out_dir: Path, *,
                    size: int, segment: str = "auto", device: str = "cpu", ssaa: int = 2,
                    points: int = 10000, config: dict | None = None,
                    save_meshes: bool = False, reuse_photos: bool = False) -> dict[str, Any]:
    """Render ``obj``, reconstruct it with every backend and score each result.

    Args:
        obj: the object.
        backends: shape backend names.
        out_dir: photos go to ``out_dir/photos`` (masks to ``out_dir/masks``).
        size: photo side in pixels.
        segment: a segmentation backend, or ``"gt"`` for the renderer's mask.
        device, ssaa: rendering device and supersampling.
        points: surface samples per mesh for the metrics.
        config: further :class:`lift3d.Config` fields (``faces``, ``model_path``...).
        save_meshes: also write each reconstruction as ``out_dir/meshes/NAME_BACKEND.glb``.
        reuse_photos: read the photo (and mask) an earlier run with the same seed, size
            and supersampling left in ``out_dir`` instead of rendering it again.

    Returns:
        a JSON-ready record: ``index``, ``slot``, ``family``, ``view``, ``photo``,
        ``render_s`` and ``backends`` (per backend: ``ok``, ``error``, the metrics,
        ``seconds``, ``stages``, ``watertight``, ``faces``).
    """
    import lift3d
    from lift3d.quality import score_meshes

    mesh = obj.scene.mesh
    record: dict[str, Any] = {
        "index": obj.index, "slot": obj.slot, "family": mesh.family,
        "view": [round(float(a), 2) for a in obj.scene.view], "backends": {}}
    t0 = time.perf_counter()
    photo_path = out_dir / "photos" / f"{obj.name}.png"
    mask_path = out_dir / "masks" / f"{obj.name}.png"
    cached = _read_cached(photo_path, mask_path if segment == "gt" else None, size
                          ) if reuse_photos else None
    if cached is None:
        photo, mask = render_object(obj.scene, size, device, ssaa)
        photo_path.parent.mkdir(parents=True, exist_ok=True)
        _write_png(photo_path, photo)
    else:
        photo, mask = cached
        record["reused_photo"] = True
    record["render_s"] = round(time.perf_counter() - t0, 3)
    record["photo"] = str(photo_path.relative_to(out_dir))
    cfg_fields = dict(config or {})
    if segment == "gt":
        mask_path.parent.mkdir(parents=True, exist_ok=True)
        _write_png(mask_path, (np.clip(mask, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
        cfg_fields.update(segment="file", mask_path=str(mask_path))
    else:
        cfg_fields.update(segment=segment)

    for backend in backends:
        entry: dict[str, Any] = {"ok": False, "error": None}
        try:
            t = time.perf_counter()
            result = lift3d.reconstruct(photo_path, lift3d.Config(shape=backend, **cfg_fields))
            entry["seconds"] = round(time.perf_counter() - t, 3)
            entry["stages"] = {s.name: round(s.seconds, 4) for s in result.timings}
            entry["watertight"] = bool(result.watertight)
            welded = result.mesh.welded()
            entry["faces"] = int(len(welded.faces))
            t = time.perf_counter()
            score = score_meshes(welded.vertices, welded.faces, mesh.vertices, mesh.faces,
                                 n=points, seed=obj.index, gt_part=mesh.part)
            entry["score_s"] = round(time.perf_counter() - t, 3)
            entry.update(score.as_dict())
            entry["ok"] = True
            if save_meshes:
                from lift3d.export import export

                (out_dir / "meshes").mkdir(exist_ok=True)
                export(result.mesh, out_dir / "meshes" / f"{obj.name}_{backend}.glb")
        except Exception as exc:  # noqa: BLE001 - one object's failure is a data point
            entry["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            log.debug("object %s, backend %s failed", obj.name, backend, exc_info=True)
        record["backends"][backend] = entry
    return record


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "median": None}
    return {"mean": float(np.mean(values)), "median": float(statistics.median(values))}


def summarise(records: Sequence[dict], backends: Sequence[str]) -> dict[str, Any]:
    """Per-backend and per-family aggregates of :func:`evaluate_object` records.

    Metric means and medians are over each backend's successful objects; failures
    are counted separately.

    Returns:
        ``{"backends": {b: {"n", "ok", "failures", "seconds", METRIC: {"mean",
        "median"}}}, "families": {slot: {"n", b: {METRIC: mean}}}}``.
    """
    out: dict[str, Any] = {"backends": {}, "families": {}}
    for b in backends:
        ok = [r["backends"][b] for r in records if r["backends"].get(b, {}).get("ok")]
        row: dict[str, Any] = {
            "n": len(records), "ok": len(ok), "failures": len(records) - len(ok),
            "seconds": _stats([e["seconds"] for e in ok])["mean"]}
        for key, _ in METRICS:
            row[key] = _stats([e[key] for e in ok])
        out["backends"][b] = row
    slots = list(dict.fromkeys(r["slot"] for r in records))
    for slot in slots:
        rows = [r for r in records if r["slot"] == slot]
        fam: dict[str, Any] = {"n": len(rows)}
        for b in backends:
            ok = [r["backends"][b] for r in rows if r["backends"].get(b, {}).get("ok")]
            fam[b] = {key: _stats([e[key] for e in ok])["mean"] for key, _ in METRICS}
            fam[b]["failures"] = len(rows) - len(ok)
        out["families"][slot] = fam
    return out


def common_records(records: Sequence[dict], backends: Sequence[str]) -> list[dict]:
    """The records every backend reconstructed and scored."""
    return [r for r in records if all(r["backends"].get(b, {}).get("ok") for b in backends)]


def failure_groups(records: Sequence[dict], backends: Sequence[str]) -> list[str]:
    """One line per (backend, error message): how many objects failed so, and which.

    A misconfigured backend fails every object with one message; grouping keeps that
    to one line.
    """
    groups: dict[tuple[str, str], list[int]] = {}
    for r in records:
        for b in backends:
            e = r["backends"].get(b, {"ok": False, "error": "not run"})
            if not e["ok"]:
                groups.setdefault((b, e["error"]), []).append(r["index"])
    lines = []
    for (b, why), idx in groups.items():
        shown = ", ".join(map(str, idx[:12])) + (", ..." if len(idx) > 12 else "")
        lines.append(f"{b}: {len(idx)} object{'s' if len(idx) > 1 else ''} ({shown}): {why}")
    return lines


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table whose columns also line up as plain text."""
    width = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
             for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, width, strict=True)))

    return [line(header) + " |",
            "|" + "|".join("-" * (w + 1) + ("-" if i == 0 else ":")
                           for i, w in enumerate(width)) + "|",
            *(line(r) + " |" for r in rows)]


def overall_table(summary: dict[str, Any], backends: Sequence[str]) -> list[str]:
    """One row per backend: successes, failures, mean and median of every metric, time."""
    header = ["backend", "ok", "fail"]
    for _, name in METRICS:
        header += [f"{name} mean", f"{name} med"]
    header.append("s/object")
    rows = []
    for b in backends:
        s = summary["backends"][b]
        row = [b, str(s["ok"]), str(s["failures"])]
        for key, _ in METRICS:
            row += [_fmt(s[key]["mean"]), _fmt(s[key]["median"])]
        row.append(_fmt(s["seconds"], 2))
        rows.append(row)
    return _table(header, rows)


def family_table(summary: dict[str, Any], backends: Sequence[str]) -> list[str]:
    """One row per family slot: mean F@0.05 and IoU of every backend."""
    header = ["family", "n"]
    for b in backends:
        header += [f"{b} F@0.05", f"{b} IoU"]
    rows = []
    for slot, fam in summary["families"].items():
        row = [slot, str(fam["n"])]
        for b in backends:
            fail = fam[b]["failures"]
            mark = f" ({fail} failed)" if fail else ""
            row += [_fmt(fam[b]["f_005"]) + mark, _fmt(fam[b]["iou"])]
        rows.append(row)
    return _table(header, rows)


def format_report(summary: dict[str, Any], backends: Sequence[str]) -> str:
    """The overall table and the per-family table, as Markdown."""
    lines = ["Overall (means and medians over each backend's successful objects; CD lower "
             "is better, the rest higher):", "", *overall_table(summary, backends), "",
             "Per family (means):", "", *family_table(summary, backends)]
    if "common" in summary:
        common = summary["common"]
        lines += ["", f"On the {len(common['indices'])} objects every backend reconstructed:",
                  "", *overall_table(common, backends)]
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
    from lift3d.io.atomic import atomic_write_bytes

    atomic_write_bytes(path, text.encode("utf-8"))


def run(args: argparse.Namespace, command: str) -> int:
    """Evaluate with parsed ``args``; print and write the results. Returns the exit code."""
    import lift3d
    from lift3d.errors import InputError

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends:
        print("eval_shape: --backends lists no backend", file=sys.stderr)
        return 2
    config: dict[str, Any] = {"faces": args.faces, "texture_size": args.texture_size}
    if args.model is not None:
        config["model_path"] = str(args.model)
    try:
        for b in backends:  # fail fast on a misspelt backend or option
            lift3d.Config(shape=b, **config,
                          **({"segment": args.segment} if args.segment != "gt" else {}))
    except InputError as exc:
        print(f"eval_shape: {exc}", file=sys.stderr)
        return 2
    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"

    assets = None
    if not args.no_assets:
        from lift3d.synth.assets import ensure_assets

        # The same assets whatever the working directory (the defaults are relative
        # to it): the checkout's cache, prepared from the shared data beside it.
        os.environ.setdefault("LIFT3D_SYNTH_ASSETS", str(REPO / ".cache" / "synth" /
                                                         "assets.npz"))
        os.environ.setdefault("LIFT3D_SHARED_DATA", str(REPO.parent / "shared" / "data"))
        assets = ensure_assets()
    objects = eval_objects(args.count, args.seed, assets)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    segment_note = ("gt (the renderer's exact mask, segment='file')" if args.segment == "gt"
                    else f"{args.segment}")
    print(f"{len(objects)} objects (seed {args.seed}, split eval, "
          f"{'with' if assets is not None else 'without'} shared assets), photos "
          f"{args.size} px on {device}, segmentation: {segment_note}, backends: "
          f"{', '.join(backends)}")

    records = []
    for obj in objects:
        rec = evaluate_object(obj, backends, out, size=args.size, segment=args.segment,
                              device=device, ssaa=args.ssaa, points=args.points,
                              config=config, save_meshes=args.save_meshes,
                              reuse_photos=args.reuse_photos)
        records.append(rec)
        cells = []
        for b in backends:
            e = rec["backends"][b]
            cells.append(f"{b}: F@0.05 {e['f_005']:.3f} IoU {e['iou']:.3f} {e['seconds']:.1f}s"
                         if e["ok"] else f"{b}: FAILED {e['error']}")
        print(f"{obj.name:28s} render {rec['render_s']:5.1f}s  " + "  ".join(cells), flush=True)

    summary = summarise(records, backends)
    common = common_records(records, backends)
    if len(backends) > 1 and 0 < len(common) < len(records):
        # Means over each backend's own successes favour the one that fails on hard
        # objects; the objects every backend reconstructed compare like with like.
        summary["common"] = summarise(common, backends)
        summary["common"]["indices"] = [r["index"] for r in common]
    report = format_report(summary, backends)
    print()
    print(report, end="")
    failures = failure_groups(records, backends)
    for line in failures:
        print(f"FAILED {line}")
    settings = {
        "backends": backends, "count": args.count, "seed": args.seed, "size": args.size,
        "segment": args.segment, "device": device, "ssaa": args.ssaa, "points": args.points,
        "faces": args.faces, "texture_size": args.texture_size,
        "model": None if args.model is None else str(args.model),
        "assets": assets is not None, "commit": _commit(),
    }
    payload = {"command": command, "settings": settings, "summary": summary,
               "objects": records}
    _write_text(out / "results.json", json.dumps(payload, indent=1) + "\n")
    md = [f"# Shape evaluation\n\n```\n{command}\n```\n",
          f"{len(records)} held-out objects (synthetic eval split, seed {args.seed}), "
          f"photos {args.size} px, segmentation: {segment_note}.\n", report]
    if failures:
        md.append("\nFailures:\n\n" + "".join(f"* {line}\n" for line in failures))
    _write_text(out / "results.md", "\n".join(md))
    print(f"\nwrote {out / 'results.json'} and {out / 'results.md'}")
    return 0


def _short(path: str) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return str(Path(path).absolute().relative_to(Path.cwd()))
    except ValueError:
        return path


def _commit() -> str | None:
    """``git describe --always --dirty`` of the checkout, when git can tell."""
    import subprocess

    try:
        r = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO,
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="prior,learned",
                    help="comma-separated shape backends (default: prior,learned)")
    ap.add_argument("--count", type=int, default=48, help="number of objects (default 48)")
    ap.add_argument("--seed", type=int, default=EVAL_SEED,
                    help=f"evaluation stream (default {EVAL_SEED}; 0..99 are training's)")
    ap.add_argument("--size", type=int, default=384, help="photo side in pixels (384)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "eval")
    ap.add_argument("--segment", default="auto",
                    help="segmentation backend, or 'gt' for the renderer's exact mask")
    ap.add_argument("--device", default="auto", help="render device: auto, cpu, cuda")
    ap.add_argument("--ssaa", type=int, default=2, help="render supersampling (2)")
    ap.add_argument("--model", type=Path, default=None,
                    help="ONNX shape network for the learned backend (default: packaged)")
    ap.add_argument("--points", type=int, default=10000, help="surface samples per mesh")
    ap.add_argument("--faces", type=int, default=20000, help="pipeline face target")
    ap.add_argument("--texture-size", type=int, default=1024, help="pipeline texture side")
    ap.add_argument("--no-assets", action="store_true",
                    help="procedural objects and lighting only (no shared meshes or HDRs)")
    ap.add_argument("--save-meshes", action="store_true",
                    help="also write every reconstruction to OUT/meshes/*.glb")
    ap.add_argument("--reuse-photos", action="store_true",
                    help="reuse the photos an earlier run with the same --seed, --size and "
                         "--ssaa left in --out instead of rendering them again")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = ap.parse_args(argv)
    if args.count < 1:
        ap.error("--count must be at least 1")
    if args.seed in TRAIN_SEEDS:
        ap.error(f"--seed {args.seed} is a training seed (0..99); pick another")
    if args.size < 32:
        ap.error("--size must be at least 32")
    if args.points < 100:
        ap.error("--points must be at least 100")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    command = shlex.join([_short(sys.executable), _short(__file__), *words])
    print(command, flush=True)
    args = parse_args(words)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return run(args, command)


if __name__ == "__main__":
    sys.exit(main())
