"""The properties panel: a form generated from the selected layer's (or block's) `Param`
declarations, its name, diagnostics with one-click fixes, and the written-out shape
arithmetic. A block edits its shortcut or merge, activation and repeat as a layer edits its
keys."""

from __future__ import annotations

from functools import partial
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from explorer.core.arithmetic import output_arithmetic
from explorer.core.diagnostics import Diagnostic, Fix
from explorer.core.layers import LayerType, layer_type
from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, LayerOrBlock, SpecError
from explorer.core.summary import format_shape
from explorer.core.vocabulary.blocks import BLOCK_TYPES, BlockType
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.family_style import ERROR_COLOUR, WARNING_COLOUR
from explorer.ui.common.param_editors import ParamEditor, make_editor
from explorer.ui.common.row_change import RowChange


class PropertiesPanel(QScrollArea):
    """Shows and edits the layer at `path` (None: nothing selected)."""

    def __init__(self, document: ProjectDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.path: LayerPath | None = None
        self._type: str | None = None
        self.editors: dict[str, ParamEditor] = {}
        self.errors: dict[str, QLabel] = {}
        self._shown_diagnostics: tuple[Diagnostic, ...] = ()
        self.setWidgetResizable(True)
        self.setObjectName("propertiesPanel")
        self._body = QWidget()
        self._layout = QVBoxLayout(self._body)
        self._layout.setContentsMargins(8, 8, 8, 8)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("color: palette(placeholder-text);")
        self._form_host = QWidget()
        self.form = QFormLayout(self._form_host)
        self.form.setContentsMargins(0, 4, 0, 4)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.shapes = QLabel()
        self.shapes.setWordWrap(True)
        self.shapes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.shapes.setObjectName("shapeArithmetic")
        self.shapes.setStyleSheet(
            "#shapeArithmetic { background: palette(alternate-base); padding: 6px; "
            "border-radius: 4px; }"
        )
        self._diagnostics_host = QWidget()
        self._diagnostics = QVBoxLayout(self._diagnostics_host)
        self._diagnostics.setContentsMargins(0, 0, 0, 0)
        # Problems and the shape arithmetic come first: they are why a user looks here.
        for widget in (self.title, self.summary, self._diagnostics_host, self.shapes):
            self._layout.addWidget(widget)
        self._layout.addWidget(self._form_host)
        self._layout.addStretch(1)
        self.setWidget(self._body)
        document.spec_changed.connect(self._on_document_spec_changed)
        self.show_layer(None)

    # ---- which layer --------------------------------------------------------------------

    def show_layer(self, path: LayerPath | None) -> None:
        """Show the layer or block at `path` (None, or no such position: nothing)."""
        item = self._item(path)
        self.path = path if item is not None else None
        type_name = item.type if item is not None else None
        if type_name != self._type:
            self._build_form(type_name)
        self._refresh()

    def _item(self, path: LayerPath | None) -> LayerOrBlock | None:
        if path is None:
            return None
        try:
            return self.document.spec.at(path)
        except LookupError:
            return None

    @Slot(RowChange)
    def _on_document_spec_changed(self, change: RowChange) -> None:
        # The layer shown stays shown wherever the edit moved its top-level row (gone:
        # nothing is shown); inside a block, the selection the edit asks for follows it.
        row = change.new_row(self.path.top_row) if self.path is not None else None
        path = self.path
        self.show_layer(None if row is None or path is None else LayerPath((row, *path.steps[1:])))

    def _build_form(self, type_name: str | None) -> None:
        self._type = type_name
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        self.errors.clear()
        if type_name is None:
            return
        entry: LayerType | BlockType = (
            BLOCK_TYPES[type_name] if type_name in BLOCK_TYPES else layer_type(type_name)
        )
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("layerName")
        self.name_edit.setToolTip(
            "The name in summaries and exports (and of the module); blank = automatic."
        )
        self.name_edit.editingFinished.connect(self._on_name_edit_editing_finished)
        self.errors["name"] = self._error_label()
        self.form.addRow("name", self.name_edit)
        self.form.addRow("", self.errors["name"])
        for param in entry.params:
            editor = make_editor(param)
            editor.setObjectName(f"param_{param.name}")
            editor.value_edited.connect(partial(self._on_editor_value_edited, param.name))
            editor.editing_finished.connect(self.document.end_merge)
            label = QLabel(param.name)
            label.setToolTip(param.help)
            self.form.addRow(label, editor)
            self.editors[param.name] = editor
            self.errors[param.name] = self._error_label()
            self.form.addRow("", self.errors[param.name])

    def _error_label(self) -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        label.setStyleSheet(f"color: {ERROR_COLOUR.name()};")
        label.hide()
        return label

    # ---- showing ------------------------------------------------------------------------

    def _refresh(self) -> None:
        if self.path is None:
            self.title.setText("<b>No layer selected</b>")
            self.summary.setText("Select a layer in the stack to edit its settings.")
            self.shapes.setText("")
            self._show_diagnostics(())
            return
        layer = self.document.spec.at(self.path)
        name = self.document.spec.name_of(self.path)
        where = self.document.spec.label(self.path) if self.path.depth > 1 else ""
        self.title.setText(
            f"<b>{name}</b> &nbsp; <span>{layer.type}</span>"
            + (f"<br><small>{where}</small>" if where else "")
        )
        self.summary.setText(layer.entry.summary)
        self.name_edit.setText(layer.name or "")
        self.name_edit.setPlaceholderText(name if layer.name is None else "")
        resolved = layer.resolved()
        for key, editor in self.editors.items():
            editor.set_value(resolved[key])
            self.errors[key].hide()
        self.errors["name"].hide()
        try:
            analysed = self.document.analysis.at(self.path)
        except LookupError:  # not analysed (yet): nothing to say of its shapes
            self.shapes.setText("")
            self._show_diagnostics(())
            return
        lines = [
            f"Input {format_shape(analysed.input_shape)} → output "
            f"{format_shape(analysed.output_shape)}",
        ]
        if analysed.known:
            lines.append(f"{analysed.params:,} parameters, {analysed.macs:,} multiply-adds")
        if isinstance(layer, BlockSpec):
            lines += self._block_lines(layer)
        else:
            for axis in output_arithmetic(layer, analysed.input_shape):
                lines.append(f"{axis.axis}: {axis.text}")
        self.shapes.setText("\n".join(lines))
        self._show_diagnostics(analysed.diagnostics)

    @staticmethod
    def _block_lines(block: BlockSpec) -> list[str]:
        """What a block holds, one line per sub-stack."""
        lines = []
        for which, held in enumerate(block.stacks):
            label = block.entry.stack_name
            if block.entry.max_stacks != 1:
                label += f" {which + 1}"
            count = f"{len(held)} layer{'s' if len(held) != 1 else ''}" if held else "empty"
            lines.append(f"{label}: {count}")
        if block.repeat > 1:
            lines.append(f"×{block.repeat}: the totals count every copy")
        return lines

    def _show_diagnostics(self, diagnostics: tuple[Diagnostic, ...]) -> None:
        if diagnostics == self._shown_diagnostics and self._diagnostics.count():
            return
        self._shown_diagnostics = diagnostics
        while self._diagnostics.count():
            item = self._diagnostics.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.setParent(None)  # gone from the panel now, deleted once unused
                widget.deleteLater()
        for diagnostic in diagnostics:
            colour = ERROR_COLOUR if diagnostic.is_error else WARNING_COLOUR
            label = QLabel(
                f"<b style='color:{colour.name()}'>{'Error' if diagnostic.is_error else 'Warning'}"
                f":</b> {diagnostic.message}"
            )
            label.setWordWrap(True)
            self._diagnostics.addWidget(label)
            if diagnostic.fix is not None:
                button = QPushButton(f"Fix: {diagnostic.fix.label}")
                button.setObjectName("fixButton")
                button.clicked.connect(partial(self._on_fix_button_clicked, diagnostic.fix))
                self._diagnostics.addWidget(button, 0, Qt.AlignmentFlag.AlignLeft)

    # ---- editing ------------------------------------------------------------------------

    def _on_editor_value_edited(self, key: str, value: Any) -> None:
        if self.path is None:
            return
        layer = self.document.spec.at(self.path)
        try:
            new = layer.with_values(**{key: value})
        except SpecError as error:
            # Invalid values are shown, never applied.
            self.errors[key].setText(error.message)
            self.errors[key].show()
            return
        self.errors[key].hide()
        self.document.replace_layer(self.path, new, key)

    @Slot()
    def _on_name_edit_editing_finished(self) -> None:
        if self.path is None:
            return
        text = self.name_edit.text().strip() or None
        layer = self.document.spec.at(self.path)
        if text == layer.name:
            return
        try:
            new = layer.with_name(text)
        except SpecError as error:
            self.errors["name"].setText(error.message)
            self.errors["name"].show()
            return
        self.errors["name"].hide()
        self.document.replace_layer(self.path, new, "name")
        self.document.end_merge()

    def _on_fix_button_clicked(self, fix: Fix) -> None:
        self.document.apply_fix(fix)
