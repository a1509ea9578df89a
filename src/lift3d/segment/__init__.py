"""Segmentation: find the object in a :class:`~lift3d.types.Photo`, then crop it.

Backends (see :data:`BACKENDS`; each maps a ``Photo`` to a ``Segmentation``):

``"alpha"``
    The photo's alpha channel, with specks dropped and pinholes filled
    (:mod:`.alpha`).
``"classical"``
    Background model from the image border + GrabCut + clean-up + guided-filter
    matting, for product-style photos (:mod:`.classical`).
``"file"``
    A mask image given as ``mask_path`` (:mod:`.maskfile`).
``"learned"``
    The shape network's object mask, in two passes (whole photo, then a crop around
    what it found), matted to the photo's edges (:mod:`.learned`). Takes
    ``model_path``.
``"isnet"``
    The optional ISNet model, once installed (:mod:`.isnet`).
``"auto"``
    ``"file"`` when a ``mask_path`` is given; else ``"alpha"`` when the photo has an
    alpha channel holding both object and background; else ``"classical"``.

``"learned"`` and ``"isnet"`` are registered lazily: their modules (and onnxruntime)
are imported the first time they run.

Every result is checked: a mask covering under 0.2% of the image, or over 98% of
it, raises :class:`~lift3d.errors.NoObjectError` (as does a uniform image under the
classical backend).

:func:`crop_object` then cuts the square window around the object; the box
convention, and :func:`crop_to_photo` / :func:`photo_to_crop`, are in :mod:`.crop`.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from collections.abc import Callable

import numpy as np

from ..errors import InputError
from ..types import Photo, Segmentation
from ._masks import check_coverage
from .alpha import segment_alpha
from .classical import segment_classical
from .crop import crop_box, crop_object, crop_to_photo, photo_to_crop
from .maskfile import segment_file

logger = logging.getLogger(__name__)

__all__ = [
    "BACKENDS",
    "LazyBackend",
    "crop_box",
    "crop_object",
    "crop_to_photo",
    "photo_to_crop",
    "register_backend",
    "segment",
]



class LazyBackend:
    """A backend whose module is imported on first use.

    Calling it imports ``lift3d.segment.<module>``; if that module registered a
    backend under the same name on import (:func:`register_backend`), that one runs,
    else the module's function ``attr``.
    """

    def __init__(self, name: str, module: str, attr: str) -> None:
        self.name = name
        self.module = module
        self.attr = attr

    def load(self) -> Callable[..., Segmentation]:
        """The real backend function (importing its module)."""
        try:
            mod = importlib.import_module(f"{__name__}.{self.module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{self.module}":
                raise
            raise InputError(f"backend: segmentation backend {self.name!r} is not part of "
                             f"this installation") from None
        fn = BACKENDS.get(self.name)
        if fn is None or isinstance(fn, LazyBackend):
            fn = getattr(mod, self.attr, None)
            if fn is None:
                raise InputError(f"backend: module {mod.__name__} has no backend "
                                 f"{self.attr!r}")
            BACKENDS[self.name] = fn
        return fn

    def __call__(self, photo: Photo, **options) -> Segmentation:
        return self.load()(photo, **options)

    def __repr__(self) -> str:
        return f"LazyBackend({self.name!r}, {self.module!r}, {self.attr!r})"


#: Named segmentation backends. ``"file"`` additionally accepts ``mask_path=``,
#: ``"learned"`` a ``model_path=``. Lazy ones are :class:`LazyBackend` until first use.
BACKENDS: dict[str, Callable[..., Segmentation]] = {
    "alpha": segment_alpha,
    "classical": segment_classical,
    "file": segment_file,
    "learned": LazyBackend("learned", "learned", "segment_learned"),
    "isnet": LazyBackend("isnet", "isnet", "segment_isnet"),
}

#: ``"auto"`` uses the alpha channel when more than this fraction of pixels and less
#: than one minus it are above 0.5, i.e. the alpha actually separates something.
AUTO_ALPHA_MIN_FRACTION = 0.005


def register_backend(name: str, fn: Callable[[Photo], Segmentation]) -> None:
    """Add (or replace) a named backend.

    Args:
        name: the name ``segment(..., backend=name)`` selects; not ``"auto"``.
        fn: callable taking a :class:`Photo`, returning a :class:`Segmentation` with an
            ``(H, W)`` float32 alpha in ``[0, 1]`` at the photo's size. It may accept a
            ``mask_path`` keyword, which :func:`segment` then passes on.
    """
    if not isinstance(name, str) or not name or name == "auto":
        raise InputError(f"name: backend name must be a non-empty string other than "
                         f"'auto', got {name!r}")
    if not callable(fn):
        raise InputError(f"fn: backend {name!r} must be callable, got {type(fn).__name__}")
    if name in BACKENDS and not isinstance(BACKENDS[name], LazyBackend):
        logger.info("replacing segmentation backend %r", name)
    BACKENDS[name] = fn


def _alpha_is_informative(photo: Photo) -> bool:
    """Whether ``photo.alpha`` marks both some object and some background."""
    if photo.alpha is None:
        return False
    frac = float(np.count_nonzero(photo.alpha > 0.5)) / float(photo.alpha.size)
    return AUTO_ALPHA_MIN_FRACTION < frac < 1.0 - AUTO_ALPHA_MIN_FRACTION


def _accepts(fn: Callable, option: str) -> bool:
    try:
        return option in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def resolve_backend(photo: Photo, backend: str = "auto",
                    mask_path: str | os.PathLike | None = None) -> str:
    """The concrete backend name ``segment`` will run for these arguments."""
    if backend == "auto":
        if mask_path is not None:
            return "file"
        if _alpha_is_informative(photo):
            return "alpha"
        if photo.alpha is not None:
            logger.info("alpha channel of %s marks no clear object; using 'classical'",
                        photo.source)
        return "classical"
    if backend not in BACKENDS:
        choices = ", ".join(sorted(["auto", *BACKENDS]))
        raise InputError(f"backend: unknown segmentation backend {backend!r}; "
                         f"choose one of {choices}")
    return backend


def segment(photo: Photo, backend: str = "auto",
            mask_path: str | os.PathLike | None = None, **options) -> Segmentation:
    """Find the object in a photo.

    Args:
        photo: the photo (``rgb`` ``(H, W, 3)`` float32 in ``[0, 1]``, optional alpha).
        backend: ``"auto"`` or a key of :data:`BACKENDS` (``"alpha"``, ``"classical"``,
            ``"file"``, or one added by :func:`register_backend`).
        mask_path: mask image for the ``"file"`` backend (``"auto"`` then picks
            ``"file"``). Only backends that take a ``mask_path`` keyword accept one.
        **options: further keywords for the backend (``model_path`` for
            ``"learned"``); ``None`` values are dropped, others the backend does not
            take are an error.

    Returns:
        a :class:`Segmentation`: ``alpha`` ``(H, W)`` float32 in ``[0, 1]`` at the
        photo's resolution (1 = object), ``backend`` = the backend that ran.

    Raises:
        InputError: unknown backend, missing alpha for ``"alpha"``, unusable
            ``mask_path``.
        NoObjectError: no object (uniform image, under 0.2% of the pixels, or the
            "object" fills over 98% of the frame).
    """
    name = resolve_backend(photo, backend, mask_path)
    fn = BACKENDS[name]
    if isinstance(fn, LazyBackend):
        fn = fn.load()
    kwargs = {}
    for key, value in options.items():
        if value is None:
            continue
        if not _accepts(fn, key):
            raise InputError(f"{key}: not used by the {name!r} segmentation backend")
        kwargs[key] = value
    if _accepts(fn, "mask_path"):
        seg = fn(photo, mask_path=mask_path, **kwargs)
    elif mask_path is not None:
        raise InputError(f"mask_path: only used by the 'file' backend, not by {name!r}")
    else:
        seg = fn(photo, **kwargs)
    alpha = np.asarray(seg.alpha)
    if alpha.shape != photo.rgb.shape[:2]:
        raise InputError(f"backend: {name!r} returned a mask of shape {alpha.shape} for a "
                         f"photo of shape {photo.rgb.shape[:2]}")
    if alpha.dtype != np.float32:
        seg = Segmentation(alpha=alpha.astype(np.float32), backend=seg.backend)
    frac = check_coverage(seg.alpha, seg.backend)
    logger.info("segmentation (%s): object covers %.1f%% of %s", seg.backend,
                100.0 * frac, photo.source)
    return seg
