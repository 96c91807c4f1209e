#!/usr/bin/env python3
"""Unseen-class doodles against the whole 318-photo demo gallery (what a user of the app sees).

``scripts/eval_demo.py`` ranks the unseen doodles among the 52 unseen-class photos only; here every
demo-gallery photo competes (seen, photo-only and unseen classes), and only photos of the query's
own class count as relevant. Prints chance, Ret and the app's two-stage search (top 50 re-ranked).

Usage: ``python scripts/eval_demo_full_gallery.py [--weights FILE]`` (needs ``../shared/data/quickdraw``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo_data import load_all, split_data  # noqa: E402
from eval_demo import _cos, batched, chance, images, rerank_scores, rn_scores, summarize  # noqa: E402

from zse_gui.data.collection import SbirData  # noqa: E402
from zse_gui.data.splits import canonical_class  # noqa: E402
from zse_gui.model import create_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="default", help="zse_lite weight file (default: the bundled one)")
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    t0 = time.perf_counter()
    data = load_all()
    unseen = split_data(data)["unseen"]
    model = create_model("zse_lite", weights=args.weights).eval()
    unseen_id = {canonical_class(c): i for i, c in enumerate(unseen.classes)}
    photos = images(SbirData(data.classes, (), data.photos, "demo gallery"), "photo", model.cfg)
    gl = np.array([unseen_id.get(canonical_class(data.classes[p.label]), -1) for p in data.photos])
    sk, ql = images(unseen, "sketch", model.cfg), unseen.sketch_labels()
    tok = lambda x: model.forward_tokens(x).tokens  # noqa: E731
    sk_tok, ph_tok = batched(tok, sk), batched(tok, photos)
    ret = _cos(sk_tok[:, 0], ph_tok[:, 0])
    two_stage = rerank_scores(ret, lambda pairs: rn_scores(model, sk_tok, ph_tok, pairs), 50)
    print(f"{len(ql)} unseen doodles against {len(gl)} photos ({int((gl >= 0).sum())} of unseen classes)")
    for name, m in (
        ("chance", chance(ql, gl, n=50)),
        ("Ret", summarize(ret, ql, gl)),
        ("Ret + RN re-rank top-50", summarize(two_stage, ql, gl)),
    ):
        print(f"{name:24s} " + "  ".join(f"{k} {v:.3f}" for k, v in m.items()))
    print(f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
