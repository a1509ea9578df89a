"""What ``lift3d batch`` reads: a folder, a glob, or a CSV / JSONL manifest, as items.

Whole-source problems (no such file, no header, no rows) raise :class:`InputError`.
A row that cannot run (a missing image, a bad number, a duplicate id) still becomes a
:class:`BatchItem`, with ``problem`` saying why: one bad row in a catalogue of thousands
must not stop the other rows, and it must show up in the report rather than vanish.

Ids name output folders (``OUT/<id>/``), so they are made safe (:func:`safe_id`) and
unique without regard to case: ``Mug`` and ``mug`` would be one folder on macOS and
Windows.
"""

from __future__ import annotations

import csv
import glob
import json
import logging
import math
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..multiview.frames import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from ..quality.presets import PRESETS
from .types import BatchItem

__all__ = ["read_items", "safe_id"]

log = logging.getLogger(__name__)

MANIFEST_EXTENSIONS = (".csv", ".jsonl", ".ndjson")

#: Longest id (a folder name that stays well inside every file system's limit).
MAX_ID = 100

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_RUNS = re.compile(r"_{2,}")
_LIST_SEP = re.compile(r"[;|]")
_GLOB_CHARS = ("*", "?", "[")
#: Manifest columns / keys with a meaning; every other one is carried into ``fields``.
_IMAGE_KEYS = ("image", "images")
_SINGLE_KEYS = ("id", "height", "faces", "preset")


def safe_id(text: str) -> str:
    """``text`` made safe as an item id and folder name; may return ``""``.

    Unicode is folded to ASCII, anything but letters, digits and ``. _ -`` becomes
    ``_``, runs of ``_`` collapse, leading ``. _ -`` and trailing ``_`` go (no hidden
    folders, no ``..``, no option-like names) and the result is at most 100 characters.
    ``safe_id(safe_id(x)) == safe_id(x)``.
    """
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = _RUNS.sub("_", _UNSAFE.sub("_", text))
    # Cut before the trailing strip so a cut that ends on "_" is cleaned too.
    return text.lstrip("._-")[:MAX_ID].rstrip("_")


def read_items(source: str | os.PathLike) -> list[BatchItem]:
    """Items from a folder, a glob pattern, a ``.csv`` or a ``.jsonl``/``.ndjson`` manifest.

    * A folder: each image (or video) file directly inside is one item, id = its stem;
      each subfolder with images (or one video) is one item, id = the folder name.
      Hidden entries are skipped. Sorted by id.
    * A glob (``*``, ``?`` or ``[``, ``**`` recursive): each matching image or video
      file is one item, id = its stem. Sorted by id.
    * A manifest: one item per row, in manifest order; columns/keys ``id``, ``image``
      or ``images`` (several paths split on ``;`` or ``|``), optional ``height``,
      ``faces`` and ``preset``; the others are carried in ``fields``. Relative image
      paths are relative to the manifest's folder.

    Raises:
        InputError: the source is missing, unreadable, of an unknown kind, empty, or a
            CSV without its header or required columns. Problems of single rows do not
            raise: the item carries them in ``problem``.
    """
    text = os.fspath(source)
    path = Path(os.path.expanduser(text))
    if path.is_dir():
        items = _read_folder(path)
    elif path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".csv":
            items = _read_csv(path)
        elif suffix in (".jsonl", ".ndjson"):
            items = _read_jsonl(path)
        else:
            raise InputError(
                f"source: {path} is neither a folder nor a manifest; give a folder of "
                f"photos, a glob such as 'photos/*.jpg', or a manifest ending in "
                f"{', '.join(MANIFEST_EXTENSIONS)}")
    elif path.exists():
        raise InputError(f"source: {path} is neither a file nor a folder")
    elif any(c in text for c in _GLOB_CHARS):
        items = _read_glob(os.path.expanduser(text))
    else:
        raise InputError(f"source: not found: {path}")
    bad = sum(1 for item in items if item.problem)
    log.info("%s: %d items, %d with problems", text, len(items), bad)
    return items


# -- files and kinds ----------------------------------------------------------------------


def _kind(path: Path | str) -> str | None:
    """``"image"``, ``"video"`` or None, from the extension alone (the bytes are the
    pipeline's business; reading thousands of files here would make listing slow)."""
    suffix = os.path.splitext(str(path))[1].lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


@dataclass
class _Found:
    """A folder or glob entry, before ids are made unique."""

    base: str  # safe id wanted
    name: str  # what sorts and tells clashing entries apart; becomes ``source``
    suffix: str  # the file's extension, appended to a clashing id ("" for folders)
    images: tuple[Path, ...]
    problem: str | None = None


def _visible(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if not p.name.startswith(".")),
                  key=lambda p: p.name)


def _read_folder(folder: Path) -> list[BatchItem]:
    try:
        entries = _visible(folder)
    except OSError as exc:
        raise InputError(f"source: cannot read {folder}: {_reason(exc)}") from exc
    found: list[_Found] = []
    for entry in entries:
        if entry.is_dir():
            sub = _subfolder(entry)
            if sub is not None:
                found.append(sub)
        elif entry.is_file() and _kind(entry):
            found.append(_Found(safe_id(entry.stem), entry.name, entry.suffix,
                                (entry.resolve(),)))
        else:
            log.debug("%s: skipped (not an image, a video or a folder)", entry)
    if not found:
        raise InputError(f"source: no images in {folder}")
    return _unique_sorted(found)


def _subfolder(folder: Path) -> _Found | None:
    """A subfolder as one photos-mode item, or None when it holds no media at all."""
    base = safe_id(folder.name)
    try:
        files = [p for p in _visible(folder) if p.is_file()]
    except OSError as exc:
        return _Found(base, folder.name, "", (), f"cannot read {folder}: {_reason(exc)}")
    images = tuple(p.resolve() for p in files if _kind(p) == "image")
    videos = tuple(p.resolve() for p in files if _kind(p) == "video")
    if images:
        if videos:
            log.info("%s: %d video(s) ignored; the photos are used", folder, len(videos))
        return _Found(base, folder.name, "", images)
    if len(videos) == 1:
        return _Found(base, folder.name, "", videos)
    if videos:
        # Not skipped: a folder the user meant as an item must show up in the report.
        return _Found(base, folder.name, "", videos,
                      f"{len(videos)} videos in {folder}; give one video, or images")
    log.debug("%s: skipped (no images or videos)", folder)
    return None


def _read_glob(pattern: str) -> list[BatchItem]:
    matches = sorted(glob.glob(pattern, recursive=True))
    files = [m for m in matches if os.path.isfile(m)]
    media = [m for m in files if _kind(m)]
    if not media:
        why = (f"{len(files)} files match but none is an image or video" if files
               else "nothing matches")
        raise InputError(f"source: {why}: {pattern!r}")
    found = [_Found(safe_id(Path(m).stem), m, Path(m).suffix, (Path(m).resolve(),))
             for m in media]
    return _unique_sorted(found)


def _fit(base: str, tail: str) -> str:
    """``base + tail`` within :data:`MAX_ID`, cutting ``base``."""
    return base[: MAX_ID - len(tail)].rstrip("_") + tail if tail else base


def _unique_sorted(found: list[_Found]) -> list[BatchItem]:
    """Items with unique ids, sorted by id.

    Within a clash, entries go by name: the first keeps the id, the others get their
    extension appended (``a.png`` -> ``a_png``), then ``-2``, ``-3``... until free of
    every id taken or wanted, so the result does not depend on listing order.
    """
    for f in found:
        # An all-Unicode name folds to nothing; it still needs a folder.
        f.base = f.base or "item"
    wanted = {f.base.casefold() for f in found}
    claimed: set[str] = set()
    items = []
    for f in sorted(found, key=lambda f: (f.base.casefold(), f.name)):
        new = f.base
        if new.casefold() in claimed:
            ext = safe_id(f.suffix.lstrip(".").lower())
            tail = f"_{ext}" if ext else ""
            n = 1
            while True:
                new = _fit(f.base, tail + (f"-{n}" if n > 1 else ""))
                if new.casefold() not in claimed and new.casefold() not in wanted:
                    break
                n += 1
        claimed.add(new.casefold())
        items.append(BatchItem(id=new, images=f.images, source=f.name, problem=f.problem))
    return sorted(items, key=lambda item: item.id)


# -- manifests ----------------------------------------------------------------------------


@dataclass
class _Row:
    """A manifest row, before ids are made unique."""

    line: int
    source: str
    id_text: str | None = None  # the id as given (stripped); None or "" when missing
    images: tuple[Path, ...] = ()
    height: float | None = None
    faces: int | None = None
    preset: str | None = None
    fields: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the first one is reported


def _show(value: object) -> str:
    """A value as quoted in a problem: ``'abc'`` for text, JSON for the rest."""
    return repr(value) if isinstance(value, str) else json.dumps(value)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _resolve(text: str, base: Path) -> Path:
    path = Path(os.path.expanduser(text))
    return (path if path.is_absolute() else base / path).resolve()


def _split_paths(value: object) -> list[str] | None:
    """Path strings from ``"a.jpg;b.jpg"`` or ``["a.jpg", "b.jpg"]``; None if neither."""
    if _blank(value):
        return []
    if isinstance(value, str):
        parts = _LIST_SEP.split(value)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        parts = value
    else:
        return None
    return [p.strip() for p in parts if p.strip()]


def _images(texts: list[str], base: Path) -> tuple[tuple[Path, ...], str | None]:
    """Resolved paths (repeats dropped) and the first problem with them, or None."""
    if not texts:
        return (), "no image given"
    paths = tuple(dict.fromkeys(_resolve(t, base) for t in texts))
    for path in paths:
        if not path.exists():
            return paths, f"image not found: {path}"
        if not path.is_file():
            return paths, f"not a file: {path}"
        if _kind(path) is None:
            return paths, f"not an image or video: {path}"
    if len(paths) > 1 and any(_kind(p) == "video" for p in paths):
        return paths, "give one video, or images, not both"
    return paths, None


def _height(value: object) -> tuple[float | None, str | None]:
    if _blank(value):
        return None, None
    if isinstance(value, str):
        try:
            height = float(value.strip())
        except ValueError:
            return None, f"height: {value.strip()!r} is not a number"
        shown = value.strip()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        height, shown = float(value), json.dumps(value)
    else:
        return None, f"height: {_show(value)} is not a number"
    if not math.isfinite(height):
        return None, f"height: {shown!r} is not a finite number"
    if height <= 0:
        return None, f"height: must be more than 0 metres, got {shown}"
    return height, None


def _faces(value: object) -> tuple[int | None, str | None]:
    if _blank(value):
        return None, None
    faces: int | None = None
    number = math.nan
    if isinstance(value, int) and not isinstance(value, bool):
        faces = value
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str):
        try:
            faces = int(value.strip())
        except ValueError:
            try:
                number = float(value.strip())
            except ValueError:
                pass
    # "2e4" and 20000.0 are whole numbers too; 2.5 is not.
    if faces is None and math.isfinite(number) and number.is_integer():
        faces = int(number)
    if faces is None:
        shown = value.strip() if isinstance(value, str) else value
        return None, f"faces: {_show(shown)} is not a whole number"
    if faces < 100:
        return None, f"faces: must be at least 100, got {faces}"
    return faces, None


def _preset(value: object) -> tuple[str | None, str | None]:
    if _blank(value):
        return None, None
    name = value.strip().lower() if isinstance(value, str) else None
    if name not in PRESETS:
        shown = value.strip() if isinstance(value, str) else value
        return None, (f"preset: unknown preset {_show(shown)}; "
                      f"choose {', '.join(PRESETS)}")
    return name, None


def _fill(row: _Row, *, id_value: object, image_texts: list[str] | None, height: object,
          faces: object, preset: object, base: Path) -> None:
    """Parse a row's known values into ``row``, collecting its problems in order."""
    if _blank(id_value):
        row.problems.append("no id")
    elif isinstance(id_value, str):
        row.id_text = id_value.strip()
    elif isinstance(id_value, (int, float)) and not isinstance(id_value, bool):
        row.id_text = str(id_value)
    else:
        row.problems.append(f"id: {_show(id_value)} is not text")
    if image_texts is None:
        row.problems.append("images: give a path or a list of paths")
    else:
        row.images, problem = _images(image_texts, base)
        if problem:
            row.problems.append(problem)
    row.height, problem = _height(height)
    if problem:
        row.problems.append(problem)
    row.faces, problem = _faces(faces)
    if problem:
        row.problems.append(problem)
    row.preset, problem = _preset(preset)
    if problem:
        row.problems.append(problem)


def _finish(rows: list[_Row], path: Path) -> list[BatchItem]:
    """Rows as items, in order, with unique ids.

    Explicit ids are claimed first (first row wins), so a row without a usable id can
    be named ``line-<N>`` without taking an id a later row gives.
    """
    if not rows:
        raise InputError(f"source: {path} has no rows")
    first: dict[str, int] = {}
    wanted: list[str | None] = []
    for row in rows:
        want = None
        if row.id_text:
            want = safe_id(row.id_text)
            if not want:
                row.problems.insert(0, f"id {row.id_text!r} has no letters or digits "
                                       "usable in a folder name")
            elif want.casefold() in first:
                row.problems.insert(
                    0, f"duplicate id {want!r} (first on line {first[want.casefold()]})")
                want = None
            else:
                first[want.casefold()] = row.line
        wanted.append(want)
    claimed = set(first)
    items = []
    for row, want in zip(rows, wanted, strict=True):
        new = want
        if not new:
            new, n = f"line-{row.line}", 1
            while new.casefold() in claimed:
                n += 1
                new = f"line-{row.line}-{n}"
            claimed.add(new.casefold())
        items.append(BatchItem(
            id=new, images=row.images, height=row.height, faces=row.faces,
            preset=row.preset, fields=tuple(row.fields), source=row.source,
            problem=row.problems[0] if row.problems else None))
    return items


def _open_text(path: Path, newline: str | None = None):
    try:
        # utf-8-sig: spreadsheet programs like to start a UTF-8 CSV with a BOM.
        return open(path, encoding="utf-8-sig", newline=newline)
    except OSError as exc:
        raise InputError(f"source: cannot read {path}: {_reason(exc)}") from exc


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """``(line, cells)`` of the non-blank rows; ``line`` is where the row starts (a
    quoted value may span lines)."""
    with _open_text(path, newline="") as f:
        reader = csv.reader(f)
        end = 0
        try:
            for cells in reader:
                start, end = end + 1, reader.line_num
                if any(c.strip() for c in cells):
                    yield start, cells
        except UnicodeDecodeError as exc:
            raise InputError(f"source: {path} is not UTF-8 text ({exc.reason})") from exc
        except csv.Error as exc:
            raise InputError(f"source: cannot read {path}: line {reader.line_num}: {exc}"
                             ) from exc
        except OSError as exc:
            raise InputError(f"source: cannot read {path}: {_reason(exc)}") from exc


def _read_csv(path: Path) -> list[BatchItem]:
    rows_in = _csv_rows(path)
    _, header = next(rows_in, (0, []))
    if not header:
        raise InputError(f"source: {path} is empty; a CSV manifest needs a header row "
                         "such as 'id,image'")
    names = [c.strip() for c in header]
    keys = [n.lower() for n in names]
    for key in _SINGLE_KEYS:
        if keys.count(key) > 1:
            raise InputError(f"source: column {key!r} appears twice in {path}")
    hint = f"; the first row must be a header such as 'id,image' (got {','.join(names)!r})"
    if "id" not in keys:
        raise InputError(f"source: {path} has no 'id' column{hint}")
    image_cols = [i for i, k in enumerate(keys) if k in _IMAGE_KEYS]
    if not image_cols:
        raise InputError(f"source: {path} has no 'image' or 'images' column{hint}")
    col = {k: keys.index(k) for k in _SINGLE_KEYS if k in keys}
    # Unnamed columns (a trailing comma) still get a name in the report.
    extra = [(i, names[i] or f"column{i + 1}") for i, k in enumerate(keys)
             if k not in _SINGLE_KEYS and k not in _IMAGE_KEYS]
    base = path.absolute().parent
    rows = []
    for line, cells in rows_in:
        def cell(i: int, cells: list[str] = cells) -> str:
            return cells[i] if i < len(cells) else ""

        row = _Row(line, f"{path.name}:{line}")
        if any(c.strip() for c in cells[len(header):]):
            row.problems.append(f"line {line} has {len(cells)} values but the header has "
                                f"{len(header)} columns")
        texts = [t for i in image_cols for t in (_split_paths(cell(i)) or [])]
        _fill(row, id_value=cell(col["id"]), image_texts=texts,
              height=cell(col["height"]) if "height" in col else None,
              faces=cell(col["faces"]) if "faces" in col else None,
              preset=cell(col["preset"]) if "preset" in col else None, base=base)
        # The id's problems go first: they decide the item's name.
        row.problems.sort(key=lambda p: not (p == "no id" or p.startswith("id:")))
        row.fields = [(name, cell(i)) for i, name in extra]
        rows.append(row)
    if not rows:
        raise InputError(f"source: {path} has a header but no rows")
    return _finish(rows, path)


def _jsonl_lines(path: Path) -> Iterable[tuple[int, str]]:
    # Iterating a text file splits on "\n" only (unlike str.splitlines, which would
    # also split on U+2028, legal unescaped inside a JSON string).
    with _open_text(path) as f:
        try:
            yield from enumerate(f, start=1)
        except UnicodeDecodeError as exc:
            raise InputError(f"source: {path} is not UTF-8 text ({exc.reason})") from exc
        except OSError as exc:
            raise InputError(f"source: cannot read {path}: {_reason(exc)}") from exc


def _read_jsonl(path: Path) -> list[BatchItem]:
    base = path.absolute().parent
    rows = []
    for line, text in _jsonl_lines(path):
        if not text.strip():
            continue
        row = _Row(line, f"{path.name}:{line}")
        rows.append(row)
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            row.problems.append(f"line {line} is not valid JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            row.problems.append(f"line {line} is not a JSON object")
            continue
        known: dict[str, object] = {}
        texts: list[str] | None = []
        for key, value in obj.items():
            name = key.strip().lower()
            if name in _IMAGE_KEYS:
                paths = _split_paths(value)
                texts = None if paths is None or texts is None else texts + paths
            elif name in _SINGLE_KEYS:
                if name in known:
                    row.problems.append(f"{name!r} is given twice")
                known.setdefault(name, value)
            else:
                row.fields.append((key, value if isinstance(value, str)
                                   else json.dumps(value, ensure_ascii=False)))
        _fill(row, id_value=known.get("id"), image_texts=texts, height=known.get("height"),
              faces=known.get("faces"), preset=known.get("preset"), base=base)
        row.problems.sort(key=lambda p: not (p == "no id" or p.startswith("id:")))
    return _finish(rows, path)
