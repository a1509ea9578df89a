"""Photo to depth map and visible-surface point cloud (``lift3d depth``).

Runs load, segment and shape (no meshing or texturing), then maps the front depth
of the layered depth back onto the photo's own pixel grid.

The 16-bit PNG stores ``1 + round((z - near) / (far - near) * 65534)`` inside the
object and 0 outside, with ``z`` the front z-depth in metres; ``near`` and ``far``
are in the PNG's text chunks ``lift3d:near_m`` and ``lift3d:far_m``. Every shape
backend (``Config.shape``: the silhouette prior, the learned network) sees the crop
with an orthographic camera, so ``z`` is measured from the object's nearest point
(``near`` is then 0) and the metres come from the requested size (as for meshes).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import conventions
from .config import Config
from .errors import InputError
from .pipeline import ProgressCallback, _Clock, shape_from_photo, world_transform
from .types import Crop, LayeredDepth, Photo, StageTiming

log = logging.getLogger(__name__)

STAGES: tuple[str, ...] = ("load", "segment", "shape", "depth", "write")


@dataclass(frozen=True)
class DepthResult:
    """A depth map over the photo.

    Attributes:
        depth_m: ``(H, W)`` float32 front z-depth in metres on the photo's (working)
            pixel grid; NaN where there is no object.
        near_m, far_m: the range of ``depth_m`` over the object.
        points: number of points in the point cloud (object pixels).
        timings: per-stage timings.
    """

    depth_m: np.ndarray
    near_m: float
    far_m: float
    points: int
    timings: tuple[StageTiming, ...]


def depth_on_photo(photo: Photo, crop: Crop, depth: LayeredDepth,
                   cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Resample the front depth onto the photo grid, in metres.

    Size and placement come from :func:`lift3d.pipeline.world_transform`, the rule
    meshes are placed by, applied to the layered depth's entry and exit points: the
    cloud and the mesh of one photo agree to within the meshing's voxel.

    Returns:
        ``(depth_m, points_world)``: depth ``(H, W)`` float32 (NaN outside), and the
        ``(N, 3)`` glTF-frame points of the visible surface in metres.
    """
    import cv2

    from .segment import photo_to_crop

    cam = depth.camera
    inside = depth.mask >= 0.5
    all_v, all_u = np.nonzero(inside)
    parts = [cam.unproject(all_u, all_v, depth.front[inside]),
             cam.unproject(all_u, all_v, depth.back[inside])]
    if depth.back2 is not None:
        # A second layer (a handle behind the body) extends the mesh further back;
        # the cloud must be placed by the same extent.
        l2 = inside & np.isfinite(depth.back2)
        v2, u2 = np.nonzero(l2)
        parts.append(cam.unproject(u2, v2, depth.back2[l2]))
    solid = np.concatenate(parts)
    scale, offset = world_transform(solid, cfg, depth.units_per_metre)

    xx, yy = conventions.pixel_centers(photo.width, photo.height)
    uc, vc = photo_to_crop(crop, xx, yy)
    # Crop pixels (size S) to depth-camera pixels (size R): same box, other grid.
    r = cam.width / crop.size
    ud = ((uc + 0.5) * r - 0.5).astype(np.float32)
    vd = ((vc + 0.5) * r - 0.5).astype(np.float32)
    front = cv2.remap(depth.front.astype(np.float32), ud, vd, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    mask = cv2.remap(depth.mask.astype(np.float32), ud, vd, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    obj = mask >= 0.5
    if not obj.any():
        raise InputError("depth: the object vanished when mapped back to the photo")

    pts_cam = cam.unproject(ud[obj], vd[obj], front[obj])
    pts = conventions.world_from_cam_points(pts_cam) * scale + offset
    z_m = (front - float(front[obj].min())) * scale
    depth_m = np.where(obj, z_m, np.nan).astype(np.float32)
    return depth_m, pts


def encode_depth_png(depth_m: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(H, W)`` metres (NaN = none) to uint16 codes, with ``(near, far)``."""
    valid = np.isfinite(depth_m)
    near = float(np.nanmin(depth_m)) if valid.any() else 0.0
    far = float(np.nanmax(depth_m)) if valid.any() else 0.0
    span = max(far - near, 1e-9)
    code = np.zeros(depth_m.shape, np.uint16)
    code[valid] = (1 + np.round((depth_m[valid] - near) / span * 65534)).astype(np.uint16)
    return code, near, far


def colourise(depth_m: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB preview: near is warm, far is cool, no object is white."""
    import cv2

    valid = np.isfinite(depth_m)
    out = np.full(depth_m.shape + (3,), 255, np.uint8)
    if valid.any():
        near, far = np.nanmin(depth_m), np.nanmax(depth_m)
        t = np.zeros(depth_m.shape, np.float32)
        t[valid] = 1.0 - (depth_m[valid] - near) / max(far - near, 1e-9)
        bgr = cv2.applyColorMap((t * 255).astype(np.uint8), cv2.COLORMAP_TURBO)
        out[valid] = bgr[valid][:, ::-1]
    return out


def photo_to_depth_files(
    image,
    output: str | os.PathLike,
    config: Config | None = None,
    ply: str | os.PathLike | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[DepthResult, list[Path]]:
    """Write a 16-bit depth PNG, its colourised preview and optionally a point cloud.

    Args:
        image: path or array, as for :func:`lift3d.reconstruct`.
        output: the 16-bit ``.png``; the preview goes to ``{stem}_color.png`` beside it.
        config: pipeline options (``height`` sets the metres).
        ply: optional ``.ply`` path for the coloured point cloud (glTF frame, metres).

    Returns:
        the :class:`DepthResult` and the files written.
    """
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from .export.points import write_point_cloud
    from .io.atomic import atomic_path, check_writable_dir

    cfg = config if config is not None else Config()
    out = Path(output)
    if out.suffix.lower() != ".png":
        raise InputError(f"output: a depth map is a .png file, got {out.name!r}")
    check_writable_dir(out.parent if str(out.parent) else Path("."))
    ply_path = Path(ply) if ply is not None else None
    if ply_path is not None:
        if ply_path.suffix.lower() != ".ply":
            raise InputError(f"ply: the point cloud is a .ply file, got {ply_path.name!r}")
        check_writable_dir(ply_path.parent if str(ply_path.parent) else Path("."))

    clock = _Clock(STAGES, progress)
    photo, _, crop, depth = shape_from_photo(image, cfg, clock, crop_size=cfg.resolution)
    with clock.stage("depth"):
        depth_m, pts = depth_on_photo(photo, crop, depth, cfg)
        code, near, far = encode_depth_png(depth_m)
    written: list[Path] = []
    with clock.stage("write"):
        info = PngInfo()
        info.add_text("lift3d:near_m", f"{near:.6f}")
        info.add_text("lift3d:far_m", f"{far:.6f}")
        info.add_text("lift3d:encoding", "0 = no object; else near + (code - 1) / 65534 * "
                      "(far - near) metres of front z-depth")
        with atomic_path(out) as tmp:
            Image.fromarray(code).save(tmp, format="PNG", pnginfo=info)
        written.append(out)
        colour_path = out.with_name(out.stem + "_color.png")
        with atomic_path(colour_path) as tmp:
            Image.fromarray(colourise(depth_m)).save(tmp, format="PNG")
        written.append(colour_path)
        if ply_path is not None:
            valid = np.isfinite(depth_m)
            colours = (np.clip(photo.rgb[valid], 0, 1) * 255 + 0.5).astype(np.uint8)
            write_point_cloud(ply_path, pts.astype(np.float32), colours)
            written.append(ply_path)
    clock.done()
    return DepthResult(depth_m, near, far, int(len(pts)), tuple(clock.timings)), written
