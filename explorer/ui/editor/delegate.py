"""Paints one layer row: family band, type badge, description, name and parameters,
output shape, and a red (error) or amber (warning) badge."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from explorer.ui.common.family_style import ERROR_COLOUR, WARNING_COLOUR, paint_badge, type_colour
from explorer.ui.editor.stack_model import (
    NAME_ROLE,
    PARAMS_ROLE,
    SEVERITY_ROLE,
    SHAPE_ROLE,
    TYPE_ROLE,
)

_BAND = 5
_BADGE = 26
_MARGIN = 8


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
        params = index.data(PARAMS_ROLE)
        detail = f"{index.data(NAME_ROLE)}  ·  {params} params"
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
