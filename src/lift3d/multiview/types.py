"""Data passed between the stages of the photogrammetry pipeline.

Frames follow :mod:`lift3d.conventions`: cameras are OpenCV (+x right, +y down, +z
forward), pixel centres at integer coordinates, depth is z-depth. ``world`` here is the
SfM frame (arbitrary origin, rotation and scale) until the pipeline's last step moves
the mesh into glTF axes and metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _frozen(a: np.ndarray, dtype) -> np.ndarray:
    a = np.array(a, dtype=dtype, copy=True, order="C")
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class View:
    """One registered, undistorted pinhole view.

    Attributes:
        name: image file name (unique within a reconstruction).
        K: ``(3, 3)`` float64 intrinsics in pixels of an image ``width x height``.
        cam_from_world: ``(3, 4)`` float64 ``[R | t]``: ``x_cam = R @ x_world + t``.
        width, height: image size in pixels that ``K`` refers to.
    """

    name: str
    K: np.ndarray
    cam_from_world: np.ndarray
    width: int
    height: int

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=np.float64)
        T = np.asarray(self.cam_from_world, dtype=np.float64)
        if K.shape != (3, 3):
            raise ValueError(f"View.K must be (3, 3), got {K.shape}")
        if T.shape != (3, 4):
            raise ValueError(f"View.cam_from_world must be (3, 4), got {T.shape}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"View size must be positive, got {self.width}x{self.height}")
        object.__setattr__(self, "K", _frozen(K, np.float64))
        object.__setattr__(self, "cam_from_world", _frozen(T, np.float64))

    @property
    def R(self) -> np.ndarray:
        """``(3, 3)`` rotation of ``cam_from_world``."""
        return self.cam_from_world[:, :3]

    @property
    def t(self) -> np.ndarray:
        """``(3,)`` translation of ``cam_from_world``."""
        return self.cam_from_world[:, 3]

    @property
    def center(self) -> np.ndarray:
        """``(3,)`` camera centre in world coordinates."""
        return -self.R.T @ self.t

    @property
    def axis(self) -> np.ndarray:
        """``(3,)`` unit viewing direction (+z of the camera) in world coordinates."""
        return self.R[2].copy()

    def to_cam(self, points_world: np.ndarray) -> np.ndarray:
        """``(N, 3)`` world points to the camera frame."""
        return np.asarray(points_world, dtype=np.float64) @ self.R.T + self.t

    def project(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points to pixels: ``(uv (N, 2) float64, z (N,) float64)``.

        Points behind the camera (``z <= 0``) get ``uv = nan``.
        """
        pc = self.to_cam(points_world)
        z = pc[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = (pc[:, :2] / z[:, None]) @ self.K[:2, :2].T + self.K[:2, 2]
        uv[z <= 0] = np.nan
        return uv, z

    def unproject(self, u: np.ndarray, v: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Pixels with z-depth to world points, shape ``(..., 3)``."""
        fx, fy, cx, cy = self.K[0, 0], self.K[1, 1], self.K[0, 2], self.K[1, 2]
        z = np.asarray(depth, dtype=np.float64)
        x = (np.asarray(u, dtype=np.float64) - cx) / fx * z
        y = (np.asarray(v, dtype=np.float64) - cy) / fy * z
        pc = np.stack(np.broadcast_arrays(x, y, z), axis=-1)
        return (pc - self.t) @ self.R

    def scaled(self, width: int, height: int) -> View:
        """The same view for the image resampled to ``width x height``.

        Pixel centres map as ``u' = (u + 0.5) * sx - 0.5``.
        """
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0, 0] *= sx
        K[1, 1] *= sy
        K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
        K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
        return View(self.name, K, self.cam_from_world, width, height)


def cam_from_world_looking_at(center, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """``(3, 4)`` float64 ``cam_from_world`` of a camera at ``center`` looking at
    ``target`` with world ``up`` towards the top of the image (OpenCV frame: camera -y
    along ``up``). ``up`` must not be parallel to the viewing direction."""
    c = np.asarray(center, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - c
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=np.float64))
    n = np.linalg.norm(x)
    if n < 1e-12:
        raise ValueError("cam_from_world_looking_at: up is parallel to the viewing direction")
    x /= n
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return np.column_stack([R, -R @ c])
