"""What a run leaves to read: the message bar, the test accuracy with its per-class table,
and the training log."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

_STYLES = {
    "error": "background:#fde2e1; border:1px solid #e0a09c; color:#611a15;",
    "warning": "background:#fff4ce; border:1px solid #e6cf7a; color:#4d3b00;",
    "info": "background:#e3f0fd; border:1px solid #9dc3ea; color:#0b3a66;",
}


class MessageBar(QFrame):
    """A banner across the panel: a message, an optional action button, and a close cross."""

    action_triggered = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action_button = QPushButton()
        self.action_button.clicked.connect(self.action_triggered)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action_button)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.level = "info"
        self.hide()

    def show_message(self, text: str, level: str = "info", action: str = "") -> None:
        self.level = level
        self.setStyleSheet(f"#messageBar {{ {_STYLES[level]} border-radius:4px; }}")
        self.label.setText(text)
        self.action_button.setText(action)
        self.action_button.setVisible(bool(action))
        self.show()

    @property
    def text(self) -> str:
        return self.label.text()


class ResultsView(QWidget):
    """Test accuracy in large type and one row per class."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.accuracy_label = QLabel("No test result yet")
        font = QFont(self.accuracy_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        self.accuracy_label.setFont(font)
        self.detail_label = QLabel(" ")
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Class", "Test accuracy"])
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.ResizeToContents
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.accuracy_label)
        layout.addWidget(self.detail_label)
        layout.addWidget(self.table, 1)

    def clear(self) -> None:
        self.accuracy_label.setText("Training…")
        self.detail_label.setText(" ")
        self.table.setRowCount(0)

    def reset(self) -> None:
        """Nothing trained yet (a new project)."""
        self.clear()
        self.accuracy_label.setText("No test result yet")

    def show_result(
        self,
        accuracy: float,
        loss: float,
        per_class: Sequence[float],
        class_names: Sequence[str],
        note: str = "",
    ) -> None:
        self.accuracy_label.setText(f"Test accuracy {100 * accuracy:.2f}%")
        self.detail_label.setText(f"test loss {loss:.4f}{note}")
        self.table.setRowCount(len(per_class))
        worst = min((v for v in per_class if math.isfinite(v)), default=math.nan)
        for row, value in enumerate(per_class):
            name = class_names[row] if row < len(class_names) else str(row)
            text = "—" if not math.isfinite(value) else f"{100 * value:.1f}%"
            cells = [QTableWidgetItem(name), QTableWidgetItem(text)]
            cells[1].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if value == worst and len(per_class) > 1:
                cells[1].setToolTip("The class the network gets wrong most often")
                cells[1].setForeground(Qt.GlobalColor.darkRed)
            for column, cell in enumerate(cells):
                self.table.setItem(row, column, cell)


class TrainingLog(QPlainTextEdit):
    """Time-stamped lines: what was loaded, each epoch, and every error with its advice."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(5000)
        self.setFont(QFont("monospace", 9))

    @Slot(str)
    def add(self, text: str) -> None:
        self.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")
