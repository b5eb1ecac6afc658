"""Layers in drags and on the clipboard: the drag marker names the dragged layers by path
and the document they came from, so a drop in the same stack moves exactly those layers
and anything else (another window, a stale or damaged marker) copies the layers' JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from PySide6.QtCore import QByteArray, QMimeData, QModelIndex, Qt
from PySide6.QtGui import QGuiApplication

from explorer.core.paths import LayerPath
from explorer.core.spec import NetworkSpec
from explorer.ui.common.document import ProjectDocument
from explorer.ui.editor.mime import (
    LAYERS_MIME,
    PATHS_MIME,
    dragged_paths,
    layers_from_mime,
    layers_mime_data,
    mark_dragged_paths,
)
from explorer.ui.editor.stack import LayerStackPanel
from explorer.ui.editor.stack_model import LayerStackModel

MOVE = Qt.DropAction.MoveAction
top = LayerPath.top


def test_a_drag_carries_the_layers_and_their_paths_in_this_document(
    document: ProjectDocument,
) -> None:
    model = LayerStackModel(document)
    data = model.mimeData([model.index(3, 0), model.index(1, 0)])
    marker = json.loads(bytes(data.data(PATHS_MIME).data()).decode())
    assert marker == {"document": id(document), "paths": [[1], [3]]}
    assert dragged_paths(data, document) == [top(1), top(3)]
    assert layers_from_mime(data) == [document.spec.layers[1], document.spec.layers[3]]


def test_the_marker_means_nothing_to_another_document(document: ProjectDocument) -> None:
    data = layers_mime_data(document.spec.layers[:1])
    mark_dragged_paths(data, document, [top(0)])
    assert dragged_paths(data, ProjectDocument(NetworkSpec())) is None
    assert dragged_paths(layers_mime_data(document.spec.layers[:1]), document) is None


def test_a_damaged_marker_makes_the_drop_a_copy_not_an_error(document: ProjectDocument) -> None:
    model = LayerStackModel(document)
    layers = document.spec.layers
    for damaged in (b"{", b'{"document": 1}', json.dumps({"paths": [[0]]}).encode()):
        data = layers_mime_data(layers[:1])
        data.setData(PATHS_MIME, QByteArray(damaged))
        assert dragged_paths(data, document) is None
    marker = {"document": id(document), "paths": [["zero"]]}
    data = layers_mime_data(layers[:1])
    data.setData(PATHS_MIME, QByteArray(json.dumps(marker).encode()))
    assert dragged_paths(data, document) is None
    assert model.dropMimeData(data, MOVE, 0, 0, QModelIndex())
    # copied (named afresh, as a pasted layer is), nothing moved
    assert document.spec.layers[1:] == layers
    assert document.spec.layers[0].with_name(None) == layers[0]


@pytest.fixture
def panel(document: ProjectDocument, qtbot: Any) -> LayerStackPanel:
    stack = LayerStackPanel(document)
    qtbot.addWidget(stack)
    return stack


def test_moving_rows_by_their_paths_selects_them_where_they_landed(
    document: ProjectDocument, panel: LayerStackPanel
) -> None:
    layers = document.spec.layers
    panel.select_paths([top(0), top(2)])
    data = panel.model.mimeData(panel.view.selectionModel().selectedRows())
    assert panel.model.dropMimeData(data, MOVE, 5, 0, QModelIndex())
    order = [1, 3, 4, 0, 2, 5]
    assert document.spec.layers == tuple(layers[i] for i in order)
    assert panel.selected_paths() == [top(3), top(4)]
    assert panel.current_path() == top(3)
    document.undo_stack.undo()
    assert document.spec.layers == layers
    assert panel.selected_paths() == [top(0), top(2)]


def test_copy_then_paste_goes_after_the_last_selected_layer(
    document: ProjectDocument, panel: LayerStackPanel
) -> None:
    layers = document.spec.layers
    panel.select_paths([top(1)])
    panel.copy_action.trigger()
    clipboard = QGuiApplication.clipboard().mimeData()
    assert clipboard.hasFormat(LAYERS_MIME) and not clipboard.hasFormat(PATHS_MIME)
    panel.select_paths([top(3)])
    panel.paste_action.trigger()
    assert document.spec.layers[4].type == layers[1].type
    assert panel.selected_paths() == [top(4)]


def test_the_model_maps_paths_and_indexes_both_ways(document: ProjectDocument) -> None:
    model = LayerStackModel(document)
    for row in range(model.rowCount()):
        assert model.path_of(model.index(row, 0)) == top(row)
        assert model.index_of(top(row)).row() == row
    assert not model.index_of(top(model.rowCount())).isValid()


def test_a_plain_text_drop_still_parses_as_layers() -> None:
    data = QMimeData()
    data.setText('{"type": "Dropout", "rate": 0.25}')
    (layer,) = layers_from_mime(data)
    assert (layer.type, layer.get("rate")) == ("Dropout", 0.25)
