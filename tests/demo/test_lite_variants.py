"""The larger packaged ImageNet backbones (Lite1, Lite2) go through the same key map as Lite0.

The mapped timm classifiers must recognise real photos of ImageNet classes (right class in the top
5), the check ``test_lite_backbone.py`` makes for Lite0. Lite1 and Lite2 come with the optional
``backbones`` extra, which ``make setup`` does not install: those tests skip without it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor

from zse_gui.errors import WeightsError
from zse_gui.model import lite
from zse_gui.model.checkpoint import file_sha256
from zse_gui.model.lite import (
    LITE_PACKAGES,
    backbone_weights_path,
    create_imagenet_classifier,
    load_package_state,
    package_to_timm,
)

GALLERY = Path(__file__).resolve().parents[2] / "resources" / "demo_gallery"
# ImageNet-1k ids: zebra 340, banana 954, pineapple 953, strawberry 949, teapot 849.
PHOTOS = {
    "zebra/zebra.jpg": 340, "banana/banana.jpg": 954, "pineapple/pineapple.jpg": 953,
    "strawberry/strawberry.jpg": 949, "teapot/teapot.jpg": 849,
}  # fmt: skip
LARGER = ["lite1", "lite2"]


def _need(variant: str) -> None:
    module = LITE_PACKAGES[variant].module
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[backbones]')")


def _photo(rel: str, size: int) -> Tensor:
    """A gallery photo, square-resized to ``size``, normalised with mean = std = 0.5: [1, 3, S, S]."""
    img = Image.open(GALLERY / rel).convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    x = torch.from_numpy(np.asarray(img, np.float32) / 255.0).permute(2, 0, 1)
    return ((x - 0.5) / 0.5)[None]


@pytest.mark.parametrize("variant", LARGER)
def test_package_file_is_the_known_one(variant: str) -> None:
    _need(variant)
    path = backbone_weights_path(variant)
    assert path.name == LITE_PACKAGES[variant].file_name
    assert file_sha256(path) == LITE_PACKAGES[variant].sha256


@pytest.mark.parametrize("variant", LARGER)
def test_key_map_is_complete_and_shapes_match(variant: str) -> None:
    import timm

    _need(variant)
    model = timm.create_model(LITE_PACKAGES[variant].timm_arch, pretrained=False)
    sd = load_package_state(variant=variant)
    mapped = package_to_timm(sd, model)
    own = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert set(mapped) == set(own)
    assert all(mapped[k].shape == own[k].shape for k in own)
    assert len(mapped) == sum(1 for k in sd if not k.endswith("num_batches_tracked"))


@pytest.mark.parametrize("variant", LARGER)
@torch.no_grad()
def test_imagenet_predictions_on_real_photos(variant: str) -> None:
    _need(variant)
    model = create_imagenet_classifier(variant)
    size = LITE_PACKAGES[variant].native_size
    logits = model(torch.cat([_photo(p, size) for p in PHOTOS]))
    top5 = logits.topk(5, dim=1).indices
    hits = [int(c) in top5[i].tolist() for i, c in enumerate(PHOTOS.values())]
    assert all(hits), dict(zip(PHOTOS, hits, strict=True))


def test_lite0_mapping_does_not_load_another_variants_file() -> None:
    # The Lite1 state dict has more blocks than Lite0's stage layout: the map must refuse it.
    _need("lite1")
    import timm

    lite0 = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    with pytest.raises(WeightsError, match="has no timm name"):
        package_to_timm(load_package_state(variant="lite1"), lite0)


def test_unknown_variant_is_a_weights_error() -> None:
    with pytest.raises(WeightsError, match="packaged backbones"):
        backbone_weights_path("lite7")


def test_missing_package_is_a_weights_error_that_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    absent = dataclasses.replace(LITE_PACKAGES["lite2"], module="zse_no_such_lite_package")
    monkeypatch.setitem(lite.LITE_PACKAGES, "lite2", absent)
    with pytest.raises(WeightsError, match=r"\.\[backbones\]"):
        load_package_state(variant="lite2")
