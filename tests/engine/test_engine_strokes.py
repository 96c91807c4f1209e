"""Stroke attribution and replay: checked against direct searches of the variant sketches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from zse_gui.engine.engine import Engine
from zse_gui.engine.gallery import GalleryIndex
from zse_gui.engine.replay import replay_sketch, target_class, target_photo, target_rank
from zse_gui.engine.strokes import attribute_strokes, contrast_strokes, stroke_variants
from zse_gui.errors import GalleryError, InvalidSketchError, UsageError
from zse_gui.sketch import Stroke, StrokeSketch, read_stroke_file

ROOT = Path(__file__).resolve().parents[2]


def fish_and_speck() -> StrokeSketch:
    """The sample fish's body (one stroke: the object) and a 2-pixel speck in a far corner."""
    fish = read_stroke_file(ROOT / "resources" / "sketches" / "fish.json")
    body = max(fish.strokes, key=lambda s: len(s.points))
    speck = Stroke(np.array([[500, 500], [502, 501]], np.float32), 3.0)
    return StrokeSketch((body, speck), fish.canvas_size)


def direct_logit(engine: Engine, sketch: StrokeSketch, gallery: GalleryIndex, index: int) -> float:
    return float(engine.rn_logits(sketch, gallery, [index])[0])


def test_removing_the_object_stroke_costs_more_than_removing_a_speck(
    lite: Engine, lite_gallery: GalleryIndex
) -> None:
    sketch = fish_and_speck()
    target = target_class(lite_gallery, "fish").indices[0]
    attr = attribute_strokes(lite, sketch, lite_gallery, target)
    # Known by construction: stroke 0 is the fish, stroke 1 a speck.
    assert list(attr.order()) == [0, 1]
    # And the model agrees when each variant is searched directly, outside the attribution code.
    without_body = direct_logit(
        lite, StrokeSketch(sketch.strokes[1:], sketch.canvas_size), lite_gallery, target
    )
    without_speck = direct_logit(
        lite, StrokeSketch(sketch.strokes[:1], sketch.canvas_size), lite_gallery, target
    )
    full = direct_logit(lite, sketch, lite_gallery, target)
    assert full - without_body > full - without_speck
    np.testing.assert_allclose(attr.removed_logit, [without_body, without_speck], atol=1e-3)
    np.testing.assert_allclose(attr.base_logit, full, atol=1e-3)


def test_attribution_numbers_equal_direct_scores_and_ranks(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, sketch: StrokeSketch
) -> None:
    gallery = engine.index_gallery(make_gallery(), cache_root)
    three = StrokeSketch(
        (*sketch.strokes, Stroke(np.array([[10, 10], [40, 20]], np.float32), 3.0)), (200, 160)
    )
    compared = [0, 3, 5, 7, 11]
    attr = attribute_strokes(engine, three, gallery, 5, compared)
    assert attr.compared[0] == 5 and set(attr.compared) == set(compared)
    removed, alone = stroke_variants(three)
    for k in range(3):
        for variant, logit, rank in (
            (removed[k], attr.removed_logit[k], attr.removed_rank[k]),
            (alone[k], attr.alone_logit[k], attr.alone_rank[k]),
        ):
            assert variant is not None
            direct = engine.rn_logits(variant, gallery, attr.compared)
            np.testing.assert_allclose(logit, direct[0], atol=1e-4)
            order = sorted(attr.compared, key=lambda i: (-direct[attr.compared.index(i)], i))
            assert rank == order.index(5)
    assert attr.contribution.shape == (3,)


def test_single_stroke_has_no_removed_variant_and_bad_input_is_typed(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, sketch: StrokeSketch
) -> None:
    gallery = engine.index_gallery(make_gallery(), cache_root)
    one = StrokeSketch(sketch.strokes[:1], sketch.canvas_size)
    attr = attribute_strokes(engine, one, gallery, 0)
    assert np.isnan(attr.removed_logit[0]) and attr.removed_rank[0] == -1
    np.testing.assert_allclose(attr.alone_logit[0], attr.base_logit, atol=1e-5)
    with pytest.raises(GalleryError):
        attribute_strokes(engine, one, gallery, len(gallery))
    with pytest.raises(InvalidSketchError):
        attribute_strokes(engine, StrokeSketch((), (100, 100)), gallery, 0)


@pytest.mark.parametrize("mode", ["rerank", "ret"])
def test_replay_ranks_equal_a_direct_search_on_each_prefix(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, sketch: StrokeSketch, mode: str
) -> None:
    gallery = engine.index_gallery(make_gallery(per_class=5), cache_root)
    strokes = (*sketch.strokes, Stroke(np.array([[10, 10], [40, 20], [30, 60]], np.float32), 3.0))
    drawing = StrokeSketch(strokes, (200, 160))
    prefixes: dict[int, list[int]] = {}
    for target in (target_class(gallery, "owl"), target_photo(gallery, gallery.paths[4])):
        prefixes.clear()
        rep = replay_sketch(
            engine,
            drawing,
            gallery,
            target,
            mode=mode,
            rerank_depth=6,
            on_prefix=lambda k, res: prefixes.__setitem__(k, [it.index for it in res.items]),
        )
        direct = []
        for k in range(1, len(strokes) + 1):
            res = engine.search(
                StrokeSketch(strokes[:k], drawing.canvas_size),
                gallery,
                top_k=len(gallery),
                rerank_depth=6,
                mode=mode,
            )
            ranked = [it.index for it in res.items]
            direct.append(min(ranked.index(i) for i in target.indices))
            assert rep.ranks[k - 1] == direct[-1]
            assert list(rep.top[k - 1]) == ranked[: rep.top.shape[1]]
            assert prefixes[k] == ranked  # the ranking handed out per prefix (the app's grid)
        for top in (1, 3):
            reached = [k + 1 for k, r in enumerate(direct) if r < top]
            assert rep.strokes_to_reach(top) == (reached[0] if reached else None)


def test_replay_targets_refuse_what_is_not_there(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, sketch: StrokeSketch, tmp_path: Path
) -> None:
    gallery = engine.index_gallery(make_gallery(), cache_root)
    with pytest.raises(UsageError):
        target_class(gallery, "zebra")
    with pytest.raises(UsageError):
        target_photo(gallery, tmp_path / "elsewhere.png")
    with pytest.raises(UsageError):
        target_rank(engine, sketch, gallery, len(gallery))
    assert target_class(gallery, "OWL").indices == tuple(
        i for i, lab in enumerate(gallery.labels) if lab == "owl"
    )


def test_attribution_of_any_photo_matches_the_gallery_item(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, sketch: StrokeSketch
) -> None:
    gallery = engine.index_gallery(make_gallery(), cache_root)
    by_index = attribute_strokes(engine, sketch, gallery, 2)
    by_photo = attribute_strokes(engine, sketch, None, None, photo=gallery.paths[2])
    assert by_photo.target_index == -1 and by_photo.target_path == gallery.paths[2]
    # The gallery keeps fp16 tokens; the photo is encoded afresh in fp32: equal up to that rounding.
    np.testing.assert_allclose(by_photo.removed_logit, by_index.removed_logit, atol=2e-2)
    np.testing.assert_allclose(by_photo.alone_logit, by_index.alone_logit, atol=2e-2)


def test_contrast_is_the_difference_of_the_two_attributions(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, sketch: StrokeSketch
) -> None:
    gallery = engine.index_gallery(make_gallery(), cache_root)
    con = contrast_strokes(engine, sketch, gallery, 1, 6)
    a = attribute_strokes(engine, sketch, gallery, 1, [6])
    b = attribute_strokes(engine, sketch, gallery, 6, [1])
    np.testing.assert_allclose(con.a.removed_logit, a.removed_logit, atol=1e-5)
    np.testing.assert_allclose(con.b.alone_logit, b.alone_logit, atol=1e-5)
    np.testing.assert_allclose(con.difference, a.contribution - b.contribution, atol=1e-5)
    assert con.a.target_index == 1 and con.b.target_index == 6 and con.b.compared == (1, 6)
    assert con.b.base_rank == b.base_rank  # ranks among the same two photos
    with pytest.raises(GalleryError):
        contrast_strokes(engine, sketch, gallery, 2, 2)


def test_the_target_scores_come_first_and_equal_the_final_ones(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, sketch: StrokeSketch
) -> None:
    gallery = engine.index_gallery(make_gallery(), cache_root)
    early: list = []
    final = attribute_strokes(engine, sketch, gallery, 0, [1, 2, 3], first=early.append)
    assert len(early) == 1 and early[0].compared == (0,), "called once, before the others are scored"
    np.testing.assert_array_equal(early[0].removed_logit, final.removed_logit)
    np.testing.assert_array_equal(early[0].alone_logit, final.alone_logit)
    assert early[0].base_logit == final.base_logit and final.compared == (0, 1, 2, 3)
    attribute_strokes(engine, sketch, gallery, 0, first=early.append)  # nothing else compared
    assert len(early) == 1


def test_attribution_works_on_a_gallery_that_keeps_no_tokens(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, sketch: StrokeSketch
) -> None:
    folder = make_gallery()
    stored = engine.index_gallery(folder, cache_root / "fp16", tokens="fp16")
    bare = engine.index_gallery(folder, cache_root / "none", tokens="none")
    assert bare.tokens.shape[1] == 0
    want = attribute_strokes(engine, sketch, stored, 0, [1, 2])
    got = attribute_strokes(engine, sketch, bare, 0, [1, 2])  # tokens recomputed from the photos
    np.testing.assert_allclose(got.removed_logit, want.removed_logit, atol=2e-2)
    np.testing.assert_allclose(got.alone_logit, want.alone_logit, atol=2e-2)
