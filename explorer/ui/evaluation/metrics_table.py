"""The per-class scores of an evaluation: precision, recall, F1 and support, sortable."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from explorer.core.evaluation import Evaluation


class MetricsTable(QTableWidget):
    """One row per class, in class order until the user sorts by a column."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 5, parent)
        self.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "F1", "Support"])
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # No sort column until the user picks one, so rows start in class order.
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.setSortingEnabled(True)

    def show_scores(self, evaluation: Evaluation, class_names: tuple[str, ...]) -> None:
        self.setSortingEnabled(False)
        self.setRowCount(evaluation.num_classes)
        scores = (evaluation.precision, evaluation.recall, evaluation.f1)
        for row, name in enumerate(class_names):
            self.setItem(row, 0, QTableWidgetItem(name))
            for col, values in enumerate(scores, start=1):
                self.setItem(row, col, _NumberItem(float(values[row]), f"{values[row]:.3f}"))
            support = int(evaluation.support[row])
            self.setItem(row, 4, _NumberItem(support, f"{support:,}"))
        self.setSortingEnabled(True)


class _NumberItem(QTableWidgetItem):
    """A right-aligned table cell shown as formatted text but sorted by its value."""

    def __init__(self, value: float, text: str) -> None:
        super().__init__(text)
        self.value = value
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, _NumberItem):
            return self.value < other.value
        return super().__lt__(other)
