"""Frozen dataclasses passed between the stages of the pipeline.

The data flow of ``lift3d.reconstruct``::

    Photo --segment--> Segmentation --crop--> Crop --shape--> LayeredDepth
          --mesh--> Mesh --texture--> TexturedMesh --export--> files

Frames and units follow :mod:`lift3d.conventions`. Arrays are numpy arrays; the
dataclasses are frozen so a stage cannot mutate what another stage handed it (the
arrays themselves are marked read-only where the constructor owns them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

CameraModel = Literal["pinhole", "orthographic"]


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class Photo:
    """A decoded photo, oriented upright (EXIF applied), possibly downscaled.

    Attributes:
        rgb: ``(H, W, 3)`` float32 in ``[0, 1]``, sRGB-encoded, row 0 at the top.
        alpha: ``(H, W)`` float32 in ``[0, 1]`` from the file's alpha channel, or
            ``None`` when the file has none (or it is fully opaque).
        source: the path it was read from, or ``"<array>"``.
        original_size: ``(width, height)`` in pixels of the decoded file after EXIF
            orientation, before any downscaling.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    source: str
    original_size: tuple[int, int]

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def scale(self) -> float:
        """Working width over original width (1.0 when not downscaled)."""
        return self.width / float(self.original_size[0])


@dataclass(frozen=True)
class Segmentation:
    """The object's soft mask over a :class:`Photo`.

    Attributes:
        alpha: ``(H, W)`` float32 in ``[0, 1]`` at the photo's resolution; 1 = object.
        backend: name of the backend that produced it (``"alpha"``, ``"classical"``,
            ``"file"``...).
    """

    alpha: np.ndarray
    backend: str

    @property
    def binary(self) -> np.ndarray:
        """``(H, W)`` bool: ``alpha >= 0.5``."""
        return self.alpha >= 0.5


@dataclass(frozen=True)
class Crop:
    """A square window around the object, resampled for the shape and texture stages.

    Attributes:
        rgb: ``(S, S, 3)`` float32 in ``[0, 1]``. Outside the photo's bounds the crop
            is filled with edge colours.
        alpha: ``(S, S)`` float32 in ``[0, 1]``; zero outside the photo's bounds.
        box: ``(x0, y0, x1, y1)`` of the window in the photo's pixel coordinates
            (pixel-centre convention). It may extend past the photo's edges.
    """

    rgb: np.ndarray
    alpha: np.ndarray
    box: tuple[float, float, float, float]

    @property
    def size(self) -> int:
        return int(self.rgb.shape[0])

    def resized(self, size: int) -> Crop:
        """This crop resampled to ``size x size`` (area filter down, linear up)."""
        import cv2

        if size == self.size:
            return self
        interp = cv2.INTER_AREA if size < self.size else cv2.INTER_LINEAR
        rgb = cv2.resize(self.rgb, (size, size), interpolation=interp)
        alpha = cv2.resize(self.alpha, (size, size), interpolation=interp)
        return Crop(rgb=np.clip(rgb, 0, 1), alpha=np.clip(alpha, 0, 1), box=self.box)


@dataclass(frozen=True)
class Camera:
    """Intrinsics of the camera that sees a :class:`LayeredDepth` (OpenCV frame).

    Attributes:
        model: ``"pinhole"`` or ``"orthographic"`` (see :mod:`lift3d.conventions`).
        fx, fy: focal lengths in pixels (pinhole) or pixels per unit (orthographic).
        cx, cy: principal point in pixels, pixel-centre convention.
        width, height: image size in pixels.
    """

    model: CameraModel
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.model not in ("pinhole", "orthographic"):
            raise ValueError(
                f"Camera.model must be 'pinhole' or 'orthographic', got {self.model!r}"
            )
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(
                f"Camera focal lengths must be positive, got fx={self.fx}, fy={self.fy}"
            )

    @classmethod
    def orthographic_square(cls, size: int, half_extent: float = 1.0) -> Camera:
        """An orthographic camera whose ``size x size`` image spans
        ``[-half_extent, half_extent]`` in x and y (pixel edges, not centres)."""
        f = size / (2.0 * half_extent)
        c = (size - 1) / 2.0
        return cls("orthographic", f, f, c, c, size, size)

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """``(N, 3)`` camera-frame points to ``(N, 2)`` pixel coordinates ``(u, v)``."""
        p = np.asarray(points_cam, dtype=np.float64)
        if self.model == "orthographic":
            x, y = p[:, 0], p[:, 1]
        else:
            z = np.where(np.abs(p[:, 2]) < 1e-12, 1e-12, p[:, 2])
            x, y = p[:, 0] / z, p[:, 1] / z
        return np.stack([self.fx * x + self.cx, self.fy * y + self.cy], axis=1)

    def unproject(self, u: np.ndarray, v: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Pixels ``(u, v)`` with z-depth to camera-frame points, shape ``(..., 3)``."""
        u = np.asarray(u, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        z = np.asarray(depth, dtype=np.float64)
        x = (u - self.cx) / self.fx
        y = (v - self.cy) / self.fy
        if self.model == "pinhole":
            x, y = x * z, y * z
        return np.stack(np.broadcast_arrays(x, y, z), axis=-1)


@dataclass(frozen=True)
class LayeredDepth:
    """Where each camera ray enters and leaves the object: the shape stage's output.

    Attributes:
        camera: the camera the depth maps are seen by.
        mask: ``(H, W)`` float32 in ``[0, 1]``: soft silhouette at the camera's
            resolution (>= 0.5 means the ray hits the object).
        front: ``(H, W)`` float32 z-depth (camera frame, +z forward, object units)
            where the ray enters the object. Only meaningful where ``mask >= 0.5``.
        back: ``(H, W)`` float32 z-depth where the ray leaves the object;
            ``back >= front`` inside the mask.
        units_per_metre: how many depth units make one metre, or ``None`` when the
            scale is unknown (the exporter then applies the requested size).
        front2, back2: optional ``(H, W)`` float32 z-depths of a second entry and exit
            of the same ray (a handle behind the body, the far side of a ring);
            ``back <= front2 <= back2`` where finite, NaN where the ray does not
            re-enter. Both or neither are given.
        back_rgb: optional ``(H, W, 3)`` float32 sRGB in ``[0, 1]``: colour of the
            surface where the ray first leaves the object (the unseen back), valid
            inside the mask.
        normals: optional ``(H, W, 3)`` float32 camera-frame unit normals of the
            surface where the ray enters (OpenCV axes; facing the camera means
            ``z < 0``), valid inside the mask.
    """

    camera: Camera
    mask: np.ndarray
    front: np.ndarray
    back: np.ndarray
    units_per_metre: float | None = None
    front2: np.ndarray | None = None
    back2: np.ndarray | None = None
    back_rgb: np.ndarray | None = None
    normals: np.ndarray | None = None

    def __post_init__(self) -> None:
        shape = (self.camera.height, self.camera.width)
        for name in ("mask", "front", "back"):
            a = getattr(self, name)
            if a.shape != shape:
                raise ValueError(f"LayeredDepth.{name} has shape {a.shape}, camera wants {shape}")
        if (self.front2 is None) != (self.back2 is None):
            raise ValueError("LayeredDepth.front2 and back2 must be given together")
        for name, want in (("front2", shape), ("back2", shape), ("back_rgb", shape + (3,)),
                           ("normals", shape + (3,))):
            a = getattr(self, name)
            if a is not None and np.shape(a) != want:
                raise ValueError(
                    f"LayeredDepth.{name} has shape {np.shape(a)}, camera wants {want}")

    @property
    def has_layer2(self) -> bool:
        """Whether some ray enters the object a second time (finite ``front2``)."""
        if self.front2 is None or self.back2 is None:
            return False
        return bool((np.isfinite(self.front2) & np.isfinite(self.back2)
                     & (self.mask >= 0.5)).any())

    @property
    def thickness(self) -> np.ndarray:
        """``(H, W)`` float32: ``back - front`` inside the mask, 0 outside."""
        inside = self.mask >= 0.5
        return np.where(inside, self.back - self.front, 0.0).astype(np.float32)


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh: the meshing stage's output.

    Attributes:
        vertices: ``(V, 3)`` float64 positions. The frame is named by the producer:
            the meshing stage emits the *camera* frame in object units.
        faces: ``(F, 3)`` int64 vertex indices, counter-clockwise from outside.
    """

    vertices: np.ndarray
    faces: np.ndarray

    def __post_init__(self) -> None:
        v, f = np.asarray(self.vertices), np.asarray(self.faces)
        if v.ndim != 2 or v.shape[1] != 3:
            raise ValueError(f"Mesh.vertices must be (V, 3), got {v.shape}")
        if f.ndim != 2 or f.shape[1] != 3:
            raise ValueError(f"Mesh.faces must be (F, 3), got {f.shape}")

    def to_trimesh(self):
        import trimesh

        return trimesh.Trimesh(self.vertices, self.faces, process=False)


@dataclass(frozen=True)
class Material:
    """glTF metallic-roughness constants (multiplied with any texture)."""

    metallic: float = 0.0
    roughness: float = 0.7
    base_color_factor: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    name: str = "lift3d_material"


@dataclass(frozen=True)
class TexturedMesh:
    """A textured mesh in the output frame: glTF axes, metres, base on ``y = 0``.

    Vertices carry one UV each. With the default projective UVs no vertex needs
    duplicating, so ``vertices``/``faces`` stay welded and watertight; an atlas UV
    mode splits vertices along chart seams, and then ``welded_index`` maps each
    vertex to its welded original so watertight geometry can be recovered.

    Attributes:
        vertices: ``(V, 3)`` float32, metres, glTF frame.
        faces: ``(F, 3)`` int32, counter-clockwise from outside.
        normals: ``(V, 3)`` float32 unit vertex normals.
        uv: ``(V, 2)`` float32 in ``[0, 1]``, origin at the bottom-left of the texture.
        texture: ``(T, T, 3)`` uint8 sRGB base colour, row 0 at the top of the image.
        material: the PBR constants.
        welded_index: ``(V,)`` int64 index of each vertex in the welded geometry.
        welded_vertex_count: number of distinct welded vertices.
    """

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    uv: np.ndarray
    texture: np.ndarray
    material: Material = field(default_factory=Material)
    welded_index: np.ndarray | None = None
    welded_vertex_count: int | None = None

    def welded(self) -> Mesh:
        """The watertight geometry (seam-split vertices merged back), in this frame."""
        if self.welded_index is None:
            return Mesh(self.vertices.astype(np.float64), self.faces.astype(np.int64))
        n = int(self.welded_vertex_count or (self.welded_index.max() + 1))
        verts = np.zeros((n, 3), dtype=np.float64)
        verts[self.welded_index] = self.vertices
        return Mesh(verts, self.welded_index[self.faces].astype(np.int64))

    def vertex_colors(self) -> np.ndarray:
        """``(V, 3)`` uint8 colours sampled from the texture at each vertex's UV."""
        t = self.texture
        h, w = t.shape[:2]
        x = np.clip(np.round(self.uv[:, 0] * w - 0.5), 0, w - 1).astype(np.int64)
        y = np.clip(np.round((1.0 - self.uv[:, 1]) * h - 0.5), 0, h - 1).astype(np.int64)
        return t[y, x, :3]

    @property
    def bounds(self) -> np.ndarray:
        """``(2, 3)`` float64: min and max corner in metres."""
        v = np.asarray(self.vertices, dtype=np.float64)
        return np.stack([v.min(axis=0), v.max(axis=0)])


#: Length units a mesh file may state, in metres per unit.
UNITS: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254, "ft": 0.3048}


@dataclass(frozen=True)
class MeshAsset:
    """Any triangle mesh as a file holds it: the currency of ``lift3d check``,
    ``repair`` and ``optimize`` (:mod:`lift3d.quality`), whatever tool made it.

    Attributes:
        vertices: ``(V, 3)`` float64 positions in the file's units and axes (metres and
            glTF axes, +Y up, when ``unit == "m"`` and ``up_axis == "Y"``).
        faces: ``(F, 3)`` int64 vertex indices; winding as the file has it (may be
            inconsistent: that is what ``check`` reports).
        uv: ``(V, 2)`` float32 texture coordinates, origin at the bottom-left of the
            texture (as :class:`TexturedMesh`), or None. Values outside ``[0, 1]`` are
            kept (``check`` reports them).
        texture: ``(H, W, 3)`` or ``(H, W, 4)`` uint8 base-colour image, row 0 at the
            top, or None.
        vertex_colors: ``(V, 4)`` uint8 RGBA per vertex, or None.
        unit: the length unit the file states (a key of :data:`UNITS`; glTF and GLB
            always state metres), or None when the format has none (OBJ, PLY, STL, OFF).
        up_axis: ``"Y"`` or ``"Z"`` when the file states it (glTF: ``"Y"``), else None.
        texture_sizes: ``(width, height)`` of every texture image in the file (a file
            may have several; ``texture`` is the base colour of the first material).
        material: PBR constants of the first material.
        file_bytes: size of the file and its side files (MTL, textures), 0 if not
            loaded from disk.
        source: the path it was loaded from ("" for meshes made in memory).
    """

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray | None = None
    texture: np.ndarray | None = None
    vertex_colors: np.ndarray | None = None
    unit: str | None = None
    up_axis: str | None = None
    texture_sizes: tuple[tuple[int, int], ...] = ()
    material: Material = field(default_factory=Material)
    file_bytes: int = 0
    source: str = ""

    def __post_init__(self) -> None:
        v, f = np.asarray(self.vertices), np.asarray(self.faces)
        if v.ndim != 2 or v.shape[1] != 3:
            raise ValueError(f"MeshAsset.vertices must be (V, 3), got {v.shape}")
        if f.ndim != 2 or (f.size and f.shape[1] != 3):
            raise ValueError(f"MeshAsset.faces must be (F, 3), got {f.shape}")
        for name, width in (("uv", 2), ("vertex_colors", 4)):
            a = getattr(self, name)
            if a is not None and np.shape(a) != (len(v), width):
                raise ValueError(f"MeshAsset.{name} must be ({len(v)}, {width}), "
                                 f"got {np.shape(a)}")
        if self.unit is not None and self.unit not in UNITS:
            raise ValueError(f"MeshAsset.unit must be one of {sorted(UNITS)} or None, "
                             f"got {self.unit!r}")

    @property
    def metres_per_unit(self) -> float | None:
        """Metres per file unit, or None when the file states no unit."""
        return None if self.unit is None else UNITS[self.unit]

    def mesh(self) -> Mesh:
        """The bare geometry."""
        return Mesh(np.asarray(self.vertices, np.float64), np.asarray(self.faces, np.int64))

    @classmethod
    def from_textured(cls, mesh: TexturedMesh, source: str = "") -> MeshAsset:
        """The pipeline's output as an asset: metres, glTF axes (+Y up)."""
        t = np.asarray(mesh.texture)
        return cls(np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64),
                   uv=np.asarray(mesh.uv, np.float32), texture=t, unit="m", up_axis="Y",
                   texture_sizes=((int(t.shape[1]), int(t.shape[0])),),
                   material=mesh.material, source=source)


@dataclass(frozen=True)
class StageTiming:
    """How long one stage took, in seconds of wall time."""

    name: str
    seconds: float


@dataclass(frozen=True)
class Result:
    """What :func:`lift3d.reconstruct` returns.

    Attributes:
        mesh: the textured, real-scale mesh in the glTF frame.
        photo, segmentation, crop, layered_depth: the intermediate products, for
            inspection, previews and debugging.
        timings: per-stage wall-clock timings, in pipeline order.
        watertight: whether the welded geometry is closed and manifold.
        report: when a delivery preset was applied
            (:func:`lift3d.pipeline.image_to_file`), the check of the written main file
            against it (a :class:`lift3d.quality.MeshReport`); else None.
    """

    mesh: TexturedMesh
    photo: Photo
    segmentation: Segmentation
    crop: Crop
    layered_depth: LayeredDepth
    timings: tuple[StageTiming, ...]
    watertight: bool
    report: Any = None

    @property
    def total_seconds(self) -> float:
        return float(sum(t.seconds for t in self.timings))
