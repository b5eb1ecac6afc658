"""Paints one row of the stack: a layer's or a block's (family band, type badge,
description, name with parameters and multiply-adds, output shape, a red (error) or amber
(warning) badge), and the rows a block adds: a branch header, an empty sub-stack to drop
layers on, and the merge with the block's output shape."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPalette, QPen, QPixmap, QPixmapCache
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from explorer.ui.common.family_style import ERROR_COLOUR, WARNING_COLOUR, paint_badge, type_colour
from explorer.ui.editor.stack_model import (
    HEALTH_ROLE,
    KIND_ROLE,
    MACS_ROLE,
    NAME_ROLE,
    PARAMS_ROLE,
    SEVERITY_ROLE,
    SHAPE_ROLE,
    TYPE_ROLE,
)

# What a row's picture depends on besides its size, state, font and palette.
_SHOWN_ROLES = (
    KIND_ROLE,
    TYPE_ROLE,
    Qt.ItemDataRole.DisplayRole,
    NAME_ROLE,
    PARAMS_ROLE,
    MACS_ROLE,
    SHAPE_ROLE,
    SEVERITY_ROLE,
    HEALTH_ROLE,
)
_SELECTED = QStyle.StateFlag.State_Selected
_ACTIVE = QStyle.StateFlag.State_Active

_BAND = 5
_BADGE = 26
_MARGIN = 8
_HEALTH_COLOUR = QColor("#a23b8c")  # not a diagnostic's red or amber: the run's, not the spec's


class LayerRowDelegate(QStyledItemDelegate):
    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        height = option.fontMetrics.height()
        return QSize(260, max(_BADGE + 12, 2 * height + 14))

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        """Draw the row's kept picture; paint one first when none is kept for what the
        row shows now."""
        rect: QRect = option.rect
        ratio = painter.device().devicePixelRatioF()
        key = row_key(option, index, ratio)
        pixmap = QPixmap()
        if not QPixmapCache.find(key, pixmap):
            pixmap = QPixmap(
                max(1, round(rect.width() * ratio)), max(1, round(rect.height() * ratio))
            )
            pixmap.setDevicePixelRatio(ratio)
            pixmap.fill(Qt.GlobalColor.transparent)
            local = QStyleOptionViewItem(option)
            local.rect = QRect(0, 0, rect.width(), rect.height())
            row_painter = QPainter(pixmap)
            self.paint_row(row_painter, local, index)
            row_painter.end()
            QPixmapCache.insert(key, pixmap)
        painter.drawPixmap(rect.topLeft(), pixmap)

    def paint_row(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        """Paint the row itself in `option.rect`."""
        kind = index.data(KIND_ROLE)
        if kind in ("header", "empty", "merge"):
            self._paint_block_part(painter, option, index, kind)
            return
        painter.save()
        rect: QRect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette: QPalette = option.palette
        group = (
            QPalette.ColorGroup.Active
            if option.state & QStyle.StateFlag.State_Active
            else QPalette.ColorGroup.Inactive
        )
        if selected:
            painter.fillRect(rect, palette.color(group, QPalette.ColorRole.Highlight))
        elif kind == "block":
            tint = type_colour(index.data(TYPE_ROLE) or "")
            tint.setAlphaF(0.10)
            painter.fillRect(rect, tint)
        elif index.row() % 2:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.AlternateBase))
        type_name = index.data(TYPE_ROLE) or ""
        painter.fillRect(
            QRect(rect.left(), rect.top(), _BAND, rect.height()), type_colour(type_name)
        )
        painter.setPen(palette.color(QPalette.ColorRole.Mid))
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())

        badge_top = rect.top() + (rect.height() - _BADGE) / 2
        paint_badge(
            painter, QRectF(rect.left() + _BAND + _MARGIN, badge_top, _BADGE, _BADGE), type_name
        )

        text_colour = palette.color(
            group, QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        dim = QColor(text_colour)
        dim.setAlphaF(0.65)
        metrics = option.fontMetrics
        line = metrics.height()
        left = rect.left() + _BAND + 2 * _MARGIN + _BADGE
        shape_text = index.data(SHAPE_ROLE) or "?"
        bold = QFont(option.font)
        bold.setBold(True)
        shape_width = max(
            metrics.horizontalAdvance(shape_text), metrics.horizontalAdvance("(64, 24, 24)")
        )
        right = rect.right() - _MARGIN
        severity = index.data(SEVERITY_ROLE)
        if severity:
            diameter = min(18, line + 2)
            circle = QRectF(
                right - diameter, rect.center().y() - diameter / 2 + 1, diameter, diameter
            )
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(ERROR_COLOUR if severity == "error" else WARNING_COLOUR)
            painter.drawEllipse(circle)
            painter.setPen(QColor("white"))
            painter.setFont(bold)
            painter.drawText(circle, Qt.AlignmentFlag.AlignCenter, "!")
            right -= diameter + 6
        shape_rect = QRect(right - shape_width, rect.top(), shape_width, rect.height())
        text_width = shape_rect.left() - left - _MARGIN
        top = rect.top() + (rect.height() - 2 * line) // 2

        painter.setFont(bold)
        painter.setPen(text_colour)
        title = painter.fontMetrics().elidedText(
            str(index.data(Qt.ItemDataRole.DisplayRole) or ""),
            Qt.TextElideMode.ElideRight,
            text_width,
        )
        painter.drawText(QRect(left, top, text_width, line), Qt.AlignmentFlag.AlignVCenter, title)
        painter.setFont(option.font)
        painter.setPen(dim)
        health = index.data(HEALTH_ROLE)
        if health:  # a pill at the end of the detail line: "61% dead"
            pill_width = min(metrics.horizontalAdvance(health) + 12, text_width // 2)
            pill = QRectF(left + text_width - pill_width, top + line + 1, pill_width, line - 2)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(_HEALTH_COLOUR)
            painter.drawRoundedRect(pill, pill.height() / 2, pill.height() / 2)
            painter.setPen(QColor("white"))
            painter.drawText(
                pill,
                Qt.AlignmentFlag.AlignCenter,
                metrics.elidedText(health, Qt.TextElideMode.ElideRight, pill_width - 8),
            )
            painter.setPen(dim)
            text_width -= pill_width + 6
        params = index.data(PARAMS_ROLE)
        detail = f"{index.data(NAME_ROLE)}  ·  {params} params"
        if kind == "block":
            detail += f"  ·  {index.data(MACS_ROLE)} MACs"
        detail = metrics.elidedText(detail, Qt.TextElideMode.ElideRight, text_width)
        painter.drawText(
            QRect(left, top + line, text_width, line), Qt.AlignmentFlag.AlignVCenter, detail
        )

        unknown = shape_text == "?"
        painter.setPen(
            ERROR_COLOUR
            if unknown and severity == "error" and not selected
            else (dim if unknown else text_colour)
        )
        painter.drawText(
            shape_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, shape_text
        )
        painter.restore()

    def _paint_block_part(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
        kind: str,
    ) -> None:
        """A branch header (bold), an empty sub-stack (a dashed place to drop layers) or a
        merge row (the block's output shape)."""
        painter.save()
        rect: QRect = option.rect
        palette: QPalette = option.palette
        colour = type_colour(index.data(TYPE_ROLE) or "")
        text_colour = palette.color(QPalette.ColorRole.Text)
        dim = QColor(text_colour)
        dim.setAlphaF(0.65)
        tint = QColor(colour)
        tint.setAlphaF(0.06 if kind != "header" else 0.12)
        painter.fillRect(rect, tint)
        painter.setPen(palette.color(QPalette.ColorRole.Midlight))
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        inner = rect.adjusted(_MARGIN, 3, -_MARGIN, -4)
        font = QFont(option.font)
        text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        if kind == "empty":
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            pen = QPen(dim, 1.2, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(inner), 5, 5)
            font.setItalic(True)
            painter.setFont(font)
            painter.drawText(inner, Qt.AlignmentFlag.AlignCenter, text)
            painter.restore()
            return
        font.setBold(kind == "header")
        painter.setFont(font)
        painter.setPen(colour.darker(140) if kind == "header" else text_colour)
        shape = str(index.data(SHAPE_ROLE) or "")
        metrics = painter.fontMetrics()
        shape_width = metrics.horizontalAdvance(shape) + _MARGIN
        severity = index.data(SEVERITY_ROLE)
        title_rect = inner.adjusted(0, 0, -shape_width, 0)
        title = metrics.elidedText(text, Qt.TextElideMode.ElideRight, title_rect.width())
        painter.drawText(title_rect, Qt.AlignmentFlag.AlignVCenter, title)
        if severity == "error" and shape == "?":
            painter.setPen(ERROR_COLOUR)
        elif kind == "header":
            painter.setPen(dim)
        bold = QFont(option.font)
        bold.setBold(kind == "merge")
        painter.setFont(bold)
        painter.drawText(inner, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, shape)
        painter.restore()


def row_key(
    option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex, ratio: float
) -> str:
    """Everything a row's picture shows: its data, size, selection, focus of the window,
    stripe, font, palette and pixel ratio."""
    state = option.state
    rect: QRect = option.rect
    shown = [str(index.data(role)) for role in _SHOWN_ROLES]
    return "\x1f".join(
        (
            "stack-row",
            *shown,
            f"{rect.width()}x{rect.height()}@{ratio}",
            str(bool(state & _SELECTED)),
            str(bool(state & _ACTIVE)),
            str(index.row() % 2),
            option.font.key(),
            str(option.palette.cacheKey()),
        )
    )
