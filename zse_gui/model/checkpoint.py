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
from zse_gui.model.integrity import check_safetensors_header, tensors_sha256
from zse_gui.model.keymap import native_to_official, official_to_native

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
    "export_state",
    "check_safetensors_header",
    "tensors_sha256",
    "save_official",
]

log = logging.getLogger(__name__)

FORMAT_TAG = "zse_gui"
FORMAT_VERSION = "1"


@dataclass
class LoadReport:
    """What a load did, key by key. Nothing is dropped without being listed here.

    Key names are in our layout (after renaming official ``sa.model.*`` keys), with the
    file's ``module.`` prefix where it had one.

    Attributes:
        path: the file read.
        source_format: ``"official"`` (torch pickle, release layout) or ``"zse_gui"`` (safetensors).
        sha256: sha256 of the file.
        loaded: number of tensors copied into the model.
        filtered: keys removed by the explicit filter, with the reason, e.g. ``("module.", "prefix")``.
        missing: model keys the file lacks (after the filter).
        unexpected: file keys the model lacks (after the filter).
        shape_mismatch: ``(key, file shape, model shape)`` triples.
        converted: ``(key, file dtype, model dtype)`` of tensors cast on copy (e.g. an fp16 file
            into an fp32 model); the values are loaded, but the precision changed.
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
    converted: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no key is missing, unexpected or mis-shaped."""
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
                more = " ..." if len(items) > 8 else ""
                lines.append(f"{name} ({len(items)}): " + ", ".join(items[:8]) + more)
        for k, fs, ms in self.shape_mismatch[:8]:
            lines.append(f"shape mismatch: {k} file {list(fs)} model {list(ms)}")
        if len(self.shape_mismatch) > 8:
            lines.append(f"... {len(self.shape_mismatch) - 8} more shape mismatches")
        if self.converted:
            k, fd, md = self.converted[0]
            lines.append(f"dtype cast on load: {len(self.converted)} tensors (e.g. {k}: {fd} -> {md})")
        if self.metadata:
            items_txt = ", ".join(f"{k}={v}" for k, v in self.metadata.items() if k != "meta")
            lines.append("metadata: " + items_txt)
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
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _numpy_safe_globals() -> list[Any]:
    """The numpy objects a pickled ``numpy.float64`` needs (what the release stores metrics as).

    Only data constructors are allowed: the scalar rebuild function and the dtype types. The
    scalar function is listed under both of its pickled names: numpy >= 2 writes
    ``numpy._core.multiarray.scalar``, numpy 1.x (which saved the 2023 release) wrote
    ``numpy.core.multiarray.scalar``. torch matches allowed globals by that dotted name.
    """
    core = getattr(np, "_core", None)
    if core is None:  # numpy 1.x: only the old module name exists
        import numpy.core.multiarray as multiarray
    else:
        multiarray = core.multiarray
    scalar = multiarray.scalar
    items: list[Any] = [
        np.dtype,
        (scalar, "numpy.core.multiarray.scalar"),
        (scalar, "numpy._core.multiarray.scalar"),
    ]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        names = ("Float64DType", "Float32DType", "Float16DType", "Int64DType", "Int32DType", "BoolDType")
        items += [getattr(dtypes, n) for n in names if hasattr(dtypes, n)]
    return items


# A pre-1.6 (non-zip) torch file opens with its magic number pickled at protocol 2.
_LEGACY_TORCH_HEAD = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def _sniff(path: Path) -> str:
    """Classify a file by its first bytes: torch-zip, torch-legacy, pickle, safetensors, unknown."""
    with open(path, "rb") as f:
        head = f.read(16)
        size = os.fstat(f.fileno()).st_size
    if head[:4] == b"PK\x03\x04":
        return "torch-zip"
    if head.startswith(_LEGACY_TORCH_HEAD):
        return "torch-legacy"
    # safetensors: an 8-byte little-endian header length, then the JSON header. Checked before the
    # pickle test, because a header length whose low byte is 0x80 also starts with a pickle's PROTO.
    if len(head) >= 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") <= size - 8:
        return "safetensors"
    if head[:1] == b"\x80":
        return "pickle"  # a pickle stream that torch.save did not write
    return "unknown"


def _to_python(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, Tensor) and v.numel() == 1:
        return v.item()
    return v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)


_TORCH_PREAMBLE = ("Weights only load failed", "Please file an issue", "Check the documentation")


def _first_reason(err: BaseException) -> str:
    """The informative line of a torch load error (torch wraps it in generic advice)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    for ln in lines:
        if "WeightsUnpickler error:" in ln and ln.split("WeightsUnpickler error:", 1)[1].strip():
            return ln.split("WeightsUnpickler error:", 1)[1].strip()
    useful = [ln for ln in lines if not ln.startswith(_TORCH_PREAMBLE)]
    return useful[0] if useful else (lines[0] if lines else type(err).__name__)


def _read_safetensors(
    p: Path, map_location: str | torch.device
) -> tuple[dict[str, Tensor], dict[str, Any], str]:
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    check_safetensors_header(p)
    try:
        with safe_open(str(p), framework="pt") as f:
            meta: dict[str, Any] = dict(f.metadata() or {})
        state = load_file(str(p), device=str(map_location))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise WeightsError(p, f"unreadable safetensors file: {e}", "the file may be truncated") from e
    want = meta.get("tensors_sha256")
    if want is not None and tensors_sha256(state) != want:
        raise WeightsError(
            p,
            "the tensor data do not match the checksum stored in the file's header",
            "the file is corrupt (a changed byte); download or copy it again",
        )
    if meta.get("format") == FORMAT_TAG:
        fmt = FORMAT_TAG
    else:
        fmt = "official" if any(k.startswith("sa.model.") for k in state) else "safetensors"
    if "meta" in meta:
        try:
            meta["meta"] = json.loads(meta["meta"])
        except json.JSONDecodeError as e:
            raise WeightsError(p, f"corrupt metadata: {e}") from e
    return official_to_native(state), meta, fmt


def _check_torch_zip(p: Path) -> None:
    """Reject a truncated zip, a zip that is no torch file, or a member with a bad CRC."""
    try:
        with zipfile.ZipFile(p) as z:
            names = z.namelist()
            if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
                raise WeightsError(p, "a zip archive, but not a torch checkpoint (no data.pkl inside)")
            bad = z.testzip()  # reads every member and checks its CRC
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, ValueError) as e:
        raise WeightsError(p, f"truncated or corrupt torch file: {e}", "download it again") from e
    if bad is not None:
        raise WeightsError(p, f"corrupt member {bad!r} in torch file", "download it again")


def _torch_load(p: Path, map_location: str | torch.device, trust: bool) -> Any:
    """``torch.load`` with the safety rules; every failure becomes a ``WeightsError``."""
    try:
        if trust:
            log.warning("unpickling %s with trust=True: arbitrary code in it would run", p)
            return torch.load(p, map_location=map_location, weights_only=False)
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        reason = _first_reason(e)
        if "global" in reason.lower():
            # The restricted unpickler met a class or function it will not import or call.
            raise WeightsError(
                p,
                f"refused to unpickle: {reason}",
                "the file holds objects beyond tensors and numbers; "
                "pass trust=True only if you trust its source",
            ) from e
        raise WeightsError(
            p,
            f"not a readable torch checkpoint: {reason}",
            "the file is corrupt, or holds pickled data that cannot be checked safely",
        ) from e
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as e:
        raise WeightsError(p, f"cannot read torch file: {_first_reason(e)}", "download it again") from e


def read_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu", trust: bool = False
) -> tuple[dict[str, Tensor], dict[str, Any], str]:
    """Read a weight file into (state dict with native key names, metadata, source format).

    Accepts the official release layout (dict with ``model``; numpy scalars beside it; optional
    ``module.`` prefix; tensors saved on CUDA, remapped by ``map_location``), a bare state dict
    in either key layout, and our safetensors files. Key renaming only; filtering and matching
    happen in ``load_state``.

    Args:
        path: the weight file.
        map_location: device the tensors are read onto (``"cpu"`` works for CUDA-saved files).
        trust: allow arbitrary unpickling; never needed for the official checkpoint.

    Returns:
        ``(state, metadata, format)``; format is ``"official"``, ``"zse_gui"`` or ``"safetensors"``.

    Raises:
        WeightsError: missing, empty, truncated, non-checkpoint, or unsafe-to-unpickle file.
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsError(p, "no such file", "check the path")
    if p.stat().st_size == 0:
        raise WeightsError(p, "the file is empty")
    kind = _sniff(p)
    if kind == "safetensors":
        return _read_safetensors(p, map_location)
    if kind == "unknown":
        raise WeightsError(
            p, "not a checkpoint (neither a torch file nor safetensors)", "pick a .pth or .safetensors file"
        )
    if kind == "pickle":
        # Not unpickled at all: a raw pickle can run code and torch.save never writes one.
        raise WeightsError(
            p,
            "a raw pickle stream, not a torch checkpoint; refused without unpickling",
            "save weights with torch.save or as .safetensors",
        )
    if kind == "torch-zip":
        _check_torch_zip(p)
    obj = _torch_load(p, map_location, trust)
    meta: dict[str, Any] = {}
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        state_any = obj["model"]
        meta = {str(k): _to_python(v) for k, v in obj.items() if k != "model"}
    elif isinstance(obj, Mapping) and obj and all(isinstance(v, Tensor) for v in obj.values()):
        state_any = obj
    else:
        raise WeightsError(p, "not a model checkpoint: expected a state dict or a dict with key 'model'")
    state = {str(k): v for k, v in state_any.items()}
    bad = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if bad:
        raise WeightsError(p, f"not a model checkpoint: non-tensor values under 'model' (e.g. {bad[0]!r})")
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
        WeightsError: any missing, unexpected or mis-shaped key (the report is attached as
            ``err.report``); the model is left untouched then.
    """
    own = model.state_dict()
    has_unused_copy = any(o.startswith("ca.encoder.layers.") for o in own)
    external = tuple(external_prefixes)
    filtered: dict[str, Tensor] = {}
    for k, v in state.items():
        name = k
        if name.startswith("module."):
            name = name[len("module.") :]
            report.filtered.append((k, "module. prefix"))
        if name.startswith("ca.encoder.layers.") and not has_unused_copy:
            report.filtered.append((k, "unused CA copy"))
            continue
        if name in filtered:
            raise WeightsError(report.path, f"key {name!r} appears twice (with and without 'module.')")
        filtered[name] = v
    report.external = sorted(k for k in own if external and k.startswith(external) and k not in filtered)
    report.missing = sorted(k for k in own if k not in filtered and k not in report.external)
    report.unexpected = sorted(k for k in filtered if k not in own)
    report.shape_mismatch = [
        (k, tuple(v.shape), tuple(own[k].shape))
        for k, v in filtered.items()
        if k in own and v.shape != own[k].shape
    ]
    if not report.ok:
        err = WeightsError(
            report.path,
            "does not fit this model architecture:\n" + report.summary(),
            "is it a checkpoint of another model? pick the matching --model",
        )
        err.report = report  # type: ignore[attr-defined]
        raise err
    for k, v in filtered.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            bad = int((~torch.isfinite(v)).sum())
            raise WeightsError(
                report.path,
                f"tensor {k!r} holds {bad} NaN or infinite value(s); refused",
                "the file is corrupt, or comes from a training run that diverged",
            )
    report.converted = [
        (k, str(v.dtype), str(own[k].dtype)) for k, v in filtered.items() if v.dtype != own[k].dtype
    ]
    with torch.no_grad():
        for k, v in filtered.items():
            own[k].copy_(v)  # casts dtype and moves device; recorded in report.converted
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
        map_location: device the tensors are read onto (best: the model's device).
        trust: allow arbitrary unpickling (only for files from a trusted source).
        external_prefixes: model keys that may be absent because another source provides them.
        expected_config: if the file names its config (our format), it must be this one.

    Returns:
        The ``LoadReport``.

    Raises:
        WeightsError: see ``read_checkpoint`` and ``load_state``; also a config-name mismatch
            or a sha256 that differs from the ``<file>.json`` sidecar.
    """
    state, meta, fmt = read_checkpoint(path, map_location, trust)
    report = LoadReport(path=str(path), source_format=fmt, sha256=file_sha256(path), metadata=meta)
    if expected_config and meta.get("config") and meta["config"] != expected_config:
        raise WeightsError(
            path,
            f"was saved for model {meta['config']!r}, not {expected_config!r}",
            f"use --model {meta['config']}",
        )
    sidecar = Path(str(path) + ".json")
    if sidecar.is_file():  # any format: a sidecar that names a sha256 must agree with the file
        try:
            side = json.loads(sidecar.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise WeightsError(sidecar, f"unreadable sidecar: {e}") from e
        if not isinstance(side, dict):
            raise WeightsError(sidecar, "unreadable sidecar: not a JSON object")
        if side.get("sha256") and side["sha256"] != report.sha256:
            raise WeightsError(
                path,
                f"sha256 {report.sha256[:12]}... does not match its .json sidecar ({side['sha256'][:12]}...)",
                "the file was changed or is corrupt",
            )
    load_state(model, state, report, external_prefixes)
    log.info("loaded %s", report.summary().replace("\n", "; "))
    return report


def plain_file_mode(target: int | Path) -> None:
    """Give a ``mkstemp`` file (created 0600; a file descriptor or a path) the mode a plain
    ``open()`` would: 0666 minus the umask."""
    mask = os.umask(0)
    os.umask(mask)
    if isinstance(target, int):
        os.fchmod(target, 0o666 & ~mask)
    else:
        os.chmod(target, 0o666 & ~mask)


def _atomic_target(path: Path) -> tuple[int, Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    plain_file_mode(fd)  # weight files are shared and shipped: not owner-only
    return fd, Path(tmp)


def export_state(model: nn.Module, exclude_prefixes: Iterable[str] = ()) -> dict[str, Tensor]:
    """The tensors ``save_safetensors`` writes: the state dict on the CPU, contiguous, without the
    keys under ``exclude_prefixes`` (their ``tensors_sha256`` is the digest in the file header)."""
    excl = tuple(exclude_prefixes)
    return {
        k: v.detach().cpu().contiguous()
        for k, v in model.state_dict().items()
        if not (excl and k.startswith(excl))
    }


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
    state = export_state(model, excl)
    info = dict(meta or {})
    info["excluded_prefixes"] = list(excl)
    header = {
        "format": FORMAT_TAG,
        "version": FORMAT_VERSION,
        "config": config_name,
        "meta": json.dumps(info),
        "tensors_sha256": tensors_sha256(state),
    }
    fd, tmp = _atomic_target(p)
    os.close(fd)
    try:
        save_file(state, str(tmp), metadata=header)
        plain_file_mode(tmp)  # safetensors writes a file of its own
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
