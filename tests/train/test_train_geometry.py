"""Known-geometry pairs: targets follow the transform, the correspondence loss rewards the right
patch, the trainer applies it only when asked, and composited photos keep their alpha as mask."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from zse_gui.errors import ConfigError, DatasetError
from zse_gui.model import create_model
from zse_gui.train.composite import composite
from zse_gui.train.config import TrainConfig
from zse_gui.train.geometry import (
    correspondence_loss,
    make_transform,
    patch_centres_px,
    patch_targets,
    random_transform,
    warp_sketch,
)
from zse_gui.train.trainer import Trainer

G, PS = 14, 16
S = G * PS


def test_identity_targets_are_the_patch_centres_and_no_ink_means_no_target() -> None:
    ink = np.zeros(G * G, bool)
    ink[::3] = True
    tg = patch_targets(make_transform(S), ink, G, PS)
    assert np.allclose(tg[ink], patch_centres_px(G, PS)[ink])
    assert np.isnan(tg[~ink]).all()


def test_flip_targets_mirror_the_columns() -> None:
    tg = patch_targets(make_transform(S, flip=True), np.ones(G * G, bool), G, PS)
    c = patch_centres_px(G, PS)
    assert np.allclose(tg[:, 0], S - 1 - c[:, 0]) and np.allclose(tg[:, 1], c[:, 1])


def test_targets_point_at_the_same_image_content_under_random_transforms() -> None:
    rng = np.random.default_rng(0)
    # A smooth colour field: the warped image at a sketch patch centre must show the photo's colour
    # at that patch's target.
    img = cv2.resize(rng.integers(0, 255, (7, 7, 3)).astype(np.uint8), (S, S), interpolation=cv2.INTER_CUBIC)
    centres = patch_centres_px(G, PS)
    for _ in range(4):
        t = random_transform(S, rng)
        warped = cv2.warpAffine(
            img, t.matrix[:2], (S, S), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255)
        )
        tg = patch_targets(t, np.ones(G * G, bool), G, PS)
        ok = np.flatnonzero(np.isfinite(tg).all(1))
        assert len(ok) > 60
        q = np.round(centres[ok]).astype(int)
        p = np.clip(np.round(tg[ok]).astype(int), 0, S - 1)
        diff = np.abs(warped[q[:, 1], q[:, 0]].astype(float) - img[p[:, 1], p[:, 0]].astype(float))
        assert np.median(diff) < 8  # a wrong partner would differ by tens of grey levels


def test_warp_sketch_keeps_ink_black_and_fills_white() -> None:
    sk = np.full((S, S, 3), 255, np.uint8)
    sk[100:120, 50:150] = 0
    out = warp_sketch(sk, make_transform(S, scale=0.7, angle=10))
    assert set(np.unique(out)) <= {0, 255} and (out == 0).any()


def _attn(logits: torch.Tensor) -> torch.Tensor:
    """[B, P, P] logits over photo patches -> [B, h=1, 1 + P, 1 + P] attention with a [Ret] row/column."""
    b, p, _ = logits.shape
    full = torch.full((b, 1, 1 + p, 1 + p), -30.0)
    full = full.clone()
    full[:, 0, 1:, 1:] = logits
    return full.softmax(-1)


def test_loss_prefers_the_true_patch_and_gradient_descent_moves_attention_there() -> None:
    g, ps = 4, 8
    p = g * g
    # Sketch patch i's partner is photo patch 15 - i.
    truth = torch.as_tensor(patch_centres_px(g, ps)[::-1].copy(), dtype=torch.float32)[None]
    eye = torch.eye(p)
    right = correspondence_loss(_attn(3 * eye.flip(1)[None]), truth, g, ps, sigma=0.5)
    wrong = correspondence_loss(_attn(3 * eye[None]), truth, g, ps, sigma=0.5)
    uniform = correspondence_loss(_attn(torch.zeros(1, p, p)), truth, g, ps, sigma=0.5)
    assert right < uniform < wrong
    logits = torch.zeros(1, p, p, requires_grad=True)
    opt = torch.optim.SGD([logits], lr=5.0)
    first = None
    for _ in range(50):
        loss = correspondence_loss(_attn(logits), truth, g, ps, sigma=0.5)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * first
    assert torch.equal(logits.detach()[0].argmax(1), torch.arange(p).flip(0))


def test_loss_ignores_patches_without_target_and_is_zero_without_any() -> None:
    g, ps = 4, 8
    nan = torch.full((1, g * g, 2), float("nan"))
    attn = _attn(torch.randn(1, g * g, g * g, requires_grad=True))
    loss = correspondence_loss(attn, nan, g, ps, sigma=1.0)
    assert float(loss.detach()) == 0.0 and loss.requires_grad
    tg = nan.clone()
    tg[0, 5] = torch.as_tensor(patch_centres_px(g, ps)[5], dtype=torch.float32)
    one = correspondence_loss(attn, tg, g, ps, sigma=1.0)
    tg2 = torch.as_tensor(patch_centres_px(g, ps), dtype=torch.float32)[None].clone()
    tg2[0, 6:] = float("nan")
    tg2[0, :5] = float("nan")
    assert torch.allclose(one, correspondence_loss(attn, tg2, g, ps, sigma=1.0))


def test_config_rejects_bad_corr_settings() -> None:
    with pytest.raises(ConfigError):
        TrainConfig(corr_weight=-1.0)
    with pytest.raises(ConfigError):
        TrainConfig(corr_sigma=0.0)
    assert TrainConfig().corr_weight == 0.0  # the released recipe has no such term


def _batches(with_targets: bool, n: int = 3) -> list[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        imgs = tuple(torch.rand(2, 3, 32, 32, generator=g) * 2 - 1 for _ in range(4))
        if with_targets:
            tg = torch.as_tensor(patch_centres_px(4, 8), dtype=torch.float32)[None].repeat(2, 1, 1)
            imgs = (*imgs, tg)
        out.append(imgs)
    return out


def test_trainer_adds_the_corr_term_only_when_asked(tmp_path: Path) -> None:
    cfg = TrainConfig(steps=8, batch_size=2, lr=3e-3, log_every=1, corr_weight=1.0, corr_sigma=0.5, amp="off")
    res = Trainer(create_model("zse_test", seed=0), _batches(True), cfg, tmp_path / "a", progress=False).fit()
    corr = [h["corr"] for h in res.history if h["event"] == "train"]
    assert len(corr) == 8 and corr[-1] < corr[0]
    # Off by default: five-part batches train as before, with no corr term.
    cfg0 = TrainConfig(steps=2, batch_size=2, log_every=1, amp="off")
    res0 = Trainer(
        create_model("zse_test", seed=0), _batches(True), cfg0, tmp_path / "b", progress=False
    ).fit()
    assert all("corr" not in h for h in res0.history if h["event"] == "train")
    with pytest.raises(DatasetError, match="corr_weight"):
        Trainer(create_model("zse_test", seed=0), _batches(False), cfg, tmp_path / "c", progress=False).fit()


def test_composite_pastes_the_cut_out_and_returns_its_alpha_as_mask() -> None:
    rng = np.random.default_rng(1)
    bg = np.zeros((300, 400, 3), np.uint8)
    bg[..., 1] = 200  # green background
    rgba = np.zeros((50, 80, 4), np.uint8)
    rgba[10:40, 10:70] = (255, 0, 0, 255)  # an opaque red box in a transparent margin
    img, mask = composite(rgba, bg, rng, size=128)
    assert img.shape == (128, 128, 3) and mask.shape == (128, 128)
    assert 0.1 < mask.mean() < 0.9
    assert (img[mask][:, 0] > 200).all() and (img[~mask][:, 1] > 150).all()
    with pytest.raises(ValueError):
        composite(np.zeros((5, 5, 4), np.uint8), bg, rng)
