"""Thin shim: ``python main.py`` starts the zse-gui desktop app."""

import sys

from zse_gui.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
