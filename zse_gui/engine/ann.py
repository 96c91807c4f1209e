"""Stage 1 at scale: the exact [Ret] cosine scan below a size threshold, FAISS above it.

Below ``threshold`` items (default 100 000, developer switch ``$ZSE_ANN_THRESHOLD``) stage 1 is
the exact chunked scan of ``cosine_topk``: at that size it takes milliseconds and needs no extra
file. Above it, an approximate FAISS index proposes a shortlist (``shortlist`` candidates, 1000
by default) that is then re-scored exactly with the cache's float32 embeddings, so the returned
scores are true cosines and the order is the exact one within the shortlist. Kinds:

- ``ivfpq``: ``IVF{nlist},PQ{m}x4fs`` (inverted lists with 4-bit product-quantisation codes
  scanned with SIMD "fast-scan"), L2 on the normalised vectors (same order as cosine). About
  ``m / 2`` bytes per item (96 B for 768-d), fast to build because only a sample is used for
  training; the default above the threshold (see ``docs/benchmarks.md`` for the measurements
  behind the choice). From ``REFINE_FROM`` items (2M) the index is FAISS's
  ``IVF{nlist},PQ{m}x4fs,Refine(SQ8)``: the fast-scan codes propose ``refine`` candidates (10 000
  at 10M) that FAISS re-ranks with an 8-bit scalar-quantised copy of every vector held in RAM
  (``d`` bytes per item, 768 B for 768-d). The 4-bit codes alone order the neighbourhood too
  coarsely for a 1000-item shortlist to hold the true top 50 at 10M, and re-scoring a long
  shortlist from the cache file means random reads of a file larger than the page cache; the
  8-bit copy answers both. The 8-bit cosines are a few thousandths off the exact ones, enough to
  swap items around the k-th place, so the best ``RESCORE_FACTOR * k`` of them (200 for a top 50)
  are re-scored exactly from the cache's embeddings, read with parallel ``pread`` calls
  (``rowread.read_rows``): the returned scores are true cosines and the order is the exact one
  among those candidates.
- ``hnsw``: ``HNSW32,Flat`` graph. No training, but it stores a full float32 copy of every vector
  plus the graph (about 3.3 KB per 768-d item) and builds much more slowly on a small CPU.
- ``exact``: today's scan, whatever the size.

The index file lives next to the gallery cache as ``ann-<generation>-<kind>.faiss``: a short
header (magic, JSON with kind, generation, size, dimension and the sha256 of the payload) and the
bytes of ``faiss.write_index``, streamed (never whole in memory). It is written to a temporary
file and moved into place with ``os.replace``. A file whose checksum, size or generation does not match raises
``AnnIndexError`` when loaded directly; ``open_stage1`` logs it and builds a new one. When the
cache changes (a new generation), the IVF-PQ index of the previous generation lends its trained
quantisers (no re-training) unless the gallery grew more than 4-fold, and every item is added
again. A forced choice (``zse-index --ann``) is kept in ``ann.json`` in the cache folder and
applies to later generations too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from zse_gui.engine.cache import atomic_file
from zse_gui.engine.retrieval import cosine_topk, order_desc
from zse_gui.engine.rowread import read_rows
from zse_gui.errors import ConfigError, GalleryError

__all__ = [
    "ANN_MODES",
    "AnnIndexError",
    "ExactStage1",
    "FaissStage1",
    "Stage1Index",
    "ann_threshold",
    "build_faiss",
    "load_ann_file",
    "open_stage1",
    "read_choice",
    "resolve_kind",
    "save_ann_file",
    "write_choice",
]

log = logging.getLogger(__name__)

ANN_MODES = ("auto", "exact", "ivfpq", "hnsw")
DEFAULT_THRESHOLD = 100_000
ENV_THRESHOLD = "ZSE_ANN_THRESHOLD"
DEFAULT_SHORTLIST = 1000
CHOICE_FILE = "ann.json"
_MAGIC = b"ZSEANN2\n"  # 2: the header has "refine"; files of version 1 are rebuilt
_FILE = re.compile(r"ann-([0-9a-zA-Z]+)-(ivfpq|hnsw)\.faiss")
MAX_NLIST = 1024
MIN_IVFPQ = 256  # fewer items cannot train 16-centroid PQ codebooks well: such galleries stay exact
_RETRAIN_GROWTH = 4.0  # re-train the IVF-PQ quantisers when the gallery grew more than this
REFINE_FROM = 2_000_000  # IVF-PQ galleries from this size get the in-RAM 8-bit refinement stage
REFINE_CANDIDATES = 10_000  # fast-scan candidates re-ranked by the 8-bit codes (at most N / 100)
RESCORE_FACTOR = 4  # refined search: the 8-bit top (factor x k) is re-scored exactly from the cache


class AnnIndexError(GalleryError):
    """A stage-1 index file that is damaged or belongs to another cache generation."""


class Stage1Index(Protocol):
    """What stage 1 needs: the top ``k`` gallery rows by [Ret] cosine for normalised queries."""

    kind: str

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """[C] or [Q, C] float32 normalised -> (indices int64, cosines float32), best first,
        shaped [k] or [Q, k] (k clipped to the gallery size)."""
        ...


def ann_threshold() -> int:
    """Gallery size from which ``auto`` uses an approximate index (``$ZSE_ANN_THRESHOLD``).

    Raises:
        ConfigError: the variable is set to something that is not a positive integer.
    """
    raw = os.environ.get(ENV_THRESHOLD)
    if raw is None or raw.strip() == "":
        return DEFAULT_THRESHOLD
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{ENV_THRESHOLD}={raw!r}; use a positive number of gallery items (e.g. 100000)")
    return value


def resolve_kind(mode: str, n: int, threshold: int | None = None) -> str:
    """The index kind for ``mode`` and a gallery of ``n`` items (``auto``: exact below the threshold).

    Raises:
        ConfigError: unknown mode.
    """
    if mode not in ANN_MODES:
        raise ConfigError(f"unknown stage-1 index {mode!r}; use one of {', '.join(ANN_MODES)}")
    if mode != "auto":
        return mode
    return "exact" if n < (ann_threshold() if threshold is None else threshold) else "ivfpq"


class ExactStage1:
    """The exact chunked scan (``cosine_topk``) over the cache's embeddings."""

    kind = "exact"

    def __init__(self, embeddings: np.ndarray) -> None:
        self.embeddings = embeddings

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return cosine_topk(query, self.embeddings, k)


@dataclass(frozen=True)
class IndexParams:
    """How a FAISS index was built and is searched (stored in the file header)."""

    kind: str
    factory: str
    nprobe: int = 0
    ef_search: int = 0
    trained_n: int = 0
    refine: int = 0  # fast-scan candidates re-ranked by the 8-bit refinement codes (0: no refinement)


def _faiss() -> Any:
    import faiss  # imported lazily: small galleries never need it

    return faiss


def ivfpq_params(n: int, d: int, refine_from: int | None = None) -> IndexParams:
    """IVF-PQ fast-scan parameters for ``n`` items of dimension ``d``.

    ``nlist`` is the power of two nearest ``sqrt(n)``, at most 1024 (reached at 1M; beyond it
    the lists grow instead, which fast-scan handles well, while training and adding cost grow
    with ``nlist``), and small enough that each list gets at least 39 training points (FAISS's
    own rule of thumb); ``m`` = ``d / 4`` sub-quantisers of 4 bits (96 bytes for 768-d);
    ``nprobe`` = ``nlist / 32`` lists are visited per query (at least enough to hold a few
    times the shortlist, see ``FaissStage1``): at 1M and at 10M items recall@50 was the same at
    nprobe 16, 32 and 64, and 64 cost up to half as much time again (``docs/benchmarks.md``).
    From ``refine_from`` items (default ``REFINE_FROM``) the factory ends in ``,Refine(SQ8)``
    and ``refine`` candidates (between 1000 and ``REFINE_CANDIDATES``, about N / 1000) are
    re-ranked by the 8-bit codes.
    """
    nlist = min(MAX_NLIST, 2 ** round(math.log2(max(1.0, math.sqrt(max(n, 1))))))
    nlist = max(1, min(nlist, n // 39 if n >= 39 else 1))
    m = max(1, d // 4)
    while d % m:
        m -= 1
    factory = f"IVF{nlist},PQ{m}x4fs"
    refine = 0
    if n >= (REFINE_FROM if refine_from is None else refine_from):
        factory += ",Refine(SQ8)"
        refine = max(1000, min(REFINE_CANDIDATES, n // 1000))
    return IndexParams("ivfpq", factory, nprobe=max(1, nlist // 32), trained_n=n, refine=refine)


def hnsw_params(n: int, d: int) -> IndexParams:
    del d
    return IndexParams("hnsw", "HNSW32,Flat", ef_search=128, trained_n=n)


def _chunks(emb: np.ndarray, rows: int = 65536) -> Any:
    for s in range(0, len(emb), rows):
        yield np.ascontiguousarray(emb[s : s + rows], np.float32)


def build_faiss(
    kind: str,
    embeddings: np.ndarray,
    previous: tuple[Any, IndexParams] | None = None,
    train_sample: int | None = None,
    seed: int = 0,
    refine_from: int | None = None,
) -> tuple[Any, IndexParams]:
    """Build a FAISS index of ``kind`` (``ivfpq`` or ``hnsw``) over [N, C] normalised embeddings.

    Args:
        embeddings: [N, C] float32 (memmap fine; added in chunks of 65 536 rows).
        previous: an index of the same kind and dimension whose trained quantisers are reused
            (IVF-PQ only; ignored when the gallery grew more than 4-fold since it was trained).
        train_sample: rows used to train IVF-PQ (default ``64 * nlist``, at most N), drawn at random.
        refine_from: gallery size from which IVF-PQ gets the 8-bit refinement stage (default
            ``REFINE_FROM``).

    Returns:
        (faiss index, its parameters).
    """
    faiss = _faiss()
    n, d = embeddings.shape
    t0 = time.perf_counter()
    if kind == "hnsw":
        params = hnsw_params(n, d)
        index = faiss.index_factory(d, params.factory)
        index.hnsw.efSearch = params.ef_search
    elif kind == "ivfpq":
        params = ivfpq_params(n, d, refine_from)
        reuse = (
            previous is not None
            and previous[1].kind == "ivfpq"
            and previous[0].d == d
            and bool(previous[1].refine) == bool(params.refine)
            and n <= _RETRAIN_GROWTH * max(1, previous[1].trained_n)
        )
        if reuse:
            assert previous is not None
            index, params = previous
            index.reset()  # keeps the trained coarse quantiser, PQ codebooks and 8-bit ranges
        else:
            index = faiss.index_factory(d, params.factory)
            nlist = _nlist(params.factory)
            size = min(n, train_sample or 64 * nlist)
            rows = np.sort(np.random.default_rng(seed).choice(n, size, replace=False)) if size < n else None
            sample = np.ascontiguousarray(embeddings if rows is None else embeddings[rows], np.float32)
            index.train(sample)
        faiss.extract_index_ivf(index).nprobe = params.nprobe
        if params.refine:  # a saved or exported index re-ranks ``refine`` candidates for a top 50
            index.k_factor = params.refine / 50
    else:
        raise ConfigError(f"no FAISS index of kind {kind!r}; use ivfpq or hnsw")
    for block in _chunks(embeddings):
        index.add(block)
    log.info("built %s stage-1 index of %d items in %.1f s", kind, n, time.perf_counter() - t0)
    return index, params


class FaissStage1:
    """A FAISS shortlist re-scored exactly with the stored embeddings.

    Without a refinement stage the index proposes ``shortlist`` candidates and all of them are
    re-scored exactly from ``embeddings``. With one (``params.refine``), the fast-scan codes
    propose ``max(params.refine, shortlist)`` candidates, FAISS re-ranks them with the 8-bit codes
    in RAM, and the best ``rescore`` of those (default ``RESCORE_FACTOR * k``) are re-scored
    exactly from ``embeddings`` (parallel reads of only those rows); ``exact=False`` skips that
    step and returns the 8-bit order and scores (for measurements).

    Args:
        index: a FAISS index over the rows of ``embeddings`` (same order).
        params: how it was built (search parameters).
        embeddings: [N, C] float32 normalised (memmap fine: only shortlisted rows are read).
        shortlist: candidates fetched from FAISS per query before exact re-scoring.
        exact: with a refinement stage, re-score the 8-bit codes' best candidates exactly.
        rescore: with a refinement stage, how many of the 8-bit codes' best are re-scored
            (None: ``RESCORE_FACTOR * k``; at least ``k``).
    """

    def __init__(
        self,
        index: Any,
        params: IndexParams,
        embeddings: np.ndarray,
        shortlist: int = DEFAULT_SHORTLIST,
        exact: bool = True,
        rescore: int | None = None,
    ) -> None:
        self.index = index
        self.params = params
        self.kind = params.kind
        self.embeddings = embeddings
        self.shortlist = max(1, int(shortlist))
        self.exact = bool(exact)
        self.rescore = None if rescore is None else max(1, int(rescore))
        self.last_nprobe = 0  # lists visited by the latest refined search (for benchmarks)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(query, np.float32)
        single = q.ndim == 1
        q2 = q[None] if single else q
        n = len(self.embeddings)
        k = max(0, min(int(k), n))
        if k == 0:
            empty_i, empty_s = np.zeros((len(q2), 0), np.int64), np.zeros((len(q2), 0), np.float32)
            return (empty_i[0], empty_s[0]) if single else (empty_i, empty_s)
        if self.params.refine:
            return self._search_refined(q2, k, single)
        kk = min(n, max(k, self.shortlist))
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = max(self.params.ef_search, kk)
        else:
            # Visit enough lists that they hold a few times the shortlist on average.
            ivf = _faiss().extract_index_ivf(self.index)
            ivf.nprobe = min(ivf.nlist, max(self.params.nprobe, math.ceil(3 * kk * ivf.nlist / n)))
        _, cand = self.index.search(q2, kk)  # [Q, kk] int64, -1 where fewer were found
        out_i = np.empty((len(q2), k), np.int64)
        out_s = np.empty((len(q2), k), np.float32)
        for r in range(len(q2)):
            rows = np.unique(cand[r][cand[r] >= 0])  # sorted: kinder to a memmap
            if len(rows) < k:
                # The probed lists held fewer than k items: fall back to the exact scan.
                log.debug("stage-1 index found %d < %d candidates; exact scan for this query", len(rows), k)
                out_i[r], out_s[r] = cosine_topk(q2[r], self.embeddings, k)
                continue
            out_i[r], out_s[r] = self._rescore(rows, q2[r], k)
        return (out_i[0], out_s[0]) if single else (out_i, out_s)

    def _rescore(self, rows: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The exact top ``k`` of candidate ``rows`` (distinct) for one query."""
        order = np.argsort(rows, kind="stable")  # file order: kinder to the disk
        sc = np.empty(len(rows), np.float32)
        sc[order] = np.asarray(read_rows(self.embeddings, rows[order]), np.float32) @ q  # exact cosines
        top = order_desc(sc, rows)[:k]
        return rows[top], sc[top]

    def _search_refined(self, q2: np.ndarray, k: int, single: bool) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()
        n = len(self.embeddings)
        cands = min(n, max(k, self.shortlist, self.params.refine))
        keep = min(cands, max(k, self.rescore or RESCORE_FACTOR * k)) if self.exact else k
        nlist = faiss.extract_index_ivf(self.index).nlist
        # Per-call parameters (the index object is not changed): the base visits ``nprobe`` lists
        # and proposes ``cands`` candidates, the 8-bit codes keep the best ``keep``.
        base = faiss.SearchParametersIVF(
            nprobe=min(nlist, max(self.params.nprobe, math.ceil(3 * cands * nlist / n)))
        )
        sp = faiss.IndexRefineSearchParameters(k_factor=cands / keep, base_index_params=base)
        self.last_nprobe = int(base.nprobe)
        _, found = self.index.search(q2, keep, params=sp)  # [Q, keep] int64, best first by 8-bit distance
        refine = self.index.refine_index
        out_i = np.empty((len(q2), k), np.int64)
        out_s = np.empty((len(q2), k), np.float32)
        for r in range(len(q2)):
            rows = found[r]
            if np.any(rows < 0):
                log.debug("stage-1 index found fewer than %d candidates; exact scan for this query", keep)
                out_i[r], out_s[r] = cosine_topk(q2[r], self.embeddings, k)
                continue
            if self.exact:
                out_i[r], out_s[r] = self._rescore(rows, q2[r], k)
                continue
            sc = refine.reconstruct_batch(rows) @ q2[r]  # cosines of the 8-bit reconstructions
            top = order_desc(sc, rows)
            out_i[r], out_s[r] = rows[top], sc[top]
        return (out_i[0], out_s[0]) if single else (out_i, out_s)


def _nlist(factory: str) -> int:
    return int(factory.split(",")[0][3:])


# ---- files -----------------------------------------------------------------------------------------
def ann_path(cache_dir: Path, generation: str, kind: str) -> Path:
    return Path(cache_dir) / f"ann-{generation}-{kind}.faiss"


_HASH_PLACEHOLDER = "0" * 64  # same length as a sha256 hex digest: overwritten once the payload is written
_READ_BLOCK = 1 << 24


def save_ann_file(path: Path, index: Any, params: IndexParams, generation: str) -> None:
    """Write the index atomically (temporary file, fsync, ``os.replace``).

    The FAISS payload is streamed into the file while it is hashed (a 10M-item refined index is
    8.7 GB: building it in memory first would need several copies); the header's checksum is a
    fixed-length field written afterwards.
    """
    faiss = _faiss()
    head = {
        "kind": params.kind,
        "factory": params.factory,
        "nprobe": params.nprobe,
        "ef_search": params.ef_search,
        "trained_n": params.trained_n,
        "refine": params.refine,
        "generation": generation,
        "n": int(index.ntotal),
        "d": int(index.d),
        "sha256": _HASH_PLACEHOLDER,
    }
    first = _MAGIC + json.dumps(head).encode("utf-8") + b"\n"
    digest = hashlib.sha256()
    with atomic_file(path) as fh:
        fh.write(first)

        def write(chunk: bytes) -> None:
            digest.update(chunk)
            fh.write(chunk)

        writer = faiss.PyCallbackIOWriter(write)
        faiss.write_index(index, writer)
        del writer
        head["sha256"] = digest.hexdigest()
        final = _MAGIC + json.dumps(head).encode("utf-8") + b"\n"
        assert len(final) == len(first)
        fh.seek(0)
        fh.write(final)


def load_ann_file(
    path: Path, generation: str | None = None, n: int | None = None, d: int | None = None
) -> tuple[Any, IndexParams]:
    """Read and check an index file; the payload reaches FAISS only after its sha256 matched.

    The file is read twice in blocks (checksum, then FAISS), never held in memory whole.

    Raises:
        FileNotFoundError: no such file.
        AnnIndexError: bad header or checksum, or generation / size / dimension not as expected.
    """
    with Path(path).open("rb") as fh:
        try:
            if fh.read(len(_MAGIC)) != _MAGIC:
                raise ValueError("not a zse-gui stage-1 index file")
            line = fh.readline(1 << 16)
            if not line.endswith(b"\n"):
                raise ValueError("no header line")
            head = json.loads(line.decode("utf-8"))
            start = fh.tell()
            digest = hashlib.sha256()
            while block := fh.read(_READ_BLOCK):
                digest.update(block)
            if digest.hexdigest() != head["sha256"]:
                raise ValueError("checksum mismatch (the file is damaged)")
            want = {"generation": generation, "n": n, "d": d}
            for key, value in want.items():
                if value is not None and head[key] != value:
                    raise ValueError(f"{key}={head[key]!r}, expected {value!r}")
            params = IndexParams(
                str(head["kind"]),
                str(head["factory"]),
                int(head["nprobe"]),
                int(head["ef_search"]),
                int(head["trained_n"]),
                int(head["refine"]),
            )
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError) as e:
            raise AnnIndexError(f"stage-1 index {path} is unusable: {e}; it is rebuilt when opened") from None
        fh.seek(start)
        try:
            reader = _faiss().PyCallbackIOReader(fh.read)
            index = _faiss().read_index(reader)
            del reader
        except RuntimeError as e:
            raise AnnIndexError(f"stage-1 index {path} cannot be read by FAISS: {e}") from None
    if int(index.ntotal) != int(head["n"]) or int(index.d) != int(head["d"]):
        raise AnnIndexError(f"stage-1 index {path}: its header does not match its content")
    if params.kind == "ivfpq":
        _faiss().extract_index_ivf(index).nprobe = params.nprobe
    return index, params


def read_choice(cache_dir: Path) -> str | None:
    """The stage-1 mode forced for this cache (``zse-index --ann``), or None."""
    try:
        mode = json.loads((Path(cache_dir) / CHOICE_FILE).read_text(encoding="utf-8")).get("mode")
    except (OSError, ValueError, AttributeError):
        return None
    return mode if mode in ANN_MODES else None


def write_choice(cache_dir: Path, mode: str) -> None:
    """Remember ``mode`` for this cache (atomic write)."""
    resolve_kind(mode, 0)  # validates
    path = Path(cache_dir) / CHOICE_FILE
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(json.dumps({"mode": mode}), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _previous(cache_dir: Path, kind: str, d: int, generation: str) -> tuple[Any, IndexParams] | None:
    """A loadable index of ``kind`` from another generation (the newest), for its training."""
    files = []
    with contextlib.suppress(OSError):
        for p in Path(cache_dir).iterdir():
            m = _FILE.fullmatch(p.name)
            if m and m.group(2) == kind and m.group(1) != generation:
                files.append((p.stat().st_mtime_ns, p))
    for _, p in sorted(files, reverse=True):
        try:
            return load_ann_file(p, d=d)
        except (OSError, AnnIndexError) as e:
            log.debug("previous stage-1 index %s not reusable: %s", p, e)
    return None


def _remove_other_generations(cache_dir: Path, generation: str) -> None:
    with contextlib.suppress(OSError):
        for p in Path(cache_dir).iterdir():
            m = _FILE.fullmatch(p.name)
            if m and m.group(1) != generation:
                with contextlib.suppress(OSError):
                    p.unlink()


def open_stage1(
    cache_dir: Path,
    generation: str,
    embeddings: np.ndarray,
    mode: str | None = None,
    threshold: int | None = None,
    shortlist: int = DEFAULT_SHORTLIST,
    persist: bool = True,
) -> Stage1Index:
    """The stage-1 index of one cache generation: loaded from disk, else built (and saved).

    Args:
        cache_dir: the gallery's cache folder.
        generation: the cache generation the embeddings belong to.
        embeddings: [N, C] float32 normalised (the cache's memmap).
        mode: ``auto``/``exact``/``ivfpq``/``hnsw``; None = the choice kept in ``ann.json``, else auto.
        threshold: size from which ``auto`` goes approximate (default ``ann_threshold()``).
        shortlist: candidates re-scored exactly per query.
        persist: write a newly built index next to the cache (a write failure is logged, and the
            index is still used from memory).

    Raises:
        ConfigError: unknown mode or bad ``$ZSE_ANN_THRESHOLD``.
    """
    n, d = embeddings.shape
    kind = resolve_kind(mode or read_choice(cache_dir) or "auto", n, threshold)
    if kind == "ivfpq" and n < MIN_IVFPQ:
        log.info("gallery of %d items is too small to train IVF-PQ; stage 1 stays exact", n)
        kind = "exact"
    if kind == "exact" or n == 0:
        return ExactStage1(embeddings)
    path = ann_path(cache_dir, generation, kind)
    try:
        index, params = load_ann_file(path, generation, n, d)
        return FaissStage1(index, params, embeddings, shortlist)
    except FileNotFoundError:
        pass
    except (OSError, AnnIndexError) as e:
        log.warning("%s", e)
    index, params = build_faiss(kind, embeddings, previous=_previous(cache_dir, kind, d, generation))
    if persist:
        try:
            save_ann_file(path, index, params, generation)
            _remove_other_generations(cache_dir, generation)
        except OSError as e:
            log.warning("could not save the stage-1 index %s (%s); it is rebuilt next time", path, e)
    return FaissStage1(index, params, embeddings, shortlist)
