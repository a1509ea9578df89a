"""report.json and report.html of ``lift3d batch``: layout, links, escaping, atomic writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import lift3d
from lift3d.batch.report import render_html, report_dict, write_report
from lift3d.batch.types import BatchItem, BatchOptions, BatchReport, ItemOutcome
from lift3d.deliver import DeliveredFile, MeshStats, PresetCheck
from lift3d.types import StageTiming

HOSTILE_ID = 'x<script>alert(1)</script>"&y'
HOSTILE_FIELD = '<script>bad()</script> "q" & co'


def _files(*names: str) -> tuple[DeliveredFile, ...]:
    media = {"model.glb": "model/gltf-binary", "model.usdz": "model/vnd.usdz+zip",
             "preview.png": "image/png"}
    return tuple(DeliveredFile(n, 100 + i, media[n]) for i, n in enumerate(names))


def _report(out: Path) -> BatchReport:
    mug = ItemOutcome(
        item=BatchItem("mug", (Path("/abs/mug.jpg"),), height=0.12, preset="web",
                       fields=(("sku", "A-1"), ("title", "Mug"), ("colour", "red")),
                       source="items.csv:2"),
        status="done", attempts=1, seconds=2.1, key="k-mug",
        files=_files("model.glb", "model.usdz", "preview.png"),
        stats=MeshStats(faces=5000, vertices=2502, watertight=True,
                        size_m=(0.08, 0.12, 0.081), scale_known=True, texture_size=1024),
        timings=(StageTiming("load", 0.01), StageTiming("segment", 0.5),
                 StageTiming("shape", 1.2)),
        preset=PresetCheck("web", True, ()),
    )
    vase = ItemOutcome(
        item=BatchItem("vase", (Path("/abs/vase1.jpg"), Path("/abs/vase2.jpg")),
                       fields=(("title", "Vase"), ("sku", "B-2")), source="items.csv:3"),
        status="done", reused=True, attempts=1, seconds=3.4, key="k-vase",
        files=_files("model.glb", "preview.png"),
        stats=MeshStats(faces=800, vertices=402, watertight=False, size_m=(1.0, 2.0, 0.5),
                        scale_known=False, texture_size=512),
        timings=(StageTiming("load", 0.02),),
        preset=PresetCheck("ar", False, ("too many faces: 800 > 500",)),
    )
    broken = ItemOutcome(
        item=BatchItem("broken", (Path("/abs/broken.jpg"),), source="items.csv:4"),
        status="failed", reason="no object found in the photo", code="no_object",
        attempts=2, seconds=0.7, key="k-broken",
    )
    later = ItemOutcome(item=BatchItem("later", (Path("/abs/later.jpg"),),
                                       source="items.csv:5"), status="pending")
    hostile = ItemOutcome(
        item=BatchItem(HOSTILE_ID, (Path("/abs/h.jpg"),),
                       fields=((HOSTILE_FIELD, HOSTILE_FIELD),), source="items.csv:6"),
        status="failed", reason="bad <script>evil()</script> & \"quoted\"", code="manifest",
    )
    # Folders with previews as a real run leaves them (the failed item has a stale one).
    for iid in ("mug", "vase", "broken"):
        (out / iid).mkdir(parents=True)
        (out / iid / "preview.png").write_bytes(b"\x89PNG")
    return BatchReport(out_dir=out, outcomes=(mug, vase, broken, later, hostile),
                       backend="local", workers=2, wall_s=12.0,
                       options=BatchOptions(formats=("glb", "usdz"), preset="web", workers=2))


@pytest.fixture
def written(tmp_path: Path) -> tuple[BatchReport, Path, Path]:
    report = _report(tmp_path / "out")
    json_path, html_path = write_report(report)
    return report, json_path, html_path


def test_json_layout(written: tuple[BatchReport, Path, Path]) -> None:
    report, json_path, _ = written
    assert json_path == report.out_dir / "report.json"
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert doc == json.loads(json.dumps(report_dict(report)))
    assert doc["lift3d"] == lift3d.__version__
    assert (doc["backend"], doc["workers"], doc["wall_s"]) == ("local", 2, 12.0)
    assert doc["totals"] == {"items": 5, "done": 2, "failed": 2, "reused": 1, "pending": 1,
                             "items_per_minute": 5.0}
    assert doc["options"]["formats"] == ["glb", "usdz"]
    assert doc["options"]["preset"] == "web" and doc["options"]["ray_address"] is None

    items = {i["id"]: i for i in doc["items"]}
    assert [i["id"] for i in doc["items"]] == ["mug", "vase", "broken", "later", HOSTILE_ID]
    mug = items["mug"]
    assert mug["status"] == "done" and mug["reused"] is False
    assert mug["reason"] is None and mug["code"] is None
    assert (mug["attempts"], mug["seconds"], mug["key"]) == (1, 2.1, "k-mug")
    assert (mug["source"], mug["images"]) == ("items.csv:2", ["/abs/mug.jpg"])
    assert (mug["height"], mug["faces"], mug["preset"]) == (0.12, None, "web")
    assert list(mug["fields"]) == ["sku", "title", "colour"]  # manifest order kept
    assert mug["fields"]["title"] == "Mug"
    assert list(items["vase"]["fields"]) == ["title", "sku"]
    assert mug["files"][0] == {"name": "model.glb", "size": 100,
                               "media_type": "model/gltf-binary", "path": "mug/model.glb"}
    assert [f["path"] for f in mug["files"]] == ["mug/model.glb", "mug/model.usdz",
                                                 "mug/preview.png"]
    assert mug["stats"] == {"faces": 5000, "vertices": 2502, "watertight": True,
                            "size_m": [0.08, 0.12, 0.081], "scale_known": True,
                            "texture_size": 1024}
    assert list(mug["timings"].items()) == [("load", 0.01), ("segment", 0.5), ("shape", 1.2)]
    assert mug["preset_check"] == {"preset": "web", "passed": True, "failures": []}

    assert items["vase"]["reused"] is True
    assert items["vase"]["preset_check"]["failures"] == ["too many faces: 800 > 500"]
    broken = items["broken"]
    assert (broken["status"], broken["code"]) == ("failed", "no_object")
    assert broken["reason"] == "no object found in the photo"
    assert broken["files"] == [] and broken["stats"] is None
    assert broken["timings"] == {} and broken["preset_check"] is None
    assert items["later"]["status"] == "pending"
    assert items[HOSTILE_ID]["fields"] == {HOSTILE_FIELD: HOSTILE_FIELD}


def test_html_content(written: tuple[BatchReport, Path, Path]) -> None:
    report, _, html_path = written
    assert html_path == report.out_dir / "report.html"
    page = html_path.read_text(encoding="utf-8")
    assert page == render_html(report)
    for iid in ("mug", "vase", "broken", "later"):
        assert f">{iid}<" in page
    assert "no object found in the photo" in page and "no_object" in page
    # The failures come before the contact sheet.
    assert page.index("no object found") < page.index('class="sheet"')

    srcs = re.findall(r'<img [^>]*src="([^"]*)"', page)
    assert sorted(srcs) == ["mug/preview.png", "vase/preview.png"]  # not the failed ones
    assert all('loading="lazy"' in tag for tag in re.findall(r"<img [^>]*>", page))
    for href in ("mug/model.glb", "mug/model.usdz", "vase/model.glb"):
        assert f'href="{href}"' in page
    assert "0.080 × 0.120 × 0.081 m" in page
    assert "1.000 × 2.000 × 0.500 arbitrary units" in page
    assert "too many faces: 800 &gt; 500" in page
    assert "load 0.01 · segment 0.50 · shape 1.20" in page
    for badge in ("done", "failed", "reused", "pending"):
        assert f'class="badge {badge}"' in page
    # One table column per distinct field name, first-seen order.
    heads = re.findall(r"<th>(.*?)</th>", page)
    assert heads[-4:] == ["sku", "title", "colour", "&lt;script&gt;bad()&lt;/script&gt; "
                          "&quot;q&quot; &amp; co"]


def test_html_escapes_and_is_self_contained(written: tuple[BatchReport, Path, Path]) -> None:
    _, _, html_path = written
    page = html_path.read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert "http://" not in page and "https://" not in page
    assert "base64" not in page
    assert "x&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;y" in page
    assert "bad &lt;script&gt;evil()&lt;/script&gt; &amp; &quot;quoted&quot;" in page
    # The hostile id as a fragment link is percent-encoded.
    assert 'href="#item-x%3Cscript%3Ealert%281%29%3C%2Fscript%3E%22%26y"' in page


def test_img_src_is_percent_encoded(tmp_path: Path) -> None:
    item = BatchItem("a b#c", (Path("/abs/a.jpg"),))
    out = ItemOutcome(item, "done", files=_files("model.glb", "preview.png"))
    page = render_html(BatchReport(tmp_path, (out,), "local", 1, 1.0))
    assert 'src="a%20b%23c/preview.png"' in page
    assert 'href="a%20b%23c/model.glb"' in page


def test_preview_on_disk_only(tmp_path: Path) -> None:
    # A done item whose files list lacks the preview still gets a thumbnail if it exists.
    item = BatchItem("cup", (Path("/abs/cup.jpg"),))
    out = ItemOutcome(item, "done", files=_files("model.glb"))
    report = BatchReport(tmp_path, (out,), "ray", 8, 0.0)
    assert "<img" not in render_html(report)
    (tmp_path / "cup").mkdir()
    (tmp_path / "cup" / "preview.png").write_bytes(b"\x89PNG")
    assert 'src="cup/preview.png"' in render_html(report)
    assert report_dict(report)["totals"]["items_per_minute"] == 0.0


def test_written_atomically(written: tuple[BatchReport, Path, Path]) -> None:
    report, _, _ = written
    # Nothing but the two reports and the item folders: no temporary files left behind.
    assert sorted(p.name for p in report.out_dir.iterdir()) == [
        "broken", "mug", "report.html", "report.json", "vase"]
    # Writing again replaces both files in place, still leaving no temporaries.
    write_report(report)
    assert sorted(p.name for p in report.out_dir.iterdir()) == [
        "broken", "mug", "report.html", "report.json", "vase"]


def test_empty_batch_into_new_folder(tmp_path: Path) -> None:
    report = BatchReport(tmp_path / "new" / "out", (), "local", 1, 0.5)
    json_path, html_path = write_report(report)
    assert json.loads(json_path.read_text())["totals"]["items"] == 0
    assert "No item failed" in html_path.read_text()
