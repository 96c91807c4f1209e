"""The README's command-line examples work as written on a fresh clone: the tools are where it says,
the files it names exist, and every example parses with the tool's own argument parser."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from zse_gui.cli import explain, index, replay, search
from zse_gui.paths import repo_path

README = repo_path("README.md")
PARSERS = {
    "zse-index": index.build_parser,
    "zse-search": search.build_parser,
    "zse-explain": explain.build_parser,
    "zse-replay": replay.build_parser,
}


def _fresh_clone_examples() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Command-line tools") :]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block is not None, "the README lost its command-line examples"
    lines = [ln.split("#")[0].strip() for ln in block.group(1).splitlines()]
    return [shlex.split(ln) for ln in lines if ln]


def test_the_readme_says_where_the_tools_are() -> None:
    text = README.read_text(encoding="utf-8")
    assert ".venv/bin/activate" in text and ".venv/bin/zse-search" in text


@pytest.mark.parametrize("argv", _fresh_clone_examples(), ids=lambda a: a[0])
def test_fresh_clone_examples_run_as_written(argv: list[str]) -> None:
    tool, args = argv[0], argv[1:]
    # installed next to the interpreter of the virtual environment that `make` builds
    assert (Path(sys.executable).parent / tool).is_file(), f"{tool} is not installed in the venv"
    ns = PARSERS[tool]().parse_args(args)
    for name in ("gallery", "sketch"):
        value = getattr(ns, name, None)
        if value is not None:
            assert repo_path(str(value)).exists(), f"{tool} example names {value}, which is not in the repo"


def test_docs_show_only_gallery_files_that_exist() -> None:
    text = repo_path("docs", "cli.md").read_text(encoding="utf-8")
    shown = re.findall(r"resources/demo_gallery/([\w./-]+\.(?:jpg|png|jpeg|webp))", text)
    assert shown, "docs/cli.md shows no example output"
    missing = [p for p in shown if not repo_path("resources", "demo_gallery", p).is_file()]
    assert not missing, f"docs/cli.md shows files that are not in the demo gallery: {missing}"
