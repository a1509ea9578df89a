"""turntable_sheet, write_preview and contact_sheet."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from lift3d.errors import OutputError
from lift3d.render import contact_sheet, render_view, turntable_sheet, view_name, write_preview

S = 64
LABEL = 14  # max(14, round(0.07 * 64))


def test_view_names():
    assert [view_name(a) for a in (0, 90, 180, 270, 360, -90)] == [
        "front", "right", "back", "left", "front", "left"
    ]
    assert view_name(45) == "az 45"


def test_turntable_sheet_layout(front_red_sphere):
    sheet = turntable_sheet(front_red_sphere, size=S)
    assert sheet.shape == (2 * (S + LABEL), 2 * S, 3)
    assert sheet.dtype == np.uint8
    # Each quadrant is the corresponding view, at the same elevation.
    for k, az in enumerate((0, 90, 180, 270)):
        r, c = divmod(k, 2)
        y = r * (S + LABEL)
        tile = sheet[y : y + S, c * S : (c + 1) * S]
        assert np.array_equal(tile, render_view(front_red_sphere, az, 15.0, S))
    # Captions are drawn in dark ink under each view, and differ.
    strips = [sheet[y + S : y + S + LABEL, x : x + S] for y in (0, S + LABEL) for x in (0, S)]
    assert all((s < 128).any() for s in strips)
    assert not np.array_equal(strips[0], strips[2])  # "front" vs "back"


def test_turntable_sheet_with_title(front_red_sphere):
    sheet = turntable_sheet(front_red_sphere, size=S, title="mug, 0.3 m")
    title_h = sheet.shape[0] - 2 * (S + LABEL)
    assert title_h >= 18
    assert sheet.shape[1] == 2 * S
    assert (sheet[:title_h] < 128).any()


def test_turntable_sheet_rejects_empty(empty_mesh, front_red_sphere):
    with pytest.raises(ValueError, match="mesh"):
        turntable_sheet(empty_mesh, size=S)
    with pytest.raises(ValueError, match="azimuths"):
        turntable_sheet(front_red_sphere, size=S, azimuths=())


def test_write_preview_writes_png_atomically(front_red_sphere, tmp_path):
    target = tmp_path / "preview.png"
    target.write_bytes(b"old")
    out = write_preview(front_red_sphere, target, size=S, title="test")
    assert out == target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preview.png"]
    with Image.open(target) as im:
        im.verify()
    with Image.open(target) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        pixels = np.asarray(im)
    assert np.array_equal(pixels, turntable_sheet(front_red_sphere, size=S, title="test"))
    assert os.stat(target).st_mode & 0o444 == 0o444  # readable, not mkstemp's 0600


def test_write_preview_cleans_up_on_failure(front_red_sphere, tmp_path, monkeypatch):
    target = tmp_path / "preview.png"
    target.write_bytes(b"old")

    def broken_replace(src, dst):
        raise PermissionError("simulated")

    monkeypatch.setattr("lift3d.render.sheet.os.replace", broken_replace)
    with pytest.raises(OutputError, match="preview"):
        write_preview(front_red_sphere, target, size=S)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preview.png"]
    assert target.read_bytes() == b"old"


def test_write_preview_bad_destination_and_mesh(front_red_sphere, empty_mesh, tmp_path):
    with pytest.raises(OutputError):
        write_preview(front_red_sphere, tmp_path / "missing" / "p.png", size=S)
    with pytest.raises(ValueError, match="mesh"):
        write_preview(empty_mesh, tmp_path / "p.png", size=S)
    assert list(tmp_path.iterdir()) == []


def test_contact_sheet_grid_and_inputs():
    cell = 64
    lh = 14
    red_wide = np.zeros((32, 64, 3), np.uint8)
    red_wide[..., 0] = 255
    grey_float = np.full((40, 20), 0.5, np.float32)
    rgba = np.zeros((10, 10, 4), np.uint8)  # fully transparent -> white
    images = [red_wide, grey_float, rgba] + [np.zeros((8, 8, 3), np.uint8)] * 4
    labels = [f"case {i}" for i in range(6)] + ["a caption far too long to fit in one cell"]
    sheet = contact_sheet(images, labels, columns=3, cell=cell)
    assert sheet.shape == (3 * (cell + lh), 3 * cell, 3)
    # The wide image fills the cell's width and is centred vertically.
    first = sheet[:cell, :cell]
    assert np.array_equal(first[cell // 2, cell // 2], [255, 0, 0])
    assert np.all(first[:10] == 255)
    # The tall grey image is centred horizontally.
    second = sheet[:cell, cell : 2 * cell]
    assert np.all(np.abs(second[cell // 2, cell // 2].astype(int) - 128) <= 1)
    assert np.all(second[:, :10] == 255)
    # Transparent RGBA composites to white.
    assert np.all(sheet[:cell, 2 * cell : 3 * cell] == 255)
    # Captions are drawn; the empty slots of the last row stay white.
    assert (sheet[cell : cell + lh, :cell] < 128).any()
    assert np.all(sheet[2 * (cell + lh) :, cell:] == 255)
    # Fewer images than columns: the sheet shrinks to fit.
    few = contact_sheet(images[:2], labels[:2], columns=6, cell=cell)
    assert few.shape == (cell + lh, 2 * cell, 3)


def test_contact_sheet_rejects_bad_arguments():
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="images"):
        contact_sheet([], [])
    with pytest.raises(ValueError, match="labels"):
        contact_sheet([img, img], ["one"])
    with pytest.raises(ValueError, match="columns"):
        contact_sheet([img], ["x"], columns=0)
    with pytest.raises(ValueError, match="images\\[0\\]"):
        contact_sheet([np.zeros((8, 8, 5))], ["x"])
