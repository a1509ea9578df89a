"""Quality metrics of reconstructions against ground truth.

:mod:`.shape_metrics` scores a predicted mesh against the true one the way the
TripoSR and SF3D papers do (unit-box normalisation, brute-force alignment plus ICP,
Chamfer distance, F-score at 0.1 and 0.05, volume IoU). numpy and scipy only.
"""

from __future__ import annotations

from .shape_metrics import (
    FSCORE_TAUS,
    ShapeScore,
    align,
    candidate_rotations,
    chamfer,
    fscore,
    normalise_unit_box,
    points_inside,
    sample_surface,
    score_meshes,
    surface_of_union,
    volume_iou,
    voxelise,
)

__all__ = [
    "FSCORE_TAUS",
    "ShapeScore",
    "align",
    "candidate_rotations",
    "chamfer",
    "fscore",
    "normalise_unit_box",
    "points_inside",
    "sample_surface",
    "score_meshes",
    "surface_of_union",
    "volume_iou",
    "voxelise",
]
