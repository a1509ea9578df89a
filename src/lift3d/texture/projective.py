"""Projective texturing: each vertex's UV is where it appears in the photo crop.

A single photo sees one side of the object. Mapping every vertex to its pixel gives
one UV per vertex (no seams, so the mesh stays welded and watertight in every
format) and shows the back as the photo seen from behind: the mirrored copy. Rim
texels, where the surface turns away from the camera, sample the photo just inside
the silhouette because the texture has the object's colours pushed outward past it.
"""

from __future__ import annotations

import numpy as np

from ..types import Camera, Mesh


def projective_uv(mesh: Mesh, camera: Camera) -> np.ndarray:
    """``(V, 2)`` float32 UVs in ``[0, 1]`` (origin bottom-left) of a camera-frame mesh.

    UV ``(0, 0)`` is the bottom-left *corner* of the camera image, so pixel centre
    ``(u, v)`` maps to ``((u + 0.5) / W, 1 - (v + 0.5) / H)``.
    """
    px = camera.project(np.asarray(mesh.vertices))
    s = (px[:, 0] + 0.5) / camera.width
    t = 1.0 - (px[:, 1] + 0.5) / camera.height
    return np.clip(np.stack([s, t], axis=1), 0.0, 1.0).astype(np.float32)
