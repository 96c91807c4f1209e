"""Re-run the reliability catalog (bad inputs, damaged files, kills) and count what goes wrong.

Every case feeds one bad input or fault to a command-line tool or the engine API and sorts
the outcome into:

* ``ok``        the documented behaviour (a typed error with its exit code, or the right result);
* ``traceback`` a CLI let an exception escape (the user sees a Python traceback);
* ``untyped``   the API raised something outside the ``ZseError`` hierarchy;
* ``wrong``     no error, but a silent problem (damaged data ranked, a file written outside
  ``--out``, work thrown away, a name splitting the table, ...).

Then 1000 generated inputs (strokes, pixel arrays, image bytes) go through ``prepare_sketch``
and ``prepare_photo``; any exception outside ``ZseError`` counts as untyped.

The script only uses entry points that exist in older versions too, so the same file measures
an old checkout: ``PYTHONPATH=<old tree> python benchmarks/reliability_catalog.py``.

Usage:
    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python benchmarks/reliability_catalog.py [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import io
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

warnings.simplefilter("ignore")  # the cases provoke warnings on purpose; outcomes are what count

from zse_gui.cli import explain, index, search  # noqa: E402
from zse_gui.engine import cache as cache_mod  # noqa: E402
from zse_gui.engine.engine import Engine  # noqa: E402
from zse_gui.engine.gallery import build_index  # noqa: E402
from zse_gui.engine.preprocess import prepare_photo, prepare_sketch  # noqa: E402
from zse_gui.errors import ZseError  # noqa: E402
from zse_gui.model import create_model, save_official, save_safetensors  # noqa: E402
from zse_gui.model.config import get_config  # noqa: E402

try:  # the sketch types moved to a bottom module; older trees keep them in the engine
    from zse_gui.sketch import Stroke, StrokeSketch
except ImportError:
    from zse_gui.engine.types import Stroke, StrokeSketch  # type: ignore[no-redef]

MODEL = ["--model", "zse_test", "--seed", "0", "--device", "cpu", "--precision", "fp32", "-q"]
CFG = get_config("zse_test")
CASES: list[tuple[str, str, Callable[[Path], str]]] = []


def case(name: str, expected: str) -> Callable[[Callable[[Path], str]], Callable[[Path], str]]:
    def register(fn: Callable[[Path], str]) -> Callable[[Path], str]:
        CASES.append((name, expected, fn))
        return fn

    return register


# ---- fixtures ----------------------------------------------------------------------------------
def _photo(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
    img[:, : 10 + seed % 20] = rng.integers(0, 255, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


def _gallery(base: Path, per_class: int = 3) -> Path:
    root = base / "gallery"
    k = 0
    for c in ("cat", "dog", "owl"):
        for i in range(per_class):
            _photo(root / c / f"{c}_{i}.png", k)
            k += 1
    return root


def _sketch(base: Path) -> Path:
    img = np.full((120, 100, 3), 255, np.uint8)
    img[20:100, 48:52] = 0
    img[58:62, 15:85] = 0
    p = base / "cross.png"
    Image.fromarray(img).save(p)
    return p


def _ndjson(base: Path, drawing: Any, name: str = "d.ndjson") -> Path:
    p = base / name
    p.write_text(json.dumps({"word": "cat", "drawing": drawing}) + "\n")
    return p


_ENGINE: list[Engine] = []


def _engine() -> Engine:
    if not _ENGINE:
        _ENGINE.append(Engine(create_model("zse_test", seed=0), device="cpu", precision="fp32"))
    return _ENGINE[0]


def _cli(
    main: Callable[[list[str]], int],
    argv: list[str],
    code: int,
    check: Callable[[str, str], bool] | None = None,
) -> str:
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            got = main(argv)
    except BaseException as e:  # noqa: BLE001 - classifying is the point
        if isinstance(e, SystemExit):
            got = int(e.code or 0)
        else:
            return f"traceback ({type(e).__name__})"
    if got != code:
        return f"wrong (exit {got}, expected {code})"
    if check is not None and not check(out.getvalue(), err.getvalue()):
        return "wrong (output)"
    return "ok"


def _api(fn: Callable[[], object], expect_error: bool = True) -> str:
    try:
        fn()
    except ZseError:
        return "ok" if expect_error else "wrong (refused a valid input)"
    except BaseException as e:  # noqa: BLE001
        return f"untyped ({type(e).__name__})"
    return "wrong (accepted)" if expect_error else "ok"


LONG = "x" * 300


# ---- command-line mistakes ---------------------------------------------------------------------
@case("search: sketch name over 255 bytes", "exit 3")
def _c1(b: Path) -> str:
    return _cli(search.main, [str(b / LONG), "--gallery", str(_gallery(b)), *MODEL], 3)


@case("search: --gallery name over 255 bytes", "exit 5")
def _c2(b: Path) -> str:
    return _cli(search.main, [str(_sketch(b)), "--gallery", str(b / LONG), *MODEL], 5)


@case("search: --cache-dir name over 255 bytes", "exit 5")
def _c3(b: Path) -> str:
    return _cli(
        search.main, [str(_sketch(b)), "--gallery", str(_gallery(b)), "--cache-dir", str(b / LONG), *MODEL], 5
    )


@case("search: --weights name over 255 bytes", "exit 6")
def _c4(b: Path) -> str:
    argv = [
        str(_sketch(b)),
        "--gallery",
        str(_gallery(b)),
        "--model",
        "zse_test",
        "--weights",
        str(b / LONG),
        "-q",
    ]
    return _cli(search.main, argv, 6)


@case("index: gallery name over 255 bytes", "exit 5")
def _c5(b: Path) -> str:
    return _cli(index.main, [str(b / LONG), *MODEL], 5)


@case("index: --cache-dir name over 255 bytes", "exit 5")
def _c6(b: Path) -> str:
    return _cli(index.main, [str(_gallery(b)), "--cache-dir", str(b / LONG), *MODEL], 5)


@case("explain: photo name over 255 bytes", "exit 3")
def _c7(b: Path) -> str:
    return _cli(explain.main, [str(_sketch(b)), str(b / LONG), "--out", str(b / "o"), *MODEL], 3)


@case("search: binary .ndjson", "exit 3")
def _c8(b: Path) -> str:
    p = b / "bin.ndjson"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    return _cli(search.main, [str(p), "--gallery", str(_gallery(b)), *MODEL], 3)


@case("search: --drawing -1", "exit 2")
def _c9(b: Path) -> str:
    p = _ndjson(b, [[[10, 200], [20, 60]]])
    return _cli(search.main, [str(p), "--drawing", "-1", "--gallery", str(_gallery(b)), *MODEL], 2)


@case("search: --drawing past the end", "exit 3")
def _c10(b: Path) -> str:
    p = _ndjson(b, [[[10, 200], [20, 60]]])
    return _cli(search.main, [str(p), "--drawing", "5", "--gallery", str(_gallery(b)), *MODEL], 3)


@case("search: ndjson coordinates 1e12", "exit 3 or 4")
def _c11(b: Path) -> str:
    p = _ndjson(b, [[[1e12, 2e12], [1, 2]]])
    r = _cli(search.main, [str(p), "--gallery", str(_gallery(b)), *MODEL], 3)
    return "ok" if r.startswith("wrong (exit 4") else r


@case("search: ndjson nested 100000 deep", "exit 3")
def _c12(b: Path) -> str:
    p = b / "deep.ndjson"
    p.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    return _cli(search.main, [str(p), "--gallery", str(_gallery(b)), *MODEL], 3)


@case("search: ndjson 5000-digit number", "exit 3")
def _c13(b: Path) -> str:
    p = b / "digits.ndjson"
    p.write_text('{"word": "x", "drawing": [[[1], [' + "9" * 5000 + "]]]}\n")
    return _cli(search.main, [str(p), "--gallery", str(_gallery(b)), *MODEL], 3)


@case("search: missing sketch file", "exit 3")
def _c14(b: Path) -> str:
    return _cli(search.main, [str(b / "nope.png"), "--gallery", str(_gallery(b)), *MODEL], 3)


@case("search: blank sketch", "exit 4")
def _c15(b: Path) -> str:
    p = b / "blank.png"
    Image.fromarray(np.full((64, 64, 3), 255, np.uint8)).save(p)
    return _cli(search.main, [str(p), "--gallery", str(_gallery(b)), *MODEL], 4)


@case("explain: --out names an existing file", "exit 2")
def _c16(b: Path) -> str:
    g = _gallery(b)
    f = b / "file"
    f.write_text("x")
    return _cli(explain.main, [str(_sketch(b)), str(g / "cat" / "cat_0.png"), "--out", str(f), *MODEL], 2)


@case("explain: --stem ../x", "exit 2, nothing outside --out")
def _c17(b: Path) -> str:
    g = _gallery(b)
    argv = [
        str(_sketch(b)),
        str(g / "cat" / "cat_0.png"),
        "--out",
        str(b / "o"),
        "--stem",
        "../escaped",
        *MODEL,
    ]
    r = _cli(explain.main, [*argv, "--format", "png"], 2)
    if list(b.glob("escaped*")):
        return "wrong (wrote outside --out)"
    return r


@case("explain: --stem /abs/x", "exit 2")
def _c18(b: Path) -> str:
    g = _gallery(b)
    argv = [
        str(_sketch(b)),
        str(g / "cat" / "cat_0.png"),
        "--out",
        str(b / "o"),
        "--stem",
        str(b / "abs" / "x"),
        *MODEL,
    ]
    r = _cli(explain.main, [*argv, "--format", "png"], 2)
    return "wrong (wrote outside --out)" if (b / "abs").exists() else r


def _odd_names(g: Path) -> None:
    src = (g / "cat" / "cat_0.png").read_bytes()
    (g / "cat" / "two\nlines.png").write_bytes(src)
    with open(os.path.join(os.fsencode(g / "cat"), b"latin-\xe9.png"), "wb") as f:
        f.write(src)


@case("search: file name with a newline, table", "one line per item")
def _c19(b: Path) -> str:
    g = _gallery(b)
    _odd_names(g)
    argv = [str(_sketch(b)), "--gallery", str(g), "--top-k", "11", "--mode", "ret", *MODEL]
    return _cli(search.main, argv, 0, lambda out, err: len(out.splitlines()) == 13)


@case("search: undecodable file name, JSON", "no lone surrogates")
def _c20(b: Path) -> str:
    g = _gallery(b)
    _odd_names(g)
    argv = [str(_sketch(b)), "--gallery", str(g), "--top-k", "11", "--mode", "ret", "--json", *MODEL]

    def strict(out: str, err: str) -> bool:
        try:
            out.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return "\\ud" not in out.lower()

    return _cli(search.main, argv, 0, strict)


@case("explain: undecodable photo name", "exit 0, sidecar written")
def _c21(b: Path) -> str:
    g = _gallery(b)
    _odd_names(g)
    photo = os.fsdecode(os.path.join(os.fsencode(g / "cat"), b"latin-\xe9.png"))
    return _cli(explain.main, [str(_sketch(b)), photo, "--out", str(b / "o"), "--format", "png", *MODEL], 0)


@case("index: symlink to a file outside the gallery", "not followed, listed as skipped")
def _c22(b: Path) -> str:
    g = _gallery(b)
    secret = _photo(b / "private" / "secret.png", 99)
    (g / "cat" / "leak.png").symlink_to(secret)
    out = io.StringIO()
    r = _cli(
        index.main,
        [str(g), "--json", "--cache-dir", str(b / "c"), *MODEL],
        0,
        lambda o, e: bool(out.write(o) or 1),
    )
    if r != "ok":
        return r
    doc = json.loads(out.getvalue())
    return (
        "ok"
        if doc["images"] == 9 and any("leak" in s["path"] for s in doc["skipped"])
        else "wrong (followed)"
    )


@case("index: a sub-folder that cannot be listed", "listed as skipped with the reason")
def _c23(b: Path) -> str:
    g = _gallery(b)
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if Path(path).name == "dog":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    out = io.StringIO()
    os.scandir = scandir  # type: ignore[assignment]
    try:
        r = _cli(
            index.main,
            [str(g), "--json", "--cache-dir", str(b / "c"), *MODEL],
            0,
            lambda o, e: bool(out.write(o) or 1),
        )
    finally:
        os.scandir = real
    if r != "ok":
        return r
    doc = json.loads(out.getvalue())
    return "ok" if any("dog" in s["path"] for s in doc["skipped"]) else "wrong (silently dropped)"


# ---- weights -------------------------------------------------------------------------------------
def _weights(b: Path, damage: str) -> Path:
    m = create_model("zse_test", seed=0)
    if damage == "nan":
        import torch

        with torch.no_grad():
            m.rn.rn[0].weight[0, 0] = float("nan")
    if damage == "pth_bad_sidecar":
        p = b / "w.pth"
        save_official(m, p)
        Path(str(p) + ".json").write_text(json.dumps({"sha256": "0" * 64}))
        return p
    p = b / "w.safetensors"
    save_safetensors(m, p, "zse_test")
    Path(str(p) + ".json").unlink()
    if damage == "flip":
        data = bytearray(p.read_bytes())
        data[len(data) // 2] ^= 0x10
        p.write_bytes(bytes(data))
    return p


for _damage, _name in [("flip", "byte-flipped safetensors, no sidecar"), ("nan", "NaN weights"),
                       ("pth_bad_sidecar", ".pth whose sidecar sha256 differs")]:  # fmt: skip

    def _wc(b: Path, damage: str = _damage) -> str:
        w = _weights(b, damage)
        return _cli(
            search.main,
            [
                str(_sketch(b)),
                "--gallery",
                str(_gallery(b)),
                "--model",
                "zse_test",
                "--weights",
                str(w),
                "-q",
            ],
            6,
        )

    case(f"search: {_name}", "exit 6")(_wc)


@case("load: malicious pickle (os.system in __reduce__)", "refused, nothing runs")
def _c24(b: Path) -> str:
    import pickle

    import torch

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, (f"touch {b / 'pwned'}",))

    p = b / "evil.pth"
    torch.save({"model": {"x": torch.zeros(1)}, "evil": Evil()}, p, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    r = _cli(
        search.main,
        [str(_sketch(b)), "--gallery", str(_gallery(b)), "--model", "zse_test", "--weights", str(p), "-q"],
        6,
    )
    return "wrong (code ran)" if (b / "pwned").exists() else r


# ---- strokes at the API ---------------------------------------------------------------------------
LINE = np.array([[10, 10], [50, 40]], np.float64)
for _pts, _w, _size, _name in [
    (LINE * 1e12, 3.0, (64, 64), "coordinates 1e12"),
    (LINE * -1e9, 3.0, (64, 64), "coordinates -1e10"),
    (LINE, float("nan"), (64, 64), "width NaN"),
    (LINE, float("inf"), (64, 64), "width inf"),
    (LINE, 1e6, (64, 64), "width 1e6"),
    (LINE, -5.0, (64, 64), "width -5"),
    (LINE, 3.0, (float("nan"), 64), "canvas width NaN"),
    (LINE, 3.0, (0, 64), "canvas width 0"),
    (LINE, 3.0, (64, -3), "canvas height -3"),
    (np.array([[1.0, np.nan]]), 3.0, (64, 64), "a NaN point"),
    (np.zeros((4, 3)), 3.0, (64, 64), "points [4, 3]"),
]:

    def _sc(b: Path, pts: np.ndarray = _pts, w: float = _w, size: Any = _size) -> str:
        return _api(lambda: prepare_sketch(StrokeSketch((Stroke(pts, w),), size), CFG))

    case(f"strokes: {_name}", "InvalidSketchError")(_sc)


@case("strokes: canvas 100000 x 100000", "InvalidSketchError, no 28 GiB allocation")
def _c25(b: Path) -> str:
    if os.environ.get("CATALOG_OLD"):
        return "not run (would allocate 28 GiB)"
    return _api(lambda: prepare_sketch(StrokeSketch((Stroke(LINE, 3.0),), (100_000, 100_000)), CFG))


@case("photo: EXIF orientation 6", "read upright")
def _c26(b: Path) -> str:
    img = np.full((20, 40, 3), 255, np.uint8)
    img[:, :20] = 0
    exif = Image.Exif()
    exif[0x0112] = 6
    p = b / "phone.jpg"
    Image.fromarray(img).save(p, exif=exif.tobytes(), quality=95)
    sk = prepare_sketch(p, CFG)
    return "ok" if sk.frame.size == (20, 40) else "wrong (ranked as stored)"


# ---- the gallery cache ---------------------------------------------------------------------------
def _damaged(b: Path, array: str, how: str) -> str:
    g = _gallery(b)
    eng = _engine()
    good = build_index(eng, g, cache_root=b / "c")
    want = np.asarray(good.tokens).copy()
    path = next(good.cache_dir.glob(f"{array}-*.npy"))
    arr = np.load(path, mmap_mode="r+")
    if how == "sign":
        arr[1:3] = -arr[1:3]
    else:
        arr.view(np.uint8)[...] = 0xFF
    arr.flush()
    del arr, good
    again = build_index(eng, g, cache_root=b / "c")
    if again.num_encoded == 0 or not np.array_equal(np.asarray(again.tokens), want):
        return "wrong (damaged rows ranked)"
    return "ok"


for _arr, _how in [("tokens", "sign"), ("tokens", "ff"), ("emb", "sign"), ("emb", "ff")]:

    def _dc(b: Path, array: str = _arr, how: str = _how) -> str:
        return _damaged(b, array, how)

    case(
        f"cache: {_arr} array, {'two rows sign-flipped' if _how == 'sign' else 'filled with 0xFF'}",
        "detected, re-encoded",
    )(_dc)


@case("cache: manifest points tokens at an absolute path (valid checksum)", "refused, rebuilt")
def _c27(b: Path) -> str:
    g = _gallery(b)
    eng = _engine()
    good = build_index(eng, g, cache_root=b / "c")
    cdir = good.cache_dir
    evil = b / "evil" / "tokens-000000000000.npy"
    evil.parent.mkdir()
    np.save(evil, np.zeros_like(np.asarray(good.tokens)))
    doc = json.loads((cdir / "manifest.json").read_text())
    doc.pop("checksum")
    doc["arrays"]["tokens"] = str(evil)
    doc["checksum"] = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
    (cdir / "manifest.json").write_text(json.dumps(doc))
    again = build_index(eng, g, cache_root=b / "c")
    return "ok" if np.asarray(again.tokens).any() else "wrong (read arrays from outside the cache)"


def _fork(target: Callable[[], None]) -> int:
    proc = multiprocessing.get_context("fork").Process(target=target)
    proc.start()
    proc.join(300)
    return proc.exitcode if proc.exitcode is not None else -1


@case("index: kill -9 in batch 3 of 5", "next run encodes the rest only, no temp files left")
def _c28(b: Path) -> str:
    g = _gallery(b, per_class=5)  # 15 files, batches of 3
    eng = _engine()

    def child() -> None:
        real, n = eng.encode_photo_batch, {"k": 0}

        def enc(batch: np.ndarray) -> Any:
            n["k"] += 1
            if n["k"] == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(batch)

        eng.encode_photo_batch = enc  # type: ignore[method-assign]
        build_index(eng, g, cache_root=b / "c", batch_size=3)
        os._exit(0)

    if _fork(child) != -signal.SIGKILL:
        return "wrong (child not killed)"
    tmp_after_kill = [p.name for p in (b / "c").rglob("*.tmp")]
    idx = build_index(eng, g, cache_root=b / "c", batch_size=3)
    left = [p.name for p in (b / "c").rglob("*.tmp")]
    if left:
        return f"wrong ({len(left)} temp files left after the next run)"
    if idx.num_encoded > 15 - 6:
        return f"wrong (re-encoded {idx.num_encoded} of 15; temp after kill: {len(tmp_after_kill)})"
    return "ok"


@case("index: Ctrl+C in batch 3 of 5", "next run encodes the rest only")
def _c29(b: Path) -> str:
    g = _gallery(b, per_class=5)
    eng = _engine()
    real, n = eng.encode_photo_batch, {"k": 0}

    def enc(batch: np.ndarray) -> Any:
        n["k"] += 1
        if n["k"] == 3:
            raise KeyboardInterrupt
        return real(batch)

    eng.encode_photo_batch = enc  # type: ignore[method-assign]
    try:
        build_index(eng, g, cache_root=b / "c", batch_size=3)
    except KeyboardInterrupt:
        pass
    finally:
        del eng.encode_photo_batch
    idx = build_index(eng, g, cache_root=b / "c", batch_size=3)
    return "ok" if idx.num_encoded <= 15 - 6 else f"wrong (re-encoded {idx.num_encoded} of 15)"


@case("index: two indexers at once", "each photo encoded once")
def _c30(b: Path) -> str:
    g = _gallery(b, per_class=4)
    eng = _engine()

    def child(k: int) -> Callable[[], None]:
        def run() -> None:
            real = eng.encode_photo_batch

            def slow(batch: np.ndarray) -> Any:
                time.sleep(0.2)
                return real(batch)

            eng.encode_photo_batch = slow  # type: ignore[method-assign]
            idx = build_index(eng, g, cache_root=b / "c", batch_size=2)
            (b / f"n{k}").write_text(str(idx.num_encoded))
            os._exit(0)

        return run

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=child(k)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    total = sum(int((b / f"n{k}").read_text()) for k in range(2))
    return "ok" if total == 12 else f"wrong ({total} encodings for 12 photos)"


@case("index: full disk when the buffer is flushed on close", "GalleryError, no temp file")
def _c31(b: Path) -> str:
    class FullOnClose:
        def __init__(self, real: Any) -> None:
            self.real = real

        def write(self, data: Any) -> int:
            return 0

        def flush(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        def fileno(self) -> int:
            return int(self.real.fileno())

        def close(self) -> None:
            self.real.close()
            raise OSError(errno.ENOSPC, "No space left on device")

    w = cache_mod.NpyStreamWriter(b / "a.npy", np.dtype(np.float32), (2, 2))
    try:
        with w:
            w._fh = FullOnClose(w._fh)  # type: ignore[assignment]
            w.write(np.zeros((2, 2), np.float32))
            w.commit()
    except OSError:
        pass
    left = [p.name for p in b.iterdir() if p.name.endswith(".tmp")]
    return "ok" if not left else "wrong (temp file left)"


@case("index: real full disk (1 MiB tmpfs), --batch-size 1", "exit 5, no temp file")
def _c32(b: Path) -> str:
    mnt = b / "tiny"
    mnt.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True
        ).returncode
    ):
        return "not run (cannot mount a tmpfs)"
    try:
        (mnt / "ballast").write_bytes(b"\0" * (1024 * 1024 - 64 * 1024))
        g = _gallery(b, per_class=20)
        r = _cli(index.main, [str(g), "--cache-dir", str(mnt), "--batch-size", "1", *MODEL], 5)
        left = [p.name for p in mnt.rglob("*.tmp")]
        return r if not left or r != "ok" else f"wrong ({len(left)} temp files left)"
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


# ---- fuzzing -------------------------------------------------------------------------------------
_SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -1.0, 1e6, 1e12, -1e18, 2.0**31, 1e308])


def _fuzz_input(rng: np.random.Generator, k: int) -> Callable[[], object]:
    kind = k % 10
    if kind < 5:  # strokes
        strokes = []
        for _ in range(int(rng.integers(0, 4))):
            n = int(rng.integers(0, 10))
            pts = rng.normal(100, 80, (n, 2))
            mask = rng.random((n, 2)) < 0.15
            pts[mask] = rng.choice(_SPECIAL, int(mask.sum()))
            w = float(rng.choice(_SPECIAL)) if rng.random() < 0.3 else float(rng.uniform(0, 20))
            strokes.append(Stroke(pts.astype(np.float32 if rng.random() < 0.5 else np.float64), w))
        size: tuple[Any, Any] = (int(rng.integers(-2, 800)), int(rng.integers(-2, 800)))
        if rng.random() < 0.2:
            size = (float(rng.choice(_SPECIAL[:5])), size[1])
        return lambda: prepare_sketch(StrokeSketch(tuple(strokes), size), CFG)
    if kind < 7:  # pixel arrays
        shape = tuple(int(v) for v in rng.integers(0, 40, int(rng.integers(0, 5))))
        dtype = rng.choice(np.array([np.uint8, np.uint16, np.float32, np.int64, np.bool_], dtype=object))
        arr = (rng.random(shape) * 300).astype(dtype)
        return lambda: (prepare_sketch(arr, CFG), prepare_photo(arr, CFG))
    # image bytes: random, truncated or bit-flipped PNG / JPEG / WebP
    buf = io.BytesIO()
    img = rng.integers(0, 256, (int(rng.integers(1, 40)), int(rng.integers(1, 40)), 3), dtype=np.uint8)
    Image.fromarray(img).save(buf, format=str(rng.choice(["PNG", "JPEG", "WEBP"])))
    data = bytearray(buf.getvalue())
    if kind == 7:
        data = bytearray(rng.integers(0, 256, int(rng.integers(0, 400)), dtype=np.uint8).tobytes())
    elif kind == 8:
        data = data[: int(rng.integers(0, len(data)))]
    else:
        for _ in range(int(rng.integers(1, 8))):
            data[int(rng.integers(0, len(data)))] ^= int(rng.integers(1, 256))
    fd, name = tempfile.mkstemp(suffix=".png")
    with os.fdopen(fd, "wb") as f:
        f.write(bytes(data))

    def run() -> None:
        try:
            prepare_sketch(name, CFG)
        finally:
            with contextlib.suppress(ZseError):
                prepare_photo(name, CFG)
            os.unlink(name)

    return run


def fuzz(n: int = 1000, seed: int = 0) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    for k in range(n):
        fn = _fuzz_input(rng, k)
        try:
            fn()
            key = "accepted"
        except ZseError:
            key = "typed"
        except BaseException as e:  # noqa: BLE001
            key = f"untyped {type(e).__name__}"
        counts[key] = counts.get(key, 0) + 1
    return counts


_HUGE = """
import json, sys, time
from zse_gui.engine.preprocess import prepare_sketch
from zse_gui.model.config import get_config

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024  # MiB

cfg = get_config("zse_test")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current resident size
base = status("VmRSS")
t0 = time.perf_counter()
prepare_sketch(sys.argv[1], cfg)
dt = time.perf_counter() - t0
print(json.dumps({"s": round(dt, 2), "peak_growth_mib": round(status("VmHWM") - base)}))
"""


def _huge_sketch() -> dict[str, float]:
    """Time and peak-memory growth of one 9000 x 9000 sketch image, in a fresh interpreter."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "huge.png"
        img = np.full((9000, 9000, 3), 255, np.uint8)  # ink spans the whole image: no small crop
        img[100:8900, 100:140] = img[100:8900, 8860:8900] = 0
        img[100:140, 100:8900] = img[8860:8900, 100:8900] = 0
        idx = np.arange(100, 8900)
        for k in range(-20, 20):
            img[idx, np.clip(idx + k, 0, 8999)] = 0
        Image.fromarray(img).save(p, compress_level=1)
        del img
        # cwd=d: with -c the current folder comes first on sys.path, before PYTHONPATH
        r = subprocess.run([sys.executable, "-c", _HUGE, str(p)], capture_output=True, text=True, cwd=d)
        return (
            dict(json.loads(r.stdout.strip().splitlines()[-1]))
            if r.returncode == 0
            else {"error": r.stderr[-300:]}
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--fuzz", type=int, default=1000)
    args = ap.parse_args()
    import logging

    logging.disable(logging.CRITICAL)
    rows = []
    for name, expected, fn in CASES:
        with tempfile.TemporaryDirectory() as d:
            os.environ["ZSE_CACHE_DIR"] = str(Path(d) / "cache")
            try:
                outcome = fn(Path(d))
            except BaseException as e:  # noqa: BLE001 - the harness itself must survive
                outcome = f"untyped ({type(e).__name__}: {str(e)[:60]})"
        rows.append({"case": name, "expected": expected, "outcome": outcome})
        print(f"{outcome.split(' ')[0]:<10} {name}  [{outcome}]", flush=True)
    counts: dict[str, int] = {}
    for r in rows:
        k = r["outcome"].split(" ")[0]
        counts[k] = counts.get(k, 0) + 1
    fz = fuzz(args.fuzz)
    huge = _huge_sketch()
    summary = {"cases": len(rows), "outcomes": counts, "fuzz": fz, "huge_sketch_9000": huge}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, **summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
