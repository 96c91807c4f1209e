"""Data for the bundled ``zse_lite`` demo model: the zero-shot split, augmented training quadruplets.

Used by ``scripts/train_demo.py`` and ``scripts/eval_demo.py`` (run from the repository root).

* Sketches: Quick, Draw! doodles (CC BY 4.0), read in place from ``../shared/data/quickdraw/ndjson``.
* Photos: ``resources/demo_gallery/<class>/`` (tuxpaint photo stamps, GPL-2+).
* Split: the classes in both (81) are split into ``ZSE_LITE_SEEN`` (56) and ``ZSE_LITE_UNSEEN`` (25)
  in ``zse_gui/model/lite.py``; training reads seen classes and, optionally, the photos of the
  gallery classes without doodles (``photo_only_classes``), never an unseen class. Of each seen
  class, sketches ``0 .. TRAIN_SKETCHES - 1`` train and the rest are held out for the "seen" table.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from zse_gui.data.collection import SbirData
from zse_gui.data.layouts import read_class_folders
from zse_gui.data.splits import canonical_class
from zse_gui.engine.explain import patch_ink
from zse_gui.engine.preprocess import normalize, prepare_photo, prepare_sketch
from zse_gui.model.config import ZseConfig, get_config
from zse_gui.model.lite import ZSE_LITE_SEEN, ZSE_LITE_UNSEEN, pack_cached_features
from zse_gui.sketch import quickdraw_to_strokes, rasterize_strokes
from zse_gui.train.composite import composite
from zse_gui.train.datasets import Quadruplet, SampledQuadruplets
from zse_gui.train.geometry import edge_sketch, patch_targets, random_transform, warp_sketch

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
QUICKDRAW = ROOT.parent / "shared" / "data" / "quickdraw" / "ndjson"
GALLERY = ROOT / "resources" / "demo_gallery"
TRAIN_SKETCHES = 20  # per seen class; sketches 20..24 are held out (seen-class evaluation queries)
# Gallery classes without doodles that a person would file under an unseen class: never used for
# pseudo-sketch training (rat ~ mouse, lavender ~ flower), so the unseen classes stay untouched.
PHOTO_ONLY_EXCLUDED = ("rat", "lavender")
STAMPS = Path("/usr/share/tuxpaint/stamps")  # Debian package tuxpaint-stamps-default
# Real photographs shipped inside scikit-image (no download), used as backgrounds for composited
# photos. Training and benchmarks/explain_quality.py use disjoint sets.
TRAIN_BACKGROUNDS = (
    "chelsea.png", "brick.png", "gravel.png", "hubble_deep_field.jpg", "coins.png", "page.png",
    "clock_motion.png", "ihc.png", "retina.jpg", "cell.png", "text.png",
)  # fmt: skip
BENCH_BACKGROUNDS = (
    "astronaut.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "motorcycle_right.png",
    "grass.png", "camera.png", "moon.png",
)  # fmt: skip


def load_backgrounds(names: tuple[str, ...]) -> list[np.ndarray]:
    """RGB uint8 arrays of scikit-image's bundled sample photographs ``names`` (grey ones as RGB)."""
    import skimage  # the demo extra; only needed for composited photos

    out = []
    for name in names:
        path = Path(skimage.data_dir) / name
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f"{path} not found or unreadable (scikit-image's bundled sample photos)")
        out.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    return out


def load_stamp(source: str, stamps: Path = STAMPS) -> np.ndarray:
    """The RGBA cut-out of a gallery photo's stamp (``manifest.json`` "source"), [h, w, 4] uint8."""
    path = stamps / source
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 3 or img.shape[2] != 4:
        raise SystemExit(f"{path}: not an RGBA stamp (install tuxpaint-stamps-default)")
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)


def gallery_sources(gallery: Path = GALLERY) -> dict[str, str]:
    """Gallery photo path relative to ``gallery`` -> its stamp's path under ``STAMPS``."""
    import json

    files = json.loads((gallery / "manifest.json").read_text())["files"]
    return {f["file"]: f["source"] for f in files}


def load_all(quickdraw: Path = QUICKDRAW, gallery: Path = GALLERY) -> SbirData:
    """Every class with QuickDraw sketches and/or gallery photos (joined by canonical name)."""
    if not quickdraw.is_dir():
        raise SystemExit(f"{quickdraw} not found: the QuickDraw sample lives in ../shared/data/quickdraw")
    return read_class_folders(quickdraw, gallery, name="quickdraw + tuxpaint demo")


def _keep_sketches(data: SbirData, keep: slice, name: str) -> SbirData:
    """The same classes and photos, with only sketches ``keep`` (by per-class order) of each class."""
    by_class = data.indices_by_class("sketch")
    chosen = sorted(i for idx in by_class.values() for i in idx[keep])
    return SbirData(data.classes, tuple(data.sketches[i] for i in chosen), data.photos, name)


def photo_only_classes(data: SbirData) -> list[str]:
    """Gallery classes with photos but no doodles, minus ``PHOTO_ONLY_EXCLUDED`` (sorted).

    These can only be trained with pseudo-sketches (edge maps of their photos)."""
    sk, ph = data.indices_by_class("sketch"), data.indices_by_class("photo")
    excluded = {canonical_class(c) for c in (*PHOTO_ONLY_EXCLUDED, *ZSE_LITE_UNSEEN, *ZSE_LITE_SEEN)}
    return sorted(
        data.classes[c] for c in ph if c not in sk and canonical_class(data.classes[c]) not in excluded
    )


def split_data(data: SbirData, photo_only: bool = False) -> dict[str, SbirData]:
    """``train`` (seen, sketches 0..19), ``seen_heldout`` (seen, sketches 20..), ``unseen`` (all).

    With ``photo_only`` the training part also holds the photos of ``photo_only_classes`` (classes
    56.. of ``train``, without sketches), for pseudo-sketch training.
    """
    extra = photo_only_classes(data) if photo_only else []
    seen = data.select_classes([*ZSE_LITE_SEEN, *extra], name="seen")
    unseen = data.select_classes(ZSE_LITE_UNSEEN, name="unseen")
    overlap = {canonical_class(c) for c in seen.classes} & {canonical_class(c) for c in unseen.classes}
    if overlap:
        raise SystemExit(f"seen and unseen classes overlap: {sorted(overlap)}")
    return {
        "train": _keep_sketches(seen, slice(0, TRAIN_SKETCHES), "seen train"),
        "seen_heldout": _keep_sketches(
            seen.select_classes(ZSE_LITE_SEEN), slice(TRAIN_SKETCHES, None), "seen held-out sketches"
        ),
        "unseen": unseen,
    }


# ---- augmentation ------------------------------------------------------------------------------
def _affine(
    img: np.ndarray, rng: np.random.Generator, scale: tuple[float, float], rot: float, shift: float
) -> np.ndarray:
    """Random scale / rotation / shift of an [S, S, 3] uint8 image, white fill."""
    s = img.shape[0]
    m = cv2.getRotationMatrix2D((s / 2, s / 2), float(rng.uniform(-rot, rot)), float(rng.uniform(*scale)))
    m[:, 2] += rng.uniform(-shift, shift, size=2) * s
    return cv2.warpAffine(img, m, (s, s), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255))


def augment_sketch_pixels(display: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sketch augmentation on the prepared [S, S, 3] image: flip, scale 0.75-1.05, +-12 deg, 8 % shift."""
    out = display[:, ::-1] if rng.random() < 0.5 else display
    return _affine(np.ascontiguousarray(out), rng, (0.75, 1.05), 12.0, 0.08)


Strokes = list[tuple[np.ndarray, float]]


def augment_strokes(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """Stroke-level sketch augmentation: drop each stroke with p = 0.15 (the longest always stays) and
    move every point by N(0, 1.5 px) on the 256 px canvas; another drawing of the same idea."""
    longest = int(np.argmax([len(p) for p, _ in strokes]))
    out = []
    for k, (pts, w) in enumerate(strokes):
        if k != longest and rng.random() < 0.15:
            continue
        out.append(((pts + rng.normal(0.0, 1.5, size=pts.shape)).astype(np.float32), w))
    return out


def augment_photo_pixels(display: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photo augmentation: flip, scale 0.7-1.05, +-10 deg, 8 % shift, colour jitter, 15 % grey."""
    out = display[:, ::-1] if rng.random() < 0.5 else display
    out = _affine(np.ascontiguousarray(out), rng, (0.7, 1.05), 10.0, 0.08).astype(np.float32)
    grey = out.mean(axis=2, keepdims=True)
    sat = rng.uniform(0.6, 1.4) if rng.random() > 0.15 else 0.0  # 0 = greyscale
    out = grey + (out - grey) * sat
    out = (out - 128.0) * rng.uniform(0.75, 1.25) + 128.0 + rng.uniform(-25, 25)
    return np.clip(out, 0, 255).astype(np.uint8)


def pseudo_sketch(photo_rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Edge map of a photo drawn as black lines on white: a stand-in sketch of the photo's class.

    Canny on the grey photo at 256 px with thresholds from the median intensity (randomised),
    edges thickened by a 2x2 dilation; a photo without Canny edges gives the outline of its
    non-white area instead.
    """
    h, w = photo_rgb.shape[:2]
    f = 256.0 / max(h, w)
    img = cv2.resize(photo_rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    grey = cv2.GaussianBlur(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), (5, 5), 0)
    med = float(np.median(grey))
    lo = max(10.0, (0.66 + rng.uniform(-0.2, 0.2)) * med * 0.5)
    edges = cv2.Canny(grey, lo, lo * 2.5)
    if not edges.any():  # a faint, low-contrast photo: fall back to the outline of its non-white area
        mask = (grey < 245).astype(np.uint8) * 255
        edges = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    edges = cv2.dilate(edges, np.ones((2, 2), np.uint8))
    out = np.full((*edges.shape, 3), 255, np.uint8)
    out[edges > 0] = 0
    return out


class AugmentedQuadruplets(SampledQuadruplets):
    """The released sampler (same draws, see ``SampledQuadruplets.draw``) with augmentation.

    Sketches are re-rendered from their strokes with a random pen width (2-5 px on the 256 px
    canvas), after ``augment_strokes`` when ``stroke_aug``, before the official preprocessing;
    with probability ``pseudo_prob`` the anchor sketch
    is replaced by a pseudo-sketch (edge map) of a random photo of the anchor's class. All
    randomness comes from ``(seed, index)``, so runs are reproducible.
    """

    def __init__(
        self, data: SbirData, cfg: ZseConfig, seed: int, pseudo_prob: float = 0.0, stroke_aug: bool = False
    ) -> None:
        super().__init__(data, cfg, seed=seed)
        self.pseudo_prob = float(pseudo_prob)
        self.stroke_aug = bool(stroke_aug)
        self._photo_cache: dict[int, np.ndarray] = {}
        self.composite_prob = 0.0
        self._backgrounds: list[np.ndarray] = []
        self._stamps: dict[int, np.ndarray] = {}

    def _photo_rgb(self, i: int) -> np.ndarray:
        # The demo gallery is small (~100 training photos): keep decoded pixels.
        if i not in self._photo_cache:
            self._photo_cache[i] = self.data.load_photo(i)
        return self._photo_cache[i]

    def _aug_sketch(self, i: int, rng: np.random.Generator) -> Tensor:
        s = self.data.sketches[i]
        if s.drawing is not None:
            pen = float(rng.uniform(2.0, 5.0))
            strokes = quickdraw_to_strokes(s.drawing, pen_width=pen)
            rgb = rasterize_strokes(augment_strokes(strokes, rng) if self.stroke_aug else strokes, (256, 256))
        else:
            rgb = self.data.load_sketch(i)
        display = augment_sketch_pixels(prepare_sketch(rgb, self.cfg).display, rng)
        return torch.from_numpy(normalize(display, self.cfg))

    def _aug_photo(self, i: int, rng: np.random.Generator) -> Tensor:
        return torch.from_numpy(normalize(self._aug_photo_display(i, rng), self.cfg))

    def _aug_photo_display(self, i: int, rng: np.random.Generator) -> np.ndarray:
        """Augmented [S, S, 3] uint8 view of photo ``i``; with ``composite_prob`` the photo's cut-out is
        first pasted on a crop of a real background (``set_composite``)."""
        rgb = self._photo_rgb(i)
        if self.composite_prob > 0 and i in self._stamps and rng.random() < self.composite_prob:
            bg = self._backgrounds[int(rng.integers(0, len(self._backgrounds)))]
            rgb, _ = composite(self._stamps[i], bg, rng)
        return augment_photo_pixels(prepare_photo(rgb, self.cfg).display, rng)

    def set_composite(
        self, prob: float, backgrounds: list[np.ndarray], stamps: dict[int, np.ndarray]
    ) -> None:
        """Paste photo ``i``'s cut-out ``stamps[i]`` (RGBA) on a random crop of one of ``backgrounds``
        with probability ``prob`` (0 = photos on white only, as released)."""
        if prob > 0 and not backgrounds:
            raise ValueError("composite photos need at least one background")
        self.composite_prob = float(prob)
        self._backgrounds = list(backgrounds)
        self._stamps = dict(stamps)

    def _photo_of_class(self, label: int, rng: np.random.Generator) -> int:
        """A random photo index of class ``label`` (the source of a pseudo-sketch)."""
        photos = self._ph[label]
        return photos[int(rng.integers(0, len(photos)))]

    def _pseudo_of_photo(self, photo: int, rng: np.random.Generator) -> Tensor:
        display = augment_sketch_pixels(
            prepare_sketch(pseudo_sketch(self._photo_rgb(photo), rng), self.cfg).display, rng
        )
        return torch.from_numpy(normalize(display, self.cfg))

    def __getitem__(self, index: int) -> Quadruplet:
        if index < 0:
            raise IndexError(f"sample index {index} < 0")
        i_sk, i_ph, i_skn, i_phn = self.draw(index)
        rng = np.random.default_rng([self.seed, int(index), 7])
        if self.pseudo_prob > 0 and rng.random() < self.pseudo_prob:
            anchor = self._pseudo_of_photo(self._photo_of_class(self.data.photos[i_ph].label, rng), rng)
        else:
            anchor = self._aug_sketch(i_sk, rng)
        return anchor, self._aug_photo(i_ph, rng), self._aug_sketch(i_skn, rng), self._aug_photo(i_phn, rng)


class CachedViewQuadruplets(AugmentedQuadruplets):
    """``AugmentedQuadruplets`` with a fixed number of augmented views per image, each encoded by the
    frozen backbone once (lazily, on first use) and then served from memory.

    Items are ``pack_cached_features(image, features)`` tensors [4, S, S], which the ``zse_lite``
    encoder unpacks, so the trainer runs unchanged while the frozen backbone (the costliest part of
    a CPU step) runs once per view instead of once per draw. View ``v`` of an item is generated from
    the RNG ``(seed, kind, item, v)``, so the cache content does not depend on the draw order.

    With ``photo_only_prob`` > 0, that share of items comes from the classes of ``data`` that have
    photos but no sketches: both sketch slots are pseudo-sketches of two random photos of the class,
    the negative photo comes from any other class with photos.
    """

    def __init__(
        self,
        data: SbirData,
        cfg: ZseConfig,
        seed: int,
        backbone: torch.nn.Module,
        pseudo_prob: float = 0.0,
        sketch_views: int = 4,
        photo_views: int = 16,
        stroke_aug: bool = False,
        photo_only_prob: float = 0.0,
        corr_prob: float = 0.0,
    ) -> None:
        super().__init__(data, cfg, seed=seed, pseudo_prob=pseudo_prob, stroke_aug=stroke_aug)
        self.photo_only_prob = float(photo_only_prob)
        # Share of items that are known-geometry pairs (an edge map of the very photo view, under a
        # random known transform); with corr_prob > 0 every item has a fifth part, the true photo
        # point of each sketch patch (NaN where unknown), for TrainConfig.corr_weight.
        self.corr_prob = float(corr_prob)
        self._pairs: dict[tuple[int, int], tuple[np.ndarray, Tensor, np.ndarray, Tensor, np.ndarray]] = {}
        self.photo_only = sorted(c for c in self._ph if c not in self._sk)
        self.photo_classes = sorted(self._ph)
        if self.photo_only_prob > 0 and not self.photo_only:
            raise ValueError("photo_only_prob > 0 but every class of the data has sketches")
        self.backbone = backbone.eval()
        self.views = {
            "sketch": sketch_views,
            "photo": photo_views,
            "pseudo": sketch_views,
            "pair": sketch_views,
        }
        self._cache: dict[tuple[str, int, int], tuple[np.ndarray, Tensor]] = {}

    @property
    def cached_views(self) -> int:
        return len(self._cache)

    def _make_view(self, kind: str, i: int, v: int) -> Tensor:
        """View ``v`` of item ``i`` ([3, S, S] normalised), from its own deterministic RNG."""
        vrng = np.random.default_rng([self.seed, ("sketch", "photo", "pseudo").index(kind), i, v])
        if kind == "sketch":
            return self._aug_sketch(i, vrng)
        if kind == "photo":
            return self._aug_photo(i, vrng)
        return self._pseudo_of_photo(i, vrng)

    def _make_pair(self, i: int, v: int) -> tuple[Tensor, Tensor, np.ndarray]:
        """Known-geometry pair ``v`` of photo ``i``: (sketch, photo) [3, S, S] normalised, and the
        true photo point of each sketch patch [P, 2] (NaN for patches without ink or partner)."""
        vrng = np.random.default_rng([self.seed, 3, i, v])
        photo = self._aug_photo_display(i, vrng)
        t = random_transform(self.cfg.img_size, vrng)
        sketch = warp_sketch(edge_sketch(photo, vrng), t)
        g, ps = self.cfg.grid_size, self.cfg.patch_size
        targets = patch_targets(t, patch_ink(sketch, g, ps), g, ps)
        return (
            torch.from_numpy(normalize(sketch, self.cfg)),
            torch.from_numpy(normalize(photo, self.cfg)),
            targets,
        )

    def _pixels(self, x: Tensor) -> np.ndarray:
        mean = np.asarray(self.cfg.mean, np.float32)[:, None, None]
        std = np.asarray(self.cfg.std, np.float32)[:, None, None]
        return np.clip(np.round((x.numpy() * std + mean) * 255.0), 0, 255).astype(np.uint8)  # [3, S, S]

    def _unpack(self, pixels: np.ndarray, feats: Tensor) -> Tensor:
        img = torch.from_numpy(normalize(np.ascontiguousarray(pixels.transpose(1, 2, 0)), self.cfg))
        return pack_cached_features(img, feats.float())

    def _pair(self, i: int, rng: np.random.Generator) -> tuple[Tensor, Tensor, Tensor]:
        key = (i, int(rng.integers(0, self.views["pair"])))
        if key not in self._pairs:  # normally filled up front by ``precompute_views``
            sk, ph, tg = self._make_pair(*key)
            with torch.no_grad():
                f = self.backbone(torch.stack([sk, ph])).to(torch.float16)
            self._pairs[key] = (self._pixels(sk), f[0], self._pixels(ph), f[1], tg)
        sk_px, sk_f, ph_px, ph_f, tg = self._pairs[key]
        return self._unpack(sk_px, sk_f), self._unpack(ph_px, ph_f), torch.from_numpy(tg)

    def _store(self, key: tuple[str, int, int], x: Tensor, feats: Tensor) -> None:
        mean = np.asarray(self.cfg.mean, np.float32)[:, None, None]
        std = np.asarray(self.cfg.std, np.float32)[:, None, None]
        pixels = np.clip(np.round((x.numpy() * std + mean) * 255.0), 0, 255).astype(np.uint8)  # [3, S, S]
        self._cache[key] = (pixels, feats)

    def _view(self, kind: str, i: int, rng: np.random.Generator) -> Tensor:
        key = (kind, i, int(rng.integers(0, self.views[kind])))
        if key not in self._cache:  # normally filled up front by ``precompute_views``
            x = self._make_view(*key)
            with torch.no_grad():
                self._store(key, x, self.backbone(x[None])[0].to(torch.float16))
        pixels, feats = self._cache[key]
        img = torch.from_numpy(normalize(np.ascontiguousarray(pixels.transpose(1, 2, 0)), self.cfg))
        return pack_cached_features(img, feats.float())

    def __getitem__(self, index: int) -> Quadruplet:
        if index < 0:
            raise IndexError(f"sample index {index} < 0")
        rng = np.random.default_rng([self.seed, int(index), 7])
        if self.corr_prob <= 0:
            return self._item(index, rng)
        p = self.cfg.grid_size**2
        if rng.random() < self.corr_prob:  # a known-geometry pair of a random class's photo
            c0 = self.photo_classes[int(rng.integers(0, len(self.photo_classes)))]
            others = [c for c in self.photo_classes if c != c0]
            c2 = others[int(rng.integers(0, len(others)))]
            sk, ph, tg = self._pair(self._photo_of_class(c0, rng), rng)
            return (  # type: ignore[return-value]
                sk,
                ph,
                self._view("pseudo", self._photo_of_class(c0, rng), rng),
                self._view("photo", self._photo_of_class(c2, rng), rng),
                tg,
            )
        return (*self._item(index, rng), torch.full((p, 2), float("nan")))  # type: ignore[return-value]

    def _item(self, index: int, rng: np.random.Generator) -> Quadruplet:
        if self.photo_only_prob > 0 and rng.random() < self.photo_only_prob:
            c0 = self.photo_only[int(rng.integers(0, len(self.photo_only)))]
            others = [c for c in self.photo_classes if c != c0]
            c2 = others[int(rng.integers(0, len(others)))]
            return (
                self._view("pseudo", self._photo_of_class(c0, rng), rng),
                self._view("photo", self._photo_of_class(c0, rng), rng),
                self._view("pseudo", self._photo_of_class(c0, rng), rng),
                self._view("photo", self._photo_of_class(c2, rng), rng),
            )
        i_sk, i_ph, i_skn, i_phn = self.draw(index)
        if self.pseudo_prob > 0 and rng.random() < self.pseudo_prob:
            anchor = self._view("pseudo", self._photo_of_class(self.data.photos[i_ph].label, rng), rng)
        else:
            anchor = self._view("sketch", i_sk, rng)
        return (
            anchor,
            self._view("photo", i_ph, rng),
            self._view("sketch", i_skn, rng),
            self._view("photo", i_phn, rng),
        )


def precompute_views(ds: CachedViewQuadruplets, batch: int = 32) -> int:
    """Fill ``ds``'s cache with every view of every training item, running the backbone in batches
    (much cheaper per image than the lazy single-image path). Returns the number of views."""
    keys = [("sketch", i, v) for i in range(len(ds.data.sketches)) for v in range(ds.views["sketch"])]
    photos = sorted({i for c in ds.classes for i in ds._ph[int(c)]})
    extra = sorted({i for c in ds.photo_only for i in ds._ph[c]}) if ds.photo_only_prob > 0 else []
    keys += [("photo", i, v) for i in [*photos, *extra] for v in range(ds.views["photo"])]
    pseudo = [*(photos if ds.pseudo_prob > 0 else []), *extra]
    keys += [("pseudo", i, v) for i in pseudo for v in range(ds.views["pseudo"])]
    if ds.corr_prob > 0:
        pairs = [(i, v) for i in [*photos, *extra] for v in range(ds.views["pair"])]
        for s in range(0, len(pairs), batch // 2):
            made = [(k, *ds._make_pair(*k)) for k in pairs[s : s + batch // 2] if k not in ds._pairs]
            if not made:
                continue
            with torch.no_grad():
                f = ds.backbone(torch.stack([x for m in made for x in (m[1], m[2])])).to(torch.float16)
            for j, (k, sk, ph, tg) in enumerate(made):
                ds._pairs[k] = (ds._pixels(sk), f[2 * j], ds._pixels(ph), f[2 * j + 1], tg)
        log.info("cached %d known-geometry pairs", len(pairs))
    for s in range(0, len(keys), batch):
        part = [k for k in keys[s : s + batch] if k not in ds._cache]
        xs = [ds._make_view(*k) for k in part]
        if not xs:
            continue
        with torch.no_grad():
            feats = ds.backbone(torch.stack(xs)).to(torch.float16)
        for k, x, f in zip(part, xs, feats, strict=True):
            ds._store(k, x, f)
        if (s // batch) % 20 == 0:
            log.info("cached %d / %d views", min(s + batch, len(keys)), len(keys))
    return len(keys)


def lite_config(ca_null_key: bool = False) -> ZseConfig:
    """``zse_lite``'s config, with the cross-attention's "no match" keys when asked for
    (weights trained by ``train_demo.py --ca-null-key``)."""
    return get_config("zse_lite").with_overrides(ca_null_key=ca_null_key)


def add_null_key_flag(ap: argparse.ArgumentParser) -> None:
    """``--ca-null-key`` for a tool that reads weights: build the model with ``lite_config``."""
    ap.add_argument(
        "--ca-null-key", action="store_true",
        help="the weights were trained with the cross-attention's 'no match' keys (train_demo --ca-null-key)",
    )  # fmt: skip
