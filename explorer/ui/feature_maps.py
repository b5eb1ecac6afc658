"""Every layer's output for one image, in one scrolling list beside the layer names.

Each layer is one row of a `QListView`: its name, description, shape and value range,
and ONE image holding all its channels tiled (see `explorer.core.mosaic`), colour
indices already scaled, so drawing is one lookup into RGB32 pixels and one `drawImage`.
The view is virtual: Qt asks the delegate to paint only the rows on screen, and a row's
pixels are coloured the first time it is painted, so a 5,000-layer network costs what
its visible rows cost. Large layers come tiled from the capture thread (`with_mosaics`),
small ones are tiled when first painted; while the panel is hidden a new capture is only
kept, not shown.
Vectors are a wrapped strip (the logits labelled with the class names); the network's
output is a bar chart of class probabilities, the last row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QAction,
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
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from explorer.core.capture import CaptureResult, LayerCapture
from explorer.core.mosaic import (
    COLUMN_ASPECT,
    DEFAULT_GAP,
    STRIP_COLUMNS,
    LayerMosaics,
    Mosaic,
    grid_shape,
    layer_mosaics,
)
from explorer.core.spec import LayerSpec, NetworkSpec

log = logging.getLogger(__name__)

COLORMAPS = ("viridis", "gray", "inferno", "magma", "plasma", "turbo")
TOP_CLASSES = 10
_NAME_WIDTH = 170
_MIN_ROW, _MAX_ROW = 36, 190
_MAX_ZOOM = 4
_PAD = 4
_CELL_MAX = 36  # a vector value is drawn at most this many pixels square
_LABELLED_CELLS = 32  # logits strips up to this many classes get their names written
_BAR_HEIGHT = 20


# Separators, unused tiles and the view around a mosaic share one light colour, so the
# maps read as pictures on the page (no colormap's dark end is mistaken for a gap).
SEPARATOR_RGB = (236, 236, 236)
# Mosaics about this many times wider than tall fill a row of the column.
MOSAIC_ASPECT = COLUMN_ASPECT
_TOP_COLOUR, _BAR_COLOUR = QColor("#f39c12"), QColor("#4a90c2")


def colormap_lut(name: str, entries: int = 256) -> np.ndarray:
    """An `entries`-long uint8 RGB lookup table for a pyqtgraph colormap ('gray' included)."""
    if name == "gray":
        ramp = np.linspace(0, 255, entries).round().astype(np.uint8)
        return np.stack([ramp, ramp, ramp], axis=1)
    return pg.colormap.get(name).getLookupTable(0.0, 1.0, entries, alpha=False)


def indexed_lut(name: str) -> np.ndarray:
    """256 colours for indexed mosaics as 0xffRRGGBB (QImage RGB32 pixels):
    index 0 is the separator, 1..255 the colormap."""
    rgb = np.empty((256, 3), np.uint32)
    rgb[0] = SEPARATOR_RGB
    rgb[1:] = colormap_lut(name, 255)
    return np.ascontiguousarray(0xFF000000 | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2])


def save_png(widget: QWidget, path: str) -> bool:
    """Save what `widget` shows to a PNG file."""
    return bool(widget.grab().save(path, "PNG"))


def install_png_export(widget: QWidget, suggested_name: str) -> QAction:
    """Give `widget` a context-menu action that saves it as PNG."""
    action = QAction("Save as PNG…", widget)

    def ask() -> None:
        path, _ = QFileDialog.getSaveFileName(widget, "Save as PNG", suggested_name, "PNG (*.png)")
        if path and not save_png(widget, path):
            log.warning("could not save %s", path)

    action.triggered.connect(ask)
    widget.addAction(action)
    widget.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
    return action


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
        same_shapes = same_rows and all(
            a.name == b.name and a.output.shape == b.output.shape
            for a, b in zip(old.layers, result.layers, strict=True)  # type: ignore[union-attr]
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
        self.line = QFontMetrics(base).height()
        self.small_line = QFontMetrics(self.small).height()

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
        lines: list[tuple[QFont, str]] = [(self.bold, layer.name)]
        description, note = panel.title(layer.name)
        if description:
            base = self.panel.font()
            width = _NAME_WIDTH - 2 * _PAD
            lines += [(base, part) for part in wrap_parts(description, QFontMetrics(base), width)]
        if note:
            lines.append((self.italic, note))
        lines.append((self.panel.font(), "×".join(str(n) for n in layer.shape)))
        if layer.truncated:
            lines.append((self.italic, f"showing {layer.channels_shown} of {layer.shape[0]} maps"))
        return lines

    def _prediction_lines(self) -> list[tuple[QFont, str]]:
        result = self.panel.model.result
        if result is None or result.probabilities.size == 0:
            return [(self.bold, "prediction")]
        probabilities = result.probabilities
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
        text_height = 2 * _PAD + sum(QFontMetrics(font).height() for font in fonts)
        layer = self.panel.model.layer(row)
        if layer is None:
            bars = self.panel.bar_order().size
            height = max(text_height, 2 * _PAD + _BAR_HEIGHT * bars + self.small_line)
            return _Geometry(QRect(_NAME_WIDTH, _PAD, width, height - 2 * _PAD), 1.0, height)
        h, w = _mosaic_shape(layer)
        if h == 0 or w == 0:
            return _Geometry(QRect(_NAME_WIDTH, _PAD, 0, 0), 1.0, text_height)
        if layer.is_image:
            scale = min(width / w, _MAX_ROW / h, max(_MAX_ZOOM, _MIN_ROW / h))
        else:
            scale = min(width / w, _CELL_MAX)
        image = QRect(_NAME_WIDTH, _PAD, max(1, int(w * scale)), max(1, int(h * scale)))
        below = self.small_line + 2 if self._labels_cells(layer) else 0
        height = max(text_height, image.height() + below + 2 * _PAD)
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

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return QSize(self.panel.view_width() + _NAME_WIDTH, self.geometry(index.row()).height)

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

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        row = index.row()
        rect = option.rect
        painter.save()
        # Map pixels stay sharp squares when enlarged.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.fillRect(rect, QColor(*SEPARATOR_RGB))
        painter.setPen(QColor("#ffffff"))
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        painter.setPen(QColor("#222222"))
        y = rect.top() + _PAD
        text_width = _NAME_WIDTH - 2 * _PAD
        for font, text in self.text_lines(row):
            painter.setFont(font)
            metrics = QFontMetrics(font)
            shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, text_width)
            painter.drawText(rect.left() + _PAD, y + metrics.ascent(), shown)
            y += metrics.height()
        geometry = self.geometry(row)
        target = geometry.image.translated(rect.topLeft())
        layer = self.panel.model.layer(row)
        if layer is None:
            self._paint_bars(painter, target)
        else:
            painter.setFont(self.small)
            baseline = y + QFontMetrics(self.small).ascent()
            painter.drawText(rect.left() + _PAD, baseline, self.panel.range_text(row))
            image = self.image(row)
            if image is not None:
                painter.drawImage(target, image)
            if self._labels_cells(layer):
                self._paint_cell_names(painter, target, layer, geometry.scale)
        painter.restore()

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
        if order.size == 0:
            return
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


class _MapList(QListView):
    """The virtual column of layers; reports the map pixel under the mouse and clicks."""

    def __init__(self, panel: FeatureMapPanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.setMouseTracking(True)
        self.setUniformItemSizes(False)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(200)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
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

    def leaveEvent(self, event) -> None:
        self.panel.show_hover("")
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            row, where = self.where(event.position().toPoint())
            layer = self.panel.model.layer(row)
            if where is not None and layer is not None and layer.is_image:
                self.panel.channel_clicked.emit(layer.name, where[0])
                event.accept()
                return
        super().mousePressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        # Painted means on screen: a capture kept while hidden is drawn next.
        if self.panel.result is not self.panel.model.result:
            QTimer.singleShot(0, self.panel.catch_up)
        super().paintEvent(event)

    def viewportEvent(self, event) -> bool:
        if isinstance(event, QHelpEvent):
            index = self.indexAt(event.pos())
            if index.isValid() and event.pos().x() < _NAME_WIDTH:
                lines = [text for _, text in self.panel.delegate.text_lines(index.row())]
                QToolTip.showText(event.globalPos(), "\n".join(lines), self)
                return True
        return super().viewportEvent(event)


class FeatureMapPanel(QWidget):
    """All layers' feature maps for one image; feed it with `show_capture`.

    `channel_clicked(layer_name, channel)` fires when a map is clicked.
    """

    channel_clicked = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spec: NetworkSpec | None = None
        self._titles: dict[str, tuple[str, str]] = {}
        self._layers_by_name: dict[str, LayerSpec] = {}
        self._class_names: tuple[str, ...] = ()
        self._pending: CaptureResult | None = None
        self.colours = indexed_lut(COLORMAPS[0])
        self.last_layer_name = ""
        self.class_count = 0

        self.shared_check = QCheckBox("Shared scale")
        self.shared_check.setToolTip(
            "Off: each map is scaled to its own range (shows patterns in weak maps). "
            "On: one colour scale per layer (shows which maps respond most)."
        )
        self.colormap_combo = QComboBox()
        self.colormap_combo.addItems(COLORMAPS)
        self.save_button = QPushButton("Save PNG…")
        self.hover_label = QLabel(" ")
        self.hover_label.setMinimumWidth(1)  # long readings are cut, never widen the panel
        self.status_label = QLabel("Pick an image to see what each layer makes of it.")
        self.status_label.setWordWrap(True)

        self.colormap_combo.setToolTip("The colours of the feature maps")
        controls = QHBoxLayout()
        controls.addWidget(self.colormap_combo)
        controls.addWidget(self.shared_check)
        controls.addStretch(1)
        controls.addWidget(self.save_button)

        self.model = FeatureMapModel(self)
        self.delegate = FeatureMapDelegate(self)
        self.view = _MapList(self)
        self.view.setModel(self.model)
        self.view.setItemDelegate(self.delegate)

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.status_label)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.hover_label)

        self.shared_check.toggled.connect(self._on_shared_check_toggled)
        self.colormap_combo.currentTextChanged.connect(self._on_colormap_combo_changed)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        install_png_export(self.view, "feature-maps.png")

    # ---- public API ----------------------------------------------------------------------

    def set_spec(self, spec: NetworkSpec) -> None:
        """Take layer descriptions and class names from the spec (read when rows show)."""
        self._spec = spec
        self._titles = {}
        self._layers_by_name = {}
        self._class_names = tuple(spec.class_names)
        self.class_count = spec.num_classes

    def set_class_names(self, names: Sequence[str]) -> None:
        self._class_names = tuple(names)
        self.view.viewport().update()

    def show_capture(self, result: CaptureResult) -> None:
        """Draw every layer of a capture; while the panel is hidden it is only kept."""
        self._pending = result
        if self.on_screen():
            self._apply()

    def on_screen(self) -> bool:
        """Whether any of the list can be seen. A dock that is a tab behind another is
        still "visible" to Qt, so the list's visible region decides."""
        return self.isVisible() and not self.view.visibleRegion().isEmpty()

    def catch_up(self) -> None:
        """Draw the kept capture if it is not drawn yet and the list can be seen (the
        list calls this when Qt paints it, i.e. when it comes on screen)."""
        drawn = self._pending is None or self.model.result is self._pending
        if not drawn and self.on_screen():
            self._apply()

    @property
    def result(self) -> CaptureResult | None:
        return self._pending

    @property
    def scroll(self) -> QListView:
        """The scrolling column (a virtual list)."""
        return self.view

    def clear(self) -> None:
        self._pending = None
        self.delegate.images.clear()
        self.model.beginResetModel()
        self.model.result = None
        self.model.endResetModel()

    def row_images(self) -> dict[str, np.ndarray]:
        """The colour-index mosaic each layer row shows (0 on separators)."""
        result = self._pending
        if result is None:
            return {}
        shared = self.shared_check.isChecked()
        out = {}
        for row, layer in enumerate(result.layers):
            if self.model.result is result:
                mosaics = self.model.mosaics(row)
            else:
                mosaics = (result.mosaics[row] if result.mosaics else None) or layer_mosaics(
                    layer.output
                )
            assert mosaics is not None
            out[layer.name] = mosaics.get(shared).image
        return out

    def coloured_rows(self) -> list[int]:
        """The rows whose pictures have been made (painted at least once)."""
        return sorted(self.delegate.images)

    def show_hover(self, text: str) -> None:
        self.hover_label.setText(text or " ")

    # ---- what the delegate and the view read ---------------------------------------------

    def view_width(self) -> int:
        """Pixels for a row's picture: the view's width less the name column."""
        return max(60, self.view.viewport().width() - _NAME_WIDTH - 2 * _PAD)

    def title(self, name: str) -> tuple[str, str]:
        """(description, note) of the layer called `name`, from the spec; looked up
        when its row is painted, so an edit of a deep network describes no layer."""
        found = self._titles.get(name)
        if found is None:
            if not self._layers_by_name and self._spec is not None:
                spec = self._spec
                self._layers_by_name = dict(zip(spec.layer_names(), spec.layers, strict=True))
            layer = self._layers_by_name.get(name)
            if layer is None:
                return ("", "")
            note = "logits (before softmax)" if name == self.last_layer_name else ""
            found = self._titles[name] = (layer.describe(), note)
        return found

    def class_name(self, index: int) -> str:
        names = self._class_names
        return names[index] if 0 <= index < len(names) else str(index)

    def bar_order(self) -> np.ndarray:
        """The classes drawn as bars: all of them, or the top TOP_CLASSES by probability."""
        result = self.model.result
        if result is None:
            return np.zeros(0, np.int64)
        probabilities = result.probabilities
        if probabilities.shape[0] > TOP_CLASSES:
            return np.argsort(probabilities)[::-1][:TOP_CLASSES]
        return np.arange(probabilities.shape[0])

    def row_mosaic(self, row: int) -> Mosaic | None:
        mosaics = self.model.mosaics(row)
        return None if mosaics is None else mosaics.get(self.shared_check.isChecked())

    def range_text(self, row: int) -> str:
        layer = self.model.layer(row)
        mosaic = self.row_mosaic(row)
        if layer is None or mosaic is None or mosaic.levels.size == 0:
            return ""
        low, high = float(mosaic.levels[:, 0].min()), float(mosaic.levels[:, 1].max())
        scale = "shared" if (mosaic.shared or not layer.is_image) else "per map"
        return f"{low:.3g} … {high:.3g} ({scale})"

    def hover_text(self, row: int, where: tuple[int, int, int] | None) -> str:
        layer = self.model.layer(row)
        if layer is None or where is None:
            return ""
        index, y, x = where
        if layer.is_image:
            value = float(layer.output[index, y, x])
            return f"{layer.name} · channel {index} at (y {y}, x {x}): {value:.4g}"
        value = float(layer.output[index])
        if layer.name == self.last_layer_name and layer.output.shape[0] == self.class_count:
            return f"{layer.name} · {self.class_name(index)} (unit {index}): {value:.4g}"
        return f"{layer.name} · unit {index}: {value:.4g}"

    # ---- drawing ---------------------------------------------------------------------------

    def _apply(self) -> None:
        result = self._pending
        if result is None:
            return
        self.last_layer_name = result.layers[-1].name if result.layers else ""
        self.delegate.images.clear()
        self.model.set_result(result)
        self.view.viewport().update()
        capped = [layer for layer in result.layers if layer.truncated]
        status = "Hover a map to read its values; click it to enlarge."
        if capped:
            status = (
                f"Wide layers show their first {capped[0].channels_shown} maps "
                f"({len(capped)} layer{'s' if len(capped) > 1 else ''} capped). " + status
            )
        if status != self.status_label.text():
            self.status_label.setText(status)

    def _redraw(self) -> None:
        self.delegate.images.clear()
        self.view.viewport().update()

    @Slot(bool)
    def _on_shared_check_toggled(self, checked: bool) -> None:
        self._redraw()

    @Slot(str)
    def _on_colormap_combo_changed(self, name: str) -> None:
        self.colours = indexed_lut(name)
        self._redraw()

    @Slot()
    def _on_save_button_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save feature maps", "feature-maps.png", "PNG (*.png)"
        )
        if path and not save_png(self.view, path):
            log.warning("could not save %s", path)


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
