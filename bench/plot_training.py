"""Draw the training curves of a ``python -m lift3d.train`` run from its ``log.jsonl``.

    python bench/plot_training.py docs/training/log.jsonl -o docs/training/curves.png

Three panels: training loss (every logged step), validation loss, and the validation
metrics (mask IoU, front and back depth mean absolute error, normalised units).
Pillow only, so it runs wherever lift3d is installed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw

from lift3d.io.atomic import atomic_path

W, H, PAD = 520, 300, 44
COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189))


def read(path: Path) -> tuple[list[dict], list[dict]]:
    train, val = [], []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("kind") == "train":
            train.append(rec)
        elif rec.get("kind") == "val":
            val.append(rec)
    # A resumed call may log a step twice; keep the last record of each step.
    def dedup(rows: list[dict]) -> list[dict]:
        return sorted({r["step"]: r for r in rows}.values(), key=lambda r: r["step"])

    return dedup(train), dedup(val)


def panel(title: str, series: dict[str, list[tuple[float, float]]]) -> Image.Image:
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    pts = [p for s in series.values() for p in s]
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    y0, y1 = min(0.0, y0), y1 * 1.05

    def to_px(x: float, y: float) -> tuple[float, float]:
        return (PAD + (x - x0) / max(x1 - x0, 1e-9) * (W - 2 * PAD),
                H - PAD - (y - y0) / max(y1 - y0, 1e-9) * (H - 2 * PAD))

    d.rectangle([PAD, PAD, W - PAD, H - PAD], outline=(160, 160, 160))
    d.text((PAD, 12), title, fill="black")
    for frac in (0.0, 0.5, 1.0):
        y = y0 + frac * (y1 - y0)
        d.text((4, to_px(x0, y)[1] - 6), f"{y:.2f}", fill=(90, 90, 90))
    d.text((PAD, H - PAD + 8), f"step {x0:.0f}", fill=(90, 90, 90))
    d.text((W - PAD - 70, H - PAD + 8), f"step {x1:.0f}", fill=(90, 90, 90))
    for i, (name, s) in enumerate(series.items()):
        c = COLOURS[i % len(COLOURS)]
        d.line([to_px(x, y) for x, y in s], fill=c, width=2)
        d.text((W - PAD - 150, PAD + 6 + 14 * i), name, fill=c)
    return img


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args()
    train, val = read(args.log)
    panels = [
        panel("training loss", {"loss": [(r["step"], r["loss"]) for r in train]}),
        panel("validation loss (held-out scenes)", {"loss": [(r["step"], r["loss"]) for r in val]}),
        panel("validation metrics", {
            "mask IoU": [(r["step"], r["mask_iou"]) for r in val],
            "front MAE": [(r["step"], r["front_mae"]) for r in val],
            "back MAE": [(r["step"], r["back_mae"]) for r in val],
        }),
    ]
    sheet = Image.new("RGB", (W * len(panels), H), "white")
    for i, p in enumerate(panels):
        sheet.paste(p, (i * W, 0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        sheet.save(tmp, format="PNG")
    print(f"wrote {args.out}: {len(train)} training and {len(val)} validation records")


if __name__ == "__main__":
    main()
