"""Shape stage: from an object crop to :class:`~lift3d.types.LayeredDepth`.

Backends are named; ``"prior"`` (silhouette inflation) is always available. Later
backends (a learned network) register themselves with :func:`register_backend`.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import InputError
from ..types import Crop, LayeredDepth
from .prior import inflate, poisson_height, prior_shape

#: A shape backend: ``fn(crop, thickness=..., resolution=...) -> LayeredDepth``.
ShapeBackend = Callable[..., LayeredDepth]

BACKENDS: dict[str, ShapeBackend] = {"prior": prior_shape}


def register_backend(name: str, fn: ShapeBackend) -> None:
    """Make ``fn`` available as ``estimate_shape(..., backend=name)``."""
    BACKENDS[name] = fn


def estimate_shape(crop: Crop, backend: str = "prior", **options) -> LayeredDepth:
    """Predict where each ray of the crop enters and leaves the object.

    Args:
        crop: the object crop (its alpha is the silhouette).
        backend: a key of :data:`BACKENDS`.
        **options: passed to the backend (``thickness``, ``resolution``).
    """
    try:
        fn = BACKENDS[backend]
    except KeyError:
        raise InputError(
            f"shape: unknown backend {backend!r}; available: {', '.join(sorted(BACKENDS))}"
        ) from None
    return fn(crop, **options)


__all__ = ["BACKENDS", "estimate_shape", "inflate", "poisson_height", "prior_shape",
           "register_backend"]
