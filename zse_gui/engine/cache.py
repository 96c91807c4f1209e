"""On-disk storage of a gallery index: a checksummed manifest plus ``.npy`` arrays.

Layout of one cache directory (one per gallery folder, model config and weights)::

    manifest.json            entries, skipped files, array file names, checksums (the commit point)
    emb-<gen>.npy            [N, C] float32 L2-normalised [Ret] embeddings
    tokens-<gen>.npy         SA tokens in the layout of the manifest's ``token_store``:
                             [N, T, C] float16 (``fp16``; T = 0 for ``none``), or [N] records
                             of int8/fp8 codes [T, C] with their float16 scales [T] beside them
                             (``int8``/``fp8``; ``zse_gui.engine.tokenstore.TokenLayout``)
    progress.*               the journal of an unfinished indexing run (``zse_gui.engine.journal``)
    .lock                    the lock file writers hold (``zse_gui.engine.journal.CacheLock``)

Every write goes to a temporary file first and is moved into place with ``os.replace``; array
files of a new generation get new names, and the manifest is replaced last. A failure at any
point (for example ENOSPC) therefore leaves the previous generation complete and usable.

Integrity: the manifest carries its own checksum and a CRC-32 per block of ``BLOCK_ROWS`` rows
of *every* array. ``load_cache`` checks all of them (CRC-32 runs at several GB/s, so a
10 000-photo ViT-B/16 cache of 3 GB costs about a second) and reports the rows of a damaged
block as ``CacheState.corrupt``; the indexer re-encodes those files instead of ranking them.
Array names in the manifest must be plain file names of this folder (no path can escape it).
Manifests without ``token_store`` (written before compressed stores existed) still load: their
policy is ``fp16``, or ``none`` when they keep no tokens.

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
import re
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from zse_gui.engine.tokenstore import QuantizedTokens, TokenLayout
from zse_gui.errors import GalleryError

__all__ = [
    "CACHE_VERSION",
    "atomic_file",
    "CacheEntry",
    "CacheState",
    "default_cache_root",
    "load_cache",
    "write_cache",
    "NpyStreamWriter",
    "BLOCK_ROWS",
    "block_crcs",
    "remove_stale",
]

log = logging.getLogger(__name__)

CACHE_VERSION = 2
MANIFEST = "manifest.json"
BLOCK_ROWS = 64  # rows per CRC-32 block: a damaged block costs at most this many re-encodings
_ARRAY_NAME = {
    "embeddings": re.compile(r"emb-[0-9a-f]{12}\.npy"),
    "tokens": re.compile(r"tokens-[0-9a-f]{12}\.npy"),
}


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
        tokens: the stored token rows (memmap): [N, T, C] float16, or [N] records of codes and
            scales for a compressed policy (see ``layout``, and ``token_rows`` to read them).
        generation: id of this generation (changes on every commit).
        meta: the manifest's header fields.
        corrupt: [N] bool, True for rows in a block whose CRC does not match (never rank them).
    """

    entries: list[CacheEntry]
    skipped: list[tuple[str, int, int, str]]
    embeddings: np.ndarray
    tokens: np.ndarray
    generation: str
    meta: dict[str, Any] = field(default_factory=dict)
    corrupt: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    @property
    def layout(self) -> TokenLayout:
        """How ``tokens`` is laid out (from the manifest)."""
        return TokenLayout.of(self.meta)

    @property
    def token_rows(self) -> np.ndarray | QuantizedTokens:
        """The tokens as float rows [N, T, C]: the float16 memmap, or a view that dequantises the
        rows it is indexed with."""
        return self.layout.view(self.tokens)

    @property
    def intact(self) -> bool:
        """True when every block of every array passed its CRC."""
        return not bool(self.corrupt.any())


def _write_bytes(fh: BinaryIO, data: bytes | np.ndarray) -> None:
    """All cache bytes go through here (tests patch it to simulate a full disk).

    ``data`` is bytes or a C-contiguous array, written without a copy through its buffer.
    """
    fh.write(data if isinstance(data, bytes) else data.data)


def _payload_checksum(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def _raw(arr: np.ndarray) -> memoryview | bytes:
    """The raw bytes of a C-contiguous array, without a copy."""
    return arr.reshape(-1).data.cast("B") if arr.size else b""


def block_crcs(arr: np.ndarray, block_rows: int = BLOCK_ROWS) -> list[int]:
    """CRC-32 of the raw C-order bytes of each block of ``block_rows`` rows of ``arr``."""
    return [
        zlib.crc32(_raw(np.ascontiguousarray(arr[i : i + block_rows])))
        for i in range(0, len(arr), block_rows)
    ]


class _BlockCrc:
    """CRC-32 per block of rows, fed with row chunks of any length (as they are written)."""

    def __init__(self, block_rows: int = BLOCK_ROWS) -> None:
        self.block_rows = block_rows
        self.crcs: list[int] = []
        self._crc = 0
        self._rows = 0

    def update(self, arr: np.ndarray) -> None:
        i = 0
        while i < len(arr):
            take = min(self.block_rows - self._rows, len(arr) - i)
            self._crc = zlib.crc32(_raw(arr[i : i + take]), self._crc)
            self._rows += take
            i += take
            if self._rows == self.block_rows:
                self.crcs.append(self._crc)
                self._crc, self._rows = 0, 0

    def finish(self) -> list[int]:
        if self._rows:
            self.crcs.append(self._crc)
            self._crc, self._rows = 0, 0
        return self.crcs


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
        self.crc = _BlockCrc()
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
        self.crc.update(arr)
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
        try:
            if self._fh is not None:
                fh, self._fh = self._fh, None
                # Closing flushes the buffer, which fails again on a full disk; the file is
                # abandoned anyway, so that error must not skip the unlink below.
                with contextlib.suppress(OSError):
                    fh.close()
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.tmp.unlink()


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """Write ``path`` all or nothing: a hidden temporary file beside it, fsynced, then renamed over
    it; on any error the temporary file is removed and ``path`` is left as it was."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _atomic_write_text(path: Path, text: str) -> None:
    with atomic_file(path) as fh:
        _write_bytes(fh, text.encode("utf-8"))


def _array_file(cache_dir: Path, doc: dict[str, Any], kind: str) -> Path:
    """The array file ``kind`` named by the manifest, which must be a plain name in ``cache_dir``."""
    name = doc["arrays"][kind]
    if not isinstance(name, str) or not _ARRAY_NAME[kind].fullmatch(name):
        raise ValueError(f"manifest names {kind} file {name!r}, which is not a cache file of this folder")
    return cache_dir / name


def _corrupt_rows(arr: np.ndarray, expected: list[int], what: str) -> np.ndarray:
    """[N] bool: rows whose block CRC differs from ``expected``."""
    n = len(arr)
    if len(expected) != -(-n // BLOCK_ROWS):
        raise ValueError(f"{what}: {len(expected)} block checksums for {n} rows")
    bad = np.zeros(n, bool)
    for b, (got, want) in enumerate(zip(block_crcs(arr), expected, strict=True)):
        if got != int(want):
            bad[b * BLOCK_ROWS : (b + 1) * BLOCK_ROWS] = True
    return bad


def load_cache(cache_dir: Path, expect: dict[str, Any]) -> CacheState | None:
    """Load and validate the current generation, or return None when there is none.

    ``expect`` holds header fields that must match (config, weights sha256, dims). A manifest
    that fails its checksum, is of another version, names arrays outside ``cache_dir`` or
    missing ones, or whose arrays have the wrong shape or dtype is reported in the log and
    treated as absent, so the caller rebuilds. Every block of every array is checked against
    its CRC-32; rows of damaged blocks are flagged in ``CacheState.corrupt`` (and logged).
    """
    mpath = cache_dir / MANIFEST
    try:
        if not mpath.exists():
            return None
        doc = json.loads(mpath.read_text(encoding="utf-8"))
        checksum = doc.pop("checksum")
        if checksum != _payload_checksum(doc):
            raise ValueError("manifest checksum mismatch")
        if doc.get("version") != CACHE_VERSION:
            raise ValueError(f"cache version {doc.get('version')!r}, this program writes {CACHE_VERSION}")
        layout = TokenLayout.of(doc)
        doc["token_store"] = layout.policy  # fills it in for manifests older than the field
        for k, v in expect.items():
            if doc.get(k) != v:
                raise ValueError(f"manifest {k}={doc.get(k)!r}, expected {v!r}")
        entries = [CacheEntry(str(e[0]), int(e[1]), int(e[2]), e[3]) for e in doc["entries"]]
        skipped = [(str(s[0]), int(s[1]), int(s[2]), str(s[3])) for s in doc["skipped"]]
        n, c = len(entries), layout.embed_dim
        emb_path, tok_path = _array_file(cache_dir, doc, "embeddings"), _array_file(cache_dir, doc, "tokens")
        emb = np.load(emb_path, mmap_mode="r") if n else np.zeros((0, c), np.float32)
        tok = np.load(tok_path, mmap_mode="r") if n else layout.empty(0)
        if emb.shape != (n, c) or emb.dtype != np.float32:
            raise ValueError(f"embeddings {emb.shape} {emb.dtype}, expected ({n}, {c}) float32")
        if tok.shape != (n, *layout.row_shape) or tok.dtype != layout.dtype:
            raise ValueError(
                f"tokens {tok.shape} {tok.dtype}, expected {(n, *layout.row_shape)} {layout.dtype} "
                f"({layout.policy})"
            )
        blocks = doc["blocks"]
        if int(blocks["rows"]) != BLOCK_ROWS:
            raise ValueError(f"block size {blocks['rows']}, expected {BLOCK_ROWS}")
        corrupt = _corrupt_rows(emb, list(blocks["embeddings"]), "embeddings") | _corrupt_rows(
            tok, list(blocks["tokens"]), "tokens"
        )
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        log.warning("gallery cache %s is unusable (%s); rebuilding it", cache_dir, e)
        return None
    if corrupt.any():
        log.warning(
            "gallery cache %s: %d of %d rows fail their checksum; those photos are encoded again",
            cache_dir,
            int(corrupt.sum()),
            n,
        )
    return CacheState(entries, skipped, emb, tok, str(doc["generation"]), doc, corrupt)


def write_cache(
    cache_dir: Path,
    header: dict[str, Any],
    entries: list[CacheEntry],
    skipped: list[tuple[str, int, int, str]],
    embeddings: Iterable[np.ndarray],
    tokens: Iterable[np.ndarray],
    layout: TokenLayout,
) -> str:
    """Write a new generation atomically and return its id; the old one stays until the commit.

    Args:
        cache_dir: the cache directory (created if needed).
        header: fields stored in the manifest (config, weights sha256, folder, ...).
        entries: files in row order.
        skipped: unreadable files ``(rel, size, mtime_ns, reason)``.
        embeddings: row chunks [n, C] float32 (normalised) in entry order.
        tokens: row chunks in entry order, stored rows of ``layout`` (``TokenLayout.encode``).
        layout: the token policy and its T and C, recorded in the manifest.

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
        with NpyStreamWriter(emb_path, np.dtype(np.float32), (n, layout.embed_dim)) as w:
            for chunk in embeddings:
                w.write(chunk)
            w.commit()
            emb_crcs = w.crc.finish()
        written.append(emb_path)
        with NpyStreamWriter(tok_path, layout.dtype, (n, *layout.row_shape)) as w:
            for chunk in tokens:
                w.write(chunk)
            w.commit()
            tok_crcs = w.crc.finish()
        written.append(tok_path)
        doc: dict[str, Any] = {
            **header,
            "version": CACHE_VERSION,
            "generation": gen,
            "num_tokens": layout.num_tokens,
            "embed_dim": layout.embed_dim,
            "token_store": layout.policy,
            "entries": [[e.rel, e.size, e.mtime_ns, e.label] for e in entries],
            "skipped": [list(s) for s in skipped],
            "arrays": names,
            "blocks": {"rows": BLOCK_ROWS, "embeddings": emb_crcs, "tokens": tok_crcs},
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
    remove_stale(cache_dir, keep=set(names.values()))
    return gen


def remove_stale(cache_dir: Path, keep: set[str] | None = None, tmp_age_s: float = 0.0) -> None:
    """Delete array files of older generations and abandoned temp files (best effort).

    Arrays named by the manifest currently on disk are kept too. Writers call this while they
    hold the cache's lock, so no other process can be writing a temp file: every ``.tmp`` file
    is abandoned, whatever its age (``tmp_age_s`` > 0 spares younger ones).
    """
    keep = set(keep or ())
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
            if p.suffix == ".npy" or (p.suffix == ".tmp" and now - p.stat().st_mtime >= tmp_age_s):
                p.unlink()
        except OSError as e:
            log.debug("could not remove stale cache file %s: %s", p, e)


def _iter_files(d: Path) -> Iterator[Path]:
    try:
        yield from (p for p in d.iterdir() if p.is_file())
    except OSError:
        return
