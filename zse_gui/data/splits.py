"""Zero-shot class splits: the four built into the released code, plus user split files.

A split names the *unseen* classes (the test classes of zero-shot SBIR); every other class of a
dataset is seen (a training class). Class names are compared in a canonical form
(``canonical_class``), so ``fire_hydrant``, ``fire hydrant`` and ``Fire-Hydrant`` are one class:
the datasets spell their folders differently (TU-Berlin ``frying-pan``, QuickDraw ``frying pan``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from zse_gui.errors import DatasetError

__all__ = [
    "ZeroShotSplit",
    "BUILTIN_SPLITS",
    "canonical_class",
    "get_split",
    "read_split_file",
    "resolve_split",
]

log = logging.getLogger(__name__)

_SEPARATORS = re.compile(r"[\s_\-]+")


def canonical_class(name: str) -> str:
    """Canonical spelling of a class name: lower case, runs of spaces/``_``/``-`` -> one space.

    >>> canonical_class("Fire_Hydrant")
    'fire hydrant'
    """
    return _SEPARATORS.sub(" ", name.strip().lower()).strip()


@dataclass(frozen=True)
class ZeroShotSplit:
    """The unseen (test) classes of a zero-shot split.

    Attributes:
        name: short name, e.g. ``"sketchy25"`` or the user file's path.
        dataset: dataset the split belongs to (``"sketchy"``, ``"tuberlin"``, ``"quickdraw"``, or
            ``"custom"``).
        unseen: unseen class names as written in the source (reference section 4.3 or the file).
        description: one line for humans.
        lines: for user files, the line number of each unseen class (same order as ``unseen``),
            so a class the dataset lacks can be reported where it was written.
    """

    name: str
    dataset: str
    unseen: tuple[str, ...]
    description: str = ""
    lines: tuple[int, ...] = field(default=())

    @property
    def unseen_canonical(self) -> frozenset[str]:
        """The unseen classes in canonical form."""
        return frozenset(canonical_class(c) for c in self.unseen)

    def is_unseen(self, class_name: str) -> bool:
        """True when ``class_name`` (any spelling) is one of the unseen classes."""
        return canonical_class(class_name) in self.unseen_canonical

    def partition(self, classes: Iterable[str], strict: bool = True) -> tuple[list[str], list[str]]:
        """Split dataset class names into (seen, unseen), keeping their order.

        Args:
            classes: the dataset's class names.
            strict: raise when an unseen class of the split is not among ``classes``.

        Raises:
            DatasetError: ``strict`` and some unseen classes are missing from the dataset; the
                message lists them (with their line in a user split file).
        """
        names = list(classes)
        present = {canonical_class(c) for c in names}
        missing = [
            (c, self.lines[i] if i < len(self.lines) else None)
            for i, c in enumerate(self.unseen)
            if canonical_class(c) not in present
        ]
        if missing and strict:
            where = ", ".join(f"{c!r}" + (f" (line {ln})" if ln else "") for c, ln in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise DatasetError(
                f"split {self.name}: unseen classes not in the dataset: {where}{more}; "
                "check the spelling or pick the split that belongs to this dataset"
            )
        if missing:
            log.warning("split %s: %d unseen classes absent from the data", self.name, len(missing))
        unseen = self.unseen_canonical
        seen_list = [c for c in names if canonical_class(c) not in unseen]
        unseen_list = [c for c in names if canonical_class(c) in unseen]
        return seen_list, unseen_list


def _split(name: str, dataset: str, classes: str, description: str) -> ZeroShotSplit:
    unseen = tuple(c.strip() for c in classes.split(",") if c.strip())
    return ZeroShotSplit(name, dataset, unseen, description)


# Reference section 4.3 (the released ``test_class_*`` lists), spelled as written there.
BUILTIN_SPLITS: dict[str, ZeroShotSplit] = {
    s.name: s
    for s in (
        _split(
            "sketchy25",
            "sketchy",
            "cup, swan, harp, squirrel, snail, ray, pineapple, volcano, rifle, scissors, parrot, windmill, "
            "teddy_bear, tree, wine_bottle, deer, chicken, airplane, wheelchair, tank, umbrella, butterfly, "
            "camel, horse, bell",
            "Sketchy Ext, 25 random unseen classes (ZSIH / SAKE split, official zeroshot1)",
        ),
        _split(
            "sketchy21",
            "sketchy",
            "bat, cabin, cow, dolphin, door, giraffe, helicopter, mouse, pear, raccoon, rhinoceros, saw, "
            "scissors, seagull, skyscraper, songbird, sword, tree, wheelchair, windmill, window",
            "Sketchy Ext, 21 ImageNet-disjoint unseen classes (Yelamarthi et al., official zeroshot0)",
        ),
        _split(
            "tuberlin30",
            "tuberlin",
            "banana, bus, tractor, suitcase, streetlight, telephone, bottle opener, canoe, fan, teacup, "
            "penguin, laptop, shoe, lighter, hot air balloon, pizza, brain, ant, t-shirt, trombone, "
            "windmill, snowboard, table, rollerblades, parachute, space shuttle, bridge, frying-pan, bread, "
            "horse",
            "TU-Berlin Ext, 30 unseen / 220 seen classes",
        ),
        _split(
            "quickdraw30",
            "quickdraw",
            "bat, cow, dolphin, door, giraffe, helicopter, mouse, raccoon, rhinoceros, saw, scissors, "
            "skyscraper, tree, windmill, feather, campfire, palm tree, fire_hydrant, bread, beach, "
            "megaphone, cactus, zebra, tiger, shark, frog, banana, cake, hamburger, fan",
            "QuickDraw Ext (Doodle2Search), 30 unseen / 80 seen classes",
        ),
    )
}


def get_split(name: str) -> ZeroShotSplit:
    """A built-in split by name (``sketchy25``, ``sketchy21``, ``tuberlin30``, ``quickdraw30``).

    Raises:
        DatasetError: unknown name; the message lists the known ones.
    """
    try:
        return BUILTIN_SPLITS[name]
    except KeyError:
        raise DatasetError(
            f"unknown split {name!r}; built-in splits: {', '.join(sorted(BUILTIN_SPLITS))}, "
            "or pass a split file (one unseen class per line)"
        ) from None


def read_split_file(path: str | os.PathLike[str]) -> ZeroShotSplit:
    """Read a user split file: one unseen class name per line.

    Blank lines and text after ``#`` are ignored; names may contain spaces.

    Raises:
        DatasetError: the file is unreadable or empty, or a class is listed twice (the message
            gives both line numbers).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{p}: cannot read split file ({e})") from None
    names: list[str] = []
    lines: list[int] = []
    first_seen: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        name = raw.split("#", 1)[0].strip()
        if not name:
            continue
        key = canonical_class(name)
        if key in first_seen:
            raise DatasetError(
                f"{p}:{lineno}: class {name!r} is already listed on line {first_seen[key]}; "
                "remove one of them"
            )
        first_seen[key] = lineno
        names.append(name)
        lines.append(lineno)
    if not names:
        raise DatasetError(f"{p}: the split file lists no classes; write one unseen class name per line")
    return ZeroShotSplit(str(p), "custom", tuple(names), f"user split file {p.name}", tuple(lines))


def resolve_split(name_or_path: str | os.PathLike[str]) -> ZeroShotSplit:
    """A built-in split name, or else the path of a split file."""
    text = str(name_or_path)
    if text in BUILTIN_SPLITS:
        return BUILTIN_SPLITS[text]
    if Path(text).is_file():
        return read_split_file(text)
    return get_split(text)  # raises with the list of known names
