"""Where the trained network fails: accuracy, per-class scores, confusion matrix, mistakes.

A thin view over `explorer.core.evaluation.Evaluation`, laid out from three parts: the
`ConfusionMatrixView`, the `MetricsTable` and two `ThumbnailGrid`s. Clicking a
confusion-matrix cell lists that (true, predicted) pair's images, most confident first;
clicking an image emits `image_chosen(split, index)` so the feature-map view can take it as
its input. The Embedding tab (embedding.py) maps the penultimate features of the test images.
An ensemble's evaluation (`set_ensemble`) adds the Ensemble tab (ensemble_view.py) and a
picker, Ensemble / member k, choosing whose results the matrix and the other tabs show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyqtgraph as pg
import torch
from PySide6.QtCore import QPointF, Qt, Signal, Slot
from PySide6.QtGui import QFont, QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from explorer.core.app.ensemble_run import EnsembleEvaluation
from explorer.core.data.resident import DeviceDataset
from explorer.core.dataset_split import Split
from explorer.core.evaluation import Evaluation, most_confident_mistakes, pair_samples
from explorer.core.spec import NetworkSpec
from explorer.ui.evaluation.confusion_matrix import ConfusionMatrixView
from explorer.ui.evaluation.embedding import EmbeddingView
from explorer.ui.evaluation.ensemble_view import EnsembleView, member_label
from explorer.ui.evaluation.metrics_table import MetricsTable
from explorer.ui.evaluation.thumbnails import MAX_THUMBNAILS, ThumbnailGrid

# Narrower than this (a docked panel on a 1280×800 screen is about 620 px), the matrix
# becomes the first tab instead of sitting beside the tabs, so nothing scrolls sideways.
SIDE_BY_SIDE_WIDTH = 900


class EvaluationPanel(QWidget):
    """Test results of a trained network; empty until `set_evaluation`."""

    image_chosen = Signal(str, int)
    cell_chosen = Signal(int, int)

    def __init__(
        self, parent: QWidget | None = None, *, embedding: EmbeddingView | None = None
    ) -> None:
        """`embedding`: the Embedding tab's view, made beforehand (the window makes it in a
        turn of its own: the panel's plots together take longer than one should)."""
        super().__init__(parent)
        self._evaluation: Evaluation | None = None
        self._dataset: DeviceDataset | None = None
        self._class_names: tuple[str, ...] = ()
        self._ensemble: EnsembleEvaluation | None = None
        self._spec: NetworkSpec | None = None
        self._member_states: tuple[Mapping[str, torch.Tensor], ...] = ()

        self._accuracy = QLabel("No evaluation yet: train the network, then evaluate it.")
        self._accuracy_font = QFont(self._accuracy.font())
        self._accuracy_font.setPointSizeF(self._accuracy_font.pointSizeF() * 1.8)
        self._accuracy_font.setBold(True)
        self._details = QLabel()
        # Two short lines (not a wrapping label, which would make the panel as tall as its
        # preferred size inside the dock's scroll area) so Export fits a narrow panel.
        self._save_button = QPushButton("Export PNG…")
        self._save_button.setEnabled(False)
        self._save_button.clicked.connect(self._on_save_button_clicked)
        # An ensemble's: whose results the matrix and the tabs show (hidden otherwise).
        self.picker = QComboBox()
        self.picker.setToolTip("Show the ensemble's results or one member's")
        self.picker.setVisible(False)
        self.picker.currentIndexChanged.connect(self._on_picker_current_index_changed)
        header = QHBoxLayout()
        header.addWidget(self.picker)
        header.addWidget(self._accuracy)
        header.addSpacing(16)
        header.addWidget(self._details, 1)
        header.addWidget(self._save_button)

        self._matrix = ConfusionMatrixView(self)
        self._matrix.cell_clicked.connect(self._on_matrix_cell_clicked)
        self._plot = self._matrix.plot
        self._table = MetricsTable()

        self._pair_caption = QLabel("Click a cell of the confusion matrix to see its images.")
        self._pair_caption.setWordWrap(True)
        self._pair_grid = ThumbnailGrid(text_lines=1)
        self._pair_grid.itemClicked.connect(self._on_pair_grid_item_clicked)
        self._pair_page = _captioned(self._pair_caption, self._pair_grid)

        self._mistakes_caption = QLabel()
        self._mistakes_caption.setWordWrap(True)
        self._mistakes_grid = ThumbnailGrid(text_lines=3)
        self._mistakes_grid.itemClicked.connect(self._on_mistakes_grid_item_clicked)

        self._tabs = QTabWidget()
        self._tabs.addTab(self._table, "Per class")
        self._tabs.addTab(self._pair_page, "Cell images")
        self._tabs.addTab(_captioned(self._mistakes_caption, self._mistakes_grid), "Top mistakes")
        self.embedding = embedding if embedding is not None else EmbeddingView()
        self.embedding.image_chosen.connect(self.image_chosen)
        self._tabs.addTab(self.embedding, "Embedding")
        self.ensemble_view = EnsembleView()
        self.ensemble_view.image_chosen.connect(self._on_ensemble_view_image_chosen)

        self._splitter = QSplitter(Qt.Orientation.Horizontal)
        self._splitter.setChildrenCollapsible(False)
        self._splitter.addWidget(self._plot)
        self._splitter.addWidget(self._tabs)
        self._splitter.setStretchFactor(0, 3)
        self._splitter.setStretchFactor(1, 2)
        self._splitter.setSizes([600, 400])
        self._side_by_side = True
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(header)
        layout.addWidget(self._splitter, 1)

    # ---- public API --------------------------------------------------------------------

    def set_evaluation(
        self, evaluation: Evaluation, dataset: DeviceDataset, class_names: Sequence[str]
    ) -> None:
        """Show `evaluation`, whose per-sample arrays index `dataset`'s split images (one
        network's: an ensemble's table and picker go)."""
        self._ensemble = None
        self.picker.setVisible(False)
        index = self._tabs.indexOf(self.ensemble_view)
        if index >= 0:
            self._tabs.removeTab(index)
        self._show(evaluation, dataset, class_names)

    def set_ensemble(
        self, result: EnsembleEvaluation, dataset: DeviceDataset, class_names: Sequence[str]
    ) -> None:
        """Show an ensemble's evaluation: the ensemble and each member in the Ensemble tab,
        the ensemble's results in the others until the picker chooses a member."""
        self._show(result.ensemble, dataset, class_names)
        self._ensemble = result
        self.ensemble_view.show_result(result, dataset, self._class_names)
        if self._tabs.indexOf(self.ensemble_view) < 0:
            first = 0 if self._side_by_side else 1  # after the matrix when it is a tab
            self._tabs.insertTab(first, self.ensemble_view, "Ensemble")
        self._tabs.setCurrentWidget(self.ensemble_view)
        self.picker.blockSignals(True)
        self.picker.clear()
        self.picker.addItem(f"Ensemble of {len(result.members)}")
        self.picker.addItems([member_label(k) for k in range(len(result.members))])
        self.picker.setCurrentIndex(0)
        self.picker.blockSignals(False)
        self.picker.setVisible(True)

    @property
    def ensemble(self) -> EnsembleEvaluation | None:
        """The ensemble's evaluation on show (None: one network's)."""
        return self._ensemble

    @property
    def evaluation(self) -> Evaluation | None:
        """The evaluation the matrix and the tabs show (the picked one's, for an ensemble)."""
        return self._evaluation

    def pick(self, member: int | None) -> None:
        """Show the ensemble's results (None) or member `member`'s (from 0)."""
        self.picker.setCurrentIndex(0 if member is None else member + 1)

    def _show(
        self, evaluation: Evaluation, dataset: DeviceDataset, class_names: Sequence[str]
    ) -> None:
        """Put `evaluation` in the header, the matrix and the tabs."""
        if len(class_names) != evaluation.num_classes:
            raise ValueError(f"{len(class_names)} class names for {evaluation.num_classes} classes")
        self._evaluation = evaluation
        self._dataset = dataset
        self._class_names = tuple(class_names)
        split = evaluation.split.capitalize()
        self._accuracy.setFont(self._accuracy_font)
        self._accuracy.setText(f"{split} accuracy {evaluation.accuracy * 100:.2f} %")
        self._details.setText(
            f"{evaluation.correct:,} of {evaluation.size:,} correct\n"
            f"mean loss {evaluation.loss:.4f}"
        )
        self._save_button.setEnabled(True)
        self._matrix.show_confusion(evaluation.confusion, self._class_names)
        self._table.show_scores(evaluation, self._class_names)
        self._show_mistakes()
        self._pair_grid.clear()
        self._pair_caption.setText("Click a cell of the confusion matrix to see its images.")
        self.embedding.set_evaluation(evaluation, dataset, self._class_names)

    def set_network(
        self,
        spec: NetworkSpec,
        state: Mapping[str, torch.Tensor] | None,
        members: Sequence[Mapping[str, torch.Tensor]] = (),
    ) -> None:
        """The network and weights the evaluation is of, for the embedding's features; an
        ensemble's `members` too (the embedding then follows the member picked, and the
        ensemble's uses the features of its first member)."""
        self._spec, self._member_states = spec, tuple(members)
        self.embedding.set_network(spec, state)

    def shutdown(self) -> None:
        """Join the embedding's background work (call on the way out of the application)."""
        self.embedding.shutdown()

    def mark_outdated(self) -> None:
        """The network was edited since: keep the results on show, but say they are old."""
        if self._evaluation is not None:
            self._details.setText("of an earlier version of the network:\ntrain again to update")

    def select_cell(self, true: int, predicted: int) -> None:
        """List the images of class `true` predicted as `predicted`, most confident first."""
        evaluation, dataset = self._evaluation, self._dataset
        if evaluation is None or dataset is None:
            return
        indices = pair_samples(evaluation, true, predicted)
        names = self._class_names
        what = "correct" if true == predicted else "mistaken"
        caption = (
            f"True {names[true]}, predicted {names[predicted]} ({what}): "
            f"{len(indices):,} image{'s' if len(indices) != 1 else ''}"
        )
        if len(indices) > MAX_THUMBNAILS:
            caption += f", the {MAX_THUMBNAILS} most confident shown"
        elif len(indices) > 1:
            caption += ", most confident first"
        self._pair_caption.setText(caption + ".")
        self._pair_grid.show_samples(evaluation, dataset, names, indices[:MAX_THUMBNAILS])
        self._matrix.highlight(true, predicted)
        self._tabs.setCurrentWidget(self._pair_page)
        self.cell_chosen.emit(true, predicted)

    def pair_indices(self) -> list[int]:
        """Sample indices listed for the selected cell, in display order."""
        return self._pair_grid.indices()

    def mistake_indices(self) -> list[int]:
        return self._mistakes_grid.indices()

    def cell_center(self, true: int, predicted: int) -> QPointF:
        """Where cell (true, predicted) is drawn, in the plot widget's viewport pixels."""
        return self._matrix.cell_center(true, predicted)

    def cell_pixels(self) -> float:
        """The side of one matrix cell on screen, in pixels (0 before it is laid out)."""
        return self._matrix.cell_pixels()

    def column_labels(self) -> list[str]:
        """The predicted-class names under the matrix, as drawn."""
        return self._matrix.column_labels()

    def row_labels(self) -> list[str]:
        """The true-class names beside the matrix, as drawn."""
        return self._matrix.row_labels()

    @property
    def side_by_side(self) -> bool:
        """Whether the matrix sits beside the tabs (wide) or is their first tab (narrow)."""
        return self._side_by_side

    @property
    def plot_widget(self) -> pg.PlotWidget:
        return self._plot

    @property
    def pair_grid(self) -> QListWidget:
        return self._pair_grid

    def save_png(self, path: str) -> bool:
        """Save a picture of the whole panel; False when it could not be written."""
        return bool(self.grab().save(path, "PNG"))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._arrange(event.size().width() >= SIDE_BY_SIDE_WIDTH)

    def _arrange(self, side_by_side: bool) -> None:
        """The matrix beside the tabs, or (narrow) as the first of them."""
        if side_by_side == self._side_by_side:
            return
        self._side_by_side = side_by_side
        if side_by_side:
            self._tabs.removeTab(self._tabs.indexOf(self._plot))
            self._splitter.insertWidget(0, self._plot)
            self._plot.show()
            self._splitter.setSizes([600, 400])
        else:
            current = self._tabs.currentIndex()
            self._tabs.insertTab(0, self._plot, "Confusion matrix")
            # The tab the user had open stays open; a fresh panel starts on the matrix.
            self._tabs.setCurrentIndex(0 if self._evaluation is None else current + 1)

    def _show_mistakes(self) -> None:
        evaluation, dataset = self._evaluation, self._dataset
        assert evaluation is not None and dataset is not None
        indices = most_confident_mistakes(evaluation, MAX_THUMBNAILS)
        wrong = evaluation.size - evaluation.correct
        self._mistakes_caption.setText(
            f"{wrong:,} mistakes; the {len(indices)} the network was surest of, "
            "with the true class → the predicted class."
        )
        self._mistakes_grid.show_samples(evaluation, dataset, self._class_names, indices)

    # ---- slots -------------------------------------------------------------------------

    @Slot(int)
    def _on_picker_current_index_changed(self, index: int) -> None:
        result, dataset = self._ensemble, self._dataset
        if result is None or dataset is None or index < 0:
            return
        member = index - 1
        evaluation = result.ensemble if member < 0 else result.members[member]
        self._show(evaluation, dataset, self._class_names)
        states = self._member_states
        if self._spec is not None and len(states) == len(result.members):
            self.embedding.set_network(self._spec, states[max(member, 0)])

    @Slot(int)
    def _on_ensemble_view_image_chosen(self, index: int) -> None:
        self.image_chosen.emit(Split.TEST, index)

    @Slot(int, int)
    def _on_matrix_cell_clicked(self, true: int, predicted: int) -> None:
        self.select_cell(true, predicted)

    @Slot(QListWidgetItem)
    def _on_pair_grid_item_clicked(self, item: QListWidgetItem) -> None:
        self._emit_image(item)

    @Slot(QListWidgetItem)
    def _on_mistakes_grid_item_clicked(self, item: QListWidgetItem) -> None:
        self._emit_image(item)

    @Slot()
    def _on_save_button_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export PNG", "evaluation.png", "PNG (*.png)")
        if path:
            self.save_png(path)

    def _emit_image(self, item: QListWidgetItem) -> None:
        if self._evaluation is not None:
            self.image_chosen.emit(self._evaluation.split, ThumbnailGrid.sample_index(item))


def _captioned(caption: QLabel, grid: QListWidget) -> QWidget:
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.addWidget(caption)
    layout.addWidget(grid, 1)
    return page
