"""The shape network's input and output layout, written down once.

Both sides of the network use this module: the training code (:mod:`lift3d.train`,
torch) builds its targets and losses from these channel indices, and the ``learned``
shape backend (:mod:`lift3d.shape.learned`, ONNX Runtime) decodes them.

Input
    ``image``: ``(N, 3, S, S)`` float32, sRGB in ``[0, 1]``, an object crop as
    :func:`lift3d.segment.crop_object` makes it (object roughly centred, filling 60 to
    95 % of the crop). ``S`` is :data:`INPUT_SIZE`.

Output
    ``out``: ``(N, OUT_CHANNELS, S, S)`` float32, raw (decode with :func:`decode`).

Normalised depth
    Depths are camera z-depths made object-relative: ``(z - z_ref) / s`` where
    ``z_ref`` is the median front depth over the object and ``s`` is the
    half-width of the crop in scene units at ``z_ref`` (``z_ref * (S / 2) / f`` for a
    pinhole camera of focal ``f`` pixels). With this, a point's normalised x, y, z
    share one unit and the crop spans ``[-1, 1]`` in x and y: exactly the
    orthographic camera of :func:`lift3d.shape.prior.prior_shape`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Side of the square crop the network sees, pixels.
INPUT_SIZE: int = 128

#: Output channels.
CH_MASK = 0  # logit of "the ray hits the object"
CH_FRONT = 1  # normalised depth where the ray first enters the object
CH_BACK = 2  # normalised depth where it first leaves it
CH_LAYER2 = 3  # logit of "the ray enters the object a second time"
CH_FRONT2 = 4  # normalised depth of the second entry
CH_BACK2 = 5  # normalised depth of the second exit
CH_NORMAL = slice(6, 9)  # camera-frame normal at the first entry (unnormalised)
CH_BACK_RGB = slice(9, 12)  # logit of the sRGB colour where the ray first leaves
OUT_CHANNELS: int = 12

#: ONNX tensor names.
INPUT_NAME = "image"
OUTPUT_NAME = "out"


@dataclass(frozen=True)
class NetOutput:
    """The decoded network output for one crop, all maps ``(S, S)`` unless noted.

    Attributes:
        mask: float32 in ``[0, 1]``, probability that the ray hits the object.
        front, back: float32 normalised depths (see module docstring); ``back >= front``.
        layer2: float32 in ``[0, 1]``, probability of a second entry/exit pair.
        front2, back2: float32 normalised depths of that pair; ``back2 >= front2 >= back``.
        normals: ``(S, S, 3)`` float32 unit normals in the camera frame (OpenCV axes).
        back_rgb: ``(S, S, 3)`` float32 sRGB in ``[0, 1]``: colour of the back surface.
    """

    mask: np.ndarray
    front: np.ndarray
    back: np.ndarray
    layer2: np.ndarray
    front2: np.ndarray
    back2: np.ndarray
    normals: np.ndarray
    back_rgb: np.ndarray


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0)))).astype(np.float32)


def decode(out: np.ndarray) -> NetOutput:
    """Decode one raw output ``(OUT_CHANNELS, S, S)`` into a :class:`NetOutput`."""
    out = np.asarray(out, dtype=np.float32)
    if out.ndim != 3 or out.shape[0] != OUT_CHANNELS:
        raise ValueError(f"out: expected ({OUT_CHANNELS}, S, S), got {out.shape}")
    front = out[CH_FRONT]
    back = np.maximum(out[CH_BACK], front)
    front2 = np.maximum(out[CH_FRONT2], back)
    back2 = np.maximum(out[CH_BACK2], front2)
    n = np.moveaxis(out[CH_NORMAL], 0, -1)
    n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-6)
    return NetOutput(
        mask=_sigmoid(out[CH_MASK]),
        front=front,
        back=back,
        layer2=_sigmoid(out[CH_LAYER2]),
        front2=front2,
        back2=back2,
        normals=n.astype(np.float32),
        back_rgb=np.moveaxis(_sigmoid(out[CH_BACK_RGB]), 0, -1),
    )


#: Constant depths the stub network of :func:`write_stub_model` outputs.
STUB_FRONT, STUB_BACK, STUB_FRONT2, STUB_BACK2 = -0.3, 0.3, 0.5, 0.8


def write_stub_model(path, layer2: bool = False, input_name: str = INPUT_NAME) -> str:
    """Write a one-layer (1x1 conv) ONNX network with this I/O contract, for tests.

    It lets the ``learned`` backends and the pipeline run without the shipped weights,
    with outputs simple enough to check exactly. Needs the ``onnx`` package.

    Dark pixels are object (mask logit ``20 - 10 * (r + g + b)``: white is background,
    the green test objects are object); front and back depths are constant offsets
    (a slab 0.6 crop half-widths thick); the second layer is off, or on everywhere
    behind the slab; normals face the camera; the back colour is red.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.zeros((OUT_CHANNELS, 3, 1, 1), np.float32)
    b = np.zeros(OUT_CHANNELS, np.float32)
    w[CH_MASK, :, 0, 0] = -10.0
    b[CH_MASK] = 20.0
    b[CH_FRONT], b[CH_BACK] = STUB_FRONT, STUB_BACK
    b[CH_LAYER2] = 10.0 if layer2 else -10.0
    b[CH_FRONT2], b[CH_BACK2] = STUB_FRONT2, STUB_BACK2
    b[CH_NORMAL] = (0.0, 0.0, -1.0)
    b[CH_BACK_RGB] = (6.0, -6.0, -6.0)
    s = INPUT_SIZE
    graph = helper.make_graph(
        [helper.make_node("Conv", [input_name, "w", "b"], [OUTPUT_NAME])],
        "tiny_shape_net",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, s, s])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT,
                                       [1, OUT_CHANNELS, s, s])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return str(path)
