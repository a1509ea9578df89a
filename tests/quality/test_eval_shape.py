"""bench/eval_shape.py: the object plan, the tables, and a two-object smoke run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ev(bench_module):
    return bench_module("eval_shape")


def test_plan_is_round_robin_and_balanced(ev):
    fams = ("box", "cylinder", "blob")
    plan = ev.eval_plan(11, fams, ("spot", "teapot"))
    assert [s for s, _ in plan] == ["box", "cylinder", "blob", "shared"] * 2 + [
        "box", "cylinder", "blob"]
    # The shared slot cycles through the held-out meshes.
    assert [w for s, w in plan if s == "shared"] == ["spot", "teapot"]
    counts = {s: sum(1 for p, _ in plan if p == s) for s in (*fams, "shared")}
    assert max(counts.values()) - min(counts.values()) <= 1
    assert [s for s, _ in ev.eval_plan(4, fams, ())] == ["box", "cylinder", "blob", "box"]
    with pytest.raises(ValueError, match="count"):
        ev.eval_plan(0, fams, ())


def _record(index, slot, ok_prior=True, ok_learned=True):
    def entry(ok, f):
        if not ok:
            return {"ok": False, "error": "NoObjectError: nothing"}
        return {"ok": True, "error": None, "chamfer": 0.1 - f / 10, "f_01": f + 0.1,
                "f_005": f, "iou": f / 2, "seconds": 1.5}

    return {"index": index, "slot": slot, "family": slot,
            "backends": {"prior": entry(ok_prior, 0.4), "learned": entry(ok_learned, 0.6)}}


def test_summary_and_tables(ev):
    records = [_record(0, "box"), _record(1, "blob", ok_learned=False), _record(2, "box")]
    s = ev.summarise(records, ["prior", "learned"])
    assert s["backends"]["prior"]["ok"] == 3 and s["backends"]["prior"]["failures"] == 0
    assert s["backends"]["learned"]["ok"] == 2 and s["backends"]["learned"]["failures"] == 1
    assert s["backends"]["learned"]["f_005"]["mean"] == pytest.approx(0.6)
    assert s["backends"]["prior"]["iou"]["median"] == pytest.approx(0.2)
    assert s["families"]["box"]["n"] == 2
    assert s["families"]["blob"]["learned"]["failures"] == 1
    assert s["families"]["blob"]["learned"]["iou"] is None
    text = ev.format_report(s, ["prior", "learned"])
    lines = text.splitlines()
    overall = [ln for ln in lines if ln.startswith("| prior") or ln.startswith("| learned")]
    assert len(overall) == 2 and "0.400" in overall[0] and "0.600" in overall[1]
    assert any(ln.startswith("| blob") and "(1 failed)" in ln for ln in lines)
    # Each table's rows have as many cells as its header.
    for block in text.split("\n\n"):
        rows = [ln for ln in block.splitlines() if ln.startswith("|")]
        assert len({ln.count("|") for ln in rows}) <= 1


def test_training_seeds_are_refused(ev):
    with pytest.raises(SystemExit):
        ev.parse_args(["--seed", "7"])
    with pytest.raises(ValueError, match="seed"):
        ev.eval_objects(1, seed=42)


def test_smoke_two_objects_with_the_prior(ev, tmp_path, capsys):
    pytest.importorskip("torch")
    if not (REPO / "src" / "lift3d" / "synth" / "render.py").is_file():
        pytest.skip("lift3d.synth.render is not there yet")
    out = tmp_path / "eval"
    rc = ev.main(["--backends", "prior", "--count", "2", "--size", "64", "--ssaa", "1",
                  "--device", "cpu", "--out", str(out), "--no-assets", "--segment", "gt",
                  "--points", "1000", "--faces", "1500", "--texture-size", "128"])
    assert rc == 0
    printed = capsys.readouterr().out
    first = printed.splitlines()[0]
    assert "python" in first and "eval_shape.py --backends prior --count 2" in first
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["segment"] == "gt"
    assert "--count 2" in results["command"]
    objs = results["objects"]
    assert [o["slot"] for o in objs] == ["box", "cylinder"]
    for o in objs:
        assert (out / o["photo"]).is_file()
        e = o["backends"]["prior"]
        # With the exact mask the prior always finds the object.
        assert e["ok"], e["error"]
        assert 0.0 <= e["f_005"] <= e["f_01"] <= 1.0
        assert 0.0 <= e["iou"] <= 1.0 and e["chamfer"] > 0.0
        assert e["watertight"] and e["faces"] > 0
    summary = results["summary"]["backends"]["prior"]
    assert summary["ok"] == 2 and summary["failures"] == 0
    md = (out / "results.md").read_text()
    assert "| prior" in md and "| box" in md and "gt" in md
    assert sorted(p.name for p in (out / "masks").iterdir()) == [
        "000_box.png", "001_cylinder.png"]

    # A second run reuses the photos and masks and scores the same.
    rc = ev.main(["--backends", "prior", "--count", "2", "--size", "64", "--ssaa", "1",
                  "--device", "cpu", "--out", str(out), "--no-assets", "--segment", "gt",
                  "--points", "1000", "--faces", "1500", "--texture-size", "128",
                  "--reuse-photos"])
    assert rc == 0
    again = json.loads((out / "results.json").read_text())["objects"]
    assert all(o.get("reused_photo") for o in again)
    for a, b in zip(objs, again, strict=True):
        assert a["backends"]["prior"]["f_005"] == pytest.approx(b["backends"]["prior"]["f_005"])


def test_backends_run_side_by_side_on_the_same_photo(ev, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    if not (REPO / "src" / "lift3d" / "shape" / "learned.py").is_file():
        pytest.skip("the learned shape backend is not there yet")
    pytest.importorskip("onnx")
    from lift3d.shape import netio

    # A 1x1-convolution stand-in for the network: dark pixels are object, a constant slab.
    net = Path(netio.write_stub_model(tmp_path / "slab.onnx"))
    out = tmp_path / "eval"
    rc = ev.main(["--backends", "prior,learned", "--count", "1", "--size", "64", "--ssaa",
                  "1", "--device", "cpu", "--out", str(out), "--no-assets", "--segment", "gt",
                  "--model", str(net), "--points", "1000", "--faces", "1500",
                  "--texture-size", "128"])
    assert rc == 0
    results = json.loads((out / "results.json").read_text())
    (obj,) = results["objects"]
    prior, learned = obj["backends"]["prior"], obj["backends"]["learned"]
    assert prior["ok"] and learned["ok"], (prior["error"], learned["error"])
    # Different shapes from one photo: the slab is not the inflated silhouette.
    assert prior["chamfer"] != learned["chamfer"]
    assert results["settings"]["model"] == str(net)
    assert len(list((out / "photos").iterdir())) == 1
