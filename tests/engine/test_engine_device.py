"""Device and precision policy, and the torch-free import of the result types."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from zse_gui.engine.device import resolve_device, resolve_precision
from zse_gui.errors import ConfigError


def test_cpu_and_auto() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    auto = resolve_device("auto")
    if torch.cuda.is_available():
        assert auto.type == "cuda"
    else:
        assert auto.type in ("mps", "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_missing_cuda_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda:0")


def test_unknown_device_and_precision() -> None:
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu")
    with pytest.raises(ConfigError, match="unknown precision"):
        resolve_precision("int4", torch.device("cpu"))


def test_precision_policy() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == torch.float32
    assert resolve_precision("auto", torch.device("cuda")) == torch.float16
    assert resolve_precision("bf16", cpu) == torch.bfloat16
    assert resolve_precision("FP32", torch.device("cuda")) == torch.float32


def test_results_sketch_and_viz_import_without_torch() -> None:
    code = (
        "import sys, zse_gui.results as r, zse_gui.sketch as s, zse_gui.viz; "
        "assert 'torch' not in sys.modules, 'torch was imported'; "
        "assert r.RankedItem and s.StrokeSketch"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_package_exports() -> None:
    import zse_gui.engine as eng

    assert eng.Engine.__name__ == "Engine" and callable(eng.build_index)
    assert not hasattr(eng, "NoSuchThing")
