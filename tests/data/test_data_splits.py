"""Zero-shot splits: the built-in lists, user split files, and applying a split to data."""

from __future__ import annotations

from pathlib import Path

import pytest

from zse_gui.data import (
    BUILTIN_SPLITS,
    Sample,
    SbirData,
    canonical_class,
    get_split,
    read_split_file,
    resolve_split,
)
from zse_gui.errors import DatasetError


def test_builtin_splits_have_the_reference_sizes() -> None:
    sizes = {name: len(s.unseen) for name, s in BUILTIN_SPLITS.items()}
    assert sizes == {"sketchy25": 25, "sketchy21": 21, "tuberlin30": 30, "quickdraw30": 30}
    for s in BUILTIN_SPLITS.values():
        assert len(s.unseen_canonical) == len(s.unseen), f"{s.name} lists a class twice"
    assert get_split("tuberlin30").is_unseen("Frying_Pan")
    assert get_split("quickdraw30").is_unseen("fire hydrant")
    assert not get_split("sketchy25").is_unseen("cat")
    with pytest.raises(DatasetError, match="built-in splits: quickdraw30, sketchy21, sketchy25, tuberlin30"):
        get_split("sketchy99")


def test_canonical_class_merges_spellings() -> None:
    assert (
        canonical_class(" Palm_Tree ")
        == canonical_class("palm tree")
        == canonical_class("palm-tree")
        == "palm tree"
    )


def test_read_split_file_comments_and_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "split.txt"
    f.write_text("# unseen\ncat\n\nhot air balloon  # with a comment\n", encoding="utf-8")
    s = read_split_file(f)
    assert s.unseen == ("cat", "hot air balloon") and s.lines == (2, 4) and s.dataset == "custom"
    assert resolve_split(str(f)) == s
    assert resolve_split("sketchy21") is BUILTIN_SPLITS["sketchy21"]


def test_read_split_file_errors(tmp_path: Path) -> None:
    dup = tmp_path / "dup.txt"
    dup.write_text("cat\ndog\nCat\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"dup\.txt:3: class 'Cat' is already listed on line 1"):
        read_split_file(dup)
    empty = tmp_path / "empty.txt"
    empty.write_text("# only comments\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="lists no classes"):
        read_split_file(empty)
    with pytest.raises(DatasetError, match="cannot read split file"):
        read_split_file(tmp_path / "missing.txt")


def _data() -> SbirData:
    classes = ("cat", "dog", "fire_hydrant", "owl")
    sk = tuple(Sample(i % 4, Path(f"s{i}.png")) for i in range(8))
    ph = tuple(Sample(i % 4, Path(f"p{i}.png")) for i in range(12))
    return SbirData(classes, sk, ph, "toy")


def test_split_partitions_and_relabels(tmp_path: Path) -> None:
    f = tmp_path / "split.txt"
    f.write_text("owl\nfire hydrant\n", encoding="utf-8")
    seen, unseen = _data().split(read_split_file(f))
    assert seen.classes == ("cat", "dog") and unseen.classes == ("fire_hydrant", "owl")
    assert len(seen.sketches) == 4 and len(unseen.photos) == 6
    assert sorted(set(unseen.photo_labels().tolist())) == [0, 1]
    assert all(unseen.classes[s.label] in ("fire_hydrant", "owl") for s in unseen.sketches)


def test_split_missing_class_names_its_line(tmp_path: Path) -> None:
    f = tmp_path / "split.txt"
    f.write_text("owl\nunicorn\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"'unicorn' \(line 2\)"):
        _data().split(read_split_file(f))
    seen, unseen = _data().split(read_split_file(f), strict=False)
    assert unseen.classes == ("owl",) and len(seen.classes) == 3


def test_select_subsample_and_label_checks() -> None:
    d = _data()
    sub = d.select_classes(["owl", "cat"])
    assert sub.classes == ("owl", "cat")
    assert {s.path.name for s in sub.sketches if s.label == 0} == {"s3.png", "s7.png"}
    with pytest.raises(DatasetError, match="class 'emu' is not in toy"):
        d.select_classes(["emu"])
    small = d.subsample(2, 3)
    assert [s.path.name for s in small.sketches] == ["s0.png", "s2.png", "s4.png", "s6.png"]
    assert len(small.photos) == 4
    with pytest.raises(DatasetError, match="label 7 is outside 0..3"):
        SbirData(d.classes, (Sample(7, Path("x.png"), line=5),), ())
