"""Explanation quality of a ``zse_lite`` model where the truth is known.

Held-out full-frame photos: the photo stamps of the **unseen** classes of the demo gallery
(``ZSE_LITE_UNSEEN``; never read by training), each cut out by its alpha channel (Debian package
``tuxpaint-stamps-default``) and pasted at a random place and size (55-90 % of the frame) on a
random crop of one of scikit-image's bundled sample photographs (``BENCH_BACKGROUNDS`` in
``scripts/demo_data.py``; training composites use a disjoint set). The alpha is the foreground mask.

1. **Correspondence accuracy.** The pseudo-sketch of a photo is its own edge map (Canny,
   smooth random displacement of about 1 px, 2-3 px strokes; ``zse_gui.train.geometry``) on the
   same 224 px grid, once under the identity and once under a random known transform (scale
   0.7-1.0, rotation +-15 degrees, shift +-10 %, horizontal flip half the time). The sketch patch
   centre q has its true partner at ``M^-1 q``. Sketch and photo go into the model as they are
   (the app's ink crop of sketches is skipped: it would move the grid). For every ink patch with a
   partner inside the photo, the matched photo patch is the argmax of the sketch-stream attention
   ([Ret] removed, as the app does) of the head mean and of each head. PCK@t = share of matches
   whose photo patch centre is within t x 224 px of the truth; "top-15" = the 15 strongest such
   matches (ink first, by attention weight: the lines the app draws); random = the expected PCK of
   a uniformly random photo patch for the same points.
2. **Sinks.** Per pair, the share of ink matches on its 5 most-chosen photo patches, and on
   background patches (under 25 % foreground by the alpha mask); for reference, the share of ink
   patches whose *true* partner is a background patch (edge maps also trace the background).
3. **Faithfulness (deletion).** Photo patches are painted white cumulatively (0, 4, ..., 40 of
   196) in three orders: the explanation's (attention mass the ink patches put on each photo
   patch, head mean), random, and the photo's [Ret] attention (head mean); the relation score is
   recomputed after each step. Reported: mean score over the curve (lower = falls faster), the
   mean drop, and its ratio to the random order's.
   Readouts side by side (``READOUT_VARIANTS``, head mean): each readout's lines and strengths
   (``zse_gui.engine.explain.readout_maps``; the gradient readouts with one backward pass per pair,
   ``zse_gui.engine.relevance``) get PCK (all ink, top 15), coverage (ink patches that keep a
   line), sink and background shares, and a deletion curve in their own order.
4. **Retrieval on full-frame photos.** Gallery: every unseen-class photo composited once (seeded);
   queries: the Quick, Draw! doodles of those classes from ``../shared/data/quickdraw`` (skipped
   when absent), preprocessed as the app does. mAP@all of Ret and of the two-stage search (top 10
   and top 50 re-ranked by the relation network), with chance.

Run: ``nice .venv/bin/python -m benchmarks.explain_quality [--weights FILE] [--label NAME]``; writes
``docs/explanations_<label>.json`` and, with ``--write-doc``, the ``<label>`` section of
``docs/explanations.md``.
"""

from __future__ import annotations

from benchmarks._threads import early_threads

early_threads()  # before numpy and torch start their thread pools

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from demo_data import (  # noqa: E402
    BENCH_BACKGROUNDS,
    GALLERY,
    QUICKDRAW,
    STAMPS,
    TRAIN_BACKGROUNDS,
    add_null_key_flag,
    lite_config,
    load_backgrounds,
    load_stamp,
)

from benchmarks._report import machine_line  # noqa: E402
from zse_gui.data.splits import canonical_class  # noqa: E402
from zse_gui.engine.explain import (  # noqa: E402
    MASK_FILL,
    correspondences,
    correspondences_and_strength,
    line_photo_order,
    patch_ink,
    strip_ret,
    top_pairs,
)
from zse_gui.engine.preprocess import normalize, prepare_photo  # noqa: E402
from zse_gui.engine.relevance import attention_relevance, pair_relevance  # noqa: E402
from zse_gui.eval.explain_metrics import (  # noqa: E402
    background_share,
    deletion_summary,
    pck,
    random_pck,
    sink_share,
)
from zse_gui.model import create_model  # noqa: E402
from zse_gui.model.config import ZseConfig  # noqa: E402
from zse_gui.model.lite import ZSE_LITE_UNSEEN  # noqa: E402
from zse_gui.model.network import ZseSbir  # noqa: E402
from zse_gui.train.composite import composite  # noqa: E402
from zse_gui.train.geometry import (  # noqa: E402
    edge_sketch,
    make_transform,
    patch_centres_px,
    patch_targets,
    random_transform,
    warp_sketch,
)

DOC = ROOT / "docs" / "explanations.md"
THRESHOLDS = (0.05, 0.1)
TOP_N = 15  # lines the app draws by default (CorrespondenceSettings.top_k)
MASK_STEPS = tuple(range(0, 41, 4))  # photo patches masked, cumulative
FG_MIN = 0.25  # a photo patch is foreground when at least this share of its pixels is
# Head-mean readouts compared side by side: name -> (engine readout, keep only mutual matches,
# lines from the argmax of the strength map instead of the readout's match map).
READOUT_VARIANTS: dict[str, tuple[str, bool, bool]] = {
    "attention": ("attention", False, False),
    "mutual": ("attention", True, False),
    "dual_softmax": ("dual_softmax", False, False),
    "sinkhorn": ("sinkhorn", False, False),
    "dual_sinkhorn": ("dual_sinkhorn", False, False),
    "consensus": ("consensus", False, False),
    "gradient": ("gradient", False, False),
    "gradient_argmax": ("gradient", False, True),
}


# What a masked photo patch is painted with in the deletion curves: white (the app's masking test;
# the sketch domain's "nothing there"), or the photo's mean colour (``--mask-fill mean``), which
# leaves no white shape behind where a run of masked patches follows the object's outline.
MASK_FILLS = ("white", "mean")


def mask_value(photo: np.ndarray, fill: str) -> np.ndarray | int:
    """What a masked patch of ``photo`` is painted with for ``fill`` (one of ``MASK_FILLS``)."""
    return MASK_FILL if fill == "white" else photo.reshape(-1, 3).mean(0).round().astype(np.uint8)


OCC = "dual_sinkhorn_occlusion"  # the default readout's lines ranked by a measured masking drop


def readout_lines(
    variant: str, sm: np.ndarray, pm: np.ndarray, ink: np.ndarray, relevance: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(photo patch per sketch patch [P], strength [P], kept [P] bool, strength map [P, P]) of one
    readout variant on the head-mean maps."""
    readout, mutual_only, strength_argmax = READOUT_VARIANTS[variant]
    corr, strength_map = correspondences_and_strength(sm, pm, ink, None, readout, relevance)
    s2p, score = corr.sketch_to_photo, corr.sketch_score.astype(np.float64)
    if strength_argmax:
        s2p = np.argmax(strength_map, axis=1).astype(np.int64)
        score = strength_map[np.arange(len(s2p)), s2p]
    kept = ink & (corr.mutual if mutual_only else True)
    return s2p, score, np.asarray(kept, bool), strength_map


def unseen_photos(limit: int | None = None, offset: int = 0) -> list[dict[str, str]]:
    """Manifest entries of the gallery photos of the unseen classes, sorted by file name
    (``limit`` of them from ``offset`` on)."""
    files = json.loads((GALLERY / "manifest.json").read_text())["files"]
    unseen = {canonical_class(c) for c in ZSE_LITE_UNSEEN}
    rows = sorted(
        (f for f in files if f.get("quickdraw") and canonical_class(f["quickdraw"]) in unseen),
        key=lambda f: f["file"],
    )
    rows = rows[offset:]
    return rows if limit is None else rows[:limit]


def build_photo(
    entry: dict[str, str], bgs: list[np.ndarray], seed: int, cfg: ZseConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(model-input photo [S, S, 3] uint8, foreground mask [S, S] bool) of one composite."""
    rng = np.random.default_rng([seed, *entry["file"].encode()])
    bg = bgs[int(rng.integers(0, len(bgs)))]
    rgb, mask = composite(load_stamp(entry["source"]), bg, rng)
    display = prepare_photo(rgb, cfg).display
    s = cfg.img_size
    m = cv2.resize(mask.astype(np.uint8), (s, s), interpolation=cv2.INTER_NEAREST).astype(bool)
    return display, m


@torch.no_grad()
def pair_outputs(model: ZseSbir, sketch: np.ndarray, photo: np.ndarray) -> dict[str, Any]:
    cfg = model.cfg
    sk = torch.from_numpy(normalize(sketch, cfg))[None]
    ph = torch.from_numpy(normalize(photo, cfg))[None]
    out = model.forward_pair(sk, ph, return_attn=True)
    assert out.cross.sketch_attn is not None and out.cross.photo_attn is not None
    assert out.photo_tokens.ret_attn is not None
    return {
        "sk_attn": strip_ret(out.cross.sketch_attn[0].numpy()),  # [h, P, P]
        "ph_attn": strip_ret(out.cross.photo_attn[0].numpy()),
        "ret_attn_photo": out.photo_tokens.ret_attn[0].numpy().mean(0),  # [P]
        "sk_tokens": out.sketch_tokens.tokens,
        "ph_tokens": out.photo_tokens.tokens,
        "score": float(out.relation.score[0, 0]),
    }


@torch.no_grad()
def occlusion_logits(
    model: ZseSbir, sk_tokens: torch.Tensor, photo: np.ndarray, cells: np.ndarray
) -> np.ndarray:
    """Relation logits with nothing masked (first) and with each photo patch of ``cells`` painted
    ``MASK_FILL`` on its own: [1 + len(cells)]."""
    cfg = model.cfg
    g, ps = cfg.grid_size, cfg.patch_size
    imgs = [photo]
    for cell in cells:
        img = photo.copy()
        r, c = divmod(int(cell), g)
        img[r * ps : (r + 1) * ps, c * ps : (c + 1) * ps] = MASK_FILL
        imgs.append(img)
    x = torch.from_numpy(np.stack([normalize(i, cfg) for i in imgs]))
    out = []
    for s in range(0, len(x), 16):
        ph = model.forward_tokens(x[s : s + 16]).tokens
        cross = model.forward_cross(sk_tokens.expand(len(ph), -1, -1), ph)
        out.append(model.forward_relation(cross.sketch, cross.photo).logit[:, 0])
    return torch.cat(out).numpy()


@torch.no_grad()
def deletion_curves(
    model: ZseSbir,
    sk_tokens: torch.Tensor,
    photo: np.ndarray,
    orders: dict[str, np.ndarray],
    fill: str = "white",
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(relation scores, relation logits) after masking the first k photo patches of each order,
    k in MASK_STEPS. The logits show what the sigmoid hides where the score sits near 1."""
    cfg = model.cfg
    g, ps = cfg.grid_size, cfg.patch_size
    imgs, keys = [photo], []
    for name, order in orders.items():
        for k in MASK_STEPS[1:]:
            img = photo.copy()
            for cell in order[:k]:
                r, c = divmod(int(cell), g)
                img[r * ps : (r + 1) * ps, c * ps : (c + 1) * ps] = mask_value(photo, fill)
            imgs.append(img)
            keys.append(name)
    x = torch.from_numpy(np.stack([normalize(i, cfg) for i in imgs]))
    scores, logits = [], []
    for s in range(0, len(x), 16):
        ph = model.forward_tokens(x[s : s + 16]).tokens
        sk = sk_tokens.expand(len(ph), -1, -1)
        cross = model.forward_cross(sk, ph)
        rel = model.forward_relation(cross.sketch, cross.photo)
        scores.append(rel.score[:, 0])
        logits.append(rel.logit[:, 0])
    n = len(MASK_STEPS) - 1
    out: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] = ({}, {})
    for d, v in zip(out, (torch.cat(scores).numpy(), torch.cat(logits).numpy()), strict=True):
        for j, name in enumerate(orders):
            d[name] = np.concatenate([[v[0]], v[1 + j * n : 1 + (j + 1) * n]])
    return out


def correspondence_benchmark(
    model: ZseSbir,
    entries: list[dict[str, str]],
    bgs: list[np.ndarray],
    seed: int,
    faith_pairs: int,
    occlusion_pool: int = 0,
    mask_fill: str = "white",
) -> dict[str, Any]:
    cfg = model.cfg
    g, ps, s = cfg.grid_size, cfg.patch_size, cfg.img_size
    centres = patch_centres_px(g, ps)
    heads = cfg.ca_heads
    keys = ["mean", *(f"head{h}" for h in range(heads))]
    pred: dict[str, dict[str, list[np.ndarray]]] = {k: {"all": [], "top": []} for k in keys}
    true_all: list[np.ndarray] = []
    true_top: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    by_kind: dict[str, dict[str, list[np.ndarray]]] = {
        kind: {"pred": [], "true": []} for kind in ("identity", "transformed", "flipped", "unflipped")
    }
    sinks, bg_shares, bg_true, n_ink = [], [], [], []
    curves: dict[str, list[np.ndarray]] = {"explanation": [], "random": [], "ret_attention": []}
    curves.update({f"{v}_lines": [] for v in READOUT_VARIANTS})
    curves["gradient_mass"] = []
    logit_curves: dict[str, list[np.ndarray]] = {}  # the same curves on the relation logit
    ro: dict[str, dict[str, list[Any]]] = {
        v: {k: [] for k in ("pred", "true", "pred_top", "true_top", "kept", "ink", "sink", "bg", "side")}
        for v in READOUT_VARIANTS
    }
    ro_time: dict[str, list[float]] = {v: [] for v in READOUT_VARIANTS}
    # Control: every ink patch matched to the photo patch at its own position (what a pure
    # position prior would score; right by construction on identity pairs).
    same_pos: dict[str, dict[str, list[np.ndarray]]] = {}
    if occlusion_pool > 0:
        ro[OCC] = {k: [] for k in ro["attention"]}
        ro_time[OCC] = []
        curves[f"{OCC}_lines"] = []
    grad_time: list[float] = []
    rng_order = np.random.default_rng(seed + 1)
    n_pairs = 0
    for idx, entry in enumerate(entries):
        photo, mask = build_photo(entry, bgs, seed, cfg)
        fg = mask.reshape(g, ps, g, ps).mean(axis=(1, 3)).reshape(-1) >= FG_MIN  # [P]
        for kind in ("identity", "transformed"):
            rng = np.random.default_rng([seed, idx, 0 if kind == "identity" else 1])
            t = make_transform(s) if kind == "identity" else random_transform(s, rng)
            sketch = warp_sketch(edge_sketch(photo, rng), t)
            ink = patch_ink(sketch, g, ps)
            targets = patch_targets(t, ink, g, ps)
            valid = np.isfinite(targets).all(1)
            if valid.sum() < 5:
                continue
            n_pairs += 1
            side = "identity" if kind == "identity" else ("flipped" if t.flip else "unflipped")
            o = pair_outputs(model, sketch, photo)
            sk_attn, ph_attn = o["sk_attn"], o["ph_attn"]
            maps = {"mean": (sk_attn.mean(0), ph_attn.mean(0))}
            maps.update({f"head{h}": (sk_attn[h], ph_attn[h]) for h in range(heads)})
            true_all.append(targets[valid])
            t_g = time.perf_counter()
            sk_rel, ph_rel = attention_relevance(model, o["sk_tokens"], o["ph_tokens"])
            relevance = pair_relevance(sk_rel, ph_rel)
            grad_time.append(time.perf_counter() - t_g)
            lines: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
            sp = same_pos.setdefault(side, {"pred": [], "true": []})
            sp["pred"].append(centres[np.flatnonzero(ink & valid)])
            sp["true"].append(targets[ink & valid])
            for v in READOUT_VARIANTS:
                t_r = time.perf_counter()
                lines[v] = readout_lines(v, *maps["mean"], ink, relevance)
                ro_time[v].append(time.perf_counter() - t_r)
                s2p, score, kept, _ = lines[v]
                rows = kept & valid
                r = ro[v]
                r["pred"].append(centres[s2p[rows]])
                r["true"].append(targets[rows])
                r["side"].append(side)
                cand = np.flatnonzero(rows)
                top = cand[np.lexsort((cand, -score[cand]))][:TOP_N]
                r["pred_top"].append(centres[s2p[top]])
                r["true_top"].append(targets[top])
                r["kept"].append(int(rows.sum()))
                r["ink"].append(int((ink & valid).sum()))
                if (ink & kept).any():
                    r["sink"].append(sink_share(s2p[ink & kept], 5))
                    r["bg"].append(background_share(s2p[ink & kept], fg))
            if occlusion_pool > 0:
                # the default readout's lines, ranked by the measured drop of the relation logit
                # when the matched photo patch is masked (pool: its strongest lines)
                t_r = time.perf_counter()
                s2p, score, kept, smap = lines["dual_sinkhorn"]
                rows = kept & valid
                cand = np.flatnonzero(rows)
                pool = cand[np.lexsort((cand, -score[cand]))][:occlusion_pool]
                cells = np.unique(s2p[pool])
                logits = occlusion_logits(model, o["sk_tokens"], photo, cells)
                cell_drop = np.zeros(g * g)
                cell_drop[cells] = logits[0] - logits[1:]
                ro_time[OCC].append(time.perf_counter() - t_r)
                top = pool[np.lexsort((pool, -cell_drop[s2p[pool]]))][:TOP_N]
                r = ro[OCC]
                r["pred"].append(centres[s2p[rows]])
                r["true"].append(targets[rows])
                r["side"].append(side)
                r["pred_top"].append(centres[s2p[top]])
                r["true_top"].append(targets[top])
                r["kept"].append(int(rows.sum()))
                r["ink"].append(int((ink & valid).sum()))
                r["sink"].append(sink_share(s2p[ink & kept], 5))
                r["bg"].append(background_share(s2p[ink & kept], fg))
                occ_order = np.lexsort((np.arange(g * g), -smap[ink & kept].sum(0), -cell_drop))
            for name, (sm, pm) in maps.items():
                corr = correspondences(sm, pm, ink & valid, None)
                s2p = corr.sketch_to_photo
                pred[name]["all"].append(centres[s2p[valid]])
                top = top_pairs(corr, TOP_N)
                top = top[(ink & valid)[top]]
                pred[name]["top"].append(centres[s2p[top]])
                true_top[name].append(targets[top])
                if name == "mean":
                    by_kind[kind]["pred"].append(centres[s2p[valid]])
                    by_kind[kind]["true"].append(targets[valid])
                    if kind == "transformed":  # flipped or not: does a match follow the content?
                        by_kind[side]["pred"].append(centres[s2p[valid]])
                        by_kind[side]["true"].append(targets[valid])
                    ink_matches = s2p[ink]
                    sinks.append(sink_share(ink_matches, 5))
                    bg_shares.append(background_share(ink_matches, fg))
                    true_cells = np.clip(targets[valid] // ps, 0, g - 1).astype(np.int64) @ np.array(
                        [1, g]
                    )  # (x, y) -> row-major id
                    bg_true.append(background_share(true_cells, fg))
                    n_ink.append(int(ink.sum()))
            if kind == "identity" and len(curves["random"]) < faith_pairs:
                sm = sk_attn.mean(0)
                mass = sm[ink].sum(0)  # attention the ink patches put on each photo patch
                orders = {
                    "explanation": np.lexsort((np.arange(len(mass)), -mass)),
                    "random": rng_order.permutation(len(mass)),
                    "ret_attention": np.lexsort((np.arange(len(mass)), -o["ret_attn_photo"])),
                }
                for v, (s2p, score, kept, smap) in lines.items():
                    orders[f"{v}_lines"] = line_photo_order(s2p, score, ink & kept, smap)
                rel_mass = relevance[ink].sum(0)
                orders["gradient_mass"] = np.lexsort((np.arange(len(rel_mass)), -rel_mass))
                if occlusion_pool > 0:
                    orders[f"{OCC}_lines"] = occ_order
                by_score, by_logit = deletion_curves(model, o["sk_tokens"], photo, orders, mask_fill)
                for name in by_score:
                    curves[name].append(by_score[name])
                    logit_curves.setdefault(name, []).append(by_logit[name])
    ta = np.concatenate(true_all)
    res: dict[str, Any] = {"pairs": n_pairs, "photos": len(entries), "ink_matches": int(len(ta))}
    acc: dict[str, Any] = {}
    for name in keys:
        pa = np.concatenate(pred[name]["all"])
        pt, tt = np.concatenate(pred[name]["top"]), np.concatenate(true_top[name])
        err = np.linalg.norm(pa - ta, axis=1) / s
        acc[name] = {
            "all": pck(pa, ta, THRESHOLDS, s),
            "top": pck(pt, tt, THRESHOLDS, s),
            "median_error": float(np.median(err)),
        }
    res["pck"] = acc
    res["pck_random"] = {
        "all": random_pck(ta, centres, THRESHOLDS, s),
        "top": random_pck(np.concatenate(true_top["mean"]), centres, THRESHOLDS, s),
    }
    res["pck_mean_by_kind"] = {
        kind: pck(np.concatenate(v["pred"]), np.concatenate(v["true"]), THRESHOLDS, s)
        for kind, v in by_kind.items()
        if v["pred"]
    }
    res["sinks"] = {
        "top5_share": float(np.mean(sinks)),
        "background_share": float(np.mean(bg_shares)),
        "background_share_true": float(np.mean(bg_true)),
        "ink_patches_mean": float(np.mean(n_ink)),
    }
    res["same_position_by_kind"] = {
        side: pck(np.concatenate(v["pred"]), np.concatenate(v["true"]), THRESHOLDS, s)
        for side, v in sorted(same_pos.items())
    }
    res["readouts"] = {}
    for v, r in ro.items():
        pa, tr = np.concatenate(r["pred"]), np.concatenate(r["true"])
        pt, tt = np.concatenate(r["pred_top"]), np.concatenate(r["true_top"])
        res["readouts"][v] = {
            "all": pck(pa, tr, THRESHOLDS, s) if len(pa) else {t: float("nan") for t in THRESHOLDS},
            "top": pck(pt, tt, THRESHOLDS, s) if len(pt) else {t: float("nan") for t in THRESHOLDS},
            "coverage": float(np.sum(r["kept"]) / max(1, np.sum(r["ink"]))),
            "lines_per_pair": float(np.mean(r["kept"])),
            "top5_share": float(np.mean(r["sink"])) if r["sink"] else float("nan"),
            "background_share": float(np.mean(r["bg"])) if r["bg"] else float("nan"),
            "readout_ms": 1000 * float(np.median(ro_time[v])),
            "all_by_kind": {
                side: pck(
                    np.concatenate([x for x, k in zip(r["pred"], r["side"], strict=True) if k == side]),
                    np.concatenate([x for x, k in zip(r["true"], r["side"], strict=True) if k == side]),
                    THRESHOLDS,
                    s,
                )
                for side in sorted(set(r["side"]))
            },
        }
    res["gradient_backward_ms"] = 1000 * float(np.median(grad_time))
    res["deletion"] = {
        "pairs": len(curves["random"]),
        "mask_steps": list(MASK_STEPS),
        **deletion_summary({k: np.stack(v) for k, v in curves.items()}),
        "mean_curves": _mean_curves(curves),
    }
    res["deletion_logit"] = {
        **deletion_summary({k: np.stack(v) for k, v in logit_curves.items()}),
        "mean_curves": _mean_curves(logit_curves),
    }
    return res


@torch.no_grad()
def _mean_curves(curves: dict[str, list[np.ndarray]]) -> dict[str, list[float]]:
    """Per order, the mean deletion curve over pairs, rounded for the JSON."""
    return {k: [round(float(x), 4) for x in np.stack(v).mean(0)] for k, v in curves.items()}


def retrieval_benchmark(model: ZseSbir, bgs: list[np.ndarray], seed: int) -> dict[str, Any] | None:
    """mAP@all of Ret and two-stage search: unseen doodles against their classes' composited photos."""
    if not QUICKDRAW.is_dir():
        return None
    from demo_data import load_all, split_data
    from eval_demo import _cos, batched, chance, images, rerank_scores, rn_scores, summarize

    cfg = model.cfg
    unseen = split_data(load_all())["unseen"]  # the doodles, read as scripts/eval_demo.py does
    names = [canonical_class(c) for c in unseen.classes]
    entries = [e for e in unseen_photos() if canonical_class(e["quickdraw"]) in names]
    photos = np.stack([normalize(build_photo(e, bgs, seed + 7, cfg)[0], cfg) for e in entries])
    gl = np.array([names.index(canonical_class(e["quickdraw"])) for e in entries])
    ql_a = unseen.sketch_labels()
    sk = images(unseen, "sketch", cfg)
    tok = lambda x: model.forward_tokens(x).tokens  # noqa: E731
    sk_tok = batched(tok, sk)
    ph_tok = batched(tok, torch.from_numpy(photos))
    ret = _cos(sk_tok[:, 0], ph_tok[:, 0])

    def logits_of(pairs: np.ndarray) -> np.ndarray:
        return rn_scores(model, sk_tok, ph_tok, pairs)

    rows = {"chance": chance(ql_a, gl), "Ret": summarize(ret, ql_a, gl)}
    for depth in (10, 50):
        rows[f"Ret + RN top-{depth}"] = summarize(
            rerank_scores(ret, logits_of, min(depth, len(gl))), ql_a, gl
        )
    return {"classes": len(set(gl.tolist())), "queries": len(ql_a), "photos": len(entries), "rows": rows}


def _ratio(r: float, unit: str = "") -> str:
    """A deletion ratio; undefined (n/a) when the random order does not lower the score at all."""
    return "n/a (random: no drop)" if not np.isfinite(r) else f"{r:.2f}{unit}"


def markdown(label: str, weights: str, res: dict[str, Any]) -> str:
    c = res["correspondence"]
    fill = "the photo's mean colour" if res.get("mask_fill") == "mean" else "white"
    lines = [
        f"### {label}",
        "",
        f"Weights `{weights}` (sha256 `{res['sha256'][:16]}...`); {c['photos']} held-out full-frame photos, "
        f"{c['pairs']} sketch-photo pairs (identity + one random transform each), {c['ink_matches']} ink "
        f"matches with a known partner; seed {res['seed']}; {res['wall_s']:.0f} s on {res['machine']}.",
        "",
        "| matches | PCK@0.05 | PCK@0.1 | median error (of 224 px) |",
        "|---|---|---|---|",
    ]
    for name, v in c["pck"].items():
        lines.append(
            f"| {name}, all ink | {v['all'][0.05]:.3f} | {v['all'][0.1]:.3f} | {v['median_error']:.3f} |"
        )
        lines.append(f"| {name}, top-{TOP_N} | {v['top'][0.05]:.3f} | {v['top'][0.1]:.3f} | |")
    r = c["pck_random"]
    lines.append(f"| random patch, all ink | {r['all'][0.05]:.3f} | {r['all'][0.1]:.3f} | |")
    lines.append(f"| random patch, top-{TOP_N} | {r['top'][0.05]:.3f} | {r['top'][0.1]:.3f} | |")
    k = c["pck_mean_by_kind"]
    lines += [
        "",
        f"Head mean, all ink, by pair kind: identity PCK@0.1 {k['identity'][0.1]:.3f}, "
        f"transformed {k['transformed'][0.1]:.3f}"
        + (
            f" (mirrored {k['flipped'][0.1]:.3f}, not mirrored {k['unflipped'][0.1]:.3f})."
            if "flipped" in k and "unflipped" in k
            else "."
        ),
        "",
        f"Sinks (head mean, per pair, mean over pairs): the 5 most-chosen photo patches take "
        f"**{c['sinks']['top5_share']:.1%}** of ink matches; {c['sinks']['background_share']:.1%} land on "
        f"background patches, where {c['sinks']['background_share_true']:.1%} of the true partners lie "
        f"({c['sinks']['ink_patches_mean']:.0f} ink patches per sketch on average).",
        "",
        f"Deletion ({c['deletion']['pairs']} identity pairs, masking {MASK_STEPS[1]}..{MASK_STEPS[-1]} "
        f"photo patches painted {fill}; "
        "the relation score, and the relation logit before the sigmoid, which shows "
        "changes the score hides where it sits near 1):",
        "",
        "| order | mean score over the curve | mean drop | drop / random's | mean logit drop | "
        "logit drop / random's |",
        "|---|---|---|---|---|---|",
    ]
    dl = c.get("deletion_logit", {})  # absent in results written before the logit curves
    for name in c["deletion"]:
        d = c["deletion"][name]
        if not isinstance(d, dict) or "auc" not in d:
            continue
        lg = dl.get(name, {})
        lg_cells = "not measured | not measured"
        if lg:
            lg_cells = f"{lg['drop_area']:.3f} | {_ratio(lg['ratio_vs_random'])}"
        lines.append(
            f"| {name} | {d['auc']:.4f} | {d['drop_area']:.4f} | {_ratio(d['ratio_vs_random'])} | "
            f"{lg_cells} |"
        )
    if "readouts" in c:
        lines += [
            "",
            f"Readouts side by side (head mean; `*_lines` deletion = photo patches in the readout's own "
            f"order: those its lines end on by summed strength, then by its map's mass; one backward "
            f"pass for the gradient readouts took {c['gradient_backward_ms']:.0f} ms, median):",
            "",
            f"| readout | PCK@0.05 all | PCK@0.1 all | PCK@0.05 top-{TOP_N} | PCK@0.1 top-{TOP_N} | coverage "
            "| top-5 sink share | background share | deletion / random (score; logit) | readout ms |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, v in c["readouts"].items():
            d = c["deletion"].get(f"{name}_lines", {})
            lg = c.get("deletion_logit", {}).get(f"{name}_lines", {})
            ratios = f"{_ratio(d.get('ratio_vs_random', float('nan')), 'x')}; " + (
                _ratio(lg["ratio_vs_random"], "x") if lg else "not measured"
            )
            lines.append(
                f"| {name} | {v['all'][0.05]:.3f} | {v['all'][0.1]:.3f} | {v['top'][0.05]:.3f} | "
                f"{v['top'][0.1]:.3f} | {v['coverage']:.1%} | {v['top5_share']:.1%} | "
                f"{v['background_share']:.1%} | {ratios} | "
                f"{v['readout_ms']:.1f} |"
            )
    kinds = {k: v["all_by_kind"] for k, v in c.get("readouts", {}).items() if "all_by_kind" in v}
    if kinds:
        lines += [
            "",
            "PCK@0.1 of all ink matches per readout, by pair kind (identity; transformed and mirrored; "
            "transformed, not mirrored):",
            "",
            "| readout | identity | mirrored | not mirrored |",
            "|---|---|---|---|",
        ]
        rows = list(kinds.items())
        if c.get("same_position_by_kind"):
            rows.append(("control: each patch to its own position", c["same_position_by_kind"]))
        for name, k in rows:
            cells = [
                f"{k[side][0.1]:.3f}" if side in k else "-" for side in ("identity", "flipped", "unflipped")
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    ret = res.get("retrieval")
    if ret:
        lines += [
            "",
            f"Retrieval on full-frame composites ({ret['classes']} unseen classes, {ret['queries']} doodles, "
            f"{ret['photos']} photos):",
            "",
            "| method | mAP@all | Prec@100 | top-1 | top-5 |",
            "|---|---|---|---|---|",
        ]
        for name, m in ret["rows"].items():
            lines.append(
                f"| {name} | {m['map_all']:.3f} | {m['prec_100']:.3f} | {m['top1']:.3f} | {m['top5']:.3f} |"
            )
    else:
        lines += [
            "",
            "Retrieval on full-frame composites: not run (--no-retrieval, or no Quick, Draw! sample).",
        ]
    return "\n".join(lines)


def _float_keys(d: dict[str, Any]) -> dict[Any, Any]:
    """JSON turned the PCK thresholds into strings; turn them back."""
    return {(float(k) if k in {str(t) for t in THRESHOLDS} else k): v for k, v in d.items()}


def write_doc(label: str, body: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Explanation quality\n"
    start, end = f"<!-- {label}:start -->", f"<!-- {label}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="default", help="zse_lite weight file (default: the bundled one)")
    ap.add_argument("--label", default="current", help="section / file name of the results")
    ap.add_argument("--photos", type=int, default=30, help="held-out photos (2 pairs each)")
    ap.add_argument("--faith-pairs", type=int, default=20, help="pairs with deletion curves")
    ap.add_argument(
        "--photo-offset", type=int, default=0, help="skip this many photos (check on unused photos)"
    )
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument(
        "--occlusion-pool",
        type=int,
        default=0,
        help="also rank the default readout's N strongest lines by the measured logit drop (0 = skip)",
    )
    ap.add_argument("--no-retrieval", action="store_true")
    ap.add_argument(
        "--mask-fill", choices=MASK_FILLS, default="white",
        help="deletion curves: paint masked patches white (the app's test) or the photo's mean colour",
    )  # fmt: skip
    add_null_key_flag(ap)
    ap.add_argument("--write-doc", action="store_true", help="write the section of docs/explanations.md")
    ap.add_argument("--render", type=Path, help="only render a saved docs/explanations_<label>.json")
    args = ap.parse_args(argv)
    if args.render is not None:
        res = json.loads(args.render.read_text(), object_hook=_float_keys)
        body = markdown(args.label, res["weights"], res)
        print(body)
        if args.write_doc:
            write_doc(args.label, body)
        return 0
    if not STAMPS.is_dir():
        raise SystemExit(f"{STAMPS} not found: apt-get install tuxpaint-stamps-default")
    if set(BENCH_BACKGROUNDS) & set(TRAIN_BACKGROUNDS):
        raise SystemExit("benchmark and training backgrounds overlap")
    torch.set_grad_enabled(False)
    t0 = time.perf_counter()
    model = create_model(lite_config(args.ca_null_key), weights=args.weights).eval()
    bgs = load_backgrounds(BENCH_BACKGROUNDS)
    entries = unseen_photos(args.photos, args.photo_offset)
    res: dict[str, Any] = {
        "weights": str(args.weights),
        "sha256": model.weights_info.sha256 if model.weights_info else "",
        "seed": args.seed,
        "photo_offset": args.photo_offset,
        "mask_fill": args.mask_fill,
        "correspondence": correspondence_benchmark(
            model, entries, bgs, args.seed, args.faith_pairs, args.occlusion_pool, args.mask_fill
        ),
    }
    print(json.dumps(res["correspondence"]["pck"]["mean"], default=float), flush=True)
    res["retrieval"] = None if args.no_retrieval else retrieval_benchmark(model, bgs, args.seed)
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    res["machine"] = machine_line()
    out = ROOT / "docs" / f"explanations_{args.label}.json"
    out.write_text(json.dumps(res, indent=1, default=float) + "\n")
    body = markdown(args.label, str(args.weights), res)
    print(body)
    if args.write_doc:
        write_doc(args.label, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
