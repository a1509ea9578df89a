"""CPU software renderer for previews of textured meshes.

No OpenGL: a z-buffered triangle rasteriser in vectorised numpy
(:mod:`lift3d.render.raster`), perspective-correct texture lookups, simple camera-space
lighting and 2x supersampling (:mod:`lift3d.render.view`), and contact sheets
(:mod:`lift3d.render.sheet`).

View conventions (glTF world frame, see :mod:`lift3d.render.camera`): the camera orbits
the bounding box's centre at ``(sin a cos e, sin e, cos a cos e)``, i.e. azimuth turns
it counter-clockwise about +Y seen from above. Azimuth 0 looks at the front (camera on
+Z), 90 from +X (labelled "right": the side on the viewer's right in the front view),
180 at the back, 270 from -X ("left"). Elevation raises the camera above the horizon.
Perspective, 30 degree field of view, framing the bounding sphere, so every view of one
mesh has the same scale.

Public API:

* :func:`render_view` -- one ``(size, size, 3)`` uint8 view.
* :func:`turntable_sheet` -- 2 x 2 sheet of front / right / back / left, captioned.
* :func:`write_preview` -- that sheet written atomically as a PNG.
* :func:`contact_sheet` -- a captioned grid of arbitrary images (benchmarks).
"""

from __future__ import annotations

from .camera import OrbitCamera, bounding_sphere, orbit_camera
from .raster import Fragments, rasterize
from .sheet import contact_sheet, turntable_sheet, view_name, write_preview
from .view import render_view

__all__ = [
    "Fragments",
    "OrbitCamera",
    "bounding_sphere",
    "contact_sheet",
    "orbit_camera",
    "rasterize",
    "render_view",
    "turntable_sheet",
    "view_name",
    "write_preview",
]
