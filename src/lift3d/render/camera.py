"""The orbit camera the preview renderer looks through.

Conventions (world frame = glTF, see :mod:`lift3d.conventions`):

* The camera orbits the centre of the mesh's bounding box on a sphere and always looks
  at that centre.
* ``azimuth`` turns the camera counter-clockwise about +Y as seen from above: the
  camera sits in the direction ``(sin a cos e, sin e, cos a cos e)`` from the centre.
  ``azimuth = 0`` looks at the object's front (camera on +Z, looking towards -Z);
  ``90`` puts the camera on +X, which shows the side that lies on the viewer's *right*
  in the front view (the object's own left, if it had a face); ``180`` shows the back;
  ``270`` from -X (the viewer's left in the front view).
* ``elevation`` lifts the camera above the horizon (degrees, positive = looking down).
* The image's "right" is always horizontal: ``right = (cos a, 0, -sin a)``, so the
  view stays upright at any elevation, even straight down.
* Perspective projection with a vertical and horizontal field of view of
  :data:`DEFAULT_FOV_DEG`; the distance is chosen so the bounding *sphere* fills the
  square image minus a small margin. Because the sphere does not depend on the view,
  every azimuth and elevation of one mesh shares the same scale.

Pixels follow the OpenCV convention of :mod:`lift3d.conventions`: pixel centres at
integer coordinates, row 0 at the top.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Full field of view of the preview camera, degrees (square images).
DEFAULT_FOV_DEG: float = 30.0
#: Projected radius of the bounding sphere is ``(size / 2) / DEFAULT_MARGIN`` pixels.
DEFAULT_MARGIN: float = 1.08


@dataclass(frozen=True)
class OrbitCamera:
    """A perspective pinhole camera looking at ``target`` (world frame, metres).

    Attributes:
        position: ``(3,)`` float64 camera centre in the world frame.
        right: ``(3,)`` float64 unit vector, image +u (to the right) in the world frame.
        up: ``(3,)`` float64 unit vector, image "up" (-v) in the world frame.
        forward: ``(3,)`` float64 unit vector the camera looks along.
        focal: focal length in pixels (same for u and v).
        center: principal point ``(size - 1) / 2`` in pixels (both axes).
        size: the image is ``size x size`` pixels.
    """

    position: np.ndarray
    right: np.ndarray
    up: np.ndarray
    forward: np.ndarray
    focal: float
    center: float
    size: int

    @property
    def rotation(self) -> np.ndarray:
        """``(3, 3)`` float64 rows ``right, up, -forward``: world directions to the
        OpenGL-style view frame (x right, y up, z towards the viewer)."""
        return np.stack([self.right, self.up, -self.forward])

    def to_view(self, points: np.ndarray) -> np.ndarray:
        """``(N, 3)`` world points to ``(N, 3)`` float64 ``(x_right, y_up, depth)``,
        ``depth`` the distance along ``forward`` (positive in front of the camera)."""
        d = np.asarray(points, dtype=np.float64) - self.position
        return np.stack([d @ self.right, d @ self.up, d @ self.forward], axis=1)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(N, 3)`` world points to ``(N, 2)`` float64 pixel ``(u, v)`` and ``(N,)``
        float64 depth. Points at or behind the camera get a tiny positive depth; callers
        drop triangles that touch them."""
        v = self.to_view(points)
        depth = v[:, 2]
        z = np.maximum(depth, 1e-9)
        uv = np.stack(
            [self.center + self.focal * v[:, 0] / z, self.center - self.focal * v[:, 1] / z],
            axis=1,
        )
        return uv, depth

    def pixel_rays(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Unnormalised world-frame ray directions through pixels ``(u, v)``.

        Args:
            u, v: float arrays of the same shape ``S`` (pixel coordinates).

        Returns:
            ``S + (3,)`` float32 directions (``forward`` component 1).
        """
        x = (np.asarray(u, dtype=np.float32) - self.center) / self.focal
        y = (self.center - np.asarray(v, dtype=np.float32)) / self.focal
        r, up, f = (a.astype(np.float32) for a in (self.right, self.up, self.forward))
        return x[..., None] * r + y[..., None] * up + f


def bounding_sphere(vertices: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre (the bounding box's centre) and radius of a sphere holding all vertices.

    Args:
        vertices: ``(V, 3)`` float positions, ``V >= 1``.

    Returns:
        ``((3,) float64 centre, radius)``; the radius is at least ``1e-6``.
    """
    v = np.asarray(vertices, dtype=np.float64)
    centre = 0.5 * (v.min(axis=0) + v.max(axis=0))
    radius = float(np.sqrt(((v - centre) ** 2).sum(axis=1).max()))
    return centre, max(radius, 1e-6)


def orbit_camera(
    centre: np.ndarray,
    radius: float,
    azimuth_deg: float,
    elevation_deg: float,
    size: int,
    fov_deg: float = DEFAULT_FOV_DEG,
    margin: float = DEFAULT_MARGIN,
) -> OrbitCamera:
    """The camera that frames the sphere ``(centre, radius)`` from the given direction.

    See the module docstring for the angle conventions. The distance ``D`` solves
    ``focal * radius / sqrt(D^2 - radius^2) = size / (2 * margin)``: the sphere's
    silhouette (a circle for a centred sphere) has radius ``size / (2 * margin)``.
    """
    a = math.radians(float(azimuth_deg))
    e = math.radians(float(elevation_deg))
    direction = np.array([math.sin(a) * math.cos(e), math.sin(e), math.cos(a) * math.cos(e)])
    right = np.array([math.cos(a), 0.0, -math.sin(a)])
    forward = -direction
    up = np.cross(right, forward)
    up /= np.linalg.norm(up)

    half = math.radians(fov_deg) / 2.0
    focal = (size / 2.0) / math.tan(half)
    distance = radius * math.sqrt(1.0 + (margin / math.tan(half)) ** 2)
    position = np.asarray(centre, dtype=np.float64) + distance * direction
    return OrbitCamera(
        position=position,
        right=right,
        up=up,
        forward=forward,
        focal=focal,
        center=(size - 1) / 2.0,
        size=int(size),
    )
