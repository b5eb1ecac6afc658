"""Editing the stack as a user does: redo keys, palette double-clicks, blocks and names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog

from explorer.core.paths import LayerPath
from explorer.core.spec import LayerSpec
from explorer.ui.common.document import ProjectDocument
from explorer.ui.editor.palette import LayerPalette
from explorer.ui.editor.stack import LayerStackPanel
from explorer.ui.shell.main_window import MainWindow
from tests.ui.editor_widgets import palette_item

REPEATING = "Conv-ReLU ×N + MaxPool"


@dataclass
class DialogAnswer:
    """Answers the next QInputDialog: N, or cancel when `value` is None."""

    value: int | None
    asked: list[str] = field(default_factory=list)

    def arm(self) -> None:
        QTimer.singleShot(0, self._answer)

    def _answer(self) -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QInputDialog):
            QTimer.singleShot(5, self._answer)
            return
        self.asked.append(f"{dialog.windowTitle()}: {dialog.labelText()} {dialog.intValue()}")
        if self.value is None:
            dialog.reject()
        else:
            dialog.setIntValue(self.value)
            dialog.accept()


def _double_click(qtbot: Any, palette: LayerPalette, name: str) -> None:
    item = palette_item(palette, name)
    palette.scrollToItem(item)
    centre = palette.visualItemRect(item).center()
    qtbot.mouseClick(palette.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseDClick(palette.viewport(), Qt.MouseButton.LeftButton, pos=centre)


def test_ctrl_y_redoes_like_ctrl_shift_z(window: MainWindow, qtbot: Any) -> None:
    document = window.document
    before = document.spec
    document.remove_layers([LayerPath.top(0)])
    after = document.spec
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    for redo in (
        (Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier),
        (Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier),
    ):
        qtbot.keyClick(window.stack.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert document.spec == before
        qtbot.keyClick(window.stack.view, *redo)
        assert document.spec == after


def test_double_click_appends_at_the_end_whatever_is_selected(
    window: MainWindow, qtbot: Any
) -> None:
    document = window.document
    before = document.spec.layers
    window.stack.select_paths([LayerPath.top(0)])
    _double_click(qtbot, window.palette_view, "Dropout")
    assert document.spec.layers[:-1] == before
    assert document.spec.layers[-1].type == "Dropout"
    assert window.stack.selected_paths() == [LayerPath.top(len(before))]


def test_inserting_a_block_before_layers_never_renames_them(
    document: ProjectDocument,
) -> None:
    names = document.spec.layer_names()
    assert names[:3] == ("conv2d_1", "max_pool2d_1", "conv2d_2")
    block = [LayerSpec.new("Conv2D"), LayerSpec.new("Conv2D"), LayerSpec.new("MaxPool2D")]
    assert document.insert_layers(LayerPath.top(0), block)
    assert document.spec.layer_names() == ("conv2d_3", "conv2d_4", "max_pool2d_3", *names)
    # Appending needs no written-out names: the generated ones are already the next free.
    assert document.insert_layers(
        LayerPath.top(len(document.spec.layers)), [LayerSpec.new("Dropout")]
    )
    assert document.spec.layers[-1].name is None
    assert document.spec.layer_names()[-1] == "dropout_1"
    document.undo_stack.undo()
    document.undo_stack.undo()
    assert document.spec.layer_names() == names
    assert all(layer.name is None for layer in document.spec.layers)


def test_deleting_or_moving_a_layer_keeps_the_others_names(document: ProjectDocument) -> None:
    names = document.spec.layer_names()
    assert document.remove_layers([LayerPath.top(0)])
    assert document.spec.layer_names() == names[1:]
    document.undo_stack.undo()
    # conv2d_2 and max_pool2d_2 to the top
    assert document.move_layers([LayerPath.top(2), LayerPath.top(3)], LayerPath.top(0))
    assert document.spec.layer_names() == (names[2], names[3], names[0], names[1], *names[4:])
    assert document.analysis.ok


def test_double_clicking_the_repeating_block_asks_for_n(window: MainWindow, qtbot: Any) -> None:
    document = window.document
    before = document.spec.layers
    answer = DialogAnswer(4)
    answer.arm()
    _double_click(qtbot, window.palette_view, REPEATING)
    assert answer.asked == [f"Add Block: {REPEATING}\nConvolutions before the pool (N): 2"]
    added = [layer.type for layer in document.spec.layers[len(before) :]]
    assert added == ["Conv2D"] * 4 + ["MaxPool2D"]
    assert document.undo_stack.count() == 1
    # The next dialog offers the last N; cancelling it adds nothing.
    cancel = DialogAnswer(None)
    cancel.arm()
    _double_click(qtbot, window.palette_view, REPEATING)
    assert cancel.asked == [f"Add Block: {REPEATING}\nConvolutions before the pool (N): 4"]
    assert document.undo_stack.count() == 1


def test_dropping_the_repeating_block_asks_for_n(document: ProjectDocument, qtbot: Any) -> None:
    palette = LayerPalette(document)
    panel = LayerStackPanel(document)
    qtbot.addWidget(palette)
    qtbot.addWidget(panel)
    names = document.spec.layer_names()
    data = palette.mimeData([palette_item(palette, REPEATING)])
    answer = DialogAnswer(3)
    answer.arm()
    assert panel.model.dropMimeData(data, Qt.DropAction.CopyAction, 1, 0, QModelIndex())
    qtbot.waitUntil(lambda: document.undo_stack.count() == 1)
    assert answer.asked == [f"Add Block: {REPEATING}\nConvolutions before the pool (N): 2"]
    types = [layer.type for layer in document.spec.layers[1:5]]
    assert types == ["Conv2D", "Conv2D", "Conv2D", "MaxPool2D"]
    kept = document.spec.layer_names()
    assert (kept[0], *kept[5:]) == names
