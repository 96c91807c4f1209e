"""Gallery indexing: scan a folder, encode photos in batches, keep an incremental on-disk cache.

The cache lives in ``<cache_root>/galleries/<config>-<weights sha256[:16]>/<folder hash>/`` (see
``zse_gui.engine.cache``); each file is keyed by (relative path, size, mtime_ns), so a re-run
encodes only new or changed files and drops removed ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from zse_gui.data.imageio import IMAGE_EXTENSIONS, is_image_file
from zse_gui.engine import cache as _cache
from zse_gui.engine.cache import CacheEntry, default_cache_root, load_cache, write_cache
from zse_gui.engine.preprocess import prepare_photo
from zse_gui.engine.retrieval import l2_normalize
from zse_gui.errors import CancelledError, GalleryError, ImageReadError

if TYPE_CHECKING:
    from zse_gui.model.config import ZseConfig
    from zse_gui.model.factory import WeightsInfo

__all__ = ["GalleryIndex", "PhotoEncoder", "build_index", "scan_folder"]

log = logging.getLogger(__name__)


class PhotoEncoder(Protocol):
    """What indexing needs from an encoder (``Engine`` implements it)."""

    @property
    def config(self) -> ZseConfig: ...

    @property
    def weights_info(self) -> WeightsInfo: ...

    def encode_photo_batch(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[B, 3, S, S] float32 -> ([B, C] float32 raw [Ret], [B, T, C] float16 SA tokens)."""
        ...


@dataclass(eq=False)
class GalleryIndex:
    """An encoded photo gallery, backed by memory-mapped cache files.

    Attributes:
        root: the gallery folder.
        cache_dir: the cache directory holding this index.
        paths: absolute image paths, sorted by relative path (row order of the arrays).
        labels: class label per image (first-level folder name; None for files at the root).
        embeddings: [N, C] float32 L2-normalised [Ret] embeddings (read-only memmap).
        tokens: [N, T, C] float16 SA tokens, row 0 of each item is [Ret] (read-only memmap).
        skipped: ``(path, reason)`` of files that could not be decoded.
        key: id of the cache generation; changes whenever the index content changes.
        config_name: model config the index was built with.
        weights_sha256: sha256 of the weights the index was built with.
        num_encoded: files encoded by the build that produced this object (0 = all from cache).
        num_reused: files taken from the cache.
    """

    root: Path
    cache_dir: Path
    paths: list[str]
    labels: list[str | None]
    embeddings: np.ndarray
    tokens: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)
    key: str = ""
    config_name: str = ""
    weights_sha256: str = ""
    num_encoded: int = 0
    num_reused: int = 0

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def class_names(self) -> list[str]:
        """Sorted distinct labels (None excluded)."""
        return sorted({lab for lab in self.labels if lab is not None})

    def label_ids(self) -> np.ndarray:
        """[N] int64 index into ``class_names`` per item, -1 for unlabelled items."""
        lookup = {name: i for i, name in enumerate(self.class_names)}
        return np.asarray([lookup.get(lab, -1) if lab is not None else -1 for lab in self.labels], np.int64)


def _label_of(rel: str) -> str | None:
    parts = rel.split("/")
    return parts[0] if len(parts) > 1 else None


def scan_folder(folder: Path) -> list[tuple[str, int, int]]:
    """Recursive scan for image files -> sorted ``(relative posix path, size, mtime_ns)``.

    Hidden files and folders (names starting with ``.``) are ignored.
    """
    found: list[tuple[str, int, int]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or not is_image_file(name):
                continue
            full = Path(dirpath) / name
            try:
                st = full.stat()
            except OSError as e:
                log.warning("cannot stat %s: %s", full, e)
                continue
            found.append((full.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns))
    found.sort()
    return found


def cache_dir_for(cache_root: Path, folder: Path, config_name: str, weights_sha256: str) -> Path:
    """The cache directory of one (gallery folder, model config, weights) combination."""
    folder_key = hashlib.sha256(str(folder).encode("utf-8")).hexdigest()[:16]
    return cache_root / "galleries" / f"{config_name}-{weights_sha256[:16]}" / folder_key


class _ModelEncoder:
    """Adapter so ``build_index`` also accepts a bare ``ZseSbir`` (fp32 on its own device)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    @property
    def config(self) -> ZseConfig:
        cfg: ZseConfig = self.model.cfg
        return cfg

    @property
    def weights_info(self) -> WeightsInfo:
        info: WeightsInfo = self.model.weights_info
        return info

    def encode_photo_batch(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        dev = next(self.model.parameters()).device
        with torch.inference_mode():
            out = self.model.forward_tokens(torch.from_numpy(batch).to(dev))
            tokens = out.tokens.float()  # [B, T, C]
        return tokens[:, 0].cpu().numpy(), tokens.to(torch.float16).cpu().numpy()


def _as_encoder(engine_or_model: Any) -> PhotoEncoder:
    if hasattr(engine_or_model, "encode_photo_batch"):
        enc: PhotoEncoder = engine_or_model
        return enc
    if hasattr(engine_or_model, "forward_tokens") and hasattr(engine_or_model, "cfg"):
        return _ModelEncoder(engine_or_model)
    raise GalleryError(
        f"cannot index with a {type(engine_or_model).__name__}; pass an Engine or a ZseSbir model"
    )


class _Staging:
    """Append-only temp file of newly encoded tokens (fp16), so big builds need not fit in RAM."""

    def __init__(self, cache_dir: Path, row_shape: tuple[int, int]) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = cache_dir / f".staging-{uuid.uuid4().hex[:8]}.tmp"
        self.row_shape = row_shape
        self.rows = 0
        self.emb: list[np.ndarray] = []
        self._fh = self.path.open("wb")

    def append(self, emb: np.ndarray, tokens: np.ndarray) -> None:
        _cache._write_bytes(self._fh, np.ascontiguousarray(tokens, np.float16))
        self.emb.append(l2_normalize(emb))
        self.rows += len(tokens)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        self._fh.flush()
        t, c = self.row_shape
        emb = np.concatenate(self.emb) if self.emb else np.zeros((0, c), np.float32)
        if self.rows == 0:
            return emb, np.zeros((0, t, c), np.float16)
        tok = np.memmap(self.path, dtype=np.float16, mode="r", shape=(self.rows, t, c))
        return emb, tok

    def close(self) -> None:
        self._fh.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


def _load_batch(root: Path, rels: list[str], cfg: ZseConfig, pool: ThreadPoolExecutor) -> list[Future[Any]]:
    return [pool.submit(prepare_photo, root / rel, cfg) for rel in rels]


def build_index(
    engine_or_model: Any,
    folder: str | os.PathLike[str],
    cache_root: str | os.PathLike[str] | None = None,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    workers: int | None = None,
) -> GalleryIndex:
    """Index a gallery folder (recursively), reusing and updating the on-disk cache.

    Args:
        engine_or_model: an ``Engine`` (its device and precision are used) or a ``ZseSbir``.
        folder: gallery root; images in first-level sub-folders get the sub-folder name as label.
        cache_root: cache root (default ``$ZSE_CACHE_DIR`` or ``~/.cache/zse-gui``).
        batch_size: photos per forward pass.
        progress: called as ``progress(done, total)`` with the number of files to encode.
        cancel: polled between batches; when it returns True the files encoded so far are
            committed to the cache and ``CancelledError`` is raised.
        workers: threads that decode and resize images (default: up to 4).

    Returns:
        The index (memory-mapped arrays; ``num_encoded`` tells how many files were encoded).

    Raises:
        GalleryError: the folder is missing or has no readable image, or the cache cannot be written.
        CancelledError: ``cancel()`` returned True.
    """
    enc = _as_encoder(engine_or_model)
    cfg, info = enc.config, enc.weights_info
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise GalleryError(f"gallery folder {root} does not exist or is not a folder")
    croot = Path(cache_root).expanduser() if cache_root is not None else default_cache_root()
    cdir = cache_dir_for(croot, root, cfg.name, info.sha256)
    t_tok, c_dim = cfg.num_tokens, cfg.embed_dim
    expect = {"config": cfg.name, "weights_sha256": info.sha256, "num_tokens": t_tok, "embed_dim": c_dim}
    header = {**expect, "folder": str(root)}

    files = scan_folder(root)
    if not files:
        raise GalleryError(
            f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found under {root}; "
            "put photos there, optionally in one sub-folder per class"
        )
    old = load_cache(cdir, expect)
    old_rows = {e.key: i for i, e in enumerate(old.entries)} if old else {}
    old_skip = {(s[0], s[1], s[2]): s[3] for s in old.skipped} if old else {}

    reuse: dict[str, int] = {}
    known_bad: dict[str, str] = {}
    todo: list[tuple[str, int, int]] = []
    for rel, size, mtime in files:
        if (rel, size, mtime) in old_rows:
            reuse[rel] = old_rows[(rel, size, mtime)]
        elif (rel, size, mtime) in old_skip:
            known_bad[rel] = old_skip[(rel, size, mtime)]
        else:
            todo.append((rel, size, mtime))
    stat = {rel: (size, mtime) for rel, size, mtime in files}
    unchanged = (
        old is not None and not todo and len(reuse) == len(old.entries) and len(known_bad) == len(old_skip)
    )
    if unchanged and old is not None:
        log.info("gallery %s: all %d files cached", root, len(reuse))
        return _make_index(
            root, cdir, old.entries, old.skipped, old.embeddings, old.tokens, old.generation, info, 0
        )
    log.info("gallery %s: %d cached, %d to encode", root, len(reuse), len(todo))

    new_rows: dict[str, int] = {}
    new_bad: dict[str, str] = {}
    cancelled = False
    staging: _Staging | None = None
    try:
        if todo:
            try:
                staging = _Staging(cdir, (t_tok, c_dim))
                cancelled = _encode_all(
                    enc, root, todo, batch_size, staging, new_rows, new_bad, progress, cancel, workers
                )
            except OSError as e:
                raise GalleryError(
                    f"cannot write temporary encodings in {cdir}: {e.strerror or e}; the previous cache was "
                    "kept (free some disk space, or point ZSE_CACHE_DIR at a writable disk)"
                ) from e
        emb_new, tok_new = staging.arrays() if staging is not None else (None, None)
        entries: list[CacheEntry] = []
        sources: list[tuple[str, int]] = []
        for rel, size, mtime in files:
            if rel in reuse:
                sources.append(("old", reuse[rel]))
            elif rel in new_rows:
                sources.append(("new", new_rows[rel]))
            else:
                continue
            entries.append(CacheEntry(rel, size, mtime, _label_of(rel)))
        bad = {**known_bad, **new_bad}
        skipped = [(rel, stat[rel][0], stat[rel][1], why) for rel, why in sorted(bad.items())]
        if not entries and not cancelled:
            raise GalleryError(
                f"none of the {len(files)} image files under {root} could be read "
                f"(first problem: {skipped[0][3] if skipped else 'unknown'})"
            )

        def rows(kind: str) -> Iterator[np.ndarray]:
            for start in range(0, len(sources), 256):
                chunk = sources[start : start + 256]
                parts = []
                for src, row in chunk:
                    table = (
                        (old.embeddings if kind == "emb" else old.tokens) if src == "old" and old else None
                    )
                    if src == "new":
                        table = emb_new if kind == "emb" else tok_new
                    assert table is not None
                    parts.append(np.asarray(table[row]))
                yield np.stack(parts)

        gen = write_cache(cdir, header, entries, skipped, rows("emb"), rows("tok"), t_tok, c_dim)
    finally:
        if staging is not None:
            staging.close()
    if cancelled:
        raise CancelledError(
            f"indexing of {root} cancelled after {len(new_rows)} of {len(todo)} new files; "
            "those are cached and the next run continues from there"
        )
    state = load_cache(cdir, expect)
    if state is None:
        raise GalleryError(f"the gallery cache {cdir} was written but cannot be read back; check the disk")
    return _make_index(
        root, cdir, state.entries, state.skipped, state.embeddings, state.tokens, gen, info, len(new_rows)
    )


def _encode_all(
    enc: PhotoEncoder,
    root: Path,
    todo: list[tuple[str, int, int]],
    batch_size: int,
    staging: _Staging,
    new_rows: dict[str, int],
    new_bad: dict[str, str],
    progress: Callable[[int, int], None] | None,
    cancel: Callable[[], bool] | None,
    workers: int | None,
) -> bool:
    """Encode ``todo`` into ``staging``; returns True when cancelled (what was done is kept)."""
    cfg = enc.config
    total = len(todo)
    if progress is not None:
        progress(0, total)
    batches = [
        [rel for rel, _, _ in todo[i : i + max(1, batch_size)]] for i in range(0, total, max(1, batch_size))
    ]
    n_workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, n_workers)) as pool:
        # Decode the next batch while the current one is encoded.
        pending = _load_batch(root, batches[0], cfg, pool) if batches else []
        for b, rels in enumerate(batches):
            if cancel is not None and cancel():
                for f in pending:
                    f.cancel()
                return True
            futures = pending
            pending = _load_batch(root, batches[b + 1], cfg, pool) if b + 1 < len(batches) else []
            good: list[str] = []
            tensors = []
            for rel, fut in zip(rels, futures, strict=True):
                try:
                    tensors.append(fut.result().tensor)
                    good.append(rel)
                except ImageReadError as e:
                    log.warning("skipping unreadable gallery image: %s", e)
                    new_bad[rel] = str(e).removeprefix(f"{root / rel}: ")
            if tensors:
                ret, tok = enc.encode_photo_batch(np.stack(tensors))  # [b, C], [b, T, C]
                for k, rel in enumerate(good):
                    new_rows[rel] = staging.rows + k
                staging.append(ret, tok)
            done += len(rels)
            if progress is not None:
                progress(done, total)
    return False


def _make_index(
    root: Path,
    cdir: Path,
    entries: list[CacheEntry],
    skipped: list[tuple[str, int, int, str]],
    emb: np.ndarray,
    tok: np.ndarray,
    gen: str,
    info: WeightsInfo,
    encoded: int,
) -> GalleryIndex:
    return GalleryIndex(
        root=root,
        cache_dir=cdir,
        paths=[str(root / e.rel) for e in entries],
        labels=[e.label for e in entries],
        embeddings=emb,
        tokens=tok,
        skipped=[(str(root / s[0]), s[3]) for s in skipped],
        key=gen,
        config_name=info.config,
        weights_sha256=info.sha256,
        num_encoded=encoded,
        num_reused=len(entries) - encoded,
    )
