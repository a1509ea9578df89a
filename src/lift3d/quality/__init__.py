"""The quality stage: make any mesh shippable, and measure reconstructions.

* :mod:`.check`: what is wrong with a mesh (:func:`check_mesh` -> :class:`MeshReport`),
  and whether it passes a delivery preset (:mod:`.presets`).
* :mod:`.repair`: safe clean-up and the volumetric watertight remesh (:func:`repair_mesh`).
* :mod:`.optimize`: budgets, remeshing, UVs, baking, LODs, real scale
  (:func:`optimize_mesh`), with :mod:`.bake` and :mod:`.transfer`.
* :mod:`.pipeline`: the file-to-file runs behind ``lift3d check/repair/optimize``.
* :mod:`.shape_metrics`: a predicted mesh against the true one, the way the TripoSR and
  SF3D papers score it (unit-box normalisation, rotation search plus ICP, Chamfer
  distance, F-score at 0.1 and 0.05, volume IoU).
"""

from __future__ import annotations

from .check import MeshReport, PresetVerdict, check_mesh, evaluate_preset
from .optimize import OptimizeOptions, OptimizeResult, optimize_mesh
from .presets import PRESETS, Preset, get_preset
from .repair import RepairOptions, RepairResult, repair_mesh, winding_remesh
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
    "PRESETS",
    "MeshReport",
    "OptimizeOptions",
    "OptimizeResult",
    "Preset",
    "PresetVerdict",
    "RepairOptions",
    "RepairResult",
    "check_mesh",
    "evaluate_preset",
    "get_preset",
    "optimize_mesh",
    "repair_mesh",
    "winding_remesh",
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
