"""Layer families as the window shows them: their order, their colours, and the glyphs of
their types, drawn with QPainter (no image files needed).

The family of a type and the order of families are facts of the registry; the colours are
declared here, once. The palette, the layer reference and the stack rows all read them.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap

from explorer.core.layers import FAMILIES, LAYER_TYPES, LayerType
from explorer.core.vocabulary.blocks import BLOCK_TYPES

# By family; "Input" is the input row at the top of the stack.
_FAMILY_COLOURS = {
    "Convolution": "#3b7dd8",
    "Pooling": "#2f9e8f",
    "Core": "#7b5cc4",
    "Regularisation": "#d08a1e",
    "Activation": "#c2417a",
    "Blocks": "#4a8c3a",
    "Input": "#5f6b7a",
}
_FALLBACK = "#7a7a7a"
ERROR_COLOUR = QColor("#d93025")
WARNING_COLOUR = QColor("#e8a317")


def family_of(entry: LayerType) -> str:
    """The family a layer type belongs to (the registry says)."""
    return entry.family


def families() -> Iterator[tuple[str, list[LayerType]]]:
    """Every family with a layer type, with its types in registry order: the registry's
    families first, in its order, then any other family by name."""
    named = {family_of(entry) for entry in LAYER_TYPES.values()}
    for family in [*FAMILIES, *sorted(named - set(FAMILIES))]:
        types = [entry for entry in LAYER_TYPES.values() if family_of(entry) == family]
        if types:
            yield family, types


def family_colour(family: str) -> QColor:
    return QColor(_FAMILY_COLOURS.get(family, _FALLBACK))


def type_colour(type_name: str) -> QColor:
    entry = LAYER_TYPES.get(type_name)
    if entry is None and type_name in BLOCK_TYPES:
        return family_colour(BLOCK_TYPES[type_name].family)
    return family_colour(family_of(entry) if entry else "")


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
