"""``lift3d batch`` end to end: a 30-item catalog, per-item isolation, resuming after a
kill, retries, and the Ray path giving the same outputs as the local one."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from batchkit import crashing_item, write_csv
from PIL import Image

from lift3d.batch import BatchItem, BatchOptions, read_items, run_batch

FAST = {"faces": 3000, "texture_size": 256}


@pytest.fixture(scope="module")
def photos(shared_photos) -> list[Path]:
    picked = [p for p in shared_photos if p.suffix.lower() in (".jpg", ".png")]
    if len(picked) < 12:
        pytest.skip("fewer than 12 shared photos")
    return picked[:12]


def _bad_files(folder: Path, photo: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cut = folder / "cut.jpg"
    cut.write_bytes(photo.read_bytes()[:2000] if photo.suffix == ".jpg" else b"\xff\xd8\xff")
    blank = folder / "blank.png"
    Image.fromarray(np.full((200, 200, 3), 240, np.uint8)).save(blank)
    return {"truncated": cut, "blank": blank, "missing": folder / "not-here.jpg"}


def test_thirty_items_with_duplicates_and_three_bad(photos, tmp_path):
    bad = _bad_files(tmp_path / "bad", next(p for p in photos if p.suffix == ".jpg"))
    rows = []
    for n in range(27):  # 12 photos, most of them twice or three times
        rows.append({"id": f"sku-{n:02d}", "images": str(photos[n % len(photos)]),
                     "title": f"Product {n}", "price": f"{10 + n}.99"})
    rows.insert(5, {"id": "bad-missing", "images": str(bad["missing"]), "title": "x"})
    rows.insert(12, {"id": "bad-truncated", "images": str(bad["truncated"]), "title": "y"})
    rows.insert(20, {"id": "bad-blank", "images": str(bad["blank"]), "title": "z"})
    manifest = write_csv(tmp_path / "items.csv", rows)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "lift3d", "batch", str(manifest), "-o", str(out),
                        "--workers", "2", "--faces", "3000", "--texture-size", "256",
                        "--formats", "glb,usdz", "--json"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 6, r.stderr  # some items failed; the batch finished
    totals = json.loads(r.stdout)
    assert (totals["items"], totals["done"], totals["failed"]) == (30, 27, 3)
    report = json.loads((out / "report.json").read_text())
    by_id = {i["id"]: i for i in report["items"]}
    assert [i["id"] for i in report["items"]] == [row["id"] for row in rows]  # manifest order
    assert by_id["bad-missing"]["code"] == "manifest"
    assert "not found" in by_id["bad-missing"]["reason"]
    assert by_id["bad-truncated"]["code"] == "invalid_input"
    assert "truncated" in by_id["bad-truncated"]["reason"]
    assert by_id["bad-blank"]["code"] == "no_object"
    for row in rows:
        item = by_id[row["id"]]
        if row["id"].startswith("bad-"):
            assert item["status"] == "failed" and not (out / row["id"]).exists()
            continue
        assert item["status"] == "done", item
        assert item["fields"] == {"title": row["title"], "price": row["price"]}
        names = sorted(p.name for p in (out / row["id"]).iterdir())
        assert names == ["model.glb", "model.usdz", "preview.png"]
        assert item["stats"]["watertight"] and item["stats"]["faces"] <= 3100
    html = (out / "report.html").read_text()
    assert "sku-00/preview.png" in html and "bad-blank" in html
    # Nothing half-made is left beside the items.
    assert not list((out / ".lift3d" / "partial").glob("*")) if (
        out / ".lift3d" / "partial").exists() else True


def _ledger_done(out: Path) -> int:
    path = out / ".lift3d" / "ledger.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM items WHERE status='done'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_killed_halfway_then_resumed(photos, tmp_path):
    rows = [{"id": f"p{n:02d}", "images": str(photos[n % len(photos)])} for n in range(12)]
    manifest = write_csv(tmp_path / "items.csv", rows)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lift3d", "batch", str(manifest), "-o", str(out),
           "--workers", "2", "--faces", "3000", "--texture-size", "256", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 300
    while _ledger_done(out) < 4 and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    assert proc.poll() is None, "the batch ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)  # no clean-up code runs in the main process
    proc.wait(30)
    time.sleep(1.0)  # the workers die with it (parent-death signal)
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/model.glb")}
    assert 4 <= len(finished) < 12, finished
    r = subprocess.run(cmd[:-1] + ["--json"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    totals = json.loads(r.stdout)
    assert totals["done"] == 12 and totals["reused"] >= len(finished)
    for name, mtime in finished.items():
        assert (out / name / "model.glb").stat().st_mtime_ns == mtime, f"{name} was redone"
    assert len(list(out.glob("*/model.glb"))) == 12


def test_isolation_retries_and_changed_options(photos, tmp_path):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((120, 120, 3), 250, np.uint8)).save(blank)
    items = [BatchItem("ok", (photos[0],)), BatchItem("blank", (blank,)),
             BatchItem("crash-1", (photos[1],)), BatchItem("ok2", (photos[2],))]
    out = tmp_path / "out"
    opts = BatchOptions(workers=2, retries=1, **FAST)
    rep = run_batch(items, out, opts, item_fn=crashing_item)
    got = {o.item.id: o for o in rep.outcomes}
    assert got["ok"].status == got["ok2"].status == "done"
    assert got["blank"].code == "no_object" and got["blank"].attempts == 1
    # A crash is retried at once (it may be the machine's fault), then reported.
    assert got["crash-1"].code == "crashed" and got["crash-1"].attempts == 2
    assert "exit code" in got["crash-1"].reason

    # Second run: done items are reused; the failed ones get their last try.
    rep2 = run_batch(items, out, opts, item_fn=crashing_item)
    got2 = {o.item.id: o for o in rep2.outcomes}
    assert got2["ok"].reused and got2["ok2"].reused
    assert got2["blank"].attempts == 2 and not got2["blank"].reused
    assert got2["crash-1"].reused and got2["crash-1"].attempts == 2  # out of tries

    # Changed options change the key: everything runs again.
    rep3 = run_batch(items[:1], out, BatchOptions(workers=1, retries=1, faces=2000,
                                                  texture_size=256))
    assert not rep3.outcomes[0].reused and rep3.outcomes[0].stats.faces <= 2100


def test_item_timeout(photos, tmp_path):
    rep = run_batch([BatchItem("slow", (photos[0],))], tmp_path / "out",
                    BatchOptions(workers=1, retries=0, item_timeout_s=0.5))
    (o,) = rep.outcomes
    assert o.status == "failed" and o.code == "timeout" and "0.5 s" in o.reason
    assert not (tmp_path / "out" / "slow").exists()


def test_bad_options_and_duplicates(tmp_path, photos):
    from lift3d.errors import InputError

    with pytest.raises(InputError, match="formats"):
        run_batch([BatchItem("a", (photos[0],))], tmp_path, BatchOptions(formats=("fbx",)))
    with pytest.raises(InputError, match="duplicate"):
        run_batch([BatchItem("a", (photos[0],)), BatchItem("a", (photos[1],))], tmp_path)


def test_cli_bad_source_exits_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "lift3d", "batch", str(tmp_path / "nope.csv"),
                        "-o", str(tmp_path / "out")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.strip()


def test_ray_gives_the_same_outputs_as_local(photos, tmp_path):
    ray = pytest.importorskip("ray", reason="the [cluster] extra (ray) is not installed")
    items = read_items(write_csv(tmp_path / "items.csv", [
        {"id": f"r{n}", "images": str(photos[n]), "sku": f"S{n}"} for n in range(3)]))
    opts = BatchOptions(workers=2, **FAST)
    local = run_batch(items, tmp_path / "local", opts)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = run_batch(items, tmp_path / "ray", BatchOptions(ray_address="auto", **FAST))
    finally:
        ray.shutdown()
    assert remote.backend == "ray" and local.backend == "local"
    import trimesh

    for a, b in zip(local.outcomes, remote.outcomes, strict=True):
        assert a.status == b.status == "done"
        assert [f.name for f in a.files] == [f.name for f in b.files]
        assert a.stats == b.stats
        ma = trimesh.load(tmp_path / "local" / a.item.id / "model.glb", force="mesh")
        mb = trimesh.load(tmp_path / "ray" / b.item.id / "model.glb", force="mesh")
        np.testing.assert_allclose(ma.vertices, mb.vertices, atol=1e-5)
        np.testing.assert_array_equal(ma.faces, mb.faces)
    rep = json.loads((tmp_path / "ray" / "report.json").read_text())
    assert rep["backend"] == "ray" and rep["items"][0]["fields"] == {"sku": "S0"}


def test_cli_shows_progress_and_failures_live(photos, tmp_path):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((120, 120, 3), 250, np.uint8)).save(blank)
    manifest = write_csv(tmp_path / "items.csv", [{"id": "a", "images": str(photos[0])},
                                                  {"id": "b", "images": str(blank)}])
    r = subprocess.run([sys.executable, "-m", "lift3d", "batch", str(manifest), "-o",
                        str(tmp_path / "out"), "--workers", "1", "--faces", "3000",
                        "--texture-size", "256"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 6
    lines = r.stderr.splitlines()
    # Not a terminal (a log): one line per finished item, with throughput and ETA.
    assert any(line.startswith("lift3d: [1/2] a: done") and "items/min" in line
               and "ETA" in line for line in lines), r.stderr
    assert any(line.startswith("lift3d: [2/2] b: failed") for line in lines), r.stderr
    assert "lift3d:   failed b:" in r.stderr
    assert "report.html" in r.stderr
