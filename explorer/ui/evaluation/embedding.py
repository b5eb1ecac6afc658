"""How the classes separate: a 2-D map of the network's penultimate features of test images.

PCA (instant) or t-SNE (tens of seconds for 5,000 points) is worked out on the view's own
task runner, never on the GUI thread, with progress shown and a Stop. One dot per image,
coloured by its true class; mistakes are crosses. Clicking a dot emits
`image_chosen(split, index)` (as the Evaluation panel's thumbnails do) and lists that image's
nearest neighbours in feature space, which are ringed on the map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from explorer.core.data.resident import DeviceDataset
from explorer.core.embedding import MAX_POINTS, Features, NeighbourIndex
from explorer.core.evaluation import Evaluation
from explorer.core.spec import NetworkSpec
from explorer.ui.common.tasks import TaskControl, TaskFailed, TaskFinished, TaskProgress, TaskRunner
from explorer.ui.evaluation.thumbnails import ThumbnailGrid

METHODS = ("PCA", "t-SNE")
NEIGHBOURS = 8


@dataclass(frozen=True, eq=False)
class EmbeddingDone:
    """A layout worked out off the GUI thread: the features it came from (and their
    neighbour index, built there too), the method and the (N, 2) coordinates."""

    features: Features
    neighbours: NeighbourIndex
    method: str
    layout: np.ndarray


def embedding_job(
    spec: NetworkSpec,
    state: Mapping[str, torch.Tensor],
    dataset: DeviceDataset,
    method: str,
    known: tuple[Features, NeighbourIndex] | None,
    control: TaskControl,
) -> EmbeddingDone | None:
    """Features (unless `known`), then the layout; reports progress fractions."""
    from explorer.core.capture import snapshot_model
    from explorer.core.embedding import pca_embedding, penultimate_features, tsne_embedding

    if known is None:
        model = snapshot_model(spec, state).to(dataset.device)
        features = penultimate_features(model, dataset, cancel=control.stop_event)
        if features is None:
            return None
        known = features, NeighbourIndex(features.features)
    features, index = known
    if method == "PCA":
        layout = pca_embedding(features.features)
    else:
        found = tsne_embedding(
            features.features, cancel=control.stop_event, progress=control.report
        )
        if found is None:
            return None
        layout = found
    return EmbeddingDone(features, index, method, layout)


def saved_embedding_job(
    path: Path,
    spec: NetworkSpec,
    state: Mapping[str, torch.Tensor],
    dataset: DeviceDataset,
    control: TaskControl,
) -> EmbeddingDone | None:
    """A finished run's saved PCA layout (embedding.npz), with the features worked out
    again when the file leaves them out (a run folder's does), for the neighbours and
    t-SNE; the neighbour index is built here (it scales with the features)."""
    from explorer.core.capture import snapshot_model
    from explorer.core.embedding import load_embedding, penultimate_features

    saved, layouts = load_embedding(path)
    if "pca" not in layouts:
        raise ValueError(f"{path} has no PCA layout")
    features: Features | None = saved
    if not saved.features.shape[1]:
        model = snapshot_model(spec, state).to(dataset.device)
        features = penultimate_features(model, dataset, limit=saved.size, cancel=control.stop_event)
        if features is None:
            return None
    assert features is not None
    return EmbeddingDone(features, NeighbourIndex(features.features), "PCA", layouts["pca"])


class EmbeddingView(QWidget):
    """The feature map of the test images; empty until `set_network` and `set_evaluation`."""

    image_chosen = Signal(str, int)
    layout_shown = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spec: NetworkSpec | None = None
        self._state: Mapping[str, torch.Tensor] | None = None
        self._evaluation: Evaluation | None = None
        self._dataset: DeviceDataset | None = None
        self._class_names: tuple[str, ...] = ()
        self._known: tuple[Features, NeighbourIndex] | None = None
        self._shown: EmbeddingDone | None = None
        self._current: int | None = None
        self.runner = TaskRunner("embedding", self)
        self.runner.progressed.connect(self._on_runner_progressed)
        self.runner.finished.connect(self._on_runner_finished)
        self.runner.failed.connect(self._on_runner_failed)

        self.method = QComboBox()
        self.method.addItems(METHODS)
        self.method.setToolTip("PCA is instant; t-SNE separates clusters better but takes longer")
        self.compute_button = QPushButton("Compute")
        self.compute_button.setToolTip(f"Lay out up to {MAX_POINTS:,} test images (Ctrl+Return)")
        self.compute_button.clicked.connect(self._on_compute_button_clicked)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.compute)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self._on_stop_button_clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        self.status = QLabel("Train or evaluate the network, then press Compute.")
        self.status.setWordWrap(True)
        # A long message wraps; it never widens the panel (a docked panel is narrow).
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        controls = QHBoxLayout()
        controls.addWidget(self.method)
        controls.addWidget(self.compute_button)
        controls.addWidget(self.stop_button)
        controls.addWidget(self.progress)
        controls.addWidget(self.status, 1)

        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setAspectLocked(False)
        self._legend = self.plot.addLegend(offset=(-4, 4), labelTextColor="k")
        self._points: list[pg.ScatterPlotItem] = []
        self._rings = pg.ScatterPlotItem(
            size=14, pen=pg.mkPen("k", width=2), brush=None, symbol="o"
        )
        self._marker = pg.ScatterPlotItem(
            size=18, pen=pg.mkPen("#d62728", width=3), brush=None, symbol="s"
        )
        self._rings.setZValue(10)
        self._marker.setZValue(11)
        self.plot.addItem(self._rings)
        self.plot.addItem(self._marker)

        self.neighbours_caption = QLabel("Click a point to see its nearest neighbours.")
        self.neighbours_caption.setWordWrap(True)
        self.neighbours = ThumbnailGrid(text_lines=3)
        self.neighbours.itemClicked.connect(self._on_neighbours_item_clicked)
        side = QWidget()
        box = QVBoxLayout(side)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.neighbours_caption)
        box.addWidget(self.neighbours, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.plot)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([560, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(splitter, 1)

    # ---- public API --------------------------------------------------------------------

    def set_network(self, spec: NetworkSpec, state: Mapping[str, torch.Tensor] | None) -> None:
        """The network and weights to take features from (a copy the caller keeps
        unchanged); a layout of earlier weights stays on show until the next Compute."""
        self._spec, self._state = spec, state
        self._known = None
        self.runner.invalidate()
        self._finish_progress()

    def set_evaluation(
        self, evaluation: Evaluation, dataset: DeviceDataset, class_names: Sequence[str]
    ) -> None:
        """The evaluated split (its images and predictions for the thumbnails)."""
        if self._dataset is not dataset:
            self._known = None
        self._evaluation, self._dataset = evaluation, dataset
        self._class_names = tuple(class_names)
        if self._state is not None:
            self.status.setText("Press Compute to lay out the test images.")

    @Slot()
    def compute(self) -> bool:
        """Start the layout with the chosen method; False when there is nothing to lay out."""
        spec, state, dataset = self._spec, self._state, self._dataset
        if spec is None or state is None or dataset is None:
            self.status.setText("Nothing to lay out yet: train the network and evaluate it.")
            return False
        method = self.method.currentText()
        known = self._known
        self.runner.invalidate()
        self.runner.start(
            lambda control: embedding_job(spec, state, dataset, method, known, control)
        )
        self.progress.setValue(0)
        self.progress.setRange(0, 0 if method == "PCA" else 100)
        self.progress.show()
        self.stop_button.setEnabled(True)
        self.status.setText(f"Working out the {method} layout…")
        return True

    def show_run(self, run_dir: str | Path) -> bool:
        """Show the PCA layout a finished run saved (embedding.npz), read in the background,
        instead of working it out again; False when the run has none (or nothing is set).
        Call after `set_network` with the run's final weights and `set_evaluation`."""
        from explorer.core.app.run_views import EMBEDDING_FILE

        path = Path(run_dir) / EMBEDDING_FILE
        spec, state, dataset = self._spec, self._state, self._dataset
        if not path.is_file() or spec is None or state is None or dataset is None:
            return False
        self.runner.invalidate()
        self.runner.start(lambda control: saved_embedding_job(path, spec, state, dataset, control))
        self.method.setCurrentText("PCA")
        self.status.setText("Reading the run's saved layout…")
        return True

    def stop(self) -> None:
        self.runner.invalidate()
        self._finish_progress()
        self.status.setText("Stopped.")

    def choose_row(self, row: int) -> None:
        """Mark point `row` as the current image, list its neighbours and emit
        `image_chosen` for its sample."""
        shown = self._shown
        if shown is None:
            return
        self._current = row
        features = shown.features
        rows, distances = shown.neighbours.neighbours(row, NEIGHBOURS)
        self._marker.setData(pos=shown.layout[row : row + 1])
        self._rings.setData(pos=shown.layout[rows])
        index = int(features.indices[row])
        names = self._class_names
        verdict = (
            "correct"
            if features.labels[row] == features.predicted[row]
            else f"predicted {names[features.predicted[row]]}"
        )
        self.neighbours_caption.setText(
            f"Image {index} ({names[features.labels[row]]}, {verdict}): its {len(rows)} "
            f"nearest neighbours in feature space, nearest first "
            f"(distance {distances[0]:.2f}–{distances[-1]:.2f})."
        )
        if self._evaluation is not None and self._dataset is not None:
            self.neighbours.show_samples(
                self._evaluation, self._dataset, names, features.indices[rows]
            )
        self.image_chosen.emit(str(features.split), index)

    def neighbour_indices(self) -> list[int]:
        return self.neighbours.indices()

    @property
    def shown(self) -> EmbeddingDone | None:
        return self._shown

    def point_items(self) -> list[pg.ScatterPlotItem]:
        """The scatter items drawn: one per class for correct images, then the mistakes."""
        return list(self._points)

    def shutdown(self) -> None:
        self.runner.shutdown()

    # ---- drawing -----------------------------------------------------------------------

    def _show(self, done: EmbeddingDone) -> None:
        self._shown = done
        self._known = done.features, done.neighbours
        for item in self._points:
            self.plot.removeItem(item)
        self._legend.clear()
        self._points = []
        features, layout = done.features, done.layout
        names = self._class_names or tuple(str(k) for k in range(int(features.labels.max()) + 1))
        wrong = features.mistakes
        for label, name in enumerate(names):
            rows = np.flatnonzero((features.labels == label) & ~wrong)
            colour = pg.intColor(label, hues=max(len(names), 1), values=1, maxValue=220)
            self._scatter(layout, rows, colour, name)  # named: the legend lists it
        rows = np.flatnonzero(wrong)
        colours = [
            pg.intColor(int(k), hues=max(len(names), 1), values=1, maxValue=220)
            for k in features.labels[rows]
        ]
        mistakes = pg.ScatterPlotItem(
            pos=layout[rows], data=rows, symbol="x", size=9, pen=None, brush=colours
        )
        mistakes.sigClicked.connect(self._on_points_clicked)
        self.plot.addItem(mistakes)
        self._legend.addItem(mistakes, f"mistakes ({len(rows):,})")
        self._points.append(mistakes)
        self._rings.setData(pos=np.zeros((0, 2)))
        self._marker.setData(pos=np.zeros((0, 2)))
        self.plot.autoRange()
        self.status.setText(
            f"{done.method} of the penultimate features ({features.features.shape[1]} values) "
            f"of {features.size:,} {features.split} images; crosses are mistakes."
        )
        self.layout_shown.emit(done.method)

    def _scatter(
        self,
        layout: np.ndarray,
        rows: np.ndarray,
        colour: object,
        name: str,
    ) -> pg.ScatterPlotItem:
        item = pg.ScatterPlotItem(
            pos=layout[rows], data=rows, symbol="o", size=5, pen=None, brush=colour, name=name
        )
        item.sigClicked.connect(self._on_points_clicked)
        self.plot.addItem(item)
        self._points.append(item)
        return item

    def _finish_progress(self) -> None:
        self.progress.hide()
        self.stop_button.setEnabled(False)

    # ---- slots -------------------------------------------------------------------------

    @Slot()
    def _on_compute_button_clicked(self) -> None:
        self.compute()

    @Slot()
    def _on_stop_button_clicked(self) -> None:
        self.stop()

    @Slot(object)
    def _on_runner_progressed(self, progress: TaskProgress[float]) -> None:
        self.progress.setValue(round(100 * float(progress.value)))

    @Slot(object)
    def _on_runner_finished(self, result: TaskFinished[EmbeddingDone | None]) -> None:
        self._finish_progress()
        if result.value is None:
            self.status.setText("Stopped.")
            return
        self._show(result.value)

    @Slot(object)
    def _on_runner_failed(self, failure: TaskFailed) -> None:
        self._finish_progress()
        self.status.setText(f"Could not lay out the images: {failure.message}")

    @Slot(object, object, object)
    def _on_points_clicked(self, _item: object, points: Sequence[object], _event: object) -> None:
        if len(points) > 0:
            self.choose_row(int(points[0].data()))  # type: ignore[attr-defined]

    @Slot(QListWidgetItem)
    def _on_neighbours_item_clicked(self, item: QListWidgetItem) -> None:
        if self._evaluation is not None:
            self.image_chosen.emit(self._evaluation.split, ThumbnailGrid.sample_index(item))
