"""The network against an independent plain re-computation of reference sections 1.3-1.5.

The re-computation reads the weights by their OFFICIAL key names and uses only einsum, matmul,
conv2d and elementwise ops, so it shares no code path with timm or ``zse_gui.model.layers``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from zse_gui.model import ZseSbir
from zse_gui.model.checkpoint import native_to_official
from zse_gui.model.layers import cosine_kernel, raw_token_map

Images = Callable[[ZseSbir, int, int], torch.Tensor]
W = dict[str, Tensor]


def _ln(x: Tensor, w: Tensor, b: Tensor, eps: float) -> Tensor:
    """nn.LayerNorm semantics: biased variance, eps inside the square root."""
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def _ca_ln(x: Tensor, a: Tensor, b: Tensor, eps: float = 1e-6) -> Tensor:
    """The release's CA LayerNorm: UNBIASED std (N - 1), eps added to the std."""
    n = x.shape[-1]
    mu = x.mean(-1, keepdim=True)
    std = torch.sqrt(((x - mu) ** 2).sum(-1, keepdim=True) / (n - 1))
    return a * (x - mu) / (std + eps) + b


def _lin(w: W, name: str, x: Tensor) -> Tensor:
    return x @ w[name + ".weight"].T + w[name + ".bias"]


def _plain_sa(w: W, img: Tensor, heads: int, depth: int, patch: int) -> Tensor:
    """SA encoder: ((patch conv + stem) / 2) tokens, [Ret], positions, pre-norm blocks, final LN."""
    pc = F.conv2d(img, w["sa.model.embedding.weight"], w["sa.model.embedding.bias"], stride=patch)
    stem_keys = [k for k in w if k.startswith("sa.model.scale.seq.")]
    stem_keys.sort(key=lambda k: int(k.split(".")[4]))  # seq.0, seq.2, ... (ReLUs in between)
    x = img
    for i, k in enumerate(stem_keys):
        x = F.conv2d(x, w[k], stride=2, padding=w[k].shape[-1] // 2)  # no bias in the stem
        if i < len(stem_keys) - 1:
            x = torch.relu(x)
    tok = ((pc + x) / 2).flatten(2).transpose(1, 2)  # [B, P, C] row-major
    b, _, c = tok.shape
    x = torch.cat([w["sa.model.cls"].expand(b, -1, -1), tok], 1) + w["sa.model.pos_embedding"]
    d = c // heads
    for i in range(depth):
        p = f"sa.model.transformer.layers.{i}.0."
        h = _ln(x, w[p + "layer_norm_input.weight"], w[p + "layer_norm_input.bias"], 1e-5)
        q, k, v = _lin(w, p + "attention.to_qkv", h).split(c, dim=-1)  # chunk order q, k, v
        q, k, v = (t.reshape(b, -1, heads, d) for t in (q, k, v))  # head-major (h d)
        att = torch.softmax(torch.einsum("bihd,bjhd->bhij", q, k) / math.sqrt(d), -1)
        o = torch.einsum("bhij,bjhd->bihd", att, v).reshape(b, -1, c)
        x = x + _lin(w, p + "attention.to_out.0", o)
        h = _ln(x, w[p + "layer_norm_out.weight"], w[p + "layer_norm_out.bias"], 1e-5)
        h = _lin(w, p + "mlp.net.0", h)
        h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))  # exact GELU
        x = x + _lin(w, p + "mlp.net.3", h)
    n = "sa.model.transformer.encoder_norm"
    return _ln(x, w[n + ".weight"], w[n + ".bias"], 1e-5)


def _plain_stream(w: W, layer: str, x_own: Tensor, x_other: Tensor, heads: int) -> tuple[Tensor, Tensor]:
    """One CA stream: Q and V from the own tokens, K from the other's; post-norm; FFN."""
    p = f"ca.encoder.{layer}.0."
    b, t, c = x_own.shape
    d = c // heads
    q = _lin(w, p + "self_attn.linears.0", x_own).reshape(b, t, heads, d)
    k = _lin(w, p + "self_attn.linears.1", x_other).reshape(b, t, heads, d)
    v = _lin(w, p + "self_attn.linears.2", x_own).reshape(b, t, heads, d)
    att = torch.softmax(torch.einsum("bihd,bjhd->bhij", q, k) / math.sqrt(d), -1)  # own rows, other cols
    mixed = torch.einsum("bhij,bjhd->bihd", att, v).reshape(b, t, c)
    y = x_own + _lin(w, p + "self_attn.linears.3", mixed)  # residual base: the own tokens
    y = _ca_ln(y, w[p + "sublayer.0.norm.a"], w[p + "sublayer.0.norm.b"])
    f = _lin(w, p + "feed_forward.w_2", torch.relu(_lin(w, p + "feed_forward.w_1", y)))
    z = _ca_ln(y + f, w[p + "sublayer.1.norm.a"], w[p + "sublayer.1.norm.b"])
    return z, att


def _plain_anchors(w: W, ca: Tensor, grid: int, k: int) -> Tensor:
    """Raw reinterpretation of token-major memory as channel-major, then a k x k / k conv by einsum."""
    tok = ca[:, 1:]  # [B, P, C]
    b, _, c = tok.shape
    fmap = tok.reshape(b, -1).reshape(b, c, grid, grid)  # flat index t*C + c read as c'*P + p
    ag = grid // k
    win = fmap.reshape(b, c, ag, k, ag, k)
    out = torch.einsum("bcykxl,dckl->bdyx", win, w["conv2d.weight"]) + w["conv2d.bias"][None, :, None, None]
    return out.reshape(b, -1, ag * ag).transpose(1, 2)  # [B, A, D]


def _plain_relation(w: W, sk_a: Tensor, ph_a: Tensor) -> tuple[Tensor, Tensor]:
    dots = torch.einsum("bid,bjd->bij", sk_a, ph_a)
    norms = sk_a.norm(dim=-1)[:, :, None] * ph_a.norm(dim=-1)[:, None, :]
    kern = dots / norms
    kern[torch.isnan(kern)] = 0.0
    h = torch.relu(_lin(w, "rn.rn.0", kern.reshape(kern.shape[0], -1)))  # index i*A + j
    h = torch.relu(_lin(w, "rn.rn.3", h))
    return torch.sigmoid(_lin(w, "rn.rn.6", h)), kern


def _official_weights(model: ZseSbir) -> W:
    return {k: v.detach().clone() for k, v in native_to_official(model.state_dict()).items()}


def test_sa_encoder_matches_plain_recomputation(tiny: ZseSbir, images: Images) -> None:
    c = tiny.cfg
    img = images(tiny, 2, 5)
    with torch.no_grad():
        ours = tiny.forward_tokens(img).tokens
        plain = _plain_sa(_official_weights(tiny), img, c.num_heads, c.depth, c.patch_size)
    torch.testing.assert_close(ours, plain, rtol=1e-5, atol=1e-5)


def test_cross_attention_and_relation_match_plain_recomputation(tiny: ZseSbir) -> None:
    c = tiny.cfg
    w = _official_weights(tiny)
    g = torch.Generator().manual_seed(11)
    sk = torch.randn(3, c.num_tokens, c.embed_dim, generator=g)
    ph = torch.randn(3, c.num_tokens, c.embed_dim, generator=g)
    with torch.no_grad():
        cross = tiny.forward_cross(sk, ph, return_attn=True)
        rel = tiny.forward_relation(cross.sketch, cross.photo, return_kernel=True)
    z_s, a_s = _plain_stream(w, "layer1", sk, ph, c.ca_heads)  # sketch stream
    z_p, a_p = _plain_stream(w, "layer2", ph, sk, c.ca_heads)  # photo stream, reads PRE-layer sketch
    torch.testing.assert_close(cross.sketch, z_s, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cross.photo, z_p, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cross.sketch_attn, a_s)
    torch.testing.assert_close(cross.photo_attn, a_p)
    sk_a = _plain_anchors(w, z_s, c.grid_size, c.anchor_kernel)
    ph_a = _plain_anchors(w, z_p, c.grid_size, c.anchor_kernel)
    score, kern = _plain_relation(w, sk_a, ph_a)
    torch.testing.assert_close(rel.kernel, kern, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(rel.score, score, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(rel.logit, torch.logit(score.double()).float(), rtol=1e-4, atol=1e-4)


def test_ca_layernorm_is_not_torch_layernorm(tiny: ZseSbir) -> None:
    # The custom norm differs measurably from nn.LayerNorm on narrow rows (N - 1 vs N).
    norm = tiny.cross.sketch_layer.sublayer[0].norm
    x = torch.randn(4, tiny.cfg.embed_dim, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = norm(x)
    torch.testing.assert_close(ours, _ca_ln(x, norm.a, norm.b))
    assert not torch.allclose(ours, F.layer_norm(x, (x.shape[-1],)), atol=1e-3)


def test_raw_token_map_is_a_view_not_a_permute() -> None:
    b, g, c = 2, 4, 32
    p = g * g
    tok = torch.arange(b * p * c, dtype=torch.float32).reshape(b, p, c)  # value = index in memory
    fmap = raw_token_map(tok, g)
    for bi in range(b):
        for ch in range(c):
            for r in range(g):
                for col in range(g):
                    flat = ch * p + r * g + col  # channel-major position of this output element
                    t, cc = divmod(flat, c)  # token-major position it is read from
                    assert fmap[bi, ch, r, col] == tok[bi, t, cc]
    assert not torch.equal(fmap, tok.transpose(1, 2).reshape(b, c, g, g))


def test_cosine_kernel_zero_anchor_gives_zero_not_nan() -> None:
    g = torch.Generator().manual_seed(0)
    sk, ph = torch.randn(1, 4, 8, generator=g), torch.randn(1, 4, 8, generator=g)
    sk[0, 2] = 0.0
    kern = cosine_kernel(sk, ph)
    assert not torch.isnan(kern).any()
    assert torch.equal(kern[0, 2], torch.zeros(4))
    expect = F.cosine_similarity(sk[0, 1][None], ph[0], dim=-1)
    torch.testing.assert_close(kern[0, 1], expect)


def test_all_zero_anchors_give_the_rn_bias_path(tiny: ZseSbir) -> None:
    # With a zero anchor conv every anchor is the zero vector: kernel 0 everywhere (NaN -> 0).
    w = _official_weights(tiny)
    with torch.no_grad():
        tiny.conv2d.weight.zero_()
        tiny.conv2d.bias.zero_()
        x = torch.randn(2, tiny.cfg.num_tokens, tiny.cfg.embed_dim)
        rel = tiny.forward_relation(x, x, return_kernel=True)
    a = tiny.cfg.num_anchors
    assert torch.equal(rel.kernel, torch.zeros(2, a, a))
    score, _ = _plain_relation(w, torch.zeros(2, a, 1), torch.zeros(2, a, 1))
    torch.testing.assert_close(rel.score, score)


def test_ca_copies_start_identical_as_released(tiny: ZseSbir) -> None:
    # Reference 1.4 init quirk: one layer deep-copied; within it one Linear copied four times.
    st = tiny.state_dict()
    for k, v in st.items():
        if k.startswith("ca.encoder.layer1."):
            assert torch.equal(v, st[k.replace("layer1", "layer2")])
            assert torch.equal(v, st[k.replace("layer1", "layers")])
    lin = "ca.encoder.layer1.0.self_attn.linears."
    for j in (1, 2, 3):
        assert torch.equal(st[f"{lin}0.weight"], st[f"{lin}{j}.weight"])
