"""The sketch, in one place every layer may import: strokes, their JSON form, Quick, Draw! drawings,
rasterisation and fitting a drawing into a canvas. numpy and OpenCV only (no torch, no Qt)."""

from zse_gui.sketch.quickdraw import (
    QUICKDRAW_SIZE,
    QuickDrawDrawing,
    quickdraw_sketch,
    quickdraw_to_strokes,
    read_quickdraw_drawing,
    read_quickdraw_ndjson,
)
from zse_gui.sketch.raster import (
    INK_THRESHOLD,
    has_ink,
    ink_mask,
    query_digest,
    rasterize_sketch,
    rasterize_strokes,
    sketch_query,
)
from zse_gui.sketch.strokes import (
    CANVAS_SIZE,
    Stroke,
    StrokeSketch,
    fit_sketch,
    read_stroke_file,
    sketch_from_json,
    sketch_to_json,
)

__all__ = [
    "CANVAS_SIZE",
    "INK_THRESHOLD",
    "QUICKDRAW_SIZE",
    "QuickDrawDrawing",
    "Stroke",
    "StrokeSketch",
    "fit_sketch",
    "has_ink",
    "ink_mask",
    "query_digest",
    "quickdraw_sketch",
    "quickdraw_to_strokes",
    "rasterize_sketch",
    "rasterize_strokes",
    "read_quickdraw_drawing",
    "read_quickdraw_ndjson",
    "read_stroke_file",
    "sketch_from_json",
    "sketch_query",
    "sketch_to_json",
]
