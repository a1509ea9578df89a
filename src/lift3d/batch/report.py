"""The summary of a ``lift3d batch`` run: ``OUT/report.json`` and ``OUT/report.html``.

:func:`write_report` writes both files atomically (temporary name, then rename), so a
reader polling the output folder never sees half a report.

``report.json`` (plain JSON; numbers that are not finite are written as ``null``)::

    {"lift3d": "0.1.0",            # lift3d.__version__
     "backend": "local",           # or "ray"
     "workers": 2,
     "wall_s": 12.3,               # wall-clock time of this run
     "totals": {"items": 30, "done": 27, "failed": 3, "reused": 0, "pending": 0,
                "items_per_minute": 55.1},   # made (not reused) per minute of wall time
     "options": {...},             # BatchOptions as a dict (tuples as lists)
     "items": [                    # manifest order
       {"id": "mug", "status": "done",       # done | failed | pending
        "reused": false,           # done in an earlier run with the same inputs
        "reason": null, "code": null,        # why it failed (one sentence), error code
        "attempts": 1, "seconds": 2.1, "key": "...",
        "source": "items.csv:3", "images": ["/abs/mug.jpg"],
        "height": 0.12, "faces": null, "preset": "web",   # as the manifest set them
        "fields": {"sku": "A-1", "title": "Mug"},          # other columns, manifest order
        "files": [{"name": "model.glb", "size": 123, "media_type": "model/gltf-binary",
                   "path": "mug/model.glb"}],              # path: relative to OUT, "/"
        "stats": {"faces": 5000, "vertices": 2502, "watertight": true,
                  "size_m": [0.08, 0.12, 0.08], "scale_known": true,
                  "texture_size": 1024} | null,
        "timings": {"load": 0.01, "segment": 0.5, ...},    # seconds per stage, in order
        "preset_check": {"preset": "web", "passed": true, "failures": []} | null}]}

``report.html`` is one self-contained page (inline CSS, no script, no external URL):
the totals and the failures first, then a contact sheet of preview thumbnails (one card
per item) and a table of every item. Images and downloads are relative links into the
item folders, so the page works when ``OUT`` is opened from disk, copied or served.
"""

from __future__ import annotations

import dataclasses
import html
import json
import logging
import math
from pathlib import Path
from urllib.parse import quote

from .. import __version__
from ..errors import OutputError
from ..io.atomic import atomic_write_bytes
from .types import DONE, FAILED, BatchReport, ItemOutcome

__all__ = ["render_html", "report_dict", "write_report"]

log = logging.getLogger(__name__)

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
PREVIEW = "preview.png"


# --------------------------------------------------------------------------- JSON


def _num(x: float | None, digits: int = 3) -> float | None:
    """A float fit for strict JSON: rounded, and None when it is not finite."""
    if x is None:
        return None
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def _plain(value: object) -> object:
    """Options values as JSON types (tuples become lists, paths strings)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float):
        return _num(value, 6)
    return value


def _timings(o: ItemOutcome) -> dict[str, float | None]:
    out: dict[str, float] = {}
    for t in o.timings:
        # A stage that ran twice (a retry inside the pipeline) counts once, with its total.
        out[t.name] = out.get(t.name, 0.0) + float(t.seconds)
    return {k: _num(v, 4) for k, v in out.items()}


def _item_dict(o: ItemOutcome) -> dict:
    it = o.item
    s = o.stats
    p = o.preset
    return {
        "id": it.id,
        "status": o.status,
        "reused": bool(o.reused),
        "reason": o.reason,
        "code": o.code,
        "attempts": int(o.attempts),
        "seconds": _num(o.seconds),
        "key": o.key,
        "source": it.source,
        "images": [str(path) for path in it.images],
        "height": _num(it.height, 6),
        "faces": it.faces,
        "preset": it.preset,
        "fields": {name: value for name, value in it.fields},
        "files": [
            {"name": f.name, "size": int(f.size), "media_type": f.media_type,
             "path": f"{it.id}/{f.name}"}
            for f in o.files
        ],
        "stats": None if s is None else {
            "faces": int(s.faces),
            "vertices": int(s.vertices),
            "watertight": bool(s.watertight),
            "size_m": [_num(v, 6) for v in s.size_m],
            "scale_known": bool(s.scale_known),
            "texture_size": int(s.texture_size),
        },
        "timings": _timings(o),
        "preset_check": None if p is None else {
            "preset": p.preset, "passed": bool(p.passed), "failures": list(p.failures),
        },
    }


def _pending(report: BatchReport) -> int:
    # Anything neither done nor failed (pending, or "running" when a run was cut off).
    return sum(1 for o in report.outcomes if o.status not in (DONE, FAILED))


def report_dict(report: BatchReport) -> dict:
    """The ``report.json`` document (plain JSON types only; layout in the module doc)."""
    options = {f.name: _plain(getattr(report.options, f.name))
               for f in dataclasses.fields(report.options)}
    return {
        "lift3d": __version__,
        "backend": report.backend,
        "workers": int(report.workers),
        "wall_s": _num(report.wall_s),
        "totals": {
            "items": len(report.outcomes),
            "done": report.done,
            "failed": report.failed,
            "reused": report.reused,
            "pending": _pending(report),
            "items_per_minute": _num(report.items_per_minute, 2),
        },
        "options": options,
        "items": [_item_dict(o) for o in report.outcomes],
    }


# --------------------------------------------------------------------------- HTML


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _href(*segments: str) -> str:
    """A relative URL from path segments, each percent-encoded, escaped for an attribute."""
    return _e("/".join(quote(s, safe="") for s in segments))


def _anchor(item_id: str) -> str:
    return "item-" + quote(item_id, safe="")


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        m, s = divmod(int(round(seconds)), 60)
        return f"{m} min {s:02d} s"
    h, rest = divmod(int(round(seconds)), 3600)
    return f"{h} h {rest // 60:02d} min"


def _size_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _status(o: ItemOutcome) -> str:
    return "reused" if o.status == DONE and o.reused else o.status


def _badge(o: ItemOutcome) -> str:
    st = _status(o)
    cls = st if st in ("done", "failed", "reused") else "pending"
    return f'<span class="badge {cls}">{_e(st)}</span>'


def _size_text(o: ItemOutcome) -> str:
    s = o.stats
    if s is None:
        return "–"
    dims = " × ".join(f"{v:.3f}" for v in s.size_m)
    return f"{dims} {'m' if s.scale_known else 'arbitrary units'}"


def _watertight(o: ItemOutcome) -> str:
    if o.stats is None:
        return "–"
    return "yes" if o.stats.watertight else "no"


def _faces(o: ItemOutcome) -> str:
    return "–" if o.stats is None else f"{o.stats.faces:,}"


def _preset_html(o: ItemOutcome) -> str:
    p = o.preset
    if p is None:
        return "–"
    verdict = '<span class="ok">pass</span>' if p.passed else '<span class="bad">fail</span>'
    text = f"{_e(p.preset)}: {verdict}"
    if p.failures:
        text += "<ul>" + "".join(f"<li>{_e(f)}</li>" for f in p.failures) + "</ul>"
    return text


def _timings_text(o: ItemOutcome) -> str:
    return " · ".join(f"{name} {sec:.2f}" for name, sec in _timings(o).items()
                      if sec is not None)


def _has_preview(report: BatchReport, o: ItemOutcome) -> bool:
    """A thumbnail is shown for done items whose preview was delivered or is on disk."""
    if o.status != DONE:
        return False
    if any(f.name == PREVIEW for f in o.files):
        return True
    return (Path(report.out_dir) / o.item.id / PREVIEW).is_file()


_CSS = """
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;
 padding:1rem 1.5rem;color:#1d2330;background:#f6f7f9}
h1{font-size:1.4rem;margin:.2rem 0 .6rem}h2{font-size:1.1rem;margin:1.6rem 0 .6rem}
.totals{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;margin:.4rem 0}
.totals div{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.4rem .8rem}
.totals b{font-size:1.2rem;display:block}
.failures{background:#fff4f4;border:1px solid #f0c4c4;border-radius:6px;padding:.5rem 1rem}
.failures li{margin:.2rem 0}
code{background:#eef0f3;border-radius:3px;padding:0 .25rem}
.sheet{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:.8rem}
.card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.5rem;
 font-size:12px;overflow-wrap:anywhere}
.card.failed{border-color:#e2a0a0}
.thumb{display:block;width:100%;height:auto;aspect-ratio:1;background:#eef0f3;border-radius:4px;
 object-fit:contain}
.noimg{display:flex;align-items:center;justify-content:center;color:#8a93a3}
.card h3{font-size:13px;margin:.4rem 0 .2rem}
.card dl{display:grid;grid-template-columns:auto 1fr;gap:0 .5rem;margin:.2rem 0}
.card dt{color:#6b7485}.card dd{margin:0}
.card ul,td ul{margin:.1rem 0;padding-left:1.1rem}
.badge{display:inline-block;border-radius:3px;padding:0 .4rem;font-size:11px;
 font-weight:600;text-transform:uppercase;color:#fff;background:#8a93a3}
.badge.done{background:#2e7d32}.badge.failed{background:#c62828}
.badge.reused{background:#1565c0}
.ok{color:#2e7d32;font-weight:600}.bad{color:#c62828;font-weight:600}
.files a{margin-right:.5rem}
table{border-collapse:collapse;background:#fff;font-size:12px;width:100%}
th,td{border:1px solid #dde1e7;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#eef0f3;position:sticky;top:0}
td.num{text-align:right;white-space:nowrap}
.tablewrap{overflow-x:auto}
""".strip()


def _header(report: BatchReport) -> list[str]:
    ipm = report.items_per_minute
    boxes = [
        ("items", str(len(report.outcomes))),
        ("done", str(report.done)),
        ("failed", str(report.failed)),
        ("reused", str(report.reused)),
        ("pending", str(_pending(report))),
        ("items / minute", f"{ipm:.1f}" if math.isfinite(ipm) else "?"),
        ("wall time", _duration(float(report.wall_s))),
        ("backend", f"{report.backend} × {report.workers} workers"),
    ]
    out = [f"<h1>lift3d batch report</h1><p>lift3d {_e(__version__)} · "
           f"output folder <code>{_e(report.out_dir)}</code></p>",
           '<div class="totals">']
    out += [f"<div><b>{_e(v)}</b>{_e(k)}</div>" for k, v in boxes]
    out.append("</div>")
    return out


def _failures(report: BatchReport) -> list[str]:
    failed = [o for o in report.outcomes if o.status == FAILED]
    if not failed:
        return ['<h2>Failures</h2><p class="ok">No item failed.</p>']
    out = [f"<h2>Failures ({len(failed)})</h2>", '<ul class="failures">']
    for o in failed:
        code = f" <code>{_e(o.code)}</code>" if o.code else ""
        out.append(f'<li><a href="#{_e(_anchor(o.item.id))}">{_e(o.item.id)}</a>{code}: '
                   f"{_e(o.reason or 'no reason given')}</li>")
    out.append("</ul>")
    return out


def _card(report: BatchReport, o: ItemOutcome) -> str:
    iid = o.item.id
    if _has_preview(report, o):
        img = (f'<img class="thumb" src="{_href(iid, PREVIEW)}" loading="lazy" '
               f'width="220" height="220" alt="preview of {_e(iid)}">')
    else:
        img = '<div class="thumb noimg">no preview</div>'
    rows = [
        ("faces", _e(_faces(o))),
        ("watertight", _e(_watertight(o))),
        ("size", _e(_size_text(o))),
        ("seconds", f"{o.seconds:.2f}"),
        ("preset", _preset_html(o)),
    ]
    if o.status == FAILED:
        reason = _e(o.reason or "no reason given")
        rows.append(("reason", f"<code>{_e(o.code)}</code> {reason}" if o.code else reason))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    files = "".join(
        f'<a href="{_href(iid, f.name)}">{_e(f.name)}</a>'
        f"<small>({_e(_size_bytes(f.size))})</small> "
        for f in o.files
    )
    files_html = f'<div class="files">{files}</div>' if files else ""
    return (f'<div class="card {_e(_status(o))}" id="{_e(_anchor(iid))}">{img}'
            f"<h3>{_e(iid)} {_badge(o)}</h3><dl>{dl}</dl>{files_html}</div>")


def _table(report: BatchReport) -> list[str]:
    names: dict[str, None] = {}
    for o in report.outcomes:
        for name, _ in o.item.fields:
            names.setdefault(name, None)
    heads = ["id", "status", "attempts", "seconds", "timings", "faces", "watertight",
             "preset check", "reason", *names]
    out = ['<div class="tablewrap"><table><thead><tr>']
    out += [f"<th>{_e(h)}</th>" for h in heads]
    out.append("</tr></thead><tbody>")
    for o in report.outcomes:
        fields = dict(o.item.fields)
        reason = ""
        if o.status == FAILED:
            reason = (f"<code>{_e(o.code)}</code> " if o.code else "") + _e(o.reason or "")
        cells = [
            f'<td><a href="#{_e(_anchor(o.item.id))}">{_e(o.item.id)}</a></td>',
            f"<td>{_badge(o)}</td>",
            f'<td class="num">{int(o.attempts)}</td>',
            f'<td class="num">{o.seconds:.2f}</td>',
            f"<td>{_e(_timings_text(o))}</td>",
            f'<td class="num">{_e(_faces(o))}</td>',
            f"<td>{_e(_watertight(o))}</td>",
            f"<td>{_preset_html(o)}</td>",
            f"<td>{reason}</td>",
        ]
        cells += [f"<td>{_e(fields.get(n, ''))}</td>" for n in names]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return out


def render_html(report: BatchReport) -> str:
    """``report.html``: totals, failures, a thumbnail contact sheet, and a table."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>lift3d batch report: {report.done}/{len(report.outcomes)} done</title>",
        f"<style>{_CSS}</style></head><body>",
        *_header(report),
        *_failures(report),
        f"<h2>Contact sheet ({len(report.outcomes)} items)</h2>",
        '<div class="sheet">',
        *(_card(report, o) for o in report.outcomes),
        "</div>",
        "<h2>All items</h2>",
        *_table(report),
        "</body></html>",
        "",
    ]
    return "\n".join(parts)


def write_report(report: BatchReport) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``report.out_dir``, each atomically.

    Returns:
        ``(json_path, html_path)``.

    Raises:
        OutputError: a file cannot be written.
    """
    out = Path(report.out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output directory {out}: {exc.strerror or exc}") from exc
    doc = json.dumps(report_dict(report), indent=2, ensure_ascii=False, allow_nan=False)
    json_path = atomic_write_bytes(out / REPORT_JSON, (doc + "\n").encode("utf-8"))
    html_path = atomic_write_bytes(out / REPORT_HTML, render_html(report).encode("utf-8"))
    log.info("wrote %s and %s", json_path, html_path)
    return json_path, html_path
