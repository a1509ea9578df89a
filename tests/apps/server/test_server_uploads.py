"""Upload checks: magic bytes, declared types, names, image decoding."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from lift3d.apps.server.uploads import (
    UploadRejected,
    check_image,
    check_type,
    sanitize_filename,
    sniff,
)


def _image(fmt: str, size=(32, 24)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("data, kind", [
    (_image("JPEG"), "jpeg"), (_image("PNG"), "png"), (_image("WEBP"), "webp"),
    (b"\x00\x00\x00\x20ftypisom", "iso-video"), (b"\x00\x00\x00\x14ftypqt  ", "iso-video"),
    (b"\x1a\x45\xdf\xa3\x01", "matroska"), (b"RIFF\x00\x00\x00\x00AVI LIST", "avi"),
    (b"GIF89a", None), (b"<svg xmlns=", None), (b"%PDF-1.7", None), (b"", None),
    (b"RIFF\x00\x00\x00\x00WAVE", None),
])
def test_sniff(data, kind):
    assert sniff(data[:16]) == kind


def test_check_type_agrees_with_bytes():
    jpeg = _image("JPEG")[:16]
    assert check_type("image/jpeg", jpeg, "a.jpg").media_type == "image/jpeg"
    assert check_type("image/jpeg; charset=x", jpeg, "a.jpg").extension == ".jpg"
    assert check_type("application/octet-stream", jpeg, "a").kind == "jpeg"
    assert check_type(None, jpeg, "a").kind == "jpeg"
    assert check_type("video/quicktime", b"\x00\x00\x00\x14ftypqt  ", "a.mov").video
    for declared, data in (("image/png", jpeg), ("image/gif", b"GIF89a"),
                           ("text/plain", jpeg), ("image/jpeg", b"MZ\x90\x00")):
        with pytest.raises(UploadRejected) as e:
            check_type(declared, data, "x")
        assert e.value.status == 415 and e.value.code == "unsupported_type"


@pytest.mark.parametrize("name, expected", [
    ("mug.jpg", "mug.jpg"), ("../../etc/passwd", "passwd"), ("..\\..\\boot.ini", "boot.ini"),
    ("/abs/x.png", "x.png"), ("..", "upload"), ("", "upload"), (None, "upload"),
    ("café crème.jpg", "cafe creme.jpg"), ("a\x00b\nc.jpg", "a_b_c.jpg"),
    ("  .hidden.png", "hidden.png"), ("x" * 300 + ".jpeg", "x" * 95 + ".jpeg"),
])
def test_sanitize_filename(name, expected):
    assert sanitize_filename(name) == expected


@given(st.text(max_size=400))
def test_sanitized_names_are_always_safe(name):
    out = sanitize_filename(name)
    assert out and len(out) <= 100
    assert "/" not in out and "\\" not in out and "\x00" not in out
    assert not out.startswith(".") and out not in (".", "..")
    assert out.isascii() and out == out.strip()


def test_check_image(tmp_path):
    ok = tmp_path / "ok.png"
    ok.write_bytes(_image("PNG", (40, 30)))
    assert check_image(ok, "ok.png", 10_000) == (40, 30)
    with pytest.raises(UploadRejected) as e:
        check_image(ok, "ok.png", 1000)
    assert e.value.status == 413 and "1,200 pixels" in e.value.message
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(_image("JPEG", (300, 300))[:400])
    with pytest.raises(UploadRejected) as e:
        check_image(cut, "cut.jpg", 10**8)
    assert e.value.status == 422 and "truncated" in e.value.message
