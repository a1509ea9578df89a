"""Delivery presets: what a mesh must satisfy for the web, AR, games and 3-D printing.

Each preset is a small table (:class:`Preset`). ``lift3d check --preset NAME`` tests a
mesh against it; ``lift3d optimize --preset NAME`` makes a mesh satisfy it.

========  ==========  ===========  ==========  ============================================
preset    triangles   texture      file        also
========  ==========  ===========  ==========  ============================================
web       <= 50 000   <= 1024²     GLB <= 5 MB
ar        <= 100 000  one <= 2048² GLB, USDZ   real scale (a stated unit); GLB plus USDZ
game      <= 100 000  <= 2048²     GLB         LOD0..LOD2, even triangles (remeshed)
print     any         none         STL         one watertight manifold, millimetres
========  ==========  ===========  ==========  ============================================
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError

__all__ = ["PRESETS", "Preset", "get_preset"]


@dataclass(frozen=True)
class Preset:
    """What one delivery target asks of a mesh.

    Attributes:
        name: the preset's name.
        max_triangles: most triangles (LOD0), or None for no limit.
        max_texture: largest texture side in pixels, or None for no limit; ``0``
            means the target takes no textures at all.
        max_textures: most texture images (one base-colour set = 1), or None.
        max_file_bytes: largest main output file, or None.
        real_scale: the mesh must state a unit (real-world size).
        watertight: the mesh must be one closed manifold.
        single_component: the mesh must be one connected piece.
        lods: number of levels of detail written (1: LOD0 only).
        remesh: even (isotropic) triangles are wanted.
        formats: the files ``optimize`` writes, by extension, first one is the main.
        unit: the unit the output is written in (``"m"`` or ``"mm"``).
        description: one line for ``--help`` and reports.
    """

    name: str
    max_triangles: int | None
    max_texture: int | None
    max_textures: int | None
    max_file_bytes: int | None
    real_scale: bool
    watertight: bool
    single_component: bool
    lods: int
    remesh: bool
    formats: tuple[str, ...]
    unit: str
    description: str


PRESETS: dict[str, Preset] = {
    "web": Preset("web", 50_000, 1024, None, 5 * 1024 * 1024, False, False, False, 1,
                  False, (".glb",), "m",
                  "web viewers: <= 50k triangles, <= 1024 px textures, GLB <= 5 MB"),
    "ar": Preset("ar", 100_000, 2048, 1, None, True, False, False, 1, False,
                 (".glb", ".usdz"), "m",
                 "AR (Quick Look, Scene Viewer): <= 100k triangles, one <= 2048 px "
                 "texture set, real scale, GLB + USDZ"),
    "game": Preset("game", 100_000, 2048, None, None, False, False, False, 3, True,
                   (".glb",), "m",
                   "game engines: LOD0..LOD2, even triangles, <= 2048 px textures"),
    "print": Preset("print", None, 0, 0, None, True, True, True, 1, False, (".stl",), "mm",
                    "3-D printing: one watertight manifold STL in millimetres, no textures"),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``.

    Raises:
        InputError: naming ``preset`` and the valid names when there is none.
    """
    try:
        return PRESETS[str(name).lower()]
    except KeyError:
        raise InputError(f"preset: unknown preset {name!r}; choose one of "
                         f"{', '.join(PRESETS)}") from None
