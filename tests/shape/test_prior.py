"""The silhouette prior: inflation matches its analytic cases; layered depth is sane."""

from __future__ import annotations

import numpy as np
import pytest

from lift3d.errors import InputError
from lift3d.shape import estimate_shape, inflate, prior_shape
from lift3d.shape.prior import MID_PLANE_Z
from lift3d.types import Crop


def _disc(size=128, r=40.0):
    yy, xx = np.mgrid[0:size, 0:size]
    c = (size - 1) / 2
    return np.hypot(xx - c, yy - c) < r


def test_disc_inflates_to_hemisphere():
    m = _disc(128, 40)
    h = inflate(m, thickness=1.0)
    assert h.max() == pytest.approx(40.0, rel=0.03)
    # Profile along a radius follows sqrt(R^2 - r^2).
    c = 63
    for r in (0, 10, 20, 30):
        want = np.sqrt(40.0**2 - (r + 0.5) ** 2)
        assert h[c, c + r] == pytest.approx(want, rel=0.08)


def test_thickness_scales_linearly_and_narrow_parts_are_thin():
    m = _disc(128, 40)
    m[5:30, 60:66] = True  # a thin handle above the disc
    h1 = inflate(m, 1.0)
    h2 = inflate(m, 0.5)
    np.testing.assert_allclose(h2, 0.5 * h1, rtol=1e-5, atol=1e-5)
    assert h1[15, 62:64].max() < 0.2 * h1.max()
    assert (h1[~m] == 0).all()


def test_prior_layered_depth_is_mirrored_and_ordered():
    alpha = _disc(96, 30).astype(np.float32)
    crop = Crop(rgb=np.ones((96, 96, 3), np.float32), alpha=alpha, box=(0, 0, 96, 96))
    d = prior_shape(crop, thickness=0.8)
    inside = d.mask >= 0.5
    assert d.camera.model == "orthographic"
    np.testing.assert_allclose((d.front + d.back)[inside] / 2, MID_PLANE_Z, atol=1e-5)
    assert (d.back[inside] >= d.front[inside]).all()
    # Max thickness: 2 * 0.8 * 30 px, in units where the crop is 2 wide.
    assert d.thickness.max() == pytest.approx(2 * 0.8 * 30 * 2 / 96, rel=0.05)


def test_prior_resamples_to_resolution():
    alpha = _disc(200, 60).astype(np.float32)
    crop = Crop(rgb=np.ones((200, 200, 3), np.float32), alpha=alpha, box=(0, 0, 200, 200))
    d = estimate_shape(crop, "prior", resolution=64)
    assert d.mask.shape == (64, 64) and d.camera.width == 64


def test_unknown_backend_and_empty_mask():
    crop = Crop(rgb=np.ones((32, 32, 3), np.float32), alpha=np.zeros((32, 32), np.float32),
                box=(0, 0, 32, 32))
    with pytest.raises(InputError, match="shape: unknown backend"):
        estimate_shape(crop, "nope")
    with pytest.raises(ValueError, match="crop"):
        prior_shape(crop)
