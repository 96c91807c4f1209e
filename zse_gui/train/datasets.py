"""Torch datasets of training quadruplets ``(sketch, photo, sketch_neg, photo_neg)``.

The trainer takes any map-style dataset whose items are four ``[3, S, S]`` float tensors:

* ``SampledQuadruplets``: the released sampler over an ``SbirData`` (reference section 3):
  classes c0 != c2; a sketch of c0, a photo of c0, a second (independent) sketch of c0, a photo
  of c2. Every file can be drawn (the release's ``randint(1, n)`` never drew file 0). Item ``g``
  is drawn from an RNG seeded with ``(seed, g)``, so a run is reproducible whatever the number of
  DataLoader workers, and a resumed run continues the exact sample stream from a counter.
* ``TensorQuadruplets``: pre-extracted tensors (e.g. cached images of a small demo model).

A dataset with ``stream = True`` accepts any index ``g >= 0`` (a global sample number). Any other
map-style dataset is wrapped in ``ShuffledStream``, which visits it in a fresh seeded
permutation each epoch.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from zse_gui.data.collection import SbirData
from zse_gui.engine.preprocess import PreprocessConfig, prepare_photo, prepare_sketch
from zse_gui.errors import DatasetError, ImageReadError, InvalidSketchError

__all__ = ["Quadruplet", "SampledQuadruplets", "TensorQuadruplets", "ShuffledStream", "is_stream"]

log = logging.getLogger(__name__)

Quadruplet = tuple[Tensor, Tensor, Tensor, Tensor]


def is_stream(dataset: object) -> bool:
    """True when ``dataset[g]`` is defined for every global sample number ``g >= 0``."""
    return bool(getattr(dataset, "stream", False))


class SampledQuadruplets(Dataset[Quadruplet]):
    """The released triplet sampler over labelled sketches and photos, with the release's
    preprocessing (``zse_gui.engine.preprocess``) and optional training-only flips.

    Args:
        data: training data (seen classes). Classes without a sketch or a photo are skipped.
        cfg: preprocessing config (a ``ZseConfig``: ``img_size``, ``mean``, ``std``).
        seed: sampler seed.
        epoch_len: nominal epoch length (the release's ``--datasetLen`` 10000); only ``len()``
            reports it, since items are drawn at random from any index.
        hflip_prob: probability of flipping each of the four images horizontally (0 = as released).

    Raises:
        DatasetError: fewer than two classes have both a sketch and a photo.
    """

    stream = True

    def __init__(
        self,
        data: SbirData,
        cfg: PreprocessConfig,
        seed: int = 2021,
        epoch_len: int = 10_000,
        hflip_prob: float = 0.0,
    ) -> None:
        self.data = data
        self.cfg = cfg
        self.seed = int(seed)
        self.epoch_len = int(epoch_len)
        self.hflip_prob = float(hflip_prob)
        self.classes = np.asarray(data.trainable_classes(), dtype=np.int64)
        if len(self.classes) < 2:
            raise DatasetError(
                f"{data.name or 'training data'}: {len(self.classes)} class(es) have both sketches and "
                "photos; "
                "training needs at least two (a negative photo comes from another class)"
            )
        skipped = len(data.classes) - len(self.classes)
        if skipped:
            log.warning("%d classes lack sketches or photos and are not sampled", skipped)
        self._sk = data.indices_by_class("sketch")
        self._ph = data.indices_by_class("photo")

    def __len__(self) -> int:
        return self.epoch_len

    def draw(self, index: int) -> tuple[int, int, int, int]:
        """Item indices (sketch, photo, sketch_neg, photo_neg) of sample ``index`` (deterministic)."""
        rng = np.random.default_rng([self.seed, int(index)])
        c0, c2 = (int(c) for c in rng.choice(self.classes, size=2, replace=False))
        sk, ph, ph2 = self._sk[c0], self._ph[c0], self._ph[c2]
        # integers(0, n) covers all n files; the release's randint(1, n) skipped file 0.
        return (
            sk[int(rng.integers(0, len(sk)))],
            ph[int(rng.integers(0, len(ph)))],
            sk[int(rng.integers(0, len(sk)))],
            ph2[int(rng.integers(0, len(ph2)))],
        )

    def _sketch(self, i: int) -> Tensor:
        s = self.data.sketches[i]
        try:
            return torch.from_numpy(prepare_sketch(self.data.load_sketch(i), self.cfg).tensor)
        except InvalidSketchError as e:
            raise InvalidSketchError(f"{s.where}: {e}; remove it from the training data") from None

    def _photo(self, i: int) -> Tensor:
        s = self.data.photos[i]
        try:
            return torch.from_numpy(prepare_photo(self.data.load_photo(i), self.cfg).tensor)
        except ImageReadError as e:
            raise ImageReadError(f"{s.where}: {e}") from None

    def __getitem__(self, index: int) -> Quadruplet:
        if index < 0:
            raise IndexError(f"sample index {index} < 0")
        i_sk, i_ph, i_skn, i_phn = self.draw(index)
        items = [self._sketch(i_sk), self._photo(i_ph), self._sketch(i_skn), self._photo(i_phn)]
        if self.hflip_prob > 0:
            # A separate stream so turning augmentation on does not change which files are drawn.
            flip = np.random.default_rng([self.seed, int(index), 1]).random(4) < self.hflip_prob
            items = [t.flip(-1) if f else t for t, f in zip(items, flip, strict=True)]
        return items[0], items[1], items[2], items[3]


class TensorQuadruplets(Dataset[Quadruplet]):
    """Quadruplets from four aligned tensors ``[N, 3, S, S]`` (pre-extracted training data).

    Raises:
        DatasetError: the tensors disagree in shape or are not ``[N, 3, S, S]``.
    """

    def __init__(self, sketch: Tensor, photo: Tensor, sketch_neg: Tensor, photo_neg: Tensor) -> None:
        ts = (sketch, photo, sketch_neg, photo_neg)
        shapes = {tuple(t.shape) for t in ts}
        if len(shapes) != 1 or sketch.ndim != 4 or sketch.shape[1] != 3 or sketch.shape[0] == 0:
            raise DatasetError(
                f"quadruplet tensors must share one non-empty [N, 3, S, S] shape, got {shapes}"
            )
        self.tensors = ts

    def __len__(self) -> int:
        return int(self.tensors[0].shape[0])

    def __getitem__(self, index: int) -> Quadruplet:
        a, b, c, d = (t[index] for t in self.tensors)
        return a, b, c, d


class ShuffledStream(Dataset[Any]):
    """Turns a finite map-style dataset into a stream: item ``g`` is
    ``dataset[perm_e[g % N]]`` with ``e = g // N`` and ``perm_e`` a permutation seeded by
    ``(seed, e)``, so resuming at sample ``g`` reproduces the same order."""

    stream = True

    def __init__(self, dataset: Dataset[Any], seed: int) -> None:
        self.dataset = dataset
        self.seed = int(seed)
        self.n = len(dataset)  # type: ignore[arg-type]
        if self.n == 0:
            raise DatasetError("the training dataset is empty")
        self._epoch = -1
        self._perm = np.arange(self.n)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, g: int) -> Any:
        epoch, pos = divmod(int(g), self.n)
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            self._epoch = epoch
        return self.dataset[int(self._perm[pos])]
