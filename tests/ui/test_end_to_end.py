"""Build the Keras tutorial network from an empty project the way a user would."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QComboBox, QLabel

from explorer.core.paths import LayerPath
from explorer.core.templates import load_template
from explorer.ui.shell.main_window import MainWindow
from tests.ui.editor_widgets import palette_item


def _double_click(window: MainWindow, qtbot: Any, name: str) -> None:
    palette = window.palette_view
    item = palette_item(palette, name)
    palette.scrollToItem(item)
    rect = palette.visualItemRect(item)
    # A real double-click is a click followed by a double-click event at the same place.
    qtbot.mouseClick(palette.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(palette.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def _drop_at_end(window: MainWindow, name: str) -> None:
    palette, model = window.palette_view, window.stack.model
    data = palette.mimeData([palette_item(palette, name)])
    assert model.dropMimeData(data, Qt.DropAction.CopyAction, model.rowCount(), 0, QModelIndex())


def _choose(qtbot: Any, combo: QComboBox, text: str) -> None:
    combo.setFocus()
    qtbot.keyClicks(combo, text)
    assert combo.currentText() == text


def test_building_the_keras_mnist_network_from_scratch(window: MainWindow, qtbot: Any) -> None:
    assert window.files.new()
    assert window.document.spec.layers == ()
    properties = window.properties

    _double_click(window, qtbot, "Conv2D")
    assert window.stack.selected_paths() == [LayerPath.top(0)]
    properties.editors["kernel_size"].h.setValue(5)
    _double_click(window, qtbot, "MaxPool2D")
    _drop_at_end(window, "Conv2D")
    window.stack.select_paths([LayerPath.top(2)])
    properties.editors["filters"].box.setValue(64)
    properties.editors["kernel_size"].h.setValue(5)
    window.stack.select_paths([LayerPath.top(2)])
    _double_click(window, qtbot, "MaxPool2D")
    _double_click(window, qtbot, "Flatten")
    _double_click(window, qtbot, "Dense")
    assert properties.path == LayerPath.top(5)
    properties.editors["units"].box.setValue(10)
    _choose(qtbot, properties.editors["activation"].box, "softmax")

    template = load_template("keras-mnist")
    built = window.document.spec
    assert [layer.resolved() for layer in built.layers] == [
        layer.resolved() for layer in template.layers
    ]
    assert window.document.analysis.ok
    # the totals follow the edits on later turns of the event loop
    qtbot.waitUntil(lambda: "Total params: 62,346" in window.summary.totals.text())
    status = [label.text() for label in window.statusBar().findChildren(QLabel)]
    assert "Params: 62,346" in status
    table = window.summary.model
    assert table.data(table.index(6, 2)) == "10,250"
    assert window.isWindowModified()
