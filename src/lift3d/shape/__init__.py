"""Shape stage: from an object crop to :class:`~lift3d.types.LayeredDepth`.

Backends are named:

``"prior"``
    Silhouette inflation (:mod:`.prior`); needs nothing but the mask.
``"learned"``
    The shape network (:mod:`.learned`), run with ONNX Runtime; needs its weights
    (``model_path``, default the packaged ``weights/shape_net.onnx``). onnxruntime is
    imported only when it runs.

More can be added with :func:`register_backend`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from ..errors import InputError
from ..types import Crop, LayeredDepth
from .learned import learned_shape
from .prior import inflate, poisson_height, prior_shape

#: A shape backend: ``fn(crop, thickness=..., resolution=..., [model_path=...])
#: -> LayeredDepth``.
ShapeBackend = Callable[..., LayeredDepth]

BACKENDS: dict[str, ShapeBackend] = {"prior": prior_shape, "learned": learned_shape}


def register_backend(name: str, fn: ShapeBackend) -> None:
    """Make ``fn`` available as ``estimate_shape(..., backend=name)``."""
    BACKENDS[name] = fn


def estimate_shape(crop: Crop, backend: str = "prior", **options) -> LayeredDepth:
    """Predict where each ray of the crop enters and leaves the object.

    Args:
        crop: the object crop (its alpha is the silhouette).
        backend: a key of :data:`BACKENDS`.
        **options: passed to the backend (``thickness``, ``resolution``, and
            ``model_path`` for backends that take one). An option the backend does
            not take is an error, unless its value is ``None``.
    """
    try:
        fn = BACKENDS[backend]
    except KeyError:
        raise InputError(
            f"shape: unknown backend {backend!r}; available: {', '.join(sorted(BACKENDS))}"
        ) from None
    return fn(crop, **_accepted(fn, backend, options))


def accepts_option(fn: Callable, name: str) -> bool:
    """Whether ``fn`` takes a keyword argument ``name`` (or any keyword)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD
                                 for p in params.values())


def _accepted(fn: Callable, backend: str, options: dict) -> dict:
    out = {}
    for key, value in options.items():
        if accepts_option(fn, key):
            out[key] = value
        elif value is not None:
            raise InputError(f"{key}: not used by the {backend!r} shape backend")
    return out


__all__ = ["BACKENDS", "accepts_option", "estimate_shape", "inflate", "learned_shape",
           "poisson_height", "prior_shape", "register_backend"]
