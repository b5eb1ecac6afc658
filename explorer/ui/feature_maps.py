"""Every layer's output for one image, in a scrollable column beside the layer names.

Each image layer is ONE pyqtgraph ImageItem showing all its channels tiled (see
`explorer.core.mosaic`), already scaled to 0..1 so the item gets explicit levels; vectors
are a wrapped strip; the network's output is a bar chart of class probabilities. Rows are
rebuilt only when the layers change, so live refreshes during training just swap images.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QImage
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from explorer.core.capture import CaptureResult, LayerCapture
from explorer.core.mosaic import Mosaic, feature_mosaic, vector_strip
from explorer.core.spec import NetworkSpec

log = logging.getLogger(__name__)

COLORMAPS = ("viridis", "gray", "inferno", "magma", "plasma", "turbo")
TOP_CLASSES = 10
_NAME_WIDTH = 170
_MIN_ROW, _MAX_ROW = 36, 190
_MAX_ZOOM = 4


# Separators, unused tiles and the view around a mosaic share one light colour, so the
# maps read as pictures on the page (no colormap's dark end is mistaken for a gap).
SEPARATOR_RGB = (236, 236, 236)
# Mosaics about this many times wider than tall fill a row of the column.
MOSAIC_ASPECT = 3.5


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


class _StillViewBox(pg.ViewBox):
    """A view that neither zooms nor eats wheel events, so the column scrolls."""

    def __init__(self) -> None:
        super().__init__(lockAspect=True, enableMouse=False, enableMenu=False, invertY=True)

    def wheelEvent(self, ev, axis=None):
        ev.ignore()


class _MapImage(pg.ImageItem):
    """An ImageItem of colour indices (an indexed mosaic) that reports the mosaic pixel
    under the mouse and clicks on it.

    It colours its image itself, with one numpy lookup into RGB32 pixels: Qt paints RGB32
    about 10× faster than the indexed or RGBA images pyqtgraph would make, and pyqtgraph
    builds a Python colour table for every indexed image it renders.
    """

    def __init__(self, row: _MapRow) -> None:
        super().__init__(axisOrder="row-major")
        self._row = row
        self._pixels: np.ndarray | None = None  # keeps the QImage's buffer alive
        self.colours = indexed_lut(COLORMAPS[0])
        self.setAcceptHoverEvents(True)

    def set_colours(self, colours: np.ndarray) -> None:
        self.colours = colours
        self.qimage = None
        self.update()

    def render(self):
        if self.image is None:
            return
        self._pixels = np.ascontiguousarray(self.colours[self.image])
        h, w = self._pixels.shape
        self.qimage = QImage(self._pixels.data, w, h, 4 * w, QImage.Format.Format_RGB32)

    def hoverEvent(self, ev):
        if ev.isExit():
            self._row.hovered(None)
            return
        pos = ev.pos()
        self._row.hovered((int(np.floor(pos.y())), int(np.floor(pos.x()))))

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.MouseButton.LeftButton:
            pos = ev.pos()
            self._row.clicked((int(np.floor(pos.y())), int(np.floor(pos.x()))))
            ev.accept()


class _MapRow:
    """One layer: a name label and a view with one ImageItem for all its channels."""

    def __init__(self, panel: FeatureMapPanel, name: str) -> None:
        self.panel = panel
        self.name = name
        # The rich description changes only with the layer; the value range changes with
        # every capture and lives in a plain fixed-size label, which re-lays out nothing.
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.range_label = QLabel()
        self.range_label.setTextFormat(Qt.TextFormat.PlainText)
        self.range_label.setFixedSize(_NAME_WIDTH, 16)
        small = self.range_label.font()
        small.setPointSizeF(small.pointSizeF() * 0.85)
        self.range_label.setFont(small)
        self.side = QWidget()
        self.side.setFixedWidth(_NAME_WIDTH)
        side = QVBoxLayout(self.side)
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(0)
        side.addWidget(self.label)
        side.addWidget(self.range_label)
        side.addStretch(1)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(SEPARATOR_RGB)
        self.view.ci.setContentsMargins(0, 0, 0, 0)
        self.box = _StillViewBox()
        self.view.addItem(self.box)
        self.image = _MapImage(self)
        self.box.addItem(self.image)
        self.layer: LayerCapture | None = None
        self.mosaic: Mosaic | None = None

    def show(self, layer: LayerCapture, shared: bool, lut: np.ndarray, title: str) -> None:
        self.layer = layer
        if layer.is_image:
            self.mosaic = feature_mosaic(
                layer.output, shared=shared, indexed=True, aspect=MOSAIC_ASPECT
            )
        else:
            self.mosaic = vector_strip(layer.output, indexed=True)
        self.image.colours = lut
        self.image.setImage(self.mosaic.image, levels=(0, 255), autoLevels=False)
        low, high = float(self.mosaic.levels[:, 0].min()), float(self.mosaic.levels[:, 1].max())
        shape = "×".join(str(n) for n in layer.shape)
        extra = ""
        if layer.truncated:
            extra = f"<br><i>showing {layer.channels_shown} of {layer.shape[0]} maps</i>"
        scale = "shared" if (shared or not layer.is_image) else "per map"
        text = f"<b>{self.name}</b><br>{title}<br>{shape}{extra}"
        if text != self.label.text():
            self.label.setText(text)
        self.range_label.setText(f"{low:.3g} … {high:.3g} ({scale})")

    def fit_height(self, width: int) -> None:
        if self.mosaic is None or self.mosaic.image.size == 0:
            return
        h, w = self.mosaic.image.shape[:2]
        # Wide enough to fill the column, but no map pixel blown up past _MAX_ZOOM screen
        # pixels: bigger shows nothing new and pushes the other layers off screen.
        height = min(width * h / w, h * _MAX_ZOOM)
        self.view.setFixedHeight(int(np.clip(height, _MIN_ROW, _MAX_ROW)))

    def _where(self, pixel: tuple[int, int]) -> tuple[int, int, int] | None:
        if self.mosaic is None:
            return None
        return self.mosaic.layout.locate(*pixel)

    def hovered(self, pixel: tuple[int, int] | None) -> None:
        where = None if pixel is None else self._where(pixel)
        if where is None or self.layer is None:
            self.panel.show_hover("")
            return
        index, y, x = where
        if self.layer.is_image:
            value = float(self.layer.output[index, y, x])
            text = f"{self.name} · channel {index} at (y {y}, x {x}): {value:.4g}"
        else:
            text = f"{self.name} · unit {index}: {float(self.layer.output[index]):.4g}"
        self.panel.show_hover(text)

    def clicked(self, pixel: tuple[int, int]) -> None:
        where = self._where(pixel)
        if where is not None and self.layer is not None and self.layer.is_image:
            self.panel.channel_clicked.emit(self.name, where[0])


class _ProbabilityRow:
    """The network's output: horizontal bars of class probabilities, the top one highlighted."""

    def __init__(self) -> None:
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setFixedWidth(_NAME_WIDTH)
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.view = pg.PlotWidget(background=SEPARATOR_RGB)
        self.plot = self.view.getPlotItem()
        for side in ("left", "bottom"):
            axis = self.plot.getAxis(side)
            axis.setPen("#444")
            axis.setTextPen("#222")
        self.plot.setMouseEnabled(False, False)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.invertY(True)
        self.plot.setXRange(0.0, 1.0, padding=0.02)
        self.plot.setLabel("bottom", "probability")
        self.bars = pg.BarGraphItem(x0=[0.0], y=[0.0], height=0.7, width=[0.0])
        self._ticks: list[list[tuple[int, str]]] = []
        self.plot.addItem(self.bars)

    def show(self, probabilities: np.ndarray, class_names: Sequence[str]) -> None:
        count = probabilities.shape[0]
        names = [class_names[i] if i < len(class_names) else str(i) for i in range(count)]
        order = np.arange(count)
        if count > TOP_CLASSES:
            order = np.argsort(probabilities)[::-1][:TOP_CLASSES]
        values = probabilities[order]
        top = int(np.argmax(probabilities))
        brushes = [pg.mkBrush("#f39c12" if i == top else "#4a90c2") for i in order]
        self.bars.setOpts(
            x0=np.zeros(len(order)), y=np.arange(len(order)), width=values, brushes=brushes
        )
        ticks = [[(row, names[i]) for row, i in enumerate(order)]]
        if ticks != self._ticks:  # re-laying out the axis is the slow part of a redraw
            self._ticks = ticks
            self.plot.getAxis("left").setTicks(ticks)
            self.plot.setYRange(-0.6, len(order) - 0.4, padding=0)
            self.view.setFixedHeight(max(120, 22 * len(order) + 40))
        shown = f"top {TOP_CLASSES} of {count} classes" if count > TOP_CLASSES else "classes"
        self.label.setText(
            f"<b>prediction</b><br><span style='color:#f39c12'><b>{names[top]}</b></span> "
            f"{100 * float(probabilities[top]):.1f} %<br><small>softmax over {shown}</small>"
        )


class FeatureMapPanel(QWidget):
    """All layers' feature maps for one image; feed it with `show_capture`.

    `channel_clicked(layer_name, channel)` fires when a map is clicked.
    """

    channel_clicked = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._titles: dict[str, str] = {}
        self._class_names: tuple[str, ...] = ()
        self._rows: list[_MapRow] = []
        self._result: CaptureResult | None = None
        self._lut = indexed_lut(COLORMAPS[0])

        self.shared_check = QCheckBox("Shared colour scale per layer")
        self.shared_check.setToolTip(
            "Off: each map is scaled to its own range (shows patterns in weak maps). "
            "On: one scale per layer (shows which maps respond most)."
        )
        self.colormap_combo = QComboBox()
        self.colormap_combo.addItems(COLORMAPS)
        self.save_button = QPushButton("Save PNG…")
        self.hover_label = QLabel(" ")
        self.status_label = QLabel("Pick an image to see what each layer makes of it.")
        self.status_label.setWordWrap(True)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Colours:"))
        controls.addWidget(self.colormap_combo)
        controls.addWidget(self.shared_check)
        controls.addStretch(1)
        controls.addWidget(self.save_button)

        self._grid_host = QWidget()
        self._grid = QGridLayout(self._grid_host)
        self._grid.setContentsMargins(4, 4, 4, 4)
        self._grid.setVerticalSpacing(6)
        self._grid.setColumnStretch(1, 1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self._grid_host)
        self._probability_row = _ProbabilityRow()

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.status_label)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.hover_label)

        self.shared_check.toggled.connect(self._on_shared_check_toggled)
        self.colormap_combo.currentTextChanged.connect(self._on_colormap_combo_changed)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        install_png_export(self._grid_host, "feature-maps.png")

    # ---- public API ----------------------------------------------------------------------

    def set_spec(self, spec: NetworkSpec) -> None:
        """Take layer descriptions and class names from the spec."""
        self._titles = {
            name: layer.describe()
            for name, layer in zip(spec.layer_names(), spec.layers, strict=True)
        }
        if spec.layers:
            last = spec.layer_names()[-1]
            # The network computes logits; its softmax is drawn as the prediction bars.
            self._titles[last] += "<br><i>logits (before softmax)</i>"
        self._class_names = tuple(spec.class_names)

    def set_class_names(self, names: Sequence[str]) -> None:
        self._class_names = tuple(names)

    def show_capture(self, result: CaptureResult) -> None:
        """Draw every layer of a capture (rows are reused when the layers are the same)."""
        names = [layer.name for layer in result.layers]
        if [row.name for row in self._rows] != names:
            self._rebuild(names)
        self._result = result
        self._draw()
        capped = [layer for layer in result.layers if layer.truncated]
        status = "Hover a map to read its values; click it to enlarge."
        if capped:
            status = (
                f"Wide layers show their first {capped[0].channels_shown} maps "
                f"({len(capped)} layer{'s' if len(capped) > 1 else ''} capped). " + status
            )
        if status != self.status_label.text():
            self.status_label.setText(status)

    def clear(self) -> None:
        self._rebuild([])
        self._result = None

    @property
    def result(self) -> CaptureResult | None:
        return self._result

    def row_images(self) -> dict[str, np.ndarray]:
        """The colour-index mosaic each layer row currently shows (0 on separators)."""
        return {row.name: row.mosaic.image for row in self._rows if row.mosaic is not None}

    def show_hover(self, text: str) -> None:
        self.hover_label.setText(text or " ")

    # ---- drawing ---------------------------------------------------------------------------

    def _rebuild(self, names: list[str]) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None and widget not in (
                self._probability_row.label,
                self._probability_row.view,
            ):
                widget.deleteLater()
        self._rows = [_MapRow(self, name) for name in names]
        for index, row in enumerate(self._rows):
            self._grid.addWidget(row.side, index, 0)
            self._grid.addWidget(row.view, index, 1)
        self._grid.addWidget(self._probability_row.label, len(names), 0)
        self._grid.addWidget(self._probability_row.view, len(names), 1)
        self._grid.setRowStretch(len(names) + 1, 1)

    def _draw(self) -> None:
        if self._result is None:
            return
        shared = self.shared_check.isChecked()
        width = self._view_width()
        for row, layer in zip(self._rows, self._result.layers, strict=True):
            row.show(layer, shared, self._lut, self._titles.get(layer.name, ""))
            row.fit_height(width)
        self._probability_row.show(self._result.probabilities, self._class_names)

    def _view_width(self) -> int:
        return max(120, self.scroll.viewport().width() - _NAME_WIDTH - 24)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        width = self._view_width()
        for row in self._rows:
            row.fit_height(width)

    @Slot(bool)
    def _on_shared_check_toggled(self, checked: bool) -> None:
        self._draw()

    @Slot(str)
    def _on_colormap_combo_changed(self, name: str) -> None:
        self._lut = indexed_lut(name)
        for row in self._rows:
            row.image.set_colours(self._lut)

    @Slot()
    def _on_save_button_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save feature maps", "feature-maps.png", "PNG (*.png)"
        )
        if path and not save_png(self._grid_host, path):
            log.warning("could not save %s", path)
