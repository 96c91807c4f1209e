"""The official file-list format: ``relative/path label`` per line.

This is the format of the Sketchy-Ext, TU-Berlin-Ext and QuickDraw-Ext lists that the released
code and SAKE use. The label is the last whitespace-separated token (a non-negative integer id,
local to the list); everything before it is the path, which may contain spaces (TU-Berlin has
folders such as ``hot air balloon``). Paths are relative to the dataset root.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from zse_gui.errors import DatasetError

__all__ = ["ListEntry", "read_file_list", "write_file_list"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListEntry:
    """One line of a file list.

    Attributes:
        path: the file, resolved against the root passed to ``read_file_list``.
        label: integer class id as written in the list.
        line: 1-based line number in the list file (for error messages).
    """

    path: Path
    label: int
    line: int


def read_file_list(
    list_path: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    check_exists: bool = False,
) -> list[ListEntry]:
    """Parse a ``relative/path label`` file list.

    Blank lines and lines starting with ``#`` are skipped.

    Args:
        list_path: the list file.
        root: folder the relative paths are resolved against (default: the list's folder).
            Absolute paths in the list are kept as they are.
        check_exists: also require every listed file to exist.

    Returns:
        The entries in file order.

    Raises:
        DatasetError: the list is missing or unreadable, a line has no label, the label is not a
            non-negative integer, or (``check_exists``) a listed file does not exist. The message
            names the list file and the line number.
    """
    lp = Path(list_path)
    base = Path(root) if root is not None else lp.parent
    try:
        text = lp.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{lp}: file list not found; check the dataset root and split folder") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{lp}: cannot read file list ({e})") from None
    entries: list[ListEntry] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise DatasetError(
                f"{lp}:{lineno}: expected 'relative/path label', got {line!r}; "
                "add the integer class id after the path"
            )
        rel, label_text = parts
        try:
            label = int(label_text)
        except ValueError:
            raise DatasetError(
                f"{lp}:{lineno}: label {label_text!r} is not an integer; each line must end with a class id"
            ) from None
        if label < 0:
            raise DatasetError(f"{lp}:{lineno}: negative label {label}; class ids start at 0")
        path = Path(rel) if Path(rel).is_absolute() else base / rel
        if check_exists and not path.is_file():
            raise DatasetError(
                f"{lp}:{lineno}: listed file {path} does not exist; is the dataset root {base} right?"
            )
        entries.append(ListEntry(path, label, lineno))
    if not entries:
        raise DatasetError(f"{lp}: the file list has no entries")
    return entries


def write_file_list(
    entries: Iterable[tuple[str | os.PathLike[str], int]],
    list_path: str | os.PathLike[str],
    root: str | os.PathLike[str],
) -> int:
    """Write ``relative/path label`` lines, paths relative to ``root`` with ``/`` separators.

    Returns:
        The number of lines written.

    Raises:
        DatasetError: a path is not under ``root``.
    """
    base = Path(root)
    lines = []
    for path, label in entries:
        try:
            rel = Path(path).relative_to(base)
        except ValueError:
            raise DatasetError(
                f"{path} is not under the dataset root {base}; lists hold relative paths"
            ) from None
        lines.append(f"{rel.as_posix()} {int(label)}\n")
    out = Path(list_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(lines), encoding="utf-8")
    return len(lines)
