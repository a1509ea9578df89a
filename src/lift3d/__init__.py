"""lift3d: photos to production-ready 3D assets, on a CPU.

The main entry point is :func:`reconstruct`: one photo in, a watertight, textured,
real-scale mesh out. Frames and units are fixed in :mod:`lift3d.conventions`.
"""

from __future__ import annotations

from .config import Config
from .errors import InputError, Lift3DError, MissingExtraError, NoObjectError, OutputError
from .types import (
    Camera,
    Crop,
    LayeredDepth,
    Material,
    Mesh,
    MeshAsset,
    Photo,
    Result,
    Segmentation,
    StageTiming,
    TexturedMesh,
)

__version__ = "0.1.0"

__all__ = [
    "Camera",
    "Config",
    "Crop",
    "InputError",
    "LayeredDepth",
    "Lift3DError",
    "Material",
    "Mesh",
    "MeshAsset",
    "MissingExtraError",
    "NoObjectError",
    "OutputError",
    "Photo",
    "Result",
    "Segmentation",
    "StageTiming",
    "TexturedMesh",
    "reconstruct",
    "__version__",
]


def reconstruct(image, config: Config | None = None, progress=None) -> Result:
    """One photo to a watertight, textured, real-scale mesh.

    Args:
        image: a path, or an ``(H, W, 3|4)`` array (uint8, uint16 or float in [0, 1]).
        config: options; ``Config()`` when omitted.
        progress: optional callback ``progress(stage: str, fraction: float)``, called
            as each stage starts (fraction of stages done) and once at the end with
            ``("done", 1.0)``.

    Returns:
        a :class:`Result` with the mesh (glTF frame, metres) and the intermediates.

    Raises:
        InputError: the image or an option is unusable.
        NoObjectError: no object was found in the photo.
    """
    from .pipeline import reconstruct as _reconstruct

    return _reconstruct(image, config, progress)
