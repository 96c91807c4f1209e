"""Golden checks with the released ``best_checkpoint.pth``; skipped where the file is absent.

Point ``ZSE_OFFICIAL_CHECKPOINT`` at the file (default: ``checkpoints/sketchy_ext/best_checkpoint.pth``
under the repository root, the official README's layout). Never downloaded by the tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from zse_gui.model import create_model

ROOT = Path(__file__).resolve().parents[2]
CKPT = Path(os.environ.get("ZSE_OFFICIAL_CHECKPOINT", ROOT / "checkpoints/sketchy_ext/best_checkpoint.pth"))

pytestmark = [
    pytest.mark.real_weights,
    pytest.mark.slow,
    pytest.mark.skipif(not CKPT.is_file(), reason=f"official checkpoint not found at {CKPT}"),
]


def test_official_checkpoint_loads_strictly_without_trust() -> None:
    model = create_model("zse_vitb16", weights=CKPT)  # trust=False: weights_only + numpy scalars
    info = model.weights_info
    assert info is not None and info.report is not None
    report = info.report
    # Reference 2.1/2.2 and open item 8.1: 210 tensors, epoch and two numpy metrics beside them.
    assert report.ok and report.loaded == 210
    assert {"epoch", "map_all", "precision_100"} <= set(report.metadata)
    assert 0.0 <= report.metadata["map_all"] <= 1.0
    s = model.cfg.img_size
    white = torch.ones(1, 3, s, s)  # a white page is 1.0 after the 0.5/0.5 normalisation
    with torch.no_grad():
        out = model.forward_pair(white, white)
    assert torch.isfinite(out.relation.logit).all()
