"""Checkpoint IO: the official ``best_checkpoint.pth`` format, our safetensors format, and export.

Safety rules:

* Pickled (torch) checkpoints load with ``weights_only=True`` and only the numpy scalar types the
  release stores beside the weights allow-listed. Arbitrary unpickling needs ``trust=True``.
* Keys pass an explicit, reported filter (``module.`` prefix, the unused CA copy when the model
  has none, externally provided prefixes), then match strictly: a missing, unexpected or
  mis-shaped key is a ``WeightsError`` with a full ``LoadReport``; nothing is silently dropped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import re
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from zse_gui.errors import WeightsError

__all__ = [
    "LoadReport",
    "file_sha256",
    "state_digest",
    "official_to_native",
    "native_to_official",
    "read_checkpoint",
    "load_weights",
    "load_state",
    "save_safetensors",
    "save_official",
]

log = logging.getLogger(__name__)

FORMAT_TAG = "zse_gui"
FORMAT_VERSION = "1"

# (official regex, native template) for the SA encoder; everything else has the same name.
_SA_MAP: list[tuple[str, str]] = [
    (r"sa\.model\.cls", "sa.vit.cls_token"),
    (r"sa\.model\.pos_embedding", "sa.vit.pos_embed"),
    (r"sa\.model\.embedding\.(weight|bias)", r"sa.vit.patch_embed.proj.\1"),
    (r"sa\.model\.scale\.seq\.(\d+)\.weight", r"sa.stem.seq.\1.weight"),
    (r"sa\.model\.transformer\.layers\.(\d+)\.0\.layer_norm_input\.(weight|bias)", r"sa.vit.blocks.\1.norm1.\2"),
    (r"sa\.model\.transformer\.layers\.(\d+)\.0\.attention\.to_qkv\.(weight|bias)", r"sa.vit.blocks.\1.attn.qkv.\2"),
    (r"sa\.model\.transformer\.layers\.(\d+)\.0\.attention\.to_out\.0\.(weight|bias)", r"sa.vit.blocks.\1.attn.proj.\2"),
    (r"sa\.model\.transformer\.layers\.(\d+)\.0\.layer_norm_out\.(weight|bias)", r"sa.vit.blocks.\1.norm2.\2"),
    (r"sa\.model\.transformer\.layers\.(\d+)\.0\.mlp\.net\.0\.(weight|bias)", r"sa.vit.blocks.\1.mlp.fc1.\2"),
    (r"sa\.model\.transformer\.layers\.(\d+)\.0\.mlp\.net\.3\.(weight|bias)", r"sa.vit.blocks.\1.mlp.fc2.\2"),
    (r"sa\.model\.transformer\.encoder_norm\.(weight|bias)", r"sa.vit.norm.\1"),
]
_NATIVE_MAP: list[tuple[str, str]] = [
    ("sa.vit.cls_token", "sa.model.cls"),
    ("sa.vit.pos_embed", "sa.model.pos_embedding"),
    (r"sa\.vit\.patch_embed\.proj\.(weight|bias)", r"sa.model.embedding.\1"),
    (r"sa\.stem\.seq\.(\d+)\.weight", r"sa.model.scale.seq.\1.weight"),
    (r"sa\.vit\.blocks\.(\d+)\.norm1\.(weight|bias)", r"sa.model.transformer.layers.\1.0.layer_norm_input.\2"),
    (r"sa\.vit\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)", r"sa.model.transformer.layers.\1.0.attention.to_qkv.\2"),
    (r"sa\.vit\.blocks\.(\d+)\.attn\.proj\.(weight|bias)", r"sa.model.transformer.layers.\1.0.attention.to_out.0.\2"),
    (r"sa\.vit\.blocks\.(\d+)\.norm2\.(weight|bias)", r"sa.model.transformer.layers.\1.0.layer_norm_out.\2"),
    (r"sa\.vit\.blocks\.(\d+)\.mlp\.fc1\.(weight|bias)", r"sa.model.transformer.layers.\1.0.mlp.net.0.\2"),
    (r"sa\.vit\.blocks\.(\d+)\.mlp\.fc2\.(weight|bias)", r"sa.model.transformer.layers.\1.0.mlp.net.3.\2"),
    (r"sa\.vit\.norm\.(weight|bias)", r"sa.model.transformer.encoder_norm.\1"),
]


def _rename(key: str, table: list[tuple[str, str]], prefix: str) -> str:
    for pattern, template in table:
        m = re.fullmatch(pattern, key)
        if m:
            return m.expand(template)
    if key.startswith(prefix):
        raise KeyError(key)
    return key


def official_to_native(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename official ``sa.model.*`` keys to ours; CA, conv2d and RN keys are unchanged.

    An ``sa.model.*`` key with no mapping is kept under its official name, so strict matching
    reports it as unexpected instead of losing it.
    """
    out: dict[str, Tensor] = {}
    for k, v in state.items():
        try:
            out[_rename(k, _SA_MAP, "sa.model.")] = v
        except KeyError:
            out[k] = v
    return out


def native_to_official(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename our keys to the official layout (inverse of ``official_to_native``).

    Raises:
        WeightsError: a key of the SA encoder has no official name (e.g. another backbone).
    """
    out: dict[str, Tensor] = {}
    for k, v in state.items():
        try:
            out[_rename(k, _NATIVE_MAP, "sa.")] = v
        except KeyError:
            raise WeightsError(
                "<model>", f"key {k!r} has no name in the official layout", "only zse_vitb16-style models export"
            ) from None
    return out


@dataclass
class LoadReport:
    """What a load did, key by key. Nothing is dropped without being listed here.

    Attributes:
        path: the file read.
        source_format: ``"official"`` (torch pickle, release layout) or ``"zse_gui"`` (safetensors).
        sha256: sha256 of the file.
        loaded: number of tensors copied into the model.
        filtered: keys removed by the explicit filter, with the reason, e.g. ``("module.", "prefix")``.
        missing: model keys the file lacks (after the filter).
        unexpected: file keys the model lacks (after the filter).
        shape_mismatch: ``(key, file shape, model shape)`` triples.
        external: model keys deliberately left to another source (e.g. a frozen backbone).
        metadata: non-tensor entries of the file (epoch, metrics, config name, ...).
    """

    path: str
    source_format: str
    sha256: str
    loaded: int = 0
    filtered: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatch: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.shape_mismatch)

    def summary(self) -> str:
        """Human-readable multi-line report."""
        lines = [
            f"file: {self.path}",
            f"format: {self.source_format}, sha256 {self.sha256[:16]}...",
            f"loaded tensors: {self.loaded}",
        ]
        if self.filtered:
            reasons: dict[str, int] = {}
            for _, why in self.filtered:
                reasons[why] = reasons.get(why, 0) + 1
            lines.append("filtered: " + ", ".join(f"{n} x {why}" for why, n in reasons.items()))
        if self.external:
            lines.append(f"provided externally: {len(self.external)} tensors")
        for name, items in (("missing", self.missing), ("unexpected", self.unexpected)):
            if items:
                lines.append(f"{name} ({len(items)}): " + ", ".join(items[:8]) + (" ..." if len(items) > 8 else ""))
        for k, fs, ms in self.shape_mismatch[:8]:
            lines.append(f"shape mismatch: {k} file {list(fs)} model {list(ms)}")
        if self.metadata:
            lines.append("metadata: " + ", ".join(f"{k}={v}" for k, v in self.metadata.items() if k != "meta"))
        return "\n".join(lines)


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """sha256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def state_digest(model: nn.Module) -> str:
    """sha256 over a model's state dict (names, dtypes, shapes and bytes), for cache keys."""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        t = v.detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _numpy_safe_globals() -> list[Any]:
    """The numpy objects a pickled ``numpy.float64`` needs (what the release stores metrics as)."""
    core = getattr(np, "_core", None) or np.core
    items: list[Any] = [core.multiarray.scalar, np.dtype]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        items += [getattr(dtypes, n) for n in ("Float64DType", "Float32DType", "Int64DType") if hasattr(dtypes, n)]
    return items


def _sniff(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:4] == b"PK\x03\x04":
        return "torch-zip"
    if head[:1] == b"\x80":
        return "torch-legacy"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    return "unknown"


def _to_python(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, Tensor) and v.numel() == 1:
        return v.item()
    return v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)


def read_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu", trust: bool = False
) -> tuple[dict[str, Tensor], dict[str, Any], str]:
    """Read a weight file into (state dict with native key names, metadata, source format).

    Accepts the official release layout (dict with ``model``; numpy scalars beside it; optional
    ``module.`` prefix; CUDA tensors), a bare state dict in either key layout, and our
    safetensors files. Key renaming only; filtering and matching happen in ``load_state``.

    Raises:
        WeightsError: missing, empty, truncated, non-checkpoint, or unsafe-to-unpickle file.
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsError(p, "no such file", "check the path")
    if p.stat().st_size == 0:
        raise WeightsError(p, "the file is empty")
    kind = _sniff(p)
    meta: dict[str, Any] = {}
    if kind == "safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file, safe_open

        try:
            with safe_open(str(p), framework="pt") as f:
                meta = dict(f.metadata() or {})
            state = load_file(str(p), device=str(map_location))
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise WeightsError(p, f"unreadable safetensors file: {e}", "the file may be truncated") from e
        if meta.get("format") != FORMAT_TAG:
            fmt = "official" if any(k.startswith("sa.model.") for k in state) else "safetensors"
        else:
            fmt = FORMAT_TAG
        if "meta" in meta:
            try:
                meta["meta"] = json.loads(meta["meta"])
            except json.JSONDecodeError as e:
                raise WeightsError(p, f"corrupt metadata: {e}") from e
        return official_to_native(state), meta, fmt
    if kind == "unknown":
        raise WeightsError(p, "not a checkpoint (neither a torch file nor safetensors)", "pick a .pth or .safetensors file")
    if kind == "torch-zip":
        try:
            with zipfile.ZipFile(p) as z:
                bad = z.testzip()
        except zipfile.BadZipFile as e:
            raise WeightsError(p, "truncated or corrupt torch file", "download it again") from e
        if bad is not None:
            raise WeightsError(p, f"corrupt member {bad!r} in torch file", "download it again")
    try:
        if trust:
            obj = torch.load(p, map_location=map_location, weights_only=False)
        else:
            with torch.serialization.safe_globals(_numpy_safe_globals()):
                obj = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise WeightsError(
            p,
            f"refused to unpickle: {str(e).splitlines()[0]}",
            "the file holds objects beyond tensors and numbers; load it with trust=True only if you trust its source",
        ) from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise WeightsError(p, f"truncated or corrupt torch file: {str(e).splitlines()[0]}", "download it again") from e
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        state_any = obj["model"]
        meta = {k: _to_python(v) for k, v in obj.items() if k != "model"}
    elif isinstance(obj, Mapping) and obj and all(isinstance(v, Tensor) for v in obj.values()):
        state_any = obj
    else:
        raise WeightsError(p, "not a model checkpoint: expected a state dict or a dict with key 'model'")
    state = {str(k): v for k, v in state_any.items()}
    if not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsError(p, "not a model checkpoint: 'model' holds non-tensor values")
    return official_to_native(state), meta, "official"


def load_state(
    model: nn.Module,
    state: Mapping[str, Tensor],
    report: LoadReport,
    external_prefixes: Iterable[str] = (),
) -> LoadReport:
    """Filter explicitly, match strictly, then copy ``state`` into ``model``.

    The filter only: strips a leading ``module.``; drops ``ca.encoder.layers.*`` (the release's
    unused CA copy) when the model was built without it; leaves keys under
    ``external_prefixes`` to another source. Every filtered key goes into ``report``.

    Raises:
        WeightsError: any missing, unexpected or mis-shaped key (the report is attached).
    """
    own = model.state_dict()
    external = tuple(external_prefixes)
    filtered: dict[str, Tensor] = {}
    for k, v in state.items():
        name = k
        if name.startswith("module."):
            name = name[len("module."):]
            report.filtered.append((k, "module. prefix"))
        if name.startswith("ca.encoder.layers.") and not any(o.startswith("ca.encoder.layers.") for o in own):
            report.filtered.append((k, "unused CA copy"))
            continue
        filtered[name] = v
    report.external = sorted(k for k in own if external and k.startswith(external) and k not in filtered)
    report.missing = sorted(k for k in own if k not in filtered and k not in report.external)
    report.unexpected = sorted(k for k in filtered if k not in own)
    report.shape_mismatch = [
        (k, tuple(v.shape), tuple(own[k].shape)) for k, v in filtered.items() if k in own and v.shape != own[k].shape
    ]
    if not report.ok:
        err = WeightsError(
            report.path,
            "does not fit this model architecture:\n" + report.summary(),
            "is it a checkpoint of another model? pick the matching --model",
        )
        err.report = report  # type: ignore[attr-defined]
        raise err
    with torch.no_grad():
        for k, v in filtered.items():
            own[k].copy_(v.to(own[k].dtype))
    report.loaded = len(filtered)
    return report


def load_weights(
    model: nn.Module,
    path: str | os.PathLike[str],
    map_location: str | torch.device = "cpu",
    trust: bool = False,
    external_prefixes: Iterable[str] = (),
    expected_config: str | None = None,
) -> LoadReport:
    """Read a weight file (any supported format) and load it strictly into ``model``.

    Args:
        model: the model to fill in place.
        path: ``best_checkpoint.pth`` (official), a bare state dict, or our ``.safetensors``.
        map_location: device the tensors are read onto.
        trust: allow arbitrary unpickling (only for files from a trusted source).
        external_prefixes: model keys that may be absent because another source provides them.
        expected_config: if the file names its config (our format), it must be this one.

    Returns:
        The ``LoadReport``.
    """
    state, meta, fmt = read_checkpoint(path, map_location, trust)
    report = LoadReport(path=str(path), source_format=fmt, sha256=file_sha256(path), metadata=meta)
    if expected_config and meta.get("config") and meta["config"] != expected_config:
        raise WeightsError(
            path, f"was saved for model {meta['config']!r}, not {expected_config!r}", f"use --model {meta['config']}"
        )
    sidecar = Path(str(path) + ".json")
    if fmt == FORMAT_TAG and sidecar.is_file():
        try:
            side = json.loads(sidecar.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise WeightsError(sidecar, f"unreadable sidecar: {e}") from e
        if side.get("sha256") and side["sha256"] != report.sha256:
            raise WeightsError(path, "sha256 does not match its .json sidecar", "the file was changed or is corrupt")
    load_state(model, state, report, external_prefixes)
    log.info("loaded %s", report.summary().replace("\n", "; "))
    return report


def _atomic_target(path: Path) -> tuple[int, Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    return fd, Path(tmp)


def save_safetensors(
    model: nn.Module,
    path: str | os.PathLike[str],
    config_name: str,
    meta: Mapping[str, Any] | None = None,
    exclude_prefixes: Iterable[str] = (),
) -> str:
    """Write our format: safetensors (native keys) plus a ``<file>.json`` sidecar; atomic.

    Args:
        model: the model to save.
        path: target ``.safetensors`` path.
        config_name: registry name of the model config (checked when loading).
        meta: JSON-serialisable metadata (training data, split, metrics, seed, ...).
        exclude_prefixes: keys to leave out (e.g. a frozen backbone shipped by a package).

    Returns:
        sha256 of the written file (also stored in the sidecar).
    """
    from safetensors.torch import save_file

    p = Path(path)
    excl = tuple(exclude_prefixes)
    state = {
        k: v.detach().cpu().contiguous()
        for k, v in model.state_dict().items()
        if not (excl and k.startswith(excl))
    }
    info = dict(meta or {})
    info["excluded_prefixes"] = list(excl)
    header = {"format": FORMAT_TAG, "version": FORMAT_VERSION, "config": config_name, "meta": json.dumps(info)}
    fd, tmp = _atomic_target(p)
    os.close(fd)
    try:
        save_file(state, str(tmp), metadata=header)
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    digest = file_sha256(p)
    side = {"config": config_name, "sha256": digest, "tensors": len(state), **info}
    fd, tmp = _atomic_target(Path(str(p) + ".json"))
    with os.fdopen(fd, "w") as f:
        json.dump(side, f, indent=2, sort_keys=True)
    os.replace(tmp, str(p) + ".json")
    return digest


def save_official(
    model: nn.Module,
    path: str | os.PathLike[str],
    epoch: int = 0,
    map_all: float = float("nan"),
    precision_100: float = float("nan"),
) -> str:
    """Write the release's ``best_checkpoint.pth`` layout (loads into the official code); atomic.

    Metrics are stored as ``numpy.float64`` as the release does. Returns the file's sha256.
    """
    p = Path(path)
    obj = {
        "model": native_to_official({k: v.detach().cpu() for k, v in model.state_dict().items()}),
        "epoch": int(epoch),
        "map_all": np.float64(map_all),
        "precision_100": np.float64(precision_100),
    }
    fd, tmp = _atomic_target(p)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return file_sha256(p)
