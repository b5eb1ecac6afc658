"""The Input row at the top of the stack: input shape (C, H, W) and number of classes."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QSpinBox, QWidget

from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.family_style import family_colour


class InputHeader(QFrame):
    def __init__(self, document: ProjectDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.setObjectName("inputHeader")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        band = family_colour("Input").name()
        self.setStyleSheet(f"#inputHeader {{ border-left: 5px solid {band}; }}")
        self.channels = self._spin(1, 4096, "Input channels (1 for grey images, 3 for colour).")
        self.height_box = self._spin(1, 16384, "Input image height in pixels.")
        self.width_box = self._spin(1, 16384, "Input image width in pixels.")
        self.classes = self._spin(2, 100_000, "Number of classes the network must score.")
        layout = QGridLayout(self)
        layout.setContentsMargins(10, 4, 6, 4)
        layout.setHorizontalSpacing(4)
        title = QLabel("<b>Input</b>")
        layout.addWidget(title, 0, 0)
        for column, (text, box) in enumerate(
            (("C", self.channels), ("H", self.height_box), ("W", self.width_box)), start=1
        ):
            label = QLabel(text)
            label.setBuddy(box)
            layout.addWidget(label, 0, 2 * column - 1)
            layout.addWidget(box, 0, 2 * column)
        layout.addWidget(QLabel("Classes"), 1, 0)
        layout.addWidget(self.classes, 1, 1, 1, 3)
        layout.setColumnStretch(7, 1)
        document.spec_changed.connect(self._on_document_spec_changed)
        self._on_document_spec_changed()
        for box in (self.channels, self.height_box, self.width_box):
            box.valueChanged.connect(self._on_shape_box_value_changed)
            box.editingFinished.connect(document.end_merge)
        self.classes.valueChanged.connect(self._on_classes_value_changed)
        self.classes.editingFinished.connect(document.end_merge)

    def _spin(self, low: int, high: int, tip: str) -> QSpinBox:
        box = QSpinBox(self)
        box.setRange(low, high)
        box.setToolTip(tip)
        box.setKeyboardTracking(False)
        return box

    @Slot()
    def _on_document_spec_changed(self) -> None:
        spec = self.document.spec
        for box, value in (
            (self.channels, spec.input.channels),
            (self.height_box, spec.input.height),
            (self.width_box, spec.input.width),
            (self.classes, spec.num_classes),
        ):
            if box.value() != value:
                box.blockSignals(True)
                box.setValue(value)
                box.blockSignals(False)

    @Slot()
    def _on_shape_box_value_changed(self) -> None:
        new = replace(
            self.document.spec.input,
            channels=self.channels.value(),
            height=self.height_box.value(),
            width=self.width_box.value(),
        )
        if not self.document.set_input(new):
            self._on_document_spec_changed()

    @Slot()
    def _on_classes_value_changed(self) -> None:
        if not self.document.set_num_classes(self.classes.value()):
            self._on_document_spec_changed()
