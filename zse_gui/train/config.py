"""``TrainConfig``: every knob of the trainer, defaulting to the released recipe (reference section 3)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from zse_gui.errors import ConfigError

# Explanation orders the faithfulness term can train (``TrainConfig.faith_order``): the attention
# mass, or the line order of a correspondence readout without gradients (``zse_gui.engine``).
FAITH_ORDERS = ("attention", "dual_sinkhorn", "consensus", "sinkhorn", "dual_softmax")

__all__ = ["TrainConfig", "AMP_MODES"]

AMP_MODES = ("auto", "off", "bf16", "fp16")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings. Defaults reproduce the release: batch 15, AdamW lr 1e-5 / wd 1e-2 on all
    parameters, ``2 * triplet(margin 1, p 2) + 4 * MSE(score, 0.99 / 0.01)``, seed 2021, fp32,
    no augmentation, 666 iterations x 30 epochs (about 20k steps).

    Attributes:
        steps: optimizer steps to train in total (a resumed run continues up to this number).
        batch_size: quadruplets per micro-batch (each pushes 4 images through the encoder).
        accum_steps: micro-batches accumulated per optimizer step (effective batch = product).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay (the release applies it to norms and biases too).
        betas: AdamW betas.
        eps: AdamW eps.
        triplet_margin: margin of the triplet loss on the post-CA [Ret] tokens.
        triplet_p: norm degree of the triplet distance.
        triplet_weight: weight of the triplet term (2 in the release).
        relation_weight: weight of the relation MSE term (4 in the release).
        ret_triplet_weight: weight of an extra triplet term on the L2-normalised *pre*-CA [Ret]
            tokens, the feature stage-1 retrieval ranks by (0 = off, as released: the release
            trains only the post-CA tokens, reference sections 3 and 4.1).
        ret_triplet_margin: margin of that term (cosine-distance scale: distances lie in [0, 2]).
        corr_weight: weight of an auxiliary correspondence loss (0 = off, as released): for
            matching pairs whose geometry is known (the data yields a fifth item, the true photo
            point of each sketch patch, NaN elsewhere; see ``zse_gui.train.geometry``), the sketch
            stream's head-mean cross-attention of each ink patch is pulled towards a Gaussian
            around its true photo patch.
        corr_sigma: width of that Gaussian, in patches.
        faith_weight: weight of a deletion-faithfulness hinge (0 = off, as released; see
            ``zse_gui.train.faithfulness``): for matching pairs, painting white the
            ``faith_patches`` photo patches the sketch's ink attends to most must lower the
            relation logit at least ``faith_margin`` more than painting as many random patches.
        faith_patches: photo patches painted white per copy.
        faith_order: which explanation's order the term makes faithful: ``attention`` (the
            attention mass the ink puts on each photo patch) or a correspondence readout's lines,
            such as ``consensus`` (the app's default) or ``dual_sinkhorn`` (``FAITH_ORDERS``).
        faith_margin: the hinge's margin, in relation-logit units.
        faith_anchor_weight: weight of an anchor for that hinge (0 = off): for the same matching
            pairs, ``relu(logit(random cells masked) - logit(clean))``, so that the gap is not
            opened by scoring randomly masked photos *higher* than clean ones. Needs
            ``faith_weight`` > 0.
        keep_weight: weight of a term that keeps the relation logits (0 = off, as released):
            the MSE between the logits of the batch's clean pairs and those of a frozen copy of
            the weights the trainer started from, so that terms such as the faithfulness hinge
            do not move the re-ranking on the way.
        pos_target: relation target of matching pairs (0.99, label smoothing of 1).
        neg_target: relation target of non-matching pairs (0.01).
        amp: ``"auto"`` (autocast on CUDA: bf16 where supported, else fp16 with a grad scaler;
            fp32 elsewhere), ``"off"``, ``"bf16"`` (also on CPU), ``"fp16"`` (CUDA only).
        grad_clip: max global gradient norm, or None (the release does not clip).
        freeze: parameter-name prefixes to freeze (e.g. ``("sa.",)`` to train CA + RN on a frozen
            encoder); fully frozen modules are also kept in eval mode (no dropout, no BN updates).
        seed: seeds the model init (if the caller does), torch and the sampler.
        hflip_prob: training-only augmentation: probability of flipping each image
            horizontally (0 = off, as released).
        num_workers: DataLoader worker processes.
        log_every: steps between JSONL log lines (and progress bar updates).
        checkpoint_every: steps between resumable checkpoints (``last.pt``).
        eval_every: steps between evaluations with the evaluator (0 = never).
        eval_metric: evaluator key that selects the best checkpoint (larger is better).
        export_official: also write the release's ``.pth`` layout: ``best_checkpoint.pth`` (with an
            evaluator) and ``final_checkpoint.pth``.
        exclude_from_checkpoint: key prefixes left out of the exported ``.safetensors`` (e.g. a
            frozen backbone shipped elsewhere); the resumable checkpoint always has everything.
    """

    steps: int = 20_000
    batch_size: int = 15
    accum_steps: int = 1
    lr: float = 1e-5
    weight_decay: float = 1e-2
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    triplet_margin: float = 1.0
    triplet_p: float = 2.0
    triplet_weight: float = 2.0
    relation_weight: float = 4.0
    ret_triplet_weight: float = 0.0
    ret_triplet_margin: float = 0.3
    corr_weight: float = 0.0
    corr_sigma: float = 1.0
    faith_weight: float = 0.0
    faith_patches: int = 16
    faith_margin: float = 1.0
    faith_order: str = "attention"
    faith_anchor_weight: float = 0.0
    keep_weight: float = 0.0
    pos_target: float = 0.99
    neg_target: float = 0.01
    amp: str = "auto"
    grad_clip: float | None = None
    freeze: tuple[str, ...] = field(default=())
    seed: int = 2021
    hflip_prob: float = 0.0
    num_workers: int = 0
    log_every: int = 10
    checkpoint_every: int = 500
    eval_every: int = 0
    eval_metric: str = "map_all"
    export_official: bool = False
    exclude_from_checkpoint: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        problems = []
        for name in ("steps", "batch_size", "accum_steps", "log_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1 (got {getattr(self, name)})")
        for name in ("eval_every", "num_workers"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0 (got {getattr(self, name)})")
        if self.lr <= 0:
            problems.append(f"lr must be > 0 (got {self.lr})")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be >= 0 (got {self.weight_decay})")
        if self.amp not in AMP_MODES:
            problems.append(f"amp must be one of {', '.join(AMP_MODES)} (got {self.amp!r})")
        if not 0.0 <= self.hflip_prob <= 1.0:
            problems.append(f"hflip_prob must be in [0, 1] (got {self.hflip_prob})")
        if self.ret_triplet_weight < 0:
            problems.append(f"ret_triplet_weight must be >= 0 (got {self.ret_triplet_weight})")
        if self.ret_triplet_margin <= 0:
            problems.append(f"ret_triplet_margin must be > 0 (got {self.ret_triplet_margin})")
        if self.corr_weight < 0:
            problems.append(f"corr_weight must be >= 0 (got {self.corr_weight})")
        if self.corr_sigma <= 0:
            problems.append(f"corr_sigma must be > 0 (got {self.corr_sigma})")
        if self.faith_weight < 0:
            problems.append(f"faith_weight must be >= 0 (got {self.faith_weight})")
        if self.faith_patches < 1:
            problems.append(f"faith_patches must be >= 1 (got {self.faith_patches})")
        if self.faith_order not in FAITH_ORDERS:
            orders = ", ".join(FAITH_ORDERS)
            problems.append(f"faith_order must be one of {orders} (got {self.faith_order!r})")
        if self.faith_margin <= 0:
            problems.append(f"faith_margin must be > 0 (got {self.faith_margin})")
        for name in ("faith_anchor_weight", "keep_weight"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0 (got {getattr(self, name)})")
        if self.faith_anchor_weight > 0 and self.faith_weight <= 0:
            problems.append("faith_anchor_weight anchors the faithfulness hinge; it needs faith_weight > 0")
        if self.grad_clip is not None and self.grad_clip <= 0:
            problems.append(f"grad_clip must be > 0 or None (got {self.grad_clip})")
        if problems:
            raise ConfigError("training config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of ``to_dict``; unknown keys are a ``ConfigError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"training config: unknown keys {unknown}")
        tuple_fields = {"betas", "freeze", "exclude_from_checkpoint"}
        kwargs: dict[str, Any] = {
            k: tuple(v) if k in tuple_fields and v is not None else v for k, v in d.items()
        }
        return cls(**kwargs)
