"""The layer stack model and panel: model contract, drops, moves, clipboard, diagnostics."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QMimeData, QModelIndex, Qt
from PySide6.QtGui import QGuiApplication

from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.ui.common.document import ProjectDocument
from explorer.ui.editor.mime import LAYERS_MIME
from explorer.ui.editor.palette import LayerPalette
from explorer.ui.editor.properties import PropertiesPanel
from explorer.ui.editor.stack import LayerStackPanel
from explorer.ui.editor.stack_model import SEVERITY_ROLE, SHAPE_ROLE, LayerStackModel
from tests.ui.editor_widgets import fix_buttons, palette_item

COPY, MOVE = Qt.DropAction.CopyAction, Qt.DropAction.MoveAction


def _types(document: ProjectDocument) -> list[str]:
    return [layer.type for layer in document.spec.layers]


def _dragged_from_palette(document: ProjectDocument, qtbot: Any, item: str) -> QMimeData:
    """The mime data the palette gives when its entry `item` is dragged."""
    palette = LayerPalette(document)
    qtbot.addWidget(palette)
    return palette.mimeData([palette_item(palette, item)])


def test_model_passes_the_qt_model_tester(document: ProjectDocument, qtmodeltester: Any) -> None:
    model = LayerStackModel(document)
    qtmodeltester.check(model)
    document.insert_layers(LayerPath.top(2), [LayerSpec.new("BatchNorm")])
    document.remove_layers([LayerPath.top(0), LayerPath.top(1)])
    qtmodeltester.check(model)


def test_rows_show_description_shape_and_parameters(document: ProjectDocument) -> None:
    model = LayerStackModel(document)
    index = model.index(0, 0)
    assert model.data(index) == "Conv2D 32 · 5×5 · relu"
    assert model.data(index, SHAPE_ROLE) == "(32, 24, 24)"
    assert model.rowCount() == len(document.spec.layers)


def test_dropping_palette_mime_data_inserts_that_layer_at_the_row(
    document: ProjectDocument, qtbot: Any
) -> None:
    model = LayerStackModel(document)
    data = _dragged_from_palette(document, qtbot, "BatchNorm")
    assert data.hasFormat(LAYERS_MIME)
    assert model.canDropMimeData(data, COPY, 1, 0, QModelIndex())
    assert model.dropMimeData(data, COPY, 1, 0, QModelIndex())
    assert _types(document)[:3] == ["Conv2D", "BatchNorm", "MaxPool2D"]
    assert document.spec.layers[1] == LayerSpec.new("BatchNorm")


def test_dropping_a_block_inserts_all_its_layers_in_one_undo_step(
    document: ProjectDocument, qtbot: Any
) -> None:
    model = LayerStackModel(document)
    before = document.spec
    data = _dragged_from_palette(document, qtbot, "Conv-BN-ReLU")
    assert model.dropMimeData(data, COPY, -1, 0, QModelIndex())
    assert _types(document)[-3:] == ["Conv2D", "BatchNorm", "Activation"]
    assert document.undo_stack.count() == 1
    document.undo_stack.undo()
    assert document.spec == before


def test_dragging_rows_within_the_stack_moves_them(document: ProjectDocument) -> None:
    model = LayerStackModel(document)
    layers = document.spec.layers
    data = model.mimeData([model.index(4, 0), model.index(5, 0)])
    assert model.dropMimeData(data, MOVE, 0, 0, QModelIndex())
    assert document.spec.layers == (layers[4], layers[5], *layers[:4])
    assert model.rowCount() == len(layers)


def test_dragging_rows_into_another_window_copies_them(document: ProjectDocument) -> None:
    source = LayerStackModel(document)
    other = ProjectDocument(NetworkSpec())
    target = LayerStackModel(other)
    data = source.mimeData([source.index(0, 0)])
    assert target.dropMimeData(data, MOVE, 0, 0, QModelIndex())
    assert other.spec.layers == (document.spec.layers[0],)
    assert len(document.spec.layers) == 6


def test_dropping_on_a_row_inserts_before_it(document: ProjectDocument) -> None:
    model = LayerStackModel(document)
    data = QMimeData()
    data.setData(LAYERS_MIME, json.dumps([{"type": "Dropout", "rate": 0.25}]).encode())
    assert model.dropMimeData(data, COPY, -1, 0, model.index(2, 0))
    assert document.spec.layers[2] == LayerSpec.create("Dropout", {"rate": 0.25})


def test_invalid_layer_json_is_not_dropped(document: ProjectDocument) -> None:
    model = LayerStackModel(document)
    data = QMimeData()
    data.setData(LAYERS_MIME, b'[{"type": "Conv2D", "filters": -3, "kernel_size": 3}]')
    assert not model.dropMimeData(data, COPY, 0, 0, QModelIndex())
    assert document.undo_stack.count() == 0


def test_delete_duplicate_copy_and_paste_through_the_panel_actions(
    document: ProjectDocument, qtbot: Any
) -> None:
    panel = LayerStackPanel(document)
    qtbot.addWidget(panel)
    original = document.spec
    panel.select_paths([LayerPath.top(0), LayerPath.top(2)])
    panel.duplicate_action.trigger()
    assert _types(document)[:5] == ["Conv2D", "MaxPool2D", "Conv2D", "Conv2D", "Conv2D"]
    assert panel.selected_paths() == [LayerPath.top(3), LayerPath.top(4)]

    panel.delete_action.trigger()
    assert document.spec == original

    panel.select_paths([LayerPath.top(4), LayerPath.top(5)])
    panel.copy_action.trigger()
    clipboard = QGuiApplication.clipboard().mimeData()
    assert clipboard.hasFormat(LAYERS_MIME)
    assert json.loads(clipboard.text()) == [{"type": "Flatten"}, original.layers[5].to_json()]
    panel.select_paths([LayerPath.top(0)])
    panel.paste_action.trigger()
    # Pasted before the originals, the copies take fresh names and the originals keep theirs.
    pasted = document.spec.layers[1:3]
    assert [layer.with_name(None) for layer in pasted] == list(original.layers[4:6])
    assert document.spec.layer_names()[1:3] == ("flatten_2", "dense_2")
    assert document.spec.layer_names()[-2:] == original.layer_names()[-2:]
    for _ in range(3):
        document.undo_stack.undo()
    assert document.spec == original


def test_pasting_plain_json_text_from_an_editor(document: ProjectDocument, qtbot: Any) -> None:
    panel = LayerStackPanel(document)
    qtbot.addWidget(panel)
    QGuiApplication.clipboard().setText('{"type": "Dense", "units": 64, "activation": "relu"}')
    panel.select_paths([LayerPath.top(3)])
    panel.paste_action.trigger()
    pasted = document.spec.layers[4]
    assert pasted.with_name(None) == LayerSpec.create("Dense", {"units": 64, "activation": "relu"})
    assert document.spec.layer_names()[4] == "dense_2"
    assert document.spec.layer_names()[-1] == "dense_1"


def test_pasting_text_that_is_not_layers_explains_why(
    document: ProjectDocument, qtbot: Any, message_boxes: Any
) -> None:
    panel = LayerStackPanel(document)
    qtbot.addWidget(panel)
    QGuiApplication.clipboard().setText("hello")
    panel.paste_action.trigger()
    assert document.undo_stack.count() == 0
    assert message_boxes.shown and "not layer JSON" in message_boxes.shown[0][2]


def _small_input_document() -> ProjectDocument:
    spec = NetworkSpec(
        input=InputSpec(1, 4, 4),
        layers=(
            LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}),
            LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3}),
            LayerSpec.new("Flatten"),
            LayerSpec.create("Dense", {"units": 10}),
        ),
    )
    return ProjectDocument(spec)


def test_invalid_kernel_marks_its_row_and_later_shapes_unknown_and_the_fix_repairs_it(
    qtbot: Any,
) -> None:
    document = _small_input_document()
    model = LayerStackModel(document)
    properties = PropertiesPanel(document)
    qtbot.addWidget(properties)
    properties.show_layer(LayerPath.top(1))
    editor = properties.editors["kernel_size"]
    editor.h.setValue(9)  # a user typing 9 into the kernel box

    assert document.spec.layers[1].get("kernel_size") == 9
    assert model.data(model.index(1, 0), SEVERITY_ROLE) == "error"
    assert "kernel" in model.data(model.index(1, 0), Qt.ItemDataRole.ToolTipRole)
    assert model.data(model.index(0, 0), SHAPE_ROLE) == "(4, 4, 4)"
    assert [model.data(model.index(r, 0), SHAPE_ROLE) for r in (1, 2, 3)] == ["?", "?", "?"]
    assert model.data(model.index(2, 0), SEVERITY_ROLE) is None

    assert len(fix_buttons(properties)) == 1
    label = fix_buttons(properties)[0].text()
    fix_buttons(properties)[0].click()
    assert document.analysis.ok, label
    assert model.data(model.index(3, 0), SHAPE_ROLE) == "(10,)"
    assert all(model.data(model.index(r, 0), SEVERITY_ROLE) is None for r in range(4))
