"""Shared helper: write one benchmark's section into docs/benchmarks.md between markers."""

from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path
from typing import Any

import torch

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\nMeasured numbers, written by the scripts in `benchmarks/` (never asserted in tests).\n"
)


def merge_rows(path: Path, row: dict[str, Any], key: str = "threads") -> list[dict[str, Any]]:
    """Put ``row`` into the JSON list in ``path`` in place of the row with the same ``key``, sorted."""
    rows = json.loads(path.read_text()) if path.exists() else []
    rows = [r for r in rows if r.get(key) != row[key]] + [row]
    rows.sort(key=lambda r: r[key])
    path.write_text(json.dumps(rows, indent=2) + "\n")
    return rows


def machine_line() -> str:
    """One line describing where a benchmark ran."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {gpu}, Python {platform.python_version()}"
    )


def write_section(name: str, body: str, doc: Path = DOC) -> None:
    """Replace (or append) the section ``name`` of ``doc`` (default docs/benchmarks.md)."""
    doc.parent.mkdir(parents=True, exist_ok=True)
    text = doc.read_text() if doc.exists() else HEADER
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text)
