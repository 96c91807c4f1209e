"""Score matrices ``[Q, G]`` of a labelled test set under the three ranking modes.

All model work goes through ``zse_gui.engine`` (the same preprocessing, encoders, relation
scoring and tie-breaking as the app), so evaluation measures what the app does:

* ``ret``: cosine of the pre-cross-attention [Ret] embeddings (the paper's "Ours-Ret", ``-r sa``).
* ``rn``: relation logit of every (sketch, photo) pair (the paper's "Ours-RN", ``-r rn``,
  exhaustive; fp32 logits are ranked, so the release's fp16 sigmoid ties do not occur).
* ``rerank``: the ``ret`` ranking with its top ``depth`` items re-ordered by relation logit (the
  app's two-stage search; not the paper's protocol). Its score matrix holds rank-derived values
  (``G - final rank``), which order the gallery exactly as the two stages do.

The gallery is encoded once (timed separately); each mode's time covers encoding the queries
and ranking the whole gallery for every query.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from zse_gui.data.collection import SbirData
from zse_gui.engine.engine import Engine
from zse_gui.engine.gallery import GalleryIndex
from zse_gui.engine.preprocess import prepare_photo, prepare_sketch
from zse_gui.engine.retrieval import cosine_scores, l2_normalize, order_desc
from zse_gui.errors import ConfigError, ImageReadError, InvalidSketchError

__all__ = ["MODES", "ModeScores", "encode_gallery", "encode_query_embeddings", "score_matrices"]

log = logging.getLogger(__name__)

MODES = ("ret", "rerank", "rn")


@dataclass(frozen=True)
class ModeScores:
    """One ranking mode's scores.

    Attributes:
        mode: ``"ret"``, ``"rerank"`` or ``"rn"``.
        scores: [Q, G] float32, larger = ranked higher.
        seconds: wall time of the mode (query encoding + ranking), excluding the gallery encoding.
        rerank_depth: K for ``rerank`` (0 otherwise).
    """

    mode: str
    scores: np.ndarray
    seconds: float
    rerank_depth: int = 0


def _photo_tensor(engine: Engine, data: SbirData, i: int) -> np.ndarray:
    try:
        return prepare_photo(data.load_photo(i), engine.config).tensor
    except ImageReadError as e:
        raise ImageReadError(f"{data.photos[i].where}: {e}") from None


def encode_gallery(
    engine: Engine,
    data: SbirData,
    batch_size: int = 32,
    keep_tokens: bool = True,
    workers: int = 4,
    progress: bool = False,
) -> GalleryIndex:
    """Encode the photos of ``data`` into an in-memory ``GalleryIndex`` for the engine.

    Args:
        engine: the engine (its model, device and precision are used).
        data: the test set; its photos become the gallery, labelled by class name.
        batch_size: photos per forward pass.
        keep_tokens: keep the [G, T, C] float16 SA tokens (needed by ``rn`` and ``rerank``;
            about 0.3 MB per photo for ViT-B/16).
        workers: threads that decode and resize photos.
        progress: show a tqdm bar.

    Raises:
        ImageReadError: a photo cannot be decoded (its file and list line are named).
    """
    n = len(data.photos)
    t, c = engine.config.num_tokens, engine.config.embed_dim
    emb = np.empty((n, c), np.float32)
    tok = np.empty((n, t, c) if keep_tokens else (n, 0, 0), np.float16)
    bar = tqdm(total=n, desc="gallery", disable=not progress, dynamic_ncols=True)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for s in range(0, n, batch_size):
            idx = range(s, min(n, s + batch_size))
            batch = np.stack(list(pool.map(lambda i: _photo_tensor(engine, data, i), idx)))  # [b, 3, S, S]
            ret, tokens = engine.encode_photo_batch(batch)
            emb[s : s + len(batch)] = ret
            if keep_tokens:
                tok[s : s + len(batch)] = tokens
            bar.update(len(batch))
    bar.close()
    return GalleryIndex(
        root=Path(data.name or "."),
        cache_dir=Path(),
        paths=[str(p.path) for p in data.photos],
        labels=[data.classes[p.label] for p in data.photos],
        embeddings=l2_normalize(emb),
        tokens=tok,
        key=f"eval-{uuid.uuid4().hex}",
        config_name=engine.config.name,
        weights_sha256=engine.weights_info.sha256,
    )


def _prepared_sketch(engine: Engine, data: SbirData, i: int) -> np.ndarray:
    try:
        return prepare_sketch(data.load_sketch(i), engine.config).tensor
    except InvalidSketchError as e:
        raise InvalidSketchError(f"{data.sketches[i].where}: {e}") from None


def encode_query_embeddings(
    engine: Engine, data: SbirData, batch_size: int = 32, workers: int = 4
) -> np.ndarray:
    """[Q, C] float32 L2-normalised [Ret] embeddings of the sketches of ``data``, in batches.

    The SA encoder is shared by both modalities, so the engine's batch encoder serves sketches
    too; ``prepare_sketch`` gives the sketch preprocessing.
    """
    q, c = len(data.sketches), engine.config.embed_dim
    out = np.empty((q, c), np.float32)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for s in range(0, q, batch_size):
            idx = range(s, min(q, s + batch_size))
            batch = np.stack(list(pool.map(lambda i: _prepared_sketch(engine, data, i), idx)))
            out[s : s + len(batch)] = engine.encode_photo_batch(batch)[0]
    return l2_normalize(out)


def _query_input(data: SbirData, i: int) -> np.ndarray:
    return data.load_sketch(i)


def score_matrices(
    engine: Engine,
    data: SbirData,
    gallery: GalleryIndex,
    modes: tuple[str, ...] = MODES,
    rerank_depth: int = 100,
    batch_size: int = 32,
    progress: bool = False,
) -> dict[str, ModeScores]:
    """Score every sketch of ``data`` against ``gallery`` under each mode.

    Args:
        engine: the engine that encoded ``gallery``.
        data: the test set (its sketches are the queries).
        gallery: from ``encode_gallery`` (with tokens for ``rn``/``rerank``).
        modes: any of ``"ret"``, ``"rerank"``, ``"rn"``.
        rerank_depth: K of the two-stage mode.
        batch_size: sketches per forward pass for the Ret embeddings.
        progress: show tqdm bars for the per-query modes.

    Returns:
        ``{mode: ModeScores}`` in the order of ``modes``.

    Raises:
        ConfigError: unknown mode, or ``rn``/``rerank`` with a gallery encoded without tokens.
    """
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise ConfigError(f"unknown evaluation modes {bad}; use {', '.join(MODES)}")
    if any(m != "ret" for m in modes) and gallery.tokens.ndim == 3 and gallery.tokens.shape[1] == 0:
        raise ConfigError("the gallery was encoded without tokens; rn and rerank need keep_tokens=True")
    nq, ng = len(data.sketches), len(gallery)
    out: dict[str, ModeScores] = {}
    for mode in modes:
        t0 = time.perf_counter()
        if mode == "ret":
            emb = encode_query_embeddings(engine, data, batch_size)
            scores = cosine_scores(emb, np.asarray(gallery.embeddings))  # [Q, G]
            out[mode] = ModeScores(mode, scores, time.perf_counter() - t0)
            continue
        depth = max(1, min(int(rerank_depth), ng))
        scores = np.empty((nq, ng), np.float32)
        use_cache = ng <= engine.projections.capacity
        for i in tqdm(range(nq), desc=mode, disable=not progress, dynamic_ncols=True):
            try:
                q = engine.encode_sketch(_query_input(data, i))
            except InvalidSketchError as e:
                raise InvalidSketchError(f"{data.sketches[i].where}: {e}") from None
            if mode == "rn":
                scores[i] = engine.rn_logits(q, gallery, np.arange(ng), use_cache=use_cache)
                continue
            ret = np.asarray(gallery.embeddings, np.float32) @ q.ret  # [G]
            s1 = order_desc(ret)
            head = s1[:depth]
            # The shortlists of successive queries overlap, so the projection LRU pays here.
            logits = engine.rn_logits(q, gallery, head, use_cache=True)
            final = np.concatenate([head[order_desc(logits, head)], s1[depth:]])  # [G] best first
            scores[i, final] = np.arange(ng, 0, -1, dtype=np.float32)
        out[mode] = ModeScores(mode, scores, time.perf_counter() - t0, depth if mode == "rerank" else 0)
    return out
