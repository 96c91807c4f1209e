"""Device selection and the precision policy.

Policy: fp16 on a GPU (CUDA or MPS), fp32 on the CPU; bf16 is opt-in (it helps on CPUs with
AVX512-BF16/AMX and on recent GPUs). The relation network always runs in fp32, because ranking
sorts its logits and half precision would create ties (see the reference, section 4.1).
"""

from __future__ import annotations

import logging

import torch

from zse_gui.errors import ConfigError

__all__ = ["PRECISIONS", "resolve_device", "resolve_precision"]

log = logging.getLogger(__name__)

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """Turn a device spec into a usable ``torch.device``.

    Args:
        spec: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``
            or a ``torch.device``.

    Raises:
        ConfigError: unknown spec, or the requested accelerator is not available here.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    s = spec.strip().lower()
    if s == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if s == "cpu":
        return torch.device("cpu")
    if s == "mps":
        if not _mps_available():
            raise ConfigError("device 'mps' is not available on this machine; use 'auto' or 'cpu'")
        return torch.device("mps")
    if s == "cuda" or s.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r}: CUDA is not available on this machine; use 'auto' or 'cpu'")
        try:
            dev = torch.device(s)
        except RuntimeError:
            raise ConfigError(f"device {spec!r} is not a valid CUDA device name (e.g. 'cuda:0')") from None
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) present")
        return dev
    raise ConfigError(f"unknown device {spec!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The compute dtype of the SA and CA stages for ``precision`` on ``device``.

    Args:
        precision: ``"auto"`` (fp16 on GPU, fp32 on CPU), ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        device: the resolved device.

    Raises:
        ConfigError: unknown precision name.
    """
    p = precision.strip().lower()
    if p == "auto":
        return torch.float32 if device.type == "cpu" else torch.float16
    if p not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; use 'auto', 'fp32', 'bf16' or 'fp16'")
    if p == "fp16" and device.type == "cpu":
        log.warning("fp16 on the CPU is slow and inexact in places; 'bf16' or 'fp32' is the better choice")
    return PRECISIONS[p]
