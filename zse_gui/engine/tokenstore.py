"""How a gallery keeps the SA patch tokens that stage 2 (the RN re-rank) needs.

Policies (measured in ``benchmarks/tokenstore.py``, results in ``docs/benchmarks.md``):

- ``fp16``: every token of every photo in float16, ``T * C * 2`` bytes per item (303 KB for
  ViT-B/16: 303 GB per million photos). Exact up to fp16 rounding. Today's layout.
- ``none``: no tokens on disk; the re-rank recomputes the tokens of its top-K photos from the
  photo files on demand (``Engine`` keeps them in an LRU next to the projection LRU). Costs one
  SA forward per new shortlisted photo (about 230 ms for ViT-B/16 on a 2-core CPU, a few ms on
  a GPU); exact.
- ``fp8`` / ``int8`` (compressed forms, measured, not written by the indexer): one byte per value
  plus a float16 scale per token (e4m3 floats, or symmetric int8), ``T * (C + 2)`` bytes.

``choose_policy`` picks by gallery size: ``fp16`` while all tokens fit in ``TOKEN_BUDGET_BYTES``
(8 GiB, about 27 000 ViT-B/16 photos), ``none`` beyond. The indexer stores the choice as the
number of tokens kept per item (``num_tokens`` = T, or 0 for ``none``) and keeps it for later
runs of the same cache, so a growing gallery is not re-encoded when it crosses the budget.
"""

from __future__ import annotations

import numpy as np
import torch

from zse_gui.errors import ConfigError

__all__ = [
    "TOKEN_BUDGET_BYTES",
    "TOKEN_POLICIES",
    "bytes_per_item",
    "choose_policy",
    "compress",
    "decompress",
    "resolve_policy",
]

TOKEN_POLICIES = ("auto", "fp16", "none")
COMPRESSED = ("fp8", "int8")
TOKEN_BUDGET_BYTES = 8 * 2**30
_FP8_MAX = 448.0  # largest finite float8_e4m3fn


def bytes_per_item(policy: str, num_tokens: int, embed_dim: int) -> int:
    """Bytes of stored tokens per gallery item under ``policy``."""
    if policy == "fp16":
        return 2 * num_tokens * embed_dim
    if policy in COMPRESSED:
        return num_tokens * embed_dim + 2 * num_tokens
    if policy == "none":
        return 0
    raise ConfigError(f"unknown token policy {policy!r}; use one of {', '.join(TOKEN_POLICIES + COMPRESSED)}")


def choose_policy(n_items: int, num_tokens: int, embed_dim: int, budget: int = TOKEN_BUDGET_BYTES) -> str:
    """``fp16`` while the gallery's tokens fit in ``budget`` bytes, else ``none`` (recompute)."""
    return "fp16" if n_items * bytes_per_item("fp16", num_tokens, embed_dim) <= budget else "none"


def resolve_policy(
    policy: str, n_items: int, num_tokens: int, embed_dim: int, existing: str | None = None
) -> str:
    """The policy to index with: a forced one, else the existing cache's, else by gallery size.

    Raises:
        ConfigError: unknown policy.
    """
    if policy not in TOKEN_POLICIES:
        raise ConfigError(f"unknown token policy {policy!r}; use one of {', '.join(TOKEN_POLICIES)}")
    if policy != "auto":
        return policy
    if existing in ("fp16", "none"):
        return existing
    return choose_policy(n_items, num_tokens, embed_dim)


def compress(tokens: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """[N, T, C] float tokens -> (codes [N, T, C] uint8 or int8, scales [N, T] float16).

    ``fp8``: each token divided by ``absmax / 448`` and rounded to float8 e4m3 (stored as its
    bytes); ``int8``: divided by ``absmax / 127`` and rounded to integers.
    """
    x = torch.from_numpy(np.ascontiguousarray(tokens, np.float32))
    absmax = x.abs().amax(-1, keepdim=True).clamp_min(1e-12)  # [N, T, 1]
    if kind == "fp8":
        scale = (absmax / _FP8_MAX).half().float()  # round the scale as it is stored
        codes = (x / scale).clamp(-_FP8_MAX, _FP8_MAX).to(torch.float8_e4m3fn).view(torch.uint8)
    elif kind == "int8":
        scale = (absmax / 127.0).half().float()
        codes = torch.round(x / scale).clamp(-127, 127).to(torch.int8)
    else:
        raise ConfigError(f"unknown compressed token form {kind!r}; use fp8 or int8")
    return codes.numpy(), scale[..., 0].half().numpy()


def decompress(codes: np.ndarray, scales: np.ndarray, kind: str) -> np.ndarray:
    """Inverse of ``compress``: [N, T, C] float32 tokens."""
    c = torch.from_numpy(np.ascontiguousarray(codes))
    if kind == "fp8":
        vals = c.view(torch.float8_e4m3fn).float()
    elif kind == "int8":
        vals = c.float()
    else:
        raise ConfigError(f"unknown compressed token form {kind!r}; use fp8 or int8")
    return (vals * torch.from_numpy(np.asarray(scales, np.float16)).float()[..., None]).numpy()
