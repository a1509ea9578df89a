"""Data passed between the synthetic-data stages: shapes, scenes, rendered batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class SynthMesh:
    """A closed triangle mesh in the object frame, as the shape families make it.

    Attributes:
        vertices: ``(V, 3)`` float32, object frame: +Y up, +Z the object's front,
            centred on its bounding box, largest extent 1 (so inside
            ``[-0.5, 0.5]^3``), the base at ``y = min``.
        faces: ``(F, 3)`` int64, counter-clockwise seen from outside. Parts of an
            assembly may overlap; each part is closed on its own.
        part: ``(F,)`` int16 part index of each face (0 for single-part objects),
            used by two-tone and per-part colouring.
        family: name of the family (``"box"``, ``"revolve"``, ..., ``"shared:<name>"``).
    """

    vertices: np.ndarray
    faces: np.ndarray
    part: np.ndarray
    family: str

    def __post_init__(self) -> None:
        v, f, p = np.asarray(self.vertices), np.asarray(self.faces), np.asarray(self.part)
        if v.ndim != 2 or v.shape[1] != 3:
            raise ValueError(f"SynthMesh.vertices must be (V, 3), got {v.shape}")
        if f.ndim != 2 or f.shape[1] != 3:
            raise ValueError(f"SynthMesh.faces must be (F, 3), got {f.shape}")
        if p.shape != (f.shape[0],):
            raise ValueError(f"SynthMesh.part must be (F,), got {p.shape} for {f.shape[0]} faces")


@dataclass(frozen=True)
class Assets:
    """Real data the engine mixes in, prepared once from ``../shared/data``.

    Attributes:
        meshes: name -> :class:`SynthMesh` (family ``"shared:<name>"``), normalised like
            every family and decimated to at most a few thousand faces.
        hdris: name -> ``(h, w, 3)`` float32 *linear* radiance, equirectangular
            (row 0 = straight up, +Y; column 0 = azimuth -pi, increasing towards +pi,
            azimuth measured from +Z towards +X), downsampled to ``w = 128``.
        eval_meshes: names in ``meshes`` held out for evaluation only.
        eval_hdris: names in ``hdris`` held out for evaluation only.
    """

    meshes: dict[str, SynthMesh]
    hdris: dict[str, np.ndarray]
    eval_meshes: tuple[str, ...]
    eval_hdris: tuple[str, ...]

    def names(self, kind: str, split: str) -> tuple[str, ...]:
        """Sorted names of ``kind`` (``"meshes"`` or ``"hdris"``) usable in ``split``."""
        pool = self.meshes if kind == "meshes" else self.hdris
        held = set(self.eval_meshes if kind == "meshes" else self.eval_hdris)
        if split == "eval":
            return tuple(sorted(n for n in pool if n in held))
        return tuple(sorted(n for n in pool if n not in held))


@dataclass(frozen=True)
class SynthBatch:
    """Rendered training samples with exact per-pixel ground truth (torch tensors).

    ``B`` samples of ``S x S`` pixels; every tensor lives on one device. Depths are
    normalised as :mod:`lift3d.shape.netio` defines (``(z - z_ref) / s``), so the
    layout matches the network's output channel for channel.

    Attributes:
        image: ``(B, 3, S, S)`` float32 sRGB in ``[0, 1]``: the photo-like render.
        mask: ``(B, 1, S, S)`` float32 in ``[0, 1]``: pixel coverage of the object.
        depth: ``(B, 4, S, S)`` float32: first entry, first exit, second entry, second
            exit (normalised). Entries without a hit hold 0.
        layer2: ``(B, 1, S, S)`` float32 in {0, 1}: the ray enters a second time.
        normals: ``(B, 3, S, S)`` float32 unit normals at the first entry, camera
            frame (OpenCV axes: +x right, +y down, +z forward); 0 off the object.
        back_rgb: ``(B, 3, S, S)`` float32 sRGB in ``[0, 1]``: the shaded colour of
            the surface where the ray first leaves the object; 0 off the object.
        z_ref: ``(B,)`` float32 median front z-depth (scene units).
        scale: ``(B,)`` float32 crop half-width at ``z_ref`` (scene units).
        fov: ``(B,)`` float32 the crop's full field of view, radians.
    """

    image: torch.Tensor
    mask: torch.Tensor
    depth: torch.Tensor
    layer2: torch.Tensor
    normals: torch.Tensor
    back_rgb: torch.Tensor
    z_ref: torch.Tensor
    scale: torch.Tensor
    fov: torch.Tensor

    def to(self, device) -> SynthBatch:
        """The same batch with every tensor moved to ``device``."""
        import dataclasses

        return SynthBatch(**{f.name: getattr(self, f.name).to(device)
                             for f in dataclasses.fields(self)})
