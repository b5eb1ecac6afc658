"""One editor widget per `Param` kind, generated from the registry's declarations.

Each editor emits `value_edited(value)` with a JSON value (None: back to the default) and
`editing_finished()` when a gesture ends (focus out, Enter, combo pick), which closes the
current undo step.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from explorer.core.params import Kind, Param, as_pair

_INT_MAX = 2**31 - 1


def _fit_number_box(box: QWidget) -> None:
    # Size by what people type, not by the range: a 2**31 maximum would make boxes huge.
    box.setFixedWidth(max(96, box.fontMetrics().horizontalAdvance("0000000") + 40))


class ParamEditor(QWidget):
    value_edited = Signal(object)
    editing_finished = Signal()

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.setToolTip(param.help)

    def set_value(self, value: Any) -> None:
        """Show `value` (the resolved stored value) without emitting `value_edited`."""
        self.blockSignals(True)
        try:
            self._show(value)
        finally:
            self.blockSignals(False)

    def _show(self, value: Any) -> None:
        raise NotImplementedError

    @Slot(int)
    @Slot(float)
    def _on_box_value_changed(self, value: float) -> None:
        self.value_edited.emit(value)

    def _int_box(self, minimum: float | None, maximum: float | None) -> QSpinBox:
        box = QSpinBox(self)
        low = int(minimum) if minimum is not None else -_INT_MAX
        box.setRange(low, int(maximum) if maximum is not None else _INT_MAX)
        box.setKeyboardTracking(False)
        _fit_number_box(box)
        box.editingFinished.connect(self.editing_finished)
        return box


class IntEditor(ParamEditor):
    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.box = self._int_box(param.minimum, param.maximum)
        self.box.valueChanged.connect(self._on_box_value_changed)
        self._layout.addWidget(self.box)

    def _show(self, value: Any) -> None:
        self.box.setValue(int(value))


class FloatSpinBox(QDoubleSpinBox):
    """Shows 0.5, 1e-05 and 0 rather than 0.500000, 0.000010 and 0.000000."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)

    def textFromValue(self, value: float) -> str:
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        try:
            float(text)
        except ValueError:
            allowed = set("0123456789.eE+-")
            state = (
                QValidator.State.Intermediate if set(text) <= allowed else QValidator.State.Invalid
            )
            return state, text, pos
        return QValidator.State.Acceptable, text, pos


class FloatEditor(ParamEditor):
    """A number box; optional keys (an activation's alpha) get an "auto" box."""

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(param, parent)
        self._optional = param.default is None and not param.required
        self.auto = QCheckBox("auto", self)
        self.auto.setToolTip("Use the default: " + param.help)
        self.auto.toggled.connect(self._on_auto_toggled)
        self.box = FloatSpinBox(self)
        # The core owns the exact (possibly exclusive) bounds; the box only keeps values sane.
        self.box.setRange(
            param.minimum if param.minimum is not None else -1e9,
            param.maximum if param.maximum is not None else 1e9,
        )
        self.box.setSingleStep(0.05 if (param.maximum or 10) <= 1 else 0.1)
        _fit_number_box(self.box)
        self.box.setKeyboardTracking(False)
        self.box.valueChanged.connect(self._on_box_value_changed)
        self.box.editingFinished.connect(self.editing_finished)
        if self._optional:
            self._layout.addWidget(self.auto)
        else:
            self.auto.hide()
        self._layout.addWidget(self.box, 1)

    @Slot(bool)
    def _on_auto_toggled(self, automatic: bool) -> None:
        self.box.setEnabled(not automatic)
        self.value_edited.emit(None if automatic else self.box.value())
        self.editing_finished.emit()

    def _show(self, value: Any) -> None:
        self.auto.blockSignals(True)
        self.auto.setChecked(value is None)
        self.auto.blockSignals(False)
        self.box.setEnabled(value is not None)
        if value is not None:
            self.box.setValue(float(value))


class BoolEditor(ParamEditor):
    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.box = QCheckBox(self)
        self.box.toggled.connect(self._on_box_toggled)
        self._layout.addWidget(self.box)

    @Slot(bool)
    def _on_box_toggled(self, checked: bool) -> None:
        self.value_edited.emit(checked)
        self.editing_finished.emit()

    def _show(self, value: Any) -> None:
        self.box.setChecked(bool(value))


class ChoiceEditor(ParamEditor):
    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.box = QComboBox(self)
        self.box.addItems(list(param.choices))
        self.box.textActivated.connect(self._on_box_text_activated)
        self._layout.addWidget(self.box)

    @Slot(str)
    def _on_box_text_activated(self, text: str) -> None:
        self.value_edited.emit(text)
        self.editing_finished.emit()

    def _show(self, value: Any) -> None:
        self.box.setCurrentText(str(value))


class PairEditor(ParamEditor):
    """Height and width boxes; while "square" is ticked they move together and the value
    is stored as one int, as a Keras user would write it. Optional keys (a pool's stride)
    get an "auto" box that returns the key to its default."""

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.auto = QCheckBox("auto", self)
        self.auto.setToolTip("Use the default: " + param.help)
        self._optional = param.default is None and not param.required
        self.auto.setVisible(self._optional)
        self.auto.toggled.connect(self._on_changed)
        self.h = self._int_box(param.minimum, param.maximum)
        self.w = self._int_box(param.minimum, param.maximum)
        self.square = QCheckBox("square", self)
        self.square.setChecked(True)
        self.square.setToolTip("Same value for height and width")
        self.h.valueChanged.connect(self._on_height_changed)
        self.w.valueChanged.connect(self._on_changed)
        self.square.toggled.connect(self._on_changed)
        if self._optional:
            self._layout.addWidget(self.auto)
        self._layout.addWidget(self.h)
        self._times = QLabel("×", self)
        self._layout.addWidget(self._times)
        self._layout.addWidget(self.w)
        self._layout.addWidget(self.square)
        self._layout.addStretch(1)

    def value(self) -> Any:
        if self._optional and self.auto.isChecked():
            return None
        if self.square.isChecked():
            return self.h.value()
        return [self.h.value(), self.w.value()]

    @Slot()
    def _on_height_changed(self) -> None:
        if self.square.isChecked():
            self.w.blockSignals(True)
            self.w.setValue(self.h.value())
            self.w.blockSignals(False)
        self._on_changed()

    @Slot()
    def _on_changed(self) -> None:
        self._update_enabled()
        self.value_edited.emit(self.value())

    def _update_enabled(self) -> None:
        automatic = self._optional and self.auto.isChecked()
        self.h.setEnabled(not automatic)
        self.square.setEnabled(not automatic)
        self.w.setEnabled(not automatic and not self.square.isChecked())

    def _show(self, value: Any) -> None:
        for widget in (self.auto, self.h, self.w, self.square):
            widget.blockSignals(True)
        self.auto.setChecked(value is None)
        if value is not None:
            h, w = as_pair(value)
            self.h.setValue(h)
            self.w.setValue(w)
            self.square.setChecked(not isinstance(value, tuple))
        for widget in (self.auto, self.h, self.w, self.square):
            widget.blockSignals(False)
        self._update_enabled()


class PaddingEditor(ParamEditor):
    """'valid', 'same' (convolutions only) or explicit zero padding."""

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.mode = QComboBox(self)
        modes = (
            ["valid", "same", "explicit"] if param.kind is Kind.PADDING else ["valid", "explicit"]
        )
        self.mode.addItems(modes)
        self.mode.textActivated.connect(self._on_changed)
        self.amount = PairEditor(param, self)
        self.amount.setToolTip(param.help)
        if param.kind is Kind.POOL_PADDING:
            self.amount.square.setVisible(False)
            self.amount.w.setVisible(False)
            self.amount._times.setVisible(False)
        self.amount.value_edited.connect(self._on_changed)
        self.amount.editing_finished.connect(self.editing_finished)
        self._layout.addWidget(self.mode)
        self._layout.addWidget(self.amount, 1)

    def value(self) -> Any:
        mode = self.mode.currentText()
        if mode != "explicit":
            return mode
        return self.amount.value() if self.param.kind is Kind.PADDING else self.amount.h.value()

    @Slot()
    def _on_changed(self) -> None:
        self.amount.setVisible(self.mode.currentText() == "explicit")
        self.value_edited.emit(self.value())

    def _show(self, value: Any) -> None:
        self.mode.blockSignals(True)
        if isinstance(value, str):
            self.mode.setCurrentText(value)
        else:
            self.mode.setCurrentText("explicit")
            self.amount.set_value(value)
        self.amount.setVisible(not isinstance(value, str))
        self.mode.blockSignals(False)


def make_editor(param: Param, parent: QWidget | None = None) -> ParamEditor:
    kinds: dict[Kind, type[ParamEditor]] = {
        Kind.INT: IntEditor,
        Kind.FLOAT: FloatEditor,
        Kind.BOOL: BoolEditor,
        Kind.CHOICE: ChoiceEditor,
        Kind.PAIR: PairEditor,
        Kind.PADDING: PaddingEditor,
        Kind.POOL_PADDING: PaddingEditor,
    }
    if param.kind not in kinds:
        raise ValueError(f"no editor for {param.kind} ({param.name})")
    return kinds[param.kind](param, parent)
