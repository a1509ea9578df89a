"""Shared real data for the synthetic set: preparing meshes and HDRs into one file,
loading it back (numpy only), the default paths, and the real ../shared/data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import trimesh

from lift3d.errors import InputError
from lift3d.synth import assets as A
from lift3d.synth import shapes

# ---------------------------------------------------------------------------------------
# A tiny shared-data folder
# ---------------------------------------------------------------------------------------

HDR_RGB = (0.5, 2.0, 8.0)


@pytest.fixture
def tiny_shared(tmp_path: Path) -> Path:
    root = tmp_path / "shared"
    (root / "meshes").mkdir(parents=True)
    (root / "hdri").mkdir()
    # A Z-up-agnostic closed box, an open sphere (holes to fill), a flat sheet.
    trimesh.creation.box(extents=(2.0, 1.0, 0.5)).export(root / "meshes" / "crate.obj")
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=3.0)
    sphere.update_faces(np.arange(len(sphere.faces)) % 97 != 0)  # punch holes
    sphere.export(root / "meshes" / "ball.obj")
    sheet = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 2, 0], [0, 2, 0]],
                            [[0, 1, 2], [0, 2, 3]])
    sheet.export(root / "meshes" / "card.obj")
    img = np.empty((64, 128, 3), np.float32)
    img[:] = HDR_RGB[::-1]  # cv2 writes BGR
    img[0, 0] = (0.0, 0.0, 1000.0)  # a red sun (BGR)
    assert cv2.imwrite(str(root / "hdri" / "sky_1k.hdr"), img)
    return root


def _closed_normalised(m) -> None:
    v = m.vertices.astype(np.float64)
    assert m.vertices.dtype == np.float32 and m.faces.dtype == np.int64
    assert len(m.faces) <= shapes.MAX_FACES
    lo, hi = v.min(axis=0), v.max(axis=0)
    assert abs((hi - lo).max() - 1.0) < 1e-5
    np.testing.assert_allclose(0.5 * (lo + hi), 0.0, atol=1e-5)
    for p in np.unique(m.part):
        part = trimesh.Trimesh(v, m.faces[m.part == p])
        assert part.is_watertight, f"{m.family} part {p} open"
        assert part.volume > 0, f"{m.family} part {p} inside out"


def test_prepare_load_round_trip(tiny_shared: Path, tmp_path: Path) -> None:
    out = tmp_path / "cache" / "assets.npz"
    assert A.prepare_assets(tiny_shared, out, hdri_width=16) == out
    assert out.is_file()
    assert not [p for p in out.parent.iterdir() if p.name != out.name]  # no temp left
    a = A.load_assets(out)
    assert sorted(a.meshes) == ["ball", "card", "crate"]
    for name, m in a.meshes.items():
        assert m.family == f"shared:{name}"
        _closed_normalised(m)
    # The box keeps its proportions 2 : 1 : 0.5.
    np.testing.assert_allclose(np.ptp(a.meshes["crate"].vertices, axis=0), [1, 0.5, 0.25],
                               atol=1e-6)
    # The flat card got a thickness.
    assert np.ptp(a.meshes["card"].vertices, axis=0).min() > 0.02
    hdr = a.hdris["sky_1k"]
    assert hdr.shape == (8, 16, 3) and hdr.dtype == np.float32
    # RGB order, linear values kept (area average of the constant image away from the
    # bright corner pixel).
    np.testing.assert_allclose(hdr[4:, 4:].reshape(-1, 3), np.tile(HDR_RGB, (48, 1)),
                               rtol=0.02)
    assert hdr[0, 0, 0] > hdr[0, 0, 2]  # the red-heavy corner survives in R
    assert a.eval_meshes == () and a.eval_hdris == ()
    assert a.names("meshes", "train") == ("ball", "card", "crate")


def test_eval_names_kept(tiny_shared: Path, tmp_path: Path) -> None:
    (tiny_shared / "meshes" / "crate.obj").rename(tiny_shared / "meshes" / "spot.obj")
    (tiny_shared / "hdri" / "sky_1k.hdr").rename(tiny_shared / "hdri" / "urban_alley_01_1k.hdr")
    a = A.load_assets(A.prepare_assets(tiny_shared, tmp_path / "a.npz"))
    assert a.eval_meshes == ("spot",) and a.eval_hdris == ("urban_alley_01_1k",)
    assert a.names("meshes", "eval") == ("spot",)
    assert "spot" not in a.names("meshes", "train")
    assert a.hdris["urban_alley_01_1k"].shape == (64, 128, 3)


def test_rotation_table_applied(tiny_shared: Path, tmp_path: Path) -> None:
    """``nefertiti`` is turned from +Z up to +Y up: a box long in z stands tall."""
    trimesh.creation.box(extents=(1.0, 0.5, 3.0)).export(
        tiny_shared / "meshes" / "nefertiti.obj")
    a = A.load_assets(A.prepare_assets(tiny_shared, tmp_path / "a.npz"))
    np.testing.assert_allclose(np.ptp(a.meshes["nefertiti"].vertices, axis=0),
                               [1 / 3, 1.0, 1 / 6], atol=1e-6)


def test_unclosable_and_unreadable_meshes_dropped(tiny_shared: Path, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    (tiny_shared / "meshes" / "broken.obj").write_text("this is not an obj\n")
    # A fin: three triangles on one edge, nothing else: not closable.
    (tiny_shared / "meshes" / "fin.obj").write_text(
        "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 -1 0\nv 0 0 1\nf 1 2 3\nf 2 1 4\nf 1 2 5\n")
    with caplog.at_level("INFO", logger="lift3d.synth.assets"):
        a = A.load_assets(A.prepare_assets(tiny_shared, tmp_path / "a.npz"))
    assert "broken" not in a.meshes and "fin" not in a.meshes
    assert "dropped" in caplog.text


def test_prepare_bad_arguments(tmp_path: Path, tiny_shared: Path) -> None:
    with pytest.raises(InputError, match="shared_dir"):
        A.prepare_assets(tmp_path / "missing", tmp_path / "a.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="shared_dir"):
        A.prepare_assets(tmp_path / "empty", tmp_path / "a.npz")
    with pytest.raises(InputError, match="hdri_width"):
        A.prepare_assets(tiny_shared, tmp_path / "a.npz", hdri_width=15)


def test_load_assets_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="path"):
        A.load_assets(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="path"):
        A.load_assets(bad)
    old = tmp_path / "old.npz"
    np.savez(old, format_version=np.array(0))
    with pytest.raises(InputError, match="format"):
        A.load_assets(old)


def test_load_assets_needs_no_trimesh(tiny_shared: Path, tmp_path: Path) -> None:
    out = A.prepare_assets(tiny_shared, tmp_path / "a.npz")
    code = (
        "import sys; sys.modules['trimesh'] = None\n"
        "from lift3d.synth.assets import load_assets\n"
        "from lift3d.synth.shapes import sample_mesh\n"
        "import numpy as np\n"
        f"a = load_assets({str(out)!r})\n"
        "m = sample_mesh(np.random.default_rng(0), family='blob')\n"
        "print(len(a.meshes), len(m.faces) > 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["3", "True"]


def test_default_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LIFT3D_SYNTH_ASSETS", raising=False)
    monkeypatch.delenv("LIFT3D_SHARED_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert A.default_assets_path() == tmp_path / ".cache" / "synth" / "assets.npz"
    assert A.default_shared_dir() == tmp_path.parent / "shared" / "data"
    monkeypatch.setenv("LIFT3D_SYNTH_ASSETS", str(tmp_path / "x.npz"))
    monkeypatch.setenv("LIFT3D_SHARED_DATA", str(tmp_path / "data"))
    assert A.default_assets_path() == tmp_path / "x.npz"
    assert A.default_shared_dir() == tmp_path / "data"


def test_ensure_assets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                       tiny_shared: Path) -> None:
    target = tmp_path / "cache" / "assets.npz"
    monkeypatch.setenv("LIFT3D_SYNTH_ASSETS", str(target))
    monkeypatch.setenv("LIFT3D_SHARED_DATA", str(tmp_path / "nowhere"))
    assert A.ensure_assets() is None  # no file, no shared data
    a = A.ensure_assets(tiny_shared)  # prepared, then loaded
    assert a is not None and target.is_file() and len(a.meshes) == 3
    b = A.ensure_assets()  # the file is there now
    assert b is not None and sorted(b.meshes) == sorted(a.meshes)
    target.write_bytes(b"corrupt")  # a bad file is prepared again when possible
    c = A.ensure_assets(tiny_shared)
    assert c is not None and len(c.meshes) == 3


def test_cli(tiny_shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cli.npz"
    assert A.main([str(tiny_shared), str(out), "-q"]) == 0
    assert out.is_file() and "3 meshes, 1 HDRs" in capsys.readouterr().out
    res = subprocess.run([sys.executable, "-m", "lift3d.synth.assets",
                          str(tmp_path / "missing"), str(out)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "missing" in res.stderr


# ---------------------------------------------------------------------------------------
# The real shared data
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_assets(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("assets") / "assets.npz"
    A.prepare_assets(shared_data, out)
    return out, A.load_assets(out)


def test_real_shared_data(real_assets, shared_data: Path) -> None:
    out, a = real_assets
    assert out.stat().st_size < 3_000_000
    stems = {p.stem for p in (shared_data / "meshes").iterdir()
             if p.suffix in (".obj", ".ply")}
    assert len(stems) == 16
    assert set(a.meshes) <= stems and len(a.meshes) >= 14
    for m in a.meshes.values():
        _closed_normalised(m)
    assert set(A.EVAL_MESHES) <= set(a.meshes)
    assert a.names("meshes", "eval") == tuple(sorted(A.EVAL_MESHES))
    hdr_stems = {p.stem for p in (shared_data / "hdri").glob("*.hdr")}
    assert set(a.hdris) == hdr_stems and len(hdr_stems) == 7
    for h in a.hdris.values():
        assert h.shape == (64, 128, 3) and h.dtype == np.float32
        assert np.isfinite(h).all() and h.min() >= 0 and h.mean() > 0.05
    assert a.names("hdris", "eval") == tuple(sorted(A.EVAL_HDRIS))


def test_real_meshes_stand_up_and_face_front(real_assets) -> None:
    """The rotation table: upright figures are tall in y; the cow, spot and bunny,
    turned to face +Z, are long in z; the upright busts are tall in y."""
    _, a = real_assets
    ext = {n: np.ptp(m.vertices, axis=0) for n, m in a.meshes.items()}
    for name in ("beast", "homer", "ogre", "woody", "nefertiti", "cheburashka"):
        if name in ext:
            assert ext[name][1] >= ext[name][2], name
    for name in ("cow", "spot"):
        if name in ext:
            assert ext[name][2] == pytest.approx(1.0) and ext[name][0] < 0.7, name
    if "nefertiti" in ext:
        assert ext["nefertiti"][1] == pytest.approx(1.0)


def test_real_assets_in_sample_mesh(real_assets) -> None:
    _, a = real_assets
    rng = np.random.default_rng(0)
    ev = {shapes.sample_mesh(rng, "eval", a).family for _ in range(200)}
    shared = {f for f in ev if f.startswith("shared:")}
    assert shared and shared <= {f"shared:{n}" for n in A.EVAL_MESHES}
