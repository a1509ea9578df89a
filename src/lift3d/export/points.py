"""Coloured point clouds as binary PLY (the visible surface from ``lift3d depth``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write_bytes


def point_cloud_ply_bytes(points: np.ndarray, colours: np.ndarray) -> bytes:
    """Binary little-endian PLY of ``(N, 3)`` float32 points and ``(N, 3)`` uint8 colours."""
    p = np.asarray(points, dtype="<f4")
    c = np.asarray(colours, dtype=np.uint8)
    if p.ndim != 2 or p.shape[1] != 3 or c.shape != p.shape:
        raise ValueError(f"points must be (N, 3) with colours (N, 3); got {p.shape}, {c.shape}")
    rec = np.empty(len(p), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                                  ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    rec["x"], rec["y"], rec["z"] = p[:, 0], p[:, 1], p[:, 2]
    rec["red"], rec["green"], rec["blue"] = c[:, 0], c[:, 1], c[:, 2]
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        "comment lift3d point cloud: metres, +Y up, front towards +Z\n"
        f"element vertex {len(p)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        "end_header\n"
    )
    return header.encode("ascii") + rec.tobytes()


def write_point_cloud(path: str | os.PathLike, points: np.ndarray, colours: np.ndarray) -> Path:
    """Write a coloured point cloud atomically; returns the path."""
    return atomic_write_bytes(path, point_cloud_ply_bytes(points, colours))
