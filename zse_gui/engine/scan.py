"""Finding the images of a gallery folder, with every file or folder left out reported.

Nothing is dropped silently: a sub-folder that cannot be listed, a file that cannot be stat'ed
and a symbolic link that leads out of the gallery folder each come back as a ``ScanProblem``
with the reason, and the indexer lists them among the skipped files.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from zse_gui.data.imageio import is_image_file

__all__ = ["ScanResult", "scan_gallery"]

log = logging.getLogger(__name__)


@dataclass
class ScanResult:
    """What a scan found.

    Attributes:
        files: sorted ``(relative posix path, size, mtime_ns)`` of image files.
        problems: sorted ``(relative posix path, reason)`` of what was left out; folders end in ``/``.
    """

    files: list[tuple[str, int, int]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


def _rel(path: str | os.PathLike[str], root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _inside(target: Path, root: Path) -> bool:
    return target == root or root in target.parents


def scan_gallery(root: Path, follow_symlinks: bool = False) -> ScanResult:
    """Recursive scan of ``root`` (an absolute, resolved folder) for image files.

    Hidden files and folders (names starting with ``.``) are ignored. Symbolic links are
    followed only when they stay inside ``root`` (folders: only with ``follow_symlinks``);
    with ``follow_symlinks`` any link is followed.
    """
    out = ScanResult()

    def onerror(err: OSError) -> None:
        where = _rel(err.filename, root) if err.filename else "?"
        out.problems.append((where.rstrip("/") + "/", f"cannot list folder: {err.strerror or err}"))

    seen_dirs: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=follow_symlinks):
        here = Path(dirpath)
        if follow_symlinks:
            try:  # a link cycle would otherwise be walked until the path is too long
                st = here.stat()
                if (st.st_dev, st.st_ino) in seen_dirs:
                    dirnames[:] = []
                    continue
                seen_dirs.add((st.st_dev, st.st_ino))
            except OSError:
                pass
        keep = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            full = here / d
            if full.is_symlink() and not follow_symlinks:
                why = "symbolic link to a folder, not followed (use --follow-symlinks)"
                out.problems.append((_rel(full, root) + "/", why))
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            if name.startswith(".") or not is_image_file(name):
                continue
            full = here / name
            rel = _rel(full, root)
            try:
                if not follow_symlinks and full.is_symlink() and not _inside(full.resolve(), root):
                    out.problems.append(
                        (rel, "symbolic link leading out of the gallery folder, not followed "
                         "(use --follow-symlinks)")
                    )  # fmt: skip
                    continue
                st = full.stat()
            except (OSError, RuntimeError) as e:
                reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
                log.warning("cannot stat %s: %s", full, reason)
                out.problems.append((rel, f"cannot read file information: {reason}"))
                continue
            out.files.append((rel, st.st_size, st.st_mtime_ns))
    out.files.sort()
    out.problems.sort()
    return out
