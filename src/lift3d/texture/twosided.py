"""Two-sided projective texturing: a front chart and a back chart in one texture.

Projective UVs (:mod:`.projective`) give every vertex its photo pixel, so the back of
the object shows the front photo mirrored. With a back colour (what the learned shape
backend predicts for the unseen side) the back deserves its own pixels. This mode
keeps the projective idea, twice:

* each face goes to the *front* chart when it faces the camera (camera-frame normal
  against the view ray), else to the *back* chart;
* both charts are the camera's view of the object's bounding box: the front chart
  shows the photo, the back chart the back colour, mirrored left-right so it reads as
  the object seen from behind and both charts keep the faces' winding
  (counter-clockwise in uv, as :mod:`.atlas` promises);
* the two charts sit side by side or one above the other, whichever lets them be
  larger in a square texture, with the same scale on both axes (square texels);
* vertices are split only where front and back faces meet (``welded_index`` maps the
  copies back), so the welded mesh is still watertight;
* every texel of the texture belongs to the nearer chart, sampled from colours pushed
  past the silhouette, so the gutter and the rim never show background or black.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..types import Camera, Mesh
from .atlas import _split_by_chart

log = logging.getLogger(__name__)

__all__ = ["TwoSided", "two_sided_charts", "bake_two_sided"]

#: Chart ids.
FRONT, BACK = 0, 1


@dataclass(frozen=True)
class TwoSided:
    """A mesh split into a front and a back projective chart.

    Attributes:
        vertices: ``(V', 3)`` float64 camera-frame positions (copies along the seam).
        faces: ``(F, 3)`` int64, the input faces in order, re-indexed.
        uv: ``(V', 2)`` float32 in ``[0, 1]``, origin bottom-left.
        welded_index: ``(V',)`` int64 index of each vertex in the input mesh.
        face_chart: ``(F,)`` int8, :data:`FRONT` or :data:`BACK`.
        boxes: ``(2, 4)`` float64 ``(x0, y0, x1, y1)`` of each chart's window in
            normalised image coordinates (``0..1`` across the camera image, y down).
        origins: ``(2, 2)`` float64 texel position (edges, ``x`` right, ``y`` down)
            of each window's ``(x0, y0)`` corner (``(x1, y0)`` for the mirrored back).
        scale: texels per normalised image unit, both charts and both axes.
        split: ``(axis, at)``: texels with coordinate ``axis`` (0 = x, 1 = y) below
            ``at`` belong to the front chart, the others to the back chart.
        size: texture side in texels.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    welded_index: np.ndarray
    face_chart: np.ndarray
    boxes: np.ndarray
    origins: np.ndarray
    scale: float
    split: tuple[int, float]
    size: int


def _facing(vertices: np.ndarray, faces: np.ndarray, camera: Camera) -> np.ndarray:
    """``(F,)`` dot product of the unit face normal with the unit view ray (> 0: away)."""
    t = vertices[faces]
    n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)
    if camera.model == "orthographic":
        view = np.array([0.0, 0.0, 1.0])
        return n @ view
    c = t.mean(axis=1)
    c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-30)
    return np.einsum("fj,fj->f", n, c)


def two_sided_charts(mesh: Mesh, camera: Camera, size: int, gutter_px: int = 4) -> TwoSided:
    """Split ``mesh`` into front and back charts and lay them out in a square texture.

    Args:
        mesh: closed mesh in ``camera``'s frame.
        camera: the camera whose image both charts project into.
        size: texture side in texels.
        gutter_px: free texels around and between the charts.
    """
    v = np.asarray(mesh.vertices, dtype=np.float64)
    f = np.asarray(mesh.faces, dtype=np.int64)
    if len(f) == 0:
        raise ValueError("mesh: cannot texture a mesh without faces")
    size = int(size)
    g = float(max(0, int(gutter_px)))
    if size <= 4 * g + 8:
        raise ValueError(f"size: {size} texels is too small for two charts")
    chart = (_facing(v, f, camera) > 0.0).astype(np.int8)
    faces, welded, vert_chart = _split_by_chart(f, chart.astype(np.int64), len(v))

    px = camera.project(v)
    norm = np.stack([(px[:, 0] + 0.5) / camera.width, (px[:, 1] + 0.5) / camera.height], axis=1)
    boxes = np.zeros((2, 4))
    for c in (FRONT, BACK):
        used = np.unique(f[chart == c].ravel())
        if len(used) == 0:  # all faces on one side: give the empty chart a token window
            used = np.arange(len(v))
        p = norm[used]
        boxes[c] = (p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max())
    # Side by side or stacked, whichever gives the larger common scale; the gutters
    # keep each chart's bilinear footprint inside its own colours.
    w = np.maximum(boxes[:, 2] - boxes[:, 0], 1e-6)
    h = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
    side_k = min((size - 3 * g) / (w.sum()), (size - 2 * g) / h.max())
    stack_k = min((size - 2 * g) / w.max(), (size - 3 * g) / (h.sum()))
    k = float(max(side_k, stack_k))
    origins = np.zeros((2, 2))
    if side_k >= stack_k:
        origins[FRONT] = (g, g)
        origins[BACK] = (2 * g + k * w[FRONT], g)  # its right edge is where x0 goes
        split = (0, float(1.5 * g + k * w[FRONT]))
    else:
        origins[FRONT] = (g, g)
        origins[BACK] = (g, 2 * g + k * h[FRONT])
        split = (1, float(1.5 * g + k * h[FRONT]))

    tex = np.empty((len(welded), 2))
    n = norm[welded]
    fr = vert_chart == FRONT
    tex[fr, 0] = origins[FRONT, 0] + (n[fr, 0] - boxes[FRONT, 0]) * k
    tex[fr, 1] = origins[FRONT, 1] + (n[fr, 1] - boxes[FRONT, 1]) * k
    bk = ~fr
    # Mirrored: the back seen from behind has the image's right on its left.
    tex[bk, 0] = origins[BACK, 0] + (boxes[BACK, 2] - n[bk, 0]) * k
    tex[bk, 1] = origins[BACK, 1] + (n[bk, 1] - boxes[BACK, 1]) * k
    uv = np.stack([tex[:, 0] / size, 1.0 - tex[:, 1] / size], axis=1)
    log.debug("two-sided: %d front, %d back faces, %d seam copies, %.0f texels per image",
              int((chart == FRONT).sum()), int((chart == BACK).sum()), len(welded) - len(v), k)
    return TwoSided(
        vertices=v[welded],
        faces=faces,
        uv=np.clip(uv, 0.0, 1.0).astype(np.float32),
        welded_index=welded.astype(np.int64),
        face_chart=chart,
        boxes=boxes,
        origins=origins,
        scale=k,
        split=split,
        size=size,
    )


def bake_two_sided(charts: TwoSided, front: np.ndarray, back: np.ndarray) -> np.ndarray:
    """The texture of :func:`two_sided_charts`: every texel samples its chart's image.

    Args:
        charts: the layout.
        front: ``(H, W, 3)`` float32 in ``[0, 1]``, the photo over the camera's image
            (any resolution), background already replaced by object colours.
        back: ``(h, w, 3)`` float32 in ``[0, 1]``, the back colour over the same
            image, background replaced likewise.

    Returns:
        ``(size, size, 3)`` uint8, row 0 at the top, every texel filled.
    """
    import cv2

    size = charts.size
    k = charts.scale
    axis, at = charts.split
    cut = int(np.clip(np.ceil(at - 0.5), 0, size))  # first texel whose centre is >= at
    out = np.empty((size, size, 3), dtype=np.float32)
    for c, img in ((FRONT, front), (BACK, back)):
        # Each chart fills its side of the split; the maps are separable, so build
        # them from one row and one column of texel centres.
        rows = np.arange(size, dtype=np.float64) + 0.5
        cols = np.arange(size, dtype=np.float64) + 0.5
        if axis == 0:
            cols = cols[:cut] if c == FRONT else cols[cut:]
        else:
            rows = rows[:cut] if c == FRONT else rows[cut:]
        if len(rows) == 0 or len(cols) == 0:
            continue
        img = np.ascontiguousarray(np.asarray(img, dtype=np.float32)[..., :3])
        x0, y0, x1, _ = charts.boxes[c]
        ox, oy = charts.origins[c]
        nx = x0 + (cols - ox) / k if c == FRONT else x1 - (cols - ox) / k
        ny = y0 + (rows - oy) / k
        hh, ww = img.shape[:2]
        map_x = np.broadcast_to((nx * ww - 0.5).astype(np.float32)[None, :],
                                (len(rows), len(cols)))
        map_y = np.broadcast_to((ny * hh - 0.5).astype(np.float32)[:, None],
                                (len(rows), len(cols)))
        sampled = cv2.remap(img, np.ascontiguousarray(map_x), np.ascontiguousarray(map_y),
                            cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        r0 = size - len(rows) if (axis == 1 and c == BACK) else 0
        c0 = size - len(cols) if (axis == 0 and c == BACK) else 0
        out[r0:r0 + len(rows), c0:c0 + len(cols)] = sampled.reshape(len(rows), len(cols), 3)
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
