"""Token-store policies: what is kept per photo, compressed forms, and re-ranking without tokens."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zse_gui.engine import tokenstore
from zse_gui.engine.engine import Engine
from zse_gui.errors import ConfigError, GalleryError
from zse_gui.sketch import StrokeSketch


def test_policy_by_gallery_size() -> None:
    per_item = tokenstore.bytes_per_item("fp16", 197, 768)
    assert per_item == 197 * 768 * 2
    fits = tokenstore.TOKEN_BUDGET_BYTES // per_item
    assert tokenstore.choose_policy(fits, 197, 768) == "fp16"
    assert tokenstore.choose_policy(fits + 1, 197, 768) == "none"
    assert tokenstore.resolve_policy("auto", 10**9, 197, 768, existing="fp16") == "fp16"  # sticky
    assert tokenstore.resolve_policy("none", 10, 197, 768, existing="fp16") == "none"  # forced
    assert tokenstore.bytes_per_item("fp8", 197, 768) < per_item / 1.9
    assert tokenstore.bytes_per_item("none", 197, 768) == 0
    with pytest.raises(ConfigError, match="token policy"):
        tokenstore.resolve_policy("zip", 10, 197, 768)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), spread=st.floats(0.01, 100.0), kind=st.sampled_from(["fp8", "int8"]))
def test_compressed_tokens_round_trip_within_their_rounding(seed: int, spread: float, kind: str) -> None:
    x = (np.random.default_rng(seed).standard_normal((3, 5, 16)) * spread).astype(np.float32)
    codes, scales = tokenstore.compress(x, kind)
    assert codes.dtype.itemsize == 1 and scales.shape == (3, 5) and scales.dtype == np.float16
    y = tokenstore.decompress(codes, scales, kind)
    scale = scales.astype(np.float32)[..., None]
    # int8: half a step; fp8 e4m3: 3 mantissa bits (relative 2**-4) and a floor at the subnormal step
    bound = 0.5 * scale * 1.001 if kind == "int8" else np.abs(x) * 2.0**-4 + scale * 2.0**-9
    assert np.all(np.abs(y - x) <= bound + 1e-6 * np.abs(x).max())


def test_gallery_without_tokens_reranks_like_one_with_them(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, sketch: StrokeSketch
) -> None:
    root = make_gallery(per_class=3)
    kept = engine.index_gallery(root, cache_root / "fp16", tokens="fp16")
    bare = engine.index_gallery(root, cache_root / "none", tokens="none")
    cfg = engine.config
    assert kept.tokens.shape == (9, cfg.num_tokens, cfg.embed_dim)
    assert bare.tokens.shape == (9, 0, cfg.embed_dim)
    np.testing.assert_array_equal(bare.embeddings, kept.embeddings)
    idx = np.arange(9)
    with torch.inference_mode():
        recomputed = engine._photo_tokens(bare, list(idx)).float().numpy()
    np.testing.assert_allclose(recomputed, np.asarray(kept.tokens, np.float32), rtol=2**-10, atol=1e-4)
    a = engine.rn_logits(sketch, kept, idx)
    b = engine.rn_logits(sketch, bare, idx)
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)
    res = engine.search(sketch, bare, top_k=5, rerank_depth=9)
    assert res.mode == "rerank" and all(it.rn_logit is not None for it in res.items)
    # auto keeps the policy of the existing cache: nothing is encoded again
    again = engine.index_gallery(root, cache_root / "none")
    assert again.tokens.shape[1] == 0 and again.num_encoded == 0


def test_rerank_without_tokens_reports_a_vanished_photo(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, sketch: StrokeSketch
) -> None:
    root = make_gallery(per_class=2)
    bare = engine.index_gallery(root, cache_root, tokens="none")
    Path(bare.paths[0]).write_bytes(b"no longer an image")
    with pytest.raises(GalleryError, match="index it again"):
        engine.rn_logits(sketch, bare, [0, 1])
