"""Shared helper: write one measured section into docs/explanations.md between markers."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "explanations.md"
HEADER = (
    "# Explanations in strokes: measured behaviour\n\n"
    "Numbers written by scripts in `benchmarks/` on real Quick, Draw! doodles\n"
    "(Google Creative Lab, CC BY 4.0) with the bundled `zse_lite` model and the demo gallery.\n"
    "Each section names the script that wrote it.\n"
)


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``name`` of docs/explanations.md."""
    text = DOC.read_text() if DOC.exists() else HEADER
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    )
    DOC.write_text(text)
