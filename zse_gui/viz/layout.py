"""Where panels sit in a rendered view, patch geometry inside them, and click hit-testing.

Every raster view is a row of square panels (sketch, photo, mosaic, ...) above an optional
footer (colour bar or legend). A panel shows one model-frame image scaled to ``size`` pixels,
so patch ``p`` of a ``g x g`` grid covers ``[c*s, (c+1)*s) x [r*s, (r+1)*s)`` with ``s = size / g``
inside the panel (``p = r * g + c``, row-major, as in ``zse_gui.results``). The vector
figures use the same coordinates as data coordinates, so a pair drawn in a PNG and in an SVG
lands on the same spot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Panel", "PanelLayout", "default_panel_size", "row_layout", "hit_test"]

Box = tuple[float, float, float, float]


def default_panel_size(image_size: int, minimum: int = 224) -> int:
    """Panel side for a model input of ``image_size`` px: at least ``minimum``, an integer multiple.

    An integer scale keeps patch cells on whole pixels, so cell outlines are crisp.
    """
    if image_size >= minimum:
        return image_size
    return image_size * math.ceil(minimum / image_size)


@dataclass(frozen=True)
class Panel:
    """One square image panel of a rendered view.

    Attributes:
        name: what it shows: ``"sketch"``, ``"photo"``, ``"synthesis"``, ...
        x0, y0: top-left corner in rendered pixels.
        size: side in rendered pixels.
        grid: patches per side.
    """

    name: str
    x0: int
    y0: int
    size: int
    grid: int

    @property
    def cell(self) -> float:
        """Side of one patch cell in rendered pixels."""
        return self.size / self.grid

    def cell_box(self, patch: int) -> Box:
        """(x0, y0, x1, y1) of a patch cell in rendered pixels (x1, y1 exclusive)."""
        r, c = divmod(int(patch), self.grid)
        s = self.cell
        return (self.x0 + c * s, self.y0 + r * s, self.x0 + (c + 1) * s, self.y0 + (r + 1) * s)

    def centre(self, patch: int) -> tuple[float, float]:
        """(x, y) centre of a patch cell in rendered pixels (pixel-centre convention: +0.5 px)."""
        x0, y0, x1, y1 = self.cell_box(patch)
        return ((x0 + x1) / 2.0, (y0 + y1) / 2.0)

    def patch_at(self, x: float, y: float) -> int | None:
        """Patch id under rendered pixel (x, y), or None outside the panel."""
        u, v = x - self.x0, y - self.y0
        if not (0 <= u < self.size and 0 <= v < self.size):
            return None
        c = min(int(u / self.cell), self.grid - 1)
        r = min(int(v / self.cell), self.grid - 1)
        return r * self.grid + c


@dataclass(frozen=True)
class PanelLayout:
    """Panels of a rendered view plus the footer band below them.

    Attributes:
        panels: the panels, left to right.
        width, height: size of the whole rendered image in pixels.
        footer: (y0, height) of the band under the panels (height 0 = none).
    """

    panels: tuple[Panel, ...]
    width: int
    height: int
    footer: tuple[int, int] = (0, 0)

    def panel(self, name: str) -> Panel:
        """The panel called ``name``.

        Raises:
            KeyError: no such panel.
        """
        for p in self.panels:
            if p.name == name:
                return p
        raise KeyError(f"no panel {name!r}; panels are {[p.name for p in self.panels]}")

    def to_dict(self) -> dict[str, object]:
        """JSON-ready description (for sidecars)."""
        return {
            "width": self.width,
            "height": self.height,
            "footer": list(self.footer),
            "panels": [
                {"name": p.name, "x0": p.x0, "y0": p.y0, "size": p.size, "grid": p.grid} for p in self.panels
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PanelLayout:
        """Inverse of ``to_dict``."""
        panels = tuple(
            Panel(str(p["name"]), int(p["x0"]), int(p["y0"]), int(p["size"]), int(p["grid"]))
            for p in data["panels"]
        )
        footer = data.get("footer", [0, 0])
        return cls(panels, int(data["width"]), int(data["height"]), (int(footer[0]), int(footer[1])))


def row_layout(
    names: tuple[str, ...], size: int, grid: int, gap: int, margin: int, footer: int
) -> PanelLayout:
    """Panels side by side with ``gap`` px between them, ``margin`` px around, ``footer`` px below."""
    panels = tuple(Panel(n, margin + k * (size + gap), margin, size, grid) for k, n in enumerate(names))
    width = 2 * margin + len(names) * size + (len(names) - 1) * gap
    footer_y = margin + size
    height = footer_y + footer + margin
    return PanelLayout(panels, width, height, (footer_y, footer))


def hit_test(layout: PanelLayout, x: float, y: float) -> tuple[str, int] | None:
    """Map a click at rendered pixel (x, y) to ``(panel name, patch id)``, or None off the panels.

    Example:
        >>> lay = row_layout(("sketch", "photo"), size=224, grid=14, gap=16, margin=0, footer=0)
        >>> hit_test(lay, 20, 3)
        ('sketch', 1)
    """
    for p in layout.panels:
        patch = p.patch_at(x, y)
        if patch is not None:
            return p.name, patch
    return None
