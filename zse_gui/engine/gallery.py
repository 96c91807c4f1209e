"""Gallery indexing: scan a folder, encode photos in batches, keep an incremental on-disk cache.

The cache lives in ``<cache_root>/galleries/<config>-<weights sha256[:16]>/<folder hash>/`` (see
``zse_gui.engine.cache``); each file is keyed by (relative path, size, mtime_ns), so a re-run
encodes only new or changed files and drops removed ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from zse_gui.data.imageio import IMAGE_EXTENSIONS
from zse_gui.engine.ann import Stage1Index, open_stage1, resolve_kind, write_choice
from zse_gui.engine.cache import (
    CacheEntry,
    CacheState,
    default_cache_root,
    load_cache,
    remove_stale,
    write_cache,
)
from zse_gui.engine.journal import CacheLock, ProgressJournal
from zse_gui.engine.preprocess import prepare_photo
from zse_gui.engine.retrieval import l2_normalize
from zse_gui.engine.scan import ScanResult, scan_gallery
from zse_gui.engine.tokenstore import QuantizedTokens, TokenLayout, policy_of_manifest, resolve_policy
from zse_gui.errors import CancelledError, ConfigError, GalleryError, ImageReadError

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
        tokens: [N, T, C] SA tokens, row 0 of each item is [Ret]: a read-only float16 memmap
            (token policy ``fp16``), or for ``int8``/``fp8`` a ``QuantizedTokens`` view whose
            ``tokens[rows]`` dequantises just those rows to float32; [N, 0, C] when the gallery
            keeps no tokens (policy ``none``: the engine recomputes them when it re-ranks).
        skipped: ``(path, reason)`` of files that could not be decoded.
        key: id of the cache generation; changes whenever the index content changes.
        config_name: model config the index was built with.
        weights_sha256: sha256 of the weights the index was built with.
        num_encoded: files encoded by the build that produced this object (0 = all from cache).
        num_reused: files taken from the cache.
        ann: stage-1 mode to use (``auto``/``exact``/``ivfpq``/``hnsw``); None = the one kept
            with the cache (``zse_gui.engine.ann``).
    """

    root: Path
    cache_dir: Path
    paths: list[str]
    labels: list[str | None]
    embeddings: np.ndarray
    tokens: np.ndarray | QuantizedTokens
    skipped: list[tuple[str, str]] = field(default_factory=list)
    key: str = ""
    config_name: str = ""
    weights_sha256: str = ""
    num_encoded: int = 0
    num_reused: int = 0
    ann: str | None = None
    _stage1: Stage1Index | None = field(default=None, repr=False)

    def stage1(self) -> Stage1Index:
        """The stage-1 index of this generation (exact scan, or FAISS for large galleries).

        Loaded from (or built and saved next to) the cache on first use; see ``zse_gui.engine.ann``.
        """
        if self._stage1 is None:
            self._stage1 = open_stage1(self.cache_dir, self.key, self.embeddings, mode=self.ann)
        return self._stage1

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def token_policy(self) -> str:
        """How the tokens are kept: ``fp16``, ``int8``, ``fp8`` or ``none``."""
        if isinstance(self.tokens, QuantizedTokens):
            return self.tokens.policy
        return "fp16" if self.tokens.shape[1] else "none"

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

    Hidden files and folders (names starting with ``.``) are ignored; see ``scan_gallery`` for
    what is left out and why.
    """
    return scan_gallery(Path(folder)).files


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


def _load_batch(root: Path, rels: list[str], cfg: ZseConfig, pool: ThreadPoolExecutor) -> list[Future[Any]]:
    return [pool.submit(prepare_photo, root / rel, cfg) for rel in rels]


IF_BUSY = ("use_last", "wait")


def build_index(
    engine_or_model: Any,
    folder: str | os.PathLike[str],
    cache_root: str | os.PathLike[str] | None = None,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    workers: int | None = None,
    follow_symlinks: bool = False,
    if_busy: str = "use_last",
    ann: str | None = None,
    tokens: str | None = None,
) -> GalleryIndex:
    """Index a gallery folder (recursively), reusing and updating the on-disk cache.

    Progress is committed to a journal after every batch (``zse_gui.engine.journal``), so a
    kill or Ctrl+C loses at most the batch in flight and the next run continues; the resumed
    cache is bit-identical to one built in a single run with the same ``batch_size``. Writers
    of one cache take turns through an inter-process lock.

    Args:
        engine_or_model: an ``Engine`` (its device and precision are used) or a ``ZseSbir``.
        folder: gallery root; images in first-level sub-folders get the sub-folder name as label.
        cache_root: cache root (default ``$ZSE_CACHE_DIR`` or ``~/.cache/zse-gui``).
        batch_size: photos per forward pass.
        progress: called as ``progress(done, total)`` with the number of files to encode.
        cancel: polled between batches; when it returns True the files encoded so far are
            committed to the cache and ``CancelledError`` is raised.
        workers: threads that decode and resize images (default: up to 4).
        follow_symlinks: follow symbolic links that lead out of ``folder`` (default: such
            links are listed among the skipped files instead).
        if_busy: when another process is updating this cache: ``"use_last"`` returns its last
            complete generation at once (if there is one, else waits); ``"wait"`` waits for
            the other process and then brings the cache up to date.
        ann: force the stage-1 index (``auto``, ``exact``, ``ivfpq``, ``hnsw``); the choice is
            kept with the cache for later runs. None keeps the stored choice (default ``auto``:
            exact below 100 000 items). An approximate index is built here and saved next to
            the cache, so the first search does not pay for it.
        tokens: token policy (``auto``, ``fp16``, ``int8``, ``fp8``, ``none``; see
            ``zse_gui.engine.tokenstore``). None or ``auto`` keeps the existing cache's policy,
            else chooses by gallery size; changing the policy of an existing cache encodes the
            gallery again.

    Returns:
        The index (memory-mapped arrays; ``num_encoded`` tells how many files were encoded).
        ``skipped`` also lists folders that could not be listed and links not followed.

    Raises:
        GalleryError: the folder is missing or has no readable image, or the cache cannot be written.
        CancelledError: ``cancel()`` returned True.
    """
    enc = _as_encoder(engine_or_model)
    cfg, info = enc.config, enc.weights_info
    if if_busy not in IF_BUSY:
        raise ConfigError(f"if_busy={if_busy!r}; use one of {', '.join(IF_BUSY)}")
    if ann is not None:
        resolve_kind(ann, 0)  # an unknown mode fails before any encoding
    try:
        root = Path(folder).expanduser().resolve()
        exists = root.is_dir()
    except (OSError, RuntimeError) as e:
        raise GalleryError(f"gallery folder {str(folder)[:300]!r} cannot be used: {_reason(e)}") from None
    if not exists:
        raise GalleryError(f"gallery folder {root} does not exist or is not a folder")
    croot = Path(cache_root).expanduser() if cache_root is not None else default_cache_root()
    cdir = cache_dir_for(croot, root, cfg.name, info.sha256)
    resolve_policy(tokens or "auto", 0, cfg.num_tokens, cfg.embed_dim)  # an unknown policy fails early
    scan = scan_gallery(root, follow_symlinks)
    expect = cache_expectation(cdir, cfg, info.sha256, tokens, len(scan.files))
    if not scan.files:
        why = ""
        if scan.problems:
            first = scan.problems[0]
            why = f" ({len(scan.problems)} left out, first: {first[0]}: {first[1]})"
        raise GalleryError(
            f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found under {root}{why}; "
            "put photos there, optionally in one sub-folder per class"
        )
    job = _Job(enc, root, cdir, expect, scan, batch_size, workers)
    lock = CacheLock(cdir)
    try:
        got = lock.acquire(blocking=False)
        if not got and if_busy == "use_last":
            state = load_cache(cdir, expect)
            if state is not None and state.intact:
                log.warning(
                    "another process is updating the cache of %s; using its last complete index (%d photos)",
                    root,
                    len(state.entries),
                )
                return job.index(state, 0)
        if not got:
            log.warning("another process is indexing %s; waiting for it to finish", root)
            lock.acquire(blocking=True)
    except OSError as e:
        raise GalleryError(
            f"cannot use the gallery cache folder {cdir}: {_reason(e)} "
            "(pass a writable --cache-dir or set ZSE_CACHE_DIR)"
        ) from None
    try:
        index = job.run(progress, cancel)
        if ann is not None:
            try:
                write_choice(cdir, ann)
            except OSError as e:
                raise GalleryError(f"cannot write the stage-1 choice in {cdir}: {_reason(e)}") from None
        index.stage1()  # build (and save) an approximate index now, while we hold the lock
        return index
    finally:
        lock.release()


def cache_expectation(
    cdir: Path, cfg: ZseConfig, weights_sha256: str, tokens: str | None, n_files: int
) -> dict[str, Any]:
    """What the cache in ``cdir`` must match (model, weights, token layout) for this build.

    The token policy is ``tokens`` if forced, else the existing cache's, else chosen by gallery
    size; ``num_tokens`` is the number of tokens kept per item (the model's T, or 0 for ``none``)
    and ``token_store`` the policy. ``TokenLayout.of`` turns the result into the layout that the
    indexer, the Ray workers and the cache reader all follow.

    Raises:
        ConfigError: unknown policy, or ``fp8`` with a torch that lacks float8.
    """
    policy = resolve_policy(
        tokens or "auto", n_files, cfg.num_tokens, cfg.embed_dim, stored_policy(cdir, cfg)
    )
    return {
        "config": cfg.name,
        "weights_sha256": weights_sha256,
        "num_tokens": 0 if policy == "none" else cfg.num_tokens,
        "embed_dim": cfg.embed_dim,
        "token_store": policy,
    }


def stored_policy(cdir: Path, cfg: ZseConfig) -> str | None:
    """The token policy of the cache in ``cdir`` (from its manifest, unvalidated), or None."""
    try:
        doc = json.loads((cdir / "manifest.json").read_text(encoding="utf-8"))
        policy = policy_of_manifest(doc)
        kept = int(doc["num_tokens"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return policy if kept in (0, cfg.num_tokens) else None


def _reason(e: BaseException) -> str:
    return (e.strerror if isinstance(e, OSError) else None) or str(e) or type(e).__name__


@dataclass
class _Job:
    """One update of one cache folder, run while holding its lock."""

    enc: PhotoEncoder
    root: Path
    cdir: Path
    expect: dict[str, Any]
    scan: ScanResult
    batch_size: int
    workers: int | None

    def index(self, state: CacheState, encoded: int) -> GalleryIndex:
        idx = _make_index(
            self.root,
            self.cdir,
            state.entries,
            state.skipped,
            state.embeddings,
            state.token_rows,
            state.generation,
            self.enc.weights_info,
            encoded,
        )
        idx.skipped.extend((str(self.root / rel), why) for rel, why in self.scan.problems)
        return idx

    def _space(self, e: OSError) -> GalleryError:
        return GalleryError(
            f"cannot write temporary encodings in {self.cdir}: {_reason(e)}; the previous cache was "
            "kept (free some disk space, or point ZSE_CACHE_DIR at a writable disk)"
        )

    def run(
        self, progress: Callable[[int, int], None] | None, cancel: Callable[[], bool] | None
    ) -> GalleryIndex:
        root, cdir, expect = self.root, self.cdir, self.expect
        files = self.scan.files
        header = {**expect, "folder": str(root)}
        remove_stale(cdir)  # we hold the lock: every temp file here is abandoned
        old = load_cache(cdir, expect)
        old_rows = {e.key: i for i, e in enumerate(old.entries) if not old.corrupt[i]} if old else {}
        old_skip = {(s[0], s[1], s[2]): s[3] for s in old.skipped} if old else {}
        try:
            journal = ProgressJournal.open(cdir, header, TokenLayout.of(expect))
        except OSError as e:
            raise self._space(e) from None
        with journal:
            reuse: dict[str, tuple[str, int]] = {}
            known_bad: dict[str, str] = {}
            todo: list[tuple[str, int, int]] = []
            for key in files:
                rel = key[0]
                if key in old_rows:
                    reuse[rel] = ("old", old_rows[key])
                elif key in journal.rows:
                    reuse[rel] = ("new", journal.rows[key])
                elif key in old_skip:
                    known_bad[rel] = old_skip[key]
                elif key in journal.bad:
                    known_bad[rel] = journal.bad[key]
                else:
                    todo.append(key)
            unchanged = (
                old is not None
                and old.intact
                and not todo
                and all(src == "old" for src, _ in reuse.values())
                and len(reuse) == len(old.entries)
                and len(known_bad) == len(old_skip)
            )
            if unchanged and old is not None:
                journal.discard()
                log.info("gallery %s: all %d files cached", root, len(reuse))
                return self.index(old, 0)
            log.info("gallery %s: %d cached, %d to encode", root, len(reuse), len(todo))
            new_bad: dict[str, str] = {}
            cancelled = False
            encoded_before = journal.num_rows
            if todo:
                try:
                    cancelled = _encode_all(self, todo, journal, new_bad, progress, cancel)
                except OSError as e:
                    if not journal.num_rows and not journal.bad:
                        journal.discard()
                    raise self._space(e) from None
            encoded = journal.num_rows - encoded_before  # rows of an interrupted run count as reused
            gen = self._commit(old, journal, reuse, {**known_bad, **new_bad}, cancelled, header)
            journal.discard()
        if cancelled:
            raise CancelledError(
                f"indexing of {root} cancelled after {journal.num_rows - encoded_before} of {len(todo)} "
                "new files; those are cached and the next run continues from there"
            )
        state = load_cache(cdir, expect)
        if state is None or not state.intact or state.generation != gen:
            raise GalleryError(
                f"the gallery cache {cdir} was written but cannot be read back (check the disk)"
            )
        return self.index(state, encoded)

    def _commit(
        self,
        old: CacheState | None,
        journal: ProgressJournal,
        reuse: dict[str, tuple[str, int]],
        bad: dict[str, str],
        cancelled: bool,
        header: dict[str, Any],
    ) -> str:
        """Write the new generation from the old one and the journal, in file order."""
        emb_new, tok_new = journal.arrays()
        entries: list[CacheEntry] = []
        sources: list[tuple[str, int]] = []
        for rel, size, mtime in self.scan.files:
            src = reuse.get(rel)
            if src is None and (rel, size, mtime) in journal.rows:
                src = ("new", journal.rows[(rel, size, mtime)])
            if src is None:
                continue
            sources.append(src)
            entries.append(CacheEntry(rel, size, mtime, _label_of(rel)))
        stat = {rel: (size, mtime) for rel, size, mtime in self.scan.files}
        skipped = [(rel, stat[rel][0], stat[rel][1], why) for rel, why in sorted(bad.items())]
        if not entries and not cancelled:
            raise GalleryError(
                f"none of the {len(self.scan.files)} image files under {self.root} could be read "
                f"(first problem: {skipped[0][3] if skipped else 'unknown'})"
            )

        def rows(kind: str) -> Iterator[np.ndarray]:
            for start in range(0, len(sources), 256):
                parts = []
                for src, row in sources[start : start + 256]:
                    if src == "old":
                        assert old is not None
                        table = old.embeddings if kind == "emb" else old.tokens
                    else:
                        table = emb_new if kind == "emb" else tok_new
                    parts.append(np.asarray(table[row]))
                yield np.stack(parts)

        layout = TokenLayout.of(self.expect)
        return write_cache(self.cdir, header, entries, skipped, rows("emb"), rows("tok"), layout)


def _encode_all(
    job: _Job,
    todo: list[tuple[str, int, int]],
    journal: ProgressJournal,
    new_bad: dict[str, str],
    progress: Callable[[int, int], None] | None,
    cancel: Callable[[], bool] | None,
) -> bool:
    """Encode ``todo``, committing each batch to ``journal``; returns True when cancelled."""
    enc, root = job.enc, job.root
    cfg = enc.config
    layout = TokenLayout.of(job.expect)
    total = len(todo)
    if progress is not None:
        progress(0, total)
    bs = max(1, job.batch_size)
    batches = [todo[i : i + bs] for i in range(0, total, bs)]
    n_workers = job.workers if job.workers is not None else min(4, os.cpu_count() or 1)
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, n_workers)) as pool:
        # Decode the next batch while the current one is encoded.
        pending = _load_batch(root, [k[0] for k in batches[0]], cfg, pool) if batches else []
        for b, keys in enumerate(batches):
            if cancel is not None and cancel():
                for f in pending:
                    f.cancel()
                return True
            futures = pending
            nxt = [k[0] for k in batches[b + 1]] if b + 1 < len(batches) else []
            pending = _load_batch(root, nxt, cfg, pool) if nxt else []
            good: list[tuple[str, int, int]] = []
            bad: list[tuple[tuple[str, int, int], str]] = []
            tensors = []
            for key, fut in zip(keys, futures, strict=True):
                try:
                    tensors.append(fut.result().tensor)
                    good.append(key)
                except ImageReadError as e:
                    log.warning("skipping unreadable gallery image: %s", e)
                    why = str(e).removeprefix(f"{root / key[0]}: ")
                    new_bad[key[0]] = why
                    bad.append((key, why))
            if tensors:
                ret, tok = enc.encode_photo_batch(np.stack(tensors))  # [b, C], [b, T, C]
                journal.append(good, l2_normalize(ret), layout.encode(tok), bad)
            elif bad:
                journal.append([], np.zeros((0, cfg.embed_dim), np.float32), layout.empty(0), bad)
            done += len(keys)
            if progress is not None:
                progress(done, total)
    return False


def _make_index(
    root: Path,
    cdir: Path,
    entries: list[CacheEntry],
    skipped: list[tuple[str, int, int, str]],
    emb: np.ndarray,
    tok: np.ndarray | QuantizedTokens,
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
