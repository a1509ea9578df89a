"""The whole photogrammetry pipeline on 8 real `lund` photos at low resolution, the CLI,
the resumable workspace, and every kind of bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pycolmap")

from lift3d.apps.cli import main  # noqa: E402
from lift3d.errors import InputError, ReconstructionError  # noqa: E402
from lift3d.multiview.dense import DenseOptions  # noqa: E402
from lift3d.multiview.pipeline import (  # noqa: E402
    ImagePoint,
    PhotosOptions,
    ScaleBy,
    photos_to_mesh,
)
from lift3d.multiview.sfm import SfmOptions  # noqa: E402

#: Small enough for CI (2 cores): ~10 s a run. One thread: COLMAP's threaded matching
#: is not repeatable, and on these 8 photos its mapping then varies from 5 to 8 images.
FAST = PhotosOptions(
    sfm=SfmOptions(max_image_size=640, max_features=4096, num_threads=1),
    dense=DenseOptions(max_side=320, planes=64, sources=3),
    faces=20_000, texture_size=512, texture_max_side=640, watertight=True)


def _write_jpeg(path: Path, rgb: np.ndarray) -> None:
    import cv2

    cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))


@pytest.fixture(scope="module")
def lund8(shared_data: Path, tmp_path_factory) -> Path:
    """8 consecutive lund photos at 640x480, plus one corrupt file."""
    import cv2

    src = shared_data / "multiview" / "lund"
    if not src.is_dir():
        pytest.skip(f"{src} missing")
    out = tmp_path_factory.mktemp("lund8")
    for p in sorted(src.glob("*.jpg"))[:8]:
        img = cv2.imread(str(p))
        cv2.imwrite(str(out / p.name), cv2.resize(img, (640, 480), interpolation=cv2.INTER_AREA))
    (out / "99_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return out


@pytest.fixture(scope="module")
def lund_run(lund8: Path, tmp_path_factory):
    ws = tmp_path_factory.mktemp("ws")
    return photos_to_mesh(lund8, FAST, workspace=ws), ws


def test_registers_and_meshes(lund_run) -> None:
    result, _ = lund_run
    rep = result.report
    assert rep.sfm.images == 8
    assert len(rep.sfm.registered) >= 7, rep.sfm.summary_lines()
    assert rep.sfm.mean_reprojection_error < 1.0
    assert rep.sfm.mean_track_length > 2.0
    assert [s.name for s in rep.inputs.skipped] == ["99_corrupt.jpg"]
    mesh = result.mesh
    assert len(mesh.faces) > 1000
    assert rep.watertight
    from lift3d.mesh import is_watertight

    assert is_watertight(mesh.welded())
    assert 0.0 <= mesh.uv.min() and mesh.uv.max() <= 1.0
    assert mesh.texture.shape == (512, 512, 3)
    assert rep.texture_coverage > 0.5
    # Arbitrary scale: said, and the largest side is 1.
    assert rep.scale == "arbitrary" and rep.metres_per_unit is None
    assert max(rep.size) == pytest.approx(1.0, rel=1e-4)
    # glTF placement: base on y = 0, centred on x and z.
    v = mesh.vertices
    assert v[:, 1].min() == pytest.approx(0.0, abs=1e-5)
    assert (v[:, 0].min() + v[:, 0].max()) == pytest.approx(0.0, abs=1e-4)
    assert any("ARBITRARY" in line for line in rep.summary_lines())


def test_workspace_resumes(lund_run, lund8: Path) -> None:
    first, ws = lund_run
    again = photos_to_mesh(lund8, FAST, workspace=ws)
    assert set(again.report.reused) == {"sfm", "depth"}
    assert again.report.sfm.registered == first.report.sfm.registered
    # A dense option changes: depth is redone, SfM is not.
    other = dataclasses.replace(FAST, dense=DenseOptions(max_side=256, planes=32, sources=3))
    redone = photos_to_mesh(lund8, other, workspace=ws)
    assert redone.report.reused == ("sfm",)


def test_scale_by_known_distance(lund_run, lund8: Path) -> None:
    first, ws = lund_run
    name = first.report.sfm.registered[0]
    # Two pixels near the middle of a photo: the cathedral's wall.
    opts = dataclasses.replace(FAST, watertight=False,
                               scale_by=ScaleBy(ImagePoint(name, 300, 200),
                                                ImagePoint(name, 340, 200), 2.0))
    try:
        res = photos_to_mesh(lund8, opts, workspace=ws)
    except InputError as exc:  # the pixel may miss the surface: then the message says so
        assert "no reconstructed surface" in str(exc)
        return
    assert res.report.scale == "scale-by"
    assert res.report.metres_per_unit > 0
    assert not any("ARBITRARY" in line for line in res.report.summary_lines())


def test_height_sets_metres(lund_run, lund8: Path) -> None:
    _, ws = lund_run
    res = photos_to_mesh(lund8, dataclasses.replace(FAST, height=25.0),
                         workspace=ws)
    assert res.report.scale == "height"
    assert res.report.size[1] == pytest.approx(25.0, rel=1e-4)


def test_cli_end_to_end(lund_run, lund8: Path, tmp_path: Path, capsys) -> None:
    _, ws = lund_run
    out = tmp_path / "lund.glb"
    code = main(["photos", str(lund8), "-o", str(out), "--workspace", str(ws), "--json",
                 "--feature-size", "640", "--depth-size", "320", "--planes", "64",
                 "--faces", "20000", "--texture-size", "512"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["outputs"] == [str(out)]
    assert out.is_file() and out.stat().st_size > 10_000
    assert summary["sfm"]["mean_reprojection_error"] < 1.0
    assert summary["scale"] == "arbitrary"
    assert [s["name"] for s in summary["skipped"]] == ["99_corrupt.jpg"]
    names = [s["name"] for s in summary["stages"]]
    assert names[:3] == ["inputs", "sfm", "region"] and names[-1] == "export"
    from lift3d.io.meshes import load_mesh

    assert len(load_mesh(out).faces) > 1000


# ----------------------------------------------------------------------------- bad input


def _noise_photos(folder: Path, count: int, size=(320, 240), seed: int = 0) -> None:
    import cv2

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
        img = cv2.GaussianBlur(img, (3, 3), 0)
        _write_jpeg(folder / f"{i:02d}.jpg", img)


def _cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def test_too_few_images(tmp_path: Path, capsys) -> None:
    _noise_photos(tmp_path / "two", 2)
    code, err = _cli(["photos", str(tmp_path / "two"), "-o", str(tmp_path / "o.glb")], capsys)
    assert code == 2
    assert "at least 3" in err or "fewer than" in err or "3" in err
    assert "Traceback" not in err


def test_images_that_do_not_overlap(tmp_path: Path, capsys) -> None:
    _noise_photos(tmp_path / "noise", 4)
    code, err = _cli(["photos", str(tmp_path / "noise"), "-o", str(tmp_path / "o.glb")],
                     capsys)
    assert code == 5, err
    assert "overlap" in err
    # The partial report: what registered (nothing) and what did not.
    assert "not registered" in err and "00.jpg" in err
    assert not (tmp_path / "o.glb").exists()


def test_reconstruction_error_carries_report(tmp_path: Path) -> None:
    _noise_photos(tmp_path / "noise", 3, seed=3)
    with pytest.raises(ReconstructionError) as info:
        photos_to_mesh(tmp_path / "noise", FAST, workspace=tmp_path / "ws")
    rep = info.value.report
    assert rep is not None and rep.images == 3 and len(rep.registered) < 3


def test_mixed_sizes(lund8: Path, tmp_path: Path, capsys) -> None:
    import shutil

    import cv2

    folder = tmp_path / "mixed"
    folder.mkdir()
    for p in sorted(lund8.glob("0*.jpg"))[:4]:
        shutil.copy(p, folder / p.name)
    first = sorted(folder.iterdir())[0]
    img = cv2.imread(str(first))
    cv2.imwrite(str(first), cv2.resize(img, (320, 240)))
    code, err = _cli(["photos", str(folder), "-o", str(tmp_path / "o.glb")], capsys)
    assert code == 2
    assert "different sizes" in err and "--allow-mixed-sizes" in err


def test_unreadable_video(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 garbage" * 10)
    code, err = _cli(["photos", str(bad), "-o", str(tmp_path / "o.glb")], capsys)
    assert code == 2
    assert "clip.mp4" in err and "video" in err
    assert "Traceback" not in err


def test_all_corrupt(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "corrupt"
    folder.mkdir()
    for i in range(4):
        (folder / f"{i}.jpg").write_bytes(b"\xff\xd8 broken")
    code, err = _cli(["photos", str(folder), "-o", str(tmp_path / "o.glb")], capsys)
    assert code == 2
    assert "0.jpg" in err


@pytest.mark.parametrize("value", ["a.jpg:1,2 b.jpg:3,4", "a.jpg:1,2 b.jpg:3,4 -1",
                                   "a.jpg b.jpg:3,4 0.3", "a.jpg:x,2 b.jpg:3,4 0.3"])
def test_bad_scale_by(value: str, tmp_path: Path, capsys) -> None:
    _noise_photos(tmp_path / "p", 3)
    code, err = _cli(["photos", str(tmp_path / "p"), "--scale-by", value,
                      "-o", str(tmp_path / "o.glb")], capsys)
    assert code == 2
    assert "--scale-by" in err


def test_bad_output_extension_fails_fast(tmp_path: Path, capsys) -> None:
    _noise_photos(tmp_path / "p", 3)
    code, err = _cli(["photos", str(tmp_path / "p"), "-o", str(tmp_path / "o.xyz")], capsys)
    assert code == 2
    assert ".xyz" in err or "xyz" in err


def test_options_validation() -> None:
    with pytest.raises(InputError, match="height"):
        PhotosOptions(height=-1.0)
    with pytest.raises(InputError, match="one way"):
        PhotosOptions(height=1.0, scale_by=ScaleBy(ImagePoint("a", 0, 0),
                                                    ImagePoint("b", 1, 1), 1.0))
    with pytest.raises(InputError, match="texture_size"):
        PhotosOptions(texture_size=10)


def test_colmap_workspace_is_read_back(lund_run, lund8: Path, tmp_path: Path) -> None:
    """COLMAP's undistortion runs on CPU; PatchMatch needs CUDA, so its output maps are
    written here by hand (the true depth of each pixel's sparse neighbourhood is not
    needed: the point is the frames and file format line up)."""
    import pycolmap

    from lift3d.multiview.colmap_dense import read_workspace

    _, ws = lund_run
    work = tmp_path / "dense"
    opts = pycolmap.UndistortCameraOptions()
    opts.max_image_size = 320
    pycolmap.undistort_images(work, ws / "sfm" / "model", lund8, undistort_options=opts)
    rec = pycolmap.Reconstruction(str(work / "sparse"))
    (work / "stereo" / "depth_maps").mkdir(parents=True, exist_ok=True)
    from test_colmap_dense import _write_colmap_array

    for img in rec.images.values():
        d = np.full((img.camera.height, img.camera.width), 7.0, np.float32)
        _write_colmap_array(work / "stereo" / "depth_maps" / f"{img.name}.geometric.bin", d)
    maps = read_workspace(work)
    # Other tests may have redone SfM in this workspace: compare with the model there.
    sparse = pycolmap.Reconstruction(str(ws / "sfm" / "model"))
    centres = {i.name: i.projection_center() for i in sparse.images.values()}
    assert [m.view.name for m in maps] == sorted(centres)
    assert len(maps) >= 3
    for m in maps:
        assert max(m.view.width, m.view.height) <= 320
        assert m.depth.shape == (m.view.height, m.view.width)
        np.testing.assert_allclose(m.view.center, centres[m.view.name], atol=1e-6)
        assert (m.depth == 7.0).all()
