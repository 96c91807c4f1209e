"""How a gallery keeps the SA patch tokens that stage 2 (the RN re-rank) needs.

Policies (measured in ``benchmarks/tokenstore.py``, results in ``docs/benchmarks.md``):

- ``fp16``: every token of every photo in float16, ``T * C * 2`` bytes per item (303 KB for
  ViT-B/16: 303 GB per million photos). Exact up to fp16 rounding.
- ``int8`` / ``fp8``: one byte per value plus a float16 scale per token (symmetric int8, or
  float8 e4m3 after dividing by the scale), ``T * (C + 2)`` bytes per item (152 KB for
  ViT-B/16). Dequantised on read, for the rows the re-rank asks for only.
- ``none``: no tokens on disk; the re-rank recomputes the tokens of its top-K photos from the
  photo files on demand (``Engine`` keeps them in an LRU next to the projection LRU). Costs one
  SA forward per new shortlisted photo (about 230 ms for ViT-B/16 on a 2-core CPU, a few ms on
  a GPU); exact.

``choose_policy`` picks by gallery size: ``fp16`` while all tokens fit in ``TOKEN_BUDGET_BYTES``
(8 GiB: about 28 000 ViT-B/16 photos), else ``int8`` while the int8 tokens fit in the same budget
(about 56 000 photos), else ``none``. The indexer keeps the choice for later runs of the same
cache, so a growing gallery is not re-encoded when it crosses a threshold.

``TokenLayout`` is the one description of how a policy lays tokens out in the cache, shared by
the indexer, its progress journal, the Ray shards and the cache reader: float16 rows ``[T, C]``
(``T`` = 0 for ``none``), or for ``int8``/``fp8`` one record per photo holding its codes
``[T, C]`` and, beside them, its scales ``[T]``, so a photo's bytes stay together in one
memory-mapped file and the cache's per-block checksums cover codes and scales alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from zse_gui.errors import ConfigError

__all__ = [
    "COMPRESSED",
    "QuantizedTokens",
    "STORED_POLICIES",
    "TOKEN_BUDGET_BYTES",
    "TOKEN_POLICIES",
    "TokenLayout",
    "bytes_per_item",
    "choose_policy",
    "compress",
    "decompress",
    "fp8_available",
    "policy_of_manifest",
    "resolve_policy",
]

STORED_POLICIES = ("fp16", "int8", "fp8", "none")
TOKEN_POLICIES = ("auto", *STORED_POLICIES)
COMPRESSED = ("fp8", "int8")
TOKEN_BUDGET_BYTES = 8 * 2**30
AUTO_ORDER = ("fp16", "int8")  # tried in this order by ``choose_policy``; ``none`` beyond
_FP8_MAX = 448.0  # largest finite float8_e4m3fn
_F16_TINY, _F16_MAX = 2.0**-24, 65504.0  # smallest subnormal and largest finite float16


def fp8_available() -> bool:
    """True when the installed torch has the float8 e4m3 dtype that the ``fp8`` policy needs."""
    return hasattr(torch, "float8_e4m3fn")


def _require_fp8() -> None:
    if not fp8_available():
        raise ConfigError(
            f"the fp8 token policy needs torch.float8_e4m3fn, which torch {torch.__version__} lacks "
            "(it came with torch 2.1); use --tokens int8 (same size, smaller logit error) or upgrade torch"
        )


def bytes_per_item(policy: str, num_tokens: int, embed_dim: int) -> int:
    """Bytes of stored tokens per gallery item under ``policy``."""
    if policy == "fp16":
        return 2 * num_tokens * embed_dim
    if policy in COMPRESSED:
        return num_tokens * embed_dim + 2 * num_tokens
    if policy == "none":
        return 0
    raise ConfigError(f"unknown token policy {policy!r}; use one of {', '.join(STORED_POLICIES)}")


def choose_policy(n_items: int, num_tokens: int, embed_dim: int, budget: int = TOKEN_BUDGET_BYTES) -> str:
    """The first of ``fp16``, ``int8`` whose tokens for ``n_items`` fit in ``budget`` bytes, else ``none``.

    ``int8`` rather than ``fp8`` as the compressed step: same bytes, a third of the logit error in
    the measurements, and no need for float8 support in torch.
    """
    for policy in AUTO_ORDER:
        if n_items * bytes_per_item(policy, num_tokens, embed_dim) <= budget:
            return policy
    return "none"


def resolve_policy(
    policy: str, n_items: int, num_tokens: int, embed_dim: int, existing: str | None = None
) -> str:
    """The policy to index with: a forced one, else the existing cache's, else by gallery size.

    Raises:
        ConfigError: unknown policy, or ``fp8`` (forced or kept) with a torch that lacks float8.
    """
    if policy not in TOKEN_POLICIES:
        raise ConfigError(f"unknown token policy {policy!r}; use one of {', '.join(TOKEN_POLICIES)}")
    chosen = policy
    if policy == "auto":
        chosen = existing if existing in STORED_POLICIES else choose_policy(n_items, num_tokens, embed_dim)
    if chosen == "fp8":
        _require_fp8()
    return str(chosen)


def policy_of_manifest(doc: dict[str, Any]) -> str:
    """The token policy a cache manifest (or a cache expectation) describes.

    Manifests written before compressed stores existed have no ``token_store`` field: their
    policy follows from the tokens kept per item (``fp16``, or ``none`` for 0).

    Raises:
        ValueError: an unknown policy, or fields that do not fit one (the cache is then rebuilt).
    """
    kept = int(doc["num_tokens"])
    policy = doc.get("token_store", "fp16" if kept else "none")
    if policy not in STORED_POLICIES or (policy == "none") != (kept == 0):
        raise ValueError(f"token store {policy!r} with {kept} tokens per item")
    return str(policy)


@dataclass(frozen=True)
class TokenLayout:
    """How one token policy lays a photo's tokens out in the cache's token array.

    Attributes:
        policy: ``fp16``, ``int8``, ``fp8`` or ``none``.
        num_tokens: tokens kept per photo (the model's T; 0 for ``none``).
        embed_dim: C.
    """

    policy: str
    num_tokens: int
    embed_dim: int

    def __post_init__(self) -> None:
        if self.policy not in STORED_POLICIES:
            known = ", ".join(STORED_POLICIES)
            raise ConfigError(f"unknown token policy {self.policy!r}; use one of {known}")
        if (self.policy == "none") != (self.num_tokens == 0):
            raise ConfigError(f"token policy {self.policy!r} cannot keep {self.num_tokens} tokens per photo")

    @classmethod
    def of(cls, doc: dict[str, Any]) -> TokenLayout:
        """The layout of a cache manifest or expectation (``num_tokens``, ``embed_dim``, ``token_store``).

        Raises:
            ValueError: the fields do not describe a layout.
        """
        try:
            return cls(policy_of_manifest(doc), int(doc["num_tokens"]), int(doc["embed_dim"]))
        except ConfigError as e:
            raise ValueError(str(e)) from None

    @property
    def compressed(self) -> bool:
        return self.policy in COMPRESSED

    @property
    def dtype(self) -> np.dtype[Any]:
        """Element dtype of the stored array: float16, or one record (codes, scales) per photo."""
        if not self.compressed:
            return np.dtype(np.float16)
        code = "i1" if self.policy == "int8" else "u1"  # fp8 codes are the float8 bytes
        t, c = self.num_tokens, self.embed_dim
        return np.dtype([("codes", code, (t, c)), ("scales", "<f2", (t,))])

    @property
    def row_shape(self) -> tuple[int, ...]:
        """Shape of one photo's entry after the row axis: ``(T, C)``, or ``()`` for a record."""
        return () if self.compressed else (self.num_tokens, self.embed_dim)

    @property
    def row_bytes(self) -> int:
        """Bytes per photo on disk (equals ``bytes_per_item``)."""
        return self.dtype.itemsize * math.prod(self.row_shape)

    def empty(self, n: int) -> np.ndarray:
        """Zero-filled stored rows for ``n`` photos."""
        return np.zeros((n, *self.row_shape), self.dtype)

    def encode(self, tokens: np.ndarray) -> np.ndarray:
        """[n, T', C] float tokens (T' >= the tokens kept) -> stored rows of this layout."""
        x = np.asarray(tokens)[:, : self.num_tokens]
        if not self.compressed:
            return np.ascontiguousarray(x, np.float16)
        codes, scales = compress(x, self.policy)
        out = np.empty(len(x), self.dtype)
        out["codes"] = codes.view(self.dtype["codes"].base)
        out["scales"] = scales
        return out

    def decode(self, rows: np.ndarray) -> np.ndarray:
        """Stored rows (any leading shape) -> float tokens ``[..., T, C]`` (float16 kept as is)."""
        if not self.compressed:
            return np.asarray(rows)
        return decompress(np.asarray(rows["codes"]), np.asarray(rows["scales"]), self.policy)

    def view(self, stored: np.ndarray) -> np.ndarray | QuantizedTokens:
        """What ``GalleryIndex.tokens`` holds: the float16 array itself, or a dequantising view."""
        return QuantizedTokens(stored, self) if self.compressed else stored


class QuantizedTokens:
    """[N, T, C] tokens kept as 8-bit codes and float16 scales, read as float32.

    Indexing along the first axis (an int, a slice or an index array) reads and dequantises
    only the rows asked for, so a re-rank of K photos touches K records of the memory map.

    Attributes:
        records: [N] stored records (a read-only memmap of the cache file).
        layout: the ``int8`` or ``fp8`` layout they follow.
    """

    ndim = 3
    dtype = np.dtype(np.float32)

    def __init__(self, records: np.ndarray, layout: TokenLayout) -> None:
        self.records = records
        self.layout = layout

    @property
    def policy(self) -> str:
        return self.layout.policy

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.records), self.layout.num_tokens, self.layout.embed_dim)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, rows: Any) -> np.ndarray:
        if isinstance(rows, tuple):
            raise TypeError("QuantizedTokens are indexed by rows only: tokens[rows][..., t, c]")
        return self.layout.decode(self.records[rows])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.layout.decode(self.records[:])
        return out if dtype is None else out.astype(dtype)


def compress(tokens: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """[N, T, C] float tokens -> (codes [N, T, C] uint8 or int8, scales [N, T] float16).

    ``fp8``: each token divided by ``absmax / 448`` and rounded to float8 e4m3 (stored as its
    bytes); ``int8``: divided by ``absmax / 127`` and rounded to integers.
    """
    if kind == "fp8":
        _require_fp8()
    x = torch.from_numpy(np.ascontiguousarray(tokens, np.float32))
    absmax = x.abs().amax(-1, keepdim=True)  # [N, T, 1]
    # The scale is rounded as it is stored (float16), and kept inside float16's range: an
    # all-zero token gets the smallest step instead of a division by zero.
    if kind == "fp8":
        scale = (absmax / _FP8_MAX).clamp(_F16_TINY, _F16_MAX).half().float()
        codes = (x / scale).clamp(-_FP8_MAX, _FP8_MAX).to(torch.float8_e4m3fn).view(torch.uint8)
    elif kind == "int8":
        scale = (absmax / 127.0).clamp(_F16_TINY, _F16_MAX).half().float()
        codes = torch.round(x / scale).clamp(-127, 127).to(torch.int8)
    else:
        raise ConfigError(f"unknown compressed token form {kind!r}; use fp8 or int8")
    return codes.numpy(), scale[..., 0].half().numpy()


def decompress(codes: np.ndarray, scales: np.ndarray, kind: str) -> np.ndarray:
    """Inverse of ``compress``: [N, T, C] float32 tokens."""
    # torch wants writable memory; rows of a read-only memmap are copied (they are few)
    c = torch.from_numpy(np.require(codes, requirements=["C", "W"]))
    if kind == "fp8":
        _require_fp8()
        vals = c.view(torch.float8_e4m3fn).float()
    elif kind == "int8":
        vals = c.float()
    else:
        raise ConfigError(f"unknown compressed token form {kind!r}; use fp8 or int8")
    scale = torch.from_numpy(np.require(scales, np.float16, ["C", "W"])).float()
    return (vals * scale[..., None]).numpy()
