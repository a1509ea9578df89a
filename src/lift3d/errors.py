"""Errors lift3d raises, each tied to the CLI exit code it maps to.

Exit codes (documented in the README and ``lift3d --help``):

* ``0``: success.
* ``1``: internal error (a bug; the message asks for a report).
* ``2``: bad input or usage: unreadable file, bad option, unwritable output.
* ``3``: no object found in the photo.
* ``4``: the mesh fails the requested delivery preset (CLI only).
* ``5``: the photos did not reconstruct (too few registered, no surface).
"""

from __future__ import annotations


class Lift3DError(Exception):
    """Base class of every error lift3d raises on purpose."""

    exit_code: int = 1


class InputError(Lift3DError, ValueError):
    """The caller gave an argument or file lift3d cannot use. Exit code 2."""

    exit_code = 2


class OutputError(Lift3DError, OSError):
    """An output cannot be written where asked. Exit code 2."""

    exit_code = 2


class NoObjectError(Lift3DError):
    """Segmentation found no object to reconstruct. Exit code 3."""

    exit_code = 3


class ReconstructionError(Lift3DError):
    """Photos did not give a usable reconstruction. Exit code 5.

    ``report`` says what did work (e.g. a :class:`lift3d.multiview.sfm.SfmReport`
    listing the registered images), or is ``None``.
    """

    exit_code = 5

    def __init__(self, message: str, report=None) -> None:
        super().__init__(message)
        self.report = report


class MissingExtraError(Lift3DError, ImportError):
    """An optional dependency is not installed; the message says what to install."""

    exit_code = 2

    def __init__(self, module: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the Python package '{module}': "
            f"run `pip install 'lift3d[{extra}]'` (or `pip install {module}`)"
        )
        self.module = module
        self.extra = extra


def require(module: str, extra: str, purpose: str):
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(module.split(".")[0], extra, purpose) from exc


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``exc``'s message on one line, cut to ``limit`` characters, for one-line errors."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_code(exc: BaseException) -> str:
    """A stable snake_case code for an exception from a pipeline run, for reports and APIs:
    ``no_object``, ``reconstruction_failed``, ``missing_extra``, ``invalid_input``,
    ``out_of_memory`` or ``internal`` (a bug)."""
    if isinstance(exc, NoObjectError):
        return "no_object"
    if isinstance(exc, ReconstructionError):
        return "reconstruction_failed"
    if isinstance(exc, MissingExtraError):
        return "missing_extra"
    if isinstance(exc, Lift3DError):
        return "invalid_input"
    if isinstance(exc, MemoryError):
        return "out_of_memory"
    return "internal"
