"""`lift3d check`, `repair` and `optimize` end to end: files in, files out, exit codes,
JSON reports, and every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
from broken import corpus

from lift3d.apps.cli import EXIT_PRESET_FAILED, main
from lift3d.export.asset import export_asset
from lift3d.io.meshes import load_mesh
from lift3d.mesh import is_watertight
from lift3d.quality.shape_metrics import chamfer, sample_surface

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BUNNY = SHARED / "meshes" / "stanford-bunny.obj"


@pytest.fixture(scope="module")
def cases():
    return corpus(0)


def run(args, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _write(asset, path: Path) -> Path:
    export_asset(asset, path)
    return path


def test_check_reports_and_exit_code_follows_the_preset(tmp_path, cases, capsys):
    src = _write(cases["holes"].asset, tmp_path / "holes.ply")
    code, out, _ = run(["check", src], capsys)
    assert code == 0 and "holes:" in out
    code, out, _ = run(["check", src, "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["holes"] == cases["holes"].planted["holes"]
    # A 0.3-unit PLY with holes fails print (not watertight; no unit): exit 4, reasons.
    code, out, _ = run(["check", src, "--preset", "print", "--json"], capsys)
    report = json.loads(out)
    assert code == EXIT_PRESET_FAILED
    assert report["preset"]["passed"] is False and report["preset"]["reasons"]
    # The clean sphere as GLB (metres stated) passes web.
    clean = _write(cases["clean"].asset, tmp_path / "clean.glb")
    code, _, _ = run(["check", clean, "--preset", "web"], capsys)
    assert code == 0


@pytest.mark.parametrize("name", ["soup", "holes", "flipped", "floaters", "nonmanifold_edges",
                                  "inverted", "vertex_colored"])
def test_repair_watertight_closes_every_broken_case(tmp_path, cases, capsys, name):
    case = cases[name]
    src = _write(case.asset, tmp_path / f"{name}.ply")
    out = tmp_path / f"{name}_fixed.glb"
    code, stdout, _ = run(["repair", src, "-o", out, "--watertight", "--json"], capsys)
    assert code == 0
    summary = json.loads(stdout)
    assert summary["after"]["watertight"] and summary["after"]["components"] == 1
    assert summary["changes"]
    fixed = load_mesh(out)
    assert is_watertight(fixed.mesh())
    t = trimesh.load(out, force="mesh")
    assert t.is_watertight and t.volume > 0
    # Within 1 % of the bounding-box diagonal of the undamaged surface.
    c = case.clean
    diag = float(np.linalg.norm(np.ptp(c.vertices, axis=0)))
    a = sample_surface(c.vertices, c.faces, 4000, rng=0)
    b = sample_surface(t.vertices, t.faces, 4000, rng=1)
    assert chamfer(a, b) < 0.01 * diag


def test_optimize_faces_keeps_texture_and_writes_lods(tmp_path, cases, capsys):
    src = _write(cases["textured"].asset, tmp_path / "textured.glb")
    out = tmp_path / "small.glb"
    code, stdout, _ = run(["optimize", src, "-o", out, "--ratio", "0.5", "--lods", "2",
                           "--json"], capsys)
    assert code == 0
    summary = json.loads(stdout)
    assert [Path(p).name for p in summary["outputs"]] == ["small.glb", "small_LOD1.glb"]
    lod0, lod1 = load_mesh(out), load_mesh(tmp_path / "small_LOD1.glb")
    assert lod0.texture is not None and lod0.uv is not None
    assert len(lod1.faces) < len(lod0.faces) <= 0.55 * len(cases["textured"].asset.faces)


@pytest.mark.skipif(not BUNNY.is_file(), reason="shared bunny mesh not present")
def test_optimize_preset_ar_on_the_bunny_writes_glb_and_usdz(tmp_path, capsys):
    out = tmp_path / "bunny.glb"
    code, stdout, _ = run(["optimize", BUNNY, "-o", out, "--preset", "ar", "--height",
                           "0.25", "--json"], capsys)
    assert code == 0, stdout
    summary = json.loads(stdout)
    assert summary["after"]["preset"]["passed"] is True
    assert sorted(Path(p).suffix for p in summary["outputs"]) == [".glb", ".usdz"]
    t = trimesh.load(out, force="mesh")
    assert len(t.faces) <= 100_000
    assert abs(float(np.ptp(t.vertices[:, 1])) - 0.25) < 1e-3
    assert abs(float(t.vertices[:, 1].min())) < 1e-6  # base on y = 0
    pytest.importorskip("pxr")
    from pxr import Usd, UsdValidation

    stage = Usd.Stage.Open(str(out.with_suffix(".usdz")))
    assert stage is not None and stage.GetDefaultPrim().IsValid()
    # Every validator usd-core ships (ARKit/usdz package rules included): no errors.
    validators = UsdValidation.ValidationRegistry().GetOrLoadAllValidators()
    errors = [e for e in UsdValidation.ValidationContext(validators).Validate(stage)
              if e.GetType() == UsdValidation.ValidationErrorType.Error]
    assert not errors, [e.GetMessage() for e in errors]


def test_bad_inputs_exit_2_with_one_line(tmp_path, cases, capsys):
    good = _write(cases["clean"].asset, tmp_path / "clean.ply")
    bad_ext = tmp_path / "mesh.xyz"
    bad_ext.write_text("1 2 3\n")
    empty = tmp_path / "empty.obj"
    empty.write_bytes(b"")
    for args in (["check", tmp_path / "missing.obj"],
                 ["check", bad_ext],
                 ["check", empty],
                 ["repair", good, "-o", tmp_path / "out.fbx"],
                 ["repair", good, "-o", good],
                 ["optimize", good, "-o", tmp_path / "no_dir" / "o.glb"]):
        code, out, err = run(args, capsys)
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and "Traceback" not in err, err
    # Usage errors from argparse: a ratio outside (0, 1], faces and ratio together.
    for args in (["optimize", good, "-o", tmp_path / "o.glb", "--ratio", "2"],
                 ["optimize", good, "-o", tmp_path / "o.glb", "--faces", "10", "--ratio",
                  "0.5"],
                 ["check", good, "--preset", "moon"]):
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        assert exc.value.code == 2
    assert not list(tmp_path.glob("o*.glb")) and not (tmp_path / "out.fbx").exists()


@pytest.mark.parametrize("rel", ["meshes/beetle.obj", "meshes/teapot.obj",
                                 "multiview/sceaux_castle/openmvs_reference_mesh.ply"])
def test_repair_watertight_on_real_meshes_stays_within_one_percent(rel):
    from lift3d.quality.check import check_mesh
    from lift3d.quality.repair import RepairOptions, repair_mesh, surface_deviation

    path = SHARED / rel
    if not path.is_file():
        pytest.skip(f"{rel} not in ../shared/data")
    asset = load_mesh(path)
    out = repair_mesh(asset, RepairOptions(watertight=True)).asset
    report = check_mesh(out, intersections=False)
    assert report.watertight_after_weld and report.components == 1
    assert t_watertight(out)
    assert surface_deviation(asset.vertices, asset.faces, out.vertices, out.faces) < 0.01


def t_watertight(asset) -> bool:
    return trimesh.Trimesh(asset.vertices, asset.faces).is_watertight


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mug.jpg"


def test_image_with_a_preset_optimises_writes_its_formats_and_checks(tmp_path, capsys):
    out = tmp_path / "mug.glb"
    code, stdout, _ = run(["image", EXAMPLE, "-o", out, "--preset", "print", "--faces", "6000",
                           "--json"], capsys)
    assert code == 0, stdout
    summary = json.loads(stdout)
    assert summary["preset"]["name"] == "print" and summary["preset"]["passed"] is True
    assert sorted(Path(p).name for p in summary["outputs"]) == ["mug.glb", "mug.stl"]
    stl = trimesh.load(tmp_path / "mug.stl")
    # print writes millimetres: the default 0.3 m height is 300 units in the STL.
    assert stl.is_watertight and abs(float(np.ptp(stl.vertices[:, 1])) - 300.0) < 1.0
    with pytest.raises(SystemExit) as exc:
        main(["image", str(EXAMPLE), "-o", str(tmp_path / "x.glb"), "--preset", "moon"])
    assert exc.value.code == 2 and not (tmp_path / "x.glb").exists()
