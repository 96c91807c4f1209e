"""Shared fixtures of the model tests: tiny random models, images, and a torch-file rewriter."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from zse_gui.model import ZseSbir, create_model


@pytest.fixture
def tiny() -> ZseSbir:
    """A fresh ``zse_test`` model (random, seed 0, eval mode)."""
    return create_model("zse_test", seed=0)


@pytest.fixture(scope="session")
def vitb16() -> Iterator[ZseSbir]:
    """One ``zse_vitb16`` model with random weights for the whole session (about 2 s to build)."""
    model = create_model("zse_vitb16", seed=0)
    yield model


@pytest.fixture
def images() -> Callable[[ZseSbir, int, int], torch.Tensor]:
    """``images(model, n, seed)`` -> [n, 3, S, S] random images in the normalised range [-1, 1]."""

    def make(model: ZseSbir, n: int, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        s = model.cfg.img_size
        return torch.rand(n, 3, s, s, generator=g) * 2 - 1

    return make


def _rewrite_torch_pickle(src: Path, dst: Path, replacements: list[tuple[bytes, bytes]]) -> None:
    """Copy a torch zip checkpoint, replacing byte strings inside its ``data.pkl``.

    Each replacement must occur in the pickle, so a test cannot silently test nothing.
    """
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("/data.pkl"):
                for old, new in replacements:
                    assert old in data, f"{old!r} not in the pickle"
                    data = data.replace(old, new)
            zout.writestr(info, data)


@pytest.fixture
def rewrite_torch_pickle() -> Callable[[Path, Path, list[tuple[bytes, bytes]]], None]:
    """The ``_rewrite_torch_pickle(src, dst, [(old, new), ...])`` helper."""
    return _rewrite_torch_pickle
