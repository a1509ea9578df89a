"""``lift3d serve``: the web app and REST API.

:class:`ServerConfig` holds the settings; :func:`create_app` builds the FastAPI
application and :func:`serve` runs it. Jobs run in worker processes
(:mod:`.workers`) and live in a SQLite store (:mod:`.store`). Needs the ``[web]``
extra (FastAPI, uvicorn).
"""

from __future__ import annotations

from .config import ServerConfig

__all__ = ["ServerConfig", "create_app", "serve"]


def __getattr__(name: str):
    # FastAPI is imported only when the app is wanted: the worker processes import
    # this package too and need none of it.
    if name in ("create_app", "serve"):
        from ...errors import require

        require("fastapi", "web", "lift3d serve")
        require("uvicorn", "web", "lift3d serve")
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
