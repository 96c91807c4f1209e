"""Checkpoint IO that should work: the official format, our safetensors format, exports, reports."""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from zse_gui.errors import WeightsError
from zse_gui.model import (
    ZseSbir,
    create_model,
    file_sha256,
    load_weights,
    save_official,
    save_safetensors,
    state_digest,
)
from zse_gui.model.checkpoint import native_to_official

# torch.save (pickle protocol 2) writes a storage's device as the string 'cpu'
# (BINUNICODE: opcode X, 4-byte little-endian length, utf-8); a checkpoint saved on a GPU holds 'cuda:0'.
CPU_LOCATION = b"X\x03\x00\x00\x00cpu"
CUDA_LOCATION = b"X\x06\x00\x00\x00cuda:0"
# numpy >= 2 pickles a scalar through numpy._core; numpy 1.x (2023, when the release was saved)
# wrote numpy.core. The GLOBAL opcode is newline-terminated text, so the names can be swapped.
NUMPY2_SCALAR = b"numpy._core.multiarray\nscalar\n"
NUMPY1_SCALAR = b"numpy.core.multiarray\nscalar\n"

Rewrite = Callable[[Path, Path, list[tuple[bytes, bytes]]], None]


def _synthetic_official(model: ZseSbir, seed: int, prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Random tensors under the official names and shapes of ``model`` (as a release file holds)."""
    g = torch.Generator().manual_seed(seed)
    off = native_to_official(model.state_dict())
    return {prefix + k: torch.randn(v.shape, generator=g) for k, v in off.items()}


def _save_release_file(path: Path, state: dict[str, torch.Tensor]) -> None:
    # The release's container: the state dict under 'model', an int epoch, numpy.float64 metrics.
    metrics = {"map_all": np.float64(0.736), "precision_100": np.float64(0.808)}
    torch.save({"model": state, "epoch": 7, **metrics}, path)


def _assert_loaded(model: ZseSbir, state: dict[str, torch.Tensor], prefix: str) -> None:
    got = native_to_official(model.state_dict())
    assert set(prefix + k for k in got) == set(state)
    for k, v in got.items():
        assert torch.equal(v, state[prefix + k]), k  # bit for bit


def test_official_file_loads_bit_for_bit(tmp_path: Path, tiny: ZseSbir) -> None:
    state = _synthetic_official(tiny, seed=1)
    path = tmp_path / "best_checkpoint.pth"
    _save_release_file(path, state)
    report = load_weights(tiny, path)
    _assert_loaded(tiny, state, "module.")
    assert report.ok and report.loaded == len(state) and report.source_format == "official"
    # The report names keys in our layout, after the rename.
    assert sorted(report.filtered) == sorted(("module." + k, "module. prefix") for k in tiny.state_dict())
    assert report.metadata == {"epoch": 7, "map_all": 0.736, "precision_100": 0.808}
    assert isinstance(report.metadata["map_all"], float)
    assert report.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "loaded tensors: " in report.summary()


def test_official_file_without_prefix(tmp_path: Path, tiny: ZseSbir) -> None:
    state = _synthetic_official(tiny, seed=2, prefix="")
    path = tmp_path / "best_checkpoint.pth"
    _save_release_file(path, state)
    report = load_weights(tiny, path)
    _assert_loaded(tiny, state, "")
    assert report.filtered == []


def test_numpy1_pickled_metrics_load_without_trust(
    tmp_path: Path, tiny: ZseSbir, rewrite_torch_pickle: Rewrite
) -> None:
    # The 2023 release was saved under numpy 1.x, whose scalar pickles name numpy.core.
    state = _synthetic_official(tiny, seed=3)
    src, dst = tmp_path / "np2.pth", tmp_path / "np1.pth"
    _save_release_file(src, state)
    rewrite_torch_pickle(src, dst, [(NUMPY2_SCALAR, NUMPY1_SCALAR)])
    report = load_weights(tiny, dst)
    _assert_loaded(tiny, state, "module.")
    assert report.metadata["map_all"] == pytest.approx(0.736)


@pytest.mark.parametrize("location", ["cpu", torch.device("cpu")])
def test_cuda_saved_file_maps_to_the_chosen_device(
    tmp_path: Path, tiny: ZseSbir, rewrite_torch_pickle: Rewrite, location: str | torch.device
) -> None:
    # No GPU here: the storages' recorded device is rewritten to 'cuda:0', exactly what a file
    # saved from a GPU holds, and map_location must bring them to the (CPU) target device.
    state = _synthetic_official(tiny, seed=4)
    src, dst = tmp_path / "cpu.pth", tmp_path / "cuda.pth"
    _save_release_file(src, state)
    rewrite_torch_pickle(src, dst, [(CPU_LOCATION, CUDA_LOCATION)])
    load_weights(tiny, dst, map_location=location)
    _assert_loaded(tiny, state, "module.")


def test_create_model_loads_an_official_file(tmp_path: Path) -> None:
    src = create_model("zse_test", seed=5)
    state = _synthetic_official(src, seed=6)
    path = tmp_path / "best_checkpoint.pth"
    _save_release_file(path, state)
    model = create_model("zse_test", weights=path, device="cpu")
    _assert_loaded(model, state, "module.")
    assert not model.training
    info = model.weights_info
    assert info is not None and info.report is not None
    assert info.source == str(path) and info.sha256 == file_sha256(path) and info.config == "zse_test"


def test_safetensors_round_trip(tmp_path: Path) -> None:
    a, b = create_model("zse_test", seed=1), create_model("zse_test", seed=2)
    path = tmp_path / "m.safetensors"
    digest = save_safetensors(a, path, "zse_test", meta={"data": "synthetic", "metrics": {"map_all": 0.5}})
    assert digest == file_sha256(path)
    side = json.loads(Path(str(path) + ".json").read_text())
    assert side["config"] == "zse_test" and side["sha256"] == digest and side["data"] == "synthetic"
    assert side["tensors"] == len(a.state_dict())
    report = load_weights(b, path, expected_config="zse_test")
    assert report.source_format == "zse_gui" and report.ok and report.filtered == []
    assert report.metadata["config"] == "zse_test"
    assert report.metadata["meta"]["metrics"] == {"map_all": 0.5}
    assert state_digest(a) == state_digest(b)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_official_export_round_trip(tmp_path: Path) -> None:
    a, b = create_model("zse_test", seed=1), create_model("zse_test", seed=2)
    path = tmp_path / "best_checkpoint.pth"
    save_official(a, path, epoch=3, map_all=0.25, precision_100=0.5)
    # The file is the release's container, readable by a plain weights_only load plus numpy scalars.
    np_globals = [np.dtype, np._core.multiarray.scalar, type(np.dtype("float64"))]
    with torch.serialization.safe_globals(np_globals):
        raw = torch.load(path, weights_only=True)
    assert set(raw) == {"model", "epoch", "map_all", "precision_100"}
    assert type(raw["map_all"]) is np.float64 and raw["epoch"] == 3
    assert all(k.startswith(("sa.model.", "ca.encoder.", "rn.rn.", "conv2d.")) for k in raw["model"])
    assert len(raw["model"]) == len(a.state_dict())
    report = load_weights(b, path)
    assert report.metadata == {"epoch": 3, "map_all": 0.25, "precision_100": 0.5}
    assert state_digest(a) == state_digest(b)


def test_export_then_safetensors_then_export_is_stable(tmp_path: Path) -> None:
    a = create_model("zse_test", seed=1)
    save_official(a, tmp_path / "one.pth")
    b = create_model("zse_test", weights=tmp_path / "one.pth")
    save_safetensors(b, tmp_path / "two.safetensors", "zse_test")
    c = create_model("zse_test", weights=tmp_path / "two.safetensors")
    assert state_digest(a) == state_digest(c)


def test_unused_ca_copy_is_filtered_and_reported(tmp_path: Path, tiny: ZseSbir) -> None:
    state = _synthetic_official(tiny, seed=8, prefix="")
    path = tmp_path / "best_checkpoint.pth"
    _save_release_file(path, state)
    lean = create_model(tiny.cfg.with_overrides(name="zse_test_lean", ca_unused_copy=False), seed=0)
    report = load_weights(lean, path)
    dropped = sorted(k for k, why in report.filtered if why == "unused CA copy")
    assert dropped == sorted(k for k in state if k.startswith("ca.encoder.layers."))
    assert len(dropped) == 16 and report.loaded == len(state) - 16
    assert "unused CA copy" in report.summary()


def test_half_precision_file_is_cast_and_reported(tmp_path: Path, tiny: ZseSbir) -> None:
    state = {k: v.half() for k, v in _synthetic_official(tiny, seed=9, prefix="").items()}
    path = tmp_path / "half.pth"
    _save_release_file(path, state)
    report = load_weights(tiny, path)
    assert len(report.converted) == len(state)
    assert report.converted[0][1:] == ("torch.float16", "torch.float32")
    assert "dtype cast" in report.summary()
    off = native_to_official(tiny.state_dict())
    assert all(torch.equal(off[k], v.float()) for k, v in state.items())


def test_bare_state_dict_in_our_names_loads(tmp_path: Path) -> None:
    a, b = create_model("zse_test", seed=1), create_model("zse_test", seed=2)
    path = tmp_path / "bare.pt"
    torch.save(a.state_dict(), path)
    load_weights(b, path)
    assert state_digest(a) == state_digest(b)


def test_legacy_torch_format_loads(tmp_path: Path, tiny: ZseSbir) -> None:
    state = _synthetic_official(tiny, seed=10)
    path = tmp_path / "legacy.pth"
    torch.save({"model": state, "map_all": np.float64(0.1)}, path, _use_new_zipfile_serialization=False)
    report = load_weights(tiny, path)
    _assert_loaded(tiny, state, "module.")
    assert report.metadata == {"map_all": 0.1}


def test_state_digest_tracks_weights(tiny: ZseSbir) -> None:
    before = state_digest(tiny)
    assert before == state_digest(tiny)
    with torch.no_grad():
        tiny.rn.rn[0].bias[0] += 1.0
    assert state_digest(tiny) != before


def test_trust_allows_benign_extra_objects(tmp_path: Path, tiny: ZseSbir) -> None:
    # Many training scripts store their argparse namespace beside the weights: refused by
    # default (it is a class the safe unpickler does not know), accepted with trust=True.
    state = _synthetic_official(tiny, seed=12, prefix="")
    path = tmp_path / "with_args.pth"
    torch.save({"model": state, "args": argparse.Namespace(batch=15)}, path)
    with pytest.raises(WeightsError, match="refused to unpickle.*Namespace"):
        load_weights(tiny, path)
    report = load_weights(tiny, path, trust=True)
    _assert_loaded(tiny, state, "")
    assert "batch=15" in report.metadata["args"]  # non-scalar metadata kept as its repr


def test_state_digest_handles_scalar_buffers_of_any_dtype() -> None:
    # A BatchNorm's num_batches_tracked is a 0-dim int64 buffer; viewing it as bytes must work.
    bn = torch.nn.BatchNorm2d(3)
    before = state_digest(bn)
    bn.num_batches_tracked += 1
    assert state_digest(bn) != before


def test_written_weight_files_get_the_umask_mode_not_owner_only(tmp_path: Path, tiny: ZseSbir) -> None:
    import os

    old = os.umask(0o022)
    try:
        path = tmp_path / "w.safetensors"
        save_safetensors(tiny, path, "zse_test")
        official = tmp_path / "w.pth"
        save_official(tiny, official)
    finally:
        os.umask(old)
    for p in (path, path.with_name("w.safetensors.json"), official):
        assert p.stat().st_mode & 0o777 == 0o644, p
