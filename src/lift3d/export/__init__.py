"""The export stage: a :class:`~lift3d.types.TexturedMesh` to files on disk.

The format is chosen by the output's extension (case-insensitive):

========  ==========================================================================
``.glb``  binary glTF 2.0: mesh, normals, UVs, embedded PNG, PBR material.
``.obj``  Wavefront OBJ + ``.mtl`` + ``{stem}_basecolor.png`` (relative references).
``.ply``  binary PLY of the welded geometry with per-vertex colours.
``.stl``  binary STL of the welded geometry (geometry only).
``.usdz`` USDZ package (needs the ``usd`` extra: usd-core).
========  ==========================================================================

Every file is written atomically (a temporary file beside the target, renamed when
complete), so a failure never leaves a partial output behind. Call
:func:`check_output_path` before the expensive stages to fail fast on a bad path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError, OutputError
from ..io.atomic import check_writable_dir
from ..types import TexturedMesh

__all__ = ["SUPPORTED_EXTENSIONS", "check_output_path", "export"]

logger = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS: tuple[str, ...] = (".glb", ".obj", ".ply", ".stl", ".usdz")

Writer = Callable[[TexturedMesh, Path], "list[Path]"]


def _writer(ext: str) -> Writer:
    """The writer function for a lower-case, supported extension (imported lazily)."""
    if ext == ".glb":
        from .gltf import write_glb

        return write_glb
    if ext == ".obj":
        from .obj import write_obj

        return write_obj
    if ext == ".ply":
        from .ply import write_ply

        return write_ply
    if ext == ".stl":
        from .stl import write_stl

        return write_stl
    if ext == ".usdz":
        from .usdz import write_usdz

        return write_usdz
    raise AssertionError(f"no writer for {ext!r}")  # pragma: no cover


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Validate an output path before any work is done, and return it as a Path.

    Raises:
        InputError: the extension is missing or not one of :data:`SUPPORTED_EXTENSIONS`.
        OutputError: the path is an existing directory, or its parent directory does
            not exist, is not a directory, or is not writable.
    """
    p = Path(os.fspath(path)).expanduser()
    ext = p.suffix.lower()
    choices = ", ".join(SUPPORTED_EXTENSIONS)
    if not ext:
        raise InputError(f"output: '{p}' has no file extension; use one of {choices}")
    if ext not in SUPPORTED_EXTENSIONS:
        raise InputError(f"output: unsupported extension '{p.suffix}'; use one of {choices}")
    if p.is_dir():
        raise OutputError(f"output path {p} is a directory; give a file name")
    check_writable_dir(p.parent)
    return p


def export(mesh: TexturedMesh, path: str | os.PathLike[str]) -> list[Path]:
    """Write ``mesh`` to ``path`` in the format its extension names.

    Args:
        mesh: the textured mesh in the output frame (glTF axes, metres).
        path: the output file; ``.obj`` also writes a ``.mtl`` and a PNG beside it.

    Returns:
        Every file written, the main one first.

    Raises:
        InputError: unsupported extension or malformed mesh.
        OutputError: the file cannot be written.
        MissingExtraError: the format needs an optional package (``.usdz``).
    """
    p = check_output_path(path)
    written = _writer(p.suffix.lower())(mesh, p)
    logger.debug("export %s: %s", p, ", ".join(str(w) for w in written))
    return written
