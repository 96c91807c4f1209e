"""On-disk storage of a gallery index: a checksummed manifest plus ``.npy`` arrays.

Layout of one cache directory (one per gallery folder, model config and weights)::

    manifest.json            entries, skipped files, array file names, checksums (the commit point)
    emb-<gen>.npy            [N, C] float32 L2-normalised [Ret] embeddings
    tokens-<gen>.npy         [N, T, C] float16 SA tokens

Every write goes to a temporary file first and is moved into place with ``os.replace``; array
files of a new generation get new names, and the manifest is replaced last. A failure at any
point (for example ENOSPC) therefore leaves the previous generation complete and usable.

Arrays are written with ordinary buffered file writes rather than through a writable memmap:
a memmap on a full disk fails with SIGBUS instead of a catchable ``OSError``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from zse_gui.errors import GalleryError

__all__ = [
    "CACHE_VERSION",
    "CacheEntry",
    "CacheState",
    "default_cache_root",
    "load_cache",
    "write_cache",
    "NpyStreamWriter",
]

log = logging.getLogger(__name__)

CACHE_VERSION = 1
MANIFEST = "manifest.json"


def default_cache_root() -> Path:
    """``$ZSE_CACHE_DIR``, else the platform user cache dir (``$XDG_CACHE_HOME`` or ``~/.cache``)
    plus ``zse-gui``."""
    env = os.environ.get("ZSE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "zse-gui"


@dataclass(frozen=True)
class CacheEntry:
    """One cached file: relative path, the key that detects changes, and its label."""

    rel: str
    size: int
    mtime_ns: int
    label: str | None

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.rel, self.size, self.mtime_ns)


@dataclass
class CacheState:
    """A loaded (validated) cache generation.

    Attributes:
        entries: cached files in row order.
        skipped: ``(rel, size, mtime_ns, reason)`` of files that failed to decode.
        embeddings: [N, C] float32 memmap (normalised).
        tokens: [N, T, C] float16 memmap.
        generation: id of this generation (changes on every commit).
        meta: the manifest's header fields.
    """

    entries: list[CacheEntry]
    skipped: list[tuple[str, int, int, str]]
    embeddings: np.ndarray
    tokens: np.ndarray
    generation: str
    meta: dict[str, Any] = field(default_factory=dict)


def _write_bytes(fh: BinaryIO, data: bytes | np.ndarray) -> None:
    """All cache bytes go through here (tests patch it to simulate a full disk).

    ``data`` is bytes or a C-contiguous array, written without a copy through its buffer.
    """
    fh.write(data if isinstance(data, bytes) else data.data)


def _payload_checksum(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def _array_sha256(arr: np.ndarray, chunk_rows: int = 4096) -> str:
    h = hashlib.sha256()
    for i in range(0, len(arr), chunk_rows):
        h.update(np.ascontiguousarray(arr[i : i + chunk_rows]).tobytes())
    return h.hexdigest()


class NpyStreamWriter:
    """Write an ``.npy`` file row chunk by row chunk to a temp path, then move it into place.

    Use as a context manager; ``commit()`` fsyncs and renames, leaving the context without a
    commit removes the temp file.
    """

    def __init__(self, final: Path, dtype: np.dtype[Any], shape: tuple[int, ...]) -> None:
        self.final = final
        self.tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")
        self.dtype = np.dtype(dtype)
        self.shape = shape
        self.rows = 0
        self._fh: BinaryIO | None = None

    def __enter__(self) -> NpyStreamWriter:
        self._fh = self.tmp.open("wb")
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": self.shape,
        }
        # Write the header into memory first so that every byte still goes through _write_bytes.
        buf = io.BytesIO()
        np.lib.format.write_array_header_2_0(buf, header)
        try:
            _write_bytes(self._fh, buf.getvalue())
        except BaseException:
            self.__exit__()  # __exit__ does not run when __enter__ fails
            raise
        return self

    def write(self, rows: np.ndarray) -> None:
        """Append rows shaped ``[n, *shape[1:]]`` (cast to the file dtype)."""
        assert self._fh is not None
        arr = np.ascontiguousarray(rows, dtype=self.dtype)
        if arr.shape[1:] != self.shape[1:]:
            raise ValueError(f"rows of shape {arr.shape} do not fit an array of shape {self.shape}")
        _write_bytes(self._fh, arr)  # buffered write of the raw C-order bytes
        self.rows += len(arr)

    def commit(self) -> None:
        assert self._fh is not None
        if self.rows != self.shape[0]:
            raise ValueError(f"wrote {self.rows} rows, expected {self.shape[0]}")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        os.replace(self.tmp, self.final)

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("wb") as fh:
            _write_bytes(fh, text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def load_cache(cache_dir: Path, expect: dict[str, Any]) -> CacheState | None:
    """Load and validate the current generation, or return None when there is none.

    ``expect`` holds header fields that must match (config, weights sha256, dims). A manifest
    that fails its checksum, names missing arrays, or whose arrays have the wrong shape, dtype or
    embedding checksum is reported in the log and treated as absent, so the caller rebuilds.
    """
    mpath = cache_dir / MANIFEST
    if not mpath.exists():
        return None
    try:
        doc = json.loads(mpath.read_text(encoding="utf-8"))
        checksum = doc.pop("checksum")
        if checksum != _payload_checksum(doc):
            raise ValueError("manifest checksum mismatch")
        for k, v in expect.items():
            if doc.get(k) != v:
                raise ValueError(f"manifest {k}={doc.get(k)!r}, expected {v!r}")
        entries = [CacheEntry(str(e[0]), int(e[1]), int(e[2]), e[3]) for e in doc["entries"]]
        skipped = [(str(s[0]), int(s[1]), int(s[2]), str(s[3])) for s in doc["skipped"]]
        n, t, c = len(entries), int(doc["num_tokens"]), int(doc["embed_dim"])
        emb = (
            np.load(cache_dir / doc["arrays"]["embeddings"], mmap_mode="r")
            if n
            else np.zeros((0, c), np.float32)
        )
        tok = (
            np.load(cache_dir / doc["arrays"]["tokens"], mmap_mode="r")
            if n
            else np.zeros((0, t, c), np.float16)
        )
        if emb.shape != (n, c) or emb.dtype != np.float32:
            raise ValueError(f"embeddings {emb.shape} {emb.dtype}, expected ({n}, {c}) float32")
        if tok.shape != (n, t, c) or tok.dtype != np.float16:
            raise ValueError(f"tokens {tok.shape} {tok.dtype}, expected ({n}, {t}, {c}) float16")
        # The embeddings are small enough to verify byte by byte; the tokens are checked by
        # shape and file size (np.load refuses a truncated file).
        if _array_sha256(emb) != doc["embeddings_sha256"]:
            raise ValueError("embeddings checksum mismatch")
    except (OSError, ValueError, KeyError, TypeError, IndexError, json.JSONDecodeError) as e:
        log.warning("gallery cache %s is unusable (%s); rebuilding it", cache_dir, e)
        return None
    return CacheState(entries, skipped, emb, tok, str(doc["generation"]), doc)


def write_cache(
    cache_dir: Path,
    header: dict[str, Any],
    entries: list[CacheEntry],
    skipped: list[tuple[str, int, int, str]],
    embeddings: Iterable[np.ndarray],
    tokens: Iterable[np.ndarray],
    num_tokens: int,
    embed_dim: int,
) -> str:
    """Write a new generation atomically and return its id; the old one stays until the commit.

    Args:
        cache_dir: the cache directory (created if needed).
        header: fields stored in the manifest (config, weights sha256, folder, ...).
        entries: files in row order.
        skipped: unreadable files ``(rel, size, mtime_ns, reason)``.
        embeddings: row chunks [n, C] float32 (normalised) in entry order.
        tokens: row chunks [n, T, C] (cast to float16) in entry order.
        num_tokens, embed_dim: T and C.

    Raises:
        GalleryError: any OS error while writing (disk full, permissions); the previous
            generation is left intact and the message gives the reason.
    """
    gen = uuid.uuid4().hex[:12]
    n = len(entries)
    names = {"embeddings": f"emb-{gen}.npy", "tokens": f"tokens-{gen}.npy"}
    written: list[Path] = []
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        emb_path, tok_path = cache_dir / names["embeddings"], cache_dir / names["tokens"]
        with NpyStreamWriter(emb_path, np.dtype(np.float32), (n, embed_dim)) as w:
            for chunk in embeddings:
                w.write(chunk)
            w.commit()
        written.append(emb_path)
        with NpyStreamWriter(tok_path, np.dtype(np.float16), (n, num_tokens, embed_dim)) as w:
            for chunk in tokens:
                w.write(chunk)
            w.commit()
        written.append(tok_path)
        emb_sha = (
            _array_sha256(np.load(emb_path, mmap_mode="r"))
            if n
            else _array_sha256(np.zeros((0, embed_dim), np.float32))
        )
        doc: dict[str, Any] = {
            **header,
            "version": CACHE_VERSION,
            "generation": gen,
            "num_tokens": num_tokens,
            "embed_dim": embed_dim,
            "entries": [[e.rel, e.size, e.mtime_ns, e.label] for e in entries],
            "skipped": [list(s) for s in skipped],
            "arrays": names,
            "embeddings_sha256": emb_sha,
        }
        doc["checksum"] = _payload_checksum(doc)
        _atomic_write_text(cache_dir / MANIFEST, json.dumps(doc, indent=0))
    except OSError as e:
        for p in written:
            with contextlib.suppress(OSError):
                p.unlink()
        reason = e.strerror or str(e)
        raise GalleryError(
            f"cannot write the gallery cache in {cache_dir}: {reason}; the previous cache was kept "
            "(free some disk space, or point ZSE_CACHE_DIR at a writable disk)"
        ) from e
    _remove_stale(cache_dir, keep=set(names.values()))
    return gen


def _remove_stale(cache_dir: Path, keep: set[str], tmp_age_s: float = 3600.0) -> None:
    """Delete array files of older generations and abandoned temp files (best effort).

    Arrays named by the manifest currently on disk are kept too, so that another process that
    committed in between does not lose its generation; temp files are only removed once they
    are ``tmp_age_s`` old, because another process may still be writing them.
    """
    try:
        current = json.loads((cache_dir / MANIFEST).read_text(encoding="utf-8")).get("arrays", {})
        keep = keep | {str(v) for v in current.values()}
    except (OSError, ValueError, AttributeError):
        pass
    now = time.time()
    for p in _iter_files(cache_dir):
        if p.name == MANIFEST or p.name in keep:
            continue
        try:
            if p.suffix == ".npy" or (p.suffix == ".tmp" and now - p.stat().st_mtime > tmp_age_s):
                p.unlink()
        except OSError as e:
            log.debug("could not remove stale cache file %s: %s", p, e)


def _iter_files(d: Path) -> Iterator[Path]:
    try:
        yield from (p for p in d.iterdir() if p.is_file())
    except OSError:
        return
