"""An ensemble's evaluation: the ensemble and each member side by side, and the test images
on which they disagree.

The table has a row for the ensemble (the average of its members' probabilities) and one
per member: test accuracy, mean loss, correct images. Two galleries list the images the
ensemble gets wrong that some member gets right, and the reverse (what averaging repaired).
Clicking an image emits `image_chosen(index)`; the panel's picker (Ensemble / member k)
chooses which evaluation the confusion matrix and the other tabs show.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QListWidgetItem,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from explorer.core.app.ensemble_run import EnsembleEvaluation
from explorer.core.data.resident import DeviceDataset
from explorer.core.evaluation import Evaluation
from explorer.ui.evaluation.thumbnails import MAX_THUMBNAILS, ThumbnailGrid

COLUMNS = ("", "Test accuracy", "Loss", "Correct")
_NUMBER_ALIGNMENT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


def member_label(index: int) -> str:
    """The table's and the picker's name of member `index` (from 0)."""
    return f"member {index + 1}"


class EnsembleView(QWidget):
    """The ensemble-and-members table and the two disagreement galleries."""

    image_chosen = Signal(int)  # a test image's index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: EnsembleEvaluation | None = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

        self.wrong_caption = QLabel()
        self.wrong_caption.setWordWrap(True)
        self.wrong_grid = ThumbnailGrid(text_lines=3)
        self.right_caption = QLabel()
        self.right_caption.setWordWrap(True)
        self.right_grid = ThumbnailGrid(text_lines=3)
        self.galleries = QTabWidget()
        for caption, grid, title in (
            (self.wrong_caption, self.wrong_grid, "Ensemble wrong, a member right"),
            (self.right_caption, self.right_grid, "Ensemble right, a member wrong"),
        ):
            grid.itemClicked.connect(self._on_grid_item_clicked)
            page = QWidget()
            page_layout = QVBoxLayout(page)
            page_layout.setContentsMargins(0, 4, 0, 0)
            page_layout.addWidget(caption)
            page_layout.addWidget(grid, 1)
            self.galleries.addTab(page, title)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(self.galleries, 1)

    def show_result(
        self, result: EnsembleEvaluation, dataset: DeviceDataset, class_names: tuple[str, ...]
    ) -> None:
        """Fill the table and the galleries (thumbnails labelled with the ensemble's
        prediction), from `result`, which indexes `dataset`'s test images."""
        self.result = result
        rows = [(f"Ensemble of {len(result.members)}", result.ensemble)]
        rows += [(member_label(k), m) for k, m in enumerate(result.members)]
        self.table.setRowCount(len(rows))
        bold = self.table.font()
        bold.setBold(True)
        for row, (name, evaluation) in enumerate(rows):
            items = [QTableWidgetItem(text) for text in (name, *_scores(evaluation))]
            for column, item in enumerate(items):
                if column:
                    item.setTextAlignment(_NUMBER_ALIGNMENT)
                if row == 0:  # the ensemble
                    item.setFont(bold)
                self.table.setItem(row, column, item)
        # Every row in sight up to a dozen members; a larger ensemble's table scrolls.
        self.table.resizeRowsToContents()
        header = self.table.horizontalHeader().sizeHint().height()
        shown = sum(self.table.rowHeight(row) for row in range(min(len(rows), 13)))
        self.table.setFixedHeight(header + shown + 2 * self.table.frameWidth())
        wrong, right = result.wrong_but_some_member_right(), result.right_but_some_member_wrong()
        self.wrong_caption.setText(
            f"{len(wrong):,} test images the ensemble gets wrong and at least one member gets "
            f"right{_shown(len(wrong))} (true → the ensemble's class)."
        )
        self.right_caption.setText(
            f"{len(right):,} test images the ensemble gets right and at least one member gets "
            f"wrong{_shown(len(right))}."
        )
        ensemble = result.ensemble
        self.wrong_grid.show_samples(ensemble, dataset, class_names, wrong[:MAX_THUMBNAILS])
        self.right_grid.show_samples(ensemble, dataset, class_names, right[:MAX_THUMBNAILS])

    def wrong_indices(self) -> list[int]:
        """The images listed as wrong for the ensemble and right for some member."""
        return self.wrong_grid.indices()

    def right_indices(self) -> list[int]:
        return self.right_grid.indices()

    @Slot(QListWidgetItem)
    def _on_grid_item_clicked(self, item: QListWidgetItem) -> None:
        self.image_chosen.emit(ThumbnailGrid.sample_index(item))


def _scores(evaluation: Evaluation) -> tuple[str, str, str]:
    return (
        f"{100 * evaluation.accuracy:.2f}%",
        f"{evaluation.loss:.4f}",
        f"{evaluation.correct:,} / {evaluation.size:,}",
    )


def _shown(count: int) -> str:
    if count > MAX_THUMBNAILS:
        return f", the ensemble's {MAX_THUMBNAILS} surest shown"
    return ", the ensemble's surest first" if count > 1 else ""
