"""Frames, units and pixel conventions, written down once.

Every stage of lift3d follows these rules; nothing else in the package flips an axis
without naming the transform after them.

Images
    Arrays are row-major ``(H, W, C)``. Row 0 is the top of the picture. The pixel
    ``(u, v)`` = ``(column, row)`` has its *centre* at integer coordinates, so the
    top-left pixel covers ``[-0.5, 0.5] x [-0.5, 0.5]`` (the OpenCV convention).
    Colour arrays are float32 in ``[0, 1]``, sRGB-encoded (not linear), unless a
    docstring says ``uint8``. Masks and alpha are float32 in ``[0, 1]`` (1 = object).

Camera frame (``cam``)
    OpenCV: +x right, +y down, +z forward (away from the camera, into the scene).
    Depth is **z-depth**: the +z coordinate of the point in the camera frame, not the
    length of the ray. Two camera models exist (see :class:`lift3d.types.Camera`):

    * ``pinhole``: ``u = fx * x / z + cx``, ``v = fy * y / z + cy``.
    * ``orthographic``: ``u = fx * x + cx``, ``v = fy * y + cy`` (``fx`` in pixels per
      unit), used by the silhouette prior because a single photo carries no reliable
      focal length.

World / output frame (``world``)
    glTF 2.0: right-handed, +Y up, metres, the object's *front* (the side that faced the
    camera) towards +Z. Assets are placed with the base resting on ``y = 0`` and the
    bounding box centred on x and z. With a level camera, ``world_from_cam`` is a
    rotation of 180 degrees about x (``y_w = -y_c``, ``z_w = -z_c``) followed by a
    scale and a translation; see :data:`WORLD_FROM_CAM_ROTATION`.

Texture coordinates
    ``uv`` arrays use the OpenGL / trimesh convention: origin at the *bottom-left* of
    the texture image, ``u`` to the right, ``v`` up, both in ``[0, 1]``. The glTF
    exporter flips ``v`` where the file format wants a top-left origin.

Triangles
    Counter-clockwise seen from outside, so face normals point out of the solid and a
    closed mesh has positive volume.
"""

from __future__ import annotations

import numpy as np

#: Rotation taking camera-frame directions (OpenCV: x right, y down, z forward) to the
#: glTF world frame (x right, y up, z towards the viewer) for a level camera.
WORLD_FROM_CAM_ROTATION: np.ndarray = np.diag([1.0, -1.0, -1.0])
WORLD_FROM_CAM_ROTATION.setflags(write=False)

#: Size given to an asset when the user names none: its height in metres. Typical of
#: the tabletop products (mugs, shoes, toys, small appliances) single photos show.
DEFAULT_HEIGHT_M: float = 0.3

#: glTF's up axis, for readers who want it spelled out.
UP_AXIS: str = "+Y"
#: glTF's front axis: the side that faced the camera looks along +Z.
FRONT_AXIS: str = "+Z"
#: Output length unit.
UNIT: str = "metre"


def pixel_centers(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(u, v)`` of a ``width x height`` image.

    Returns two ``(height, width)`` float32 arrays: column and row of each centre.
    """
    u, v = np.meshgrid(
        np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    )
    return u, v


def world_from_cam_points(points_cam: np.ndarray) -> np.ndarray:
    """Rotate ``(N, 3)`` camera-frame points into the glTF axes (no scale, no offset)."""
    return np.asarray(points_cam, dtype=np.float64) @ WORLD_FROM_CAM_ROTATION.T
