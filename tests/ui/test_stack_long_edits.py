"""Edits in the middle of a long stack reach the tree as the rows they touch: the row
inserted or removed, one run of rows told that their names or results changed, and a
selected row that goes is deselected before Qt hears of its removal (a tree view that
loses its selection while rows go lays out every row at once, and again afterwards)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QModelIndex

from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.ui.common.document import ProjectDocument
from explorer.ui.editor import stack as stack_module
from explorer.ui.editor.stack import LayerStackPanel
from explorer.ui.editor.stack_model import NAME_ROLE, LayerStackModel


def _pairs(pairs: int) -> NetworkSpec:
    conv = LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"})
    relu = LayerSpec.create("Activation", {"function": "relu"})
    rows = [conv, relu] * pairs + [
        LayerSpec.new("Flatten"),
        LayerSpec.create("Dense", {"units": 10}),
    ]
    return NetworkSpec(input=InputSpec(1, 8, 8), layers=tuple(rows))


class Signals:
    """What the model told its views, in order."""

    def __init__(self, panel: LayerStackPanel) -> None:
        self.panel = panel
        self.seen: list[tuple[Any, ...]] = []
        model = panel.model
        model.rowsAboutToBeRemoved.connect(self._on_about_to_be_removed)
        model.rowsInserted.connect(lambda parent, first, last: self._add("inserted", first, last))
        model.rowsRemoved.connect(lambda parent, first, last: self._add("removed", first, last))
        model.rowsMoved.connect(lambda *args: self._add("moved"))
        model.modelReset.connect(lambda: self._add("reset"))
        model.dataChanged.connect(
            lambda top, bottom, roles: self._add("changed", top.row(), bottom.row())
        )

    def _add(self, *what: Any) -> None:
        self.seen.append(what)

    def _on_about_to_be_removed(self, parent: QModelIndex, first: int, last: int) -> None:
        still = [index.row() for index in self.panel.view.selectionModel().selectedIndexes()]
        self._add("about to remove", first, last, still)


def _panel(document: ProjectDocument, qtbot: Any) -> LayerStackPanel:
    panel = LayerStackPanel(document)
    qtbot.addWidget(panel)
    panel.resize(400, 600)
    panel.show()
    return panel


def test_deleting_a_selected_row_deselects_it_before_qt_removes_it(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []  # the rows Qt asks the model for, while it removes one
    removing = [False]

    class CountingModel(LayerStackModel):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            # connected before any view: told first that rows go, and that they have gone
            self.rowsAboutToBeRemoved.connect(lambda *_: removing.__setitem__(0, True))
            self.rowsRemoved.connect(lambda *_: removing.__setitem__(0, False))

        def index(self, row: int, *args: Any) -> QModelIndex:
            if removing[0]:
                asked.append(row)
            return super().index(row, *args)

    monkeypatch.setattr(stack_module, "LayerStackModel", CountingModel)
    document = ProjectDocument(_pairs(100))
    panel = _panel(document, qtbot)
    panel.select_paths([LayerPath.top(100)])
    qtbot.wait(1)  # laid out and painted
    signals = Signals(panel)
    panel.delete_action.trigger()

    assert ("about to remove", 100, 100, []) in signals.seen
    assert ("removed", 100, 100) in signals.seen and ("reset",) not in signals.seen
    # the tree did not go over its 202 rows while the row went (it does so once, after)
    assert len(asked) < 20
    # the row after it takes its place, selected
    assert panel.selected_paths() == [LayerPath.top(100)]
    assert panel.view.currentIndex().row() == 100


def test_an_insert_that_renumbers_later_rows_tells_them_in_one_run(qtbot: Any) -> None:
    document = ProjectDocument(_pairs(100))
    panel = _panel(document, qtbot)
    signals = Signals(panel)
    # a Conv2D before conv2d_51 (row 100): the rows after it keep their names, written out
    document.insert_layers(LayerPath.top(100), [LayerSpec.new("Conv2D")])

    model = panel.model
    assert [s for s in signals.seen if s[0] != "changed"] == [("inserted", 100, 100)]
    changed = [s[1:] for s in signals.seen if s[0] == "changed"]
    assert changed == [(101, 202)]  # every later row (the shapes after it change): one run
    assert model.index(101, 0).data(NAME_ROLE) == "conv2d_51"
    assert model.index(100, 0).data(NAME_ROLE) == "conv2d_101"


def test_deleting_a_relu_in_the_middle_keeps_the_rows_after_it_named(qtbot: Any) -> None:
    document = ProjectDocument(_pairs(100))
    panel = _panel(document, qtbot)
    panel.select_paths([LayerPath.top(101)])  # activation_51
    signals = Signals(panel)
    panel.delete_action.trigger()

    model = panel.model
    names = [model.index(row, 0).data(NAME_ROLE) for row in range(model.rowCount())]
    assert names[100:103] == ["conv2d_51", "conv2d_52", "activation_52"]
    assert [s for s in signals.seen if s[0] == "removed"] == [("removed", 101, 101)]
    assert ("reset",) not in signals.seen


def test_renaming_a_layer_tells_the_renumbered_rows_after_it_in_one_run(qtbot: Any) -> None:
    document = ProjectDocument(_pairs(100))
    panel = _panel(document, qtbot)
    signals = Signals(panel)
    middle = LayerPath.top(100)  # conv2d_51: the convolutions after it are numbered again
    document.replace_layer(middle, document.spec.at(middle).with_name("mine"), "name")

    model = panel.model
    assert model.index(100, 0).data(NAME_ROLE) == "mine"
    assert model.index(102, 0).data(NAME_ROLE) == "conv2d_51"
    # every other row from 100 on changed its name: one signal, not 51
    assert signals.seen == [("changed", 100, 201)]
