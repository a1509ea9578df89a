"""Dense depth with COLMAP's PatchMatch stereo, where pycolmap was built with CUDA.

The PyPI ``pycolmap`` wheel is CPU-only (``pycolmap.has_cuda`` is False); install
``pycolmap-cuda12`` instead of it on a CUDA machine and ``dense_backend="auto"`` uses
this route. COLMAP undistorts the photos into its own workspace, runs PatchMatch with
geometric consistency (its maps are then already filtered), and lift3d reads the
``*.geometric.bin`` depth maps back with the undistorted pinhole cameras.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import InputError
from .dense import DepthMap
from .sfm import load_pycolmap
from .types import View

log = logging.getLogger(__name__)


def cuda_available() -> bool:
    """Whether the installed pycolmap can run PatchMatch stereo (built with CUDA)."""
    try:
        pycolmap = load_pycolmap("COLMAP PatchMatch stereo")
    except ImportError:
        return False
    return bool(getattr(pycolmap, "has_cuda", False))


def read_colmap_array(path: Path) -> np.ndarray:
    """Read a COLMAP dense array file (``width&height&channels&`` then float32 data,
    column-major) as ``(H, W)`` or ``(H, W, C)`` float32."""
    data = Path(path).read_bytes()
    parts = data.split(b"&", 3)
    if len(parts) != 4:
        raise InputError(f"{path}: not a COLMAP array file (no width&height&channels& header)")
    try:
        w, h, c = (int(x) for x in parts[:3])
    except ValueError:
        raise InputError(f"{path}: not a COLMAP array file (bad header)") from None
    body = np.frombuffer(parts[3], dtype=np.float32)
    if body.size != w * h * c:
        raise InputError(f"{path}: holds {body.size} values, the header says {w}x{h}x{c}")
    arr = body.reshape((w, h, c), order="F").transpose(1, 0, 2)
    return np.ascontiguousarray(arr[:, :, 0] if c == 1 else arr)


def patch_match_depth_maps(model_dir: Path, image_dir: Path, work_dir: Path,
                           max_side: int) -> list[DepthMap]:
    """COLMAP PatchMatch depth maps of every registered view (CUDA only).

    Args:
        model_dir: the sparse model COLMAP wrote (``cameras.bin``, ``images.bin``...).
        image_dir: folder of the photos.
        work_dir: COLMAP's dense workspace (undistorted images, depth maps).
        max_side: long side of the undistorted images and depth maps, pixels.

    Returns:
        One :class:`DepthMap` per registered image, with its undistorted pinhole view;
        depths COLMAP filtered out are 0.
    """
    pycolmap = load_pycolmap("COLMAP PatchMatch stereo")
    if not cuda_available():
        raise InputError("dense_backend: 'colmap' needs pycolmap built with CUDA "
                         "(pip install pycolmap-cuda12 on a machine with an NVIDIA GPU); "
                         "use 'cpu'")
    opts = pycolmap.UndistortCameraOptions()
    opts.max_image_size = max_side
    pycolmap.undistort_images(work_dir, model_dir, image_dir, undistort_options=opts)
    pm = pycolmap.PatchMatchOptions()
    pm.max_image_size = max_side
    pm.geom_consistency = True
    pycolmap.patch_match_stereo(work_dir, options=pm)
    return read_workspace(work_dir)


def read_workspace(work_dir: Path) -> list[DepthMap]:
    """The geometric depth maps of a COLMAP dense workspace, with their views."""
    pycolmap = load_pycolmap("reading a COLMAP workspace")
    rec = pycolmap.Reconstruction(str(work_dir / "sparse"))
    out = []
    for img in sorted(rec.images.values(), key=lambda i: i.name):
        cam = img.camera
        fx, fy, cx, cy = (float(x) for x in cam.params[:4])
        # COLMAP's pixel origin is the top-left corner; lift3d's is the first centre.
        K = np.array([[fx, 0, cx - 0.5], [0, fy, cy - 0.5], [0, 0, 1]])
        T = np.asarray(img.cam_from_world().matrix(), dtype=np.float64)
        view = View(img.name, K, T, int(cam.width), int(cam.height))
        path = work_dir / "stereo" / "depth_maps" / f"{img.name}.geometric.bin"
        if not path.is_file():
            log.warning("COLMAP wrote no depth map for %s", img.name)
            depth = np.zeros((view.height, view.width), np.float32)
        else:
            depth = np.maximum(read_colmap_array(path), 0).astype(np.float32)
        out.append(DepthMap(view, depth, (depth > 0).astype(np.float32)))
    return out
