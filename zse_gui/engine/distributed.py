"""Gallery indexing on Ray: encode photos with a pool of model actors, merge into the usual cache.

``build_index_ray`` scans the folder like ``build_index``, keeps the cached rows of unchanged
files, and sends the rest through a Ray Data pipeline: ``from_items`` (one row per file) then
``map_batches`` with ``EncodeActor``, a callable class that builds the model once per worker
(``num_gpus=1`` per actor when the cluster has GPUs). Each actor decodes its batch, encodes it and
writes one **shard** (``emb.npy``: [b, C] float32 normalised [Ret], ``tok.npy``: the tokens in
the cache's layout, ``TokenLayout.encode``, so int8/fp8 are quantised on the worker) into
``shards-<run>/`` of the cache folder, returning only the shard name per file. The driver then
merges old rows and shards in file order with ``write_cache``, so the result is an ordinary cache
generation that the app and the CLIs open like any other; the shards are deleted.

On a cluster the cache folder must be on storage that every node sees at the same path (NFS, a
shared mount), and so must the gallery folder and the weight file; see ``docs/cli.md``. Ray is an
optional dependency (the ``scale`` extra), imported only here.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zse_gui.engine.ann import resolve_kind, write_choice
from zse_gui.engine.cache import CacheEntry, default_cache_root, load_cache, write_cache
from zse_gui.engine.gallery import (
    GalleryIndex,
    PhotoEncoder,
    _label_of,
    _make_index,
    _reason,
    cache_dir_for,
    cache_expectation,
)
from zse_gui.engine.journal import CacheLock
from zse_gui.engine.preprocess import prepare_photo
from zse_gui.engine.retrieval import l2_normalize
from zse_gui.engine.scan import scan_gallery
from zse_gui.engine.tokenstore import TokenLayout, resolve_policy
from zse_gui.errors import ConfigError, GalleryError, ImageReadError

__all__ = ["EncodeActor", "EngineSpec", "build_index_ray"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineSpec:
    """How each worker builds its model (pickled to the actors; the weight file must be readable there).

    Attributes:
        name: model config name. weights: weight file, ``"default"`` or None (random init).
        seed: random-init seed (tests). device, precision: as for ``Engine``; an actor that got
        a GPU uses ``cuda``.
    """

    name: str
    weights: str | None = "default"
    seed: int | None = None
    device: str = "cpu"
    precision: str = "fp32"
    trust: bool = False

    def build(self, device: str | None = None) -> PhotoEncoder:
        from zse_gui.engine.engine import Engine
        from zse_gui.model.factory import create_model

        model = create_model(self.name, weights=self.weights, seed=self.seed, device="cpu", trust=self.trust)
        return Engine(model, device=device or self.device, precision=self.precision)


class EncodeActor:
    """Ray Data callable class: one model per worker; batches of file names in, shard names out."""

    def __init__(
        self,
        spec: EngineSpec,
        root: str,
        shard_dir: str,
        sha256: str,
        threads: int = 1,
        layout: TokenLayout | None = None,
    ) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        device = "cuda" if torch.cuda.is_available() and spec.device != "cpu" else spec.device
        self.enc = spec.build(device)
        if self.enc.weights_info.sha256 != sha256:
            raise GalleryError(
                f"a Ray worker loaded weights {self.enc.weights_info.sha256[:12]}, the driver "
                f"{sha256[:12]}: the weight file differs between nodes"
            )
        self.root = Path(root)
        self.shard_dir = Path(shard_dir)
        cfg = self.enc.config
        self.layout = layout or TokenLayout("fp16", cfg.num_tokens, cfg.embed_dim)  # the cache's layout

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rels = [str(r) for r in batch["rel"]]
        tensors, rows, errors = [], np.full(len(rels), -1, np.int64), [""] * len(rels)
        for i, rel in enumerate(rels):
            try:
                tensors.append(prepare_photo(self.root / rel, self.enc.config).tensor)
                rows[i] = len(tensors) - 1
            except ImageReadError as e:
                errors[i] = str(e).removeprefix(f"{self.root / rel}: ")
        name = ""
        if tensors:
            ret, tok = self.enc.encode_photo_batch(np.stack(tensors))  # [b, C], [b, T, C]
            name = f"shard-{uuid.uuid4().hex[:12]}"
            part = self.shard_dir / name
            tmp = self.shard_dir / f".{name}.tmp"
            tmp.mkdir()
            np.save(tmp / "emb.npy", l2_normalize(ret))
            np.save(tmp / "tok.npy", self.layout.encode(tok))
            os.replace(tmp, part)  # a shard is complete or absent
        return {
            "rel": np.asarray(rels, dtype=object),
            "shard": np.asarray([name if r >= 0 else "" for r in rows], dtype=object),
            "row": rows,
            "error": np.asarray(errors, dtype=object),
        }


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ConfigError(
            "indexing on Ray needs the 'scale' extra: pip install 'zse-gui[scale]' (ray[data], pyarrow)"
        ) from None
    return ray


def build_index_ray(
    spec: EngineSpec,
    folder: str | os.PathLike[str],
    cache_root: str | os.PathLike[str] | None = None,
    num_workers: int = 2,
    batch_size: int = 16,
    threads_per_worker: int = 1,
    follow_symlinks: bool = False,
    progress: Callable[[int, int], None] | None = None,
    ann: str | None = None,
    driver: PhotoEncoder | None = None,
    tokens: str | None = None,
) -> GalleryIndex:
    """Index ``folder`` with ``num_workers`` Ray actors and merge into the ordinary cache layout.

    Connects to the running Ray instance (``ray.init()`` already called, or ``$RAY_ADDRESS``),
    else starts a local one. The cache folder (``cache_root``) must be reachable by every worker.

    Args:
        ann: stage-1 index choice, as for ``build_index`` (kept with the cache).
        tokens: token policy, as for ``build_index``.
        driver: the driver's own encoder, if it has one already (else built from ``spec`` on CPU);
            only its config and weights identity are used.

    Returns:
        The index, equal to what ``build_index`` writes for the same files (embeddings equal up
        to float rounding of a different batch composition; tokens within fp16 rounding).

    Raises:
        ConfigError: Ray is not installed. GalleryError: missing folder, nothing readable, the
        cache cannot be written, or a worker loaded different weights.
    """
    ray = _ray()
    if ann is not None:
        resolve_kind(ann, 0)  # an unknown mode fails before any encoding
    driver = driver if driver is not None else spec.build("cpu")
    cfg, info = driver.config, driver.weights_info
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise GalleryError(f"gallery folder {root} does not exist or is not a folder")
    croot = Path(cache_root).expanduser() if cache_root is not None else default_cache_root()
    cdir = cache_dir_for(croot.resolve(), root, cfg.name, info.sha256)
    resolve_policy(tokens or "auto", 0, cfg.num_tokens, cfg.embed_dim)  # an unknown policy fails early
    scan = scan_gallery(root, follow_symlinks)
    if not scan.files:
        raise GalleryError(f"no image files found under {root}")
    expect = cache_expectation(cdir, cfg, info.sha256, tokens, len(scan.files))
    layout = TokenLayout.of(expect)
    try:
        cdir.mkdir(parents=True, exist_ok=True)
        lock = CacheLock(cdir)
        lock.acquire(blocking=True)
    except OSError as e:
        raise GalleryError(f"cannot use the gallery cache folder {cdir}: {_reason(e)}") from None
    shard_dir = cdir / f"shards-{uuid.uuid4().hex[:12]}"
    try:
        old = load_cache(cdir, expect)
        old_rows = {e.key: i for i, e in enumerate(old.entries) if not old.corrupt[i]} if old else {}
        todo = [key for key in scan.files if key not in old_rows]
        done: dict[str, tuple[str, int]] = {}
        bad: dict[str, str] = {}
        if todo:
            shard_dir.mkdir()
            if not ray.is_initialized():
                ray.init(include_dashboard=False, log_to_driver=False)
            gpus = float(ray.cluster_resources().get("GPU", 0)) > 0 and spec.device != "cpu"
            ds = ray.data.from_items([{"rel": k[0]} for k in todo])
            out = ds.map_batches(
                EncodeActor,
                batch_size=max(1, batch_size),
                batch_format="numpy",
                fn_constructor_kwargs={
                    "spec": spec,
                    "root": str(root),
                    "shard_dir": str(shard_dir),
                    "sha256": info.sha256,
                    "threads": threads_per_worker,
                    "layout": layout,
                },
                compute=ray.data.ActorPoolStrategy(size=max(1, num_workers)),
                num_cpus=threads_per_worker,
                num_gpus=1 if gpus else 0,
            )
            for n_done, row in enumerate(out.iter_rows(), 1):
                rel = str(row["rel"])
                if row["shard"]:
                    done[rel] = (str(row["shard"]), int(row["row"]))
                else:
                    bad[rel] = str(row["error"])
                if progress is not None:
                    progress(n_done, len(todo))
        index = _merge(cdir, root, expect, scan.files, old, old_rows, done, bad, shard_dir, info)
        index.skipped.extend((str(root / rel), why) for rel, why in scan.problems)
        if ann is not None:
            write_choice(cdir, ann)
        index.stage1()  # build (and save) an approximate index while holding the lock
    except OSError as e:
        raise GalleryError(f"cannot write the gallery cache {cdir}: {_reason(e)}") from None
    finally:
        shutil.rmtree(shard_dir, ignore_errors=True)
        lock.release()
    return index


def _merge(
    cdir: Path,
    root: Path,
    expect: dict[str, Any],
    files: list[tuple[str, int, int]],
    old: Any,
    old_rows: dict[tuple[str, int, int], int],
    done: dict[str, tuple[str, int]],
    bad: dict[str, str],
    shard_dir: Path,
    info: Any,
) -> GalleryIndex:
    """Old rows and shards, in file order, into one new cache generation."""
    entries: list[CacheEntry] = []
    sources: list[tuple[str, int]] = []  # ("old", row) or (shard name, row)
    skipped = []
    for rel, size, mtime in files:
        if (rel, size, mtime) in old_rows:
            sources.append(("old", old_rows[(rel, size, mtime)]))
        elif rel in done:
            sources.append(done[rel])
        else:
            if rel in bad:
                skipped.append((rel, size, mtime, bad[rel]))
            continue
        entries.append(CacheEntry(rel, size, mtime, _label_of(rel)))
    if not entries:
        first = skipped[0][3] if skipped else "unknown"
        raise GalleryError(f"none of the {len(files)} image files under {root} could be read ({first})")
    shards: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def table(src: str, kind: str) -> np.ndarray:
        if src == "old":
            return np.asarray(old.embeddings if kind == "emb" else old.tokens)
        if src not in shards:
            d = shard_dir / src
            shards[src] = (np.load(d / "emb.npy", mmap_mode="r"), np.load(d / "tok.npy", mmap_mode="r"))
        return shards[src][0 if kind == "emb" else 1]

    def rows(kind: str) -> Iterator[np.ndarray]:
        for s in range(0, len(sources), 256):
            yield np.stack([np.asarray(table(src, kind)[r]) for src, r in sources[s : s + 256]])

    header = {**expect, "folder": str(root)}
    try:
        gen = write_cache(
            cdir,
            header,
            entries,
            skipped,
            rows("emb"),
            rows("tok"),
            TokenLayout.of(expect),
        )
    except OSError as e:
        raise GalleryError(f"cannot merge the shards into {cdir}: {_reason(e)}") from None
    state = load_cache(cdir, expect)
    if state is None or state.generation != gen:
        raise GalleryError(f"the gallery cache {cdir} was written but cannot be read back (check the disk)")
    encoded = sum(1 for src, _ in sources if src != "old")
    return _make_index(
        root, cdir, state.entries, state.skipped, state.embeddings, state.token_rows, gen, info, encoded
    )
