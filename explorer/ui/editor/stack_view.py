"""The tree view of the layer stack: block rows expand to their sub-stacks, and the left
margin draws each block's structure (the shortcut bypassing a residual body to its ⊕, the
fork into a parallel block's branches and their merge), so it shows at a glance."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QPointF, QRect, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QDrag,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import QAbstractItemView, QTreeView, QWidget

from explorer.ui.common.family_style import type_colour
from explorer.ui.editor.delegate import LayerRowDelegate
from explorer.ui.editor.stack_model import MERGE_ROLE, LayerStackModel
from explorer.ui.editor.stack_tree import Node, RowKind

_INDENT = 18
_MERGE_GLYPHS = {"concat": "∥", "multiply": "×"}  # anything else adds: +
EMPTY_TEXT = (
    "No layers yet.\nDrag layers here from the palette, double-click one, or pick a template."
)


class LayerStackView(QTreeView):
    """A tree that drags our MIME data and leaves removing moved rows to the document."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        # Qt's one-pixel indicator is easy to miss: paintEvent draws a bolder one.
        self.setDropIndicatorShown(False)
        self._drop: tuple[int, int, int] | None = None  # (y, x, or -1 for a row outline)
        self._drop_rect: QRect | None = None
        # Every row is as tall as the first: Qt lays out thousands without asking each.
        self.setUniformRowHeights(True)
        self.setIndentation(_INDENT)
        self.setItemsExpandable(True)
        self.setExpandsOnDoubleClick(False)
        self.setAnimated(False)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setItemDelegate(LayerRowDelegate(self))
        self._empty_text = EMPTY_TEXT

    @property
    def empty_text(self) -> str:
        return self._empty_text

    def set_empty_text(self, text: str | None) -> None:
        """What the empty stack says (None: the usual invitation to add layers); a network
        still being analysed has no rows yet but is not empty."""
        self._empty_text = EMPTY_TEXT if text is None else text
        self.viewport().update()

    def stack_model(self) -> LayerStackModel | None:
        model = self.model()
        return model if isinstance(model, LayerStackModel) else None

    def startDrag(self, supportedActions: Qt.DropAction) -> None:
        indexes = self.selectedIndexes()
        if not indexes or self.model() is None:
            return
        drag = QDrag(self)
        drag.setMimeData(self.model().mimeData(indexes))
        current = self.currentIndex() if self.currentIndex().isValid() else indexes[0]
        drag.setPixmap(self.viewport().grab(self.visualRect(current)))
        # The drop (in this or another stack) makes the edit; nothing is removed here.
        drag.exec(supportedActions, Qt.DropAction.MoveAction)

    # ---- the drop indicator ---------------------------------------------------------------

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        super().dragMoveEvent(event)
        self._drop = self._indicator(event.position().toPoint()) if event.isAccepted() else None
        self.viewport().update()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        super().dragLeaveEvent(event)
        self._drop = None
        self.viewport().update()

    def dropEvent(self, event: QDropEvent) -> None:
        self._drop = None
        super().dropEvent(event)
        self.viewport().update()

    def _indicator(self, pos: QPoint) -> tuple[int, int, int]:
        """Where a drop at `pos` lands, as Qt decides it (QAbstractItemView's position():
        near a row's edge, between rows; in its middle, onto a row that takes drops):
        (y, x of the line's start, -1 when the row itself is outlined)."""
        index = self.indexAt(pos)
        model = self.model()
        if not index.isValid():
            if model is None or model.rowCount() == 0:
                return (2, 8, 0)
            last = model.index(model.rowCount() - 1, 0)
            while self.isExpanded(last) and model.rowCount(last):
                last = model.index(model.rowCount(last) - 1, 0, last)
            return (self.visualRect(last).bottom() + 1, 8, 0)
        rect = self.visualRect(index)
        margin = max(2, min(round(rect.height() / 5.5), 12))
        on = bool(model.flags(index) & Qt.ItemFlag.ItemIsDropEnabled)
        if pos.y() - rect.top() < margin or (not on and pos.y() < rect.center().y()):
            return (rect.top(), rect.left() + 4, 0)
        if rect.bottom() - pos.y() < margin or not on:
            return (rect.bottom() + 1, rect.left() + 4, 0)
        self._drop_rect = rect
        return (rect.top(), rect.left(), -1)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self._drop is not None:
            painter = QPainter(self.viewport())
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            colour = self.palette().highlight().color()
            y, x, outline = self._drop
            if outline < 0 and self._drop_rect is not None:
                painter.setPen(QPen(colour, 3))
                painter.drawRoundedRect(QRectF(self._drop_rect).adjusted(2, 2, -2, -2), 4, 4)
            else:
                painter.setPen(QPen(colour, 3))
                painter.drawLine(x + 4, y, self.viewport().width() - 4, y)
                painter.setBrush(colour)
                painter.drawEllipse(QPoint(x + 2, y), 4, 4)
            painter.end()
        if self.model() is not None and self.model().rowCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(
                self.viewport().rect().adjusted(12, 12, -12, -12),
                Qt.AlignmentFlag.AlignHCenter
                | Qt.AlignmentFlag.AlignTop
                | Qt.TextFlag.TextWordWrap,
                self._empty_text,
            )
            painter.end()

    # ---- the margin: each block's structure --------------------------------------------

    def drawBranches(
        self, painter: QPainter, rect: QRect, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        model = self.stack_model()
        node = model.node(index) if model is not None else None
        if model is None or node is None or rect.width() <= 0:
            return
        chain: list[Node] = []  # the rows above this one, outermost first
        above = node.parent
        while above is not None and above.parent is not None:
            chain.append(above)
            above = above.parent
        chain.reverse()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        top, bottom, middle = rect.top(), rect.bottom() + 1, rect.center().y() + 0.5
        for level, outer in enumerate(chain):
            inner = chain[level + 1] if level + 1 < len(chain) else node
            x = rect.left() + level * _INDENT + _INDENT / 2
            colour = type_colour(self._type_of(outer))
            painter.setPen(QPen(colour, 2))
            if outer.kind is RowKind.HEADER:
                # a branch: its line runs down to its last row, then turns into it
                last = inner is outer.children[-1]
                painter.drawLine(QPointF(x, top), QPointF(x, middle if last else bottom))
                if inner is node:
                    painter.drawLine(QPointF(x, middle), QPointF(x + _INDENT / 2, middle))
                continue
            if inner.kind is RowKind.MERGE:
                painter.drawLine(QPointF(x, top), QPointF(x, middle))
                painter.drawLine(QPointF(x, middle), QPointF(rect.right() + 1, middle))
                self._merge_mark(painter, QPointF(x, middle), model, index, colour)
                continue
            painter.drawLine(QPointF(x, top), QPointF(x, bottom))  # the shortcut / the fork
            if inner is node and node.kind is RowKind.HEADER:
                painter.drawLine(QPointF(x, middle), QPointF(x + _INDENT, middle))
        if node.children:
            x = rect.left() + len(chain) * _INDENT + _INDENT / 2
            expanded = self.isExpanded(index)
            colour = type_colour(self._type_of(node))
            if expanded and node.kind is RowKind.ITEM:
                painter.setPen(QPen(colour, 2))
                painter.drawLine(QPointF(x, middle + 4), QPointF(x, bottom))
            self._arrow(painter, QPointF(x, middle), expanded)
        painter.restore()

    @staticmethod
    def _type_of(node: Node) -> str:
        item = node.item if node.item is not None else (node.parent.item if node.parent else None)
        return item.type if item is not None else ""

    def _arrow(self, painter: QPainter, at: QPointF, expanded: bool) -> None:
        size = 4.5
        if expanded:
            points = [QPointF(-size, -size / 2), QPointF(size, -size / 2), QPointF(0, size)]
        else:
            points = [QPointF(-size / 2, -size), QPointF(size, 0), QPointF(-size / 2, size)]
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.palette().text().color())
        painter.drawPolygon(QPolygonF([at + p for p in points]))

    def _merge_mark(
        self,
        painter: QPainter,
        at: QPointF,
        model: LayerStackModel,
        index: QModelIndex | QPersistentModelIndex,
        colour: QColor,
    ) -> None:
        """The circle where sub-stacks merge: + (add), ∥ (concat), × (multiply)."""
        merge = str(model.data(index, MERGE_ROLE) or "")
        radius = 7.0
        painter.setPen(QPen(self.palette().base().color(), 1))
        painter.setBrush(colour)
        painter.drawEllipse(at, radius, radius)
        font = QFont(painter.font())
        font.setBold(True)
        font.setPixelSize(11)
        painter.setFont(font)
        painter.setPen(self.palette().base().color())
        box = QRectF(at.x() - radius, at.y() - radius, 2 * radius, 2 * radius)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, _MERGE_GLYPHS.get(merge, "+"))
