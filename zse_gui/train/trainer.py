"""``Trainer``: the released ZSE-SBIR recipe with the conveniences of a modern loop.

Per optimizer step: ``accum_steps`` micro-batches of quadruplets, each run as 2B sketch/photo
pairs through ``ZseSbir.forward`` under optional autocast, loss ``zse_loss``; AdamW on the
trainable (non-frozen) parameters. Around it: a tqdm bar with running losses, a JSONL log
(``log.jsonl``), an atomic resumable checkpoint (``last.pt``) every ``checkpoint_every`` steps,
periodic evaluation through a pluggable callable with the best weights kept
(``best.safetensors``, optionally ``best_checkpoint.pth`` in the official layout), and the final
weights (``final.safetensors``).

Output folder::

    out_dir/last.pt              resumable: model + optimizer + scaler + RNG + step + sample counter
    out_dir/log.jsonl            {"event": "train" | "eval" | "checkpoint" | "start", "step": ..., ...}
    out_dir/best.safetensors     best weights by ``cfg.eval_metric`` (with a .json sidecar)
    out_dir/final.safetensors    weights after the last step
    out_dir/*_checkpoint.pth     with ``export_official``: best and final weights in the release's layout
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler
from tqdm import tqdm

from zse_gui.errors import ConfigError, DatasetError, WeightsError
from zse_gui.model.checkpoint import native_to_official, save_official, save_safetensors
from zse_gui.train.config import TrainConfig
from zse_gui.train.datasets import ShuffledStream, is_stream
from zse_gui.train.faithfulness import (
    PatchMasker,
    anchor_loss,
    faith_order_mass,
    faithfulness_loss,
    top_and_random_cells,
)
from zse_gui.train.geometry import correspondence_loss
from zse_gui.train.losses import zse_loss
from zse_gui.train.state import load_train_state, save_train_state

__all__ = ["Evaluator", "Trainer", "TrainResult"]

log = logging.getLogger(__name__)

Evaluator = Callable[[nn.Module], Mapping[str, float]]
"""Called with the model in eval mode under ``torch.no_grad``; returns metrics (larger = better)."""


@dataclass
class TrainResult:
    """What ``Trainer.fit`` did.

    Attributes:
        step: optimizer steps done in total (including those before a resume).
        losses: mean ``loss``, ``triplet`` and ``relation`` (and ``ret_triplet`` when that term is on)
            over the last logging window.
        best_metric: best value of ``cfg.eval_metric`` seen (NaN when never evaluated).
        best_step: step of the best evaluation (-1 when never evaluated).
        out_dir: the output folder.
        history: the JSONL records of this call, in order.
    """

    step: int
    losses: dict[str, float]
    best_metric: float
    best_step: int
    out_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)


class _Counter(Sampler[int]):
    """Global sample numbers ``start, start + 1, ...`` (an endless stream)."""

    def __init__(self, start: int) -> None:
        self.start = start

    def __iter__(self) -> Iterator[int]:
        return itertools.count(self.start)


def _amp_settings(mode: str, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, use a grad scaler)."""
    if mode == "off":
        return None, False
    if mode == "auto":
        if device.type != "cuda":
            return None, False
        return (torch.bfloat16, False) if torch.cuda.is_bf16_supported() else (torch.float16, True)
    if mode == "bf16":
        return torch.bfloat16, False
    if device.type != "cuda":
        raise ConfigError(f"amp 'fp16' needs a CUDA device, not {device}; use 'bf16' or 'off'")
    return torch.float16, True


class Trainer:
    """Train a ``ZseSbir`` (or any model with its ``forward(sk, ph) -> (features, scores)``).

    Args:
        model: the model; moved to ``device``. Seed its init yourself (``create_model(seed=)``).
        data: training data, one of:

            * a map-style ``Dataset`` of quadruplets ``(sketch, photo, sketch_neg, photo_neg)``,
              each ``[3, S, S]`` float (e.g. ``SampledQuadruplets``, ``TensorQuadruplets``);
              resumes exactly where it stopped;
            * an ``IterableDataset`` of such quadruplets (resume restarts its iteration);
            * any other iterable of ready batches (four ``[B, 3, S, S]`` tensors), re-iterated
              when exhausted.
        cfg: training settings (defaults: the released recipe).
        out_dir: output folder (created).
        device: torch device.
        evaluator: called every ``cfg.eval_every`` steps and at the end; None = no evaluation.
        config_name: registry name stored in exported weights (default ``model.cfg.name``).
        meta: extra JSON metadata for exported weights (data set, split, ...).
        progress: show a tqdm bar.
        patch_masker: paints photo patches white for ``cfg.faith_weight`` (default: a
            ``PatchMasker`` of plain images from ``model.cfg``; packed frozen-feature inputs need
            one with the backbone or a white image's features).

    Raises:
        ConfigError: a freeze prefix matches no parameter, nothing is left to train, or the amp
            mode does not fit the device.
    """

    def __init__(
        self,
        model: nn.Module,
        data: Dataset[Any] | Iterable[Any],
        cfg: TrainConfig | None = None,
        out_dir: str | os.PathLike[str] = "runs/train",
        device: str | torch.device = "cpu",
        evaluator: Evaluator | None = None,
        config_name: str | None = None,
        meta: Mapping[str, Any] | None = None,
        progress: bool = True,
        patch_masker: PatchMasker | None = None,
    ) -> None:
        self.cfg = cfg or TrainConfig()
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.data = data
        self.out_dir = Path(out_dir)
        self.evaluator = evaluator
        model_cfg = getattr(model, "cfg", None)
        self.config_name = config_name or str(getattr(model_cfg, "name", "unknown"))
        self.meta = dict(meta or {})
        self.progress = progress
        if patch_masker is None and self.cfg.faith_weight > 0:
            mc: Any = model_cfg
            patch_masker = PatchMasker(mc.grid_size, mc.patch_size, mc.mean, mc.std)
        self.patch_masker = patch_masker
        # ``keep_weight``: a frozen copy of the starting weights, whose clean relation logits the
        # trained model is held to. Saved in ``last.pt``, so a resume keeps the same reference.
        self.teacher: nn.Module | None = None
        if self.cfg.keep_weight > 0:
            self.teacher = copy.deepcopy(self.model).eval()
            for prm in self.teacher.parameters():
                prm.requires_grad_(False)
        self.amp_dtype, use_scaler = _amp_settings(self.cfg.amp, self.device)
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        self._frozen_modules = self._apply_freeze()
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ConfigError("every parameter is frozen; nothing to train (check --freeze)")
        self.optimizer = torch.optim.AdamW(
            params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay, betas=self.cfg.betas, eps=self.cfg.eps
        )
        if self.cfg.export_official:
            # Fail now, not after hours of training, if the model has no official key layout.
            native_to_official(self.model.state_dict())
        self.step = 0
        self.samples_seen = 0
        self.best_metric = float("nan")
        self.best_step = -1
        self._resumed = False
        self._started = False

    # ---- setup ----------------------------------------------------------------------------
    def _apply_freeze(self) -> list[nn.Module]:
        prefixes = tuple(self.cfg.freeze)
        if not prefixes:
            return []
        names = [n for n, _ in self.model.named_parameters()]
        for p in prefixes:
            if not any(n.startswith(p) for n in names):
                tops = sorted({n.split(".")[0] + "." for n in names})
                raise ConfigError(
                    f"freeze prefix {p!r} matches no parameter; names start with {', '.join(tops)}"
                )
        frozen = 0
        for n, prm in self.model.named_parameters():
            if n.startswith(prefixes):
                prm.requires_grad_(False)
                frozen += prm.numel()
        # Frozen modules stay in eval mode: no dropout noise and no BatchNorm statistics updates.
        modules = [m for n, m in self.model.named_modules() if n and (n + ".").startswith(prefixes)]
        log.info("froze %d parameters under %s", frozen, ", ".join(prefixes))
        return modules

    def _train_mode(self) -> None:
        self.model.train()
        for m in self._frozen_modules:
            m.eval()

    def _autocast(self) -> AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # ---- data -----------------------------------------------------------------------------
    def _batches(self) -> Iterator[Any]:
        cfg = self.cfg
        data = self.data
        if isinstance(data, Dataset) and not isinstance(data, IterableDataset):
            stream = data if is_stream(data) else ShuffledStream(data, cfg.seed)
            loader = DataLoader(
                stream,
                batch_size=cfg.batch_size,
                sampler=_Counter(self.samples_seen),
                num_workers=cfg.num_workers,
                pin_memory=self.device.type == "cuda",
                # Its own generator: creating a loader iterator must not consume the global torch
                # RNG, or a resumed run would draw different dropout masks than an unbroken one.
                generator=torch.Generator().manual_seed(cfg.seed),
            )
            yield from loader
            return
        if isinstance(data, IterableDataset):
            if self._resumed:
                log.warning("an IterableDataset restarts from its beginning after a resume")
            source: Iterable[Any] = DataLoader(
                data,
                batch_size=cfg.batch_size,
                num_workers=cfg.num_workers,
                generator=torch.Generator().manual_seed(cfg.seed),
            )
        else:
            source = data
        while True:
            empty = True
            for batch in source:
                empty = False
                yield batch
            if empty:
                raise DatasetError("the training data yielded no batch (an exhausted generator?)")

    # ---- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs (see ``zse_gui.train.state``)."""
        return {
            "config_name": self.config_name,
            "train_config": self.cfg.to_dict(),
            "step": self.step,
            "samples_seen": self.samples_seen,
            "best_metric": self.best_metric,
            "best_step": self.best_step,
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "teacher": (
                {k: v.detach().cpu() for k, v in self.teacher.state_dict().items()}
                if self.teacher is not None
                else None
            ),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }

    def save_checkpoint(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the resumable checkpoint atomically (default ``out_dir/last.pt``)."""
        return save_train_state(path or self.out_dir / "last.pt", self.state_dict())

    def resume(self, path: str | os.PathLike[str] | None = None) -> bool:
        """Continue from a resumable checkpoint (default ``out_dir/last.pt`` if it exists).

        Restores the model, optimizer, grad scaler, torch RNG, step and sample counters and the
        best metric; log lines written after that checkpoint by a crashed run are dropped.

        Returns:
            True when a checkpoint was loaded; False when ``path`` is None and none exists.

        Raises:
            WeightsError: the checkpoint is unreadable or belongs to another model.
        """
        p = Path(path) if path is not None else self.out_dir / "last.pt"
        if path is None and not p.is_file():
            return False
        st = load_train_state(p)
        if st.get("config_name") != self.config_name:
            raise WeightsError(
                p, f"was written for model {st.get('config_name')!r}, not {self.config_name!r}"
            )
        # The saved dict lost its per-module ``_metadata`` (versions) on the way through the safe
        # loader; without it BatchNorm treats the state as pre-1.1 and invents num_batches_tracked
        # keys, which a BatchNorm with that buffer removed (the zse_lite backbone) then rejects.
        # The versions of this very model are the right ones.
        state = OrderedDict(st["model"])
        state._metadata = getattr(self.model.state_dict(), "_metadata", None)  # type: ignore[attr-defined]
        self.model.load_state_dict(state)
        if self.teacher is not None:
            if st.get("teacher") is None:
                raise WeightsError(p, "has no keep_weight reference weights (written without that term)")
            ref = OrderedDict(st["teacher"])
            ref._metadata = state._metadata  # type: ignore[attr-defined]
            self.teacher.load_state_dict(ref)
        self.optimizer.load_state_dict(st["optimizer"])
        if self.scaler is not None and st.get("scaler") is not None:
            self.scaler.load_state_dict(st["scaler"])
        torch.set_rng_state(st["torch_rng"])
        if st.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(st["cuda_rng"])
        self.step = int(st["step"])
        self.samples_seen = int(st["samples_seen"])
        self.best_metric = float(st["best_metric"])
        self.best_step = int(st["best_step"])
        self._resumed = True
        self._truncate_log(self.step)
        log.info("resumed from %s at step %d", p, self.step)
        return True

    def _truncate_log(self, step: int) -> None:
        path = self.out_dir / "log.jsonl"
        if not path.is_file():
            return
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by the crash
            if int(rec.get("step", 0)) <= step:
                kept.append(json.dumps(rec))
        path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")

    def _export(self, name: str, extra: Mapping[str, Any]) -> Path:
        meta = {**self.meta, "step": self.step, "train_config": self.cfg.to_dict(), **extra}
        path = self.out_dir / name
        save_safetensors(
            self.model, path, self.config_name, meta, exclude_prefixes=self.cfg.exclude_from_checkpoint
        )
        return path

    # ---- the loop -------------------------------------------------------------------------
    def train_step(self, batches: Iterator[Any]) -> dict[str, float]:
        """One optimizer step over ``accum_steps`` micro-batches; returns the mean losses."""
        cfg = self.cfg
        self._train_mode()
        self.optimizer.zero_grad(set_to_none=True)
        sums = {"loss": 0.0, "triplet": 0.0, "relation": 0.0}
        for _ in range(cfg.accum_steps):
            batch = next(batches)
            targets = None
            if len(batch) == 5:  # a fifth item: true photo points of the sketch patches [B, P, 2]
                targets = batch[4].to(self.device, non_blocking=True)
            elif cfg.corr_weight > 0:
                raise DatasetError("corr_weight > 0 needs data that yields (sk, ph, sk_neg, ph_neg, targets)")
            sk, ph, sk_neg, ph_neg = (t.to(self.device, non_blocking=True) for t in batch[:4])
            terms: dict[str, Tensor] = {}
            with self._autocast():
                # 2B pairs: (sketch_i, photo_i) match, (sketch_neg_i, photo_neg_i) do not.
                sk2, ph2 = torch.cat([sk, sk_neg]), torch.cat([ph, ph_neg])
                if cfg.corr_weight > 0 or cfg.faith_weight > 0 or cfg.keep_weight > 0:  # more than forward()
                    feats, ret_feats, scores, terms = self._forward_with_terms(sk2, ph2, targets)
                elif cfg.ret_triplet_weight > 0:  # also the pre-CA [Ret] tokens, for their triplet term
                    with_ret = cast(Callable[..., tuple[Tensor, Tensor, Tensor]], self.model.forward_with_ret)
                    feats, ret_feats, scores = with_ret(sk2, ph2)  # [4B, C] x 2, [2B, 1]
                else:
                    ret_feats = None
                    feats, scores = self.model(sk2, ph2)  # [4B, C], [2B, 1]
            out = zse_loss(feats, scores, cfg, ret_feats if cfg.ret_triplet_weight > 0 else None)
            total = out.total
            weights = (
                ("corr", cfg.corr_weight),
                ("faith", cfg.faith_weight),
                ("faith_anchor", cfg.faith_anchor_weight),
                ("keep", cfg.keep_weight),
            )
            for name, weight in weights:
                if name in terms:
                    total = total + weight * terms[name]
                    sums[name] = sums.get(name, 0.0) + float(terms[name].detach()) / cfg.accum_steps
            for name in ("faith_gap", "faith_lift"):  # diagnostics, not trained on
                if name in terms:
                    sums[name] = sums.get(name, 0.0) + float(terms[name]) / cfg.accum_steps
            loss = total / cfg.accum_steps
            if self.scaler is not None:
                loss = self.scaler.scale(loss)
            loss.backward()  # type: ignore[no-untyped-call]
            sums["loss"] += float(total.detach()) / cfg.accum_steps
            sums["triplet"] += float(out.triplet) / cfg.accum_steps
            sums["relation"] += float(out.relation) / cfg.accum_steps
            if out.ret_triplet is not None:
                sums["ret_triplet"] = sums.get("ret_triplet", 0.0) + float(out.ret_triplet) / cfg.accum_steps
            self.samples_seen += int(sk.shape[0])
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if cfg.grad_clip is not None:
            params = [p for p in self.model.parameters() if p.requires_grad]
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.step += 1
        if not math.isfinite(sums["loss"]):
            log.warning("step %d: non-finite loss %s", self.step, sums["loss"])
        return sums

    def _forward_with_terms(
        self, sk2: Tensor, ph2: Tensor, targets: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]:
        """Training outputs plus the auxiliary terms of the matching pairs (the first B of the 2B
        pairs): (post-CA features [4B, C], pre-CA [Ret] [4B, C], scores [2B, 1], terms), terms
        holding ``corr`` (with ``corr_weight``), ``faith`` / ``faith_gap`` (with ``faith_weight``),
        ``faith_anchor`` (with ``faith_anchor_weight``) and ``keep`` (with ``keep_weight``)."""
        model: Any = self.model
        pair: Any = model.forward_pair(sk2, ph2, return_attn=True)
        post = torch.cat([pair.cross.sketch[:, 0], pair.cross.photo[:, 0]])
        pre = torch.cat([pair.sketch_tokens.tokens[:, 0], pair.photo_tokens.tokens[:, 0]])
        b = sk2.shape[0] // 2
        mcfg: Any = model.cfg
        terms: dict[str, Tensor] = {}
        if self.cfg.corr_weight > 0:
            assert targets is not None
            terms["corr"] = correspondence_loss(
                pair.cross.sketch_attn[:b], targets, mcfg.grid_size, mcfg.patch_size, self.cfg.corr_sigma
            )
        if self.cfg.faith_weight > 0:
            assert self.patch_masker is not None
            masker = self.patch_masker
            ink = masker.ink(sk2[:b])
            attn = (pair.cross.sketch_attn[:b], pair.cross.photo_attn[:b])
            mass = faith_order_mass(*attn, ink, self.cfg.faith_order)  # [B, P]: top k = the order's first k
            # Random cells from (seed, step): the same draw after a resume.
            gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + self.step)
            cells = top_and_random_cells(mass, self.cfg.faith_patches, gen)  # [2B, P]
            masked = masker.mask(ph2[:b].repeat(2, 1, 1, 1), cells)
            ph_tok = model.forward_tokens(masked).tokens
            cross = model.forward_cross(pair.sketch_tokens.tokens[:b].repeat(2, 1, 1), ph_tok)
            logit = model.forward_relation(cross.sketch, cross.photo).logit[:, 0]  # [2B]
            terms["faith"] = faithfulness_loss(logit[:b], logit[b:], self.cfg.faith_margin)
            terms["faith_gap"] = (logit[b:] - logit[:b]).detach().float().mean()
            clean = pair.relation.logit[:b, 0].detach()
            # diagnostic: logit(random cells masked) - logit(clean); > 0 is the loophole the anchor closes
            terms["faith_lift"] = (logit[b:].detach() - clean).float().mean()
            if self.cfg.faith_anchor_weight > 0:
                terms["faith_anchor"] = anchor_loss(logit[b:], clean)
        if self.teacher is not None:
            with torch.no_grad():
                ref = self.teacher.forward_pair(sk2, ph2).relation.logit  # type: ignore[operator]
            terms["keep"] = F.mse_loss(pair.relation.logit.float(), ref.float())
        return post, pre, pair.relation.score, terms

    def evaluate(self) -> dict[str, float]:
        """Run the evaluator (model in eval mode, no grad); keeps the best weights."""
        if self.evaluator is None:
            return {}
        self.model.eval()
        with torch.no_grad():
            metrics = {k: float(v) for k, v in self.evaluator(self.model).items()}
        self._train_mode()
        key = self.cfg.eval_metric
        if key not in metrics:
            raise ConfigError(f"the evaluator returned {sorted(metrics)}, not the selection metric {key!r}")
        value = metrics[key]
        if math.isfinite(value) and (not math.isfinite(self.best_metric) or value > self.best_metric):
            self.best_metric, self.best_step = value, self.step
            self._export("best.safetensors", {"metrics": metrics})
            if self.cfg.export_official:
                save_official(
                    self.model,
                    self.out_dir / "best_checkpoint.pth",
                    epoch=self.step,
                    map_all=metrics.get("map_all", float("nan")),
                    precision_100=metrics.get("prec_100", float("nan")),
                )
        return metrics

    def fit(self, steps: int | None = None) -> TrainResult:
        """Train until ``steps`` (default ``cfg.steps``) optimizer steps are done in total.

        Returns:
            ``TrainResult``. The output folder has ``last.pt``, ``log.jsonl``,
            ``final.safetensors`` and, with an evaluator, ``best.safetensors``.
        """
        cfg = self.cfg
        total = cfg.steps if steps is None else steps
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if not (self._resumed or self._started):
            torch.manual_seed(cfg.seed)  # dropout noise; data order is seeded by the sampler
        self._started = True
        history: list[dict[str, Any]] = []
        logf = (self.out_dir / "log.jsonl").open("a", encoding="utf-8")

        def record(rec: dict[str, Any]) -> None:
            history.append(rec)
            logf.write(json.dumps(rec) + "\n")
            logf.flush()

        record({"event": "start", "step": self.step, "resumed": self._resumed, "config": cfg.to_dict()})
        window: dict[str, list[float]] = {"loss": [], "triplet": [], "relation": []}
        means: dict[str, float] = {}
        batches = self._batches()
        bar = tqdm(
            total=total, initial=self.step, disable=not self.progress, desc="train", dynamic_ncols=True
        )
        t0 = time.perf_counter()
        try:
            while self.step < total:
                losses = self.train_step(batches)
                for k, v in losses.items():
                    window.setdefault(k, []).append(v)
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == total:
                    means = {k: sum(v) / len(v) for k, v in window.items() if v}
                    window = {k: [] for k in window}
                    bar.set_postfix(
                        loss=f"{means['loss']:.4f}",
                        tri=f"{means['triplet']:.4f}",
                        rn=f"{means['relation']:.4f}",
                    )
                    record(
                        {
                            "event": "train",
                            "step": self.step,
                            **means,
                            "lr": self.optimizer.param_groups[0]["lr"],
                            "samples": self.samples_seen,
                            "elapsed_s": round(time.perf_counter() - t0, 3),
                        }
                    )
                if self.evaluator is not None and cfg.eval_every and self.step % cfg.eval_every == 0:
                    record({"event": "eval", "step": self.step, **self.evaluate()})
                if self.step % cfg.checkpoint_every == 0:
                    record({"event": "checkpoint", "step": self.step, "path": str(self.save_checkpoint())})
            if self.evaluator is not None and (not cfg.eval_every or self.step % cfg.eval_every):
                record({"event": "eval", "step": self.step, **self.evaluate()})
            if self.step % cfg.checkpoint_every:
                record({"event": "checkpoint", "step": self.step, "path": str(self.save_checkpoint())})
            self._export("final.safetensors", {"best_metric": self.best_metric, "best_step": self.best_step})
            if cfg.export_official:
                save_official(self.model, self.out_dir / "final_checkpoint.pth", epoch=self.step)
        finally:
            bar.close()
            logf.close()
            del batches  # shuts DataLoader workers down
        return TrainResult(self.step, means, self.best_metric, self.best_step, self.out_dir, history)
