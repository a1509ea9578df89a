"""Delivery folders: the files a job or a batch item hands over."""

from __future__ import annotations

import zipfile

import pytest

from lift3d import Config
from lift3d.deliver import check_formats, deliver_image, media_type
from lift3d.errors import InputError

SMALL = Config(faces=2000, texture_size=128)


def test_check_formats():
    assert check_formats(["obj", "GLB", ".usdz", "obj", ""]) == ("glb", "usdz", "obj")
    assert check_formats([]) == ("glb",)
    with pytest.raises(InputError, match="formats: unknown format 'fbx'"):
        check_formats(["fbx"])


def test_media_types():
    assert media_type("model.glb") == "model/gltf-binary"
    assert media_type("model.usdz") == "model/vnd.usdz+zip"
    assert media_type("preview.png") == "image/png"
    assert media_type("thing.xyz") == "application/octet-stream"


def test_deliver_image_writes_every_format(disc_photo, tmp_path):
    stages = []
    d = deliver_image(disc_photo, tmp_path / "out", config=SMALL,
                      formats=("usdz", "obj", "ply", "stl"),
                      progress=lambda ev: stages.append((ev.stage, ev.fraction)))
    names = [f.name for f in d.files]
    assert names == ["model.glb", "model.usdz", "model_obj.zip", "model.ply", "model.stl",
                     "preview.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(names)
    for f in d.files:
        assert f.size == (tmp_path / "out" / f.name).stat().st_size > 0
    with zipfile.ZipFile(tmp_path / "out" / "model_obj.zip") as z:
        assert {"model.obj", "model.mtl"} <= set(z.namelist())
    assert d.stats.watertight and d.stats.scale_known and d.stats.texture_size == 128
    assert d.stats.size_m[1] == pytest.approx(0.3, rel=1e-3)
    assert [t.name for t in d.timings][-1] == "formats"
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and stages[-1][0] == "formats"


def test_deliver_image_with_a_preset(disc_photo, tmp_path):
    d = deliver_image(disc_photo, tmp_path / "out", config=SMALL, formats=("glb",),
                      preset="print")
    names = [f.name for f in d.files]
    assert names[0] == "model.stl" and "model.glb" in names and names[-1] == "preview.png"
    assert d.preset is not None and d.preset.preset == "print"
    assert d.preset.passed, d.preset.failures


def test_deliver_picks_the_pipeline_and_refuses_a_preset_for_photos(disc_photo, tmp_path):
    from PIL import Image

    from lift3d.deliver import deliver

    photo = tmp_path / "disc.png"
    Image.fromarray((disc_photo * 255).astype("uint8")).save(photo)
    d = deliver(photo, tmp_path / "one", faces=2000, texture_size=128, formats=())
    assert [t.name for t in d.timings][:2] == ["load", "segment"]  # the single-photo stages
    assert d.stats.faces <= 2100 and d.stats.texture_size == 128
    (tmp_path / "photos").mkdir()
    with pytest.raises(InputError, match="preset: applies to one photo"):
        deliver(tmp_path / "photos", tmp_path / "many", preset="web")
