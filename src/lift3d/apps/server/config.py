"""The server's settings: one frozen dataclass, checked when made."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import InputError

#: Environment variable holding the API token when ``--token`` is not given.
TOKEN_ENV = "LIFT3D_TOKEN"


def default_data_dir() -> Path:
    """``$LIFT3D_DATA_DIR``, else ``~/.local/share/lift3d/serve``."""
    env = os.environ.get("LIFT3D_DATA_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lift3d" / "serve"


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``lift3d serve`` can be told.

    Attributes:
        host, port: where to listen (loopback by default: put a reverse proxy in front
            to serve others, see the README).
        data_dir: the SQLite database (``jobs.sqlite``) and one folder per job
            (``jobs/<id>/input`` and ``out``).
        workers: worker processes, i.e. jobs that run at once.
        max_queue: jobs that may wait; one more gets HTTP 429.
        max_upload_bytes: the whole request body of an upload.
        max_files: files in one upload.
        max_pixels: pixels of one image (decompression bombs).
        token: when set, every endpoint but ``/healthz`` needs
            ``Authorization: Bearer <token>``.
        cors_origins: origins allowed by CORS; empty: CORS off.
        retention_s: finished jobs' files are removed this long after they finish.
        job_timeout_s: a job running longer is stopped and failed.
        max_attempts: tries of a job interrupted by a restart or a worker crash.
        root_path: the path prefix a reverse proxy serves the app under (e.g. ``/3d``).
        log_format: ``"json"`` (one object per line) or ``"text"``.
        web_dir: the page's folder; None finds ``web/`` of the checkout.
        start_workers: False only for tests that need jobs to stay queued.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = field(default_factory=default_data_dir)
    workers: int = 1
    max_queue: int = 100
    max_upload_bytes: int = 50 * 1024 * 1024
    max_files: int = 200
    max_pixels: int = 50_000_000
    token: str | None = None
    cors_origins: tuple[str, ...] = ()
    retention_s: float = 7 * 24 * 3600.0
    job_timeout_s: float = 1800.0
    max_attempts: int = 2
    root_path: str = ""
    log_format: str = "json"
    web_dir: Path | None = None
    start_workers: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if not 0 < self.port < 65536:
            raise InputError(f"port: must be in 1..65535, got {self.port}")
        if not 1 <= self.workers <= 64:
            raise InputError(f"workers: must be in 1..64, got {self.workers}")
        if self.max_queue < 1:
            raise InputError(f"max_queue: must be at least 1, got {self.max_queue}")
        if self.max_upload_bytes < 1024:
            raise InputError(f"max_upload_bytes: must be at least 1024, got "
                             f"{self.max_upload_bytes}")
        if self.max_files < 1 or self.max_pixels < 1:
            raise InputError("max_files, max_pixels: must be positive")
        if self.token is not None and len(self.token) < 8:
            raise InputError("token: use at least 8 characters")
        if self.retention_s <= 0 or self.job_timeout_s <= 0:
            raise InputError("retention, job timeout: must be positive")
        if self.max_attempts < 1:
            raise InputError(f"max_attempts: must be at least 1, got {self.max_attempts}")
        if self.log_format not in ("json", "text"):
            raise InputError(f"log_format: 'json' or 'text', got {self.log_format!r}")
        if self.root_path and (not self.root_path.startswith("/") or self.root_path.endswith("/")):
            raise InputError(f"root_path: must start with '/' and not end with one, got "
                             f"{self.root_path!r}")

    @property
    def db_path(self) -> Path:
        return self.data_dir / "jobs.sqlite"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id


def find_web_dir(configured: Path | None = None) -> Path | None:
    """The page's folder: ``configured``, ``$LIFT3D_WEB_DIR``, or ``web/`` beside the
    package in a checkout (``pip install -e``). None when there is none."""
    candidates = [configured] if configured else []
    if os.environ.get("LIFT3D_WEB_DIR"):
        candidates.append(Path(os.environ["LIFT3D_WEB_DIR"]))
    candidates.append(Path(__file__).resolve().parents[4] / "web")
    for c in candidates:
        if c is not None and (c / "index.html").is_file():
            return c
    return None


#: Where ``npm ci --prefix web`` puts the viewer.
MODEL_VIEWER = Path("node_modules/@google/model-viewer/dist/model-viewer.min.js")
