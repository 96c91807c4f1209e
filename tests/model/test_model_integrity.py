"""Damaged weight files are refused even without a sidecar; non-finite weights never load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from zse_gui.errors import WeightsError
from zse_gui.model import ZseSbir, create_model, load_weights, save_official, save_safetensors, state_digest
from zse_gui.model.integrity import check_safetensors_header


def _saved(tiny: ZseSbir, tmp_path: Path, sidecar: bool) -> Path:
    path = tmp_path / "w.safetensors"
    save_safetensors(tiny, path, "zse_test")
    if not sidecar:
        Path(str(path) + ".json").unlink()
    return path


def _data_start(path: Path) -> int:
    return 8 + int.from_bytes(path.read_bytes()[:8], "little")


@pytest.mark.parametrize("sidecar", [False, True])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_byte_flipped_safetensors_is_refused(
    tiny: ZseSbir, tmp_path: Path, sidecar: bool, where: str
) -> None:
    path = _saved(tiny, tmp_path, sidecar)
    data = bytearray(path.read_bytes())
    start = _data_start(path)
    pos = {"first": start, "middle": (start + len(data)) // 2, "last": len(data) - 1}[where]
    data[pos] ^= 0x10
    path.write_bytes(bytes(data))
    target = create_model("zse_test", seed=1)
    before = state_digest(target)
    with pytest.raises(WeightsError, match="checksum|sidecar"):
        load_weights(target, path)
    assert state_digest(target) == before


@pytest.mark.parametrize("damage", ["length", "offsets", "dtype", "shape", "tail", "short"])
def test_inconsistent_safetensors_header_is_refused(tiny: ZseSbir, tmp_path: Path, damage: str) -> None:
    path = _saved(tiny, tmp_path, sidecar=False)
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    name = next(k for k in header if k != "__metadata__" and header[k]["dtype"] == "F32")
    if damage == "length":
        raw = (len(raw) * 2).to_bytes(8, "little") + raw[8:]
    else:
        if damage == "offsets":
            header[name]["data_offsets"][1] += 4
        elif damage == "dtype":
            header[name]["dtype"] = "F99"
        elif damage == "shape":
            header[name]["shape"] = [-1, *header[name]["shape"][1:]]
        body = json.dumps(header).encode()
        body += b" " * (-len(body) % 8)
        raw = len(body).to_bytes(8, "little") + body + raw[8 + n :]
        if damage == "tail":
            raw += b"\0" * 8
        elif damage == "short":
            raw = raw[:-4]
    path.write_bytes(raw)
    with pytest.raises(WeightsError, match="unreadable safetensors"):
        check_safetensors_header(path)
    with pytest.raises(WeightsError):
        load_weights(create_model("zse_test", seed=1), path)


@pytest.mark.parametrize("fmt", ["safetensors", "official"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tiny: ZseSbir, tmp_path: Path, fmt: str, value: float) -> None:
    with torch.no_grad():
        tiny.rn.rn[0].weight[0, 0] = value
    path = tmp_path / ("w.safetensors" if fmt == "safetensors" else "w.pth")
    if fmt == "safetensors":
        save_safetensors(tiny, path, "zse_test")
    else:
        save_official(tiny, path)
    target = create_model("zse_test", seed=1)
    before = state_digest(target)
    with pytest.raises(WeightsError, match="NaN or infinite"):
        load_weights(target, path)
    assert state_digest(target) == before


def test_sidecar_is_checked_for_every_format(tiny: ZseSbir, tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    save_official(tiny, path)
    Path(str(path) + ".json").write_text(json.dumps({"sha256": "0" * 64}))
    with pytest.raises(WeightsError, match="sidecar"):
        load_weights(create_model("zse_test", seed=1), path)


def test_intact_files_still_load(tiny: ZseSbir, tmp_path: Path) -> None:
    for sidecar in (False, True):
        d = tmp_path / f"s{int(sidecar)}"
        d.mkdir()
        path = _saved(tiny, d, sidecar)
        target = create_model("zse_test", seed=1)
        load_weights(target, path)
        assert state_digest(target) == state_digest(tiny)
