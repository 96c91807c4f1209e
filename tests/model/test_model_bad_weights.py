"""Every unusable weight file is a WeightsError naming the file and the problem; none executes."""

from __future__ import annotations

import json
import os
import pickle
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from zse_gui.errors import WeightsError
from zse_gui.model import ZseSbir, create_model, load_weights, save_official, save_safetensors, state_digest
from zse_gui.model.checkpoint import native_to_official


def _fingerprint(model: ZseSbir) -> str | list[torch.Tensor]:
    # Hashing the 400 MB of zse_vitb16 twice per case is slow; a few of its tensors suffice there.
    if model.cfg.name == "zse_test":
        return state_digest(model)
    return [model.conv2d.weight.clone(), model.rn.rn[0].bias.clone(), model.sa.vit.cls_token.clone()]


def _expect_error(model: ZseSbir, path: Path, fragment: str, **kwargs: Any) -> WeightsError:
    before = _fingerprint(model)
    with pytest.raises(WeightsError) as info:
        load_weights(model, path, **kwargs)
    err = info.value
    assert err.path == str(path) or str(path) in str(err)
    assert fragment in str(err), str(err)
    after = _fingerprint(model)  # a failed load leaves the model untouched
    if isinstance(before, str):
        assert after == before
    else:
        assert all(torch.equal(x, y) for x, y in zip(before, after, strict=True))
    return err


def _png_bytes() -> bytes:
    """A valid 1x1 white RGB PNG, built by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\xff\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_missing_file(tmp_path: Path, tiny: ZseSbir) -> None:
    _expect_error(tiny, tmp_path / "nope.pth", "no such file")


def test_empty_file(tmp_path: Path, tiny: ZseSbir) -> None:
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    _expect_error(tiny, path, "empty")


def test_truncated_torch_zip(tmp_path: Path, tiny: ZseSbir) -> None:
    full = tmp_path / "full.pth"
    save_official(tiny, full)
    data = full.read_bytes()
    path = tmp_path / "truncated.pth"
    path.write_bytes(data[: len(data) // 2])
    _expect_error(tiny, path, "truncated or corrupt")


def test_corrupt_member_in_torch_zip(tmp_path: Path, tiny: ZseSbir) -> None:
    path = tmp_path / "flipped.pth"
    save_official(tiny, path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if i.filename.endswith("/data/0"))
    # The local header (30 bytes + name + extra, lengths at offset 26) precedes the stored bytes;
    # torch pads the extra field for alignment, so read its length from the local header.
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    assert info.compress_type == zipfile.ZIP_STORED and info.file_size > 1
    data[start + 1] ^= 0xFF  # one flipped bit pattern inside the first tensor: the CRC must catch it
    path.write_bytes(bytes(data))
    _expect_error(tiny, path, "corrupt")


def test_truncated_safetensors(tmp_path: Path, tiny: ZseSbir) -> None:
    full = tmp_path / "full.safetensors"
    save_safetensors(tiny, full, "zse_test")
    data = full.read_bytes()
    path = tmp_path / "truncated.safetensors"
    path.write_bytes(data[: len(data) - 100])
    _expect_error(tiny, path, "unreadable safetensors")


def test_safetensors_whose_header_length_starts_like_a_pickle_loads(tmp_path: Path, tiny: ZseSbir) -> None:
    # The first byte of a safetensors file is the low byte of its header length; 0x80 is also a
    # pickle's PROTO opcode. Such a file (here: the header padded with spaces, as the format allows)
    # is a valid safetensors file and must load, not be refused as a raw pickle.
    src = tmp_path / "src.safetensors"
    save_safetensors(tiny, src, "zse_test")
    data = src.read_bytes()
    n = int.from_bytes(data[:8], "little")
    target = n + (0x80 - n) % 256
    padded = target.to_bytes(8, "little") + data[8 : 8 + n] + b" " * (target - n) + data[8 + n :]
    assert padded[0] == 0x80
    path = tmp_path / "padded.safetensors"
    path.write_bytes(padded)
    other = create_model("zse_test", seed=5)
    report = load_weights(other, path)
    assert report.ok and not report.missing
    assert state_digest(other) == state_digest(tiny)


@pytest.mark.parametrize(("first", "fragment"), [(b"\x01", "not a checkpoint"), (b"\x80", "raw pickle")])
def test_random_bytes(tmp_path: Path, tiny: ZseSbir, first: bytes, fragment: str) -> None:
    path = tmp_path / "random.pth"  # the second variant starts like a pickle stream
    path.write_bytes(first + np.random.default_rng(0).bytes(4095))
    _expect_error(tiny, path, fragment)


def test_text_file(tmp_path: Path, tiny: ZseSbir) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("these are not weights\n")
    _expect_error(tiny, path, "not a checkpoint")


def test_png_file(tmp_path: Path, tiny: ZseSbir) -> None:
    path = tmp_path / "picture.png"
    path.write_bytes(_png_bytes())
    _expect_error(tiny, path, "not a checkpoint")


def test_zip_that_is_not_a_torch_file(tmp_path: Path, tiny: ZseSbir) -> None:
    path = tmp_path / "archive.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    _expect_error(tiny, path, "not a torch checkpoint")


def test_pickle_without_a_state_dict(tmp_path: Path, tiny: ZseSbir) -> None:
    path = tmp_path / "meta_only.pth"
    torch.save({"epoch": 3, "map_all": 0.5}, path)
    _expect_error(tiny, path, "not a model checkpoint")


def test_non_tensor_inside_model(tmp_path: Path, tiny: ZseSbir) -> None:
    path = tmp_path / "odd.pth"
    torch.save({"model": {"conv2d.weight": [1.0, 2.0]}}, path)
    _expect_error(tiny, path, "non-tensor")


def test_wrong_architecture_zse_test_into_vitb16(tmp_path: Path, tiny: ZseSbir, vitb16: ZseSbir) -> None:
    for path, save in (
        (tmp_path / "tiny.pth", lambda p: save_official(tiny, p)),
        (tmp_path / "tiny.safetensors", lambda p: save_safetensors(tiny, p, "zse_test")),
    ):
        save(path)
        err = _expect_error(vitb16, path, "does not fit this model architecture")
        report = err.report  # type: ignore[attr-defined]
        assert report.shape_mismatch and report.missing  # 2 blocks instead of 12, 32 wide instead of 768
        assert ("conv2d.weight", (16, 32, 2, 2), (512, 768, 2, 2)) in report.shape_mismatch


def test_config_name_mismatch(tmp_path: Path, tiny: ZseSbir) -> None:
    path = tmp_path / "named.safetensors"
    save_safetensors(tiny, path, "zse_vitb16")  # written under another model's name
    _expect_error(tiny, path, "was saved for model 'zse_vitb16'", expected_config="zse_test")
    with pytest.raises(WeightsError, match="zse_vitb16"):
        create_model("zse_test", weights=path)


def _official_state(model: ZseSbir) -> dict[str, torch.Tensor]:
    return dict(native_to_official(model.state_dict()))


def test_tensor_with_a_wrong_shape(tmp_path: Path, tiny: ZseSbir) -> None:
    state = _official_state(tiny)
    state["rn.rn.0.weight"] = torch.zeros(8, 17)
    path = tmp_path / "shape.pth"
    torch.save({"model": state}, path)
    err = _expect_error(tiny, path, "shape mismatch: rn.rn.0.weight file [8, 17] model [8, 16]")
    assert err.report.shape_mismatch == [("rn.rn.0.weight", (8, 17), (8, 16))]  # type: ignore[attr-defined]


def test_extra_key(tmp_path: Path, tiny: ZseSbir) -> None:
    state = _official_state(tiny)
    state["sa.model.mlp_head.weight"] = torch.zeros(100, 32)  # an official-looking key we do not have
    path = tmp_path / "extra.pth"
    torch.save({"model": state}, path)
    err = _expect_error(tiny, path, "unexpected (1): sa.model.mlp_head.weight")
    assert err.report.missing == []  # type: ignore[attr-defined]


def test_missing_key(tmp_path: Path, tiny: ZseSbir) -> None:
    state = _official_state(tiny)
    del state["ca.encoder.layer2.0.sublayer.1.norm.b"]
    path = tmp_path / "missing.pth"
    torch.save({"model": state}, path)
    err = _expect_error(tiny, path, "missing (1): ca.encoder.layer2.0.sublayer.1.norm.b")
    assert err.report.unexpected == []  # type: ignore[attr-defined]


def test_duplicate_key_with_and_without_prefix(tmp_path: Path, tiny: ZseSbir) -> None:
    state = _official_state(tiny)
    state["module.conv2d.bias"] = state["conv2d.bias"].clone()
    path = tmp_path / "dup.pth"
    torch.save({"model": state}, path)
    _expect_error(tiny, path, "appears twice")


def test_safetensors_sha_mismatch_with_sidecar(tmp_path: Path, tiny: ZseSbir) -> None:
    path = tmp_path / "m.safetensors"
    save_safetensors(tiny, path, "zse_test")
    sidecar = Path(str(path) + ".json")
    side = json.loads(sidecar.read_text())
    side["sha256"] = "0" * 64
    sidecar.write_text(json.dumps(side))
    _expect_error(tiny, path, "does not match its .json sidecar")


def test_safetensors_changed_after_writing(tmp_path: Path, tiny: ZseSbir) -> None:
    other = create_model("zse_test", seed=99)
    path = tmp_path / "m.safetensors"
    save_safetensors(tiny, path, "zse_test")
    sidecar = Path(str(path) + ".json").read_text()
    save_safetensors(other, path, "zse_test")  # same name, new bytes, old sidecar restored
    Path(str(path) + ".json").write_text(sidecar)
    _expect_error(tiny, path, "does not match its .json sidecar")


def test_default_weights_missing_for_zse_test() -> None:
    with pytest.raises(WeightsError, match="no bundled weights"):
        create_model("zse_test", weights="default")


# ---- malicious pickles: refused by default, and nothing in them runs -----------------------


def _leave_marker(path: str) -> None:
    Path(path).write_text("executed")


class _Evil:
    """Unpickling this would call ``_leave_marker`` (a custom class with a reduce hook)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _leave_marker, (self.marker,)


class _Shell:
    """Unpickling this would run a shell command through ``os.system``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (f"echo executed > '{self.marker}'",)


@pytest.mark.parametrize("payload", [_Evil, _Shell])
@pytest.mark.parametrize(
    ("container", "fragment"),
    [
        ("torch-zip", "refused to unpickle"),
        ("torch-legacy", "refused to unpickle"),
        ("raw-pickle-2", "raw pickle stream"),
        ("raw-pickle-5", "raw pickle stream"),
    ],
)
def test_malicious_pickle_is_refused_without_executing(
    tmp_path: Path, tiny: ZseSbir, payload: type, container: str, fragment: str
) -> None:
    marker = tmp_path / "marker.txt"
    obj = {"model": {"conv2d.bias": torch.zeros(16)}, "extra": payload(marker)}
    path = tmp_path / "evil.pth"
    if container.startswith("torch"):
        torch.save(obj, path, _use_new_zipfile_serialization=container == "torch-zip")
    else:
        path.write_bytes(pickle.dumps(obj, protocol=int(container[-1])))
    assert not marker.exists()
    _expect_error(tiny, path, fragment)  # trust defaults to False
    assert not marker.exists()


def test_malicious_torch_file_names_the_refused_global(tmp_path: Path, tiny: ZseSbir) -> None:
    marker = tmp_path / "marker.txt"
    path = tmp_path / "evil.pth"
    torch.save({"model": {}, "x": _Shell(marker)}, path)
    err = _expect_error(tiny, path, "refused to unpickle")
    assert "system" in str(err) and "trust=True" in str(err)
    assert not marker.exists()
