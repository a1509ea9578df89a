"""What flows through ``lift3d batch``: items in, outcomes out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..deliver import DeliveredFile, MeshStats, PresetCheck
from ..types import StageTiming

#: Item states in the ledger and the report.
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"


@dataclass(frozen=True)
class BatchItem:
    """One product of a batch.

    Attributes:
        id: unique in the batch; a safe folder name (letters, digits, ``. _ -``; no
            leading dot; at most 100 characters). Its output goes to ``OUT/<id>/``.
        images: absolute paths of its photos: one (single-photo mode) or several
            (photos mode; or one video).
        height: the object's height in metres, or None for the batch default.
        faces: triangle budget, or None for the batch default.
        preset: ``web``, ``ar``, ``game``, ``print``, or None for the batch default.
        fields: the manifest's other columns, ``(name, value)`` in manifest order, carried
            into ``report.json`` unchanged.
        source: where the item came from, for messages: ``"items.csv:12"``,
            ``"mug.jpg"`` (relative to the folder).
        problem: why the item cannot run, found while reading the manifest (a missing
            image, a bad number, a duplicate id); None when it can. Such an item is
            reported failed with this reason; the rest of the batch runs.
    """

    id: str
    images: tuple[Path, ...]
    height: float | None = None
    faces: int | None = None
    preset: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    source: str = ""
    problem: str | None = None


@dataclass(frozen=True)
class BatchOptions:
    """How ``lift3d batch`` runs.

    Attributes:
        formats: formats written per item besides ``model.glb`` (see
            :data:`lift3d.deliver.FORMATS`).
        faces, texture_size, height, preset: defaults for items that do not set them
            (None: lift3d's defaults).
        workers: local worker processes; 0 means one per core.
        retries: extra tries of a failed item, in this run and the next ones.
        item_timeout_s: an item running longer is stopped and failed.
        ray_address: run on a Ray cluster (``"auto"`` or ``"ray://host:port"``) instead
            of local processes; None: local.
    """

    formats: tuple[str, ...] = ("glb",)
    faces: int | None = None
    texture_size: int | None = None
    height: float | None = None
    preset: str | None = None
    workers: int = 0
    retries: int = 1
    item_timeout_s: float = 600.0
    ray_address: str | None = None


@dataclass(frozen=True)
class ItemOutcome:
    """What became of one item.

    Attributes:
        item: the item as read from the manifest.
        status: ``done`` or ``failed`` (``pending`` when the run stopped before it).
        reused: done in an earlier run with the same inputs and options (not redone).
        reason: why it failed, one sentence; None when done.
        code: a stable error code (``no_object``, ``invalid_input``, ``timeout``,
            ``crashed``, ``manifest``...); None when done.
        attempts: tries so far, over all runs.
        seconds: wall-clock time of the last try.
        key: content hash of the item's images and options (what makes it "unchanged").
        files, stats, timings, preset: the delivery (:class:`lift3d.deliver.Delivery`),
            when done.
    """

    item: BatchItem
    status: str
    reused: bool = False
    reason: str | None = None
    code: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    key: str = ""
    files: tuple[DeliveredFile, ...] = ()
    stats: MeshStats | None = None
    timings: tuple[StageTiming, ...] = ()
    preset: PresetCheck | None = None


@dataclass(frozen=True)
class BatchReport:
    """A whole batch run.

    Attributes:
        out_dir: the output folder (``OUT/<id>/`` per item, ``report.json``, ``report.html``).
        outcomes: one per item, in manifest order.
        backend: ``"local"`` or ``"ray"``.
        workers: processes (local) or Ray CPUs used.
        wall_s: wall-clock time of this run.
        options: the batch options.
    """

    out_dir: Path
    outcomes: tuple[ItemOutcome, ...]
    backend: str
    workers: int
    wall_s: float
    options: BatchOptions = field(default_factory=BatchOptions)

    @property
    def done(self) -> int:
        return sum(1 for o in self.outcomes if o.status == DONE)

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if o.status == FAILED)

    @property
    def reused(self) -> int:
        return sum(1 for o in self.outcomes if o.reused)

    @property
    def items_per_minute(self) -> float:
        """Items made in this run (not reused) per minute of wall-clock time."""
        made = sum(1 for o in self.outcomes if o.status == DONE and not o.reused)
        return 60.0 * made / self.wall_s if self.wall_s > 0 else 0.0
