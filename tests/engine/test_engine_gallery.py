"""Gallery indexing: scan, labels, skipped files, incremental cache, atomic writes, cancel."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import write_photo
from PIL import Image

from zse_gui.engine import cache as cache_mod
from zse_gui.engine.engine import Engine
from zse_gui.engine.gallery import build_index
from zse_gui.engine.preprocess import prepare_photo
from zse_gui.errors import CancelledError, GalleryError


def _no_temp_files(d: Path) -> bool:
    return not [p for p in d.rglob("*") if p.name.endswith(".tmp")]


def test_build_labels_shapes_and_skipped(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path
) -> None:
    root = make_gallery(per_class=3, root_files=1)
    (root / "cat" / "notes.txt").write_text("ignored: not an image extension")
    (root / "dog" / "fake.jpg").write_text("not a jpeg")
    trunc = write_photo(root / "owl" / "trunc.png", 99, size=(64, 64))
    trunc.write_bytes(trunc.read_bytes()[:200])
    Image.new("RGB", (8, 8)).save(root / "cat" / "real.PNG")
    seen: list[tuple[int, int]] = []
    idx = engine.index_gallery(
        root, cache_root=cache_root, batch_size=4, progress=lambda d, t: seen.append((d, t))
    )

    cfg = engine.config
    assert len(idx) == 3 * 3 + 1 + 1
    assert idx.num_encoded == len(idx) and idx.num_reused == 0
    assert idx.class_names == ["cat", "dog", "owl"]
    assert idx.labels[idx.paths.index(str(root / "loose_0.png"))] is None
    assert idx.labels[idx.paths.index(str(root / "cat" / "real.PNG"))] == "cat"
    assert sorted(Path(p).name for p, _ in idx.skipped) == ["fake.jpg", "trunc.png"]
    assert all(reason for _, reason in idx.skipped)
    assert idx.embeddings.shape == (len(idx), cfg.embed_dim) and idx.embeddings.dtype == np.float32
    assert idx.tokens.shape == (len(idx), cfg.num_tokens, cfg.embed_dim) and idx.tokens.dtype == np.float16
    assert isinstance(idx.tokens, np.memmap) and isinstance(idx.embeddings, np.memmap)
    np.testing.assert_allclose(np.linalg.norm(idx.embeddings, axis=1), 1.0, atol=1e-5)
    assert seen[0] == (0, 13) and seen[-1] == (13, 13)
    np.testing.assert_array_equal(idx.label_ids()[idx.paths.index(str(root / "loose_0.png"))], -1)
    assert _no_temp_files(cache_root)


def test_cached_rows_match_a_fresh_encoding(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path
) -> None:
    root = make_gallery(per_class=2)
    idx = engine.index_gallery(root, cache_root=cache_root)
    i = 3
    ret, tok = engine.encode_photo_batch(prepare_photo(idx.paths[i], engine.config).tensor[None])
    np.testing.assert_allclose(idx.embeddings[i], ret[0] / np.linalg.norm(ret[0]), atol=1e-5)
    np.testing.assert_array_equal(idx.tokens[i], tok[0])


def test_incremental_updates(engine: Engine, make_gallery: Callable[..., Path], cache_root: Path) -> None:
    root = make_gallery(per_class=3)
    first = engine.index_gallery(root, cache_root=cache_root)
    again = engine.index_gallery(root, cache_root=cache_root)
    assert again.num_encoded == 0 and again.key == first.key and len(again) == 9

    changed = root / "dog" / "dog_1.png"
    write_photo(changed, 1234, size=(50, 41))
    st = changed.stat()
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    after_change = engine.index_gallery(root, cache_root=cache_root)
    assert after_change.num_encoded == 1 and after_change.num_reused == 8
    i = after_change.paths.index(str(changed))
    assert not np.array_equal(after_change.embeddings[i], first.embeddings[i])
    unchanged = after_change.paths.index(str(root / "cat" / "cat_0.png"))
    np.testing.assert_array_equal(after_change.tokens[unchanged], first.tokens[unchanged])

    (root / "owl" / "owl_2.png").unlink()
    after_delete = engine.index_gallery(root, cache_root=cache_root)
    assert after_delete.num_encoded == 0 and len(after_delete) == 8
    assert str(root / "owl" / "owl_2.png") not in after_delete.paths

    write_photo(root / "newclass" / "n.png", 77)
    after_add = engine.index_gallery(root, cache_root=cache_root)
    assert after_add.num_encoded == 1 and "newclass" in after_add.class_names
    # Only the current generation's arrays remain on disk.
    assert len(list(after_add.cache_dir.glob("*.npy"))) == 2


def test_bad_images_are_remembered_not_retried(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path
) -> None:
    root = make_gallery(per_class=1)
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    first = engine.index_gallery(root, cache_root=cache_root)
    second = engine.index_gallery(root, cache_root=cache_root)
    assert second.num_encoded == 0 and second.skipped == first.skipped and len(second.skipped) == 1


def test_disk_full_keeps_previous_cache(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_gallery(per_class=2)
    old = engine.index_gallery(root, cache_root=cache_root)
    write_photo(root / "cat" / "extra.png", 555)

    real_write = cache_mod._write_bytes
    calls = {"n": 0}

    def fill_up(fh: object, data: bytes | np.ndarray) -> None:
        calls["n"] += 1
        if calls["n"] > 3:  # let a few chunks through: the failure happens mid-write
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(fh, data)  # type: ignore[arg-type]

    monkeypatch.setattr(cache_mod, "_write_bytes", fill_up)
    with pytest.raises(GalleryError, match="No space left on device"):
        engine.index_gallery(root, cache_root=cache_root)
    monkeypatch.setattr(cache_mod, "_write_bytes", real_write)
    assert _no_temp_files(cache_root)

    # The old generation is intact: without the extra file nothing needs encoding.
    (root / "cat" / "extra.png").unlink()
    reopened = engine.index_gallery(root, cache_root=cache_root)
    assert reopened.num_encoded == 0 and reopened.key == old.key
    np.testing.assert_array_equal(reopened.tokens, old.tokens)


def test_disk_full_while_staging(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_gallery(per_class=2)

    def full(fh: object, data: bytes | np.ndarray) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache_mod, "_write_bytes", full)
    with pytest.raises(GalleryError, match="No space left on device"):
        engine.index_gallery(root, cache_root=cache_root)
    assert _no_temp_files(cache_root)


@pytest.mark.parametrize("tokens", ["fp16", "int8"])
@pytest.mark.parametrize(
    "damage", ["manifest_garbage", "manifest_edit", "tokens_truncated", "emb_flipped", "emb_missing"]
)
def test_corrupt_cache_is_rebuilt(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, damage: str, tokens: str
) -> None:
    root = make_gallery(per_class=2)
    good = engine.index_gallery(root, cache_root=cache_root, tokens=tokens)
    good_tokens = np.array(good.tokens)  # a copy: the memmap would see the damage
    cdir = good.cache_dir
    emb = next(cdir.glob("emb-*.npy"))
    tok = next(cdir.glob("tokens-*.npy"))
    if damage == "manifest_garbage":
        (cdir / "manifest.json").write_text("{ this is not json")
    elif damage == "manifest_edit":
        text = (cdir / "manifest.json").read_text()
        (cdir / "manifest.json").write_text(text.replace("cat_0.png", "cat_9.png"))
    elif damage == "tokens_truncated":
        tok.write_bytes(tok.read_bytes()[:-100])
    elif damage == "emb_flipped":
        data = bytearray(emb.read_bytes())
        data[-1] ^= 0xFF
        emb.write_bytes(bytes(data))
    else:
        emb.unlink()
    rebuilt = engine.index_gallery(root, cache_root=cache_root, tokens=tokens)
    assert rebuilt.num_encoded == len(good) == len(rebuilt)
    np.testing.assert_array_equal(np.asarray(rebuilt.tokens), good_tokens)


def test_cancel_keeps_progress(engine: Engine, make_gallery: Callable[..., Path], cache_root: Path) -> None:
    root = make_gallery(per_class=4)  # 12 files, batches of 4
    polls = {"n": 0}

    def cancel_after_first_batch() -> bool:
        polls["n"] += 1
        return polls["n"] > 1

    with pytest.raises(CancelledError, match="4 of 12"):
        build_index(engine, root, cache_root=cache_root, batch_size=4, cancel=cancel_after_first_batch)
    assert _no_temp_files(cache_root)
    resumed = build_index(engine, root, cache_root=cache_root, batch_size=4)
    assert resumed.num_encoded == 8 and resumed.num_reused == 4 and len(resumed) == 12


def test_cancel_before_anything(engine: Engine, make_gallery: Callable[..., Path], cache_root: Path) -> None:
    root = make_gallery(per_class=1)
    with pytest.raises(CancelledError):
        engine.index_gallery(root, cache_root=cache_root, cancel=lambda: True)
    assert engine.index_gallery(root, cache_root=cache_root).num_encoded == 3


def test_bare_model_and_folder_errors(engine: Engine, tmp_path: Path, cache_root: Path) -> None:
    with pytest.raises(GalleryError, match="does not exist"):
        build_index(engine, tmp_path / "nowhere", cache_root=cache_root)
    (tmp_path / "empty").mkdir()
    with pytest.raises(GalleryError, match="no image files"):
        build_index(engine, tmp_path / "empty", cache_root=cache_root)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_text("x")
    with pytest.raises(GalleryError, match="could be read"):
        build_index(engine, tmp_path / "bad", cache_root=cache_root)
    with pytest.raises(GalleryError, match="cannot index"):
        build_index(object(), tmp_path, cache_root=cache_root)


def test_model_and_engine_share_the_cache(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path
) -> None:
    root = make_gallery(per_class=1)
    engine.index_gallery(root, cache_root=cache_root)
    via_model = build_index(engine.model, root, cache_root=cache_root)
    assert via_model.num_encoded == 0


def test_default_cache_root_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ZSE_CACHE_DIR", str(tmp_path / "c"))
    assert cache_mod.default_cache_root() == tmp_path / "c"
    monkeypatch.delenv("ZSE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_mod.default_cache_root() == tmp_path / "xdg" / "zse-gui"


def test_abandoned_temp_files_are_removed_whatever_their_age(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path
) -> None:
    # Writers hold the cache's lock, so a temp file found by the next writer is abandoned,
    # even one written a second ago (a kill leaves fresh ones).
    root = make_gallery(per_class=1)
    cdir = engine.index_gallery(root, cache_root=cache_root).cache_dir
    fresh, old_one = cdir / ".tokens-x.npy.1.tmp", cdir / ".staging-y.tmp"
    fresh.write_bytes(b"left by a kill a moment ago")
    old_one.write_bytes(b"left by a crash")
    old = old_one.stat().st_mtime - 2 * 3600
    os.utime(old_one, (old, old))
    write_photo(root / "cat" / "new.png", 5)
    engine.index_gallery(root, cache_root=cache_root)
    assert not fresh.exists() and not old_one.exists()
