"""Headless command-line tools: ``zse-index``, ``zse-search`` and ``zse-explain`` (see docs/cli.md)."""
