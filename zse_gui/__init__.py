"""zse-gui: explainable zero-shot sketch-based image retrieval (ZSE-SBIR)."""

__version__ = "0.1.0"
