"""The name column of a feature-map row: where its layer sits (indentation and a guide
line per block around it, a tint on a block's merged output), the selection, and the
description's lines.

Nested rows are indented as the stack indents them (as torchinfo indents by depth), so a
block's layers read as one run that its merged row, tinted and back at the block's level,
closes.
"""

from __future__ import annotations

from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QFontMetrics, QPainter

from explorer.core.capture_types import LayerCapture

INDENT = 12  # pixels per level of nesting
_GUIDE = QColor("#9aa7b4")
_MERGED = QColor("#e2ddef")
_SELECTED = QColor("#cfe3f7")
_ACCENT = QColor("#2a82da")


def indent(layer: LayerCapture | None) -> int:
    """How far right the row's texts start (the prediction row is not indented)."""
    return 0 if layer is None else (layer.depth - 1) * INDENT


def paint_marks(
    painter: QPainter, rect: QRect, width: int, pad: int, layer: LayerCapture | None, selected: bool
) -> None:
    """Under the texts of a row `rect`, in its first `width` pixels: the selection or a
    merged row's tint, and one guide line per block the layer sits in."""
    column = QRect(rect.left(), rect.top(), width, rect.height())
    if selected:
        painter.fillRect(column, _SELECTED)
        painter.fillRect(QRect(rect.left(), rect.top(), 3, rect.height()), _ACCENT)
    elif layer is not None and layer.merged:
        painter.fillRect(column.adjusted(indent(layer) + pad // 2, 0, 0, 0), _MERGED)
    if layer is None:
        return
    painter.setPen(_GUIDE)
    for level in range(layer.depth - 1):
        x = rect.left() + pad + level * INDENT + INDENT // 2 - 2
        painter.drawLine(x, rect.top(), x, rect.bottom())


def wrap_parts(text: str, metrics: QFontMetrics, width: int) -> list[str]:
    """`text` ("Conv2D 16 · 5×5 · pad 2 · linear") in lines no wider than `width`,
    broken between its " · " parts (a part too long alone is elided when drawn)."""
    lines: list[str] = []
    for part in text.split(" · "):
        joined = f"{lines[-1]} · {part}" if lines else part
        if lines and metrics.horizontalAdvance(joined) <= width:
            lines[-1] = joined
        else:
            lines.append(part)
    return lines
