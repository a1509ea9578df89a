"""The learned shape backend: a compact U-Net, run with ONNX Runtime on the crop.

The network (trained by :mod:`lift3d.train` on renders from :mod:`lift3d.synth`) sees
the object crop composited over white and predicts, per pixel of a
:data:`~lift3d.shape.netio.INPUT_SIZE` square, where the ray enters and leaves the
object (twice, for handles and rings), the surface normal at the entry and the colour
of the unseen back. Its I/O layout is :mod:`lift3d.shape.netio`.

:func:`learned_shape` turns that into a :class:`~lift3d.types.LayeredDepth` seen by the
same orthographic camera as the silhouette prior, so every later stage treats both
backends alike. The segmentation stays in charge of the silhouette: the layered
depth's mask is the crop's alpha, and the network's depths are extrapolated past its
own mask so every object pixel has a depth.

onnxruntime is imported only when a network runs; importing this module is cheap.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..errors import InputError, one_line
from ..types import Camera, Crop, LayeredDepth
from . import netio
from .prior import MID_PLANE_Z

log = logging.getLogger(__name__)

#: Where the trained weights ship inside the package.
DEFAULT_MODEL_PATH: Path = Path(__file__).resolve().parent / "weights" / "shape_net.onnx"



def default_model_path() -> Path:
    """The packaged network, ``lift3d/shape/weights/shape_net.onnx``."""
    return DEFAULT_MODEL_PATH


def load_session(model_path: str | os.PathLike | None = None):
    """The ONNX Runtime session of the shape network at ``model_path``, cached.

    Sessions are cached per file (path, modification time and size), so a network is
    loaded once per process. CUDA is used when onnxruntime offers it, else the CPU
    with one intra-op thread per core.

    Raises:
        InputError: the file is missing, is not a loadable ONNX model, or its inputs
            and outputs do not follow :mod:`lift3d.shape.netio`.
        MissingExtraError: onnxruntime is not installed.
    """
    path = Path(model_path) if model_path is not None else DEFAULT_MODEL_PATH
    if not path.is_file():
        raise InputError(
            f"model_path: shape network weights not found at {path}; use --shape prior "
            "(the silhouette prior needs no weights) or point --model at a shape_net.onnx"
        )
    from ..models import onnx_session

    sess = onnx_session(path, "the learned shape network",
                        hint="use --shape prior or another --model", error=InputError)
    inputs = [i.name for i in sess.get_inputs()]
    outputs = [o.name for o in sess.get_outputs()]
    if netio.INPUT_NAME not in inputs or netio.OUTPUT_NAME not in outputs:
        raise InputError(
            f"model_path: {path} is not a lift3d shape network (inputs {inputs}, outputs "
            f"{outputs}; expected {netio.INPUT_NAME!r} -> {netio.OUTPUT_NAME!r})"
        )
    return sess


def _resize(a: np.ndarray, size: int) -> np.ndarray:
    """Resample a square map (``(S, S)`` or ``(S, S, C)``) to ``size``; area down,
    bilinear up (half-pixel centres: both grids span the same square)."""
    import cv2

    if a.shape[0] == size:
        return np.ascontiguousarray(a, dtype=np.float32)
    interp = cv2.INTER_AREA if size < a.shape[0] else cv2.INTER_LINEAR
    out = cv2.resize(np.ascontiguousarray(a, dtype=np.float32), (size, size),
                     interpolation=interp)
    return out.reshape((size, size) + a.shape[2:])


def network_input(rgb: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """The network's view of a square image: over white where ``alpha`` is given,
    resized to :data:`~lift3d.shape.netio.INPUT_SIZE`.

    Args:
        rgb: ``(S, S, 3)`` float32 sRGB in ``[0, 1]``.
        alpha: optional ``(S, S)`` float32 in ``[0, 1]``; the background becomes white
            (the training renders include studio-white backgrounds, and the network
            must see the object, not the clutter the segmentation removed).

    Returns:
        ``(INPUT_SIZE, INPUT_SIZE, 3)`` float32 in ``[0, 1]``.
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] != rgb.shape[1]:
        raise ValueError(f"rgb: expected a square (S, S, 3) image, got {rgb.shape}")
    if alpha is not None:
        a = np.clip(np.asarray(alpha, dtype=np.float32), 0.0, 1.0)[..., None]
        rgb = rgb * a + (1.0 - a)
    return np.clip(_resize(rgb, netio.INPUT_SIZE), 0.0, 1.0)


def predict(image: np.ndarray, model_path: str | os.PathLike | None = None) -> netio.NetOutput:
    """Run the shape network on one square image.

    Args:
        image: ``(S, S, 3)`` float32 sRGB in ``[0, 1]`` (resized to ``INPUT_SIZE`` if
            needed), already composited as the caller wants it.
        model_path: the ONNX file (default: the packaged network).

    Returns:
        the decoded :class:`~lift3d.shape.netio.NetOutput` at ``INPUT_SIZE``.
    """
    x = network_input(image)
    sess = load_session(model_path)
    batch = np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)
    try:
        (out,) = sess.run([netio.OUTPUT_NAME], {netio.INPUT_NAME: batch})
    except Exception as exc:
        raise InputError(f"model_path: the shape network failed to run ({one_line(exc)})"
                         ) from exc
    s = netio.INPUT_SIZE
    want = (1, netio.OUT_CHANNELS, s, s)
    if tuple(np.shape(out)) != want:
        raise InputError(f"model_path: the shape network returned {np.shape(out)}, "
                         f"expected {want}")
    return netio.decode(out[0])


def _nearest_inside(valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the nearest ``valid`` pixel, for every pixel."""
    from scipy.ndimage import distance_transform_edt

    _, (iy, ix) = distance_transform_edt(~valid, return_indices=True)
    return iy, ix


def learned_shape(crop: Crop, thickness: float = 0.8, resolution: int | None = None,
                  model_path: str | os.PathLike | None = None) -> LayeredDepth:
    """Layered depth of the object in ``crop`` predicted by the shape network.

    Args:
        crop: the object crop; its alpha is the silhouette (and the background the
            network sees is white).
        thickness: ignored: the network predicts the thickness. Accepted so every
            shape backend takes the same options.
        resolution: side of the layered depth, pixels (default: the crop's size).
        model_path: the ONNX network (default: :data:`DEFAULT_MODEL_PATH`).

    Returns:
        a :class:`LayeredDepth` for ``Camera.orthographic_square(resolution, 1.0)``
        (the prior's camera: object units, the crop's half-width is 1) with depths
        centred on ``z = MID_PLANE_Z``: ``mask`` = the crop's alpha; ``front``,
        ``back`` finite everywhere (extrapolated from the nearest pixel the network
        calls object) with ``back >= front + 1 pixel``; ``front2``/``back2`` where the
        network's second-layer probability is over 0.5 inside the mask (NaN
        elsewhere; ``None`` when there is no such pixel), at or behind the first
        exit; ``back_rgb`` and ``normals`` everywhere.

    Raises:
        ValueError: the crop's alpha has no pixel >= 0.5.
        InputError: missing or unusable network file (see :func:`load_session`).
    """
    del thickness  # the network knows how thick things are
    size = crop.size if resolution is None else int(resolution)
    if size < 8:
        raise ValueError(f"resolution: must be at least 8 pixels, got {size}")
    alpha = _resize(np.clip(crop.alpha, 0.0, 1.0), size)
    if not (alpha >= 0.5).any():
        raise ValueError("crop: the crop's alpha has no pixel >= 0.5")
    net = predict(network_input(crop.rgb, crop.alpha), model_path)

    s = netio.INPUT_SIZE
    valid = net.mask >= 0.5
    if valid.sum() < 4:
        # The network sees (almost) nothing where the segmentation found an object:
        # trust its depths under the silhouette rather than fail.
        log.warning("shape network: its mask is empty; using the segmentation's instead")
        valid = _resize(crop.alpha, s) >= 0.5
        if not valid.any():
            valid = np.ones((s, s), dtype=bool)
    iy, ix = _nearest_inside(valid)

    # Centre the object's mid-depth on the prior's mid-plane: any offset works for an
    # orthographic camera, and a shared one keeps both backends' depths comparable.
    mid = 0.5 * (net.front + net.back)
    shift = np.float32(MID_PLANE_Z - float(np.median(mid[valid])))
    px = 2.0 / size  # object units per pixel of the output grid

    front = _resize(net.front[iy, ix] + shift, size)
    back = _resize(net.back[iy, ix] + shift, size)
    back = np.maximum(back, front + px).astype(np.float32)
    normals = _resize(net.normals[iy, ix], size)
    norm = np.linalg.norm(normals, axis=2, keepdims=True)
    normals = np.where(norm > 1e-6, normals / np.maximum(norm, 1e-6),
                       np.array([0.0, 0.0, -1.0], np.float32)).astype(np.float32)
    back_rgb = np.clip(_resize(net.back_rgb[iy, ix], size), 0.0, 1.0)

    front2 = back2 = None
    l2 = valid & (net.layer2 > 0.5)
    if l2.any():
        jy, jx = _nearest_inside(l2)
        on = (_resize(l2.astype(np.float32), size) >= 0.5) & (alpha >= 0.5)
        if on.any():
            f2 = np.maximum(_resize(net.front2[jy, jx] + shift, size), back)
            b2 = np.maximum(_resize(net.back2[jy, jx] + shift, size), f2 + px)
            front2 = np.where(on, f2, np.nan).astype(np.float32)
            back2 = np.where(on, b2, np.nan).astype(np.float32)
    log.debug("learned shape: %d px object, %d px second layer, depth %.3f..%.3f",
              int((alpha >= 0.5).sum()), 0 if front2 is None else int(np.isfinite(front2).sum()),
              float(front[alpha >= 0.5].min()), float(back[alpha >= 0.5].max()))
    return LayeredDepth(
        camera=Camera.orthographic_square(size, half_extent=1.0),
        mask=alpha.astype(np.float32),
        front=front.astype(np.float32),
        back=back,
        front2=front2,
        back2=back2,
        back_rgb=back_rgb.astype(np.float32),
        normals=normals,
    )
