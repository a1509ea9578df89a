"""Helpers the batch tests share (importable by name in spawned worker processes)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from lift3d.batch import process_item


def crashing_item(item, out_dir, options):
    """:func:`process_item`, but an item whose id starts with ``crash`` kills its worker
    process outright (as a segfault in a native library would)."""
    if item.id.startswith("crash"):
        os._exit(9)
    return process_item(item, out_dir, options)


def write_csv(path: Path, rows: list[dict]) -> Path:
    names: list[str] = []
    for r in rows:
        names += [k for k in r if k not in names]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=names)
        w.writeheader()
        w.writerows(rows)
    return path
