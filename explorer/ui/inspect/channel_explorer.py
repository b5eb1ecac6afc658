"""What one channel responds to: its 9 strongest test images, the patch its peak sees, its
map with a hover that shows each position's receptive field, and an image made to excite it.

All the work (the pass over the test split, the top images' maps, the gradient ascent) runs
on the view's task runner on a snapshot of the weights; the GUI thread only draws the nine
small images and looks up receptive boxes (a few windows' arithmetic, cached per layer).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from PySide6.QtCore import QPoint, QRect, Qt, Signal, Slot
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPen,
    QPixmap,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from explorer.core.analysis import Analysis, analyze
from explorer.core.channel_explorer import Box, ChannelMaxima, MaximisedImage, receptive_box
from explorer.core.data.resident import DeviceDataset
from explorer.core.dataset_split import Split
from explorer.core.paths import LayerPath
from explorer.core.spec import NetworkSpec
from explorer.ui.common.tasks import TaskFailed, TaskFinished, TaskProgress, TaskRunner
from explorer.ui.inspect.channel_jobs import MAX_STEPS, TopMaps, find_job, maps_job, maximise_job

TOP = 9
SCALE = 3  # screen pixels per input pixel for the top images
MAP_SIZE = 168  # screen pixels of the hovered map's longer side
BOX_PEN = QColor("#e6194b")


def gray_pixmap(image: np.ndarray, scale: int, box: Box | None = None) -> QPixmap:
    """An image (C, H, W) or map (H, W), min-max scaled to grey (RGB for 3 channels),
    enlarged `scale` times with hard edges, with `box` outlined."""
    values = np.asarray(image, np.float32)
    if values.ndim == 2:
        values = values[None]
    low, high = float(values.min()), float(values.max())
    pixels = ((values - low) / (high - low or 1.0) * 255).astype(np.uint8)
    channels, height, width = pixels.shape
    if channels == 3:
        data = np.ascontiguousarray(pixels.transpose(1, 2, 0))
        qimage = QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    else:
        data = np.ascontiguousarray(pixels[0])
        qimage = QImage(data.data, width, height, width, QImage.Format.Format_Grayscale8)
    pixmap = QPixmap.fromImage(qimage.copy()).scaled(
        width * scale, height * scale, mode=Qt.TransformationMode.FastTransformation
    )
    if box is not None:
        painter = QPainter(pixmap)
        painter.setPen(QPen(BOX_PEN, 2))
        painter.drawRect(
            QRect(
                box.left * scale, box.top * scale, box.size[1] * scale - 1, box.size[0] * scale - 1
            )
        )
        painter.end()
    return pixmap


class MapView(QLabel):
    """One map, enlarged; reports the map position under the mouse (`hovered(row, col)`)."""

    hovered = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self._shape = (0, 0)
        self._scale = 1

    def show_map(self, values: np.ndarray) -> None:
        height, width = values.shape
        self._shape = (height, width)
        self._scale = max(1, MAP_SIZE // max(height, width))
        self.setPixmap(gray_pixmap(values, self._scale))

    def position_at(self, point: QPoint) -> tuple[int, int] | None:
        row, column = point.y() // self._scale, point.x() // self._scale
        if 0 <= row < self._shape[0] and 0 <= column < self._shape[1]:
            return row, column
        return None

    def centre_of(self, row: int, column: int) -> QPoint:
        """Where map position (row, column) is drawn, in this widget's pixels."""
        half = self._scale // 2
        return QPoint(column * self._scale + half, row * self._scale + half)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        found = self.position_at(event.position().toPoint())
        if found is not None:
            self.hovered.emit(*found)
        super().mouseMoveEvent(event)


class Tile(QLabel):
    """One top image; `clicked(k)` when pressed."""

    clicked = Signal(int)

    def __init__(self, k: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.k = k

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.clicked.emit(self.k)
        super().mousePressEvent(event)


class ChannelExplorer(QWidget):
    """Pick a layer and channel; Find top images (Ctrl+F) ranks the test images, Maximise (Ctrl+M)
    makes an image that excites the channel."""

    shown = Signal()
    maximised = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spec: NetworkSpec | None = None
        self._state: Mapping[str, torch.Tensor] | None = None
        self._dataset: DeviceDataset | None = None
        self._maxima: ChannelMaxima | None = None
        self._top_maps: TopMaps | None = None
        self._selected = 0
        self._analysis: Analysis | None = None
        self.last_maximised: MaximisedImage | None = None
        self._boxes: dict[tuple[LayerPath, int, int], Box | None] = {}
        self.runner = TaskRunner("channel explorer", self)
        self.runner.finished.connect(self._on_runner_finished)
        self.runner.failed.connect(self._on_runner_failed)
        self.runner.progressed.connect(self._on_runner_progressed)

        self.layer = QComboBox()
        self.layer.setToolTip("A layer whose output is a stack of maps")
        self.layer.currentIndexChanged.connect(self._on_layer_current_index_changed)
        self.channel = QSpinBox()
        self.channel.setPrefix("channel ")
        self.channel.valueChanged.connect(self._on_channel_value_changed)
        self.find_button = QPushButton("Find top images")
        self.find_button.setToolTip("Rank every test image by the channel's peak (Ctrl+F)")
        self.find_button.clicked.connect(self._on_find_button_clicked)
        self.maximise_button = QPushButton("Maximise")
        self.maximise_button.setToolTip("Make an input that excites the channel (Ctrl+M)")
        self.maximise_button.clicked.connect(self._on_maximise_button_clicked)
        QShortcut(QKeySequence("Ctrl+F"), self, self.find_top)
        QShortcut(QKeySequence("Ctrl+M"), self, self.maximise)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(140)
        self.progress.hide()
        controls = QHBoxLayout()
        for widget in (self.layer, self.channel, self.find_button, self.maximise_button):
            controls.addWidget(widget)
        controls.addWidget(self.progress)
        controls.addStretch(1)

        self.status = QLabel("Pick a layer and a channel, then Find top images.")
        self.status.setWordWrap(True)
        self.tiles: list[Tile] = []
        self.patches: list[QLabel] = []
        grid = QGridLayout()
        for k in range(TOP):
            tile, patch = Tile(k), QLabel()
            tile.setToolTip("A top image; the box is what the peak position sees. Click: hover it")
            tile.clicked.connect(self._on_tile_clicked)
            self.tiles.append(tile)
            self.patches.append(patch)
            grid.addWidget(tile, 2 * (k // 3), k % 3)
            grid.addWidget(patch, 2 * (k // 3) + 1, k % 3)
        self.map_view = MapView()
        self.map_view.hovered.connect(self._on_map_view_hovered)
        self.hover_input = QLabel()
        self.map_caption = QLabel("Hover the map: its receptive field shows on the input.")
        self.map_caption.setWordWrap(True)
        self.maximised_view = QLabel()
        self.maximised_caption = QLabel()
        self.maximised_caption.setWordWrap(True)
        side = QVBoxLayout()
        pair = QHBoxLayout()
        pair.addWidget(self.map_view)
        pair.addWidget(self.hover_input)
        side.addWidget(self.map_caption)
        side.addLayout(pair)
        side.addWidget(self.maximised_caption)
        side.addWidget(self.maximised_view)
        side.addStretch(1)
        body = QHBoxLayout()
        body.addLayout(grid)
        body.addSpacing(16)
        body.addLayout(side, 1)
        content = QWidget()
        inner = QVBoxLayout(content)
        inner.addLayout(controls)
        inner.addWidget(self.status)
        inner.addLayout(body, 1)
        # Its pictures have a fixed size: in a narrow dock they scroll inside the tab
        # rather than widen the whole panel.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)

    # ---- API for the panel -------------------------------------------------------------

    def set_spec(self, spec: NetworkSpec, weights: Mapping[str, torch.Tensor] | None) -> None:
        """A new or edited network: its map layers are listed when the view is next shown
        (an analysis scales with the network); earlier results are dropped."""
        self._spec, self._state = spec, weights
        self._analysis = None
        self._boxes.clear()
        self._forget()
        if self.isVisible():
            self._list_layers()

    def showEvent(self, event: QShowEvent) -> None:
        if self._spec is not None and self._analysis is None:
            self._list_layers()
        super().showEvent(event)

    def _list_layers(self) -> None:
        assert self._spec is not None
        analysis = self._analysis = analyze(self._spec)
        current = self.layer.currentText()
        self.layer.blockSignals(True)
        self.layer.clear()
        for found in analysis.walk():  # layers inside blocks too, indented as in the stack
            shape = found.output_shape
            if found.path is not None and shape is not None and len(shape) == 3:
                indent = "    " * (found.path.depth - 1)
                self.layer.addItem(f"{indent}{found.name} · {shape[0]} channels", found.path)
        index = self.layer.findText(current)
        # The deepest map layer by default: its fields are digit-sized, its channels the
        # most telling.
        self.layer.setCurrentIndex(index if index >= 0 else self.layer.count() - 1)
        self.layer.blockSignals(False)

    def set_weights(self, state: Mapping[str, torch.Tensor]) -> None:
        """New weights (e.g. from training): used by the next Find or Maximise."""
        self._state = state

    def set_dataset(self, dataset: DeviceDataset) -> None:
        self._dataset = dataset
        self._forget()

    @Slot()
    def find_top(self) -> bool:
        """Rank the test images for the chosen layer; False when there is nothing to rank."""
        spec, state, dataset, path = self._spec, self._state, self._dataset, self._path()
        if spec is None or dataset is None or path is None:
            self.status.setText("Needs a dataset and a layer with maps.")
            return False
        self.runner.invalidate()
        self.runner.start(lambda control: find_job(spec, state, dataset, path, control))
        self._busy(f"Ranking {dataset.size(Split.TEST):,} test images…", 0)
        return True

    @Slot()
    def maximise(self) -> bool:
        spec, path = self._spec, self._path()
        if spec is None or path is None:
            return False
        state, channel = self._state, self.channel.value()
        value_range = (-1.0, 3.0)
        if self._dataset is not None:
            mean, std = self._dataset.mean[0], self._dataset.std[0]
            value_range = (-mean / std, (1 - mean) / std)
        self.runner.start(
            lambda control: maximise_job(spec, state, value_range, path, channel, control)
        )
        self._busy(f"Making an image for channel {channel}…", MAX_STEPS)
        return True

    def top_indices(self) -> list[int]:
        if self._maxima is None:
            return []
        return [int(i) for i in self._maxima.top(self.channel.value(), TOP)]

    def hover(self, row: int, column: int) -> Box | None:
        """Show the receptive field of map position (row, column) on the selected top image."""
        maps, path, dataset = self._top_maps, self._path(), self._dataset
        if maps is None or path is None or dataset is None or self._spec is None:
            return None
        box = self._box(path, row, column)
        index = int(maps.indices[self._selected])
        image = dataset.images(Split.TEST)[index].cpu().numpy()
        self.hover_input.setPixmap(gray_pixmap(image, SCALE * 2, box))
        where = "only padding"
        if box is not None:
            where = f"rows {box.top}–{box.bottom - 1}, columns {box.left}–{box.right - 1}"
        value = maps.maps[self._selected, row, column]
        self.map_caption.setText(
            f"Image {index}, map position ({row}, {column}) = {value:.3f}: sees {where}."
        )
        return box

    def shutdown(self) -> None:
        self.runner.shutdown()

    # ---- drawing -----------------------------------------------------------------------

    def _path(self) -> LayerPath | None:
        data = self.layer.currentData()
        return data if isinstance(data, LayerPath) else None

    def _box(self, path: LayerPath, row: int, column: int) -> Box | None:
        key = (path, row, column)
        if key not in self._boxes:
            assert self._spec is not None
            self._boxes[key] = receptive_box(self._spec, path, (row, column), self._analysis)
        return self._boxes[key]

    def _busy(self, text: str, steps: int) -> None:
        self.status.setText(text)
        self.progress.setRange(0, steps)
        self.progress.setValue(0)
        self.progress.show()

    def _forget(self) -> None:
        self.runner.invalidate()
        self.progress.hide()
        self._maxima, self._top_maps = None, None
        for label in (*self.tiles, *self.patches, self.map_view, self.hover_input):
            label.clear()

    def _show_top(self) -> None:
        maxima, dataset, spec = self._maxima, self._dataset, self._spec
        if maxima is None or dataset is None or spec is None:
            return
        channel = self.channel.value()
        indices = maxima.top(channel, TOP)
        images = dataset.images(Split.TEST)[torch.from_numpy(indices)].cpu().numpy()
        for k, (index, image) in enumerate(zip(indices.tolist(), images, strict=True)):
            position = maxima.position(index, channel)
            box = self._box(maxima.path, *position)
            self.tiles[k].setPixmap(gray_pixmap(image, SCALE, box))
            self.tiles[k].setToolTip(
                f"Test image {index}: peak {maxima.maxima[index, channel]:.3f} at {position}"
            )
            if box is not None:
                patch = image[:, box.top : box.bottom, box.left : box.right]
                self.patches[k].setPixmap(
                    gray_pixmap(patch, max(1, 3 * SCALE * 7 // max(patch.shape[1:])))
                )
            else:
                self.patches[k].clear()
        self.status.setText(
            f"The {len(indices)} test images where channel {channel} of {maxima.path} peaks "
            f"highest (of {maxima.maxima.shape[0]:,}); below each, the patch its peak sees."
        )
        spec_, state, path = spec, self._state, maxima.path
        self.runner.start(
            lambda control: maps_job(spec_, state, dataset, path, channel, indices, control)
        )
        self.shown.emit()

    def select_tile(self, k: int) -> None:
        """Show the map of top image `k` for hovering."""
        self._selected = k
        if self._top_maps is not None:
            self.map_view.show_map(self._top_maps.maps[k])
            self.hover(0, 0)

    # ---- slots -------------------------------------------------------------------------

    @Slot()
    def _on_find_button_clicked(self) -> None:
        self.find_top()

    @Slot()
    def _on_maximise_button_clicked(self) -> None:
        self.maximise()

    @Slot(int)
    def _on_channel_value_changed(self, _: int) -> None:
        if self._maxima is not None:
            self._top_maps = None
            self._show_top()

    @Slot(int)
    def _on_layer_current_index_changed(self, _: int) -> None:
        self._forget()
        self.status.setText("Press Find top images to rank the test images for this layer.")

    @Slot(int)
    def _on_tile_clicked(self, k: int) -> None:
        self.select_tile(k)

    @Slot(int, int)
    def _on_map_view_hovered(self, row: int, column: int) -> None:
        self.hover(row, column)

    @Slot(object)
    def _on_runner_progressed(self, progress: TaskProgress[int]) -> None:
        self.progress.setValue(int(progress.value))

    @Slot(object)
    def _on_runner_finished(self, result: TaskFinished[object]) -> None:
        value = result.value
        self.progress.hide()
        if isinstance(value, ChannelMaxima):
            self._maxima = value
            self.channel.setRange(0, value.channels - 1)
            self._show_top()
        elif isinstance(value, TopMaps):
            self._top_maps = value
            self._selected = 0
            self.map_view.show_map(value.maps[0])
            self.hover(0, 0)
        elif isinstance(value, MaximisedImage):
            self.last_maximised = value
            self.status.setText(f"Made an image for channel {value.channel} of {value.path}.")
            self.maximised_view.setPixmap(gray_pixmap(value.image, SCALE * 2))
            self.maximised_caption.setText(
                f"Made to excite channel {value.channel}: response {value.activation:.3f} "
                f"(from {value.start_activation:.3f} on noise)."
            )
            self.maximised.emit()

    @Slot(object)
    def _on_runner_failed(self, failure: TaskFailed) -> None:
        self.progress.hide()
        self.status.setText(f"Could not explore the channel: {failure.message}")
