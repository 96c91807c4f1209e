"""Parallel row reads equal plain indexing, for memmaps, their views and arrays in RAM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zse_gui.engine import rowread
from zse_gui.engine.rowread import read_rows


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    path = Path(tmp_path_factory.mktemp("rows")) / "emb.npy"
    data = np.random.default_rng(0).standard_normal((3000, 24)).astype(np.float16)
    np.save(path, data)
    return np.load(path, mmap_mode="r")


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(st.integers(0, 2999), min_size=0, max_size=200),
    start=st.integers(0, 1500),
)
def test_read_rows_equals_indexing(stored: np.ndarray, rows: list[int], start: int) -> None:
    view = stored[start:]  # a view keeps the mapping and the original header offset
    idx = np.array([r for r in rows if r < len(view)], np.int64)
    got = read_rows(view, idx, parallel=True)
    assert got.dtype == view.dtype and got.shape == (len(idx), view.shape[1])
    np.testing.assert_array_equal(got, np.asarray(view[idx]))


def test_parallel_path_is_taken_for_memmaps_only(stored: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = rowread.os.pread

    def counting(fd: int, n: int, off: int) -> bytes:
        calls.append(off)
        return real(fd, n, off)

    monkeypatch.setattr(rowread.os, "pread", counting)
    rows = np.arange(100, 400, 7)
    np.testing.assert_array_equal(read_rows(stored, rows, parallel=True), np.asarray(stored[rows]))
    assert len(calls) == len(rows)
    calls.clear()
    in_ram = np.asarray(stored)
    np.testing.assert_array_equal(read_rows(in_ram, rows, parallel=True), in_ram[rows])
    assert calls == []
    # Columns that are not whole rows of the file cannot be read row by row: plain indexing.
    np.testing.assert_array_equal(read_rows(stored[:, :5], rows, parallel=True), np.asarray(stored[rows, :5]))
    assert calls == []
    # By default a file this small stays in the page cache: plain indexing, unless memory is tiny.
    np.testing.assert_array_equal(read_rows(stored, rows), np.asarray(stored[rows]))
    assert calls == []
    monkeypatch.setattr(rowread, "_physical_memory", lambda: stored.nbytes)
    np.testing.assert_array_equal(read_rows(stored, rows), np.asarray(stored[rows]))
    assert len(calls) == len(rows)
