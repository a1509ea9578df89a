"""Atomic file writes: write a temporary file beside the target, then rename it.

A reader never sees a half-written output: the data goes to a hidden temporary file
in the target's directory (same filesystem, so :func:`os.replace` is atomic) which is
renamed onto the target only once it is complete, and removed on any error.

Errors from the operating system are raised as :class:`lift3d.errors.OutputError`
with a message naming the path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import Lift3DError, OutputError

__all__ = [
    "atomic_path",
    "atomic_paths",
    "atomic_write_bytes",
    "check_writable_dir",
]

logger = logging.getLogger(__name__)

_MAX_NAME_TRIES = 100


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _reserve_temp(path: Path) -> Path:
    """Create an empty, uniquely named temporary file beside ``path`` and return it.

    The name is ``.{name}.tmp-XXXXXXXX{suffix}``: hidden, recognisable, and ending in
    the target's suffix so writers that pick a format from the extension still work.
    The file is created with mode ``0o666`` minus the umask, like a plain ``open``.
    """
    for _ in range(_MAX_NAME_TRIES):
        tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}{path.suffix}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(
                f"cannot write {path}: cannot create a temporary file in "
                f"{path.parent}: {_os_reason(exc)}"
            ) from exc
        os.close(fd)
        return tmp
    raise OutputError(f"cannot write {path}: no free temporary file name in {path.parent}")


def _fsync_file(path: Path) -> None:
    """Flush ``path``'s data to disk (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:  # pragma: no cover - nothing more can be done
        logger.warning("could not remove temporary file %s: %s", path, _os_reason(exc))


@contextlib.contextmanager
def atomic_paths(paths: Sequence[str | os.PathLike[str]]) -> Iterator[list[Path]]:
    """Yield one temporary path per target; on success rename each onto its target.

    The temporaries are renamed in the order given (so put the file that refers to the
    others last). On any exception in the block every temporary is deleted and no target
    is touched. Should a rename itself fail, the targets already renamed in this call are
    removed too, so the group appears completely or not at all (a target that existed
    before is then gone rather than left inconsistent with its siblings).

    A plain :class:`OSError` raised in the block is re-raised as
    :class:`~lift3d.errors.OutputError` naming the first target.
    """
    targets = [Path(p) for p in paths]
    if not targets:
        raise ValueError("atomic_paths needs at least one path")
    temps: list[Path] = []
    try:
        for target in targets:
            temps.append(_reserve_temp(target))
        try:
            yield list(temps)
        except Lift3DError:
            raise
        except OSError as exc:
            raise OutputError(f"cannot write {targets[0]}: {_os_reason(exc)}") from exc
        for tmp in temps:
            _fsync_file(tmp)
    except BaseException:
        for tmp in temps:
            _remove_quietly(tmp)
        raise

    done: list[Path] = []
    for i, (tmp, target) in enumerate(zip(temps, targets, strict=True)):
        try:
            os.replace(tmp, target)
        except OSError as exc:
            for left in temps[i:]:
                _remove_quietly(left)
            for written in done:
                _remove_quietly(written)
            raise OutputError(f"cannot write {target}: {_os_reason(exc)}") from exc
        done.append(target)
        logger.debug("wrote %s", target)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file exists (empty) when the block starts; the block overwrites it.
    On any exception it is deleted and ``path`` is left as it was. A plain
    :class:`OSError` from the block becomes :class:`~lift3d.errors.OutputError`.

    Example::

        with atomic_path("out/model.png") as tmp:
            image.save(tmp)
    """
    with atomic_paths([path]) as (tmp,):
        yield tmp


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return ``path`` as a :class:`Path`."""
    target = Path(path)
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
    return target


def check_writable_dir(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` is an existing directory a file can be created in.

    Writability is tested by creating and removing a temporary file rather than with
    :func:`os.access`, which answers "yes" to root even on read-only mounts.

    Returns:
        ``path`` as a :class:`Path`.

    Raises:
        OutputError: the directory does not exist, is not a directory, or is not
            writable.
    """
    d = Path(path)
    if not d.exists():
        raise OutputError(f"output directory {d} does not exist")
    if not d.is_dir():
        raise OutputError(f"output directory {d} is not a directory")
    for _ in range(_MAX_NAME_TRIES):
        probe = d / f".lift3d-write-test-{secrets.token_hex(4)}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"output directory {d} is not writable: {_os_reason(exc)}") from exc
        os.close(fd)
        _remove_quietly(probe)
        return d
    raise OutputError(f"output directory {d} is not writable: no free file name")
