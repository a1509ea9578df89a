"""The batch ledger: one SQLite row per item, in ``OUT/.lift3d/ledger.sqlite``.

It is what makes a batch resumable. Each item's row holds the content hash (``key``) of
its images and options, its status, its tries and, when done, what it delivered. A
rerun skips items done under the same key and retries failed ones; an item the run was
killed in the middle of is ``running`` in the ledger and simply runs again.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import asdict
from pathlib import Path

from .. import __version__
from ..deliver import DeliveredFile, MeshStats, PresetCheck
from ..types import StageTiming
from .types import DONE, FAILED, PENDING, RUNNING, BatchItem, BatchOptions

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    code TEXT,
    reason TEXT,
    seconds REAL NOT NULL DEFAULT 0,
    updated REAL NOT NULL,
    result TEXT
);
"""


def item_key(item: BatchItem, options: BatchOptions) -> str:
    """The content hash that decides whether an item is unchanged: lift3d's version, the
    options that shape its output, and the bytes and names of its images."""
    h = hashlib.sha256()
    spec = {"lift3d": __version__, "formats": sorted(options.formats),
            "texture_size": options.texture_size,
            "faces": item.faces if item.faces is not None else options.faces,
            "height": item.height if item.height is not None else options.height,
            "preset": item.preset if item.preset is not None else options.preset,
            "problem": item.problem}
    h.update(json.dumps(spec, sort_keys=True).encode())
    for path in item.images:
        h.update(path.name.encode() + b"\0")
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        except OSError as exc:
            h.update(f"unreadable:{exc.errno}".encode())
    return h.hexdigest()[:32]


def result_json(files: tuple[DeliveredFile, ...], stats: MeshStats | None,
                timings: tuple[StageTiming, ...], preset: PresetCheck | None) -> str:
    return json.dumps({"files": [asdict(f) for f in files],
                       "stats": asdict(stats) if stats else None,
                       "timings": [[t.name, t.seconds] for t in timings],
                       "preset": asdict(preset) if preset else None})


def parse_result(text: str | None):
    """``(files, stats, timings, preset)`` from :func:`result_json`'s text."""
    if not text:
        return (), None, (), None
    d = json.loads(text)
    stats = d["stats"]
    preset = d["preset"]
    return (tuple(DeliveredFile(**f) for f in d["files"]),
            MeshStats(**{**stats, "size_m": tuple(stats["size_m"])}) if stats else None,
            tuple(StageTiming(n, s) for n, s in d["timings"]),
            PresetCheck(preset["preset"], preset["passed"], tuple(preset["failures"]))
            if preset else None)


class Ledger:
    """The ledger of the batch writing to ``out_dir`` (created when missing)."""

    def __init__(self, out_dir: Path) -> None:
        folder = Path(out_dir) / ".lift3d"
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "ledger.sqlite"
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # Every status change is committed at once: a kill loses at most the items in
        # flight, whose rows still say "running".
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def rows(self) -> dict[str, sqlite3.Row]:
        return {r["id"]: r for r in self._db.execute("SELECT * FROM items")}

    def _upsert(self, item_id: str, key: str, **cols) -> None:
        cols = {"key": key, "updated": time.time(), **cols}
        names = ", ".join(cols)
        marks = ", ".join("?" * len(cols))
        updates = ", ".join(f"{c}=excluded.{c}" for c in cols)
        self._db.execute(f"INSERT INTO items (id, {names}) VALUES (?, {marks}) "
                         f"ON CONFLICT(id) DO UPDATE SET {updates}",
                         (item_id, *cols.values()))

    def attempts(self, item_id: str, key: str) -> int:
        """Tries of the item under ``key`` (a changed key starts again from 0)."""
        row = self._db.execute("SELECT key, attempts FROM items WHERE id=?",
                               (item_id,)).fetchone()
        return int(row["attempts"]) if row is not None and row["key"] == key else 0

    def start(self, item_id: str, key: str) -> int:
        """Mark the item running; returns its try number (1 for the first)."""
        n = self.attempts(item_id, key) + 1
        self._upsert(item_id, key, status=RUNNING, attempts=n, code=None, reason=None)
        return n

    def done(self, item_id: str, key: str, seconds: float, result: str) -> None:
        self._upsert(item_id, key, status=DONE, seconds=seconds, result=result, code=None,
                     reason=None)

    def failed(self, item_id: str, key: str, seconds: float, code: str, reason: str,
               attempts: int | None = None) -> None:
        cols = {"status": FAILED, "seconds": seconds, "code": code, "reason": reason,
                "result": None}
        if attempts is not None:
            cols["attempts"] = attempts
        self._upsert(item_id, key, **cols)

    def pending(self, item_id: str, key: str) -> None:
        """Put an item back (stopped in flight by Ctrl-C): its try does not count."""
        n = max(0, self.attempts(item_id, key) - 1)
        self._upsert(item_id, key, status=PENDING, attempts=n)
