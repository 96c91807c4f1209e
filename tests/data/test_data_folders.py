"""Folder-per-class trees, QuickDraw ndjson class files, ``open_dataset`` and the toy generator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zse_gui.data import get_split, open_dataset, read_class_folders
from zse_gui.data.synthetic import make_toy_dataset
from zse_gui.errors import DatasetError

QUICKDRAW = Path(__file__).resolve().parents[3] / "shared" / "data" / "quickdraw" / "ndjson"


def _ndjson(path: Path, word: str, n: int) -> None:
    lines = []
    for i in range(n):
        rec = {
            "word": word,
            "key_id": str(i),
            "recognized": True,
            "countrycode": "GB",
            "drawing": [[[10, 200, 200], [10, 10, 200 - i]]],
        }
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_class_folders_with_images_and_ndjson(tmp_path: Path) -> None:
    sk, ph = make_toy_dataset(
        tmp_path, classes=("circle", "square"), sketches_per_class=3, photos_per_class=2, size=32
    )
    _ndjson(sk / "palm tree.ndjson", "palm tree", 4)
    (ph / "palm_tree").mkdir()
    (ph / "palm_tree" / "p.png").write_bytes((ph / "circle" / "circle_000.png").read_bytes())
    data = read_class_folders(sk, ph, limit_per_class=3)
    assert data.classes == ("circle", "palm tree", "square")
    assert len(data.sketches) == 3 + 3 + 3 and len(data.photos) == 2 + 1 + 2
    drawn = [i for i, s in enumerate(data.sketches) if s.drawing is not None]
    assert len(drawn) == 3 and all(data.sketches[i].label == 1 for i in drawn)
    img = data.load_sketch(drawn[0])
    assert img.shape == (256, 256, 3) and img.dtype == np.uint8
    assert img.min() < 100 and img.max() == 255  # black strokes on white
    photo = data.load_photo(0)
    assert photo.shape == (32, 32, 3)


def test_class_folders_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="sketch folder not found"):
        read_class_folders(tmp_path / "nope")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no sketches found"):
        read_class_folders(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "cat.ndjson").write_text(
        '{"word": "cat", "drawing": [[[0, 1], [0, 1]]]}\nnot json\n', encoding="utf-8"
    )
    with pytest.raises(DatasetError, match=r"cat\.ndjson:2"):
        read_class_folders(bad)


def test_open_dataset_folders_with_split(tmp_path: Path) -> None:
    sk, ph = make_toy_dataset(
        tmp_path, classes=("circle", "square", "triangle"), sketches_per_class=2, photos_per_class=2, size=32
    )
    f = tmp_path / "split.txt"
    f.write_text("triangle\n", encoding="utf-8")
    from zse_gui.data import read_split_file

    split = read_split_file(f)
    train = open_dataset("folders", "train", sketch_dir=sk, photo_dir=ph, split=split)
    test = open_dataset("folders", "test", sketch_dir=sk, photo_dir=ph, split=split)
    assert train.classes == ("circle", "square") and test.classes == ("triangle",)
    assert len(open_dataset("folders", "all", sketch_dir=sk, photo_dir=ph).classes) == 3
    with pytest.raises(DatasetError, match="no built-in split"):
        open_dataset("folders", "test", sketch_dir=sk, photo_dir=ph)
    with pytest.raises(DatasetError, match="needs --root"):
        open_dataset("sketchy", "test")


def test_toy_dataset_is_reproducible(tmp_path: Path) -> None:
    a = make_toy_dataset(tmp_path / "a", classes=("star",), sketches_per_class=1, photos_per_class=1, seed=3)
    b = make_toy_dataset(tmp_path / "b", classes=("star",), sketches_per_class=1, photos_per_class=1, seed=3)
    for x, y in zip(a, b, strict=True):
        assert (x / "star" / "star_000.png").read_bytes() == (y / "star" / "star_000.png").read_bytes()
    with pytest.raises(DatasetError, match="unknown toy shape"):
        make_toy_dataset(tmp_path / "c", classes=("blob",))


@pytest.mark.skipif(not QUICKDRAW.is_dir(), reason="QuickDraw sample data not present")
def test_real_quickdraw_ndjson_folder() -> None:
    data = read_class_folders(QUICKDRAW, limit_per_class=2)
    assert len(data.classes) == 344 and len(data.sketches) == 688 and not data.photos
    seen, unseen = data.split(get_split("quickdraw30"))  # strict: all 30 unseen classes are present
    assert len(unseen.classes) == 30 and len(seen.classes) == 314
    i = data.classes.index("fire hydrant")
    idx = data.indices_by_class("sketch")[i]
    img = data.load_sketch(idx[0])
    assert img.shape == (256, 256, 3)
    ink = (img.astype(int).sum(-1) <= 300).mean()
    assert 0.005 < ink < 0.5  # a real doodle: some ink, mostly paper
    assert data.sketches[idx[0]].drawing is not None
    assert data.sketches[idx[0]].drawing.word == "fire hydrant"
