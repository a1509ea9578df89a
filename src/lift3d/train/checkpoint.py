"""Checkpoints split into parts small enough for size-limited file transfers.

A checkpoint ``NAME`` in a directory is::

    NAME.part000, NAME.part001, ...   the torch-serialised state, cut into parts of at
                                      most ``max_part_bytes`` (15 MiB by default)
    NAME.json                         manifest: each part's size and sha256, the
                                      whole's sha256, step, samples seen, date

Parts and manifest are written as temporary files first and renamed into place with
the manifest last (:func:`lift3d.io.atomic.atomic_paths`), so a reader that trusts the
manifest never sees a partly written checkpoint; :func:`load_checkpoint` verifies every
hash before unpickling. States are loaded with ``weights_only=True``: only tensors and
plain Python containers, never arbitrary objects.

Two names are used by training: ``last`` (everything needed to resume: model,
optimizer, scheduler, step, samples seen, RNG states, config) and ``model`` (the final
weights alone, see :func:`save_model_only`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..io.atomic import atomic_paths

__all__ = ["MAX_PART_BYTES", "CheckpointError", "capture_rng", "checkpoint_info",
           "has_checkpoint", "load_checkpoint", "load_model", "restore_rng", "save_checkpoint",
           "save_model_only", "unwrap"]

logger = logging.getLogger(__name__)

#: Default largest part, bytes (a 16 MiB transfer limit minus margin).
MAX_PART_BYTES: int = 15 * 1024 * 1024
FORMAT = "lift3d-checkpoint/1"


class CheckpointError(InputError):
    """A checkpoint is missing, incomplete or corrupt; the message names the file."""


def _sha256(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def _part_name(name: str, i: int) -> str:
    return f"{name}.part{i:03d}"


def has_checkpoint(directory: str | os.PathLike[str], name: str = "last") -> bool:
    """Whether ``directory`` holds a manifest ``NAME.json``."""
    return (Path(directory) / f"{name}.json").is_file()


def save_checkpoint(
    directory: str | os.PathLike[str],
    state: dict[str, Any],
    name: str = "last",
    max_part_bytes: int = MAX_PART_BYTES,
) -> Path:
    """Serialise ``state`` into ``directory/NAME.partNNN`` + ``NAME.json``, atomically.

    Args:
        directory: created if missing.
        state: tensors and plain containers (``torch.save``-able with
            ``weights_only`` loading); ``step`` and ``samples_seen`` keys, if present,
            are copied into the manifest.
        name: checkpoint name (letters, digits, ``_`` and ``-``).
        max_part_bytes: largest part, bytes.

    Returns:
        the manifest path. Parts of an older, larger checkpoint of the same name that
        the new manifest no longer lists are removed.
    """
    if max_part_bytes <= 0:
        raise InputError(f"max_part_bytes must be positive, got {max_part_bytes}")
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise InputError(f"name must be letters, digits, '_' or '-', got {name!r}")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getbuffer()
    n_parts = max(1, -(-len(data) // max_part_bytes))
    chunks = [data[i * max_part_bytes:(i + 1) * max_part_bytes] for i in range(n_parts)]
    manifest = {
        "format": FORMAT,
        "name": name,
        "bytes": len(data),
        "sha256": _sha256(data),
        "parts": [{"file": _part_name(name, i), "bytes": len(c), "sha256": _sha256(c)}
                  for i, c in enumerate(chunks)],
        "step": int(state.get("step", 0)),
        "samples_seen": int(state.get("samples_seen", 0)),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    targets = [d / p["file"] for p in manifest["parts"]] + [d / f"{name}.json"]
    with atomic_paths(targets) as temps:
        for tmp, chunk in zip(temps[:-1], chunks, strict=True):
            tmp.write_bytes(chunk)
        temps[-1].write_text(json.dumps(manifest, indent=1) + "\n")
    for stale in sorted(d.glob(f"{name}.part[0-9][0-9][0-9]")):
        if int(stale.name.rsplit("part", 1)[1]) >= n_parts:
            stale.unlink(missing_ok=True)
    logger.info("saved checkpoint %s (%d parts, %.1f MB, step %d)", d / f"{name}.json",
                n_parts, len(data) / 1e6, manifest["step"])
    return d / f"{name}.json"


def checkpoint_info(directory: str | os.PathLike[str], name: str = "last") -> dict[str, Any]:
    """The manifest of checkpoint ``name`` (no part is read)."""
    path = Path(directory) / f"{name}.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint manifest at {path}") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint manifest {path} is unreadable: {exc}") from exc
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("parts"), list):
        raise CheckpointError(f"checkpoint manifest {path} is not a {FORMAT} manifest")
    return manifest


def load_checkpoint(
    directory: str | os.PathLike[str], name: str = "last", map_location: Any = "cpu"
) -> dict[str, Any]:
    """Verify and reassemble checkpoint ``name`` and return its state dict.

    Raises:
        CheckpointError: the manifest or a part is missing, a size or sha256 does not
            match (the message names the part), or the state cannot be unpickled.
    """
    d = Path(directory)
    manifest = checkpoint_info(d, name)
    blobs = []
    for part in manifest["parts"]:
        path = d / part["file"]
        try:
            blob = path.read_bytes()
        except OSError as exc:
            raise CheckpointError(f"checkpoint part {path} is unreadable: {exc}") from exc
        if len(blob) != part["bytes"] or _sha256(blob) != part["sha256"]:
            raise CheckpointError(f"checkpoint part {path} is corrupt: size or sha256 does "
                                  f"not match {d / (name + '.json')}")
        blobs.append(blob)
    data = b"".join(blobs)
    if _sha256(data) != manifest["sha256"]:
        raise CheckpointError(f"checkpoint {d / name} does not reassemble to its sha256")
    try:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise CheckpointError(f"checkpoint {d / name} cannot be loaded: {exc}") from exc


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside DistributedDataParallel and/or ``torch.compile`` wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def capture_rng() -> dict[str, Any]:
    """Python, numpy, torch (and CUDA, if initialised) RNG states as loadable tensors."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
                  int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Restore states captured by :func:`capture_rng` (missing entries are skipped)."""
    if "python" in state:
        v, internal, gauss = state["python"]
        random.setstate((v, tuple(internal), gauss))
    if "numpy" in state:
        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def compact_optimizer_state(opt_state: dict[str, Any]) -> dict[str, Any]:
    """A copy of an optimizer ``state_dict`` with float moments stored as bfloat16.

    Halves the size of AdamW's state in the checkpoint. ``Optimizer.load_state_dict``
    casts each value back to its parameter's dtype, so loading needs nothing special;
    bfloat16 keeps fp32's exponent range, which the second moments need.
    """
    state = {
        k: {n: (v.to(torch.bfloat16) if torch.is_tensor(v) and v.is_floating_point()
                and n != "step" else v) for n, v in s.items()}
        for k, s in opt_state["state"].items()
    }
    return {"state": state, "param_groups": opt_state["param_groups"]}


def save_model_only(
    directory: str | os.PathLike[str],
    model: torch.nn.Module,
    info: dict[str, Any] | None = None,
    name: str = "model",
    max_part_bytes: int = MAX_PART_BYTES,
) -> Path:
    """Save ``model``'s fp32 weights and its constructor config as checkpoint ``name``.

    Args:
        model: a :class:`~lift3d.train.model.ShapeNet` (possibly wrapped).
        info: extra plain data kept beside the weights (``step``, ``samples_seen``,
            ``config``).
    """
    net = unwrap(model)
    state = {k: v.detach().float().cpu() if v.is_floating_point() else v.detach().cpu()
             for k, v in net.state_dict().items()}
    payload = dict(info or {})
    payload.update({"model": state, "model_config": dict(getattr(net, "config", {}))})
    return save_checkpoint(directory, payload, name=name, max_part_bytes=max_part_bytes)


def load_model(directory: str | os.PathLike[str]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the :class:`~lift3d.train.model.ShapeNet` of a checkpoint directory.

    Prefers the final weights (``model``) and falls back to the training state
    (``last``). Returns the model (CPU, fp32, eval mode) and the checkpoint's other
    entries (``step``, ``samples_seen``, ``config``; no tensors).
    """
    from .model import ShapeNet

    d = Path(directory)
    name = "model" if has_checkpoint(d, "model") else "last"
    if not has_checkpoint(d, name):
        raise CheckpointError(f"no checkpoint in {d} (expected model.json or last.json)")
    state = load_checkpoint(d, name)
    cfg = state.get("model_config")
    if not isinstance(cfg, dict) or "model" not in state:
        raise CheckpointError(f"checkpoint {d / name} has no model weights and config")
    model = ShapeNet(**cfg)
    model.load_state_dict(state["model"])
    model.eval()
    info = {k: v for k, v in state.items()
            if k in ("step", "samples_seen", "config", "val")}
    return model, info
