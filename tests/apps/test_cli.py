"""The `lift3d` command line: end-to-end runs, formats, --json, and every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from lift3d.apps.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "mug.jpg"


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_example_to_glb_is_watertight_textured_and_scaled(tmp_path, capsys):
    out = tmp_path / "mug.glb"
    code, stdout, _ = run_cli(["image", EXAMPLE, "-o", out, "--json", "--faces", "8000"], capsys)
    assert code == 0
    summary = json.loads(stdout)
    assert summary["watertight"] is True
    assert summary["faces"] <= 8000 * 1.3
    assert [s["name"] for s in summary["stages"]][:3] == ["load", "segment", "shape"]
    assert summary["size_m"]["y"] == pytest.approx(0.3, abs=1e-4)
    m = trimesh.load(out, force="mesh")
    assert m.is_watertight
    assert m.visual.material.baseColorTexture is not None
    assert m.bounds[0][1] == pytest.approx(0.0, abs=1e-5)  # base on y = 0
    assert m.bounds[1][1] == pytest.approx(0.3, abs=1e-4)
    # Centred on x and z.
    assert abs(m.bounds[0][0] + m.bounds[1][0]) < 1e-4
    assert abs(m.bounds[0][2] + m.bounds[1][2]) < 1e-4


@pytest.mark.parametrize("ext", [".obj", ".ply", ".stl", ".usdz"])
def test_other_formats(tmp_path, capsys, ext):
    if ext == ".usdz":
        pytest.importorskip("pxr")
    out = tmp_path / f"mug{ext}"
    code, _, _ = run_cli(["image", EXAMPLE, "-o", out, "-q", "--faces", "4000",
                          "--texture-size", "256", "--width", "0.12"], capsys)
    assert code == 0 and out.stat().st_size > 1000
    if ext in (".obj", ".ply", ".stl"):
        m = trimesh.load(out, force="mesh")
        assert m.extents[0] == pytest.approx(0.12, rel=1e-3)
        if ext != ".obj":
            assert m.is_watertight


def test_preview_and_progress(tmp_path, capsys):
    prev = tmp_path / "p.png"
    code, out, err = run_cli(["image", EXAMPLE, "-o", tmp_path / "m.glb", "--preview", prev,
                              "--faces", "3000", "--texture-size", "256"], capsys)
    assert code == 0
    im = np.asarray(Image.open(prev))
    assert im.ndim == 3 and im.shape[0] > 200 and im.std() > 5
    for stage in ("load", "segment", "shape", "mesh", "texture", "export", "preview"):
        assert stage in err  # one timing line per stage
    assert "default height 0.3 m" in out


def test_depth_command(tmp_path, capsys):
    out = tmp_path / "d.png"
    ply = tmp_path / "pts.ply"
    code, _, _ = run_cli(["depth", EXAMPLE, "-o", out, "--ply", ply, "-q"], capsys)
    assert code == 0
    im = Image.open(out)
    a = np.asarray(im)
    assert a.dtype == np.uint16 and a.shape == (640, 640)
    assert 0.2 < (a > 0).mean() < 0.7
    assert float(im.text["lift3d:far_m"]) > 0.02
    assert (tmp_path / "d_color.png").exists()
    pc = trimesh.load(ply)
    assert len(pc.vertices) == int((a > 0).sum())
    assert pc.bounds[1][2] > 0.02  # the visible side faces +Z


def _bad_inputs(tmp: Path) -> dict[str, tuple[list, int, str]]:
    (tmp / "empty.jpg").write_bytes(b"")
    (tmp / "text.png").write_text("not an image\n" * 20)
    data = EXAMPLE.read_bytes()
    (tmp / "trunc.jpg").write_bytes(data[: len(data) // 2])
    Image.new("RGB", (300, 200), (90, 120, 150)).save(tmp / "uniform.png")
    Image.new("L", (20000, 20000), 255).save(tmp / "huge.png")
    ro = tmp / "readonly"
    ro.mkdir()
    o = tmp / "out.glb"
    return {
        "missing file": (["image", tmp / "nope.jpg", "-o", o], 2, "not found"),
        "zero bytes": (["image", tmp / "empty.jpg", "-o", o], 2, "empty"),
        "not an image": (["image", tmp / "text.png", "-o", o], 2, "not an image"),
        "truncated": (["image", tmp / "trunc.jpg", "-o", o], 2, "truncated"),
        "20000x20000": (["image", tmp / "huge.png", "-o", o], 2, "MP limit"),
        "no object": (["image", tmp / "uniform.png", "-o", o], 3, "no object found"),
        "bad extension": (["image", EXAMPLE, "-o", tmp / "out.fbx"], 2, "unsupported extension"),
        "missing dir": (["image", EXAMPLE, "-o", tmp / "no" / "such" / "x.glb"], 2,
                        "does not exist"),
        "bad option": (["image", EXAMPLE, "--faces", "lots"], 2, "--faces"),
        "two sizes": (["image", EXAMPLE, "--height", "1", "--width", "2", "-o", o], 2,
                      "not allowed with"),
        "bad mask": (["image", EXAMPLE, "--mask", tmp / "nomask.png", "-o", o], 2, "mask"),
        "no command": ([], 2, ""),
        "depth bad ext": (["depth", EXAMPLE, "-o", tmp / "d.jpg"], 2, ".png"),
    }


@pytest.mark.parametrize("case", [
    "missing file", "zero bytes", "not an image", "truncated", "20000x20000", "no object",
    "bad extension", "missing dir", "bad option", "two sizes", "bad mask", "no command",
    "depth bad ext",
])
def test_bad_input_exit_codes(tmp_path, capsys, case):
    args, want, text = _bad_inputs(tmp_path)[case]
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse usage errors exit through SystemExit
        code = exc.code
    _, err = capsys.readouterr()
    assert code == want, err
    assert "Traceback" not in err
    if text:
        assert text in err
        assert len(err.strip().splitlines()) == 1, err
    leftovers = [p.name for p in tmp_path.rglob("*")
                 if p.suffix in (".glb", ".tmp") or ".tmp-" in p.name]
    assert leftovers == []


def test_unwritable_output_dir(tmp_path, capsys, monkeypatch):
    # Running as root makes permission bits meaningless; make the probe fail instead.
    import lift3d.io.atomic as atomic

    def deny(path):
        from lift3d.errors import OutputError

        raise OutputError(f"output directory {path} is not writable: permission denied")

    monkeypatch.setattr(atomic, "check_writable_dir", deny)
    import lift3d.export as export

    monkeypatch.setattr(export, "check_writable_dir", deny)
    code, _, err = run_cli(["image", EXAMPLE, "-o", tmp_path / "x.glb"], capsys)
    assert code == 2 and "not writable" in err
    assert not (tmp_path / "x.glb").exists()


def test_internal_error_is_one_line(monkeypatch, tmp_path, capsys):
    import lift3d.mesh as mesh_mod

    def boom(*a, **k):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(mesh_mod, "mesh_from_depth", boom)
    code, _, err = run_cli(["image", EXAMPLE, "-o", tmp_path / "x.glb", "-q"], capsys)
    assert code == 1
    assert "internal error" in err and "Traceback" not in err
    assert not (tmp_path / "x.glb").exists()


def test_python_dash_m_entry_point(tmp_path):
    r = subprocess.run([sys.executable, "-m", "lift3d", "--version"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "lift3d" in r.stdout


def test_shared_photos_end_to_end(tmp_path, shared_photos):
    """The CLI, as a user runs it, on real photos: RGBA renders and plain JPEGs."""
    names = ["triposr_chair.png", "sf3d_axe.png", "triposr_teapot.jpg",
             "instantmesh_skating_shoe.jpg", "instantmesh_genshin_teapot.png",
             "triposr_hamburger.png"]
    by_name = {p.name: p for p in shared_photos}
    chosen = [by_name[n] for n in names if n in by_name]
    assert len(chosen) >= 5, "expected the named photos in ../shared/data/photos"
    for photo in chosen:
        out = tmp_path / f"{photo.stem}.glb"
        r = subprocess.run([sys.executable, "-m", "lift3d", "image", str(photo), "-o", str(out),
                            "--json"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        summary = json.loads(r.stdout)
        assert summary["watertight"], photo.name
        m = trimesh.load(out, force="mesh")
        assert m.is_watertight, photo.name
        assert m.bounds[1][1] == pytest.approx(0.3, abs=1e-3)


def test_shape_prior_option(tmp_path, capsys):
    out = tmp_path / "d.png"
    code, stdout, err = run_cli(["depth", EXAMPLE, "-o", out, "--shape", "prior", "--json"],
                                capsys)
    assert code == 0, err
    assert json.loads(stdout)["shape"] == "prior"
    assert (np.asarray(Image.open(out)) > 0).mean() > 0.2


@pytest.mark.parametrize("args, text", [
    (["--shape", "learned", "--model", "{tmp}/missing.onnx"], "--model: no such file"),
    (["--shape", "prior", "--model", "{tmp}/missing.onnx"], "--model: only used with"),
    (["--shape", "sculpted"], "invalid choice"),
    (["--uv", "cubemap"], "invalid choice"),
])
def test_backend_option_errors_are_one_line(tmp_path, capsys, args, text):
    out = tmp_path / "m.glb"
    argv = ["image", EXAMPLE, "-o", out, *[a.format(tmp=tmp_path) for a in args]]
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    _, err = capsys.readouterr()
    assert code == 2, err
    assert text in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
