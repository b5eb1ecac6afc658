"""Colours and glyphs for layer families, drawn with QPainter (no image files needed)."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap

from explorer.core.layers import LAYER_TYPES

_FAMILY_COLOURS = {
    "Convolution": "#3b7dd8",
    "Pooling": "#2f9e8f",
    "Core": "#7b5cc4",
    "Regularisation": "#d08a1e",
    "Activation": "#c2417a",
    "Input": "#5f6b7a",
}
_FALLBACK = "#7a7a7a"
ERROR_COLOUR = QColor("#d93025")
WARNING_COLOUR = QColor("#e8a317")


def family_colour(family: str) -> QColor:
    return QColor(_FAMILY_COLOURS.get(family, _FALLBACK))


def type_colour(type_name: str) -> QColor:
    entry = LAYER_TYPES.get(type_name)
    return family_colour(entry.family if entry else "")


def glyph_text(type_name: str) -> str:
    """Two letters for a type badge: initials of its CamelCase parts, e.g. MaxPool2D -> MP."""
    stem = type_name.removesuffix("2D")
    capitals = [c for c in stem if c.isupper()]
    if len(capitals) >= 2:
        return "".join(capitals[:2])
    return stem[:2].title()


def paint_badge(painter: QPainter, rect: QRectF, type_name: str) -> None:
    """A rounded coloured square with the type's letters."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(type_colour(type_name))
    painter.drawRoundedRect(rect, rect.width() * 0.2, rect.width() * 0.2)
    font = QFont(painter.font())
    font.setBold(True)
    font.setPixelSize(max(7, int(rect.height() * 0.45)))
    painter.setFont(font)
    painter.setPen(QColor("white"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, glyph_text(type_name))
    painter.restore()


@cache
def type_icon(type_name: str, size: int = 32) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    paint_badge(painter, QRectF(1, 1, size - 2, size - 2), type_name)
    painter.end()
    return QIcon(pixmap)
