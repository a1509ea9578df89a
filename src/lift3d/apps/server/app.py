"""The web app: REST API under ``/v1``, the page, ``/healthz``.

:func:`create_app` builds the FastAPI application for a :class:`ServerConfig`;
:func:`serve` runs it with uvicorn. Request handlers only check input, write records
and read them: jobs run in worker processes (:mod:`.workers`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import fcntl
import hmac
import io
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ... import __version__
from ...errors import InputError, Lift3DError, NoObjectError, one_line
from .config import MODEL_VIEWER, ServerConfig, find_web_dir
from .schemas import ErrorOut, JobListOut, JobOut, job_out
from .store import (
    QUEUED,
    RUNNING,
    TERMINAL_STATES,
    JobInput,
    JobOptions,
    JobStore,
    QueueFull,
    new_job_id,
)
from .uploads import UploadRejected, check_image, check_type, sanitize_filename
from .workers import WorkerPool

log = logging.getLogger("lift3d.serve")

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
                 ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}
_ERROR_RESPONSES = {s: {"model": ErrorOut} for s in (400, 401, 404, 413, 415, 422, 429)}


class ApiError(StarletteHTTPException):
    """An error response: ``{"error": {"code": ..., "message": ...}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code


_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 413: "too_large", 415: "unsupported_type",
          422: "invalid", 429: "queue_full", 500: "internal", 503: "unavailable"}


def _error(status: int, code: str, message: str, headers=None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)


# ---------------------------------------------------------------------------- middleware


class _BodyLimit:
    """Refuses request bodies over ``limit`` bytes, by Content-Length or while reading
    (chunked uploads), before they fill the disk."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        too_big = ApiError(413, "too_large", f"the upload is over the limit of "
                                             f"{self.limit / 1e6:.1f} MB")
        if length is not None:
            try:
                if int(length) > self.limit:
                    return await _error(413, too_big.code, too_big.detail)(scope, receive, send)
            except ValueError:
                return await _error(400, "bad_request", "bad Content-Length")(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # FastAPI passes HTTP exceptions from body parsing through as they are.
                    raise too_big
            return message

        return await self.app(scope, counted, send)


class _RequestLog:
    """One structured log line per request, and an ``X-Request-ID`` on every response."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = rid if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", rid or "") else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid
        t0 = time.perf_counter()
        status = {"code": 500}

        async def send_logged(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (b"x-request-id", rid.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            client = scope.get("client") or ("", 0)
            log.info("request", extra={
                "request_id": rid, "method": scope.get("method"), "path": scope.get("path"),
                "status": status["code"], "ms": round(1000 * (time.perf_counter() - t0), 2),
                "client": client[0]})


# ---------------------------------------------------------------------------- state


class DataDirInUse(InputError):
    """Another server holds the data folder."""


def lock_data_dir(config: ServerConfig):
    """Make the data folder and take its lock (one server per folder: the workers of
    two servers would take each other's jobs back at restart).

    Raises:
        DataDirInUse: another process holds it. InputError: it cannot be created.
    """
    try:
        config.jobs_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(config.data_dir / "server.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise InputError(f"data_dir: cannot use {config.data_dir} ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise DataDirInUse(f"data_dir: {config.data_dir} is in use by another lift3d serve; "
                           f"stop it or give another --data-dir") from None
    return fd


class _State:
    def __init__(self, config: ServerConfig, lock_fd=None) -> None:
        self.config = config
        self.lock_fd = lock_fd
        self.store: JobStore | None = None
        self.pool: WorkerPool | None = None
        self.web_dir = find_web_dir(config.web_dir)
        self.segment_slots = threading.BoundedSemaphore(1)

    def open(self) -> None:
        if self.lock_fd is None:
            self.lock_fd = lock_data_dir(self.config)
        self.store = JobStore(self.config.db_path)
        requeued, failed = self.store.recover(self.config.max_attempts,
                                              "the server restarted while it ran")
        if requeued or failed:
            log.warning("jobs interrupted by a restart", extra={"requeued": requeued,
                                                                "failed": failed})
        for leftover in self.config.jobs_dir.glob("*.upload"):
            shutil.rmtree(leftover, ignore_errors=True)
        self.pool = WorkerPool(self.config, self.store)
        if self.config.start_workers:
            self.pool.start()
            self.pool.sweep()
        log.info("lift3d serve ready", extra={
            "url": f"http://{self.config.host}:{self.config.port}{self.config.root_path}/",
            "data_dir": str(self.config.data_dir), "workers": self.config.workers,
            "token": self.config.token is not None, "web": str(self.web_dir)})

    def close(self) -> None:
        if self.pool is not None and self.config.start_workers:
            self.pool.stop()
        if self.store is not None:
            self.store.close()
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None


# ---------------------------------------------------------------------------- app


def create_app(config: ServerConfig | None = None, *, lock_fd=None) -> FastAPI:
    """The FastAPI application for ``config`` (its workers start with the app)."""
    config = config if config is not None else ServerConfig()
    state = _State(config, lock_fd)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.open()
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="lift3d", version=__version__, lifespan=lifespan, root_path=config.root_path,
        redoc_url=None,
        description="Photos to production-ready 3D assets. Jobs: upload photos, follow "
                    "progress, download GLB / USDZ / OBJ. With a token, send "
                    "`Authorization: Bearer <token>` on every /v1 request.")
    app.state.lift3d = state
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(_BodyLimit, limit=config.max_upload_bytes)
    app.add_middleware(_RequestLog)
    _install_error_handlers(app)

    def store() -> JobStore:
        if state.store is None:
            raise ApiError(503, "unavailable", "the server is starting")
        return state.store

    def require_token(request: Request) -> None:
        if config.token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise ApiError(401, "unauthorized", "this server needs an API token: send "
                           "'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(given.strip().encode(), config.token.encode()):
            raise ApiError(401, "unauthorized", "the API token is wrong",
                           {"WWW-Authenticate": "Bearer"})

    def get_job(job_id: str):
        job = store().get(job_id) if _JOB_ID.match(job_id) else None
        if job is None or job.state == "cancelled":
            raise ApiError(404, "not_found", f"no job {job_id[:40]!r}")
        return job

    def out(job) -> JobOut:
        return job_out(job, store().queue_position(job), config.retention_s)

    auth = [Depends(require_token)]

    # ------------------------------------------------------------------ health, page

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict:
        """Liveness and load; needs no token."""
        counts = state.store.counts() if state.store else {}
        alive = state.pool.alive if state.pool else 0
        ok = state.store is not None and (alive > 0 or not config.start_workers)
        return {"status": "ok" if ok else "degraded", "version": __version__,
                "workers": {"alive": alive, "configured": config.workers},
                "queue": {"queued": counts.get(QUEUED, 0), "running": counts.get(RUNNING, 0),
                          "limit": config.max_queue}}

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        if state.web_dir is None:
            return HTMLResponse("<h1>lift3d</h1><p>The web page is not installed (no "
                                "<code>web/</code>). The API is at <a href='docs'>docs</a>."
                                "</p>")
        return FileResponse(state.web_dir / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/static/vendor/model-viewer.min.js", include_in_schema=False)
    def model_viewer() -> Response:
        path = state.web_dir / MODEL_VIEWER if state.web_dir else None
        if path is None or not path.is_file():
            raise ApiError(404, "not_found", "the 3D viewer is not installed: run "
                                             "`npm ci --prefix web` (bash install.sh does)")
        return FileResponse(path, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        ext = Path(name).suffix.lower()
        if (state.web_dir is None or name != sanitize_filename(name) or ext not in _STATIC_TYPES
                or not (state.web_dir / name).is_file()):
            raise ApiError(404, "not_found", f"no file {name[:60]!r}")
        return FileResponse(state.web_dir / name, media_type=_STATIC_TYPES[ext],
                            headers={"Cache-Control": "no-cache"})

    # ------------------------------------------------------------------ API

    @app.get("/v1/info", dependencies=auth, tags=["jobs"], responses=_ERROR_RESPONSES)
    def info() -> dict:
        """Limits and the choices the job options accept."""
        from ...deliver import DEFAULT_FORMATS, FORMATS
        from ...quality.presets import PRESETS

        return {"version": __version__,
                "limits": {"max_upload_bytes": config.max_upload_bytes,
                           "max_files": config.max_files, "max_pixels": config.max_pixels,
                           "max_queue": config.max_queue},
                "formats": list(FORMATS), "default_formats": list(DEFAULT_FORMATS),
                "presets": list(PRESETS), "modes": ["auto", "image", "photos"],
                "retention_s": config.retention_s}

    @app.post("/v1/segment", dependencies=auth, tags=["jobs"], responses={
        **_ERROR_RESPONSES, 200: {"content": {"image/png": {}}}}, response_class=Response)
    def segment_preview(file: Annotated[UploadFile, File(description="one image")]) -> Response:
        """The object cut out of one photo (PNG, transparent background, <= 512 px), to
        check the segmentation before making a job."""
        import numpy as np
        from PIL import Image, ImageOps

        from ...pipeline import cutout

        name = sanitize_filename(file.filename, "image")
        try:
            kind = check_type(file.content_type, file.file.read(16), name)
            if kind.video:
                raise UploadRejected(415, "unsupported_type", f"{name}: send an image")
            file.file.seek(0)
            check_image(file.file, name, config.max_pixels)
            file.file.seek(0)
            if not state.segment_slots.acquire(timeout=30):
                raise ApiError(503, "busy", "segmentation previews are busy; try again")
            try:
                with Image.open(file.file) as im:
                    im = ImageOps.exif_transpose(im)
                    has_alpha = "A" in im.getbands() or "transparency" in im.info
                    rgba = cutout(np.asarray(im.convert("RGBA" if has_alpha else "RGB")))
            finally:
                state.segment_slots.release()
        except UploadRejected as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        except NoObjectError as exc:
            raise ApiError(422, "no_object", one_line(exc)) from None
        except Lift3DError as exc:
            raise ApiError(422, "invalid_image", one_line(exc)) from None
        buf = io.BytesIO()
        Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
        return Response(buf.getvalue(), media_type="image/png",
                        headers={"Cache-Control": "no-store"})

    @app.post("/v1/jobs", status_code=202, dependencies=auth, tags=["jobs"],
              responses=_ERROR_RESPONSES)
    def create_job(
        files: Annotated[list[UploadFile], File(
            description="one image (single-photo mode), or several images or one video "
                        "(photos mode)")],
        mode: Annotated[str, Form(description="auto, image or photos")] = "auto",
        faces: Annotated[int | None, Form(ge=100, le=2_000_000,
                                          description="triangle budget")] = None,
        texture_size: Annotated[int | None, Form(ge=64, le=8192,
                                                 description="texture side, px")] = None,
        height: Annotated[float | None, Form(gt=0, le=1000,
                                             description="object height, metres")] = None,
        formats: Annotated[str, Form(description="comma-separated: glb, usdz, obj, ply, stl "
                                                 "(glb is always made)")] = "glb,usdz,obj",
        preset: Annotated[str | None, Form(description="web, ar, game or print")] = None,
    ) -> JobOut:
        """Queue a job. 202 with the job; 429 when the queue is full."""
        from ...deliver import check_formats
        from ...quality.presets import get_preset

        st = store()
        if st.counts().get(QUEUED, 0) >= config.max_queue:
            raise ApiError(429, "queue_full", f"the queue is full ({config.max_queue} jobs "
                           f"waiting); try again later", {"Retry-After": "30"})
        try:
            fmts = check_formats([f for f in formats.split(",")])
            if preset:
                preset = get_preset(preset).name
        except InputError as exc:
            raise ApiError(422, "invalid", str(exc)) from None
        if mode not in ("auto", "image", "photos"):
            raise ApiError(422, "invalid", f"mode: 'auto', 'image' or 'photos', got {mode!r}")
        if len(files) > config.max_files:
            raise ApiError(413, "too_large", f"files: {len(files)} files; the limit is "
                           f"{config.max_files}")
        job_id = new_job_id()
        staging = config.jobs_dir / f"{job_id}.upload"
        try:
            inputs, videos = _store_uploads(files, staging / "input", config)
            mode = _choose_mode(mode, len(inputs), videos)
            if mode == "photos" and preset:
                raise ApiError(422, "invalid", "preset: applies to single-photo jobs only")
            os.replace(staging, config.job_dir(job_id))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        options = JobOptions(faces=faces, texture_size=texture_size, height=height,
                             formats=fmts, preset=preset or None)
        try:
            job = st.insert(job_id, mode, options, tuple(inputs), config.max_queue)
        except QueueFull as exc:
            shutil.rmtree(config.job_dir(job_id), ignore_errors=True)
            raise ApiError(429, "queue_full", f"the queue is full: {exc}; try again later",
                           {"Retry-After": "30"}) from None
        log.info("job queued", extra={"job": job_id, "mode": mode, "files": len(inputs)})
        return out(job)

    @app.get("/v1/jobs", dependencies=auth, tags=["jobs"], responses=_ERROR_RESPONSES)
    def list_jobs(limit: int = 20, cursor: str | None = None) -> JobListOut:
        """Jobs, newest first, ``limit`` (1..100) at a time; ``next_cursor`` gives the next
        page."""
        if not 1 <= limit <= 100:
            raise ApiError(422, "invalid", f"limit: must be in 1..100, got {limit}")
        before = _decode_cursor(cursor) if cursor else None
        jobs = store().list(limit + 1, before)
        more = len(jobs) > limit
        jobs = jobs[:limit]
        nxt = _encode_cursor(jobs[-1].created, jobs[-1].id) if more and jobs else None
        return JobListOut(jobs=[out(j) for j in jobs], next_cursor=nxt)

    @app.get("/v1/jobs/{job_id}", dependencies=auth, tags=["jobs"], responses=_ERROR_RESPONSES)
    def job_status(job_id: str) -> JobOut:
        """The job's state, progress, timings, mesh stats and files."""
        return out(get_job(job_id))

    @app.get("/v1/jobs/{job_id}/events", dependencies=auth, tags=["jobs"],
             responses={**_ERROR_RESPONSES, 200: {"content": {"text/event-stream": {}}}},
             response_class=StreamingResponse)
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        """Server-sent events: ``event: job`` with the job's JSON at every change; the
        stream ends when the job is done, failed or expired."""
        get_job(job_id)

        async def stream():
            last = None
            beat = time.monotonic()
            while True:
                job = store().get(job_id)
                if job is None or job.state == "cancelled":
                    yield "event: gone\ndata: {}\n\n"
                    return
                if job.updated != last:
                    last = job.updated
                    beat = time.monotonic()
                    yield f"event: job\ndata: {out(job).model_dump_json()}\n\n"
                    if job.state in TERMINAL_STATES:
                        return
                elif time.monotonic() - beat > 15:
                    beat = time.monotonic()
                    yield ": keep-alive\n\n"
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.25)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    @app.get("/v1/jobs/{job_id}/files/{name}", dependencies=auth, tags=["jobs"],
             responses=_ERROR_RESPONSES, response_class=FileResponse)
    def job_file(job_id: str, name: str) -> FileResponse:
        """One result file: ``model.glb``, ``model.usdz``, ``model_obj.zip``, ``preview.png``..."""
        job = get_job(job_id)
        files = {f.name: f for f in (job.result.files if job.result else ())}
        if name not in files or name != sanitize_filename(name):
            raise ApiError(404, "not_found", f"job {job_id} has no file {name[:60]!r}")
        path = config.job_dir(job.id) / "out" / name
        if not path.is_file():
            raise ApiError(404, "not_found", f"the file {name} is gone")
        return FileResponse(path, media_type=files[name].media_type, filename=name,
                            content_disposition_type="inline" if name.endswith(".png")
                            else "attachment")

    @app.delete("/v1/jobs/{job_id}", status_code=204, dependencies=auth, tags=["jobs"],
                responses=_ERROR_RESPONSES, response_class=Response)
    def delete_job(job_id: str) -> Response:
        """Remove a job and its files; a running job is stopped."""
        if not _JOB_ID.match(job_id):
            raise ApiError(404, "not_found", f"no job {job_id[:40]!r}")
        before = store().cancel(job_id)
        if before is None:
            raise ApiError(404, "not_found", f"no job {job_id!r}")
        if before != RUNNING:
            shutil.rmtree(config.job_dir(job_id), ignore_errors=True)
        log.info("job deleted", extra={"job": job_id, "state": before})
        return Response(status_code=204)

    return app


def _choose_mode(mode: str, count: int, videos: int) -> str:
    if videos and count > 1:
        raise ApiError(422, "invalid", "files: send one video, or images, not both")
    if mode == "auto":
        return "image" if count == 1 and not videos else "photos"
    if mode == "image" and (count != 1 or videos):
        raise ApiError(422, "invalid", "mode image: send exactly one image")
    if mode == "photos" and not videos and count < 3:
        raise ApiError(422, "invalid", f"mode photos: send at least 3 images or a video "
                                       f"(got {count} image{'s' if count != 1 else ''})")
    return mode


def _store_uploads(files: list[UploadFile], folder: Path,
                   config: ServerConfig) -> tuple[list[JobInput], int]:
    """Check and copy each upload into ``folder`` as ``NN.ext``. Returns the inputs and
    how many are videos."""
    folder.mkdir(parents=True)
    inputs: list[JobInput] = []
    videos = 0
    for n, f in enumerate(files):
        name = sanitize_filename(f.filename, f"file{n}")
        try:
            kind = check_type(f.content_type, f.file.read(16), name)
        except UploadRejected as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        f.file.seek(0)
        # Stored under a name made here: nothing the client sent becomes a path.
        stored = f"{n:03d}{kind.extension}"
        target = folder / stored
        with open(target, "wb") as dst:
            shutil.copyfileobj(f.file, dst, 1 << 20)
        size = target.stat().st_size
        if size == 0:
            raise ApiError(422, "invalid_image", f"{name}: the file is empty")
        if kind.video:
            videos += 1
        else:
            try:
                check_image(target, name, config.max_pixels)
            except UploadRejected as exc:
                raise ApiError(exc.status, exc.code, exc.message) from None
        inputs.append(JobInput(name=name, stored=stored, size=size,
                               content_type=kind.media_type))
    if not inputs:
        raise ApiError(422, "invalid", "files: no file was sent")
    return inputs, videos


def _encode_cursor(created: float, job_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created, job_id]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, job_id = json.loads(raw)
        return float(created), str(job_id)
    except (ValueError, TypeError, binascii.Error):
        raise ApiError(422, "invalid", "cursor: not a cursor this server gave") from None


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or _CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else _CODES.get(exc.status_code, "")
        if exc.status_code == 400 and "parsing the body" in message:
            message = "the request body is not valid multipart form data"
        return _error(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors()[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query",
                                                                            "path", "form"))
            parts.append(f"{where or 'request'}: {e.get('msg', 'invalid')}")
        return _error(422, "invalid", "; ".join(parts) or "invalid request")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        rid = request.scope.get("state", {}).get("request_id", "")
        log.error("unhandled error", exc_info=exc, extra={"request_id": rid})
        # Made by Starlette's outermost middleware, outside ours: add the id here.
        return _error(500, "internal", f"internal error (request id {rid}); the server log "
                                       f"has the details", {"X-Request-ID": rid})


def serve(config: ServerConfig) -> None:
    """Run the server until Ctrl-C or SIGTERM (uvicorn, one process; jobs in workers).

    Raises:
        InputError: the data folder is unusable or in use; the port is taken.
    """
    import socket

    import uvicorn

    from .logs import setup_logging

    setup_logging(config.log_format)
    lock_fd = lock_data_dir(config)
    try:
        with socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((config.host, config.port))
    except OSError as exc:
        os.close(lock_fd)
        raise InputError(f"port: cannot listen on {config.host}:{config.port} "
                         f"({exc.strerror})") from None
    app = create_app(config, lock_fd=lock_fd)
    uvicorn.run(app, host=config.host, port=config.port, log_config=None, access_log=False,
                proxy_headers=True, timeout_graceful_shutdown=10)
