"""Readers for the dataset layouts: the three "Extended" zero-shot datasets, class folders, QuickDraw.

Extended layouts (as distributed with SAKE and used by the released ZSE-SBIR code); ``root`` is
the dataset folder and list paths are relative to it::

    Sketchy/                                   TUBerlin/                      QuickDraw/
      256x256/sketch/tx_000000000000_ready/      png_ready/<class>/...          sketch/<class>/...
      256x256/photo/tx_000000000000/             ImageResized_ready/<class>/... photo/<class>/...
      EXTEND_image_sketchy_ready/<class>/...     zeroshot/                      zeroshot/
      zeroshot1/  (Sketchy-25 split)               png_ready_filelist_train.txt   sketch_train.txt
        sketch_tx_000000000000_ready_filelist_{train,zero}.txt                    sketch_zero.txt
        all_photo_filelist_{train,zero}.txt        ImageResized_ready_filelist_   all_photo_train.txt
      zeroshot0/  (Sketchy-21 split, same names)     {train,zero}.txt             all_photo_zero.txt

``*_train`` lists hold the seen classes, ``*_zero`` lists the unseen (test) classes. Class names
come from each file's parent folder (label ids in the lists are local to one list, so sketches
and photos are joined by folder name), or from a ``{id: name}`` map when given.

Any folder-per-class tree works too (``read_class_folders``): ``sketches/<class>/*.png`` and
``photos/<class>/*.jpg``; a ``<class>.ndjson`` QuickDraw file in the sketch folder stands for a
class whose sketches are rendered from strokes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from zse_gui.data.collection import Sample, SbirData
from zse_gui.data.filelist import ListEntry, read_file_list
from zse_gui.data.imageio import is_image_file
from zse_gui.data.splits import ZeroShotSplit, canonical_class
from zse_gui.errors import DatasetError
from zse_gui.sketch import read_quickdraw_ndjson

__all__ = [
    "LAYOUTS",
    "read_file_lists",
    "read_extended",
    "read_sketchy_ext",
    "read_tuberlin_ext",
    "read_quickdraw_ext",
    "read_class_folders",
    "open_dataset",
]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

# layout -> (dataset folder name, {variant: split folder}, default variant, list name candidates)
# Candidates are tried in order; "{part}" is "train" or "zero".
LAYOUTS: dict[str, tuple[str, dict[str, str], str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "sketchy": (
        "Sketchy",
        {
            "sketchy25": "zeroshot1",
            "sketchy21": "zeroshot0",
            "zeroshot1": "zeroshot1",
            "zeroshot0": "zeroshot0",
        },
        "sketchy25",
        (("sketch_tx_000000000000_ready_filelist_{part}.txt",), ("all_photo_filelist_{part}.txt",)),
    ),
    "tuberlin": (
        "TUBerlin",
        {"tuberlin30": "zeroshot", "zeroshot": "zeroshot"},
        "tuberlin30",
        (("png_ready_filelist_{part}.txt",), ("ImageResized_ready_filelist_{part}.txt",)),
    ),
    "quickdraw": (
        "QuickDraw",
        {"quickdraw30": "zeroshot", "zeroshot": "zeroshot"},
        "quickdraw30",
        (
            ("sketch_{part}.txt", "sketch_filelist_{part}.txt"),
            ("all_photo_{part}.txt", "photo_filelist_{part}.txt"),
        ),
    ),
}

_PARTS = {"train": ("train",), "test": ("zero",), "all": ("train", "zero")}


def _class_of(entry: ListEntry, root: Path, class_names: Mapping[int, str] | None, list_path: Path) -> str:
    if class_names is not None:
        if entry.label not in class_names:
            raise DatasetError(f"{list_path}:{entry.line}: label {entry.label} has no name in the class map")
        return class_names[entry.label]
    try:
        rel_parent = entry.path.parent.relative_to(root)
    except ValueError:
        rel_parent = entry.path.parent
    # A file directly in the root has no class folder: fall back to the label id as the name.
    return entry.path.parent.name if str(rel_parent) not in ("", ".") else str(entry.label)


def _read_list_classes(
    list_path: Path, root: Path, check_exists: bool, class_names: Mapping[int, str] | None
) -> list[tuple[ListEntry, str]]:
    entries = read_file_list(list_path, root, check_exists=check_exists)
    out: list[tuple[ListEntry, str]] = []
    label_class: dict[int, tuple[str, int]] = {}
    for e in entries:
        name = _class_of(e, root, class_names, list_path)
        prev = label_class.setdefault(e.label, (name, e.line))
        if canonical_class(prev[0]) != canonical_class(name):
            raise DatasetError(
                f"{list_path}:{e.line}: label {e.label} is folder {name!r} here "
                f"but {prev[0]!r} on line {prev[1]}; "
                "one label id must name one class"
            )
        out.append((e, name))
    return out


def read_file_lists(
    sketch_lists: Sequence[PathLike],
    photo_lists: Sequence[PathLike],
    root: PathLike,
    name: str = "",
    check_exists: bool = False,
    class_names: Mapping[int, str] | None = None,
) -> SbirData:
    """Read sketch and photo file lists (``relative/path label`` per line) into one ``SbirData``.

    Args:
        sketch_lists: one or more sketch lists.
        photo_lists: one or more photo lists (may be empty for a sketch-only set).
        root: folder the list paths are relative to.
        name: description stored in the result.
        check_exists: require every listed file to exist (slow on network drives).
        class_names: ``{label id: class name}``; default: each file's parent folder name (a file
            directly under ``root`` is named by its label id).

    Returns:
        Classes sorted by canonical name; sketches and photos in list order.

    Raises:
        DatasetError: a list is missing or malformed (file and line named), a label id maps to
            two folders in one list, or (``check_exists``) a listed file is missing.
    """
    base = Path(root)
    display: dict[str, str] = {}
    raw: dict[str, list[tuple[ListEntry, str, Path]]] = {"sketch": [], "photo": []}
    for kind, lists in (("sketch", sketch_lists), ("photo", photo_lists)):
        for lp in lists:
            for e, cname in _read_list_classes(Path(lp), base, check_exists, class_names):
                display.setdefault(canonical_class(cname), cname)
                raw[kind].append((e, cname, Path(lp)))
    keys = sorted(display)
    index = {k: i for i, k in enumerate(keys)}

    def samples(kind: str) -> tuple[Sample, ...]:
        return tuple(Sample(index[canonical_class(c)], e.path, None, e.line) for e, c, _ in raw[kind])

    data = SbirData(tuple(display[k] for k in keys), samples("sketch"), samples("photo"), name)
    if not data.sketches:
        raise DatasetError(f"no sketches listed in {', '.join(map(str, sketch_lists))}")
    log.info("%s", data.summary())
    return data


def _find_root(root: Path, folder: str, split_dirs: set[str]) -> Path:
    """Accept either the dataset folder itself or a parent that contains it."""
    if not any((root / d).is_dir() for d in split_dirs) and (root / folder).is_dir():
        return root / folder
    return root


def _pick(split_dir: Path, candidates: tuple[str, ...], part: str) -> Path:
    for c in candidates:
        p = split_dir / c.format(part=part)
        if p.is_file():
            return p
    tried = ", ".join(c.format(part=part) for c in candidates)
    raise DatasetError(
        f"{split_dir}: no file list found (looked for {tried}); is this the right dataset root?"
    )


def read_extended(
    layout: str,
    root: PathLike,
    part: str = "test",
    variant: str | None = None,
    check_exists: bool = False,
) -> SbirData:
    """Read one of the Extended layouts with its official file lists.

    Args:
        layout: ``"sketchy"``, ``"tuberlin"`` or ``"quickdraw"``.
        root: the dataset folder (``.../Sketchy``) or a folder that contains it.
        part: ``"train"`` (seen classes, ``*_train`` lists), ``"test"`` (unseen, ``*_zero``
            lists) or ``"all"`` (both, e.g. to apply a user split with ``SbirData.split``).
        variant: split folder or built-in split name (Sketchy: ``sketchy25``/``zeroshot1``
            (default) or ``sketchy21``/``zeroshot0``).
        check_exists: require every listed file to exist.

    Raises:
        DatasetError: unknown layout/part/variant, or missing/malformed lists.
    """
    if layout not in LAYOUTS:
        raise DatasetError(
            f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)} or use class folders"
        )
    if part not in _PARTS:
        raise DatasetError(f"unknown part {part!r}; choose train, test or all")
    folder, variants, default, (sk_names, ph_names) = LAYOUTS[layout]
    v = variant or default
    if v not in variants:
        raise DatasetError(
            f"{layout}: unknown split variant {v!r}; choose one of {', '.join(sorted(variants))}"
        )
    base = _find_root(Path(root), folder, set(variants.values()))
    split_dir = base / variants[v]
    if not split_dir.is_dir():
        raise DatasetError(f"{split_dir}: split folder not found; pass the {folder} dataset folder as root")
    sk = [_pick(split_dir, sk_names, p) for p in _PARTS[part]]
    ph = [_pick(split_dir, ph_names, p) for p in _PARTS[part]]
    return read_file_lists(sk, ph, base, name=f"{layout} {variants[v]} {part}", check_exists=check_exists)


def read_sketchy_ext(
    root: PathLike, part: str = "test", variant: str = "sketchy25", check_exists: bool = False
) -> SbirData:
    """Sketchy Extended (``zeroshot1`` = Sketchy-25, ``zeroshot0`` = Sketchy-21); see ``read_extended``."""
    return read_extended("sketchy", root, part, variant, check_exists)


def read_tuberlin_ext(root: PathLike, part: str = "test", check_exists: bool = False) -> SbirData:
    """TU-Berlin Extended (30 unseen classes); see ``read_extended``."""
    return read_extended("tuberlin", root, part, None, check_exists)


def read_quickdraw_ext(root: PathLike, part: str = "test", check_exists: bool = False) -> SbirData:
    """QuickDraw Extended (Doodle2Search, 30 unseen classes); see ``read_extended``."""
    return read_extended("quickdraw", root, part, None, check_exists)


def _class_dirs(folder: Path, what: str) -> list[Path]:
    if not folder.is_dir():
        raise DatasetError(f"{folder}: {what} folder not found; expected one sub-folder per class")
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and is_image_file(p) and not p.name.startswith(".")
    )


def read_class_folders(
    sketch_dir: PathLike,
    photo_dir: PathLike | None = None,
    name: str = "",
    limit_per_class: int | None = None,
) -> SbirData:
    """Read a folder-per-class tree of sketches (images and/or QuickDraw ndjson) and photos.

    Args:
        sketch_dir: ``<class>/`` sub-folders of sketch images (searched recursively), and/or
            ``<class>.ndjson`` QuickDraw files (the file stem is the class name).
        photo_dir: ``<class>/`` sub-folders of photos; None for a sketch-only set.
        name: description stored in the result.
        limit_per_class: keep at most this many sketches and photos per class (first in sorted
            file order / ndjson line order), for quick experiments.

    Returns:
        Classes sorted by canonical name, joined across the two trees by canonical name.

    Raises:
        DatasetError: a folder is missing, no sketch is found, or an ndjson line is malformed.
    """
    sk_root = Path(sketch_dir)
    display: dict[str, str] = {}
    sketches: dict[str, list[Sample]] = {}
    photos: dict[str, list[Sample]] = {}
    for d in _class_dirs(sk_root, "sketch"):
        files = _images_in(d)[:limit_per_class]
        if files:
            key = canonical_class(d.name)
            display.setdefault(key, d.name)
            sketches.setdefault(key, []).extend(Sample(-1, f) for f in files)
    for f in sorted(sk_root.glob("*.ndjson")):
        drawings = read_quickdraw_ndjson(f, limit=limit_per_class)
        if drawings:
            key = canonical_class(f.stem)
            display.setdefault(key, f.stem)
            sketches.setdefault(key, []).extend(Sample(-1, f, d, 0) for d in drawings)
    if not sketches:
        raise DatasetError(
            f"{sk_root}: no sketches found (expected <class>/ folders of images or <class>.ndjson files)"
        )
    if photo_dir is not None:
        for d in _class_dirs(Path(photo_dir), "photo"):
            files = _images_in(d)[:limit_per_class]
            if files:
                key = canonical_class(d.name)
                display.setdefault(key, d.name)
                photos.setdefault(key, []).extend(Sample(-1, f) for f in files)
    keys = sorted(display)
    index = {k: i for i, k in enumerate(keys)}

    def relabel(groups: dict[str, list[Sample]]) -> tuple[Sample, ...]:
        return tuple(Sample(index[k], s.path, s.drawing, s.line) for k in keys for s in groups.get(k, []))

    data = SbirData(tuple(display[k] for k in keys), relabel(sketches), relabel(photos), name or sk_root.name)
    only_sk = sorted(set(sketches) - set(photos))
    if photo_dir is not None and only_sk:
        log.warning("%d classes have sketches but no photos, e.g. %s", len(only_sk), only_sk[:5])
    log.info("%s", data.summary())
    return data


def open_dataset(
    layout: str,
    part: str,
    root: PathLike | None = None,
    sketch_dir: PathLike | None = None,
    photo_dir: PathLike | None = None,
    split: ZeroShotSplit | None = None,
    limit_per_class: int | None = None,
    check_exists: bool = False,
) -> SbirData:
    """One part of a dataset for training or testing, the way the CLIs ask for it.

    Args:
        layout: ``"sketchy"``, ``"tuberlin"``, ``"quickdraw"`` (Extended layouts under ``root``)
            or ``"folders"`` (``sketch_dir`` / ``photo_dir`` class folders, ndjson allowed).
        part: ``"train"`` (seen classes), ``"test"`` (unseen classes) or ``"all"``.
        root: dataset folder of an Extended layout.
        sketch_dir, photo_dir: class folders for ``"folders"``.
        split: zero-shot split. For an Extended layout, None or its built-in split uses the
            official lists (``*_train`` / ``*_zero``); another split re-partitions all classes.
            For ``"folders"`` a split is needed unless ``part == "all"``.
        limit_per_class: ``"folders"`` only: at most this many sketches/photos per class.
        check_exists: Extended layouts: require every listed file to exist.

    Raises:
        DatasetError: missing arguments or data, malformed lists, unknown classes in the split.
    """
    if part not in _PARTS:
        raise DatasetError(f"unknown part {part!r}; choose train, test or all")
    if layout in LAYOUTS:
        if root is None:
            raise DatasetError(f"layout {layout!r} needs --root (the {LAYOUTS[layout][0]} dataset folder)")
        variants = LAYOUTS[layout][1]
        if split is None or split.name in variants:
            variant = split.name if split is not None else None
            return read_extended(layout, root, part, variant, check_exists)
        data = read_extended(layout, root, "all", None, check_exists)
    elif layout == "folders":
        if sketch_dir is None:
            raise DatasetError("layout 'folders' needs --sketches (one sub-folder or .ndjson file per class)")
        data = read_class_folders(sketch_dir, photo_dir, limit_per_class=limit_per_class)
        if split is None:
            if part != "all":
                raise DatasetError("class folders have no built-in split; pass --split NAME|FILE")
            return data
    else:
        raise DatasetError(f"unknown layout {layout!r}; choose {', '.join([*LAYOUTS, 'folders'])}")
    if part == "all":
        return data
    seen, unseen = data.split(split)
    return seen if part == "train" else unseen
