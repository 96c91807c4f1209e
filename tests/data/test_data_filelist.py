"""File lists (``relative/path label``) and the Extended dataset layouts, on generated folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zse_gui.data import read_extended, read_file_list, read_file_lists, write_file_list
from zse_gui.errors import DatasetError


def _png(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((8, 8, 3), 255, np.uint8)
    arr[2:6, 2:6] = value
    Image.fromarray(arr).save(path)
    return path


def test_read_file_list_paths_with_spaces_comments_and_blank_lines(tmp_path: Path) -> None:
    lst = tmp_path / "list.txt"
    lst.write_text("# header\n\nhot air balloon/1.png 3\ncat/2.png   0\n", encoding="utf-8")
    entries = read_file_list(lst, root=tmp_path / "ds")
    assert [(e.path, e.label, e.line) for e in entries] == [
        (tmp_path / "ds" / "hot air balloon" / "1.png", 3, 3),
        (tmp_path / "ds" / "cat" / "2.png", 0, 4),
    ]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a/1.png 0\njustapath.png\n", 2, "expected 'relative/path label'"),
        ("a/1.png 0\na/2.png 0\nb/3.png x\n", 3, "is not an integer"),
        ("a/1.png -2\n", 1, "negative label"),
    ],
)
def test_read_file_list_reports_malformed_line_numbers(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    lst = tmp_path / "bad.txt"
    lst.write_text(text, encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        read_file_list(lst)
    assert f"{lst}:{line}:" in str(info.value)
    assert fragment in str(info.value)


def test_read_file_list_missing_file_empty_list_and_check_exists(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        read_file_list(tmp_path / "nope.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="no entries"):
        read_file_list(empty)
    _png(tmp_path / "a" / "1.png")
    lst = tmp_path / "l.txt"
    lst.write_text("a/1.png 0\na/2.png 0\n", encoding="utf-8")
    assert len(read_file_list(lst)) == 2  # existence is not checked by default
    with pytest.raises(DatasetError, match=r"l\.txt:2: listed file .*2\.png does not exist"):
        read_file_list(lst, check_exists=True)


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    files = [(tmp_path / "x y" / "a.png", 1), (tmp_path / "z" / "b.png", 0)]
    assert write_file_list(files, tmp_path / "out" / "list.txt", tmp_path) == 2
    back = read_file_list(tmp_path / "out" / "list.txt", root=tmp_path)
    assert [(e.path, e.label) for e in back] == files
    with pytest.raises(DatasetError, match="not under the dataset root"):
        write_file_list([(Path("/elsewhere/a.png"), 0)], tmp_path / "l.txt", tmp_path)


def test_read_file_lists_joins_classes_by_folder_not_label_id(tmp_path: Path) -> None:
    sk = tmp_path / "sk.txt"
    ph = tmp_path / "ph.txt"
    # Label ids are local to each list: "cat" is 0 for sketches but 1 for photos.
    sk.write_text("sketch/cat/1.png 0\nsketch/Fire_Hydrant/2.png 1\nsketch/cat/3.png 0\n", encoding="utf-8")
    ph.write_text("photo/dog/1.jpg 0\nphoto/cat/2.jpg 1\nphoto/fire hydrant/3.jpg 2\n", encoding="utf-8")
    data = read_file_lists([sk], [ph], tmp_path, name="t")
    assert data.classes == ("cat", "dog", "Fire_Hydrant")  # sorted by canonical name
    assert data.sketch_labels().tolist() == [0, 2, 0]
    assert data.photo_labels().tolist() == [1, 0, 2]
    assert data.sketches[1].line == 2


def test_read_file_lists_rejects_label_naming_two_folders(tmp_path: Path) -> None:
    sk = tmp_path / "sk.txt"
    sk.write_text("s/cat/1.png 0\ns/dog/2.png 0\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"sk\.txt:2: label 0 is folder 'dog' here but 'cat' on line 1"):
        read_file_lists([sk], [], tmp_path)


def _fake_sketchy(root: Path) -> Path:
    ds = root / "Sketchy"
    z = ds / "zeroshot1"
    z.mkdir(parents=True)
    (z / "sketch_tx_000000000000_ready_filelist_train.txt").write_text(
        "256x256/sketch/tx_000000000000_ready/ant/a1.png 0\n"
        "256x256/sketch/tx_000000000000_ready/bee/b1.png 1\n"
    )
    (z / "all_photo_filelist_train.txt").write_text(
        "256x256/photo/tx_000000000000/ant/a.jpg 0\nEXTEND_image_sketchy_ready/bee/b.jpg 1\n"
    )
    (z / "sketch_tx_000000000000_ready_filelist_zero.txt").write_text(
        "256x256/sketch/tx_000000000000_ready/cup/c1.png 0\n"
    )
    (z / "all_photo_filelist_zero.txt").write_text("EXTEND_image_sketchy_ready/cup/c.jpg 0\n")
    return ds


def test_read_extended_sketchy_parts_and_roots(tmp_path: Path) -> None:
    ds = _fake_sketchy(tmp_path)
    train = read_extended("sketchy", ds, "train")
    test = read_extended("sketchy", ds, "test", variant="sketchy25")
    both = read_extended("sketchy", tmp_path, "all")  # the parent folder is accepted too
    assert train.classes == ("ant", "bee") and len(train.photos) == 2
    assert test.classes == ("cup",) and test.photos[0].path == ds / "EXTEND_image_sketchy_ready/cup/c.jpg"
    assert both.classes == ("ant", "bee", "cup") and len(both.sketches) == 3
    with pytest.raises(DatasetError, match="zeroshot0: split folder not found"):
        read_extended("sketchy", ds, "test", variant="sketchy21")
    with pytest.raises(DatasetError, match="unknown layout"):
        read_extended("shoes", ds)


def test_read_extended_quickdraw_alternative_list_names(tmp_path: Path) -> None:
    z = tmp_path / "QuickDraw" / "zeroshot"
    z.mkdir(parents=True)
    (z / "sketch_filelist_zero.txt").write_text("sketch/bat/1.png 0\n")
    (z / "photo_filelist_zero.txt").write_text("photo/bat/1.jpg 0\n")
    data = read_extended("quickdraw", tmp_path / "QuickDraw", "test")
    assert data.classes == ("bat",)
    with pytest.raises(DatasetError, match="no file list found"):
        read_extended("quickdraw", tmp_path / "QuickDraw", "train")


def test_read_extended_tuberlin_check_exists(tmp_path: Path) -> None:
    ds = tmp_path / "TUBerlin"
    z = ds / "zeroshot"
    z.mkdir(parents=True)
    _png(ds / "png_ready" / "bus" / "1.png")
    _png(ds / "ImageResized_ready" / "bus" / "1.png")
    (z / "png_ready_filelist_zero.txt").write_text("png_ready/bus/1.png 0\n")
    (z / "ImageResized_ready_filelist_zero.txt").write_text(
        "ImageResized_ready/bus/1.png 0\nImageResized_ready/bus/2.png 0\n"
    )
    with pytest.raises(DatasetError, match=r"ImageResized_ready_filelist_zero\.txt:2: listed file"):
        read_extended("tuberlin", ds, "test", check_exists=True)
    data = read_extended("tuberlin", ds, "test")
    img = data.load_sketch(0)
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8 and img.min() == 0


def test_open_dataset_extended_with_builtin_or_custom_split(tmp_path: Path) -> None:
    from zse_gui.data import get_split, open_dataset, read_split_file

    ds = _fake_sketchy(tmp_path)
    # The layout's own split uses the official lists ...
    assert open_dataset("sketchy", "test", ds, split=get_split("sketchy25")).classes == ("cup",)
    assert open_dataset("sketchy", "train", ds).classes == ("ant", "bee")
    # ... another split re-partitions the classes of both lists.
    f = tmp_path / "mine.txt"
    f.write_text("bee\n", encoding="utf-8")
    mine = read_split_file(f)
    assert open_dataset("sketchy", "test", ds, split=mine).classes == ("bee",)
    assert open_dataset("sketchy", "train", ds, split=mine).classes == ("ant", "cup")
    with pytest.raises(DatasetError, match="unseen classes not in the dataset"):
        open_dataset("sketchy", "test", ds, split=get_split("tuberlin30"))
