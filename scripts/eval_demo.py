#!/usr/bin/env python3
"""Evaluate the bundled ``zse_lite`` model on its unseen (and seen) classes; print a Markdown table.

Methods (rows):

* **chance**: the expected metrics of a uniformly random ranking (mean of 200 random rankings);
* **frozen Lite0 s16 pooled**: cosine of globally average-pooled frozen stride-16 features (112-d),
  no training at all;
* **frozen Lite0 full pooled**: cosine of the pooled 1280-d features of the whole ImageNet network;
* **Ret**: cosine of the pre-cross-attention [Ret] tokens (the paper's "Ours-Ret");
* **Ret + RN re-rank top-K**: the first K Ret results re-ordered by the relation network (the app's
  two-stage search; K = 10 and the app's default K = 50), the rest kept in Ret order;
* **RN (exhaustive)**: every sketch-photo pair scored by the relation network ("Ours-RN").

Metrics (``zse_gui.eval.metrics``): mAP@all, Prec@100 (over min(100, R)), and top-1 / top-5 = share
of queries whose first correct photo is at rank 1 / within the first 5.

Usage: ``python scripts/eval_demo.py [--weights models/zse_lite.safetensors] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo_data import add_null_key_flag, lite_config, load_all, split_data  # noqa: E402

from zse_gui.data.collection import SbirData  # noqa: E402
from zse_gui.engine.preprocess import prepare_photo, prepare_sketch  # noqa: E402
from zse_gui.eval.metrics import evaluate_scores, rank_gallery  # noqa: E402
from zse_gui.model import create_model  # noqa: E402
from zse_gui.model.checkpoint import export_state, tensors_sha256  # noqa: E402
from zse_gui.model.lite import (
    BACKBONE_PREFIX,  # noqa: E402
    create_imagenet_classifier,  # noqa: E402
)
from zse_gui.model.network import ZseSbir  # noqa: E402

RERANK_DEPTHS = (10, 50)  # 50 = the app's default re-rank depth


def images(data: SbirData, kind: str, cfg: object) -> torch.Tensor:
    """All sketches or photos of ``data``, preprocessed as the app does: [N, 3, S, S]."""
    if kind == "sketch":
        arrs = [prepare_sketch(data.load_sketch(i), cfg).tensor for i in range(len(data.sketches))]  # type: ignore[arg-type]
    else:
        arrs = [prepare_photo(data.load_photo(i), cfg).tensor for i in range(len(data.photos))]  # type: ignore[arg-type]
    return torch.from_numpy(np.stack(arrs))


@torch.no_grad()
def batched(fn: object, x: torch.Tensor, bs: int = 32) -> torch.Tensor:
    return torch.cat([fn(x[i : i + bs]) for i in range(0, len(x), bs)])  # type: ignore[operator]


def _cos(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    a = nn.functional.normalize(a.float(), dim=-1)
    b = nn.functional.normalize(b.float(), dim=-1)
    return (a @ b.T).numpy()


@torch.no_grad()
def rn_scores(
    model: ZseSbir, sk_tok: torch.Tensor, ph_tok: torch.Tensor, pairs: np.ndarray, bs: int = 256
) -> np.ndarray:
    """Relation logits of (query, gallery) index pairs [N, 2] -> [N]."""
    out = np.empty(len(pairs), np.float32)
    for s in range(0, len(pairs), bs):
        p = pairs[s : s + bs]
        cross = model.forward_cross(sk_tok[p[:, 0]], ph_tok[p[:, 1]])
        out[s : s + len(p)] = model.forward_relation(cross.sketch, cross.photo).logit[:, 0].numpy()
    return out


def summarize(scores: np.ndarray, ql: np.ndarray, gl: np.ndarray) -> dict[str, float]:
    """mAP@all, Prec@100, top-1 and top-5 of the first correct photo."""
    rep = evaluate_scores(scores, ql, gl, prec_ks=(100,))
    rel = gl[rank_gallery(scores)] == ql[:, None]  # [Q, G]
    first = np.where(rel.any(1), rel.argmax(1), 10**9)
    return {
        "map_all": rep.metrics["map_all"],
        "prec_100": rep.metrics["prec_100"],
        "top1": float((first < 1).mean()),
        "top5": float((first < 5).mean()),
    }


def chance(ql: np.ndarray, gl: np.ndarray, n: int = 200, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    runs = [summarize(rng.random((len(ql), len(gl))), ql, gl) for _ in range(n)]
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def rerank_scores(ret: np.ndarray, logits_of: object, depth: int) -> np.ndarray:
    """Score matrix whose ranking is: top-``depth`` by Ret re-ordered by RN logit, then the rest by Ret."""
    order = rank_gallery(ret)[:, :depth]  # [Q, K]
    q = np.repeat(np.arange(len(ret)), order.shape[1])
    pairs = np.stack([q, order.reshape(-1)], 1)
    logits = logits_of(pairs).reshape(order.shape)  # type: ignore[operator]
    out = ret.astype(np.float64).copy()  # cosine in [-1, 1]
    # Re-scored items sit above every other item (offset), ordered by their logit.
    np.put_along_axis(out, order, 1e3 + logits.astype(np.float64), axis=1)
    return out


def evaluate_model(
    model: ZseSbir, data: SbirData, with_baselines: bool = True, rn: bool = True, exhaustive: bool = True
) -> dict[str, dict[str, float]]:
    """Every method's metrics on ``data`` (queries = its sketches, gallery = its photos)."""
    cfg = model.cfg
    sk, ph = images(data, "sketch", cfg), images(data, "photo", cfg)
    ql, gl = data.sketch_labels(), data.photo_labels()
    rows: dict[str, dict[str, float]] = {}
    model.eval()
    if with_baselines:
        rows["chance (random ranking)"] = chance(ql, gl)
        pool = lambda x: model.sa.features(x).mean((2, 3))  # noqa: E731
        rows["frozen Lite0 stride-16, pooled (112-d)"] = summarize(
            _cos(batched(pool, sk), batched(pool, ph)), ql, gl
        )
        full = create_imagenet_classifier()
        fpool = lambda x: full.forward_head(full.forward_features(x), pre_logits=True)  # noqa: E731
        rows["frozen Lite0 full network, pooled (1280-d)"] = summarize(
            _cos(batched(fpool, sk), batched(fpool, ph)), ql, gl
        )
    tok = lambda x: model.forward_tokens(x).tokens  # noqa: E731
    sk_tok, ph_tok = batched(tok, sk), batched(tok, ph)
    ret = _cos(sk_tok[:, 0], ph_tok[:, 0])
    rows["zse_lite Ret"] = summarize(ret, ql, gl)
    if rn:

        def logits_of(pairs: np.ndarray) -> np.ndarray:
            return rn_scores(model, sk_tok, ph_tok, pairs)

        for depth in sorted({min(k, len(gl)) for k in RERANK_DEPTHS}):
            rows[f"zse_lite Ret + RN re-rank top-{depth}"] = summarize(
                rerank_scores(ret, logits_of, depth), ql, gl
            )
        if exhaustive:
            all_pairs = np.stack(
                np.meshgrid(np.arange(len(ql)), np.arange(len(gl)), indexing="ij"), -1
            ).reshape(-1, 2)
            rows["zse_lite RN (exhaustive)"] = summarize(
                logits_of(all_pairs).reshape(len(ql), len(gl)), ql, gl
            )
    return rows


def table(rows: dict[str, dict[str, float]], title: str) -> str:
    lines = [f"**{title}**", "", "| method | mAP@all | Prec@100 | top-1 | top-5 |", "|---|---|---|---|---|"]
    for name, m in rows.items():
        lines.append(
            f"| {name} | {m['map_all']:.3f} | {m['prec_100']:.3f} | {m['top1']:.3f} | {m['top5']:.3f} |"
        )
    return "\n".join(lines)


def trained_tensors_sha256(model: nn.Module) -> str:
    """Digest of the model's trained tensors (the frozen backbone excluded), as the header of the
    file ``save_safetensors`` would write for it has it."""
    return tensors_sha256(export_state(model, (BACKBONE_PREFIX,)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="default", help="weight file (default: the bundled one)")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    ap.add_argument("--no-baselines", action="store_true")
    add_null_key_flag(ap)
    ap.add_argument("--no-exhaustive", action="store_true", help="skip exhaustive RN (every pair)")
    ap.add_argument(
        "--sets", nargs="+", choices=("unseen", "seen_heldout"), default=["unseen", "seen_heldout"],
        help="which query sets to evaluate",
    )  # fmt: skip
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    t0 = time.perf_counter()
    model = create_model(lite_config(args.ca_null_key), weights=args.weights)
    parts = split_data(load_all())
    out: dict[str, object] = {
        "weights": str(args.weights),
        "sha256": model.weights_info.sha256,
        # what train_demo --metrics-from checks: the evaluated tensors, whatever file holds them
        "tensors_sha256": trained_tensors_sha256(model),
    }
    for key, title in (
        ("unseen", "unseen classes (zero-shot)"),
        ("seen_heldout", "seen classes, held-out sketches"),
    ):
        if key not in args.sets:
            continue
        d = parts[key]
        rows = evaluate_model(
            model, d, with_baselines=not args.no_baselines, exhaustive=not args.no_exhaustive
        )
        out[key] = {
            "rows": rows,
            "n_queries": len(d.sketches),
            "n_gallery": len(d.photos),
            "n_classes": len(d.classes),
        }
        print(
            table(
                rows,
                f"{title}: {len(d.sketches)} sketch queries, {len(d.photos)} photos, "
                f"{len(d.classes)} classes",
            )
        )
        print()
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    print(f"evaluation wall time {out['wall_s']} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
