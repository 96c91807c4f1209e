"""Fault injection on gallery indexing: damaged caches, kills, full disks, concurrent writers.

Each test states the fault and what must hold afterwards: damaged rows are found and encoded
again (never ranked), a kill loses at most one batch and leaves no temp file after the next
run, a resumed index is bit-identical to one built in one go.
"""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from engine_helpers import write_photo

from zse_gui.engine import cache as cache_mod
from zse_gui.engine import gallery as gallery_mod
from zse_gui.engine import journal as journal_mod
from zse_gui.engine.engine import Engine
from zse_gui.engine.gallery import GalleryIndex, build_index
from zse_gui.engine.journal import JOURNAL_FILES, CacheLock
from zse_gui.engine.tokenstore import TokenLayout
from zse_gui.errors import GalleryError


def _leftovers(d: Path) -> list[str]:
    """Temp files and journals under ``d``."""
    return sorted(p.name for p in d.rglob("*") if p.name.endswith(".tmp") or p.name in JOURNAL_FILES)


def _snapshot(idx: GalleryIndex) -> tuple[list[str], bytes, bytes]:
    return (
        [Path(p).name for p in idx.paths],
        np.asarray(idx.embeddings).tobytes(),
        np.asarray(idx.tokens).tobytes(),
    )


def _manifest(cdir: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((cdir / "manifest.json").read_text())
    return doc


def _rewrite_manifest(cdir: Path, doc: dict[str, Any]) -> None:
    """Write a manifest with a *valid* checksum, as a careful attacker or a buggy tool would."""
    doc = {k: v for k, v in doc.items() if k != "checksum"}
    doc["checksum"] = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
    (cdir / "manifest.json").write_text(json.dumps(doc))


# ---- every array is verified ---------------------------------------------------------------
@pytest.mark.parametrize("array", ["emb", "tokens"])
@pytest.mark.parametrize("damage", ["sign_flip_two_rows", "fill_ff", "one_bit"])
def test_every_damaged_array_is_detected_and_rebuilt(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, array: str, damage: str
) -> None:
    root = make_gallery(per_class=2)
    good = engine.index_gallery(root, cache_root=cache_root)
    want = _snapshot(good)
    path = next(good.cache_dir.glob(f"{array}-*.npy"))
    arr = np.load(path, mmap_mode="r+")
    if damage == "sign_flip_two_rows":
        arr[1:3] = -arr[1:3]
    elif damage == "fill_ff":
        arr.view(np.uint8)[...] = 0xFF
    else:
        arr.view(np.uint8).reshape(-1)[arr.nbytes // 2] ^= 0x01
    arr.flush()
    del arr, good
    state = cache_mod.load_cache(path.parent, _expect(engine))
    assert state is not None and not state.intact  # detected on load
    again = engine.index_gallery(root, cache_root=cache_root)
    assert again.num_encoded > 0  # the damaged rows were encoded again, not ranked
    assert _snapshot(again) == want


def _expect(engine: Engine) -> dict[str, Any]:
    cfg = engine.config
    return {
        "config": cfg.name,
        "weights_sha256": engine.weights_info.sha256,
        "num_tokens": cfg.num_tokens,
        "embed_dim": cfg.embed_dim,
    }


@pytest.mark.parametrize(
    "target", ["absolute", "parent", "subfolder", "not_a_string", "version", "blocks_missing"]
)
def test_manifest_cannot_point_outside_the_cache_folder(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, tmp_path: Path, target: str
) -> None:
    root = make_gallery(per_class=1)
    good = engine.index_gallery(root, cache_root=cache_root)
    want = _snapshot(good)
    cdir = good.cache_dir
    doc = _manifest(cdir)
    # A well-formed array elsewhere, with the right shape but different values.
    evil = tmp_path / "elsewhere" / "tokens-000000000000.npy"
    evil.parent.mkdir()
    np.save(evil, np.zeros_like(np.asarray(good.tokens)))
    if target == "absolute":
        doc["arrays"]["tokens"] = str(evil)
    elif target == "parent":
        doc["arrays"]["tokens"] = os.path.relpath(evil, cdir)
    elif target == "subfolder":
        (cdir / "sub").mkdir()
        np.save(cdir / "sub" / evil.name, np.zeros_like(np.asarray(good.tokens)))
        doc["arrays"]["tokens"] = f"sub/{evil.name}"
    elif target == "not_a_string":
        doc["arrays"]["tokens"] = ["x"]
    elif target == "version":
        doc["version"] = 1
    else:
        del doc["blocks"]
    _rewrite_manifest(cdir, doc)
    assert cache_mod.load_cache(cdir, _expect(engine)) is None
    again = engine.index_gallery(root, cache_root=cache_root)
    assert again.num_encoded == len(again) and _snapshot(again) == want


# ---- resumable indexing ----------------------------------------------------------------------
class _Boom(KeyboardInterrupt):
    """Stands in for Ctrl+C in the middle of a batch."""


@pytest.mark.parametrize("tokens", ["fp16", "int8", "fp8"])
def test_ctrl_c_keeps_committed_batches_and_resume_is_bit_identical(
    engine: Engine,
    make_gallery: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tokens: str,
) -> None:
    root = make_gallery(per_class=4, root_files=1)  # 13 files, batches of 3
    clean = build_index(engine, root, cache_root=tmp_path / "clean", batch_size=3, tokens=tokens)

    calls = {"n": 0}
    real = engine.encode_photo_batch

    def interrupt_third_batch(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calls["n"] += 1
        if calls["n"] == 3:
            raise _Boom
        return real(batch)

    monkeypatch.setattr(engine, "encode_photo_batch", interrupt_third_batch)
    with pytest.raises(KeyboardInterrupt):
        build_index(engine, root, cache_root=tmp_path / "resumed", batch_size=3, tokens=tokens)
    monkeypatch.undo()
    resumed = build_index(engine, root, cache_root=tmp_path / "resumed", batch_size=3, tokens=tokens)
    assert resumed.num_encoded == 13 - 6 and resumed.num_reused == 6  # two batches were kept
    assert resumed.token_policy == clean.token_policy == tokens
    assert _snapshot(resumed) == _snapshot(clean)
    stored = [next(idx.cache_dir.glob("tokens-*.npy")).read_bytes() for idx in (resumed, clean)]
    assert stored[0] == stored[1]  # the stored codes and scales themselves, not only their values
    assert _leftovers(tmp_path / "resumed") == []


def _in_child(target: Callable[[], None], timeout: float = 120.0) -> int:
    """Run ``target`` in a forked child (torch is already loaded: no slow interpreter start)."""
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=target)
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        pytest.fail("the child process hung")
    assert proc.exitcode is not None
    return proc.exitcode


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


# Python 3.12+ warns about fork() in a process that has threads; the children here only index.
_FORK_OK = pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")


@_FORK_OK
@pytest.mark.parametrize(
    ("point", "n", "kept"),
    # batch 3 being encoded; the journal's first batch line torn; batch 2's rows torn; the new
    # generation's embeddings half written (all 13 journaled rows survive)
    [("encode", 3, 6), ("journal", 4, 0), ("journal", 5, 3), ("commit", 2, 13)],
)
def test_kill_9_loses_at_most_one_batch(
    engine: Engine,
    make_gallery: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    point: str,
    n: int,
    kept: int,
) -> None:
    """SIGKILL at several points; the next run reuses what was committed and cleans up."""
    root = make_gallery(per_class=4, root_files=1)  # 13 files, batches of 3
    clean = build_index(engine, root, cache_root=tmp_path / "clean", batch_size=3)
    croot = tmp_path / "killed"

    def child() -> None:
        calls = {"n": 0}
        if point == "encode":
            real = engine.encode_photo_batch

            def enc(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                calls["n"] += 1
                if calls["n"] == n:
                    _die()
                return real(batch)

            monkeypatch.setattr(engine, "encode_photo_batch", enc)
        else:
            real_write = cache_mod._write_bytes

            def write(fh: Any, data: Any) -> None:
                calls["n"] += 1
                if calls["n"] == n:  # half of this write reaches the disk, then the kill
                    real_write(fh, data[: max(1, len(data) // 2)])
                    fh.flush()
                    _die()
                real_write(fh, data)

            if point == "journal":
                monkeypatch.setattr(cache_mod, "_write_bytes", write)
            else:
                real_commit = gallery_mod.write_cache

                def write_cache(*args: Any, **kwargs: Any) -> str:
                    monkeypatch.setattr(cache_mod, "_write_bytes", write)
                    return real_commit(*args, **kwargs)

                monkeypatch.setattr(gallery_mod, "write_cache", write_cache)
        build_index(engine, root, cache_root=croot, batch_size=3)
        os._exit(0)

    assert _in_child(child) == -signal.SIGKILL
    resumed = build_index(engine, root, cache_root=croot, batch_size=3)
    assert resumed.num_reused == kept and resumed.num_encoded == 13 - kept
    assert _snapshot(resumed) == _snapshot(clean)
    assert _leftovers(croot) == []


# ---- full disk -------------------------------------------------------------------------------
def test_stream_writer_removes_its_temp_file_when_the_final_flush_fails(tmp_path: Path) -> None:
    """A full disk often shows only when the buffer is flushed on close; the temp file must go."""

    class FullOnClose:
        def __init__(self, real: Any) -> None:
            self.real = real

        def write(self, data: Any) -> int:
            return 0  # "buffered": nothing reaches the disk yet

        def close(self) -> None:
            self.real.close()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    w = cache_mod.NpyStreamWriter(tmp_path / "a.npy", np.dtype(np.float32), (4, 2))
    with pytest.raises(RuntimeError), w:
        w._fh = FullOnClose(w._fh)  # type: ignore[assignment]
        raise RuntimeError("the writer fails for another reason first")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Any:
    """A 1 MiB tmpfs (needs root and CAP_SYS_ADMIN; the test is skipped elsewhere)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode(errors='replace').strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_real_full_disk_is_a_gallery_error_without_leftovers(
    engine: Engine, make_gallery: Callable[..., Path], small_tmpfs: Path
) -> None:
    root = make_gallery(per_class=4)
    ballast = small_tmpfs / "ballast"
    ballast.write_bytes(b"\0" * (1024 * 1024 - 96 * 1024))  # leave about 96 KiB
    with pytest.raises(GalleryError, match="No space left on device"):
        for _ in range(20):  # zse_test rows are small: grow the gallery until the disk is full
            for i in range(8):
                write_photo(root / "cat" / f"more_{_}_{i}.png", 100 * _ + i)
            build_index(engine, root, cache_root=small_tmpfs, batch_size=1)
    assert [p.name for p in small_tmpfs.rglob("*") if p.name.endswith(".tmp")] == []
    ballast.unlink()  # with space again, the next run completes from what was kept
    idx = build_index(engine, root, cache_root=small_tmpfs, batch_size=1)
    assert len(idx) == len(list(root.rglob("*.png"))) and _leftovers(small_tmpfs) == []


# ---- concurrent writers ----------------------------------------------------------------------
def test_search_during_an_update_uses_the_last_complete_generation(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path
) -> None:
    root = make_gallery(per_class=2)
    first = engine.index_gallery(root, cache_root=cache_root)
    write_photo(root / "cat" / "new.png", 77)
    lock = CacheLock(first.cache_dir)
    assert lock.acquire(blocking=False)  # "another process" is updating the cache
    try:
        during = engine.index_gallery(root, cache_root=cache_root, if_busy="use_last")
        assert during.num_encoded == 0 and during.key == first.key and len(during) == len(first)

        result: dict[str, GalleryIndex] = {}
        waiter = threading.Thread(
            target=lambda: result.setdefault(
                "idx", engine.index_gallery(root, cache_root=cache_root, if_busy="wait")
            )
        )
        waiter.start()
        waiter.join(timeout=1.0)
        assert waiter.is_alive()  # it waits for the lock instead of encoding beside the holder
    finally:
        lock.release()
    waiter.join(timeout=60)
    assert result["idx"].num_encoded == 1 and len(result["idx"]) == len(first) + 1


@_FORK_OK
def test_two_indexers_share_the_work(
    engine: Engine, make_gallery: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_gallery(per_class=4)  # 12 files: 6 slow batches
    real = engine.encode_photo_batch

    def slow(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(0.2)
        return real(batch)

    monkeypatch.setattr(engine, "encode_photo_batch", slow)

    def child(k: int) -> Callable[[], None]:
        def run() -> None:
            idx = build_index(engine, root, cache_root=tmp_path / "cache", batch_size=2, if_busy="wait")
            (tmp_path / f"encoded-{k}").write_text(str(idx.num_encoded))
            os._exit(0)

        return run

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=child(k)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    encoded = sorted(int((tmp_path / f"encoded-{k}").read_text()) for k in range(2))
    assert encoded == [0, 12]  # each photo encoded once in all: the second waited, then reused


def test_journal_of_another_model_or_gallery_is_ignored(tmp_path: Path) -> None:
    j = journal_mod.ProgressJournal.open(tmp_path, {"config": "a"}, TokenLayout("fp16", 2, 3))
    j.append([("x.png", 1, 2)], np.ones((1, 3), np.float32), np.ones((1, 2, 3), np.float16), [])
    j.close()
    same = journal_mod.ProgressJournal.open(tmp_path, {"config": "a"}, TokenLayout("fp16", 2, 3))
    assert same.rows == {("x.png", 1, 2): 0}
    same.close()
    other = journal_mod.ProgressJournal.open(tmp_path, {"config": "b"}, TokenLayout("fp16", 2, 3))
    assert other.rows == {} and not any((tmp_path / n).exists() for n in JOURNAL_FILES)


def test_damaged_journal_rows_are_not_reused(tmp_path: Path) -> None:
    j = journal_mod.ProgressJournal.open(tmp_path, {"h": 1}, TokenLayout("fp16", 2, 3))
    for k in range(3):
        j.append([(f"{k}.png", 1, 2)], np.full((1, 3), k, np.float32), np.full((1, 2, 3), k, np.float16), [])
    j.close()
    tok = tmp_path / "progress-tok.bin"
    data = bytearray(tok.read_bytes())
    data[2 * 2 * 3 + 1] ^= 0xFF  # inside row 1
    tok.write_bytes(bytes(data))
    again = journal_mod.ProgressJournal.open(tmp_path, {"h": 1}, TokenLayout("fp16", 2, 3))
    assert set(again.rows) == {("0.png", 1, 2)}  # row 1 fails its CRC: it and what follows go
    assert tok.stat().st_size == 2 * 2 * 3
    again.close()


# ---- nothing left out silently -----------------------------------------------------------------
def test_unlistable_subfolder_is_reported_as_skipped(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_gallery(per_class=1)
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if Path(path).name == "dog":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    idx = engine.index_gallery(root, cache_root=cache_root)
    assert len(idx) == 2
    assert [(Path(p).name, r) for p, r in idx.skipped] == [("dog", "cannot list folder: Permission denied")]


def test_symlinks_leaving_the_gallery_are_not_followed_by_default(
    engine: Engine, make_gallery: Callable[..., Path], cache_root: Path, tmp_path: Path
) -> None:
    root = make_gallery(per_class=1)
    outside = write_photo(tmp_path / "private" / "secret.png", 9)
    (root / "cat" / "leak.png").symlink_to(outside)
    (root / "dog" / "alias.png").symlink_to(root / "dog" / "dog_0.png")  # stays inside: fine
    (root / "linked").symlink_to(outside.parent, target_is_directory=True)
    idx = engine.index_gallery(root, cache_root=cache_root)
    names = sorted(Path(p).name for p in idx.paths)
    assert "leak.png" not in names and "alias.png" in names and "secret.png" not in names
    reasons = {Path(p).name: r for p, r in idx.skipped}
    assert "out of the gallery" in reasons["leak.png"] and "not followed" in reasons["linked"]
    allowed = engine.index_gallery(root, cache_root=cache_root, follow_symlinks=True)
    assert {"leak.png", "secret.png"} <= {Path(p).name for p in allowed.paths}
