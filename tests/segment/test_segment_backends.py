"""The segmentation backends on synthetic photos: alpha, classical, file, auto."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from lift3d.errors import InputError, NoObjectError
from lift3d.segment import BACKENDS, register_backend, segment
from lift3d.types import Photo, Segmentation


def _photo(rgb: np.ndarray, alpha: np.ndarray | None = None) -> Photo:
    rgb = np.clip(rgb, 0, 1).astype(np.float32)
    return Photo(rgb=rgb, alpha=None if alpha is None else alpha.astype(np.float32),
                 source="<array>", original_size=(rgb.shape[1], rgb.shape[0]))


def _grid(size: int) -> tuple[np.ndarray, np.ndarray, float]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return xx, yy, (size - 1) / 2


def _coverage(inside_fn, size: int, ss: int = 4) -> np.ndarray:
    """Anti-aliased coverage ``(size, size)`` float32 of a region, by supersampling."""
    big = inside_fn(size * ss).astype(np.float32)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)


def _disc_cover(size: int, radius: float = 0.3, cy: float = 0.5) -> np.ndarray:
    def inside(n):
        xx, yy, c = _grid(n)
        return np.hypot(xx - c, yy - (cy * n - 0.5)) < radius * n
    return _coverage(inside, size)


def _shaded(cover: np.ndarray, fg, bg) -> np.ndarray:
    """Composite a shaded object colour over a background (image or colour)."""
    n = cover.shape[0]
    xx, yy, c = _grid(n)
    shade = 1.0 - 0.35 * np.clip(np.hypot(xx - c, yy - c) / (0.35 * n), 0, 1) ** 2
    obj = np.asarray(fg, np.float32) * shade[..., None]
    bg = np.broadcast_to(np.asarray(bg, np.float32), obj.shape)
    return cover[..., None] * obj + (1 - cover[..., None]) * bg


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / float((a | b).sum())


# ----------------------------------------------------------------------------- alpha


def test_alpha_backend_matches_photo_alpha():
    cover = _disc_cover(128)
    rgb = _shaded(cover, (0.8, 0.2, 0.1), (0.0, 0.0, 0.0))
    seg = segment(_photo(rgb, cover), "alpha")
    assert seg.backend == "alpha"
    assert seg.alpha.shape == (128, 128) and seg.alpha.dtype == np.float32
    assert _iou(seg.binary, cover >= 0.5) == 1.0
    # Soft edge values survive (only near-zero haze below 0.02 may be dropped).
    keep = cover > 0.02
    np.testing.assert_allclose(seg.alpha[keep], cover[keep], atol=1e-6)
    assert ((seg.alpha > 0.05) & (seg.alpha < 0.95)).sum() > 50


def test_alpha_backend_drops_specks_and_fills_pinholes():
    cover = _disc_cover(128)
    a = cover.copy()
    a[5:7, 5:7] = 1.0          # a 4-px speck far from the object
    a[120, 10] = 0.3           # faint dust
    a[64, 64] = 0.0            # a pinhole in the middle of the object
    seg = segment(_photo(np.zeros((128, 128, 3)), a), "alpha")
    assert seg.alpha[5:7, 5:7].max() == 0.0
    assert seg.alpha[120, 10] == 0.0
    assert seg.alpha[64, 64] == 1.0


def test_alpha_backend_without_alpha_is_an_input_error():
    with pytest.raises(InputError, match="photo.*alpha"):
        segment(_photo(np.ones((32, 32, 3))), "alpha")


def test_auto_uses_alpha_only_when_it_separates_something():
    cover = _disc_cover(96)
    rgb = _shaded(cover, (0.2, 0.3, 0.9), (1.0, 1.0, 1.0))
    assert segment(_photo(rgb, cover)).backend == "alpha"
    assert segment(_photo(rgb)).backend == "classical"
    # An alpha that is (almost) everywhere opaque says nothing: fall back.
    nearly_opaque = np.ones((96, 96), np.float32)
    nearly_opaque[0, :5] = 0.0
    assert segment(_photo(rgb, nearly_opaque)).backend == "classical"


# ------------------------------------------------------------------------- classical


@pytest.mark.parametrize(
    "fg, bg",
    [
        ((0.8, 0.2, 0.1), (1.0, 1.0, 1.0)),     # red on white
        ((0.9, 0.8, 0.2), (0.2, 0.55, 0.3)),    # yellow on green
        ((0.15, 0.15, 0.18), (0.93, 0.93, 0.9)),  # near-black on light grey
    ],
)
def test_classical_finds_disc_on_plain_background(fg, bg):
    cover = _disc_cover(160)
    seg = segment(_photo(_shaded(cover, fg, bg)), "classical")
    assert seg.backend == "classical"
    assert _iou(seg.binary, cover >= 0.5) > 0.97


def test_classical_handles_vertical_gradient_background():
    n = 160
    t = np.linspace(0, 1, n, dtype=np.float32)[:, None, None] * np.ones((n, n, 1), np.float32)
    bg = (1 - t) * np.array([0.75, 0.85, 1.0]) + t * np.array([0.2, 0.3, 0.5])
    cover = _disc_cover(n)
    seg = segment(_photo(_shaded(cover, (0.9, 0.6, 0.1), bg)), "classical")
    assert _iou(seg.binary, cover >= 0.5) > 0.97


@pytest.mark.parametrize("fg", [(0.2, 0.4, 0.8), (0.3, 0.3, 0.3)])
def test_classical_excludes_soft_grey_shadow(fg):
    n = 192
    xx, yy, c = _grid(n)
    cover = _disc_cover(n, radius=0.28, cy=0.45)
    # A soft grey contact shadow: an ellipse under the disc, up to 35% darker.
    e = ((xx - c) / (0.4 * n)) ** 2 + ((yy - 0.72 * n) / (0.09 * n)) ** 2
    shadow = 0.35 * np.clip(1 - e, 0, 1) ** 0.7
    bg = np.ones((n, n, 3), np.float32) * (1 - shadow[..., None])
    rgb = _shaded(cover, fg, bg)
    rgb = rgb + np.random.default_rng(0).normal(0, 0.01, rgb.shape)
    seg = segment(_photo(rgb), "classical")
    truth = cover >= 0.5
    assert _iou(seg.binary, truth) > 0.9
    in_shadow = (shadow > 0.1) & ~truth
    assert seg.binary[in_shadow].mean() < 0.1


def test_classical_keeps_the_hole_of_a_ring():
    n = 160

    def ring(m):
        xx, yy, c = _grid(m)
        r = np.hypot(xx - c, yy - c) / m
        return (r < 0.36) & (r > 0.18)

    cover = _coverage(ring, n)
    seg = segment(_photo(_shaded(cover, (0.3, 0.3, 0.8), (1, 1, 1))), "classical")
    assert _iou(seg.binary, cover >= 0.5) > 0.95
    xx, yy, c = _grid(n)
    hole = np.hypot(xx - c, yy - c) / n < 0.15
    assert seg.binary[hole].mean() < 0.01


def test_classical_fills_a_small_hole_that_is_not_background():
    n = 160
    cover = _disc_cover(n)
    rgb = _shaded(cover, (0.1, 0.1, 0.5), (1, 1, 1))
    xx, yy, c = _grid(n)
    button = np.hypot(xx - c, yy - c) < 3.5   # a tiny near-white patch inside
    rgb[button] = (0.93, 0.93, 0.9)
    seg = segment(_photo(rgb), "classical")
    assert seg.binary[button].all()


def test_classical_gives_soft_alpha_at_the_edge():
    n = 160
    cover = _disc_cover(n)
    seg = segment(_photo(_shaded(cover, (0.8, 0.2, 0.1), (1, 1, 1))), "classical")
    edge = (cover > 0.05) & (cover < 0.95)
    soft = (seg.alpha > 0.02) & (seg.alpha < 0.98)
    assert soft.sum() > 50
    assert (soft & edge).sum() > 0.5 * edge.sum()
    # Far from the edge the mask is hard.
    assert (soft & ~edge).sum() < 0.5 * soft.sum() + 50
    assert np.abs(seg.alpha - cover)[edge].mean() < 0.2


def test_classical_keeps_an_object_cut_off_by_the_frame():
    n = 160
    cover = _disc_cover(n, radius=0.3, cy=0.9)   # the bottom of the disc is outside
    seg = segment(_photo(_shaded(cover, (0.8, 0.2, 0.1), (1, 1, 1))), "classical")
    assert _iou(seg.binary, cover >= 0.5) > 0.95


def test_classical_on_1024px_photo():
    xx, yy, c = _grid(1024)
    # Anti-aliased by a 1-px linear ramp (cheaper than supersampling at this size).
    cover = np.clip(0.3 * 1024 + 0.5 - np.hypot(xx - c, yy - c), 0, 1).astype(np.float32)
    rgb = _shaded(cover, (0.8, 0.2, 0.1), (0.97, 0.97, 0.97))
    rgb = rgb + np.random.default_rng(1).normal(0, 0.01, rgb.shape)
    photo = _photo(rgb)
    seg = segment(photo, "classical")
    assert _iou(seg.binary, cover >= 0.5) > 0.98


# ------------------------------------------------------------------------ no object


def test_uniform_image_has_no_object():
    with pytest.raises(NoObjectError, match="uniform colour"):
        segment(_photo(np.full((64, 64, 3), 0.6)), "classical")
    noisy = 0.6 + np.random.default_rng(0).normal(0, 0.003, (64, 64, 3))
    with pytest.raises(NoObjectError, match="uniform colour"):
        segment(_photo(noisy), "auto")


def test_tiny_speck_has_no_object():
    rgb = np.ones((200, 200, 3), np.float32)
    rgb[100:103, 100:103] = (0.1, 0.1, 0.1)   # 9 px = 0.02% of the image
    with pytest.raises(NoObjectError, match=r"covers only 0\.\d\d% of the image"):
        segment(_photo(rgb), "classical")


def test_tiny_alpha_has_no_object():
    a = np.zeros((200, 200), np.float32)
    a[10:14, 10:14] = 1.0
    with pytest.raises(NoObjectError, match="covers only 0.04%"):
        segment(_photo(np.zeros((200, 200, 3)), a), "alpha")


# ----------------------------------------------------------------------- mask files


def _save_mask(path, mask: np.ndarray, mode: str = "L") -> str:
    Image.fromarray((np.clip(mask, 0, 1) * 255).round().astype(np.uint8)).convert(mode).save(path)
    return str(path)


def test_mask_file_round_trip(tmp_path):
    cover = _disc_cover(100)
    rgb = _shaded(cover, (0.5, 0.5, 0.5), (1, 1, 1))
    path = _save_mask(tmp_path / "m.png", cover)
    seg = segment(_photo(rgb), "file", mask_path=path)
    assert seg.backend == "file"
    np.testing.assert_allclose(seg.alpha, cover, atol=1 / 255 + 1e-6)
    # "auto" with a mask path uses it.
    assert segment(_photo(rgb), mask_path=path).backend == "file"


def test_mask_file_with_same_aspect_is_resized(tmp_path):
    cover = _disc_cover(200)
    path = _save_mask(tmp_path / "big.png", cover)
    photo = _photo(np.ones((100, 100, 3)))
    seg = segment(photo, "file", mask_path=path)
    assert seg.alpha.shape == (100, 100)
    assert _iou(seg.binary, _disc_cover(100) >= 0.5) > 0.97


def test_mask_file_alpha_channel_and_labels(tmp_path):
    cover = _disc_cover(64)
    rgba = np.zeros((64, 64, 4), np.uint8)          # black RGB; the alpha is the mask
    rgba[..., 3] = (cover * 255).round().astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    seg = segment(_photo(np.ones((64, 64, 3))), "file", mask_path=str(tmp_path / "a.png"))
    np.testing.assert_allclose(seg.alpha, cover, atol=1 / 255 + 1e-6)
    # A 0/1 label image: non-zero is object.
    labels = (cover >= 0.5).astype(np.uint8)
    Image.fromarray(labels, "L").save(tmp_path / "l.png")
    seg = segment(_photo(np.ones((64, 64, 3))), "file", mask_path=str(tmp_path / "l.png"))
    assert np.array_equal(seg.binary, cover >= 0.5)


def test_mask_file_with_wrong_aspect_is_an_input_error(tmp_path):
    path = _save_mask(tmp_path / "m.png", np.ones((50, 80)))
    with pytest.raises(InputError, match=r"mask_path: mask is 80x50, photo is 100x100"):
        segment(_photo(np.ones((100, 100, 3))), "file", mask_path=path)


def test_missing_or_unreadable_mask_file_is_an_input_error(tmp_path):
    photo = _photo(np.ones((32, 32, 3)))
    with pytest.raises(InputError, match="mask_path"):
        segment(photo, "file", mask_path=str(tmp_path / "nope.png"))
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(InputError, match="mask_path"):
        segment(photo, "file", mask_path=str(bad))
    with pytest.raises(InputError, match="mask_path"):
        segment(photo, "file")


def test_mask_covering_the_whole_frame_is_no_object(tmp_path):
    path = _save_mask(tmp_path / "white.png", np.ones((40, 40)))
    with pytest.raises(NoObjectError, match="whole frame"):
        segment(_photo(np.ones((40, 40, 3))), "file", mask_path=path)


# ------------------------------------------------------------------------- registry


def test_unknown_backend_and_stray_mask_path_are_input_errors(tmp_path):
    photo = _photo(np.ones((32, 32, 3)))
    with pytest.raises(InputError, match="backend.*'nope'"):
        segment(photo, "nope")
    with pytest.raises(InputError, match="mask_path"):
        segment(photo, "classical", mask_path=str(tmp_path / "m.png"))


def test_register_backend():
    def half(photo: Photo) -> Segmentation:
        a = np.zeros(photo.rgb.shape[:2], np.float32)
        a[:, : photo.width // 4] = 1.0
        return Segmentation(alpha=a, backend="quarter")

    register_backend("quarter", half)
    try:
        seg = segment(_photo(np.ones((20, 40, 3))), "quarter")
        assert seg.backend == "quarter" and seg.binary.mean() == 0.25
    finally:
        BACKENDS.pop("quarter", None)
    with pytest.raises(InputError):
        register_backend("auto", half)
