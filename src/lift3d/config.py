"""Options of :func:`lift3d.reconstruct`, validated once at the boundary."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from .errors import InputError

UVMode = Literal["projective", "atlas", "xatlas"]


@dataclass(frozen=True)
class Config:
    """Everything the single-photo pipeline can be told.

    Attributes:
        segment: segmentation backend: ``"auto"`` (alpha if the photo has one, else
            ``"classical"``), ``"alpha"``, ``"classical"`` or ``"file"`` (needs
            ``mask_path``).
        mask_path: a mask image (white = object) for ``segment="file"``.
        shape: shape backend; ``"prior"`` is the silhouette-inflation prior.
        thickness: depth of the object as a fraction of its silhouette's local width
            (1.0 gives round cross-sections, e.g. a sphere from a disc).
        resolution: side of the square crop the shape and mesh stages work at, pixels.
        faces: target triangle count after decimation.
        texture_size: side of the base-colour texture, pixels.
        uv: ``"projective"`` (seamless; texture = the photo, mirrored on the back),
            ``"atlas"`` (box charts packed by xatlas; baked) or ``"xatlas"`` (full xatlas
            unwrap; slowest).
        height, width, depth: real size in metres of one bounding-box side. At most one
            may be set; with none, ``height = conventions.DEFAULT_HEIGHT_M``.
        max_pixels: decompression-bomb guard: images with more pixels are refused.
        max_side: images are downscaled so their longer side is at most this.
        metallic, roughness: PBR constants of the material.
    """

    segment: str = "auto"
    mask_path: str | None = None
    shape: str = "prior"
    thickness: float = 0.8
    resolution: int = 192
    faces: int = 20000
    texture_size: int = 1024
    uv: UVMode = "projective"
    height: float | None = None
    width: float | None = None
    depth: float | None = None
    max_pixels: int = 150_000_000
    max_side: int = 2048
    metallic: float = 0.0
    roughness: float = 0.7

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> InputError:
            return InputError(f"{name}: {why} (got {getattr(self, name)!r})")

        if self.segment not in ("auto", "alpha", "classical", "file"):
            raise bad("segment", "must be one of auto, alpha, classical, file")
        if self.segment == "file" and not self.mask_path:
            raise bad("mask_path", "segment='file' needs a mask file")
        if not (0.05 <= self.thickness <= 4.0):
            raise bad("thickness", "must be between 0.05 and 4")
        if not (32 <= self.resolution <= 512):
            raise bad("resolution", "must be between 32 and 512")
        if not (100 <= self.faces <= 2_000_000):
            raise bad("faces", "must be between 100 and 2,000,000")
        if self.texture_size not in (128, 256, 512, 1024, 2048, 4096):
            raise bad("texture_size", "must be a power of two from 128 to 4096")
        if self.uv not in ("projective", "atlas", "xatlas"):
            raise bad("uv", "must be projective, atlas or xatlas")
        sizes = [n for n in ("height", "width", "depth") if getattr(self, n) is not None]
        if len(sizes) > 1:
            raise InputError(f"give at most one of height, width, depth (got {', '.join(sizes)})")
        for n in sizes:
            v = getattr(self, n)
            if not (isinstance(v, (int, float)) and 1e-4 <= v <= 1e4):
                raise bad(n, "must be a size in metres between 0.0001 and 10000")
        if self.max_pixels < 1 or self.max_side < 64:
            raise bad("max_side", "must be at least 64")
        if not (0.0 <= self.metallic <= 1.0):
            raise bad("metallic", "must be in [0, 1]")
        if not (0.0 <= self.roughness <= 1.0):
            raise bad("roughness", "must be in [0, 1]")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
