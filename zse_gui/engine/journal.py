"""Crash-safe progress of an indexing run, and the lock that serialises writers of one cache.

``ProgressJournal`` keeps the photos encoded by an unfinished run in three files of the cache
folder::

    progress.jsonl       a header line, then one line per committed batch (keys, skipped files,
                         row range and CRC-32 of its rows), each line with its own checksum
    progress-emb.bin     [R, C] float32 rows (L2-normalised [Ret] embeddings), raw
    progress-tok.bin     SA tokens of the R rows, raw, in the cache's token layout
                         (``zse_gui.engine.tokenstore.TokenLayout``: float16 [R, T, C], or
                         [R] records of 8-bit codes and float16 scales)

A batch is committed by appending its rows, fsyncing them, then appending and fsyncing its
line. A kill at any moment therefore loses at most the batch being written: on the next run
``open`` keeps every line whose checksum and row CRCs hold and cuts the files back to them.
The journal is deleted once its rows are part of a committed cache generation.

``CacheLock`` is an exclusive ``flock`` on ``<cache folder>/.lock``; writers hold it for the
whole update, so temp files found while holding it are abandoned and may be removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import zlib
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np

from zse_gui.engine import cache as _cache
from zse_gui.engine.tokenstore import TokenLayout

try:  # POSIX; elsewhere indexing runs without an inter-process lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["CacheLock", "ProgressJournal", "JOURNAL_FILES"]

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
JOURNAL_FILES = ("progress.jsonl", "progress-emb.bin", "progress-tok.bin")

Key = tuple[str, int, int]


class CacheLock:
    """An exclusive inter-process lock on one cache folder (``flock`` on its ``.lock`` file).

    Args:
        cache_dir: the cache folder (created if needed).
    """

    def __init__(self, cache_dir: Path) -> None:
        self.path = cache_dir / LOCK_NAME
        self._fd: int | None = None
        self._dir = cache_dir

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; with ``blocking=False`` return False at once when another process holds it.

        Raises:
            OSError: the folder or lock file cannot be created.
        """
        self._dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:  # pragma: no cover - Windows
            self._fd = fd
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> CacheLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _line(doc: dict[str, Any]) -> bytes:
    body = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return (json.dumps({"doc": doc, "crc": zlib.crc32(body.encode("utf-8"))}) + "\n").encode("utf-8")


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        rec = json.loads(line.decode("utf-8"))
        doc = rec["doc"]
        body = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        if not isinstance(doc, dict) or zlib.crc32(body.encode("utf-8")) != int(rec["crc"]):
            return None
        return doc
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None


class ProgressJournal:
    """Rows encoded by an indexing run that has not committed a cache generation yet.

    Attributes:
        rows: ``(rel, size, mtime_ns)`` -> row of the journal's arrays.
        bad: ``(rel, size, mtime_ns)`` -> why the file could not be read.
        num_rows: rows committed so far.
    """

    def __init__(self, cache_dir: Path, header: dict[str, Any], layout: TokenLayout) -> None:
        self.dir = cache_dir
        self.header = header
        self.layout = layout
        self.paths = [cache_dir / n for n in JOURNAL_FILES]
        self.rows: dict[Key, int] = {}
        self.bad: dict[Key, str] = {}
        self.num_rows = 0
        self._fhs: list[BinaryIO] = []
        self._emb_bytes = 4 * layout.embed_dim
        self._tok_bytes = layout.row_bytes

    # ---- reading back ----------------------------------------------------------------------
    @classmethod
    def open(cls, cache_dir: Path, header: dict[str, Any], layout: TokenLayout) -> ProgressJournal:
        """Load what an earlier run committed (if it was for the same header) and open for appending.

        Torn or damaged tails are cut off; a journal of another model or gallery is discarded.

        Raises:
            OSError: the files cannot be created or truncated.
        """
        j = cls(cache_dir, header, layout)
        lines_end = j._recover()
        if lines_end == 0:
            j.discard()  # nothing usable; the files are created by the first ``append``
        else:
            with open(j.paths[0], "r+b") as fh:
                fh.truncate(lines_end)
            for p, per_row in zip(j.paths[1:], (j._emb_bytes, j._tok_bytes), strict=True):
                with open(p, "r+b") as fh:
                    fh.truncate(j.num_rows * per_row)
            j._fhs = [open(p, "ab") for p in j.paths]  # noqa: SIM115 - kept open across batches
        if j.num_rows:
            log.info("resuming an interrupted indexing run: %d photos already encoded", j.num_rows)
        return j

    def _recover(self) -> int:
        """Read committed lines; return the byte length of the good prefix (0 = nothing usable)."""
        jpath, epath, tpath = self.paths
        try:
            text = jpath.read_bytes()
            emb_size, tok_size = epath.stat().st_size, tpath.stat().st_size
        except OSError:
            return 0
        pos, good_end = 0, 0
        first = True
        with open(epath, "rb") as fe, open(tpath, "rb") as ft:
            while True:
                nl = text.find(b"\n", pos)
                if nl < 0:
                    break
                doc = _parse(text[pos:nl])
                if doc is None:
                    break
                if first:
                    if doc.get("header") != self.header:
                        return 0
                    first = False
                    pos = good_end = nl + 1
                    continue
                try:
                    start, n = int(doc["start"]), int(doc["n"])
                    keys = [(str(k[0]), int(k[1]), int(k[2])) for k in doc["keys"]]
                    bad = [((str(b[0]), int(b[1]), int(b[2])), str(b[3])) for b in doc["bad"]]
                except (KeyError, TypeError, ValueError, IndexError):
                    break
                if start != self.num_rows or n != len(keys):
                    break
                end = start + n
                if end * self._emb_bytes > emb_size or end * self._tok_bytes > tok_size:
                    break
                fe.seek(start * self._emb_bytes)
                ft.seek(start * self._tok_bytes)
                if zlib.crc32(fe.read(n * self._emb_bytes)) != doc["crc_emb"]:
                    break
                if zlib.crc32(ft.read(n * self._tok_bytes)) != doc["crc_tok"]:
                    break
                for k, key in enumerate(keys):
                    self.rows[key] = start + k
                self.bad.update(bad)
                self.num_rows = end
                pos = good_end = nl + 1
        return 0 if first else good_end

    def _start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        for p in self.paths:
            self._fhs.append(open(p, "wb"))  # noqa: SIM115 - kept open across batches
        _cache._write_bytes(self._fhs[0], _line({"header": self.header}))
        self._sync(self._fhs[0])

    @staticmethod
    def _sync(fh: BinaryIO) -> None:
        fh.flush()
        os.fsync(fh.fileno())

    # ---- writing ---------------------------------------------------------------------------
    def append(
        self, keys: list[Key], emb: np.ndarray, tokens: np.ndarray, bad: list[tuple[Key, str]]
    ) -> None:
        """Commit one batch: ``emb`` [n, C] float32 (normalised), ``tokens`` (stored rows of the
        layout, ``TokenLayout.encode``) for ``keys``.

        Raises:
            OSError: writing failed (for example ENOSPC); earlier batches stay committed.
        """
        e = np.ascontiguousarray(emb, np.float32)
        t = np.ascontiguousarray(tokens, self.layout.dtype)
        assert len(e) == len(t) == len(keys)
        if not self._fhs:
            self._start()
        fj, fe, ft = self._fhs
        _cache._write_bytes(fe, e)
        _cache._write_bytes(ft, t)
        self._sync(fe)
        self._sync(ft)
        doc = {
            "start": self.num_rows,
            "n": len(keys),
            "keys": [list(k) for k in keys],
            "bad": [[*k, why] for k, why in bad],
            "crc_emb": zlib.crc32(_cache._raw(e)),
            "crc_tok": zlib.crc32(_cache._raw(t)),
        }
        _cache._write_bytes(fj, _line(doc))
        self._sync(fj)
        for k, key in enumerate(keys):
            self.rows[key] = self.num_rows + k
        self.bad.update(bad)
        self.num_rows += len(keys)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Read-only views of the committed rows: ([R, C] float32, stored token rows of the layout)."""
        lay, c = self.layout, self.layout.embed_dim
        if self.num_rows == 0:
            return np.zeros((0, c), np.float32), lay.empty(0)
        for fh in self._fhs:
            fh.flush()
        emb = np.memmap(self.paths[1], np.float32, "r", shape=(self.num_rows, c))
        if lay.row_bytes == 0:  # no tokens kept (token policy "none"): the file is empty and cannot be mapped
            return emb, lay.empty(self.num_rows)
        tok = np.memmap(self.paths[2], lay.dtype, "r", shape=(self.num_rows, *lay.row_shape))
        return emb, tok

    def close(self) -> None:
        """Close the files, keeping what was committed (an unflushable tail is cut on reopen)."""
        fhs, self._fhs = self._fhs, []
        for fh in fhs:
            with contextlib.suppress(OSError):
                fh.close()

    def discard(self) -> None:
        """Close and delete the journal (its rows are committed elsewhere, or worthless)."""
        self.close()
        for p in self.paths:
            with contextlib.suppress(OSError):
                p.unlink()

    def __enter__(self) -> ProgressJournal:
        return self

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
