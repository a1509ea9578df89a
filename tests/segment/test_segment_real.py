"""The classical backend against the true alpha of real cut-out images.

The shared photos that are RGBA cut-outs (``../shared/data/photos``) carry a clean
alpha. Composited over white they become the product-shot case the classical backend
is for, and their alpha is the ground truth to compare its mask with.

Which photos: every RGBA photo whose alpha is one clean object (a single solid
component, soft edge pixels under 10% of the solid area), duplicates dropped, then 8
picked evenly over the sorted list, so the choice does not depend on how well the
backend does on them. Measured when this test was written (OpenCV 5.0, 2026-11):
IoU 0.906-0.997 over the 8, mean 0.979; over all 28 RGBA photos, mean 0.970 (the worst,
0.82, a white robot whose white shell meets the white backdrop). The threshold below
leaves room for library-version noise, not for a regression of the method.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from lift3d.segment import segment
from lift3d.types import Photo

logger = logging.getLogger(__name__)

N_PHOTOS = 8
MIN_MEAN_IOU = 0.93
MIN_EACH_IOU = 0.85


def _clean_cutouts(paths: list[Path]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, rgb over white, alpha)`` of the RGBA photos with a clean alpha."""
    out, seen = [], set()
    for p in paths:
        if p.suffix.lower() != ".png":
            continue
        with Image.open(p) as im:
            if im.mode != "RGBA":
                continue
            a = np.asarray(im, dtype=np.float32) / 255.0
        alpha = a[..., 3]
        solid = (alpha >= 0.5).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
        if n < 2 or solid.mean() < 0.01:
            continue
        areas = stats[1:, cv2.CC_STAT_AREA]
        soft = float(((alpha > 0.02) & (alpha < 0.98)).sum()) / float(solid.sum())
        if areas.max() < 0.99 * areas.sum() or soft > 0.1:
            continue
        digest = hashlib.sha1(solid.tobytes()).hexdigest()
        if digest in seen:   # the same image shipped under two names
            continue
        seen.add(digest)
        rgb = a[..., :3] * alpha[..., None] + (1.0 - alpha[..., None])
        out.append((p.name, rgb.astype(np.float32), alpha))
    return out


def test_classical_matches_true_alpha_on_shared_cutouts(shared_photos):
    cutouts = _clean_cutouts(shared_photos)
    if len(cutouts) < 4:
        pytest.skip(f"only {len(cutouts)} clean RGBA cut-outs in the shared photos")
    idx = np.unique(np.round(np.linspace(0, len(cutouts) - 1, N_PHOTOS)).astype(int))
    ious = {}
    for i in idx:
        name, rgb, alpha = cutouts[i]
        photo = Photo(rgb=rgb, alpha=None, source=name,
                      original_size=(rgb.shape[1], rgb.shape[0]))
        seg = segment(photo, "classical")
        truth = alpha >= 0.5
        ious[name] = float((seg.binary & truth).sum()) / float((seg.binary | truth).sum())
    report = ", ".join(f"{k}: {v:.3f}" for k, v in ious.items())
    mean = float(np.mean(list(ious.values())))
    logger.info("classical vs true alpha, IoU mean %.3f: %s", mean, report)
    print(f"\nclassical vs true alpha: mean IoU {mean:.3f} ({report})")
    assert mean > MIN_MEAN_IOU, report
    assert min(ious.values()) > MIN_EACH_IOU, report
