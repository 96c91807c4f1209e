"""Key names: the official release's ``sa.model.*`` layout <-> our timm-based names.

CA, anchor conv and RN keys are identical in both layouts; only the SA encoder is renamed
(reference section 2.3). Both directions are total on their prefix: an official SA key with no
mapping is kept (so strict matching reports it), a native SA key with no official name is an
error (another backbone cannot be exported to the official layout).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from torch import Tensor

from zse_gui.errors import WeightsError

__all__ = ["native_to_official", "official_to_native"]

# (official regex, native template) for the SA encoder; everything else has the same name.
_OFF_BLOCK = r"sa\.model\.transformer\.layers\.(\d+)\.0\."
_SA_MAP: list[tuple[str, str]] = [
    (r"sa\.model\.cls", "sa.vit.cls_token"),
    (r"sa\.model\.pos_embedding", "sa.vit.pos_embed"),
    (r"sa\.model\.embedding\.(weight|bias)", r"sa.vit.patch_embed.proj.\1"),
    (r"sa\.model\.scale\.seq\.(\d+)\.weight", r"sa.stem.seq.\1.weight"),
    (_OFF_BLOCK + r"layer_norm_input\.(weight|bias)", r"sa.vit.blocks.\1.norm1.\2"),
    (_OFF_BLOCK + r"attention\.to_qkv\.(weight|bias)", r"sa.vit.blocks.\1.attn.qkv.\2"),
    (_OFF_BLOCK + r"attention\.to_out\.0\.(weight|bias)", r"sa.vit.blocks.\1.attn.proj.\2"),
    (_OFF_BLOCK + r"layer_norm_out\.(weight|bias)", r"sa.vit.blocks.\1.norm2.\2"),
    (_OFF_BLOCK + r"mlp\.net\.0\.(weight|bias)", r"sa.vit.blocks.\1.mlp.fc1.\2"),
    (_OFF_BLOCK + r"mlp\.net\.3\.(weight|bias)", r"sa.vit.blocks.\1.mlp.fc2.\2"),
    (r"sa\.model\.transformer\.encoder_norm\.(weight|bias)", r"sa.vit.norm.\1"),
]
_OFF_TMPL = r"sa.model.transformer.layers.\1.0."
_NATIVE_MAP: list[tuple[str, str]] = [
    (r"sa\.vit\.cls_token", "sa.model.cls"),
    (r"sa\.vit\.pos_embed", "sa.model.pos_embedding"),
    (r"sa\.vit\.patch_embed\.proj\.(weight|bias)", r"sa.model.embedding.\1"),
    (r"sa\.stem\.seq\.(\d+)\.weight", r"sa.model.scale.seq.\1.weight"),
    (r"sa\.vit\.blocks\.(\d+)\.norm1\.(weight|bias)", _OFF_TMPL + r"layer_norm_input.\2"),
    (r"sa\.vit\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)", _OFF_TMPL + r"attention.to_qkv.\2"),
    (r"sa\.vit\.blocks\.(\d+)\.attn\.proj\.(weight|bias)", _OFF_TMPL + r"attention.to_out.0.\2"),
    (r"sa\.vit\.blocks\.(\d+)\.norm2\.(weight|bias)", _OFF_TMPL + r"layer_norm_out.\2"),
    (r"sa\.vit\.blocks\.(\d+)\.mlp\.fc1\.(weight|bias)", _OFF_TMPL + r"mlp.net.0.\2"),
    (r"sa\.vit\.blocks\.(\d+)\.mlp\.fc2\.(weight|bias)", _OFF_TMPL + r"mlp.net.3.\2"),
    (r"sa\.vit\.norm\.(weight|bias)", r"sa.model.transformer.encoder_norm.\1"),
]


def _rename(key: str, table: list[tuple[str, str]], prefix: str) -> str:
    for pattern, template in table:
        m = re.fullmatch(pattern, key)
        if m:
            return m.expand(template)
    if key.startswith(prefix):
        raise KeyError(key)
    return key


def official_to_native(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename official ``sa.model.*`` keys to ours; CA, conv2d and RN keys are unchanged.

    An ``sa.model.*`` key with no mapping is kept under its official name, so strict matching
    reports it as unexpected instead of losing it.
    """
    out: dict[str, Tensor] = {}
    for k, v in state.items():
        # A DataParallel ``module.`` prefix is kept here (``load_state`` strips and reports it),
        # but the name behind it is still renamed.
        lead = "module." if k.startswith("module.") else ""
        try:
            out[lead + _rename(k[len(lead) :], _SA_MAP, "sa.model.")] = v
        except KeyError:
            out[k] = v
    return out


def native_to_official(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename our keys to the official layout (inverse of ``official_to_native``).

    Raises:
        WeightsError: a key of the SA encoder has no official name (e.g. another backbone).
    """
    out: dict[str, Tensor] = {}
    for k, v in state.items():
        try:
            out[_rename(k, _NATIVE_MAP, "sa.")] = v
        except KeyError:
            raise WeightsError(
                "<model>",
                f"key {k!r} has no name in the official layout",
                "only zse_vitb16-style models export",
            ) from None
    return out
