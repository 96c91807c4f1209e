"""Explanations: shapes, invariants between maps, matches, synthesis, frames and faithfulness."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import write_photo

from zse_gui.engine.engine import Engine
from zse_gui.engine.explain import DEFAULT_READOUT, mask_photo_patches, readout_maps, strip_ret
from zse_gui.engine.gallery import GalleryIndex
from zse_gui.errors import CancelledError, GalleryError
from zse_gui.results import Explanation
from zse_gui.sketch import StrokeSketch


@pytest.fixture(scope="module")
def gallery(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> GalleryIndex:
    base = tmp_path_factory.mktemp("explain")
    for k, name in enumerate(["cat/a.png", "cat/b.png", "dog/c.png", "dog/d.png"]):
        write_photo(base / "gallery" / name, k)
    return engine.index_gallery(base / "gallery", cache_root=base / "cache")


@pytest.fixture(scope="module")
def explanation(engine: Engine, gallery: GalleryIndex, sketch: StrokeSketch) -> Explanation:
    return engine.explain(sketch, gallery, index=2, faithfulness_top=3)


def test_shapes(engine: Engine, explanation: Explanation) -> None:
    cfg = engine.config
    g, p, s = cfg.grid_size, cfg.num_patches, cfg.img_size
    ex = explanation
    assert ex.grid == g and ex.patch_size == cfg.patch_size
    assert ex.sketch_image.shape == ex.photo_image.shape == (s, s, 3)
    assert ex.sketch_attn.shape == ex.photo_attn.shape == (cfg.ca_heads, p, p)
    assert ex.ret_attn_sketch.shape == ex.ret_attn_photo.shape == (cfg.num_heads, p)
    assert ex.kernel.shape == (cfg.num_anchors, cfg.num_anchors) and ex.kernel.dtype == np.float32
    assert np.all(np.abs(ex.kernel) <= 1 + 1e-5)
    assert ex.sketch_centres.shape == ex.photo_centres.shape == (p, 2)
    assert [c.head for c in ex.correspondences] == [None, *range(cfg.ca_heads)]
    assert 0 < ex.relation_score < 1
    assert ex.relation_score == pytest.approx(1 / (1 + np.exp(-ex.relation_logit)))
    assert -1 <= ex.ret_score <= 1


def test_attention_rows_are_renormalised(explanation: Explanation) -> None:
    np.testing.assert_allclose(explanation.sketch_attn.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(explanation.photo_attn.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(explanation.ret_attn_sketch.sum(-1), 1.0, atol=0.5)  # [Ret]->patches < 1


def test_strip_ret_drops_ret_and_handles_zero_rows() -> None:
    a = np.zeros((1, 3, 3), np.float32)
    a[0, 1] = [0.5, 0.25, 0.25]
    a[0, 2] = [1.0, 0.0, 0.0]  # all mass on [Ret]
    out = strip_ret(a)
    np.testing.assert_allclose(out[0], [[0.5, 0.5], [0.5, 0.5]])


def test_correspondences_consistent_with_maps(explanation: Explanation) -> None:
    ex = explanation
    mean_s, mean_p = ex.sketch_attn.mean(0), ex.photo_attn.mean(0)
    for c in ex.correspondences:
        sm = mean_s if c.head is None else ex.sketch_attn[c.head]
        pm = mean_p if c.head is None else ex.photo_attn[c.head]
        assert c.readout == DEFAULT_READOUT
        match, strength = readout_maps(c.readout, sm, pm, c.ink)
        np.testing.assert_array_equal(c.sketch_to_photo, match.argmax(1))
        np.testing.assert_array_equal(c.photo_to_sketch, pm.argmax(1))
        np.testing.assert_allclose(
            c.sketch_score, strength[np.arange(len(match)), match.argmax(1)], rtol=1e-5
        )
        np.testing.assert_allclose(c.photo_score, pm.max(1), rtol=1e-6)
        for i in range(len(c.mutual)):
            j = c.sketch_to_photo[i]
            assert c.mutual[i] == (c.photo_to_sketch[j] == i)


def test_ink_mask_matches_display(engine: Engine, explanation: Explanation) -> None:
    ps, g = explanation.patch_size, explanation.grid
    dark = explanation.sketch_image.astype(int).sum(2) <= 300
    for cell in range(g * g):
        r, c = divmod(cell, g)
        assert (
            explanation.correspondences[0].ink[cell]
            == dark[r * ps : (r + 1) * ps, c * ps : (c + 1) * ps].any()
        )
    assert explanation.correspondences[0].ink.any() and not explanation.correspondences[0].ink.all()


def test_synthesis_copies_photo_cells(explanation: Explanation) -> None:
    ps, g = explanation.patch_size, explanation.grid
    syn = explanation.synthesis
    mean = explanation.for_head(None)
    np.testing.assert_array_equal(syn.source_cell, mean.sketch_to_photo)
    np.testing.assert_array_equal(syn.score, mean.sketch_score)
    for cell in range(g * g):
        r, c = divmod(cell, g)
        sr, sc = divmod(int(syn.source_cell[cell]), g)
        np.testing.assert_array_equal(
            syn.image[r * ps : (r + 1) * ps, c * ps : (c + 1) * ps],
            explanation.photo_image[sr * ps : (sr + 1) * ps, sc * ps : (sc + 1) * ps],
        )


def test_centres_map_back(explanation: Explanation, gallery: GalleryIndex) -> None:
    ps, g = explanation.patch_size, explanation.grid
    r, c = np.divmod(np.arange(g * g), g)
    model = np.stack([c * ps + ps / 2, r * ps + ps / 2], 1)
    np.testing.assert_allclose(
        explanation.sketch_frame.to_model(explanation.sketch_centres), model, atol=1e-3
    )
    w, h = explanation.photo_frame.size
    s = g * ps
    np.testing.assert_allclose(explanation.photo_centres, model * [w / s, h / s], rtol=1e-5)
    assert (w, h) == (48, 40)  # the generated photo's original size
    # Sketch centres are canvas pixels: ink cells sit where the strokes are (inside the canvas).
    ink_centres = explanation.sketch_centres[explanation.for_head(None).ink]
    assert (ink_centres >= 0).all() and (ink_centres[:, 0] <= 200).all() and (ink_centres[:, 1] <= 160).all()


def test_faithfulness_matches_explaining_the_masked_photo(
    engine: Engine, explanation: Explanation, sketch: StrokeSketch
) -> None:
    f = explanation.faithfulness
    assert f is not None and len(f.sketch_patch) == 3
    mean = explanation.for_head(None)
    np.testing.assert_array_equal(f.photo_patch, mean.sketch_to_photo[f.sketch_patch])
    assert mean.ink[f.sketch_patch].all()
    assert f.base_score == pytest.approx(explanation.relation_score)
    np.testing.assert_allclose(f.drop, f.base_score - f.masked_score, atol=1e-6)
    # Re-explaining the masked model-input photo (resize to the same size is the identity) gives
    # the same relation score as the faithfulness test measured.
    masked = mask_photo_patches(
        explanation.photo_image, f.photo_patch[:1], explanation.grid, explanation.patch_size
    )
    again = engine.explain(sketch, photo=masked[0])
    assert again.relation_score == pytest.approx(float(f.masked_score[0]), abs=1e-5)
    assert (masked[0] != explanation.photo_image).any()


def test_photo_path_equals_gallery_index(engine: Engine, gallery: GalleryIndex, sketch: StrokeSketch) -> None:
    a = engine.explain(sketch, gallery, index=1)
    b = engine.explain(engine.encode_sketch(sketch), photo=gallery.paths[1])
    assert a.faithfulness is None
    assert a.relation_logit == pytest.approx(b.relation_logit, abs=1e-6)
    np.testing.assert_array_equal(a.for_head(None).sketch_to_photo, b.for_head(None).sketch_to_photo)


def test_explain_errors(engine: Engine, gallery: GalleryIndex, sketch: StrokeSketch) -> None:
    with pytest.raises(GalleryError, match="needs a gallery index or a photo"):
        engine.explain(sketch, gallery)
    with pytest.raises(GalleryError, match="out of range"):
        engine.explain(sketch, gallery, index=len(gallery))
    with pytest.raises(GalleryError, match="needs the gallery"):
        engine.explain(sketch, index=0)


def test_explain_cancellation_between_stages(
    engine: Engine, gallery: GalleryIndex, sketch: StrokeSketch
) -> None:
    polls = {"n": 0}

    def counting() -> bool:
        polls["n"] += 1
        return False

    engine.explain(sketch, gallery, index=0, faithfulness_top=2, cancel=counting)
    total = polls["n"]
    assert total >= 4
    for stop_at in range(1, total + 1):
        polls["n"] = 0

        def cancel_at(k: int = stop_at) -> bool:
            polls["n"] += 1
            return polls["n"] >= k

        with pytest.raises(CancelledError):
            engine.explain(sketch, gallery, index=0, faithfulness_top=2, cancel=cancel_at)
