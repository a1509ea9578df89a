"""The API's JSON bodies as pydantic models (they make the OpenAPI document)."""

from __future__ import annotations

import time

from pydantic import BaseModel, Field

from .store import Job


def iso(t: float | None) -> str | None:
    """Unix seconds -> ``2026-11-21T12:00:00.123Z`` (None stays None)."""
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


class ErrorBody(BaseModel):
    code: str = Field(description="stable snake_case code, e.g. queue_full, unsupported_type")
    message: str = Field(description="what went wrong, for people")


class ErrorOut(BaseModel):
    error: ErrorBody


class OptionsOut(BaseModel):
    faces: int | None
    texture_size: int | None
    height: float | None = Field(description="object height in metres, or null")
    formats: list[str]
    preset: str | None


class InputOut(BaseModel):
    name: str = Field(description="the uploaded file's name, sanitised")
    size: int
    content_type: str


class ProgressOut(BaseModel):
    stage: str = Field(description="stage now running ('' before the start, 'done' after)")
    stage_index: int
    stages: list[str]
    percent: float = Field(description="0..100 over the whole job")
    message: str


class TimingOut(BaseModel):
    stage: str
    seconds: float


class PresetCheckOut(BaseModel):
    preset: str
    passed: bool
    failures: list[str]


class StatsOut(BaseModel):
    faces: int
    vertices: int
    watertight: bool
    size_m: list[float] = Field(description="bounding box (x, y, z): metres, glTF axes")
    scale_known: bool = Field(description="false: photos with no scale, size_m is arbitrary")
    texture_size: int
    preset_check: PresetCheckOut | None


class FileOut(BaseModel):
    name: str
    size: int
    content_type: str
    url: str = Field(description="relative to the server root")


class JobOut(BaseModel):
    id: str
    state: str = Field(description="queued, running, done, failed or expired")
    mode: str = Field(description="image (one photo) or photos (several photos or a video)")
    created: str
    started: str | None
    finished: str | None
    expires: str | None = Field(description="when the files will be removed")
    queue_position: int | None = Field(description="jobs ahead of this one while queued")
    attempts: int
    note: str
    options: OptionsOut
    inputs: list[InputOut]
    progress: ProgressOut
    error: ErrorBody | None
    timings: list[TimingOut]
    stats: StatsOut | None
    files: list[FileOut]


class JobListOut(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


def job_out(job: Job, queue_position: int | None, retention_s: float) -> JobOut:
    r = job.result
    stats = None
    if r is not None:
        s = r.stats
        check = (PresetCheckOut(preset=r.preset.preset, passed=r.preset.passed,
                                failures=list(r.preset.failures)) if r.preset else None)
        stats = StatsOut(faces=s.faces, vertices=s.vertices, watertight=s.watertight,
                         size_m=list(s.size_m), scale_known=s.scale_known,
                         texture_size=s.texture_size, preset_check=check)
    o = job.options
    p = job.progress
    return JobOut(
        id=job.id, state=job.state, mode=job.mode, created=iso(job.created),
        started=iso(job.started), finished=iso(job.finished),
        expires=iso(job.finished + retention_s) if job.finished and job.state != "expired"
        else None,
        queue_position=queue_position, attempts=job.attempts, note=job.note,
        options=OptionsOut(faces=o.faces, texture_size=o.texture_size, height=o.height,
                           formats=list(o.formats), preset=o.preset),
        inputs=[InputOut(name=i.name, size=i.size, content_type=i.content_type)
                for i in job.inputs],
        progress=ProgressOut(stage=p.stage, stage_index=p.stage_index, stages=list(p.stages),
                             percent=p.percent, message=p.message),
        error=ErrorBody(code=job.error.code, message=job.error.message) if job.error else None,
        timings=[TimingOut(stage=t.name, seconds=round(t.seconds, 4))
                 for t in (r.timings if r else ())],
        stats=stats,
        files=[FileOut(name=f.name, size=f.size, content_type=f.media_type,
                       url=f"v1/jobs/{job.id}/files/{f.name}") for f in (r.files if r else ())],
    )
