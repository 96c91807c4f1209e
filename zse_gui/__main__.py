"""Entry point: ``python -m zse_gui`` == ``zse-gui`` == ``python main.py``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from zse_gui.qt.app import run_app

    return run_app(sys.argv if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
