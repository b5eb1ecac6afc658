"""The rows of the feature-map list: its model, the delegate that paints a layer (texts
and its coloured mosaic) or the prediction bars, and the virtual list view.

Row geometry comes from shapes alone (no pixels, no mosaic), so laying out thousands of
rows is cheap; a row's pixels are coloured the first time it is painted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QHelpEvent,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
    QWidget,
)

from explorer.core.capture_types import CaptureResult, LayerCapture
from explorer.core.mosaic import (
    COLUMN_ASPECT,
    DEFAULT_GAP,
    STRIP_COLUMNS,
    LayerMosaics,
    grid_shape,
    layer_mosaics,
)
from explorer.ui.inspect.row_marks import indent, paint_marks, wrap_parts

if TYPE_CHECKING:
    from explorer.ui.inspect.feature_maps import FeatureMapPanel

TOP_CLASSES = 10
NAME_WIDTH = 170
_MIN_ROW, _MAX_ROW = 36, 190
_MAX_ZOOM = 4
PAD = 4
_CELL_MAX = 36  # a vector value is drawn at most this many pixels square
_LABELLED_CELLS = 32  # logits strips up to this many classes get their names written
_BAR_HEIGHT = 20


# Separators, unused tiles and the view around a mosaic share one light colour, so the
# maps read as pictures on the page (no colormap's dark end is mistaken for a gap).
SEPARATOR_RGB = (236, 236, 236)
# Mosaics about this many times wider than tall fill a row of the column.
MOSAIC_ASPECT = COLUMN_ASPECT
_TOP_COLOUR, _BAR_COLOUR = QColor("#f39c12"), QColor("#4a90c2")
# What the prediction row says when the outputs overflowed (a diverged or exploding network).
NOT_FINITE_TEXT = "outputs not finite (NaN or ∞): the activations overflow"

log = logging.getLogger(__name__)


def coloured(indices: np.ndarray, colours: np.ndarray) -> QImage:
    """Colour indices (H, W) uint8 through a 256-entry RGB32 table, as a QImage that owns
    its pixels (one numpy lookup: Qt paints RGB32 far faster than indexed images)."""
    pixels = np.ascontiguousarray(colours[indices])
    h, w = pixels.shape
    return QImage(pixels.data, w, h, 4 * w, QImage.Format.Format_RGB32).copy()


@dataclass(frozen=True)
class _Geometry:
    """Where a row draws: its mosaic's rectangle (relative to the row) and the pixel
    scale, plus the row's height."""

    image: QRect
    scale: float
    height: int


class FeatureMapModel(QAbstractListModel):
    """One row per captured layer and one for the prediction; the data lives here, the
    pictures are made by `FeatureMapDelegate` when a row is painted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: CaptureResult | None = None
        self._mosaics: dict[int, LayerMosaics] = {}

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() or self.result is None:
            return 0
        return len(self.result.layers) + 1

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        layer = self.layer(index.row())
        if role == Qt.ItemDataRole.DisplayRole:
            return layer.name if layer is not None else "prediction"
        return None

    def set_result(self, result: CaptureResult) -> None:
        """Show `result`: the rows are re-laid out only when the layers' shapes changed."""
        old = self.result
        same_rows = old is not None and len(old.layers) == len(result.layers)
        same_shapes = (
            old is not None
            and same_rows
            and all(
                a.name == b.name and a.output.shape == b.output.shape
                for a, b in zip(old.layers, result.layers, strict=True)
            )
        )
        if not same_rows:
            self.beginResetModel()
        elif not same_shapes:
            self.layoutAboutToBeChanged.emit()
        self.result = result
        self._mosaics = {row: m for row, m in enumerate(result.mosaics) if m is not None}
        if not same_rows:
            self.endResetModel()
        elif not same_shapes:
            self.layoutChanged.emit()
        # Same rows and shapes: nothing to announce. The delegate reads the new result
        # when it paints; a dataChanged would make QListView lay out every row again.

    def layer(self, row: int) -> LayerCapture | None:
        """The layer of `row`, None for the prediction row."""
        if self.result is None or not 0 <= row < len(self.result.layers):
            return None
        return self.result.layers[row]

    def mosaics(self, row: int) -> LayerMosaics | None:
        layer = self.layer(row)
        if layer is None:
            return None
        found = self._mosaics.get(row)
        if found is None:  # a small layer, or a capture without `with_mosaics`: tiled now
            found = self._mosaics[row] = layer_mosaics(layer.output, MOSAIC_ASPECT)
        return found


class FeatureMapDelegate(QStyledItemDelegate):
    """Paints one layer row (texts and its coloured mosaic) or the prediction bars."""

    def __init__(self, panel: FeatureMapPanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.images: dict[int, QImage] = {}  # coloured mosaics of the rows painted so far
        base = QFont(panel.font())
        self.bold = QFont(base)
        self.bold.setBold(True)
        self.italic = QFont(base)
        self.italic.setItalic(True)
        self.small = QFont(base)
        self.small.setPointSizeF(base.pointSizeF() * 0.85)
        self.base = base
        self.line = QFontMetrics(base).height()
        self.small_line = QFontMetrics(self.small).height()
        # Made once: a QFontMetrics is slow to make, and rows are measured by the hundred.
        self._base_metrics = QFontMetrics(base)
        self._italic_metrics = QFontMetrics(self.italic)
        self._heights = {id(font): QFontMetrics(font).height() for font in self._fonts()}

    def _fonts(self) -> tuple[QFont, ...]:
        return (self.base, self.bold, self.italic, self.small)

    # ---- geometry ----------------------------------------------------------------------

    def text_fonts(self, row: int) -> list[QFont]:
        """The fonts of the row's lines of text (what `text_lines` writes, and the range)."""
        fonts = [font for font, _ in self.text_lines(row)]
        return fonts if self.panel.model.layer(row) is None else [*fonts, self.small]

    def text_lines(self, row: int) -> list[tuple[QFont, str]]:
        panel = self.panel
        layer = panel.model.layer(row)
        if layer is None:
            return self._prediction_lines()
        lines: list[tuple[QFont, str]] = [(self.bold, layer.label)]
        description, note = panel.title(layer)
        if description:
            width = NAME_WIDTH - 2 * PAD - indent(layer)
            metrics = self._base_metrics
            lines += [(self.base, part) for part in wrap_parts(description, metrics, width)]
        if note:
            width = NAME_WIDTH - 2 * PAD - indent(layer)
            metrics = self._italic_metrics
            lines += [(self.italic, part) for part in wrap_parts(note, metrics, width)]
        lines.append((self.base, "×".join(str(n) for n in layer.shape)))
        if layer.truncated:
            lines.append((self.italic, f"showing {layer.channels_shown} of {layer.shape[0]} maps"))
        return lines

    def _prediction_lines(self) -> list[tuple[QFont, str]]:
        result = self.panel.model.result
        if result is None or result.probabilities.size == 0:
            return [(self.bold, "prediction")]
        probabilities = result.probabilities
        if not np.isfinite(probabilities).all():
            return [(self.bold, "prediction"), (self.small, NOT_FINITE_TEXT)]
        count = probabilities.shape[0]
        top = int(np.argmax(probabilities))
        shown = f"top {TOP_CLASSES} of {count} classes" if count > TOP_CLASSES else "classes"
        return [
            (self.bold, "prediction"),
            (self.bold, f"{self.panel.class_name(top)} {100 * float(probabilities[top]):.1f} %"),
            (self.small, f"softmax over {shown}"),
        ]

    def geometry(self, row: int) -> _Geometry:
        """The row's layout for the view's current width (cheap: no pixels or texts
        made, so laying out thousands of rows costs little)."""
        width = self.panel.view_width()
        fonts = self.text_fonts(row)
        heights = self._heights
        text_height = 2 * PAD + sum(
            heights.get(id(font)) or QFontMetrics(font).height() for font in fonts
        )
        layer = self.panel.model.layer(row)
        if layer is None:
            bars = self.panel.bar_order().size
            height = max(text_height, 2 * PAD + _BAR_HEIGHT * bars + self.small_line)
            return _Geometry(QRect(NAME_WIDTH, PAD, width, height - 2 * PAD), 1.0, height)
        h, w = _mosaic_shape(layer)
        if h == 0 or w == 0:
            return _Geometry(QRect(NAME_WIDTH, PAD, 0, 0), 1.0, text_height)
        if layer.is_image:
            scale = min(width / w, _MAX_ROW / h, max(_MAX_ZOOM, _MIN_ROW / h))
        else:
            scale = min(width / w, _CELL_MAX)
        image = QRect(NAME_WIDTH, PAD, max(1, int(w * scale)), max(1, int(h * scale)))
        below = self.small_line + 2 if self._labels_cells(layer) else 0
        height = max(text_height, image.height() + below + 2 * PAD)
        return _Geometry(image, scale, height)

    def _labels_cells(self, layer: LayerCapture) -> bool:
        """The logits strip (the last layer, one value per class) gets class names."""
        panel = self.panel
        return (
            not layer.is_image
            and layer.name == panel.last_layer_name
            and layer.output.shape[0] == panel.class_count
            and layer.output.shape[0] <= _LABELLED_CELLS
        )

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return QSize(self.panel.view_width() + NAME_WIDTH, self.geometry(index.row()).height)

    # ---- painting ----------------------------------------------------------------------

    def image(self, row: int) -> QImage | None:
        """The row's coloured mosaic, coloured on first use; a mosaic shown smaller
        than its pixels (a wide layer at 224×224) is coloured at about the size shown."""
        cached = self.images.get(row)
        if cached is None:
            mosaic = self.panel.row_mosaic(row)
            if mosaic is None or mosaic.image.size == 0:
                return None
            step = max(1, int(1.0 / self.geometry(row).scale))
            indices = mosaic.image[::step, ::step] if step > 1 else mosaic.image
            cached = self.images[row] = coloured(indices, self.panel.colours)
        return cached

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        # An exception out of a Qt paint call can take the process down (shiboken reports
        # it from inside Qt's paint event): a row that cannot be drawn is logged and left.
        painter.save()
        try:
            self._paint(painter, option, index)
        except Exception:
            log.exception("drawing row %d of the feature maps failed", index.row())
        finally:
            painter.restore()

    def _paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        row = index.row()
        rect = option.rect
        # Map pixels stay sharp squares when enlarged.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.fillRect(rect, QColor(*SEPARATOR_RGB))
        layer = self.panel.model.layer(row)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        paint_marks(painter, rect, NAME_WIDTH, PAD, layer, selected)
        painter.setPen(QColor("#ffffff"))
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        painter.setPen(QColor("#222222"))
        y = rect.top() + PAD
        left = rect.left() + PAD + indent(layer)
        text_width = NAME_WIDTH - 2 * PAD - indent(layer)
        for font, text in self.text_lines(row):
            painter.setFont(font)
            metrics = QFontMetrics(font)
            shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, text_width)
            painter.drawText(left, y + metrics.ascent(), shown)
            y += metrics.height()
        geometry = self.geometry(row)
        target = geometry.image.translated(rect.topLeft())
        if layer is None:
            self._paint_bars(painter, target)
        else:
            painter.setFont(self.small)
            baseline = y + QFontMetrics(self.small).ascent()
            painter.drawText(left, baseline, self.panel.range_text(row))
            image = self.image(row)
            if image is not None:
                painter.drawImage(target, image)
            if self._labels_cells(layer):
                self._paint_cell_names(painter, target, layer, geometry.scale)

    def _paint_cell_names(
        self, painter: QPainter, target: QRect, layer: LayerCapture, scale: float
    ) -> None:
        painter.setFont(self.small)
        metrics = QFontMetrics(self.small)
        cell = max(1, int(scale))
        for i in range(layer.output.shape[0]):
            box = QRect(target.left() + int(i * scale), target.bottom() + 2, cell, self.small_line)
            name = metrics.elidedText(self.panel.class_name(i), Qt.TextElideMode.ElideRight, cell)
            painter.drawText(box, int(Qt.AlignmentFlag.AlignHCenter), name)

    def _paint_bars(self, painter: QPainter, target: QRect) -> None:
        result = self.panel.model.result
        if result is None:
            return
        probabilities = result.probabilities
        order = self.panel.bar_order()
        if order.size == 0 or not np.isfinite(probabilities).all():
            return  # (no bars to draw: the row's text says why)
        top = int(np.argmax(probabilities))
        metrics = QFontMetrics(self.small)
        names_width = min(
            target.width() // 3,
            max(metrics.horizontalAdvance(self.panel.class_name(int(i))) for i in order) + 8,
        )
        percent_width = metrics.horizontalAdvance("100.0 %") + 8
        span = max(1, target.width() - names_width - percent_width)
        painter.setFont(self.small)
        for slot, i in enumerate(order):
            y = target.top() + slot * _BAR_HEIGHT
            name = metrics.elidedText(
                self.panel.class_name(int(i)), Qt.TextElideMode.ElideRight, names_width - 8
            )
            text_box = QRect(target.left(), y, names_width - 6, _BAR_HEIGHT)
            align = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            painter.drawText(text_box, int(align), name)
            value = float(probabilities[i])
            bar = QRect(target.left() + names_width, y + 3, int(span * value), _BAR_HEIGHT - 6)
            painter.fillRect(bar, _TOP_COLOUR if int(i) == top else _BAR_COLOUR)
            after = QRect(bar.right() + 4, y, percent_width, _BAR_HEIGHT)
            left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
            painter.drawText(after, int(left), f"{100 * value:.1f} %")


class MapList(QListView):
    """The virtual column of layers; reports the map pixel under the mouse and clicks."""

    def __init__(self, panel: FeatureMapPanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.setMouseTracking(True)
        self.setUniformItemSizes(False)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(200)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        # One row at a time, kept in step with the stack's selection by the window.
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalScrollBar().setSingleStep(24)

    def where(self, pos: QPoint) -> tuple[int, tuple[int, int, int] | None]:
        """(row, (map index, y, x) under `pos` or None); row -1 off the rows."""
        index = self.indexAt(pos)
        if not index.isValid():
            return -1, None
        row = index.row()
        mosaic = self.panel.row_mosaic(row)
        if mosaic is None:
            return row, None
        geometry = self.panel.delegate.geometry(row)
        image = geometry.image.translated(self.visualRect(index).topLeft())
        if not image.contains(pos):
            return row, None
        y = int((pos.y() - image.top()) / geometry.scale)
        x = int((pos.x() - image.left()) / geometry.scale)
        return row, mosaic.layout.locate(y, x)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        row, where = self.where(event.position().toPoint())
        self.panel.show_hover(self.panel.hover_text(row, where))
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        self.panel.show_hover("")
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            row, where = self.where(event.position().toPoint())
            layer = self.panel.model.layer(row)
            if where is not None and layer is not None and layer.is_image:
                self.setCurrentIndex(self.panel.model.index(row))  # its row is chosen too
                self.panel.channel_clicked.emit(layer.path, where[0])
                event.accept()
                return
        super().mousePressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        # Painted means on screen: a capture kept while hidden is drawn next.
        if self.panel.result is not self.panel.model.result:
            QTimer.singleShot(0, self.panel.catch_up)
        super().paintEvent(event)

    def viewportEvent(self, event: QEvent) -> bool:
        if isinstance(event, QHelpEvent):
            index = self.indexAt(event.pos())
            if index.isValid() and event.pos().x() < NAME_WIDTH:
                lines = [text for _, text in self.panel.delegate.text_lines(index.row())]
                QToolTip.showText(event.globalPos(), "\n".join(lines), self)
                return True
        return super().viewportEvent(event)


def _mosaic_shape(layer: LayerCapture) -> tuple[int, int]:
    """(height, width) in pixels of a layer's mosaic, from its shape alone."""
    if layer.is_image:
        count, h, w = layer.output.shape
        rows, cols = grid_shape(count, h, w, MOSAIC_ASPECT)
        gap = DEFAULT_GAP
        return (max(0, rows * (h + gap) - gap), max(0, cols * (w + gap) - gap))
    count = layer.output.shape[0]
    cols = max(1, min(STRIP_COLUMNS, count))
    return (-(-count // cols) if count else 0, cols if count else 0)
