"""Integrity checks of weight files: the safetensors layout and a digest of the tensor data.

``load_weights`` checks a safetensors file's header before reading a tensor, refuses tensors
whose bytes differ from the ``tensors_sha256`` that ``save_safetensors`` writes into the header
(so a damaged file is caught even without its ``.json`` sidecar), and refuses NaN or infinite
weights of any format.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from zse_gui.errors import WeightsError

__all__ = ["check_safetensors_header", "tensors_sha256"]


def tensors_sha256(state: Mapping[str, Tensor]) -> str:
    """sha256 over a state dict's names, dtypes, shapes and raw bytes, in sorted key order.

    Stored in the header of the safetensors files we write, so a damaged file is refused even
    without its ``.json`` sidecar.
    """
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
_MAX_HEADER = 100 << 20


def check_safetensors_header(p: Path) -> None:
    """Verify a safetensors file's layout before any tensor is read.

    The header must be UTF-8 JSON of a sane length; every tensor needs a known dtype, a shape
    of non-negative integers and a byte range that matches them; the ranges must tile the data
    section exactly, from its first byte to the end of the file.

    Raises:
        WeightsError: naming the first inconsistency.
    """
    try:
        with open(p, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            size = os.fstat(f.fileno()).st_size
            if not 2 <= n <= min(size - 8, _MAX_HEADER):
                raise WeightsError(
                    p,
                    f"unreadable safetensors file: header length {n} does not fit a {size}-byte file",
                )
            doc = json.loads(f.read(n).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise WeightsError(
            p, f"unreadable safetensors file: bad header ({e})", "the file is corrupt"
        ) from None
    if not isinstance(doc, dict):
        raise WeightsError(
            p, "unreadable safetensors file: the header is not a JSON object", "the file is corrupt"
        )
    spans: list[tuple[int, int, str]] = []
    for name, t in doc.items():
        if name == "__metadata__":
            continue
        try:
            item = _ITEMSIZE[t["dtype"]]
            shape = [int(d) for d in t["shape"]]
            begin, end = (int(v) for v in t["data_offsets"])
        except (KeyError, TypeError, ValueError) as e:
            raise WeightsError(
                p,
                f"unreadable safetensors file: tensor {name!r} has a malformed header entry ({e})",
                "the file is corrupt",
            ) from None
        numel = 1
        for d in shape:
            if d < 0:
                raise WeightsError(
                    p,
                    f"unreadable safetensors file: tensor {name!r} has a negative dimension {shape}",
                    "the file is corrupt",
                )
            numel *= d
        if not 0 <= begin <= end or end - begin != numel * item:
            raise WeightsError(
                p,
                f"unreadable safetensors file: {name!r}: bytes {begin}..{end} do not hold shape {shape}",
                "the file is corrupt",
            )
        spans.append((begin, end, name))
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            raise WeightsError(
                p,
                f"unreadable safetensors file: tensor {name!r} starts at byte {begin}, expected {pos}",
                "the file is corrupt",
            )
        pos = end
    if pos != size - 8 - n:
        raise WeightsError(
            p,
            f"unreadable safetensors file: tensors cover {pos} data bytes, the file has {size - 8 - n}",
            "the file is truncated or corrupt",
        )
