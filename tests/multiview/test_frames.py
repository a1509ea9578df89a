"""lift3d.multiview.frames: folders of photos and videos to validated image lists."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lift3d.errors import InputError
from lift3d.multiview import frames as fr
from lift3d.multiview.frames import (
    InputImages,
    Skipped,
    gather_images,
    natural_key,
    sample_video,
    select_frames,
    sharpness,
)


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """``(h, w, 3)`` uint8 multi-scale noise: corners at every scale, so features and
    flow still work on a blurred copy."""
    rng = np.random.default_rng(seed)
    acc = np.zeros((h, w, 3), np.float32)
    for sigma, weight in ((0.0, 0.5), (2.0, 1.0), (6.0, 1.5)):
        n = rng.standard_normal((h, w, 3)).astype(np.float32)
        if sigma:
            n = cv2.GaussianBlur(n, (0, 0), sigma)
        acc += weight * n / max(float(n.std()), 1e-6)
    acc = (acc - acc.min()) / (acc.max() - acc.min())
    return (acc * 255).astype(np.uint8)


def write_photo(path: Path, h: int = 48, w: int = 64, seed: int = 0) -> Path:
    assert cv2.imwrite(str(path), texture(h, w, seed))
    return path


# ----------------------------------------------------------------------------- folders


def test_folder_keeps_good_images_in_natural_order_and_skips_bad(tmp_path, caplog):
    good = ["img1.png", "img2.jpg", "img3.JPG", "img10.png", "img20.jpeg"]
    for i, name in enumerate(good):
        write_photo(tmp_path / name, seed=i)
    (tmp_path / "K.txt").write_text("500 0 32\n0 500 24\n0 0 1\n")
    (tmp_path / "mesh.ply").write_bytes(b"ply\nformat ascii 1.0\nend_header\n")
    (tmp_path / "corrupt.jpg").write_bytes(np.random.default_rng(1).bytes(3000))
    whole = (write_photo(tmp_path / "tmp_whole.jpg", 120, 160, seed=9)).read_bytes()
    (tmp_path / "tmp_whole.jpg").unlink()
    (tmp_path / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    write_photo(tmp_path / ".hidden.jpg")
    (tmp_path / "sub").mkdir()
    write_photo(tmp_path / "sub" / "img0.png")

    seen: list[float] = []
    with caplog.at_level("WARNING", logger="lift3d.multiview.frames"):
        got = gather_images(tmp_path, progress=seen.append)

    assert isinstance(got, InputImages)
    assert got.kind == "folder" and got.source == tmp_path and got.frame_indices is None
    assert got.names == tuple(good)
    assert got.paths == tuple(tmp_path / n for n in good)
    assert got.sizes == ((64, 48),) * 5 and not got.mixed_sizes
    skipped = {s.name: s.reason for s in got.skipped}
    assert set(skipped) == {"corrupt.jpg", "truncated.jpg"}  # K.txt, .ply, hidden: silent
    assert "truncated" in skipped["truncated.jpg"]
    assert skipped["corrupt.jpg"].startswith("not an image file")
    assert "truncated.jpg" in caplog.text and "corrupt.jpg" in caplog.text
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert all(0.0 <= f <= 1.0 for f in seen)


def test_natural_sort_and_mixed_sizes(tmp_path):
    for name in ["img10.png", "img2.png", "Img1.png", "img2b.png"]:
        write_photo(tmp_path / name)
    got = gather_images(tmp_path)
    assert got.names == ("Img1.png", "img2.png", "img2b.png", "img10.png")
    assert not got.mixed_sizes
    write_photo(tmp_path / "img11.png", h=64, w=48)
    got = gather_images(tmp_path)
    assert got.mixed_sizes
    assert got.sizes[-1] == (48, 64)  # (width, height)
    assert sorted(["a10", "a9", "a100", "b1"], key=natural_key) == ["a9", "a10", "a100", "b1"]


def test_sizes_ignore_exif_orientation(tmp_path):
    from PIL import Image

    for i in range(3):
        im = Image.fromarray(texture(40, 80, seed=i))
        exif = Image.Exif()
        exif[0x0112] = 6  # "rotate 90 CW to display": COLMAP still sees 80x40 pixels
        im.save(tmp_path / f"p{i}.jpg", exif=exif)
    assert gather_images(tmp_path).sizes == ((80, 40),) * 3


# ------------------------------------------------------------------------------- video

BLURRED = {5, 12, 19, 26, 64, 71, 78, 85}
STILL = range(30, 60)


def write_video(path: Path) -> Path:
    """90 frames 160x120 MJPG: a texture sliding 3 px/frame, still for frames 30..59
    (identical frames), with BLURRED frames smoothed by a strong Gaussian."""
    canvas = texture(120, 360, seed=3)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
    assert w.isOpened()
    for i in range(90):
        x = 3 * min(i, 29) + 3 * max(i - 59, 0)
        frame = np.ascontiguousarray(canvas[:, x:x + 160])
        if i in BLURRED:
            frame = cv2.GaussianBlur(frame, (0, 0), 3.0)
        w.write(frame)
    w.release()
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "orbit.avi")


def test_video_picks_sharp_spread_frames_and_reuses_them(video, tmp_path, monkeypatch):
    out = tmp_path / "frames"
    seen: list[float] = []
    got = gather_images(video, frames_dir=out, max_frames=10, progress=seen.append)

    assert got.kind == "video" and got.source == video
    idx = got.frame_indices
    assert idx is not None and 5 <= len(idx) <= 10
    assert list(idx) == sorted(set(idx))
    assert not set(idx) & BLURRED, idx
    assert sum(i in STILL for i in idx) <= 1, idx
    # Spread evenly along the camera path (pixels moved), not along time.
    pos = [3 * min(i, 29) + 3 * max(i - 59, 0) for i in idx]
    gaps = np.diff([0, *pos, 177])
    assert gaps.max() <= 177 / 10 * 1.6 and min(np.diff(pos)) >= 177 / 10 * 0.5, idx
    assert got.names == tuple(f"frame_{i:06d}.jpg" for i in idx)
    assert got.sizes == ((160, 120),) * len(idx)
    for p in got.paths:
        img = cv2.imread(str(p))
        assert img is not None and img.shape == (120, 160, 3)
    assert sorted(p.name for p in out.iterdir()) == sorted([*got.names, "frames.json"])
    assert seen[-1] == 1.0 and seen == sorted(seen) and seen[0] >= 0.0

    # Second call: same frames, nothing decoded or rewritten.
    mtimes = [p.stat().st_mtime_ns for p in got.paths]

    def no_video(*args, **kwargs):
        raise AssertionError("the video was opened again")

    monkeypatch.setattr(cv2, "VideoCapture", no_video)
    again = gather_images(video, frames_dir=out, max_frames=10)
    assert again == got
    assert [p.stat().st_mtime_ns for p in again.paths] == mtimes
    monkeypatch.undo()

    # Another max_frames samples again and leaves exactly the new frames.
    fewer = gather_images(video, frames_dir=out, max_frames=4)
    assert 3 <= len(fewer.paths) <= 4
    assert sorted(p.name for p in out.iterdir()) == sorted([*fewer.names, "frames.json"])
    assert json.loads((out / "frames.json").read_text())["max_frames"] == 4


def test_sample_video_resamples_when_a_frame_is_damaged(video, tmp_path):
    out = tmp_path / "f"
    paths, idx = sample_video(video, out, max_frames=6)
    assert len(paths) == len(idx) <= 6
    paths[0].write_bytes(b"oops")
    paths2, idx2 = sample_video(video, out, max_frames=6)
    assert idx2 == idx and cv2.imread(str(paths2[0])) is not None


def test_still_video_gives_one_frame_and_an_error(tmp_path):
    img = texture(120, 160, seed=5)
    path = tmp_path / "still.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
    for _ in range(20):
        w.write(img)
    w.release()
    paths, idx = sample_video(path, tmp_path / "f", max_frames=10)
    assert len(paths) == 1
    with pytest.raises(InputError, match=r"still\.avi.*only 1 distinct frame"):
        gather_images(path, frames_dir=tmp_path / "g")


# ---------------------------------------------------------------------- frame selection


def test_select_frames_even_spacing_and_duplicates():
    n = 100
    sharp = np.ones(n)
    motion = np.full(n, 2.0)
    picks = select_frames(sharp, motion, 10)
    assert len(picks) == 10
    assert max(np.diff(picks)) <= 11 and min(np.diff(picks)) >= 5
    # Sharpest frame of each segment wins.
    sharp2 = sharp.copy()
    sharp2[[3, 57]] = 5.0
    assert {3, 57} <= set(select_frames(sharp2, motion, 10))
    # Frames much blurrier than their neighbours are never picked, even when every
    # frame could be.
    blurred = sharp.copy()
    blurred[[10, 11, 40, 77]] = 0.05
    picks = select_frames(blurred, motion, n)
    assert not {10, 11, 40, 77} & set(picks) and len(picks) >= 80
    # A still camera (sub-noise motion) gives one frame, the sharpest.
    assert select_frames(sharp2, np.full(n, 0.01), 10) == [3]
    # Fewer distinct viewpoints than asked: fewer frames, never more than max_frames.
    assert len(select_frames(np.ones(5), np.full(5, 5.0), 60)) == 5
    assert len(select_frames(np.ones(50), np.full(50, 0.2), 60)) < 10
    # A jump followed by a rest: the rest adds one frame, not many.
    m = np.r_[np.zeros(50), 40.0, np.zeros(49)]
    assert len(select_frames(np.ones(100), m, 20)) == 2


def test_sharpness_orders_blur():
    g = texture(64, 64)[..., 0].astype(np.float32) / 255
    assert sharpness(g) > 3 * sharpness(cv2.GaussianBlur(g, (0, 0), 2.0))
    assert sharpness(np.zeros((8, 8), np.float32)) == 0.0
    with pytest.raises(InputError, match="gray"):
        sharpness(np.zeros((8, 8, 3), np.float32))


# ------------------------------------------------------------------------------ errors


def test_errors_name_the_file(tmp_path, video):
    with pytest.raises(InputError, match="nowhere"):
        gather_images(tmp_path / "nowhere")

    bad = tmp_path / "broken.mp4"
    bad.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(InputError, match=r"cannot read '.*broken\.mp4' as a video"):
        gather_images(bad, frames_dir=tmp_path / "f")

    notes = tmp_path / "notes.dat"
    notes.write_text("hello\n")
    with pytest.raises(InputError, match=r"cannot read '.*notes\.dat' as a video"):
        gather_images(notes, frames_dir=tmp_path / "f")

    empty_video = tmp_path / "empty.avi"
    cv2.VideoWriter(str(empty_video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120)).release()
    with pytest.raises(InputError, match=r"empty\.avi"):
        gather_images(empty_video, frames_dir=tmp_path / "f")

    with pytest.raises(InputError, match=r"orbit\.avi.*frames_dir"):
        gather_images(video)

    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(InputError, match=r"empty_dir.*no image files"):
        gather_images(empty)
    (empty / "K.txt").write_text("1 0 0\n")
    with pytest.raises(InputError, match=r"empty_dir.*no image files"):
        gather_images(empty)

    few = tmp_path / "few"
    few.mkdir()
    write_photo(few / "a.png")
    write_photo(few / "b.png")
    (few / "c.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(InputError) as info:
        gather_images(few)
    msg = str(info.value)
    assert "few" in msg and "only 2 readable images" in msg and "c.jpg" in msg
    assert "at least 3" in msg

    one = write_photo(tmp_path / "mug.jpg")
    with pytest.raises(InputError, match=r"mug\.jpg.*single image.*lift3d image"):
        gather_images(one)
    renamed = tmp_path / "mug.data"
    renamed.write_bytes(one.read_bytes())
    with pytest.raises(InputError, match=r"mug\.data.*single image"):
        gather_images(renamed)

    with pytest.raises(InputError, match=r"max_frames \(2\).*min_images \(3\)"):
        gather_images(video, frames_dir=tmp_path / "f", max_frames=2)
    with pytest.raises(InputError, match="min_images"):
        gather_images(few, min_images=0)


def test_input_images_checks_lengths():
    with pytest.raises(ValueError, match="sizes"):
        InputImages(Path("x"), "folder", (Path("a"),), (), ())
    assert Skipped("a.jpg", "why").name == "a.jpg"
    assert fr.IMAGE_SUFFIXES[0] == ".jpg" and ".mp4" in fr.VIDEO_SUFFIXES


def test_real_photo_folder(shared_data):
    folder = shared_data / "multiview" / "sceaux_castle"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    got = gather_images(folder)
    assert len(got.paths) == 11 and got.skipped == ()  # K.txt and the .ply files ignored
    assert got.sizes == ((2832, 2128),) * 11 and not got.mixed_sizes
