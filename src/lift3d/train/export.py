"""Export a trained :class:`~lift3d.train.model.ShapeNet` to ONNX, verified.

The file is what the ``learned`` shape backend loads: input
:data:`lift3d.shape.netio.INPUT_NAME` ``(batch, 3, S, S)`` float32 sRGB in ``[0, 1]``
with a dynamic batch axis, output :data:`lift3d.shape.netio.OUTPUT_NAME`
``(batch, OUT_CHANNELS, S, S)`` float32. ``metadata_props`` record the training steps,
samples seen, git commit and export date.

The legacy TorchScript exporter (``dynamo=False``) is used where torch still has it
(it gives the same graph on torch 2.11 and 2.13 and needs no onnxscript); otherwise the
dynamo exporter.
"""

from __future__ import annotations

import datetime as _dt
import io
import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_write_bytes
from ..shape import netio

__all__ = ["MAX_ONNX_BYTES", "OPSET", "ExportReport", "export_checkpoint", "export_onnx",
           "git_commit"]

logger = logging.getLogger(__name__)

#: Opset of the exported graph.
OPSET: int = 17
#: The shipped model must stay under this size.
MAX_ONNX_BYTES: int = 30 * 1000 * 1000
#: Largest tolerated |onnxruntime - torch| on random input.
MAX_ABS_DIFF: float = 1e-3


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_onnx` wrote.

    Attributes:
        path: the ``.onnx`` file.
        bytes: its size.
        max_abs_diff: largest ``|onnxruntime - torch|`` over a random batch (``nan``
            when verification was skipped).
        metadata: the ``metadata_props`` written.
        exporter: ``"torchscript"`` or ``"dynamo"``.
    """

    path: Path
    bytes: int
    max_abs_diff: float
    metadata: dict[str, str]
    exporter: str


def git_commit(repo: str | os.PathLike[str] | None = None) -> str | None:
    """The checkout's ``HEAD`` commit (with ``-dirty`` when modified), or ``None``."""
    cwd = Path(repo) if repo is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=40"],
                             cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _to_onnx_bytes(model, size: int, opset: int) -> tuple[bytes, str]:
    """Serialise ``model`` (eval mode, CPU, fp32) to ONNX bytes; returns (bytes, exporter)."""
    import torch

    dummy = torch.rand(1, 3, size, size)
    names = {"input_names": [netio.INPUT_NAME], "output_names": [netio.OUTPUT_NAME]}
    with warnings.catch_warnings():
        # The legacy exporter is deprecated on recent torch but still the most portable.
        warnings.simplefilter("ignore")
        try:
            buf = io.BytesIO()
            torch.onnx.export(
                model, (dummy,), buf, dynamo=False, opset_version=opset,
                dynamic_axes={netio.INPUT_NAME: {0: "batch"}, netio.OUTPUT_NAME: {0: "batch"}},
                do_constant_folding=True, **names,
            )
            return buf.getvalue(), "torchscript"
        except (TypeError, RuntimeError, ImportError) as exc:
            logger.info("legacy ONNX exporter unavailable (%s); using dynamo", exc)
        batch = torch.export.Dim("batch", min=1, max=1024)
        prog = torch.onnx.export(model, (dummy,), dynamo=True, opset_version=max(opset, 18),
                                 dynamic_shapes=({0: batch},), external_data=False, **names)
        proto = prog.model_proto
        return proto.SerializeToString(), "dynamo"


def export_onnx(
    model,
    path: str | os.PathLike[str],
    size: int = netio.INPUT_SIZE,
    metadata: dict[str, str] | None = None,
    opset: int = OPSET,
    verify: bool = True,
    max_bytes: int = MAX_ONNX_BYTES,
) -> ExportReport:
    """Export ``model`` to ONNX at ``path`` (atomically) and check it with onnxruntime.

    Args:
        model: a ``torch.nn.Module`` mapping ``(N, 3, size, size)`` to
            ``(N, netio.OUT_CHANNELS, size, size)``; exported in eval mode on the CPU
            in fp32 (a copy, the caller's module is left as it was).
        path: output ``.onnx`` file.
        size: spatial side of the exported input (fixed; the batch axis is dynamic).
        metadata: extra ``metadata_props`` (string values).
        opset: ONNX opset (>= 17).
        verify: run onnxruntime on a random batch of 2 and compare with torch.
        max_bytes: refuse to write a larger file.

    Raises:
        InputError: bad ``size``/``opset``, the model's output has the wrong channel
            count, or the file would exceed ``max_bytes``.
        RuntimeError: onnxruntime disagrees with torch by more than ``1e-3``.
    """
    import copy

    import onnx
    import torch

    if size <= 0:
        raise InputError(f"size must be positive, got {size}")
    if opset < 17:
        raise InputError(f"opset must be >= 17, got {opset}")
    net = copy.deepcopy(getattr(model, "module", model)).float().cpu().eval()
    with torch.no_grad():
        probe = net(torch.rand(1, 3, size, size))
    if tuple(probe.shape[1:]) != (netio.OUT_CHANNELS, size, size):
        raise InputError(f"model: output shape {tuple(probe.shape)} does not match netio "
                         f"(N, {netio.OUT_CHANNELS}, {size}, {size})")
    with torch.no_grad():
        raw, exporter = _to_onnx_bytes(net, size, opset)
    proto = onnx.load_from_string(raw)
    meta = {"lift3d:netio": f"in={netio.INPUT_NAME} out={netio.OUTPUT_NAME} "
                            f"channels={netio.OUT_CHANNELS} size={size}",
            "lift3d:exported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    commit = git_commit()
    if commit:
        meta["lift3d:git_commit"] = commit
    if getattr(net, "config", None):
        meta["lift3d:model_config"] = repr(net.config)
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    del proto.metadata_props[:]
    for k, v in sorted(meta.items()):
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    if len(data) > max_bytes:
        raise InputError(f"model: ONNX file would be {len(data) / 1e6:.1f} MB, over the "
                         f"{max_bytes / 1e6:.0f} MB limit")

    diff = float("nan")
    if verify:
        diff = _verify(data, net, size)
        if not diff < MAX_ABS_DIFF:
            raise RuntimeError(f"onnxruntime and torch disagree: max |diff| = {diff:.3g}")
    out = atomic_write_bytes(path, data)
    logger.info("exported %s (%.1f MB, %s, max |ort - torch| = %.2g)",
                out, len(data) / 1e6, exporter, diff)
    return ExportReport(path=out, bytes=len(data), max_abs_diff=diff, metadata=meta,
                        exporter=exporter)


def _verify(data: bytes, net, size: int) -> float:
    """Largest ``|onnxruntime - torch|`` over a random batch of two crops."""
    import onnxruntime as ort
    import torch

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((2, 3, size, size), dtype=np.float32)
    (got,) = sess.run([netio.OUTPUT_NAME], {netio.INPUT_NAME: x})
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    return float(np.abs(got - want).max())


def export_checkpoint(
    ckpt: str | os.PathLike[str],
    out: str | os.PathLike[str],
    size: int = netio.INPUT_SIZE,
    verify: bool = True,
) -> ExportReport:
    """Export the model of a checkpoint directory (``model.json`` or ``last.json``).

    Args:
        ckpt: a directory written by :mod:`lift3d.train.checkpoint`; the final
            ``model`` weights are preferred over the ``last`` training state.
        out: the ``.onnx`` file to write.
    """
    from .checkpoint import load_model

    model, info = load_model(ckpt)
    meta = {"lift3d:steps": str(info.get("step", "")),
            "lift3d:samples_seen": str(info.get("samples_seen", ""))}
    if info.get("config"):
        cfg = info["config"]
        meta["lift3d:train_config"] = repr({k: cfg[k] for k in sorted(cfg)})
    return export_onnx(model, out, size=size, metadata=meta, verify=verify)
