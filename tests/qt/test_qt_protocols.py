"""The seam: the engine and its test double satisfy ``SearchEngine``, the window ``MainView``."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from zse_gui.engine import Engine
from zse_gui.qt.main_window import MainWindow
from zse_gui.qt.protocols import MainView, SearchEngine

from .fakes import FakeEngine


def _members(proto: type) -> list[str]:
    """Methods, properties and annotated attributes (the signals) a protocol declares."""
    names = set(proto.__dict__) | set(proto.__annotations__)
    return sorted(n for n in names if not n.startswith("_"))


def _params(fn: Any) -> list[tuple[str, bool]]:
    """(name, has a default) of each parameter after ``self``."""
    sig = inspect.signature(fn)
    return [(p.name, p.default is not inspect.Parameter.empty) for p in list(sig.parameters.values())[1:]]


@pytest.mark.parametrize("impl", [Engine, FakeEngine])
def test_engines_match_the_search_engine_protocol(impl: type) -> None:
    for name in _members(SearchEngine):
        assert hasattr(impl, name), f"{impl.__name__} lacks {name}"
        want = getattr(SearchEngine, name)
        if callable(want) and not isinstance(want, property):
            assert _params(getattr(impl, name)) == _params(want), f"{impl.__name__}.{name} differs"
    assert isinstance(FakeEngine(), SearchEngine)


def test_main_window_has_everything_the_controller_uses() -> None:
    assert "strokes_changed" in _members(MainView) and "set_results" in _members(MainView)
    for name in _members(MainView):
        assert hasattr(MainWindow, name), f"MainWindow lacks {name}"
        want = getattr(MainView, name, None)
        if callable(want):
            assert _params(getattr(MainWindow, name)) == _params(want), f"MainWindow.{name} differs"
