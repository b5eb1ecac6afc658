"""What one channel responds to: its 9 strongest test images, the patch its peak sees, its
map with a hover that shows each position's receptive field, and an image made to excite it.

All the work (the pass over the test split, the top images' maps, the gradient ascent) runs
on the view's task runner on a snapshot of the weights; the GUI thread only draws the nine
small images and looks up receptive boxes (a few windows' arithmetic, cached per layer).
After a run, `show_run` reads the top images the run saved (channels.npz), so its
convolutions' channels show at once, without a pass, until the weights change.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import (
    QKeySequence,
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
from explorer.core.channel_tops import ChannelTops
from explorer.core.data.resident import DeviceDataset
from explorer.core.dataset_split import Split
from explorer.core.paths import LayerPath
from explorer.core.spec import NetworkSpec
from explorer.ui.common.tasks import TaskFailed, TaskFinished, TaskProgress, TaskRunner
from explorer.ui.inspect.channel_jobs import (
    MAX_STEPS,
    SavedTops,
    TopMaps,
    find_job,
    maps_job,
    maximise_job,
    saved_tops_job,
)
from explorer.ui.inspect.channel_widgets import MapView, Tile, gray_pixmap

TOP = 9
SCALE = 3  # screen pixels per input pixel for the top images


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
        self._maxima: ChannelMaxima | ChannelTops | None = None
        self._saved: dict[LayerPath, ChannelTops] = {}  # a finished run's, for its weights
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
        self._saved = {}
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
        self._saved = {}

    def show_run(self, run_dir: str | Path) -> bool:
        """Read the top images a finished run saved (channels.npz) in the background, for
        its convolutions: call after `set_weights` with the run's final weights. False
        when the run has none."""
        from explorer.core.app.run_views import CHANNELS_FILE

        path = Path(run_dir) / CHANNELS_FILE
        if not path.is_file():
            return False
        self.runner.invalidate()
        self.runner.start(lambda control: saved_tops_job(path, control))
        return True

    def set_dataset(self, dataset: DeviceDataset) -> None:
        self._dataset = dataset
        self._saved = {}
        self._forget()

    @Slot()
    def find_top(self) -> bool:
        """Rank the test images for the chosen layer; False when there is nothing to rank."""
        spec, state, dataset, path = self._spec, self._state, self._dataset, self._path()
        if spec is None or dataset is None or path is None:
            self.status.setText("Needs a dataset and a layer with maps.")
            return False
        if path in self._saved:
            self._show_ranking(self._saved[path])
            return True
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

    def _show_ranking(self, ranking: ChannelMaxima | ChannelTops) -> None:
        self._maxima = ranking
        self.channel.setRange(0, ranking.channels - 1)
        self._show_top()

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
                f"Test image {index}: peak {maxima.peak(index, channel):.3f} at {position}"
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
            f"highest (of {maxima.ranked:,}); below each, the patch its peak sees."
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
        path = self._path()
        if path in self._saved:
            self._show_ranking(self._saved[path])
            return
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
            self._show_ranking(value)
        elif isinstance(value, SavedTops):
            self._saved = value.layers
            path = self._path()
            if path in self._saved:
                self._show_ranking(self._saved[path])
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
