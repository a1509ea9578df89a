"""Training the learned shape network (``python -m lift3d.train``); needs torch.

Modules:

* :mod:`.model`: :class:`ShapeNet`, the U-Net (crop in, netio maps out).
* :mod:`.losses`: :func:`shape_loss` against a rendered :class:`~lift3d.synth.types.SynthBatch`.
* :mod:`.data`: scenes drawn in DataLoader workers; GPU-side augmentation.
* :mod:`.loop`: :func:`train` (resumable, time-boxed, DDP under torchrun).
* :mod:`.checkpoint`: checkpoints split into parts of at most 15 MiB, verified by sha256.
* :mod:`.export`: ONNX export checked against onnxruntime.

Names are imported lazily so ``import lift3d.train`` itself does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ShapeNet": ".model",
    "count_parameters": ".model",
    "LossParts": ".losses",
    "LossWeights": ".losses",
    "shape_loss": ".losses",
    "SceneStream": ".data",
    "augment": ".data",
    "TrainConfig": ".loop",
    "TrainResult": ".loop",
    "evaluate": ".loop",
    "train": ".loop",
    "load_checkpoint": ".checkpoint",
    "load_model": ".checkpoint",
    "save_checkpoint": ".checkpoint",
    "save_model_only": ".checkpoint",
    "export_checkpoint": ".export",
    "export_onnx": ".export",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return getattr(importlib.import_module(module, __name__), name)
