"""Real data mixed into the synthetic set: the shared test meshes and HDR environments.

``../shared/data`` holds 16 standard test meshes (``meshes/``) and 7 equirectangular
HDR maps (``hdri/``). :func:`prepare_assets` turns them, once, into one small ``.npz``
(under 3 MB) that the data loader reads with :func:`load_assets` (numpy only: the
training machine has no trimesh):

* Meshes are welded by position, their holes filled (every boundary loop closed by a
  fan around its centroid), flat sheets (``woody``, ``alligator``) given a thickness,
  tiny or unclosable pieces dropped, each closed piece oriented outwards, decimated to
  at most ``max_faces`` faces in all (quadric decimation that keeps the surface
  closed), turned to +Y up and +Z front (:data:`ROTATIONS`), and normalised like the
  procedural families (bounding box centred, largest extent 1). Each closed piece is a
  part of the :class:`~lift3d.synth.types.SynthMesh` (``teapot``: body, lid, spout,
  handle). A mesh whose main piece cannot be closed is dropped and logged.
* HDRs are read as float32 linear RGB and area-downsampled to ``hdri_width x
  hdri_width / 2``, kept in the file's equirectangular layout (row 0 straight up,
  column 0 azimuth -pi) and stored as float16 (values clipped to 65000).

:data:`EVAL_MESHES` and :data:`EVAL_HDRIS` are held out for evaluation
(:meth:`Assets.names`).

``python -m lift3d.synth.assets [SHARED_DIR] [OUT]`` prepares the file.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from .types import Assets, SynthMesh

log = logging.getLogger(__name__)

#: Shared meshes held out for evaluation (file stems): an animal toy, a CAD part, a
#: vessel with handle and spout, a car body.
EVAL_MESHES: tuple[str, ...] = ("spot", "rocker-arm", "teapot", "beetle")
#: Shared HDRs held out for evaluation (file stems).
EVAL_HDRIS: tuple[str, ...] = ("studio_small_08_1k", "urban_alley_01_1k")

#: Per-mesh rotation to the object frame (+Y up, +Z front), as ``(axis, degrees)``
#: steps applied in order. Found by rendering each file from the front and side:
#: every model is already +Y up except ``nefertiti`` (+Z up, face towards -Y);
#: ``cow`` faces +X, ``stanford-bunny`` -X and ``spot`` -Z. The others (beast,
#: beetle, cheburashka, fandisk, homer, igea, ogre, rocker-arm, suzanne, teapot,
#: woody, alligator) are kept as they are.
ROTATIONS: dict[str, tuple[tuple[str, float], ...]] = {
    "nefertiti": (("x", -90.0),),
    "cow": (("y", -90.0),),
    "stanford-bunny": (("y", 90.0),),
    "spot": (("y", 180.0),),
}
#: Thickness (over the largest extent) given to a flat sheet mesh (all vertices in one
#: plane): ``woody`` is a gingerbread-man outline, ``alligator`` a side silhouette.
SHEET_THICKNESS: dict[str, float] = {"woody": 0.12, "alligator": 0.06}
_DEFAULT_SHEET_THICKNESS = 0.08
#: Pieces with less than this share of the mesh's surface area are dropped.
MIN_PIECE_AREA: float = 0.004
#: Format version written into the file; :func:`load_assets` refuses others.
FORMAT_VERSION: int = 1
_F16_MAX = 65000.0


# ---------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------


def default_assets_path() -> Path:
    """``$LIFT3D_SYNTH_ASSETS``, else ``./.cache/synth/assets.npz`` (current directory)."""
    env = os.environ.get("LIFT3D_SYNTH_ASSETS")
    if env:
        return Path(env)
    return Path.cwd() / ".cache" / "synth" / "assets.npz"


def default_shared_dir() -> Path:
    """``$LIFT3D_SHARED_DATA``, else ``../shared/data`` (relative to the current directory)."""
    env = os.environ.get("LIFT3D_SHARED_DATA")
    if env:
        return Path(env)
    return Path.cwd().parent / "shared" / "data"


# ---------------------------------------------------------------------------------------
# Mesh preparation (trimesh and fast-simplification, imported inside)
# ---------------------------------------------------------------------------------------


def _read_ply_tristrips(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a binary little-endian PLY whose faces are triangle strips (``igea.ply``):
    ``element tristrips`` with one ``list int int vertex_indices`` property, ``-1``
    separating strips. Returns ``(V, 3)`` float64 and ``(F, 3)`` int64."""
    data = path.read_bytes()
    end = data.find(b"end_header\n")
    if end < 0:
        raise ValueError("no PLY header")
    header = data[:end].decode("ascii", "replace").splitlines()
    body = end + len(b"end_header\n")
    if "format binary_little_endian 1.0" not in header:
        raise ValueError("only binary little-endian triangle-strip PLY files are read")
    elements: list[tuple[str, int, list[list[str]]]] = []
    for line in header:
        parts = line.split()
        if parts[:1] == ["element"]:
            elements.append((parts[1], int(parts[2]), []))
        elif parts[:1] == ["property"] and elements:
            elements[-1][2].append(parts[1:])
    if (len(elements) != 2 or elements[0][0] != "vertex"
            or elements[0][2] != [["float", "x"], ["float", "y"], ["float", "z"]]
            or elements[1][0] != "tristrips" or elements[1][1] != 1
            or elements[1][2] != [["list", "int", "int", "vertex_indices"]]):
        raise ValueError("expected float x y z vertices and one int triangle-strip list")
    nv = elements[0][1]
    v = np.frombuffer(data, dtype="<f4", count=nv * 3, offset=body).reshape(-1, 3)
    off = body + nv * 12
    n = int(np.frombuffer(data, dtype="<i4", count=1, offset=off)[0])
    strip = np.frombuffer(data, dtype="<i4", count=n, offset=off + 4).astype(np.int64)
    # Triangles (s[i], s[i+1], s[i+2]) inside each strip, every other one flipped.
    pos = np.arange(n)
    restart = np.flatnonzero(strip < 0)
    start = np.zeros(n, dtype=np.int64)
    start[restart[restart + 1 < n] + 1] = restart[restart + 1 < n] + 1
    start = np.maximum.accumulate(start)
    i = pos[: n - 2]
    ok = (strip[i] >= 0) & (strip[i + 1] >= 0) & (strip[i + 2] >= 0)
    i = i[ok]
    odd = ((i - start[i]) % 2).astype(bool)
    a, b, c = strip[i], strip[i + 1], strip[i + 2]
    f = np.stack([np.where(odd, b, a), np.where(odd, a, b), c], -1)
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
    return v.astype(np.float64), f


def _load_raw(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    mesh = trimesh.load(path, force="mesh", process=False, skip_materials=True)
    v = np.asarray(getattr(mesh, "vertices", np.zeros((0, 3))), dtype=np.float64)
    f = np.asarray(getattr(mesh, "faces", np.zeros((0, 3))), dtype=np.int64)
    if len(f) == 0 and path.suffix.lower() == ".ply":
        v, f = _read_ply_tristrips(path)
    if len(f) == 0:
        raise ValueError("no triangles")
    return v, f


def _weld(v: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices within 1e-7 of the largest extent (UV seams split them in OBJ
    files), drop degenerate and repeated faces and unused vertices."""
    lo = v.min(axis=0)
    ext = float(np.ptp(v, axis=0).max()) or 1.0
    key = np.round((v - lo) / ext * 1e7).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    f = inverse.ravel()[f]
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
    _, keep = np.unique(np.sort(f, axis=1), axis=0, return_index=True)
    f = f[np.sort(keep)]
    used = np.zeros(len(first), dtype=bool)
    used[f.ravel()] = True
    remap = -np.ones(len(first), dtype=np.int64)
    remap[used] = np.arange(int(used.sum()))
    return v[first][used], remap[f]


def _solidify(v: np.ndarray, f: np.ndarray, thickness: float) -> tuple[np.ndarray, np.ndarray]:
    """Give a flat sheet (all vertices in one plane) a thickness: two copies of it
    offset along the plane normal, joined by a wall along its boundary edges."""
    centred = v - v.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    normal = vt[2]
    half = 0.5 * thickness * float(np.ptp(v, axis=0).max())
    n = len(v)
    top = v + half * normal
    bottom = v - half * normal
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    key = e[:, 0] * n + e[:, 1]
    rkey = e[:, 1] * n + e[:, 0]
    border = e[~np.isin(key, rkey)]
    a, b = border[:, 0], border[:, 1]
    walls = np.concatenate([np.stack([b, a, a + n], -1), np.stack([b, a + n, b + n], -1)])
    faces = np.concatenate([f, f[:, ::-1] + n, walls])
    return np.concatenate([top, bottom]), faces


def _fill_holes(v: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Close every boundary loop with a fan of triangles around its centroid.

    A boundary edge is a directed edge whose reverse no face has; the new triangles
    run along it the other way, so a consistently wound surface stays consistent.
    Returns the new arrays and the number of loops filled.
    """
    n = len(v)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    key = e[:, 0] * n + e[:, 1]
    rkey = e[:, 1] * n + e[:, 0]
    border = e[~np.isin(key, rkey)]
    if len(border) == 0:
        return v, f, 0
    out: dict[int, list[int]] = {}
    for a, b in border.tolist():
        out.setdefault(a, []).append(b)
    cycles: list[list[int]] = []
    while out:
        start = next(iter(out))
        loop = [start]
        where = {start: 0}
        cur = start
        while True:
            nxts = out.get(cur)
            if not nxts:  # cannot happen on a consistently wound surface
                break
            nxt = nxts.pop()
            if not nxts:
                del out[cur]
            if nxt in where:  # back at a vertex of this walk: cut that cycle off
                k = where[nxt]
                cycles.append(loop[k:])
                for x in loop[k + 1:]:
                    del where[x]
                loop = loop[: k + 1]
                if nxt == start and len(loop) == 1:
                    break
            else:
                where[nxt] = len(loop)
                loop.append(nxt)
            cur = nxt
    new_v, new_f = [], []
    loops = 0
    for loop in cycles:
        if len(loop) < 3:  # a slit of two edges: left open (the piece fails)
            continue
        loops += 1
        c = n + len(new_v)
        new_v.append(v[loop].mean(axis=0))
        ring = np.asarray(loop, dtype=np.int64)
        new_f.append(np.stack([np.roll(ring, -1), ring, np.full(len(ring), c)], -1))
    if not new_v:
        return v, f, 0
    return np.concatenate([v, np.asarray(new_v)]), np.concatenate([f] + new_f), loops


def _drop_nonmanifold(f: np.ndarray) -> np.ndarray:
    """``f`` without the faces on edges that more than two faces share (fins, stray
    triangles glued to a surface); the holes they leave are filled afterwards."""
    for _ in range(4):
        e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        _, inverse, counts = np.unique(e, axis=0, return_inverse=True, return_counts=True)
        bad = (counts[inverse.ravel()] > 2).reshape(3, -1).any(axis=0)
        if not bad.any():
            break
        f = f[~bad]
    return f


def _pieces(v: np.ndarray, f: np.ndarray) -> list[np.ndarray]:
    """Face indices of each connected piece (sharing vertices), largest first."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    nv = len(v)
    rows = np.concatenate([f[:, 0], f[:, 1]])
    cols = np.concatenate([f[:, 1], f[:, 2]])
    g = sp.coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(nv, nv))
    count, label = connected_components(g, directed=False)
    flabel = label[f[:, 0]]
    groups = [np.flatnonzero(flabel == i) for i in range(count)]
    return sorted((g for g in groups if len(g)), key=len, reverse=True)


def _compact(v: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    used = np.zeros(len(v), dtype=bool)
    used[f.ravel()] = True
    remap = -np.ones(len(v), dtype=np.int64)
    remap[used] = np.arange(int(used.sum()))
    return v[used], remap[f]


def _area(v: np.ndarray, f: np.ndarray) -> float:
    return float(0.5 * np.linalg.norm(
        np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1).sum())


def _signed_volume(v: np.ndarray, f: np.ndarray) -> float:
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return float(np.einsum("ij,ij->", a, np.cross(b, c)) / 6.0)


def _close_piece(v: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """One connected piece made closed and outward, or None when that fails."""
    import trimesh

    from ..mesh.cleanup import is_watertight
    from ..types import Mesh

    v, f = _compact(v, f)
    if not trimesh.Trimesh(v, f, process=False).is_winding_consistent:
        t = trimesh.Trimesh(v, f, process=False)
        trimesh.repair.fix_winding(t)
        f = np.asarray(t.faces, dtype=np.int64)
    for _ in range(3):  # fins off, holes filled, until closed
        if is_watertight(Mesh(v, f)):
            break
        f = _drop_nonmanifold(f)
        v, f = _compact(v, f)
        v, f, _ = _fill_holes(v, f)
    else:
        if not is_watertight(Mesh(v, f)):
            return None
    if _signed_volume(v, f) < 0:
        f = f[:, ::-1].copy()
    return v, f


def _rotation(name: str) -> np.ndarray:
    r = np.eye(3)
    for axis, deg in ROTATIONS.get(name, ()):
        a = math.radians(deg)
        c, s = math.cos(a), math.sin(a)
        m = {"x": [[1, 0, 0], [0, c, -s], [0, s, c]],
             "y": [[c, 0, s], [0, 1, 0], [-s, 0, c]],
             "z": [[c, -s, 0], [s, c, 0], [0, 0, 1]]}[axis]
        r = np.asarray(m, dtype=np.float64) @ r
    return r


def prepare_mesh(path: Path, name: str, max_faces: int = 3000) -> SynthMesh | None:
    """Load, close, decimate, orient and normalise one shared mesh (see the module
    docstring). Returns None (and logs why) when it cannot be closed."""
    from ..mesh.cleanup import decimate, is_watertight
    from ..types import Mesh

    try:
        v, f = _load_raw(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is skipped, logged
        log.warning("mesh %s: cannot read %s (%s); dropped", name, path.name, exc)
        return None
    v, f = _weld(v, f)
    ext = np.ptp(v, axis=0)
    if ext.min() < 1e-6 * ext.max():
        thick = SHEET_THICKNESS.get(name, _DEFAULT_SHEET_THICKNESS)
        log.info("mesh %s: flat sheet, solidified to %.0f %% of its size", name, 100 * thick)
        v, f = _solidify(v, f, thick)
    total_area = _area(v, f)
    pieces = []
    for idx in _pieces(v, f):
        sub = f[idx]
        share = _area(v, sub) / total_area
        closed = _close_piece(v, sub)
        if closed is None:
            if share >= 0.2:
                log.warning("mesh %s: a piece with %.0f %% of the surface cannot be closed;"
                            " mesh dropped", name, 100 * share)
                return None
            log.info("mesh %s: dropped an open piece (%.2f %% of the surface)", name,
                     100 * share)
            continue
        if share < MIN_PIECE_AREA:
            continue
        if _signed_volume(*closed) < 1e-6 * float(np.ptp(v, axis=0).max()) ** 3:
            log.info("mesh %s: dropped a flat closed piece (no volume)", name)
            continue
        pieces.append((closed, share))
    if not pieces:
        log.warning("mesh %s: nothing closed left; dropped", name)
        return None
    # Face budget: proportional to surface share, at least 60 per piece.
    budget = max_faces
    shares = np.array([s for _, s in pieces])
    targets = np.maximum(60, np.floor(budget * shares / shares.sum())).astype(int)
    while targets.sum() > budget and targets.max() > 60:
        targets[np.argmax(targets)] -= targets.sum() - budget
        targets = np.maximum(targets, 60)
    out_parts = []
    for ((pv, pf), _), target in zip(pieces, targets, strict=True):
        m = decimate(Mesh(pv, pf), int(target))
        if len(m.faces) > target * 1.3 or not is_watertight(m):
            log.info("mesh %s: a piece did not decimate closed to %d faces; dropped", name,
                     target)
            continue
        pv, pf = np.asarray(m.vertices), np.asarray(m.faces, dtype=np.int64)
        if _signed_volume(pv, pf) < 0:
            pf = pf[:, ::-1].copy()
        out_parts.append((pv, pf))
    if not out_parts:
        log.warning("mesh %s: no piece survived decimation; dropped", name)
        return None
    while sum(len(pf) for _, pf in out_parts) > max_faces and len(out_parts) > 1:
        out_parts.pop()  # the smallest pieces come last
    if sum(len(pf) for _, pf in out_parts) > max_faces:
        log.warning("mesh %s: %d faces after decimation, above %d; dropped", name,
                    sum(len(pf) for _, pf in out_parts), max_faces)
        return None
    rot = _rotation(name)
    verts, faces, part, off = [], [], [], 0
    for i, (pv, pf) in enumerate(out_parts):
        verts.append(pv @ rot.T)
        faces.append(pf + off)
        part.append(np.full(len(pf), i, dtype=np.int16))
        off += len(pv)
    v = np.concatenate(verts)
    lo, hi = v.min(axis=0), v.max(axis=0)
    v = (v - 0.5 * (lo + hi)) / float((hi - lo).max())
    return SynthMesh(vertices=v.astype(np.float32), faces=np.concatenate(faces),
                     part=np.concatenate(part), family=f"shared:{name}")


def load_hdri(path: Path, width: int = 128) -> np.ndarray:
    """An HDR file as ``(width / 2, width, 3)`` float32 linear RGB (area-downsampled)."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    if img is None or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"cannot read {path} as an HDR image")
    rgb = np.ascontiguousarray(img[..., ::-1], dtype=np.float32)
    rgb = cv2.resize(rgb, (width, max(1, width // 2)), interpolation=cv2.INTER_AREA)
    return np.clip(np.nan_to_num(rgb, nan=0.0, posinf=_F16_MAX), 0.0, _F16_MAX)


# ---------------------------------------------------------------------------------------
# The asset file
# ---------------------------------------------------------------------------------------


def prepare_assets(shared_dir: Path, out: Path, max_faces: int = 3000,
                   hdri_width: int = 128) -> Path:
    """Prepare ``shared_dir/meshes`` and ``shared_dir/hdri`` into one ``.npz`` at ``out``.

    Written atomically (a temporary file beside ``out``, then :func:`os.replace`).

    Raises:
        InputError: naming ``shared_dir`` when it is not a directory, or when it holds
            neither meshes nor HDRs; naming ``hdri_width`` when it is not an even
            integer >= 8.
    """
    from ..io.atomic import atomic_path

    shared_dir = Path(shared_dir)
    out = Path(out)
    if not shared_dir.is_dir():
        raise InputError(f"argument 'shared_dir': {shared_dir} is not a directory")
    if int(hdri_width) != hdri_width or hdri_width < 8 or hdri_width % 2:
        raise InputError(f"argument 'hdri_width' must be an even integer >= 8, got {hdri_width!r}")
    t0 = time.perf_counter()
    mesh_files = sorted(p for p in (shared_dir / "meshes").glob("*")
                        if p.suffix.lower() in (".obj", ".ply")) \
        if (shared_dir / "meshes").is_dir() else []
    hdr_files = sorted((shared_dir / "hdri").glob("*.hdr")) \
        if (shared_dir / "hdri").is_dir() else []
    if not mesh_files and not hdr_files:
        raise InputError(f"argument 'shared_dir': {shared_dir} has no meshes/*.obj|*.ply "
                         "and no hdri/*.hdr")
    meshes: dict[str, SynthMesh] = {}
    for p in mesh_files:
        m = prepare_mesh(p, p.stem, max_faces)
        if m is not None:
            meshes[p.stem] = m
            log.info("mesh %s: %d faces, %d parts", p.stem, len(m.faces), int(m.part.max()) + 1)
    hdris: dict[str, np.ndarray] = {}
    for p in hdr_files:
        try:
            hdris[p.stem] = load_hdri(p, int(hdri_width))
        except ValueError as exc:
            log.warning("hdri %s: %s; dropped", p.stem, exc)
    names = sorted(meshes)
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION),
        "mesh_names": np.array(names, dtype=np.str_),
        "mesh_vertex_counts": np.array([len(meshes[n].vertices) for n in names], np.int64),
        "mesh_face_counts": np.array([len(meshes[n].faces) for n in names], np.int64),
        "mesh_vertices": (np.concatenate([meshes[n].vertices for n in names]).astype(np.float32)
                          if names else np.zeros((0, 3), np.float32)),
        "mesh_faces": (np.concatenate([meshes[n].faces for n in names]).astype(np.int32)
                       if names else np.zeros((0, 3), np.int32)),
        "mesh_parts": (np.concatenate([meshes[n].part for n in names]).astype(np.int16)
                       if names else np.zeros(0, np.int16)),
        "hdri_names": np.array(sorted(hdris), dtype=np.str_),
        "hdris": (np.stack([hdris[n] for n in sorted(hdris)]).astype(np.float16) if hdris
                  else np.zeros((0, hdri_width // 2, hdri_width, 3), np.float16)),
        "eval_meshes": np.array([n for n in EVAL_MESHES if n in meshes], dtype=np.str_),
        "eval_hdris": np.array([n for n in EVAL_HDRIS if n in hdris], dtype=np.str_),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    dropped = sorted({p.stem for p in mesh_files} - set(meshes))
    log.info("assets: %d meshes, %d HDRs -> %s (%.0f kB, %.1f s)%s", len(meshes), len(hdris),
             out, out.stat().st_size / 1024, time.perf_counter() - t0,
             f"; dropped {', '.join(dropped)}" if dropped else "")
    return out


def load_assets(path: Path) -> Assets:
    """Read a file :func:`prepare_assets` wrote (numpy only).

    Raises:
        InputError: naming ``path`` when it is missing, unreadable, or of another
            format version.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"argument 'path': cannot read assets file {path}: {exc}") from exc
    version = int(data.get("format_version", -1))
    if version != FORMAT_VERSION:
        raise InputError(f"argument 'path': {path} has asset format {version}, expected "
                         f"{FORMAT_VERSION}; prepare it again (python -m lift3d.synth.assets)")
    names = [str(n) for n in data["mesh_names"]]
    vc = np.concatenate([[0], np.cumsum(data["mesh_vertex_counts"])])
    fc = np.concatenate([[0], np.cumsum(data["mesh_face_counts"])])
    meshes = {}
    for i, n in enumerate(names):
        meshes[n] = SynthMesh(
            vertices=np.ascontiguousarray(data["mesh_vertices"][vc[i]:vc[i + 1]], np.float32),
            faces=np.ascontiguousarray(data["mesh_faces"][fc[i]:fc[i + 1]], np.int64),
            part=np.ascontiguousarray(data["mesh_parts"][fc[i]:fc[i + 1]], np.int16),
            family=f"shared:{n}",
        )
    hdris = {str(n): data["hdris"][i].astype(np.float32)
             for i, n in enumerate(data["hdri_names"])}
    return Assets(meshes=meshes, hdris=hdris,
                  eval_meshes=tuple(str(n) for n in data["eval_meshes"]),
                  eval_hdris=tuple(str(n) for n in data["eval_hdris"]))


def ensure_assets(shared_dir: Path | None = None) -> Assets | None:
    """The prepared assets: the default file (:func:`default_assets_path`) when it is
    there; else prepared from ``shared_dir`` (default :func:`default_shared_dir`) when
    that exists; else None (logged). Never raises for missing data."""
    path = default_assets_path()
    if path.is_file():
        try:
            return load_assets(path)
        except InputError as exc:
            log.warning("%s; preparing it again", exc)
    shared = Path(shared_dir) if shared_dir is not None else default_shared_dir()
    if not shared.is_dir():
        log.info("no synthetic-data assets: %s does not exist and the shared data %s is "
                 "missing (set LIFT3D_SYNTH_ASSETS or LIFT3D_SHARED_DATA)", path, shared)
        return None
    try:
        prepare_assets(shared, path)
    except ImportError as exc:
        log.warning("cannot prepare assets from %s here (%s); running without them", shared,
                    exc)
        return None
    except (InputError, OSError) as exc:
        log.warning("cannot prepare assets from %s: %s; running without them", shared, exc)
        return None
    return load_assets(path)


def main(argv: list[str] | None = None) -> int:
    """``python -m lift3d.synth.assets [SHARED_DIR] [OUT]``."""
    parser = argparse.ArgumentParser(
        prog="python -m lift3d.synth.assets",
        description="Prepare the shared meshes and HDRs into one .npz for synthetic data.")
    parser.add_argument("shared_dir", nargs="?", type=Path, default=None,
                        help="the shared data folder (default: $LIFT3D_SHARED_DATA or "
                             "../shared/data)")
    parser.add_argument("out", nargs="?", type=Path, default=None,
                        help="output .npz (default: $LIFT3D_SYNTH_ASSETS or "
                             "./.cache/synth/assets.npz)")
    parser.add_argument("--max-faces", type=int, default=3000)
    parser.add_argument("--hdri-width", type=int, default=128)
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    shared = args.shared_dir if args.shared_dir is not None else default_shared_dir()
    out = args.out if args.out is not None else default_assets_path()
    if not shared.is_dir():
        print(f"error: shared data folder {shared} does not exist", file=sys.stderr)
        return 2
    try:
        prepare_assets(shared, out, args.max_faces, args.hdri_width)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    a = load_assets(out)
    print(f"{out}: {len(a.meshes)} meshes, {len(a.hdris)} HDRs, "
          f"{out.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
