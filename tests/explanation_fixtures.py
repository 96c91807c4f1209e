"""A hand-built ``Explanation`` with known answers, shared by the viz and qt tests (no engine)."""

from __future__ import annotations

import numpy as np

from zse_gui.results import Correspondences, Explanation, ImageFrame, Synthesis

__all__ = ["make_explanation"]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def _corr(head: int | None, s_attn: np.ndarray, p_attn: np.ndarray, ink: np.ndarray) -> Correspondences:
    s2p = s_attn.argmax(axis=1).astype(np.int64)
    p2s = p_attn.argmax(axis=1).astype(np.int64)
    n = s2p.shape[0]
    return Correspondences(
        head=head,
        sketch_to_photo=s2p,
        sketch_score=s_attn[np.arange(n), s2p].astype(np.float32),
        photo_to_sketch=p2s,
        photo_score=p_attn[np.arange(n), p2s].astype(np.float32),
        mutual=p2s[s2p] == np.arange(n),
        ink=ink.copy(),
    )


def make_explanation(
    grid: int = 4, patch: int = 8, heads: int = 2, sa_heads: int = 2, seed: int = 0
) -> Explanation:
    """A synthetic explanation whose answers are known.

    * sketch patch i attends mostly to photo patch ``perm[i]`` (``perm`` = the patches reversed), with a
      strength that grows with i, so the strongest pair is the last patch;
    * the photo stream mirrors it, so every pair is mutual, except photo patch 0 points elsewhere;
    * ink: the sketch has black ink in the even patches only;
    * [Ret] head h peaks at patch ``h * (grid + 1)`` (the diagonal), sketch and photo alike;
    * the synthesis copies photo cell ``perm[i]`` into cell i.
    """
    rng = np.random.default_rng(seed)
    n = grid * grid
    size = grid * patch
    perm = np.arange(n)[::-1].copy()
    logits = rng.normal(0.0, 0.1, size=(heads, n, n))
    for i in range(n):
        logits[:, i, perm[i]] += 2.0 + 3.0 * i / n
    s_attn = _softmax(logits)
    p_logits = np.transpose(logits, (0, 2, 1)).copy()
    p_logits[:, 0, :] = rng.normal(0.0, 0.1, size=(heads, n))
    p_logits[:, 0, 1] += 4.0  # photo 0 -> sketch 1, which does not point back at photo 0
    p_attn = _softmax(p_logits)

    sketch = np.full((size, size, 3), 255, np.uint8)
    ink = np.zeros(n, dtype=bool)
    for i in range(0, n, 2):
        r, c = divmod(i, grid)
        sketch[r * patch + patch // 2, c * patch : (c + 1) * patch] = 0
        ink[i] = True
    yy, xx = np.mgrid[0:size, 0:size]
    photo = np.stack([xx * 255 // size, yy * 255 // size, np.full_like(xx, 128)], axis=-1).astype(np.uint8)

    corrs = [_corr(None, s_attn.mean(0), p_attn.mean(0), ink)]
    corrs += [_corr(h, s_attn[h], p_attn[h], ink) for h in range(heads)]
    mosaic = np.zeros_like(photo)
    for i in range(n):
        r, c = divmod(i, grid)
        rs, cs = divmod(int(perm[i]), grid)
        mosaic[r * patch : (r + 1) * patch, c * patch : (c + 1) * patch] = photo[
            rs * patch : (rs + 1) * patch, cs * patch : (cs + 1) * patch
        ]
    ret = np.full((sa_heads, n), 0.1 / n, np.float32)
    for h in range(sa_heads):
        ret[h, (h * (grid + 1)) % n] = 1.0
    ret /= ret.sum(axis=1, keepdims=True)
    anchors = max(grid // 2, 1) ** 2
    k = rng.uniform(-1, 1, size=(anchors, anchors)).astype(np.float32)
    centres = np.stack([(np.arange(n) % grid + 0.5) * patch, (np.arange(n) // grid + 0.5) * patch], 1)
    frame = ImageFrame((size, size), (1.0, 1.0))
    return Explanation(
        grid=grid,
        patch_size=patch,
        sketch_image=sketch,
        photo_image=photo,
        sketch_frame=frame,
        photo_frame=frame,
        sketch_centres=centres.astype(np.float32),
        photo_centres=centres.astype(np.float32),
        sketch_attn=s_attn,
        photo_attn=p_attn,
        correspondences=tuple(corrs),
        ret_attn_sketch=ret.copy(),
        ret_attn_photo=ret.copy(),
        kernel=k,
        relation_score=0.73,
        relation_logit=float(np.log(0.73 / 0.27)),
        ret_score=0.41,
        synthesis=Synthesis(
            mosaic, perm.astype(np.int64), s_attn.mean(0)[np.arange(n), perm].astype(np.float32)
        ),
    )
