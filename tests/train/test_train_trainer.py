"""The Trainer on the tiny model: learning, checkpoints, exact resume, freezing, AMP, evaluation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from torch import Tensor
from torch.utils.data import IterableDataset

from zse_gui.cli.train import main as train_main
from zse_gui.data import read_class_folders
from zse_gui.data.synthetic import make_toy_dataset
from zse_gui.errors import EXIT_INPUT, ConfigError, DatasetError, WeightsError
from zse_gui.model import create_model
from zse_gui.train.config import TrainConfig
from zse_gui.train.datasets import SampledQuadruplets, TensorQuadruplets
from zse_gui.train.state import load_train_state
from zse_gui.train.trainer import Trainer

B = 4


def _fixed_batch(seed: int = 0) -> TensorQuadruplets:
    g = torch.Generator().manual_seed(seed)
    return TensorQuadruplets(*(torch.randn(B, 3, 32, 32, generator=g) for _ in range(4)))


def _trainer(out: Path, steps: int, every: int = 100, **kw: Any) -> Trainer:
    cfg = TrainConfig(steps=steps, batch_size=B, lr=1e-3, log_every=1, checkpoint_every=every, **kw)
    return Trainer(create_model("zse_test", seed=0), _fixed_batch(), cfg, out, progress=False)


def _train_losses(history: list[dict[str, Any]]) -> list[float]:
    return [float(h["loss"]) for h in history if h["event"] == "train"]


def test_loss_decreases_on_a_fixed_batch(tmp_path: Path) -> None:
    result = _trainer(tmp_path, steps=30).fit()
    losses = _train_losses(result.history)
    assert len(losses) == 30
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.7 * first, (first, last)


def test_pre_ca_ret_triplet_trains_the_stage_one_feature(tmp_path: Path) -> None:
    model = create_model("zse_test", seed=0).eval()
    sk, ph = _fixed_batch().tensors[0], _fixed_batch().tensors[1]
    with torch.no_grad():
        post, pre, scores = model.forward_with_ret(sk, ph)
        post0, scores0 = model(sk, ph)
        tokens = model.forward_tokens(torch.cat([sk, ph])).tokens[:, 0]
    assert (
        torch.equal(post, post0) and torch.equal(scores, scores0) and torch.allclose(pre, tokens, atol=1e-6)
    )
    result = _trainer(tmp_path, steps=20, ret_triplet_weight=1.0).fit()
    rets = [float(h["ret_triplet"]) for h in result.history if h["event"] == "train"]
    assert len(rets) == 20 and sum(rets[-5:]) < 0.7 * sum(rets[:5]), rets


def test_outputs_reload_and_log_is_jsonl(tmp_path: Path) -> None:
    tr = _trainer(tmp_path, steps=3, every=2)
    tr.fit()
    assert {p.name for p in tmp_path.iterdir()} >= {
        "last.pt",
        "log.jsonl",
        "final.safetensors",
        "final.safetensors.json",
    }
    back = create_model("zse_test", weights=tmp_path / "final.safetensors")
    for k, v in tr.model.state_dict().items():
        torch.testing.assert_close(back.state_dict()[k], v, rtol=0, atol=0)
    assert back.weights_info.report is not None and back.weights_info.report.metadata["config"] == "zse_test"
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["event"] == "train"] == [1, 2, 3]
    assert [r["step"] for r in records if r["event"] == "checkpoint"] == [2, 3]
    assert {"loss", "triplet", "relation", "lr", "samples"} <= set(records[1])
    st = load_train_state(tmp_path / "last.pt")
    assert st["step"] == 3 and st["samples_seen"] == 3 * B


def test_resume_continues_exactly(tmp_path: Path) -> None:
    straight = _trainer(tmp_path / "a", steps=4, every=2)
    straight.fit()
    # A run that "crashes" after step 2 (its last checkpoint), then a fresh process resumes it.
    first = _trainer(tmp_path / "b", steps=4, every=2)
    first.fit(steps=2)
    resumed = _trainer(tmp_path / "b", steps=4, every=2)
    assert resumed.resume() is True
    assert resumed.step == 2 and resumed.samples_seen == 2 * B
    opt_steps = {int(s["step"]) for s in resumed.optimizer.state_dict()["state"].values()}
    assert opt_steps == {2}  # AdamW moments came back too
    resumed.fit()
    assert resumed.step == 4
    for k, v in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[k], v, rtol=0, atol=0, msg=k)
    steps = [json.loads(x)["step"] for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(steps)  # lines after the checkpoint were not duplicated


def test_resume_errors(tmp_path: Path) -> None:
    tr = _trainer(tmp_path, steps=1)
    assert tr.resume() is False  # nothing to resume yet
    with pytest.raises(WeightsError, match="no training checkpoint"):
        tr.resume(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="unreadable training checkpoint"):
        tr.resume(bad)


def test_freeze_by_prefix_and_accumulation(tmp_path: Path) -> None:
    tr = _trainer(tmp_path, steps=2, freeze=("sa.",), accum_steps=2, exclude_from_checkpoint=("sa.",))
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    tr.fit()
    after = tr.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("sa."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("rn."))
    assert tr.samples_seen == 2 * 2 * B
    assert not tr.model.sa.training  # frozen modules stay in eval mode
    with safe_open(str(tmp_path / "final.safetensors"), framework="pt") as f:
        keys = list(f.keys())
    assert keys and not any(k.startswith("sa.") for k in keys)  # the frozen encoder is left out
    assert any(k.startswith("sa.") for k in load_train_state(tmp_path / "last.pt")["model"])  # resume has all
    with pytest.raises(ConfigError, match="freeze prefix 'backbone.' matches no parameter"):
        _trainer(tmp_path, steps=1, freeze=("backbone.",))


def test_bf16_autocast_on_cpu_and_fp16_needs_cuda(tmp_path: Path) -> None:
    tr = _trainer(tmp_path, steps=2, amp="bf16")
    res = tr.fit()
    assert all(torch.isfinite(torch.tensor(x)) for x in _train_losses(res.history))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="needs a CUDA device"):
            _trainer(tmp_path / "x", steps=1, amp="fp16")


def test_periodic_evaluation_keeps_the_best(tmp_path: Path) -> None:
    values = iter([0.2, 0.5, 0.4])
    seen_modes: list[bool] = []

    def evaluator(model: torch.nn.Module) -> dict[str, float]:
        seen_modes.append(model.training)
        return {"map_all": next(values), "prec_100": 0.1}

    cfg = TrainConfig(steps=3, batch_size=B, lr=1e-3, eval_every=1, export_official=True)
    tr = Trainer(
        create_model("zse_test", seed=0), _fixed_batch(), cfg, tmp_path, evaluator=evaluator, progress=False
    )
    res = tr.fit()
    assert res.best_step == 2 and res.best_metric == pytest.approx(0.5)
    assert seen_modes == [False, False, False]
    meta = json.loads((tmp_path / "best.safetensors.json").read_text())
    assert meta["step"] == 2 and meta["metrics"]["map_all"] == pytest.approx(0.5)
    assert (tmp_path / "best_checkpoint.pth").is_file() and (tmp_path / "final_checkpoint.pth").is_file()
    official = create_model("zse_test", weights=tmp_path / "best_checkpoint.pth")
    assert official.weights_info.report is not None and official.weights_info.report.metadata["epoch"] == 2


def test_folders_to_training_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sk, ph = make_toy_dataset(
        tmp_path / "toy",
        classes=("circle", "square", "cross"),
        sketches_per_class=2,
        photos_per_class=2,
        size=40,
    )
    data = read_class_folders(sk, ph)
    tr = Trainer(
        create_model("zse_test", seed=0),
        SampledQuadruplets(data, create_model("zse_test").cfg),
        TrainConfig(steps=2, batch_size=2),
        tmp_path / "run",
        progress=False,
    )
    assert tr.fit().step == 2
    split = tmp_path / "split.txt"
    split.write_text("cross\n")
    args = [
        "--layout",
        "folders",
        "--sketches",
        str(sk),
        "--photos",
        str(ph),
        "--split",
        str(split),
        "--model",
        "zse_test",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "cli"),
        "--no-progress",
    ]
    assert train_main(args) == 0
    assert "2 classes" in capsys.readouterr().out
    assert (tmp_path / "cli" / "final.safetensors").is_file()
    assert train_main([*args, "--resume", "--steps", "3"]) == 0
    assert "resumed at step 2" in capsys.readouterr().out
    assert train_main([*args[:6], "--split", "nonsense", *args[8:]]) == EXIT_INPUT
    assert "zse-train: error: unknown split 'nonsense'" in capsys.readouterr().err
    # Periodic evaluation on the split's unseen class keeps best.safetensors and logs eval events.
    ev = [*args[:-3], "--out", str(tmp_path / "cli_eval"), "--no-progress"]
    ev += ["--eval-every", "1", "--eval-mode", "ret"]
    assert train_main(ev) == 0
    assert "validation:" in capsys.readouterr().out
    assert (tmp_path / "cli_eval" / "best.safetensors").is_file()
    log = [json.loads(line) for line in (tmp_path / "cli_eval" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["event"] == "eval"] == [1, 2]
    assert all(0.0 <= r["map_all"] <= 1.0 for r in log if r["event"] == "eval")


def test_ready_batch_iterables_and_iterable_datasets(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    batches = [tuple(torch.randn(2, 3, 32, 32, generator=g) for _ in range(4)) for _ in range(2)]
    cfg = TrainConfig(steps=3, batch_size=2, lr=1e-3)
    tr = Trainer(create_model("zse_test", seed=0), batches, cfg, tmp_path / "list", progress=False)
    assert tr.fit().step == 3  # the list of 2 batches is re-iterated

    class Items(IterableDataset[tuple[Tensor, ...]]):
        def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
            for b in batches:
                yield from zip(*b, strict=True)

    tr = Trainer(create_model("zse_test", seed=0), Items(), cfg, tmp_path / "iter", progress=False)
    assert tr.fit().step == 3 and tr.samples_seen == 3 * 2

    def once() -> Iterator[tuple[Tensor, ...]]:
        yield from batches[:1]

    tr = Trainer(create_model("zse_test", seed=0), once(), cfg, tmp_path / "gen", progress=False)
    with pytest.raises(DatasetError, match="yielded no batch"):
        tr.fit()
