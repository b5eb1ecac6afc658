"""The Sweep dialog: which keys to sweep and their values, grid or random, and the folder.

Each row names a key the `sweep` command takes (a training setting, or LAYER.KEY, offered
in a completing combo box) and its values as the command writes them ("0.1, 0.01"). Accept
plans the sweep with `plan_sweep`, so the dialog refuses exactly what the command refuses,
quoting the same message, and stays open to fix it.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from explorer.core.app.preparation import BadRunInput
from explorer.core.app.sweep import SweepPlan, plan_sweep, sweepable_keys
from explorer.core.spec import NetworkSpec

#: rows the dialog starts with (a 2×2 grid is the common first sweep)
START_ROWS = (("learning_rate", "0.1, 0.01"), ("batch_size", "64, 128"))


class SweepDialog(QDialog):
    """Asks for a sweep of `spec`; `plan` holds the checked plan once accepted."""

    def __init__(self, spec: NetworkSpec, runs_root: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sweep")
        self.spec = spec
        self.plan: SweepPlan | None = None
        self._keys = sweepable_keys(spec)
        self._rows: list[tuple[QComboBox, QLineEdit, QPushButton]] = []

        self._grid = QGridLayout()
        self._grid.addWidget(QLabel("Parameter"), 0, 0)
        self._grid.addWidget(QLabel("Values (comma-separated)"), 0, 1)
        add = QPushButton("&Add Parameter")
        add.clicked.connect(self._on_add_clicked)

        self.random_spin = QSpinBox()
        self.random_spin.setRange(0, 1000)
        self.random_spin.setSpecialValueText("every combination (grid)")
        self.random_spin.setToolTip("Train this many combinations drawn at random instead")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 10000)
        self.epochs_spin.setValue(spec.training.epochs)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.folder_edit = QLineEdit(str(runs_root / f"sweep-{stamp}"))
        browse = QPushButton("&Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        folder = QHBoxLayout()
        folder.addWidget(self.folder_edit, 1)
        folder.addWidget(browse)

        form = QFormLayout()
        form.addRow("Random trials:", self.random_spin)
        form.addRow("Random seed:", self.seed_spin)
        form.addRow("Epochs per trial:", self.epochs_spin)
        form.addRow("Sweep folder:", folder)

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Plan Sweep")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(self._grid)
        layout.addWidget(add, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        for key, values in START_ROWS:
            self.add_row(key, values)

    def add_row(self, key: str = "", values: str = "") -> tuple[QComboBox, QLineEdit]:
        """A new parameter row; returns its key box and values edit."""
        combo = QComboBox()
        combo.setEditable(True)
        combo.addItems(self._keys)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.setCurrentText(key)
        edit = QLineEdit(values)
        edit.setPlaceholderText("e.g. 0.1, 0.01, 0.001")
        remove = QPushButton("Remove")
        remove.clicked.connect(self._on_remove_clicked)
        row = len(self._rows) + 1
        self._grid.addWidget(combo, row, 0)
        self._grid.addWidget(edit, row, 1)
        self._grid.addWidget(remove, row, 2)
        self._rows.append((combo, edit, remove))
        return combo, edit

    def set_texts(self) -> list[str]:
        """The rows as `--set` texts ('learning_rate=0.1,0.01'), empty rows left out."""
        texts = []
        for combo, edit, _ in self._rows:
            key, values = combo.currentText().strip(), edit.text().strip()
            if key or values:
                texts.append(f"{key}={','.join(v.strip() for v in values.split(','))}")
        return texts

    def accept(self) -> None:
        spec = self.spec
        try:
            if self.epochs_spin.value() != spec.training.epochs:
                from explorer.core.app.run_plan import with_settings

                spec = with_settings(spec, {"epochs": self.epochs_spin.value()})
            folder = self.folder_edit.text().strip()
            if not folder:
                raise BadRunInput("choose a folder for the sweep")
            sample = self.random_spin.value() or None
            self.plan = plan_sweep(
                spec, self.set_texts(), Path(folder), sample=sample, seed=self.seed_spin.value()
            )
        except BadRunInput as error:
            self.error_label.setText(str(error))
            self.error_label.show()
            return
        super().accept()

    @Slot()
    def _on_add_clicked(self) -> None:
        combo, _ = self.add_row()
        combo.setFocus()

    @Slot()
    def _on_remove_clicked(self) -> None:
        for index, (combo, edit, remove) in enumerate(self._rows):
            if remove is self.sender():
                for widget in (combo, edit, remove):
                    self._grid.removeWidget(widget)
                    widget.deleteLater()
                del self._rows[index]
                return

    @Slot()
    def _on_browse_clicked(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Sweep Folder", self.folder_edit.text())
        if chosen:
            self.folder_edit.setText(chosen)
