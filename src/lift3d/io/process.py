"""Process helpers shared by the server's workers and batch workers."""

from __future__ import annotations

import signal


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies, even by SIGKILL, so that no
    orphaned worker finishes a job or an item behind the back of a restarted server or
    batch. Elsewhere a no-op (the callers also check their parent themselves)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
