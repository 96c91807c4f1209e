"""Training with the released ZSE-SBIR recipe: sampler, losses, ``Trainer``, ``zse-train``."""

from zse_gui.train.config import TrainConfig
from zse_gui.train.datasets import Quadruplet, SampledQuadruplets, ShuffledStream, TensorQuadruplets
from zse_gui.train.losses import LossOut, zse_loss
from zse_gui.train.trainer import Evaluator, Trainer, TrainResult

__all__ = [
    "Evaluator",
    "LossOut",
    "Quadruplet",
    "SampledQuadruplets",
    "ShuffledStream",
    "TensorQuadruplets",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "zse_loss",
]
