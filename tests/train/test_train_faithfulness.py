"""The deletion-faithfulness training term: masking, ranking, the hinge, and the trainer's use of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from zse_gui.engine.explain import correspondences, line_photo_order, readout_maps, strip_ret
from zse_gui.errors import ConfigError, WeightsError
from zse_gui.model import create_model
from zse_gui.model.lite import pack_cached_features
from zse_gui.train.config import TrainConfig
from zse_gui.train.faithfulness import (
    PatchMasker,
    anchor_loss,
    explained_order,
    faith_order_mass,
    faithfulness_loss,
    readout_order,
    top_and_random_cells,
)
from zse_gui.train.trainer import Trainer

MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


def _masker(**kw: torch.Tensor) -> PatchMasker:
    return PatchMasker(4, 8, MEAN, STD, **kw)


def test_mask_paints_exactly_the_chosen_cells_white() -> None:
    photos = torch.rand(2, 3, 32, 32) * 2 - 1
    cells = torch.zeros(2, 16, dtype=torch.bool)
    cells[0, 5] = True  # row 1, column 1 -> pixels [8:16, 8:16]
    cells[1, 15] = True  # last cell -> pixels [24:32, 24:32]
    out = _masker().mask(photos, cells)
    pixels = (out * 0.5 + 0.5) * 255
    assert torch.allclose(pixels[0, :, 8:16, 8:16], torch.full((3, 8, 8), 255.0))
    assert torch.allclose(pixels[1, :, 24:, 24:], torch.full((3, 8, 8), 255.0))
    keep = torch.ones(2, 32, 32, dtype=torch.bool)
    keep[0, 8:16, 8:16] = False
    keep[1, 24:, 24:] = False
    assert torch.equal(out.permute(1, 0, 2, 3)[:, keep], photos.permute(1, 0, 2, 3)[:, keep])
    assert not torch.equal(out, photos)  # a new tensor, the input untouched


def test_mask_of_packed_inputs_swaps_in_the_white_features_at_those_cells_only() -> None:
    # 112 x 2 x 2 features fit one 32 x 32 channel: a 2 x 2 grid of 16 px patches.
    feats = torch.randn(2, 112, 2, 2)
    white = torch.full((112, 2, 2), 7.0)
    packed = pack_cached_features(torch.rand(2, 3, 32, 32), feats)
    cells = torch.tensor([[True, False, False, False], [False, False, False, True]])
    out = PatchMasker(2, 16, MEAN, STD, white_features=white).mask(packed, cells)
    got = out[:, 3].reshape(2, -1)[:, : 112 * 4].reshape(2, 112, 2, 2)
    assert torch.equal(got[0, :, 0, 0], white[:, 0, 0]) and torch.equal(got[1, :, 1, 1], white[:, 1, 1])
    assert torch.equal(got[0, :, 1], feats[0, :, 1]) and torch.equal(got[1, :, 0], feats[1, :, 0])
    with pytest.raises(ValueError, match="white_features"):
        PatchMasker(2, 16, MEAN, STD).mask(packed, cells)


def test_ink_marks_cells_with_a_dark_pixel() -> None:
    sk = torch.ones(1, 3, 32, 32)  # white
    sk[0, :, 3, 30] = -1.0  # one black pixel in cell (0, 3)
    sk[0, :, 20, 5] = 0.0  # mid grey: R + G + B = 382 > 300, not ink
    ink = _masker().ink(sk)
    assert ink.tolist() == [[i == 3 for i in range(16)]]


def test_explained_order_sums_the_ink_rows_mass_per_photo_patch() -> None:
    p = 4
    attn = torch.zeros(1, 2, 1 + p, 1 + p)
    attn[0, :, 1, 1 + 2] = 1.0  # sketch patch 0 (ink) -> photo patch 2
    attn[0, :, 2, 1 + 3] = 1.0  # sketch patch 1 (no ink) -> photo patch 3
    attn[0, 0, 3, 1 + 0] = 1.0  # sketch patch 2 (ink), head 0 only -> photo patch 0
    ink = torch.tensor([[True, False, True, False]])
    mass = explained_order(attn, ink)
    assert mass.tolist() == [[0.5, 0.0, 1.0, 0.0]]
    # Without any ink every row counts.
    assert explained_order(attn, torch.zeros_like(ink))[0, 3] == 1.0


def _softmax_attn(b: int, h: int, p: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(b, h, 1 + p, 1 + p, generator=g) * 3, dim=-1)


@pytest.mark.parametrize("readout", ["dual_sinkhorn", "consensus"])
def test_readout_order_is_the_order_the_benchmark_masks_the_apps_lines_in(readout: str) -> None:
    # The trained order must be the one the deletion benchmark masks: the engine's readout of the
    # stripped head-mean maps, then line_photo_order over the ink rows.
    p = 16
    sk_attn, ph_attn = _softmax_attn(2, 4, p, 0), _softmax_attn(2, 4, p, 1)
    ink = torch.zeros(2, p, dtype=torch.bool)
    ink[0, [1, 2, 5, 6, 9]] = True
    ink[1, [0, 3, 12, 15]] = True
    scores = readout_order(sk_attn, ph_attn, ink, readout)
    for i in range(2):
        sm, pm = strip_ret(sk_attn[i].numpy()).mean(0), strip_ret(ph_attn[i].numpy()).mean(0)
        rows = ink[i].numpy()
        c = correspondences(sm, pm, rows, None, readout=readout)
        _, smap = readout_maps(readout, sm, pm, rows)
        want = line_photo_order(c.sketch_to_photo, c.sketch_score, rows, smap)
        got = np.argsort(-scores[i].numpy(), kind="stable")
        assert got.tolist() == want.tolist()
        # Its top cells are the photo patches the lines end on.
        k = len(set(c.sketch_to_photo[rows].tolist()))
        assert set(got[:k].tolist()) == set(c.sketch_to_photo[rows].tolist())
    assert torch.equal(faith_order_mass(sk_attn, ph_attn, ink, readout), scores)
    assert torch.equal(faith_order_mass(sk_attn, ph_attn, ink, "attention"), explained_order(sk_attn, ink))
    with pytest.raises(ValueError, match="unknown faithfulness order"):
        faith_order_mass(sk_attn, ph_attn, ink, "gradient")


def test_line_photo_order_ranks_line_ends_by_summed_strength_then_map_mass() -> None:
    s2p = np.array([2, 2, 0, 3])
    strength = np.array([0.3, 0.3, 0.5, 9.0])
    rows = np.array([True, True, True, False])  # the last line does not count
    smap = np.zeros((4, 4))
    smap[0, 1] = 0.2  # mass on patch 1 from a counted row
    smap[3, 3] = 5.0  # mass on patch 3 from an uncounted row
    assert line_photo_order(s2p, strength, rows, smap).tolist() == [2, 0, 1, 3]


def test_top_and_random_cells() -> None:
    mass = torch.tensor([[0.1, 0.9, 0.0, 0.5, 0.2, 0.3]])
    cells = top_and_random_cells(mass, 2, torch.Generator().manual_seed(0))
    assert cells.shape == (2, 6)
    assert cells[0].nonzero().flatten().tolist() == [1, 3]
    assert int(cells[1].sum()) == 2


def test_hinge_is_zero_once_the_explained_cells_cost_the_margin() -> None:
    expl, rnd = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 2.5])
    assert faithfulness_loss(expl, rnd, 1.0).item() == pytest.approx((0.0 + 0.5) / 2)
    assert faithfulness_loss(expl, rnd + 10, 1.0).item() == 0.0


def test_config_rejects_bad_faith_settings_and_is_off_by_default() -> None:
    assert TrainConfig().faith_weight == 0.0
    assert TrainConfig().faith_order == "attention"
    bads = ({"faith_weight": -1.0}, {"faith_patches": 0}, {"faith_margin": 0.0}, {"faith_order": "gradient"})
    for bad in bads:
        with pytest.raises(ConfigError, match="faith"):
            TrainConfig(**bad)  # type: ignore[arg-type]


def _batches(n: int = 3) -> list[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        sk = torch.ones(2, 3, 32, 32)
        sk[:, :, 4:28, 10:12] = -1.0  # a black bar: ink in some cells
        out.append((sk, *(torch.rand(2, 3, 32, 32, generator=g) * 2 - 1 for _ in range(3))))
    return out


@pytest.mark.parametrize("order", ["attention", "dual_sinkhorn"])
def test_trainer_adds_the_faith_term_only_when_asked_and_it_reaches_the_relation_side(
    tmp_path: Path, order: str
) -> None:
    # The hinge alone (release terms off, no weight decay): any parameter that moves was moved by it.
    cfg = TrainConfig(
        steps=2, batch_size=2, lr=1e-3, weight_decay=0.0, log_every=1, faith_weight=1.0, faith_patches=3,
        triplet_weight=0.0, relation_weight=0.0, amp="off", faith_order=order,
    )  # fmt: skip
    # Seed 1: the tiny test model's relation MLP is alive (seed 0's ReLUs are all off at init, so
    # its logit does not depend on the input at all).
    model = create_model("zse_test", seed=1)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if n.startswith(("ca.", "rn."))}
    res = Trainer(model, _batches(), cfg, tmp_path / "a", progress=False).fit()
    recs = [h for h in res.history if h["event"] == "train"]
    assert len(recs) == 2 and all("faith" in h and "faith_gap" in h for h in recs)
    assert all(h["faith"] >= 0.0 for h in recs)
    moved = [n for n, p in model.named_parameters() if n in before and not torch.equal(p, before[n])]
    assert moved  # the hinge's gradient reaches cross-attention / relation network

    cfg0 = TrainConfig(steps=1, batch_size=2, log_every=1, amp="off")
    res0 = Trainer(create_model("zse_test", seed=0), _batches(), cfg0, tmp_path / "b", progress=False).fit()
    assert all("faith" not in h for h in res0.history if h["event"] == "train")


def test_mask_of_packed_inputs_can_run_the_backbone_again_on_the_painted_pixels() -> None:
    def backbone(x: torch.Tensor) -> torch.Tensor:  # a stand-in: the mean pixel of each 16 px cell
        return x.mean(1, keepdim=True).unfold(2, 16, 16).unfold(3, 16, 16).mean((-1, -2)).repeat(1, 112, 1, 1)

    img = torch.rand(1, 3, 32, 32) * 2 - 1
    packed = pack_cached_features(img, backbone(img))
    cells = torch.tensor([[False, True, False, False]])
    out = PatchMasker(2, 16, MEAN, STD, white_features=torch.zeros(112, 2, 2), features=backbone).mask(
        packed, cells
    )
    got = out[:, 3].reshape(1, -1)[:, : 112 * 4].reshape(1, 112, 2, 2)
    assert torch.allclose(
        got, backbone(out[:, :3])
    )  # the features of the painted image, not the white stand-in
    assert torch.allclose(got[0, :, 0, 1], torch.ones(112))  # a white cell: pixel value 1 after normalising


def test_anchor_is_zero_unless_random_masking_raises_the_logit_above_the_clean_one() -> None:
    clean = torch.tensor([2.0, 2.0, 2.0])
    assert anchor_loss(torch.tensor([1.0, 2.0, -5.0]), clean).item() == 0.0
    assert anchor_loss(torch.tensor([3.0, 2.0, 2.5]), clean).item() == pytest.approx((1.0 + 0.0 + 0.5) / 3)


def test_config_rejects_an_anchor_without_the_hinge_and_negative_weights() -> None:
    assert TrainConfig().faith_anchor_weight == 0.0 and TrainConfig().keep_weight == 0.0
    with pytest.raises(ConfigError, match="needs faith_weight"):
        TrainConfig(faith_anchor_weight=1.0)
    for bad in ({"keep_weight": -1.0}, {"faith_anchor_weight": -1.0, "faith_weight": 1.0}):
        with pytest.raises(ConfigError, match="must be >= 0"):
            TrainConfig(**bad)  # type: ignore[arg-type]


def test_trainer_logs_the_lift_and_trains_the_anchor_when_asked(tmp_path: Path) -> None:
    cfg = TrainConfig(
        steps=2, batch_size=2, lr=1e-3, weight_decay=0.0, log_every=1, faith_weight=1.0, faith_patches=3,
        faith_anchor_weight=1.0, amp="off",
    )  # fmt: skip
    res = Trainer(create_model("zse_test", seed=1), _batches(), cfg, tmp_path, progress=False).fit()
    recs = [h for h in res.history if h["event"] == "train"]
    assert len(recs) == 2
    for h in recs:
        assert h["faith_anchor"] >= 0.0
        assert h["faith_anchor"] >= h["faith_lift"] - 1e-6  # relu(lift) per pair, then the mean


def _clean_logits(model: torch.nn.Module, batches: list[tuple[torch.Tensor, ...]]) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([model.forward_pair(b[0], b[1]).relation.logit for b in batches])  # type: ignore[operator]


def test_keep_term_holds_the_relation_logits_near_the_starting_weights(tmp_path: Path) -> None:
    # Only the relation target trains (at a large rate, so the logits move); with ``keep_weight``
    # the same steps move the clean pairs' logits less, and the reference weights stay put.
    batches = _batches(4)
    start = create_model("zse_test", seed=1)
    start_logits = _clean_logits(start, batches)
    drift = {}
    for keep in (0.0, 50.0):
        cfg = TrainConfig(
            steps=4, batch_size=2, lr=3e-2, weight_decay=0.0, log_every=1, triplet_weight=0.0,
            relation_weight=4.0, keep_weight=keep, amp="off", pos_target=0.99, neg_target=0.99,
        )  # fmt: skip
        model = create_model("zse_test", seed=1)
        trainer = Trainer(model, batches, cfg, tmp_path / str(keep), progress=False)
        res = trainer.fit()
        drift[keep] = float((_clean_logits(model, batches) - start_logits).abs().mean())
        recs = [h for h in res.history if h["event"] == "train"]
        assert all(("keep" in h) == (keep > 0) for h in recs)
        if keep > 0:
            assert trainer.teacher is not None
            ref = trainer.state_dict()["teacher"]
            assert all(torch.equal(ref[k], v) for k, v in start.state_dict().items())
    assert drift[0.0] > 0.5  # the relation term alone moves the logits a lot (all targets 0.99) ...
    assert drift[50.0] < 0.5 * drift[0.0]  # ... and the keep term holds them


def test_resume_restores_the_keep_reference_not_the_resumed_weights(tmp_path: Path) -> None:
    batches = _batches(2)
    cfg = TrainConfig(
        steps=2, batch_size=2, lr=3e-2, weight_decay=0.0, log_every=1, checkpoint_every=1, keep_weight=1.0,
        amp="off",
    )  # fmt: skip
    start = {k: v.clone() for k, v in create_model("zse_test", seed=1).state_dict().items()}
    Trainer(create_model("zse_test", seed=1), batches, cfg, tmp_path, progress=False).fit()
    # A second trainer built around other weights (seed 2) takes the saved reference on resume.
    again = Trainer(create_model("zse_test", seed=2), batches, cfg, tmp_path, progress=False)
    assert again.resume()
    assert again.teacher is not None
    assert all(torch.equal(again.teacher.state_dict()[k], v) for k, v in start.items())
    plain = Trainer(create_model("zse_test", seed=2), batches, TrainConfig(keep_weight=0.0), tmp_path / "p")
    plain.save_checkpoint()
    keeper = Trainer(create_model("zse_test", seed=2), batches, cfg, tmp_path / "p", progress=False)
    with pytest.raises(WeightsError, match="keep_weight"):
        keeper.resume()
