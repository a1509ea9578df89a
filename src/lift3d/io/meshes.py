"""Read any triangle-mesh file into a :class:`~lift3d.types.MeshAsset`, as the file has it.

Supported (by extension, case-insensitive):

==================  ======================================================================
``.glb, .gltf``     glTF 2.0 (a ``.gltf`` may reference external ``.bin`` and images);
                    metres, +Y up; the scene graph's transforms are baked in.
``.obj``            Wavefront OBJ with its ``.mtl`` and base-colour image (``map_Kd``), and
                    OBJ vertex colours (``v x y z r g b``). Own parser: every ``v`` line
                    becomes a vertex, referenced or not, in file order.
``.ply``            ASCII or binary PLY: faces or triangle strips, vertex colours, UVs.
``.stl``            ASCII or binary STL (a triangle soup: three vertices per facet).
``.off``            OFF / COFF (vertex colours) / NOFF.
``.usdz .usda       USD through usd-core (the ``usd`` extra); ``metersPerUnit`` gives the
.usdc .usd``        unit, a Z-up stage is rotated to +Y up.
==================  ======================================================================

Vertices and faces are kept as the file has them: no vertex is merged (``lift3d check``
must see duplicated and unreferenced vertices). Vertices are split only where the
format itself needs it for per-vertex UVs: an OBJ ``v`` or a USD point used with more
than one UV gets one copy per UV. Polygons are fan-triangulated.

Colours are uint8 as stored in the file; glTF ``COLOR_0`` values are taken as they
are (the common trimesh convention, sRGB-like values) rather than converted from
linear. UVs have their origin at the bottom-left of the texture; the texture's row 0
is the top of the image.
"""

from __future__ import annotations

import io
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, one_line, require
from ..types import UNITS, Material, MeshAsset

__all__ = ["DEFAULT_MAX_FACES", "SUPPORTED_MESH_EXTENSIONS", "load_mesh"]

logger = logging.getLogger(__name__)

#: Extensions :func:`load_mesh` reads.
SUPPORTED_MESH_EXTENSIONS: tuple[str, ...] = (
    ".glb", ".gltf", ".obj", ".ply", ".stl", ".off", ".usdz", ".usda", ".usdc", ".usd")

#: Refuse meshes with more triangles than this (memory guard).
DEFAULT_MAX_FACES = 20_000_000

_TEXTURE_KEYS = ("map_kd", "map_ka", "map_ks", "map_ns", "map_d", "map_bump", "bump",
                 "norm", "map_pr", "map_pm", "map_ke", "disp")


@dataclass
class _Part:
    """One piece of geometry before concatenation (file frame, after transforms)."""

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray | None = None
    colors: np.ndarray | None = None  # (V, 4) uint8
    texture: np.ndarray | None = None
    material: Material | None = None


@dataclass
class _Loaded:
    """What a format reader hands back to :func:`load_mesh`."""

    parts: list[_Part]
    unit: str | None = None
    up_axis: str | None = None
    texture_sizes: list[tuple[int, int]] = field(default_factory=list)
    side_files: set[Path] = field(default_factory=set)


def load_mesh(path: str | os.PathLike[str], max_faces: int = DEFAULT_MAX_FACES) -> MeshAsset:
    """Read a mesh file into a :class:`MeshAsset` without changing its topology.

    Args:
        path: a ``.glb``, ``.gltf``, ``.obj``, ``.ply``, ``.stl``, ``.off``, ``.usdz``,
            ``.usda``, ``.usdc`` or ``.usd`` file. Side files (MTL, images, ``.bin``)
            are looked up relative to it.
        max_faces: refuse files with more triangles than this (after triangulation).

    Returns:
        The asset: float64 vertices in the file's units (glTF: metres, +Y up; USD:
        rotated to +Y up when the stage is Z-up), int64 faces, UVs, the first
        material's base-colour texture, vertex colours, unit, up axis, the sizes of all
        textures, and the size in bytes of the file and the side files it read.

    Raises:
        InputError: missing or empty file, unsupported extension, unparsable content,
            no triangles (e.g. a point cloud), non-finite coordinates, face indices
            out of range, or more than ``max_faces`` triangles. The message starts with
            ``path:``.
        MissingExtraError: a USD file without usd-core installed.
    """
    p = Path(os.fspath(path)).expanduser()
    if not isinstance(max_faces, int | np.integer) or max_faces < 1:
        raise InputError(f"max_faces: must be a positive integer, got {max_faces!r}")
    ext = p.suffix.lower()
    if ext not in SUPPORTED_MESH_EXTENSIONS:
        raise InputError(f"path: unsupported mesh extension '{p.suffix}' ({p}); "
                         f"supported: {', '.join(SUPPORTED_MESH_EXTENSIONS)}")
    if not p.exists():
        raise InputError(f"path: file not found: {p}")
    if p.is_dir():
        raise InputError(f"path: {p} is a directory, not a mesh file")
    if p.stat().st_size == 0:
        raise InputError(f"path: {p} is empty (0 bytes)")

    reader = {".glb": _read_trimesh, ".gltf": _read_trimesh, ".ply": _read_ply,
              ".stl": _read_trimesh, ".obj": _read_obj, ".off": _read_off}.get(ext, _read_usd)
    try:
        loaded = reader(p, max_faces)
    except InputError:
        raise
    except ImportError:
        raise
    except Exception as exc:  # parsers raise anything on malformed input
        raise InputError(f"path: cannot parse {p} as {ext[1:].upper()}: {one_line(exc)}") from exc
    return _assemble(p, loaded, max_faces)


# ----------------------------------------------------------------------------- assembly


def _check_faces(p: Path, n_faces: int, max_faces: int) -> None:
    if n_faces > max_faces:
        raise InputError(f"path: {p} has {n_faces} triangles, more than max_faces="
                         f"{max_faces}; decimate it first or raise the limit")


def _assemble(p: Path, loaded: _Loaded, max_faces: int) -> MeshAsset:
    parts = [q for q in loaded.parts if len(q.faces)]
    if not parts:
        what = "no faces (a point cloud?)" if any(len(q.vertices) for q in loaded.parts) \
            else "no triangles"
        raise InputError(f"path: {p} has {what}; lift3d needs a triangle mesh")
    n_faces = sum(len(q.faces) for q in parts)
    _check_faces(p, n_faces, max_faces)

    # Every vertex of every part with faces (its unreferenced vertices included); parts
    # without faces (glTF points) are not part of the surface.
    parts_all = parts
    offsets = np.cumsum([0] + [len(q.vertices) for q in parts_all])
    vertices = np.concatenate([np.asarray(q.vertices, np.float64) for q in parts_all])
    faces = np.concatenate([np.asarray(q.faces, np.int64).reshape(-1, 3) + off
                            for q, off in zip(parts_all, offsets[:-1], strict=True)])
    if not np.isfinite(vertices).all():
        bad = int((~np.isfinite(vertices)).any(axis=1).sum())
        raise InputError(f"path: {p} has {bad} vertices with NaN or infinite coordinates")
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise InputError(f"path: {p} has face indices out of range: they must lie in "
                         f"[0, {len(vertices)}), got [{faces.min()}, {faces.max()}]")

    textured = [q for q in parts_all if q.texture is not None and q.uv is not None]
    texture = textured[0].texture if textured else None
    if any(not np.array_equal(q.texture, texture) for q in textured[1:]):
        logger.warning("%s: parts use different textures; keeping the first, so the other "
                       "parts' UVs now point into it", p)
    uv = None
    if any(q.uv is not None for q in parts_all):
        uv = np.concatenate([
            np.asarray(q.uv, np.float32) if q.uv is not None
            else np.zeros((len(q.vertices), 2), np.float32) for q in parts_all])
    colors = None
    if any(q.colors is not None for q in parts_all):
        colors = np.concatenate([
            np.asarray(q.colors, np.uint8) if q.colors is not None
            else np.full((len(q.vertices), 4), 255, np.uint8) for q in parts_all])
    material = next((q.material for q in parts_all if q.material is not None), Material())

    file_bytes = p.stat().st_size + sum(
        s.stat().st_size for s in loaded.side_files if s.is_file() and s != p)
    asset = MeshAsset(
        vertices=vertices, faces=faces, uv=uv, texture=texture, vertex_colors=colors,
        unit=loaded.unit, up_axis=loaded.up_axis,
        texture_sizes=tuple((int(w), int(h)) for w, h in loaded.texture_sizes),
        material=material, file_bytes=int(file_bytes), source=str(p))
    logger.info("loaded %s: %d vertices, %d faces%s%s", p, len(vertices), len(faces),
                ", textured" if texture is not None else "",
                ", vertex colours" if colors is not None else "")
    return asset


def _rgba8(colors: np.ndarray) -> np.ndarray:
    """``(V, 3|4)`` colours (uint8, or floats in [0, 1]) to ``(V, 4)`` uint8."""
    c = np.asarray(colors)
    if c.dtype.kind == "f":
        c = np.clip(np.round(np.nan_to_num(c) * 255.0), 0, 255)
    elif c.dtype.itemsize > 1 and c.size and c.max() > 255:
        c = c / 257.0  # 16-bit colours
    c = c.astype(np.uint8)
    if c.shape[1] == 3:
        c = np.concatenate([c, np.full((len(c), 1), 255, np.uint8)], axis=1)
    return np.ascontiguousarray(c[:, :4])


def _image_array(image) -> np.ndarray:
    """A Pillow image to ``(H, W, 3|4)`` uint8, row 0 at the top."""
    im = image
    if im.mode not in ("RGB", "RGBA"):
        has_alpha = "A" in im.mode or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def _read_image(path: Path) -> np.ndarray | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            return _image_array(im)
    except (OSError, ValueError) as exc:
        logger.warning("cannot read texture %s: %s", path, one_line(exc))
        return None


def _image_size(path: Path) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError):
        return None


def fan_triangulate(counts: np.ndarray) -> np.ndarray:
    """Corner-index triangles of polygons given by their corner counts.

    Args:
        counts: ``(P,)`` int corners per polygon; the corners of polygon ``i`` are
            ``sum(counts[:i]) + 0 .. counts[i]-1``. Polygons with fewer than 3 corners
            give no triangle.

    Returns:
        ``(T, 3)`` int64 corner indices, ``T = sum(max(counts - 2, 0))``; polygon ``i``
        gives the fan ``(c0, c_k, c_k+1)``, in polygon order.
    """
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(counts) else counts
    ntri = np.maximum(counts - 2, 0)
    if len(counts) and (counts == 3).all():
        return starts[:, None] + np.arange(3)
    poly = np.repeat(np.arange(len(counts)), ntri)
    k = np.arange(int(ntri.sum())) - np.repeat(np.cumsum(ntri) - ntri, ntri)
    s = starts[poly]
    return np.stack([s, s + k + 1, s + k + 2], axis=1)


def _split_by_uv(v_corner: np.ndarray, t_corner: np.ndarray, n_vertices: int,
                 n_uv: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One vertex per distinct (position, UV) pair, keeping the original vertices.

    Each original vertex keeps its slot (with its first UV); a vertex used with a
    second UV gets a copy appended at the end. ``t_corner`` is -1 where a corner has
    no UV.

    Returns:
        ``(vertex_source (V',), uv_source (V',) with -1 for none, corner_vertex (C,))``.
    """
    key = v_corner.astype(np.int64) * (n_uv + 1) + (t_corner.astype(np.int64) + 1)
    uniq, inverse = np.unique(key, return_inverse=True)
    pv, pt = uniq // (n_uv + 1), uniq % (n_uv + 1) - 1
    first = np.ones(len(uniq), dtype=bool)
    first[1:] = pv[1:] != pv[:-1]
    slot = np.empty(len(uniq), dtype=np.int64)
    slot[first] = pv[first]
    extra = int((~first).sum())
    slot[~first] = n_vertices + np.arange(extra)
    vertex_source = np.concatenate([np.arange(n_vertices), pv[~first]])
    uv_source = np.full(n_vertices, -1, dtype=np.int64)
    uv_source[pv[first]] = pt[first]
    uv_source = np.concatenate([uv_source, pt[~first]])
    return vertex_source, uv_source, slot[inverse.ravel()]


def _gather_uv(uv_values: np.ndarray, uv_source: np.ndarray) -> np.ndarray:
    uv = np.zeros((len(uv_source), 2), dtype=np.float32)
    has = uv_source >= 0
    uv[has] = np.asarray(uv_values, np.float32)[uv_source[has], :2]
    return uv


# ------------------------------------------------------------------------------ trimesh


class _Recorder:
    """Wraps a trimesh resolver and remembers which side files it served."""

    def __init__(self, base: Path, files: set[Path]) -> None:
        import trimesh

        self._inner = trimesh.resolvers.FilePathResolver(str(base))
        self._base = base.parent
        self._files = files

    def get(self, name: str) -> bytes:
        data = self._inner.get(name)
        self._files.add((self._base / name).resolve())
        return data

    def __getitem__(self, name: str) -> bytes:
        return self.get(name)

    def __getattr__(self, item):
        return getattr(self._inner, item)


def _trimesh_scene(p: Path, side: set[Path], **kwargs):
    import trimesh

    resolver = _Recorder(p, side)
    with open(p, "rb") as fh:
        loaded = trimesh.load(fh, file_type=p.suffix.lower()[1:], resolver=resolver,
                              process=False, **kwargs)
    return loaded


def _material_of(visual) -> tuple[Material | None, np.ndarray | None]:
    """lift3d material and base-colour image of a trimesh visual, if it has one."""
    from trimesh.visual.material import PBRMaterial, SimpleMaterial

    mat = getattr(visual, "material", None)
    if mat is None:
        return None, None
    if isinstance(mat, SimpleMaterial):
        mat = mat.to_pbr()
    if not isinstance(mat, PBRMaterial):
        return None, None
    factor = mat.baseColorFactor
    factor = (1.0, 1.0, 1.0, 1.0) if factor is None else tuple(
        float(c) / 255.0 for c in np.asarray(factor, dtype=np.float64).ravel()[:4])
    material = Material(
        metallic=float(1.0 if mat.metallicFactor is None else mat.metallicFactor),
        roughness=float(1.0 if mat.roughnessFactor is None else mat.roughnessFactor),
        base_color_factor=factor, name=str(mat.name or "material"))
    tex = mat.baseColorTexture
    return material, (None if tex is None else _image_array(tex))


def _material_images(visual) -> list:
    mat = getattr(visual, "material", None)
    if mat is None:
        return []
    names = ("baseColorTexture", "normalTexture", "emissiveTexture", "occlusionTexture",
             "metallicRoughnessTexture", "image")
    return [img for n in names if (img := getattr(mat, n, None)) is not None]


def _part_from_trimesh(geom, transform: np.ndarray | None) -> _Part:
    v = np.asarray(geom.vertices, dtype=np.float64)
    f = np.asarray(geom.faces, dtype=np.int64).reshape(-1, 3)
    if transform is not None and not np.allclose(transform, np.eye(4)):
        v = v @ transform[:3, :3].T + transform[:3, 3]
        if np.linalg.det(transform[:3, :3]) < 0:
            f = f[:, ::-1]  # a mirroring transform turns the winding (glTF rule)
    visual = geom.visual
    uv = colors = texture = material = None
    if visual is not None and visual.kind == "texture":
        material, texture = _material_of(visual)
        if visual.uv is not None and len(visual.uv) == len(v):
            uv = np.asarray(visual.uv, np.float32)
        extra = getattr(visual, "vertex_attributes", {}).get("color")
        if extra is not None and len(extra) == len(v):
            colors = _rgba8(np.asarray(extra))
    elif visual is not None and visual.kind == "vertex":
        colors = _rgba8(np.asarray(visual.vertex_colors))
    return _Part(v, f, uv, colors, texture, material)


def _read_trimesh(p: Path, max_faces: int) -> _Loaded:
    """glTF, GLB and STL through trimesh (``process=False``: nothing merged)."""
    import trimesh

    ext = p.suffix.lower()
    if ext == ".stl":
        _precheck_stl(p, max_faces)
    side: set[Path] = set()
    scene = _trimesh_scene(p, side)
    if isinstance(scene, trimesh.Scene):
        items = []
        for node in scene.graph.nodes_geometry:
            transform, name = scene.graph[node]
            items.append((scene.geometry[name], np.asarray(transform, np.float64)))
    else:
        items = [(scene, None)]
    parts, images = [], {}
    for geom, transform in items:
        if isinstance(geom, trimesh.Trimesh):
            parts.append(_part_from_trimesh(geom, transform))
            for img in _material_images(geom.visual):
                images[id(img)] = img.size
        elif isinstance(geom, trimesh.PointCloud):
            parts.append(_Part(np.asarray(geom.vertices, np.float64),
                               np.zeros((0, 3), np.int64)))
    gltf = ext in (".glb", ".gltf")
    return _Loaded(parts, unit="m" if gltf else None, up_axis="Y" if gltf else None,
                   texture_sizes=list(images.values()), side_files=side)


def _precheck_stl(p: Path, max_faces: int) -> None:
    """Refuse a binary STL over ``max_faces`` before reading it."""
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(84)
    if len(head) == 84:
        n = int(np.frombuffer(head[80:84], "<u4")[0])
        if 84 + 50 * n == size:
            _check_faces(p, n, max_faces)
            return
    if not head.lstrip().lower().startswith(b"solid"):
        raise InputError(f"path: {p} is not an STL file: not ASCII (no 'solid' line) and "
                         f"its size does not match a binary STL's triangle count")


# ---------------------------------------------------------------------------------- PLY


_PLY_FACES = re.compile(rb"element\s+(face|tristrips)\s+(\d+)")


def _read_ply(p: Path, max_faces: int) -> _Loaded:
    with open(p, "rb") as fh:
        head = fh.read(4096)
    if not head.startswith(b"ply"):
        raise InputError(f"path: {p} is not a PLY file (no 'ply' magic line)")
    m = _PLY_FACES.search(head.split(b"end_header")[0])
    if m and m.group(1) == b"face":
        _check_faces(p, int(m.group(2)), max_faces)
    side: set[Path] = set()
    loaded = _trimesh_scene(p, side)
    parts: list[_Part]
    if hasattr(loaded, "faces") and len(loaded.faces):
        parts = [_part_from_trimesh(loaded, None)]
    else:
        raw = loaded.metadata.get("_ply_raw", {})
        strips = raw.get("tristrips")
        verts = np.asarray(loaded.vertices, np.float64)
        faces = np.zeros((0, 3), np.int64)
        if strips is not None:
            faces = _strips_to_faces(strips["data"]["vertex_indices"])
        colors = None
        props = raw.get("vertex", {}).get("properties", {})
        if "red" in props and "green" in props and "blue" in props:
            data = raw["vertex"]["data"]
            names = ["red", "green", "blue"] + (["alpha"] if "alpha" in props else [])
            colors = _rgba8(np.stack([np.asarray(data[n]).ravel() for n in names], axis=1))
        parts = [_Part(verts, faces, colors=colors)]
    images = []
    for q in parts:
        if q.texture is not None:
            images.append((q.texture.shape[1], q.texture.shape[0]))
    return _Loaded(parts, texture_sizes=images, side_files=side)


def _strips_to_faces(data) -> np.ndarray:
    """PLY ``tristrips`` (index lists, -1 restarts a strip) to ``(F, 3)`` triangles."""
    if data.dtype.names:  # trimesh's (count, indices) record for a single fixed list
        flat = np.concatenate([np.asarray(r[1]).ravel() for r in data])
    else:
        flat = np.concatenate([np.asarray(r).ravel() for r in data]) if len(data) \
            else np.zeros(0, np.int64)
    flat = flat.astype(np.int64)
    if len(flat) < 3:
        return np.zeros((0, 3), np.int64)
    i = np.arange(len(flat) - 2)
    # Position of each index within its strip (a negative index restarts the strip).
    start = np.maximum.accumulate(np.where(flat < 0, np.arange(len(flat)) + 1, 0))
    tri = np.stack([flat[:-2], flat[1:-1], flat[2:]], axis=1)
    valid = (tri >= 0).all(axis=1)
    odd = (i - start[i]) % 2 == 1
    tri[odd] = tri[odd][:, [1, 0, 2]]  # every other triangle of a strip is reversed
    f = tri[valid]
    # Strips pad with repeated indices to turn corners; those triangles are not faces.
    keep = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    return f[keep]


# ---------------------------------------------------------------------------------- OFF


def _read_off(p: Path, max_faces: int) -> _Loaded:
    text = p.read_text(encoding="utf-8", errors="replace")
    lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise InputError(f"path: {p} is empty")
    first = lines[0].split()
    keyword = first[0].upper()
    if not keyword.endswith("OFF"):
        raise InputError(f"path: {p} is not an OFF file (first line {lines[0][:20]!r})")
    has_color = "C" in keyword[:-3]
    has_normal = "N" in keyword[:-3]
    has_uv = "ST" in keyword[:-3]
    rest = first[1:]
    line_i = 1
    if not rest:
        rest = lines[1].split()
        line_i = 2
    nv, nf = int(rest[0]), int(rest[1])
    _check_faces(p, nf, max_faces)
    vlines = lines[line_i: line_i + nv]
    flines = lines[line_i + nv: line_i + nv + nf]
    if len(vlines) < nv or len(flines) < nf:
        raise InputError(f"path: {p} is truncated: header says {nv} vertices and {nf} "
                         f"faces, found {len(vlines)} and {len(flines)}")
    rows = [ln.split() for ln in vlines]
    width = 3 + 3 * has_normal
    v = np.array([r[:3] for r in rows], dtype=np.float64).reshape(-1, 3)
    colors = None
    if has_color:
        c = [r[width:width + 4] for r in rows]
        c = [x + ["1" if "." in "".join(x) else "255"] * (4 - len(x)) for x in c]
        arr = np.array(c, dtype=np.float64)
        colors = _rgba8(arr / 255.0 if arr.max() > 1.0 else arr)
    uv = None
    if has_uv:
        off = width + 4 * has_color
        uv = np.array([r[off:off + 2] for r in rows], dtype=np.float32)
    ftok = [ln.split() for ln in flines]
    counts = np.array([int(t[0]) for t in ftok], dtype=np.int64)
    flat = np.array([x for t, n in zip(ftok, counts, strict=True) for x in t[1:1 + n]],
                    dtype=np.int64)
    if len(flat) != counts.sum():
        raise InputError(f"path: {p} has face lines with fewer indices than they announce")
    faces = flat[fan_triangulate(counts)] if len(flat) else np.zeros((0, 3), np.int64)
    return _Loaded([_Part(v, faces, colors=colors, uv=uv)])


# ---------------------------------------------------------------------------------- OBJ


def _obj_floats(rows: list[str], p: Path, what: str) -> np.ndarray:
    """Rows of numbers (prefix already stripped) to a 2-D float array, padding short rows."""
    if not rows:
        return np.zeros((0, 3))
    try:
        text = "\n".join(rows)
        arr = np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=2)
        return arr
    except ValueError:
        split = [r.split() for r in rows]
        width = max(len(s) for s in split)
        try:
            return np.array([[float(x) for x in s] + [np.nan] * (width - len(s))
                             for s in split])
        except ValueError as exc:
            raise InputError(f"path: {p} has a malformed '{what}' line: {exc}") from exc


def _obj_corners(tokens: list[str], p: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``v``, ``v/vt``, ``v//vn`` or ``v/vt/vn`` tokens to (v, vt) raw indices (vt 0 = none)."""
    if not tokens:
        return np.zeros(0, np.int64), None
    # Fast path: every corner written the same way as the first one.
    first = tokens[0]
    joined = " ".join(tokens)
    slashes = first.count("/")
    double = "//" in first
    if joined.count("/") == slashes * len(tokens) and (
            not double or joined.count("//") == len(tokens)):
        fields = (joined.replace("//", " ") if double else joined.replace("/", " ")).split()
        width = slashes + 1 - double
        if len(fields) == width * len(tokens):
            try:
                arr = np.array(fields, dtype=np.int64).reshape(-1, width)
            except ValueError:
                arr = None
            if arr is not None:
                has_vt = slashes >= 1 and not double
                return arr[:, 0].copy(), (arr[:, 1].copy() if has_vt else None)
    v = np.empty(len(tokens), dtype=np.int64)
    vt = np.zeros(len(tokens), dtype=np.int64)
    t = ""
    try:
        for i, t in enumerate(tokens):
            parts = t.split("/")
            v[i] = int(parts[0])
            if len(parts) > 1 and parts[1]:
                vt[i] = int(parts[1])
    except ValueError as exc:
        raise InputError(f"path: {p} has a malformed face index {t!r}") from exc
    return v, (vt if vt.any() else None)


def _obj_starts(text: str, keyword: str) -> np.ndarray:
    """Character offsets of the lines whose first word is ``keyword``."""
    pattern = re.compile(rf"^[ \t]*{keyword}[ \t]", flags=re.M)  # rare: negative indices
    return np.fromiter((m.start() for m in pattern.finditer(text)), dtype=np.int64)


def _obj_index(raw: np.ndarray, count_before: np.ndarray | None, p: Path,
               what: str) -> np.ndarray:
    """1-based (or, with ``count_before``, negative relative) OBJ indices to 0-based."""
    if (raw == 0).any():
        raise InputError(f"path: {p} has a {what} index 0 (OBJ indices start at 1)")
    if count_before is None:
        return raw - 1
    return np.where(raw > 0, raw - 1, count_before + raw)


def _token_counts(rows: list[str]) -> np.ndarray:
    """``(len(rows),)`` int64 number of whitespace-separated tokens in each row."""
    if not rows:
        return np.zeros(0, np.int64)
    b = np.frombuffer("\n".join(rows).encode("utf-8"), dtype=np.uint8)
    newline = b == 10
    token = ~(newline | (b == 32) | (b == 9) | (b == 13))
    start = token.copy()
    start[1:] &= ~token[:-1]
    row = np.searchsorted(np.flatnonzero(newline), np.flatnonzero(start))
    return np.bincount(row, minlength=len(rows)).astype(np.int64)


def _read_obj(p: Path, max_faces: int) -> _Loaded:
    text = p.read_text(encoding="utf-8", errors="replace").replace("\\\n", " ")
    lines = text.splitlines()
    if text[:1] in (" ", "\t") or "\n " in text or "\n\t" in text:
        lines = [ln.lstrip() for ln in lines]
    v_rows = [ln[2:] for ln in lines if ln[:2] in ("v ", "v\t")]
    vt_rows = [ln[3:] for ln in lines if ln[:3] in ("vt ", "vt\t")]
    f_rows = [ln[2:] for ln in lines if ln[:2] in ("f ", "f\t")]
    mtllibs: list[str] = []
    used: list[str] = []
    if "mtllib" in text:  # a scan of the rare keywords only when they occur at all
        mtllibs = [ln[6:].strip() for ln in lines if ln[:7] in ("mtllib ", "mtllib\t")]
        used = list(dict.fromkeys(ln[6:].strip() for ln in lines
                                  if ln[:7] in ("usemtl ", "usemtl\t")))
    del lines
    tokens = " ".join(f_rows).split()
    counts = _token_counts(f_rows)
    counts_a = np.asarray(counts, dtype=np.int64)
    _check_faces(p, int(np.maximum(counts_a - 2, 0).sum()), max_faces)

    vdata = _obj_floats(v_rows, p, "v")
    if vdata.shape[1] < 3:
        raise InputError(f"path: {p} has 'v' lines with fewer than 3 coordinates")
    vertices = vdata[:, :3]
    colors = None
    if vdata.shape[1] >= 6:
        rgb = vdata[:, 3:6] if vdata.shape[1] in (6, 7) else vdata[:, 4:7]
        if vdata.shape[1] == 7 and np.isnan(vdata[:, 6]).all():
            rgb = vdata[:, 3:6]
        rgb = np.where(np.isnan(rgb), 1.0, rgb)
        colors = _rgba8(rgb / 255.0 if rgb.max() > 1.0 else rgb)

    v_raw, vt_raw = _obj_corners(tokens, p)
    corner_face = np.repeat(np.arange(len(counts_a)), counts_a)
    v_before = vt_before = None
    if (v_raw < 0).any() or (vt_raw is not None and (vt_raw < 0).any()):
        # Negative indices count back from the face's line: find where each line is.
        v_before, vt_before = (np.searchsorted(_obj_starts(text, kw), _obj_starts(text, "f"))
                               [corner_face] for kw in ("v", "vt"))
    v_idx = _obj_index(v_raw, v_before, p, "vertex")
    tri = fan_triangulate(counts_a)
    if v_idx.size and (v_idx.min() < 0 or v_idx.max() >= len(vertices)):
        raise InputError(f"path: {p} has face indices out of range: the file defines "
                         f"{len(vertices)} vertices, faces use "
                         f"[{v_raw.min()}, {v_raw.max()}] (1-based)")

    side: set[Path] = set()
    materials, images = _read_mtls(p, mtllibs, side)
    first_name = next((n for n in used if n in materials), None)
    if first_name is None and materials:
        first_name = next(iter(materials))
    material, texture = (materials[first_name] if first_name else (None, None))
    if sum(materials[n][1] is not None for n in used if n in materials) > 1:
        logger.warning("%s: several materials have textures; keeping %r's, so the faces of "
                       "the others now sample it", p, first_name)

    uv = None
    if vt_raw is not None and vt_rows:
        vt_vals = _obj_floats(vt_rows, p, "vt")
        has = vt_raw != 0
        vt_idx = np.full(len(vt_raw), -1, dtype=np.int64)
        vt_idx[has] = _obj_index(vt_raw[has], None if vt_before is None else vt_before[has],
                                 p, "texture")
        if vt_idx.max() >= len(vt_vals) or vt_idx[has].min() < 0:
            raise InputError(f"path: {p} has texture indices out of range: the file defines "
                             f"{len(vt_vals)} 'vt' lines")
        vsrc, tsrc, corner_vertex = _split_by_uv(v_idx, vt_idx, len(vertices), len(vt_vals))
        if len(vsrc) > len(vertices):
            logger.debug("%s: %d vertices split for their UVs", p, len(vsrc) - len(vertices))
        vertices = vertices[vsrc]
        colors = None if colors is None else colors[vsrc]
        uv = _gather_uv(np.nan_to_num(vt_vals), tsrc)
        faces = corner_vertex[tri] if len(tri) else np.zeros((0, 3), np.int64)
    else:
        faces = v_idx[tri] if len(tri) else np.zeros((0, 3), np.int64)
    return _Loaded([_Part(vertices, faces, uv=uv, colors=colors, texture=texture,
                          material=material)],
                   texture_sizes=images, side_files=side)


_MAP_OPTIONS = {"-blendu": 1, "-blendv": 1, "-bm": 1, "-boost": 1, "-cc": 1, "-clamp": 1,
                "-imfchan": 1, "-mm": 2, "-o": 3, "-s": 3, "-t": 3, "-texres": 1, "-type": 1}


def _map_file(args: str) -> str:
    """The file name of a ``map_*`` statement, its options skipped."""
    toks = args.split()
    i = 0
    while i < len(toks) and toks[i].lower() in _MAP_OPTIONS:
        n = _MAP_OPTIONS[toks[i].lower()]
        i += 1
        taken = 0
        while taken < n and i < len(toks) - 1:
            try:
                float(toks[i])
            except ValueError:
                if taken:  # optional trailing numbers of -o/-s/-t
                    break
            i += 1
            taken += 1
    return " ".join(toks[i:])


def _find_side(base: Path, name: str) -> Path | None:
    name = name.strip().strip('"').replace("\\", "/")
    for cand in (base / name, base / Path(name).name):
        if cand.is_file():
            return cand.resolve()
    return None


def _read_mtls(p: Path, libs: list[str], side: set[Path]
               ) -> tuple[dict[str, tuple[Material, np.ndarray | None]], list[tuple[int, int]]]:
    """Materials of the MTL libraries (name -> (material, base-colour image))."""
    out: dict[str, tuple[Material, np.ndarray | None]] = {}
    sizes: dict[Path, tuple[int, int]] = {}
    for lib in libs:
        mtl = _find_side(p.parent, lib)
        if mtl is None:
            logger.warning("%s: material library %r not found; loading without it", p, lib)
            continue
        side.add(mtl)
        entries: dict[str, dict[str, str]] = {}
        name = None
        for line in mtl.read_text(encoding="utf-8", errors="replace").splitlines():
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            key, _, rest = s.partition(" ")
            key = key.lower()
            if key == "newmtl":
                name = rest.strip()
                entries[name] = {}
            elif name is not None:
                entries[name][key] = rest.strip()
        for name, e in entries.items():
            kd = [float(x) for x in e.get("kd", "1 1 1").split()[:3]] or [1.0, 1.0, 1.0]
            alpha = float(e["d"].split()[-1]) if "d" in e else (
                1.0 - float(e["tr"].split()[-1]) if "tr" in e else 1.0)
            texture = None
            for key in _TEXTURE_KEYS:
                if key not in e:
                    continue
                img = _find_side(mtl.parent, _map_file(e[key]))
                if img is None:
                    logger.warning("%s: texture %r of material %r not found", mtl, e[key], name)
                    continue
                side.add(img)
                if img not in sizes and (size := _image_size(img)) is not None:
                    sizes[img] = size
                if key == "map_kd":
                    texture = _read_image(img)
            if texture is not None:
                kd = [1.0, 1.0, 1.0] if "kd" not in e else kd
            material = Material(
                metallic=float(e.get("pm", "0").split()[0]),
                roughness=float(e.get("pr", "0.7").split()[0]),
                base_color_factor=(*(float(np.clip(c, 0, 1)) for c in (kd + [1, 1, 1])[:3]),
                                   float(np.clip(alpha, 0, 1))),
                name=name or "material")
            out.setdefault(name, (material, texture))
    return out, list(sizes.values())


# ---------------------------------------------------------------------------------- USD


def _nearest_unit(metres_per_unit: float) -> str | None:
    for name, mpu in UNITS.items():
        if abs(mpu - metres_per_unit) <= 1e-6 * mpu:
            return name
    return None


def _read_usd(p: Path, max_faces: int) -> _Loaded:
    require("pxr", "usd", "reading USD files")
    from pxr import Usd, UsdGeom

    stage = Usd.Stage.Open(str(p))
    if stage is None:
        raise InputError(f"path: cannot open {p} as USD")
    mpu = float(UsdGeom.GetStageMetersPerUnit(stage))  # USD's fallback is 0.01 (cm)
    up = str(UsdGeom.GetStageUpAxis(stage)).upper()
    parts: list[_Part] = []
    texture_paths: dict[str, tuple[int, int]] = {}
    n_faces = 0
    time = Usd.TimeCode.Default()
    for prim in Usd.PrimRange(stage.GetPseudoRoot(), Usd.TraverseInstanceProxies()):
        if prim.IsA(UsdGeom.Mesh):
            if UsdGeom.Imageable(prim).ComputePurpose() == UsdGeom.Tokens.guide:
                continue
            part = _usd_mesh(UsdGeom.Mesh(prim), time)
            n_faces += len(part.faces)
            _check_faces(p, n_faces, max_faces)
            parts.append(part)
        elif prim.GetTypeName() == "Shader":
            _usd_texture_size(prim, texture_paths)

    unit = _nearest_unit(mpu)
    if unit is None:
        logger.info("%s: metersPerUnit %g is none of %s: converted to metres",
                    p, mpu, ", ".join(UNITS))
        for q in parts:
            q.vertices = q.vertices * mpu
        unit = "m"
    if up == "Z":
        # Z-up to Y-up: a rotation of -90 degrees about X, (x, y, z) -> (x, z, -y).
        logger.info("%s: USD stage is Z-up; rotated to +Y up", p)
        for q in parts:
            q.vertices = np.stack([q.vertices[:, 0], q.vertices[:, 2], -q.vertices[:, 1]], 1)
    return _Loaded(parts, unit=unit, up_axis="Y", texture_sizes=list(texture_paths.values()))


def _usd_texture_size(prim, sizes: dict[str, tuple[int, int]]) -> None:
    from pxr import UsdShade

    shader = UsdShade.Shader(prim)
    if shader.GetIdAttr().Get() != "UsdUVTexture":
        return
    inp = shader.GetInput("file")
    asset = inp.Get() if inp else None
    if asset is None or not asset.resolvedPath or asset.resolvedPath in sizes:
        return
    image = _usd_image(asset.resolvedPath)
    if image is not None:
        sizes[asset.resolvedPath] = (image.shape[1], image.shape[0])


def _usd_image(resolved: str) -> np.ndarray | None:
    """Decode an image USD resolved (also inside a .usdz package)."""
    from PIL import Image
    from pxr import Ar

    try:
        asset = Ar.GetResolver().OpenAsset(Ar.ResolvedPath(resolved))
        if asset is None:
            return None
        data = bytes(asset.GetBuffer())
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return _image_array(im)
    except Exception as exc:  # noqa: BLE001 - a bad texture must not stop the load
        logger.warning("cannot read USD texture %s: %s", resolved, one_line(exc))
        return None


def _usd_mesh(mesh, time) -> _Part:
    from pxr import UsdGeom

    points = np.asarray(mesh.GetPointsAttr().Get(time) or [], dtype=np.float64).reshape(-1, 3)
    counts = np.asarray(mesh.GetFaceVertexCountsAttr().Get(time) or [], dtype=np.int64)
    indices = np.asarray(mesh.GetFaceVertexIndicesAttr().Get(time) or [], dtype=np.int64)
    if counts.sum() != len(indices):
        raise InputError(f"path: USD mesh {mesh.GetPath()} has {len(indices)} face vertex "
                         f"indices but its counts add up to {int(counts.sum())}")
    tri = fan_triangulate(counts)
    if mesh.GetOrientationAttr().Get(time) == UsdGeom.Tokens.leftHanded:
        tri = tri[:, ::-1]
    xf = np.asarray(mesh.ComputeLocalToWorldTransform(time), dtype=np.float64)
    # USD matrices act on row vectors: p' = p @ M.
    if not np.allclose(xf, np.eye(4)):
        points = points @ xf[:3, :3] + xf[3, :3]
        if np.linalg.det(xf[:3, :3]) < 0:
            tri = tri[:, ::-1]
    n_points = len(points)
    api = UsdGeom.PrimvarsAPI(mesh)

    colors = None
    dc = api.GetPrimvar("displayColor")
    if dc and dc.HasAuthoredValue():
        vals = np.asarray(dc.ComputeFlattened(time), dtype=np.float64).reshape(-1, 3)
        op = api.GetPrimvar("displayOpacity")
        interp = dc.GetInterpolation()
        if interp in (UsdGeom.Tokens.vertex, UsdGeom.Tokens.varying) and len(vals) == n_points:
            rgba = np.concatenate([vals, np.ones((len(vals), 1))], axis=1)
            if op and op.HasAuthoredValue():
                o = np.asarray(op.ComputeFlattened(time), dtype=np.float64).ravel()
                if len(o) == n_points:
                    rgba[:, 3] = o
            colors = _rgba8(rgba)
        elif interp == UsdGeom.Tokens.constant and len(vals):
            colors = _rgba8(np.tile(np.append(vals[0], 1.0), (n_points, 1)))

    material, texture = _usd_material(mesh)
    uv = None
    faces = indices[tri] if len(tri) else np.zeros((0, 3), np.int64)
    st = _usd_st(api)
    if st is not None:
        interp = st.GetInterpolation()
        values = np.asarray(st.Get(time), dtype=np.float32).reshape(-1, 2)
        st_idx = st.GetIndices(time)
        st_idx = None if not st_idx else np.asarray(st_idx, dtype=np.int64)
        if interp == UsdGeom.Tokens.faceVarying:
            t_corner = st_idx if st_idx is not None else np.arange(len(indices))
            vsrc, tsrc, corner_vertex = _split_by_uv(indices, t_corner, n_points, len(values))
            points = points[vsrc]
            colors = None if colors is None else colors[vsrc]
            uv = _gather_uv(values, tsrc)
            faces = corner_vertex[tri] if len(tri) else faces
        elif interp in (UsdGeom.Tokens.vertex, UsdGeom.Tokens.varying):
            uv = values[st_idx] if st_idx is not None else values
            if len(uv) != n_points:
                uv = None
    return _Part(points, faces, uv=uv, colors=colors, texture=texture, material=material)


def _usd_st(api):
    from pxr import Sdf

    best = None
    for pv in api.GetPrimvars():
        if pv.GetTypeName() in (Sdf.ValueTypeNames.TexCoord2fArray,
                                Sdf.ValueTypeNames.Float2Array,
                                Sdf.ValueTypeNames.TexCoord2dArray):
            if pv.GetPrimvarName() == "st":
                return pv
            best = best or pv
    return best


def _usd_material(mesh) -> tuple[Material | None, np.ndarray | None]:
    from pxr import UsdShade

    bound, _ = UsdShade.MaterialBindingAPI(mesh.GetPrim()).ComputeBoundMaterial()
    if not bound:
        return None, None
    surface = bound.ComputeSurfaceSource()[0]
    if not surface:
        return Material(name=bound.GetPrim().GetName()), None

    def value(name: str, default):
        inp = surface.GetInput(name)
        if not inp:
            return default
        v = inp.Get()
        return default if v is None else v

    factor = [1.0, 1.0, 1.0]
    texture = None
    diffuse = surface.GetInput("diffuseColor")
    if diffuse and diffuse.HasConnectedSource():
        src = diffuse.GetConnectedSources()[0][0].source
        tex = UsdShade.Shader(src.GetPrim())
        if tex.GetIdAttr().Get() == "UsdUVTexture":
            f = tex.GetInput("file")
            asset = f.Get() if f else None
            if asset is not None and asset.resolvedPath:
                texture = _usd_image(asset.resolvedPath)
            scale = tex.GetInput("scale")
            if scale and scale.Get() is not None:
                factor = [float(c) for c in scale.Get()][:3]
    elif diffuse and diffuse.Get() is not None:
        factor = [float(c) for c in diffuse.Get()]
    material = Material(
        metallic=float(value("metallic", 0.0)), roughness=float(value("roughness", 0.5)),
        base_color_factor=(*factor, float(value("opacity", 1.0))),
        name=bound.GetPrim().GetName())
    return material, texture
