"""``zse-train``: train ZSE-SBIR with the released recipe on Sketchy / TU-Berlin / QuickDraw / folders.

Examples::

    zse-train --layout sketchy --root data/Sketchy --split sketchy25 --out runs/sketchy25
    zse-train --layout folders --sketches toy/sketches --photos toy/photos --split my_split.txt \\
        --model zse_test --steps 200 --lr 1e-4 --out runs/toy
    zse-train ... --resume            # continue runs/.../last.pt after a crash

    zse-train ... --eval-every 1000 --eval-mode rn --eval-stride 20 10
                                      # validate on the split's unseen classes, keep best.safetensors

Periodic evaluation runs ``zse_gui.eval.RetrievalValidator`` on the test part of the same data
(the unseen classes of the split, subsampled by ``--eval-stride``), as the release does, and keeps
the best checkpoint by ``--eval-metric``. This module lives in ``zse_gui.cli`` because it wires
the train and eval packages, which do not import each other.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from zse_gui.data.layouts import LAYOUTS, open_dataset
from zse_gui.data.splits import resolve_split
from zse_gui.engine.device import resolve_device
from zse_gui.errors import ZseError, report_error
from zse_gui.eval.runner import RetrievalValidator
from zse_gui.eval.scoring import MODES
from zse_gui.model.factory import create_model
from zse_gui.train.config import AMP_MODES, TrainConfig
from zse_gui.train.datasets import SampledQuadruplets
from zse_gui.train.trainer import Trainer

__all__ = ["build_parser", "main"]

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The ``zse-train`` argument parser."""
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="zse-train", description="Train ZSE-SBIR (released recipe by default).")
    g = p.add_argument_group("data")
    g.add_argument("--layout", choices=[*LAYOUTS, "folders"], required=True, help="dataset layout")
    g.add_argument("--root", help="dataset folder of an Extended layout (e.g. .../Sketchy)")
    g.add_argument(
        "--sketches", help="folders layout: one sub-folder (or .ndjson file) of sketches per class"
    )
    g.add_argument("--photos", help="folders layout: one sub-folder of photos per class")
    g.add_argument(
        "--split", help="built-in split (sketchy25, sketchy21, tuberlin30, quickdraw30) or a split file"
    )
    g.add_argument("--limit-per-class", type=int, help="folders layout: at most N sketches/photos per class")
    g.add_argument("--epoch-len", type=int, default=10_000, help="nominal samples per epoch (release: 10000)")
    m = p.add_argument_group("model")
    m.add_argument("--model", default="zse_vitb16", help="registered model config (default zse_vitb16)")
    m.add_argument("--weights", help="start from these weights (official .pth or our .safetensors)")
    m.add_argument("--trust", action="store_true", help="allow unpickling a trusted .pth that needs it")
    m.add_argument(
        "--pretrained-backbone",
        action="store_true",
        help="initialise the ViT from timm's SAM ImageNet weights (downloads; the release starts from them)",
    )
    m.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    t = p.add_argument_group("optimisation")
    t.add_argument("--steps", type=int, default=d.steps, help=f"optimizer steps in total (default {d.steps})")
    t.add_argument("--batch-size", type=int, default=d.batch_size)
    t.add_argument("--accum", type=int, default=d.accum_steps, help="micro-batches per optimizer step")
    t.add_argument("--lr", type=float, default=d.lr)
    t.add_argument("--weight-decay", type=float, default=d.weight_decay)
    t.add_argument("--margin", type=float, default=d.triplet_margin, help="triplet margin")
    t.add_argument("--triplet-weight", type=float, default=d.triplet_weight)
    t.add_argument("--relation-weight", type=float, default=d.relation_weight)
    t.add_argument(
        "--ret-triplet-weight", type=float, default=d.ret_triplet_weight,
        help="extra triplet on the normalised pre-CA [Ret] tokens that stage 1 ranks by "
        "(0 = off, as released)",
    )  # fmt: skip
    t.add_argument("--ret-triplet-margin", type=float, default=d.ret_triplet_margin)
    t.add_argument("--grad-clip", type=float, help="clip the gradient norm (off by default, as released)")
    t.add_argument("--amp", choices=AMP_MODES, default=d.amp, help="mixed precision (auto: on CUDA only)")
    t.add_argument(
        "--freeze", action="append", default=[], metavar="PREFIX", help="freeze parameters by name prefix"
    )
    t.add_argument(
        "--hflip", type=float, default=0.0, help="training-only horizontal flip probability (default 0)"
    )
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    v = p.add_argument_group("periodic evaluation")
    v.add_argument("--eval-every", type=int, default=0, help="steps between evaluations (0 = never)")
    v.add_argument("--eval-mode", choices=MODES, default="rn", help="ranking mode validated (release: rn)")
    v.add_argument(
        "--eval-stride",
        type=int,
        nargs=2,
        default=(1, 1),
        metavar=("SKETCH", "PHOTO"),
        help="keep every N-th test sketch / photo (release Sketchy: 20 10)",
    )
    v.add_argument("--eval-metric", default=d.eval_metric, help="metric that selects best.safetensors")
    o = p.add_argument_group("output")
    o.add_argument("--out", required=True, help="output folder (last.pt, log.jsonl, final.safetensors)")
    o.add_argument("--log-every", type=int, default=d.log_every)
    o.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    o.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if it exists")
    o.add_argument(
        "--export-official", action="store_true", help="also write *_checkpoint.pth (release layout)"
    )
    o.add_argument(
        "--exclude", action="append", default=[], metavar="PREFIX", help="keys left out of exports"
    )
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    o.add_argument("-v", "--verbose", action="store_true")
    return p


def _config(a: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        steps=a.steps,
        batch_size=a.batch_size,
        accum_steps=a.accum,
        lr=a.lr,
        weight_decay=a.weight_decay,
        triplet_margin=a.margin,
        triplet_weight=a.triplet_weight,
        relation_weight=a.relation_weight,
        ret_triplet_weight=a.ret_triplet_weight,
        ret_triplet_margin=a.ret_triplet_margin,
        amp=a.amp,
        grad_clip=a.grad_clip,
        freeze=tuple(a.freeze),
        seed=a.seed,
        hflip_prob=a.hflip,
        num_workers=a.workers,
        log_every=a.log_every,
        checkpoint_every=a.checkpoint_every,
        export_official=a.export_official,
        exclude_from_checkpoint=tuple(a.exclude),
        eval_every=a.eval_every,
        eval_metric=a.eval_metric,
    )


def run(a: argparse.Namespace) -> int:
    """Run a parsed ``zse-train`` command; returns the exit code."""
    cfg = _config(a)
    split = resolve_split(a.split) if a.split else None
    data = open_dataset(
        a.layout, "train", a.root, a.sketches, a.photos, split=split, limit_per_class=a.limit_per_class
    )
    print(data.summary())
    device = resolve_device(a.device)
    model = create_model(
        a.model,
        weights=a.weights,
        device="cpu",
        trust=a.trust,
        pretrained_backbone=a.pretrained_backbone,
        seed=a.seed,
    )
    dataset = SampledQuadruplets(
        data, model.cfg, seed=a.seed, epoch_len=a.epoch_len, hflip_prob=cfg.hflip_prob
    )
    meta = {
        "data": data.name,
        "split": split.name if split else None,
        "init_weights": a.weights or ("timm sam_in1k" if a.pretrained_backbone else "random"),
    }
    evaluator = None
    if a.eval_every:
        test = open_dataset(
            a.layout, "test", a.root, a.sketches, a.photos, split=split, limit_per_class=a.limit_per_class
        ).subsample(*a.eval_stride)
        print("validation: " + test.summary())
        evaluator = RetrievalValidator(test, mode=a.eval_mode)
    trainer = Trainer(
        model, dataset, cfg, a.out, device=device, evaluator=evaluator, meta=meta, progress=not a.no_progress
    )
    if a.resume and trainer.resume():
        print(f"resumed at step {trainer.step}")
    result = trainer.fit()
    print(f"done: step {result.step}, losses {result.losses}; outputs in {result.out_dir}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``zse-train``."""
    a = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if a.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return run(a)
    except (KeyboardInterrupt, ZseError) as e:  # typed exit codes, as every zse-* tool
        return report_error("zse-train", e)


if __name__ == "__main__":
    sys.exit(main())
