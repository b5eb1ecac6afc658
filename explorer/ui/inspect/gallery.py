"""The same convolution passed through every activation function, side by side.

As in the tutorials that compare ReLU, sigmoid, tanh and friends: one filter (the first
convolution's first filter, or a Sobel edge filter) is applied to the chosen image, and
each function of the vocabulary (`explorer.core.vocabulary.activation_functions`) is
applied to the result.
Each tile has its own scale, written above it, since the functions' ranges differ.

Every tile is the same size: as many columns as the width allows (at most five), tiles as
wide as the columns, and a scroll bar when the rows do not fit.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QEvent, QObject, Qt, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsGridLayout,
    QGraphicsLinearLayout,
    QGraphicsSceneWheelEvent,
    QGraphicsWidget,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from explorer.core.capture import activation_responses
from explorer.core.capture_types import CaptureResult
from explorer.core.vocabulary.activation_functions import ACTIVATIONS
from explorer.ui.inspect.feature_maps import (
    SEPARATOR_RGB,
    add_png_export_action,
    colormap_lut,
    save_png,
)

COLUMNS = 5  # at most
TILE_MIN, TILE_MAX = 96, 200  # tile side in pixels
SPACING = 10


class _TileView(pg.ViewBox):
    """A fixed view that leaves the wheel to the scroll area around the gallery."""

    def __init__(self) -> None:
        super().__init__(lockAspect=True, enableMouse=False, enableMenu=False, invertY=True)

    def wheelEvent(self, ev: QGraphicsSceneWheelEvent, axis: int | None = None) -> None:
        ev.ignore()


class ActivationTile(QGraphicsWidget):
    """One function: its name and range over its map, at a fixed size."""

    def __init__(self, name: str, lut: np.ndarray) -> None:
        super().__init__()
        layout = QGraphicsLinearLayout(Qt.Orientation.Vertical, self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.title = pg.LabelItem(name, size="9pt", color="#222")
        self.box = _TileView()
        self.item = pg.ImageItem(axisOrder="row-major")
        self.item.setLookupTable(lut)
        self.box.addItem(self.item)
        layout.addItem(self.title)
        layout.addItem(self.box)

    def title_size(self) -> tuple[float, float]:
        rect = self.title.itemRect()
        return rect.width(), rect.height()

    def set_side(self, side: int, title_height: int) -> None:
        self.title.setFixedHeight(title_height)
        self.box.setFixedWidth(side)
        self.box.setFixedHeight(side)
        width, height = side, side + title_height + 2
        self.setMinimumSize(width, height)
        self.setMaximumSize(width, height)
        self.resize(width, height)


class ActivationGallery(QWidget):
    """Feed it an image (`set_image`) and optionally a kernel (`show_capture`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: torch.Tensor | None = None
        self._kernel: np.ndarray | None = None
        self._kernel_name = "Sobel edge filter"
        self.info_label = QLabel("Pick an image to compare activation functions.")
        self.info_label.setWordWrap(True)
        self.save_button = QPushButton("Save PNG…")
        self.view = pg.GraphicsView(background=SEPARATOR_RGB)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._lut = colormap_lut("viridis")
        self._grid_item = QGraphicsWidget()
        self._grid = QGraphicsGridLayout(self._grid_item)
        self._grid.setSpacing(SPACING)
        self.view.setCentralItem(self._grid_item)
        # Made when first shown or fed (`_make_tiles`): thirteen plots take ~20 ms, which a
        # window opening with this tab hidden need not spend.
        self.tiles: dict[str, ActivationTile] = {}
        self._titles: dict[str, pg.LabelItem] = {}
        self._items: dict[str, pg.ImageItem] = {}
        self.columns = 0
        self.side = 0
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.setWidget(self.view)
        self._resize_watch = _ResizeWatch(self)
        self.scroll_area.viewport().installEventFilter(self._resize_watch)
        row = QHBoxLayout()
        row.addWidget(self.info_label, 1)
        row.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.scroll_area, 1)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        add_png_export_action(self.view, "activations.png")

    def showEvent(self, event: QShowEvent) -> None:
        self._make_tiles()
        super().showEvent(event)

    def _make_tiles(self) -> None:
        if self.tiles:
            return
        # "linear" is the convolution itself
        self.tiles = {name: ActivationTile(name, self._lut) for name in ACTIVATIONS}
        self._titles = {name: tile.title for name, tile in self.tiles.items()}
        self._items = {name: tile.item for name, tile in self.tiles.items()}
        self.arrange()

    def arrange(self) -> None:
        """Lay the tiles out at one size for the current width (the widest title fits)."""
        if not self.tiles:
            return
        # The scroll bar's width is always set aside, so showing it never changes the layout.
        area = self.scroll_area
        width = area.width() - area.verticalScrollBar().sizeHint().width()
        titles = [tile.title_size() for tile in self.tiles.values()]
        narrowest = max(TILE_MIN, math.ceil(max(w for w, _ in titles)) + 4)
        title_height = math.ceil(max(h for _, h in titles))
        columns = max(1, min(COLUMNS, (width - SPACING) // (narrowest + SPACING)))
        side = max(narrowest, min(TILE_MAX, (width - SPACING) // columns - SPACING))
        if (columns, side) != (self.columns, self.side):
            self.columns, self.side = columns, side
            while self._grid.count():
                self._grid.removeAt(self._grid.count() - 1)
            for index, tile in enumerate(self.tiles.values()):
                tile.set_side(side, title_height)
                self._grid.addItem(tile, *divmod(index, columns))
        rows = math.ceil(len(self.tiles) / columns)
        used = columns * (side + SPACING) + SPACING
        margin = max(SPACING, (width - used) // 2 + SPACING)
        self._grid.setContentsMargins(margin, SPACING, SPACING, SPACING)
        self.view.setMinimumHeight(rows * (side + title_height + 2 + SPACING) + SPACING)

    def set_image(self, image: torch.Tensor) -> None:
        self._make_tiles()
        self._image = image.detach().cpu()
        self._draw()

    def show_capture(self, result: CaptureResult) -> None:
        """Use the first convolution's first filter from the captured weights."""
        for layer in result.layers:
            if layer.kernel is not None and layer.kernel.ndim == 4:
                kernel = layer.kernel[0]
                if self._image is not None and kernel.shape[0] != self._image.shape[0]:
                    break
                self._kernel = kernel
                self._kernel_name = f"filter 0 of {layer.name}"
                self._draw()
                return
        self._kernel, self._kernel_name = None, "Sobel edge filter"
        self._draw()

    def _draw(self) -> None:
        if self._image is None:
            return
        pre, responses = activation_responses(self._image, self._kernel)
        for name, values in responses.items():
            low, high = float(values.min()), float(values.max())
            self._items[name].setImage(
                np.ascontiguousarray(values), levels=(low, high if high > low else low + 1e-6)
            )
            self._titles[name].setText(
                f"<b>{name}</b><br>{low:.2g} … {high:.2g}", size="9pt", color="#222"
            )
        self.columns = 0  # the titles changed size: lay out again
        self.arrange()
        kh, kw = pre.shape if self._kernel is None else self._kernel.shape[-2:]
        size = "3×3" if self._kernel is None else f"{kh}×{kw}"
        self.info_label.setText(
            f"One convolution ({self._kernel_name}, {size}) through each activation; "
            "every tile has its own colour scale. Softmax is taken over the whole map."
        )

    @Slot()
    def _on_save_button_clicked(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(
            self, "Save activations", "activations.png", "PNG (*.png)"
        )
        if path:
            save_png(self.view, path)


class _ResizeWatch(QObject):
    """Re-arranges the gallery when its scroll area changes size."""

    def __init__(self, gallery: ActivationGallery) -> None:
        super().__init__(gallery)
        self._gallery = gallery

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self._gallery.arrange()
        return False
