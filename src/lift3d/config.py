"""Options of :func:`lift3d.reconstruct`, validated once at the boundary."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Literal

from .errors import InputError

UVMode = Literal["projective", "atlas", "xatlas", "two-sided"]

#: Values of :attr:`Config.uv`.
UV_MODES: tuple[str, ...] = ("projective", "atlas", "xatlas", "two-sided")


@dataclass(frozen=True)
class Config:
    """Everything the single-photo pipeline can be told.

    Attributes:
        segment: segmentation backend: ``"auto"`` (alpha if the photo has one, else
            ``"classical"``), ``"alpha"``, ``"classical"``, ``"file"`` (needs
            ``mask_path``), ``"learned"`` (the shape network's mask), ``"isnet"``
            (the optional ISNet model), or any name in
            :data:`lift3d.segment.BACKENDS`.
        mask_path: a mask image (white = object) for ``segment="file"``.
        shape: shape backend, a name in :data:`lift3d.shape.BACKENDS`: ``"learned"``
            (default) the shipped shape network, ``"prior"`` the silhouette-inflation
            prior (the fallback; it needs no weights).
        model_path: the shape network's ONNX file for ``shape="learned"`` and
            ``segment="learned"`` (default: the one shipped in the package).
        thickness: for ``shape="prior"``: depth of the object as a fraction of its
            silhouette's local width (1.0 gives round cross-sections, e.g. a sphere
            from a disc). The learned backend predicts depth and ignores it.
        resolution: side of the square crop the shape and mesh stages work at, pixels.
        faces: target triangle count after decimation.
        texture_size: side of the base-colour texture, pixels.
        uv: ``"projective"`` (seamless; texture = the photo, mirrored on the back),
            ``"atlas"`` (box charts packed by xatlas; baked), ``"xatlas"`` (full xatlas
            unwrap; slowest) or ``"two-sided"`` (a front and a back projective chart;
            the back shows the learned backend's back colour). The atlas and
            two-sided modes split vertices along seams in the file.
        height, width, depth: real size in metres of one bounding-box side. At most one
            may be set; with none, ``height = conventions.DEFAULT_HEIGHT_M``.
        max_pixels: decompression-bomb guard: images with more pixels are refused.
        max_side: images are downscaled so their longer side is at most this.
        metallic, roughness: PBR constants of the material.
    """

    segment: str = "auto"
    mask_path: str | None = None
    shape: str = "learned"
    model_path: str | None = None
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

        # Backends are validated against the registries, imported only here so that
        # importing lift3d stays light.
        from .segment import BACKENDS as SEGMENT_BACKENDS
        from .shape import BACKENDS as SHAPE_BACKENDS

        segments = sorted({"auto", *SEGMENT_BACKENDS})
        if self.segment not in segments:
            raise bad("segment", f"must be one of {', '.join(segments)}")
        if self.shape not in SHAPE_BACKENDS:
            raise bad("shape", f"must be one of {', '.join(sorted(SHAPE_BACKENDS))}")
        if self.model_path is not None:
            if not isinstance(self.model_path, (str, os.PathLike)) or not str(self.model_path):
                raise bad("model_path", "must be a path to an .onnx file")
            object.__setattr__(self, "model_path", os.fspath(self.model_path))
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
        if self.uv not in UV_MODES:
            raise bad("uv", f"must be one of {', '.join(UV_MODES)}")
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
