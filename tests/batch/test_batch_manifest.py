"""``lift3d batch`` inputs: folders, globs, CSV and JSONL manifests, as BatchItems."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from lift3d.batch.manifest import read_items, safe_id
from lift3d.errors import InputError


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (200, 30, 30)).save(path)
    return path


def _jpg(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (30, 200, 30)).save(path, format="JPEG")
    return path


def _video(path: Path) -> Path:
    # Only the extension matters when reading a manifest.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    return path


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding, newline="")
    return path


def _by_id(items):
    return {item.id: item for item in items}


# -- folders ------------------------------------------------------------------------------


def test_folder_files_subfolders_hidden_and_clash(tmp_path: Path) -> None:
    d = tmp_path / "photos"
    _png(d / "mug.png")
    _jpg(d / "Chair Red.jpg")
    _jpg(d / "a.jpg")
    _png(d / "a.png")
    _png(d / ".hidden.png")
    _write(d / "notes.txt", "not a photo")
    _jpg(d / "shoe" / "2.jpg")
    _jpg(d / "shoe" / "1.jpg")
    _png(d / "shoe" / ".thumb.png")
    _write(d / "shoe" / "readme.md", "x")
    _video(d / "lamp" / "turntable.mp4")
    _png(d / ".cache" / "x.png")
    (d / "empty").mkdir()
    _write(d / "docs" / "a.txt", "x")

    items = read_items(d)

    assert [i.id for i in items] == ["Chair_Red", "a", "a_png", "lamp", "mug", "shoe"]
    by = _by_id(items)
    assert by["a"].images == ((d / "a.jpg").resolve(),)
    assert by["a_png"].images == ((d / "a.png").resolve(),)
    assert by["a_png"].source == "a.png"
    assert by["mug"].source == "mug.png"
    assert by["shoe"].images == ((d / "shoe" / "1.jpg").resolve(),
                                 (d / "shoe" / "2.jpg").resolve())
    assert by["shoe"].source == "shoe"
    assert by["lamp"].images == ((d / "lamp" / "turntable.mp4").resolve(),)
    assert all(i.problem is None and i.images[0].is_absolute() for i in items)
    assert all(i.height is None and i.faces is None and i.preset is None for i in items)


def test_folder_clash_is_deterministic_and_case_insensitive(tmp_path: Path) -> None:
    d = tmp_path / "p"
    for name in ("a.png", "A.jpg", "a_png.jpg"):
        _png(d / name)
    _png(d / "a" / "1.png")
    ids = [i.id for i in read_items(d)]
    assert len({i.casefold() for i in ids}) == len(ids) == 4
    assert ids == [i.id for i in read_items(str(d))]
    # "a_png" is a real file's stem, so the clashing a.png must not take it.
    assert _by_id(read_items(d))["a_png"].source == "a_png.jpg"


def test_folder_subfolder_with_two_videos_is_a_problem_item(tmp_path: Path) -> None:
    d = tmp_path / "p"
    _video(d / "vase" / "a.mp4")
    _video(d / "vase" / "b.mov")
    (item,) = read_items(d)
    assert item.id == "vase"
    assert "give one video" in item.problem


def test_folder_without_images_raises(tmp_path: Path) -> None:
    d = tmp_path / "nothing"
    _write(d / "a.txt", "x")
    _png(d / ".hidden.png")
    with pytest.raises(InputError, match=r"source: no images in .*nothing"):
        read_items(d)


# -- globs --------------------------------------------------------------------------------


def test_glob_matches_images_and_videos(tmp_path: Path) -> None:
    _png(tmp_path / "set" / "mug.png")
    _jpg(tmp_path / "set" / "bowl.JPG")
    _write(tmp_path / "set" / "list.txt", "x")
    _video(tmp_path / "set" / "deep" / "vase.mp4")
    _png(tmp_path / "set" / "deep" / "mug.png")

    items = read_items(str(tmp_path / "set" / "*"))
    assert [i.id for i in items] == ["bowl", "mug"]
    assert items[1].source == str(tmp_path / "set" / "mug.png")

    items = read_items(str(tmp_path / "set" / "**" / "*"))
    assert [i.id for i in items] == ["bowl", "mug", "mug_png", "vase"]
    assert _by_id(items)["mug_png"].images == ((tmp_path / "set/mug.png").resolve(),)
    assert _by_id(items)["vase"].images == ((tmp_path / "set/deep/vase.mp4").resolve(),)


def test_glob_without_match_names_the_pattern(tmp_path: Path) -> None:
    pattern = str(tmp_path / "none" / "*.png")
    with pytest.raises(InputError, match=re.escape(repr(pattern))):
        read_items(pattern)
    _write(tmp_path / "t" / "a.txt", "x")
    with pytest.raises(InputError, match="none is an image"):
        read_items(str(tmp_path / "t" / "*"))


# -- whole-source problems ----------------------------------------------------------------


def test_source_problems_raise(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="source: not found"):
        read_items(tmp_path / "missing.csv")
    with pytest.raises(InputError, match=r"\.csv, \.jsonl, \.ndjson"):
        read_items(_write(tmp_path / "items.txt", "id,image\n"))
    with pytest.raises(InputError, match="empty"):
        read_items(_write(tmp_path / "empty.csv", ""))
    with pytest.raises(InputError, match="no rows"):
        read_items(_write(tmp_path / "head.csv", "id,image\n\n"))
    with pytest.raises(InputError, match="no rows"):
        read_items(_write(tmp_path / "blank.jsonl", "\n  \n"))
    with pytest.raises(InputError, match="not UTF-8"):
        read_items(_write(tmp_path / "latin.csv", "id,image\ncaf\xe9,a.png\n", "latin-1"))


@pytest.mark.parametrize("header, missing", [
    ("name,image", "'id'"),
    ("id,photo", "'image' or 'images'"),
    ("mug,mug.png", "'id'"),  # no header at all
])
def test_csv_missing_required_column(tmp_path: Path, header: str, missing: str) -> None:
    path = _write(tmp_path / "items.csv", f"{header}\nmug,mug.png\n")
    with pytest.raises(InputError, match=rf"{re.escape(str(path))} has no {missing} column"):
        read_items(path)


# -- CSV ----------------------------------------------------------------------------------


def test_csv_full_rows_quoting_lists_bom_and_fields(tmp_path: Path) -> None:
    _png(tmp_path / "img" / "mug.png")
    _jpg(tmp_path / "img" / "b1.jpg")
    _jpg(tmp_path / "img" / "b2.jpg")
    _jpg(tmp_path / "img" / "b, 3.jpg")
    _png(tmp_path / "c1.png")
    _png(tmp_path / "c2.png")
    text = (" ID , Name,Images ,Height,FACES,preset,notes,\r\n"
            'mug,"Mug, red",img/mug.png,0.12,20000,AR,"a, b",\r\n'
            'bowl,Bowl,"img/b1.jpg; img/b2.jpg;img/b, 3.jpg",,,,,\r\n'
            "cup,,c1.png|c2.png,1e-1,2e4, Web ,\r\n")
    path = _write(tmp_path / "m" / "items.csv", "\ufeff" + text.replace("img/", "../img/")
                  .replace("c1.png", "../c1.png").replace("c2.png", "../c2.png"))

    items = read_items(path)

    assert [i.id for i in items] == ["mug", "bowl", "cup"]
    mug, bowl, cup = items
    assert mug.problem is bowl.problem is cup.problem is None
    assert mug.images == ((tmp_path / "img" / "mug.png").resolve(),)
    assert (mug.height, mug.faces, mug.preset) == (0.12, 20000, "ar")
    assert mug.fields == (("Name", "Mug, red"), ("notes", "a, b"), ("column8", ""))
    assert mug.source == "items.csv:2"
    assert [p.name for p in bowl.images] == ["b1.jpg", "b2.jpg", "b, 3.jpg"]
    assert (bowl.height, bowl.faces, bowl.preset) == (None, None, None)
    assert bowl.fields == (("Name", "Bowl"), ("notes", ""), ("column8", ""))
    assert [p.name for p in cup.images] == ["c1.png", "c2.png"]
    assert (cup.height, cup.faces, cup.preset) == (0.1, 20000, "web")
    assert cup.fields[0] == ("Name", "")


def test_csv_row_problems_do_not_stop_the_batch(tmp_path: Path) -> None:
    _png(tmp_path / "ok.png")
    _write(tmp_path / "doc.txt", "x")
    _video(tmp_path / "v.mp4")
    (tmp_path / "dir.png").mkdir()
    rows = [
        "id,image,height,faces,preset",             # 1
        "good,ok.png,,,",                           # 2
        "gone,x.jpg,,,",                            # 3
        "tall,ok.png,abc,,",                        # 4
        "few,ok.png,,5,",                           # 5
        "film,ok.png,,,cinema",                     # 6
        "none,,,,",                                 # 7
        ",ok.png,,,",                               # 8
        "good,ok.png,,,",                           # 9
        "txt,doc.txt,,,",                           # 10
        "mix,ok.png;v.mp4,,,",                      # 11
        "neg,ok.png,-1,,",                          # 12
        "half,ok.png,,2.5,",                        # 13
        "日本,ok.png,,,",                            # 14
        "Good,ok.png,,,",                           # 15
        "long,ok.png,,,,surplus",                   # 16
        "dir,dir.png,,,",                           # 17
        "nan,ok.png,nan,,",                         # 18
    ]
    path = _write(tmp_path / "items.csv", "\n".join(rows) + "\n")
    items = read_items(path)
    assert len(items) == len(rows) - 1
    got = {i.source: (i.id, i.problem) for i in items}
    x = (tmp_path / "x.jpg").resolve()
    doc = (tmp_path / "doc.txt").resolve()
    assert got == {
        "items.csv:2": ("good", None),
        "items.csv:3": ("gone", f"image not found: {x}"),
        "items.csv:4": ("tall", "height: 'abc' is not a number"),
        "items.csv:5": ("few", "faces: must be at least 100, got 5"),
        "items.csv:6": ("film", "preset: unknown preset 'cinema'; choose web, ar, game, print"),
        "items.csv:7": ("none", "no image given"),
        "items.csv:8": ("line-8", "no id"),
        "items.csv:9": ("line-9", "duplicate id 'good' (first on line 2)"),
        "items.csv:10": ("txt", f"not an image or video: {doc}"),
        "items.csv:11": ("mix", "give one video, or images, not both"),
        "items.csv:12": ("neg", "height: must be more than 0 metres, got -1"),
        "items.csv:13": ("half", "faces: '2.5' is not a whole number"),
        "items.csv:14": ("line-14", got["items.csv:14"][1]),
        "items.csv:15": ("line-15", "duplicate id 'Good' (first on line 2)"),
        "items.csv:16": ("long", "line 16 has 6 values but the header has 5 columns"),
        "items.csv:17": ("dir", f"not a file: {(tmp_path / 'dir.png').resolve()}"),
        "items.csv:18": ("nan", "height: 'nan' is not a finite number"),
    }
    assert "'日本'" in got["items.csv:14"][1]
    assert len({i.id for i in items}) == len(items)


def test_csv_ids_made_safe_and_multiline_values_keep_line_numbers(tmp_path: Path) -> None:
    _png(tmp_path / "ok.png")
    text = ('id,image,desc\n'
            '"Mug / Red (v2)",ok.png,"two\nlines"\n'
            'line-4,ok.png,x\n'
            ',ok.png,y\n')
    items = read_items(_write(tmp_path / "items.csv", text))
    assert [(i.id, i.source, i.problem) for i in items] == [
        ("Mug_Red_v2", "items.csv:2", None),
        ("line-4", "items.csv:4", None),
        ("line-5", "items.csv:5", "no id"),
    ]
    assert items[0].fields == (("desc", "two\nlines"),)


def test_generated_line_id_never_takes_a_given_id(tmp_path: Path) -> None:
    _png(tmp_path / "ok.png")
    text = "id,image\n,ok.png\nline-2,ok.png\n"
    items = read_items(_write(tmp_path / "items.csv", text))
    assert [i.id for i in items] == ["line-2-2", "line-2"]
    assert [i.problem for i in items] == ["no id", None]


def test_manifest_paths_absolute_home_and_relative(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    _png(home / "h.png")
    absolute = _png(tmp_path / "abs" / "a.png")
    _png(tmp_path / "data" / "sub" / "r.png")
    path = _write(tmp_path / "data" / "items.csv",
                  f"id,image\nh,~/h.png\na,{absolute}\nr,sub/r.png\nu,sub/../sub/r.png\n")
    items = read_items(path)
    assert [i.problem for i in items] == [None] * 4
    assert items[0].images == (home.resolve() / "h.png",)
    assert items[1].images == (absolute.resolve(),)
    assert items[2].images == items[3].images == ((tmp_path / "data/sub/r.png").resolve(),)
    # A relative path to the manifest itself works from any working directory.
    monkeypatch.chdir(tmp_path / "data")
    assert read_items("items.csv")[2].images == items[2].images


# -- JSONL --------------------------------------------------------------------------------


def test_jsonl_rows(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png")
    _video(tmp_path / "v.mov")
    lines = [
        json.dumps({"id": "mug", "images": ["a.png", "b.png"], "height": 0.1,
                    "faces": 5000, "preset": "GAME", "sku": "M-1", "price": 9.5,
                    "tags": ["red", "café"], "meta": {"k": None}}),
        "",
        json.dumps({"ID": "vase", "image": "v.mov", "height": "0.3", "faces": "2000"}),
        "   ",
        "{not json",
        "[1, 2]",
        json.dumps({"id": 7, "images": "a.png;b.png"}),
        json.dumps({"id": "x", "images": [1, 2]}),
        json.dumps({"id": "t", "image": "a.png", "height": True, "faces": 1e9, "note": ""}),
        json.dumps({"images": "a.png"}),
        json.dumps({"id": "mug", "image": "a.png"}),
    ]
    path = _write(tmp_path / "items.ndjson", "\n".join(lines) + "\n")
    items = read_items(path)
    assert [(i.id, i.source, i.problem) for i in items] == [
        ("mug", "items.ndjson:1", None),
        ("vase", "items.ndjson:3", None),
        ("line-5", "items.ndjson:5", "line 5 is not valid JSON (Expecting property name "
                                     "enclosed in double quotes)"),
        ("line-6", "items.ndjson:6", "line 6 is not a JSON object"),
        ("7", "items.ndjson:7", None),
        ("x", "items.ndjson:8", "images: give a path or a list of paths"),
        ("t", "items.ndjson:9", "height: true is not a number"),
        ("line-10", "items.ndjson:10", "no id"),
        ("line-11", "items.ndjson:11", "duplicate id 'mug' (first on line 1)"),
    ]
    mug, vase, _, _, seven = items[:5]
    assert [p.name for p in mug.images] == ["a.png", "b.png"]
    assert (mug.height, mug.faces, mug.preset) == (0.1, 5000, "game")
    assert mug.fields == (("sku", "M-1"), ("price", "9.5"), ("tags", '["red", "café"]'),
                          ("meta", '{"k": null}'))
    assert vase.images == ((tmp_path / "v.mov").resolve(),)
    assert (vase.height, vase.faces) == (0.3, 2000)
    assert [p.name for p in seven.images] == ["a.png", "b.png"]
    assert items[6].faces == 10**9 and items[6].fields == (("note", ""),)


def test_jsonl_bom_and_crlf(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    path = _write(tmp_path / "items.jsonl",
                  '\ufeff{"id": "a", "image": "a.png"}\r\n\r\n{"id": "b", "image": "a.png"}\r\n')
    items = read_items(path)
    assert [(i.id, i.source, i.problem) for i in items] == [
        ("a", "items.jsonl:1", None), ("b", "items.jsonl:3", None)]


# -- safe_id ------------------------------------------------------------------------------


def test_safe_id_examples() -> None:
    assert safe_id("Mug (red) v2.0") == "Mug_red_v2.0"
    assert safe_id("../../etc/passwd") == "etc_passwd"
    assert safe_id("Crème brûlée") == "Creme_brulee"
    assert safe_id("--rm -rf") == "rm_-rf"
    assert safe_id("日本") == ""
    assert safe_id("a" * 99 + "/b") == "a" * 99


@given(st.text())
def test_safe_id_properties(text: str) -> None:
    out = safe_id(text)
    assert re.fullmatch(r"[A-Za-z0-9._-]*", out)
    assert not out.startswith((".", "_", "-"))
    assert not out.endswith("_")
    assert "__" not in out
    assert len(out) <= 100
    assert safe_id(out) == out
