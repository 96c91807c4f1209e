"""The inference engine: typed API over the model (no Qt).

``zse_gui.engine.types`` holds the numpy-only result dataclasses and imports no torch, so
renderers can use them without loading the model stack.
"""
