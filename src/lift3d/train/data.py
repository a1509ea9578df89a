"""Training data: scenes drawn in DataLoader workers, rendered and augmented on the GPU.

The CPU part (:func:`lift3d.synth.scene.sample_scene`: shape, material, light, camera as
numpy) runs in ``DataLoader`` worker processes; the main process renders each list of
scenes in one vectorised call (:func:`lift3d.synth.render.render_scenes`) on the
training device and augments the rendered batch there (:func:`augment`).

Scene indices are a pure function of ``(seed, step, rank, i)``, see
:func:`scene_index`, so a run resumed at step ``k`` draws the scenes of step ``k``
onwards (new ones, never a repeat of earlier steps), and ranks never overlap.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import IterableDataset, get_worker_info

from ..synth.types import Assets, SynthBatch

__all__ = ["SceneStream", "augment", "keep_list", "load_assets_cached", "render_fn",
           "render_in_chunks", "sample_fn", "scene_index", "worker_init"]

logger = logging.getLogger(__name__)

#: ``sample(seed, index, split, assets) -> Scene``.
SampleFn = Callable[..., Any]
#: ``render(scenes, size, device, ssaa) -> SynthBatch``.
RenderFn = Callable[..., SynthBatch]

_ASSETS_CACHE: dict[str, Assets] = {}


def sample_fn() -> SampleFn:
    """The real scene sampler, :func:`lift3d.synth.scene.sample_scene`."""
    from ..synth.scene import sample_scene

    return sample_scene


def render_fn() -> RenderFn:
    """The real renderer, :func:`lift3d.synth.render.render_scenes`."""
    from ..synth.render import render_scenes

    return render_scenes


def load_assets_cached(assets: Assets | str | os.PathLike[str] | None) -> Assets | None:
    """Resolve an ``assets`` option to :class:`Assets` (or ``None``), once per process.

    Args:
        assets: an :class:`Assets` (returned as is); ``None`` or ``"none"``: no real
            assets (procedural shapes and environments only); ``"auto"``:
            :func:`lift3d.synth.assets.ensure_assets` (the default file, prepared from
            the shared data when that is beside the checkout, else ``None``); any other
            string or path: a file for :func:`lift3d.synth.assets.load_assets`.
    """
    if assets is None or isinstance(assets, Assets):
        return assets
    key = str(assets)
    if key == "none":
        return None
    if key != "auto":
        key = str(Path(assets).resolve())
    if key not in _ASSETS_CACHE:
        if key == "auto":
            from ..synth.assets import ensure_assets

            _ASSETS_CACHE[key] = ensure_assets()
        else:
            from ..synth.assets import load_assets

            _ASSETS_CACHE[key] = load_assets(Path(key))
        got = _ASSETS_CACHE[key]
        logger.info("synthetic-data assets (%s): %s", assets,
                    f"{len(got.meshes)} meshes, {len(got.hdris)} HDR maps" if got else "none")
    return _ASSETS_CACHE[key]


def scene_index(step: int, rank: int, i: int, batch: int, world: int) -> int:
    """Index of sample ``i`` of ``rank``'s share of global ``step``.

    Global step ``step`` uses the indices ``[step * world * batch, (step + 1) * world *
    batch)``; rank ``r`` takes the ``r``-th slice of ``batch`` of them.
    """
    return (step * world + rank) * batch + i


class SceneStream(IterableDataset):
    """Yields one list of ``batch`` scenes per training step, steps in order.

    With ``W`` DataLoader workers, worker ``w`` draws the steps ``start + w``,
    ``start + w + W``, ...; the DataLoader's round-robin over workers then returns
    them in step order.

    Args:
        seed: data seed (passed to the sampler).
        batch: scenes per list (this rank's share of the global batch).
        start_step: first step to draw (the resumed step).
        stop_step: first step not drawn (``None``: never stops).
        rank, world: this process's rank and the number of ranks.
        split: ``"train"`` or ``"eval"``.
        assets: an :class:`Assets` or an option for :func:`load_assets_cached`
            (resolved once in each worker).
        sampler: ``sample(seed, index, split, assets) -> Scene``; defaults to
            :func:`lift3d.synth.scene.sample_scene`.
    """

    def __init__(
        self,
        seed: int,
        batch: int,
        start_step: int = 0,
        stop_step: int | None = None,
        rank: int = 0,
        world: int = 1,
        split: str = "train",
        assets: Assets | str | os.PathLike[str] | None = None,
        sampler: SampleFn | None = None,
    ) -> None:
        super().__init__()
        if batch <= 0:
            raise ValueError(f"batch must be positive, got {batch}")
        if not 0 <= rank < world:
            raise ValueError(f"rank must be in [0, world={world}), got {rank}")
        if start_step < 0:
            raise ValueError(f"start_step must be >= 0, got {start_step}")
        self.seed, self.batch, self.start_step, self.stop_step = seed, batch, start_step, stop_step
        self.rank, self.world, self.split = rank, world, split
        self.assets = str(assets) if isinstance(assets, os.PathLike) else assets
        self.sampler = sampler

    def steps(self, worker: int = 0, workers: int = 1) -> range | Iterator[int]:
        """The steps worker ``worker`` of ``workers`` draws."""
        first = self.start_step + worker
        if self.stop_step is None:
            return iter(_count(first, workers))
        return range(first, self.stop_step, workers)

    def __iter__(self) -> Iterator[list]:
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        sample = self.sampler or sample_fn()
        assets = load_assets_cached(self.assets)
        for step in self.steps(wid, nw):
            yield [sample(self.seed, scene_index(step, self.rank, i, self.batch, self.world),
                          self.split, assets)
                   for i in range(self.batch)]


def _count(first: int, stride: int) -> Iterator[int]:
    k = first
    while True:
        yield k
        k += stride


def worker_init(worker_id: int) -> None:  # noqa: ARG001 - DataLoader's signature
    """DataLoader ``worker_init_fn``: one thread per worker for OpenCV and BLAS.

    Workers already share the cores among themselves; library thread pools inside each
    would oversubscribe them.
    """
    import sys

    if "cv2" in sys.modules:
        sys.modules["cv2"].setNumThreads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)


def keep_list(item: list) -> list:
    """DataLoader ``collate_fn`` that hands the list of scenes over unchanged."""
    return item


def _flip_w(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    return torch.where(flip.view(-1, *([1] * (x.ndim - 1))), x.flip(-1), x)


def augment(
    batch: SynthBatch,
    generator: torch.Generator | None = None,
    flip_p: float = 0.5,
    jitter: float = 0.08,
) -> SynthBatch:
    """Random horizontal flips and slight colour jitter, on the batch's device.

    Flipping mirrors every map left-right and negates the normals' x component (the
    camera frame's +x points right). The jitter (brightness, contrast, saturation,
    each a factor in ``[1 - jitter, 1 + jitter]`` per sample) touches only the
    image: the targets describe geometry and the object's own colours.

    Args:
        batch: rendered samples (see :class:`SynthBatch`).
        generator: random source on the batch's device (``None``: the global one).
        flip_p: probability of flipping each sample.
        jitter: colour jitter amplitude (0 disables it).

    Returns:
        a new :class:`SynthBatch`; ``z_ref``, ``scale`` and ``fov`` are unchanged.
    """
    img = batch.image
    b, dev = img.shape[0], img.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device=dev)

    flip = rand(b) < flip_p
    normals = _flip_w(batch.normals, flip)
    sign = torch.tensor([-1.0, 1.0, 1.0], device=dev, dtype=normals.dtype).view(1, 3, 1, 1)
    normals = torch.where(flip.view(-1, 1, 1, 1), normals * sign, normals)
    image = _flip_w(img, flip)
    if jitter > 0:
        f = 1.0 + jitter * (2.0 * rand(3, b, 1, 1, 1) - 1.0)
        image = image * f[0]
        mean = image.mean(dim=(1, 2, 3), keepdim=True)
        image = mean + (image - mean) * f[1]
        grey = (image * torch.tensor([0.299, 0.587, 0.114], device=dev).view(1, 3, 1, 1)).sum(
            1, keepdim=True)
        image = (grey + (image - grey) * f[2]).clamp(0.0, 1.0)
    return SynthBatch(
        image=image,
        mask=_flip_w(batch.mask, flip),
        depth=_flip_w(batch.depth, flip),
        layer2=_flip_w(batch.layer2, flip),
        normals=normals,
        back_rgb=_flip_w(batch.back_rgb, flip),
        z_ref=batch.z_ref,
        scale=batch.scale,
        fov=batch.fov,
    )


def render_in_chunks(scenes: Sequence, size: int, device, chunk: int, ssaa: int = 1,
                     renderer: RenderFn | None = None) -> SynthBatch:
    """Render ``scenes`` ``chunk`` at a time (bounded memory) and concatenate."""
    import dataclasses

    render = renderer or render_fn()
    parts = [render(list(scenes[i:i + chunk]), size, device=device, ssaa=ssaa)
             for i in range(0, len(scenes), chunk)]
    if len(parts) == 1:
        return parts[0]
    return SynthBatch(**{f.name: torch.cat([getattr(p, f.name) for p in parts])
                         for f in dataclasses.fields(SynthBatch)})
