"""Row-level changes: the document says which rows an edit inserted, removed, moved or
replaced, and the stack model passes exactly those on, so a real list view keeps the layer
it had selected (and its current row) through edits, undo and redo."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPersistentModelIndex
from PySide6.QtWidgets import QListView

from explorer.core.diagnostics import InsertLayer
from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.row_change import RowChange
from explorer.ui.editor.properties import PropertiesPanel
from explorer.ui.editor.stack import LayerStackPanel
from explorer.ui.editor.stack_model import NAME_ROLE, LayerStackModel


def _view(document: ProjectDocument, qtbot: Any) -> tuple[QListView, LayerStackModel]:
    model = LayerStackModel(document)
    view = QListView()
    qtbot.addWidget(view)
    view.setModel(model)
    return view, model


def _select(view: QListView, row: int) -> None:
    index = view.model().index(row, 0)
    view.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)


def _view_selecting(
    document: ProjectDocument, qtbot: Any, row: int
) -> tuple[QListView, LayerStackModel, str]:
    """A view of the document's rows with the layer at `row` selected, and its name."""
    view, model = _view(document, qtbot)
    _select(view, row)
    return view, model, document.analysis.layers[row].name


def _assert_selected(view: QListView, name: str, row: int) -> None:
    """The layer `name` is the only one selected, the current one, at `row`."""
    assert _selected(view) == ([name], name)
    assert view.currentIndex().row() == row


def _selected(view: QListView) -> tuple[list[str], str]:
    """Names of the selected layers and of the current one."""
    names = [
        str(index.data(NAME_ROLE))
        for index in sorted(view.selectionModel().selectedRows(), key=lambda i: i.row())
    ]
    return names, str(view.currentIndex().data(NAME_ROLE))


_at = LayerPath.top


def _names(model: LayerStackModel) -> list[str]:
    return [str(model.index(row, 0).data(NAME_ROLE)) for row in range(model.rowCount())]


EDITS_ABOVE = {
    "insert": (
        lambda d: d.insert_layers(_at(1), [LayerSpec.new("BatchNorm"), LayerSpec.new("Dropout")]),
        "rowsInserted", 3, 5,
    ),
    "remove": (lambda d: d.remove_layers([_at(0), _at(2)]), "rowsRemoved", 4, 2),
}  # fmt: skip


@pytest.mark.parametrize("name", list(EDITS_ABOVE))
def test_rows_inserted_or_removed_above_the_selection_keep_the_same_layer_selected(
    document: ProjectDocument, qtbot: Any, name: str
) -> None:
    edit, signal, row, row_after = EDITS_ABOVE[name]
    view, model, chosen = _view_selecting(document, qtbot, row)
    with qtbot.assertNotEmitted(model.modelReset), qtbot.waitSignal(getattr(model, signal)):
        edit(document)
    _assert_selected(view, chosen, row_after)


def test_moving_rows_keeps_the_selected_layer_selected(
    document: ProjectDocument, qtbot: Any
) -> None:
    view, model, chosen = _view_selecting(document, qtbot, 1)
    with qtbot.assertNotEmitted(model.modelReset), qtbot.waitSignal(model.rowsMoved):
        document.move_layers([_at(0), _at(1)], _at(5))
    _assert_selected(view, chosen, 4)
    assert _names(model) == [layer.name for layer in document.analysis.layers]


def test_undo_and_redo_keep_the_selected_layer_selected(
    document: ProjectDocument, qtbot: Any
) -> None:
    view, model, chosen = _view_selecting(document, qtbot, 2)
    document.insert_layers(_at(0), [LayerSpec.new("BatchNorm")])
    document.move_layers([_at(5)], _at(0))
    for step, row in ((document.undo_stack.undo, 3), (document.undo_stack.undo, 2)):
        with qtbot.assertNotEmitted(model.modelReset):
            step()
        _assert_selected(view, chosen, row)
    for row in (3, 4):
        document.undo_stack.redo()
        _assert_selected(view, chosen, row)
    assert _names(model) == [layer.name for layer in document.analysis.layers]


def test_a_change_in_place_updates_that_row_without_moving_any(
    document: ProjectDocument, qtbot: Any
) -> None:
    view, model = _view(document, qtbot)
    _select(view, 3)
    layer = document.spec.layers[0]
    with (
        qtbot.assertNotEmitted(model.rowsInserted),
        qtbot.assertNotEmitted(model.rowsRemoved),
        qtbot.waitSignal(model.dataChanged) as changed,
    ):
        document.replace_layer(_at(0), layer.with_values(filters=8), "filters")
    assert changed.args[0].row() == 0
    assert "Conv2D 8" in str(model.index(0, 0).data())
    assert view.currentIndex().row() == 3


def test_opening_another_project_resets_the_rows(document: ProjectDocument, qtbot: Any) -> None:
    view, model = _view(document, qtbot)
    _select(view, 3)
    other = NetworkSpec(layers=(LayerSpec.new("Flatten"), LayerSpec.create("Dense", {"units": 3})))
    with qtbot.waitSignal(model.modelReset):
        document.reset(other)
    assert model.rowCount() == 2
    assert _names(model) == [layer.name for layer in document.analysis.layers]


def test_the_properties_panel_follows_its_layer_when_rows_move_under_it(
    document: ProjectDocument, qtbot: Any
) -> None:
    panel = PropertiesPanel(document)
    qtbot.addWidget(panel)
    panel.show_layer(_at(2))
    shown = document.analysis.layers[2].name
    document.insert_layers(_at(0), [LayerSpec.new("BatchNorm")])
    assert panel.path == _at(3)
    assert shown in panel.title.text()
    document.remove_layers([_at(3)])
    assert panel.path is None
    document.undo_stack.undo()
    assert panel.path is None  # nothing was shown when the layer came back


def test_undoing_a_paste_in_the_panel_leaves_the_rows_of_the_document(
    document: ProjectDocument, qtbot: Any
) -> None:
    panel = LayerStackPanel(document)
    qtbot.addWidget(panel)
    panel.select_paths([_at(4)])
    panel.duplicate_action.trigger()
    assert panel.selected_paths() == [_at(5)]
    with qtbot.assertNotEmitted(panel.model.modelReset):
        document.undo_stack.undo()
    assert panel.model.rowCount() == len(document.spec.layers)
    assert _names(panel.model) == [layer.name for layer in document.analysis.layers]


# ---- RowChange itself ----------------------------------------------------------------------


def test_a_row_change_says_what_was_inserted_removed_and_moved() -> None:
    change = RowChange((2, None, 0, None), 4)
    assert change.inserted == (1, 3)
    assert change.removed == (1, 3)
    assert change.kept == (2, 0)
    assert change.moved
    assert change.new_row(0) == 2 and change.new_row(1) is None
    assert change.inverse().origin == (2, None, 0, None)
    assert not RowChange.unchanged(3, [1]).moved
    assert RowChange.unchanged(3, [1]).inverse().replaced == (1,)


def test_a_change_between_two_lists_keeps_their_common_start_and_end() -> None:
    assert RowChange.between("abcde", "abXYde").origin == (0, 1, None, None, 3, 4)
    assert RowChange.between("abcde", "abXde") == RowChange((0, 1, 2, 3, 4), 5, (2,))
    assert RowChange.between("abc", "abc") == RowChange.unchanged(3)
    assert RowChange.between("", "ab").inserted == (0, 1)


_EDIT = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 12), st.integers(1, 3)),
    st.tuples(st.just("remove"), st.lists(st.integers(0, 12), min_size=1, max_size=4)),
    st.tuples(st.just("move"), st.lists(st.integers(0, 12), min_size=1, max_size=4),
              st.integers(0, 13)),
)  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=st.lists(_EDIT, min_size=1, max_size=5), watched=st.integers(0, 12))
def test_any_edits_undo_and_redo_keep_rows_and_persistent_indexes_right(
    qtbot: Any, edits: list[tuple[Any, ...]], watched: int
) -> None:
    layers = tuple(LayerSpec.create("Dense", {"units": units}) for units in range(1, 14))
    document = ProjectDocument(NetworkSpec(layers=layers))
    model = LayerStackModel(document)
    persistent = QPersistentModelIndex(model.index(watched, 0))
    identity = [f"u{units}" for units in range(1, 14)]  # a layer by its units, never renamed

    def units() -> list[str]:
        return [f"u{layer.get('units')}" for layer in document.spec.layers]

    for edit in edits:
        count = len(document.spec.layers)
        if edit[0] == "insert":
            document.insert_layers(
                _at(edit[1]),
                [LayerSpec.create("Dense", {"units": 100 + i}) for i in range(edit[2])],
            )
        elif edit[0] == "remove":
            document.remove_layers([_at(row % count) for row in edit[1] if count])
        else:
            document.move_layers(
                [_at(row % count) for row in edit[1] if count], _at(edit[2] % (count + 1))
            )
        assert _names(model) == [layer.name for layer in document.analysis.layers]
        if persistent.isValid():
            assert units()[persistent.row()] == identity[watched]
        else:
            assert identity[watched] not in units()
    while document.undo_stack.canUndo():
        document.undo_stack.undo()
        assert _names(model) == [layer.name for layer in document.analysis.layers]
    assert units() == identity
    if persistent.isValid():
        assert persistent.row() == watched
    while document.undo_stack.canRedo():
        document.undo_stack.redo()
        assert _names(model) == [layer.name for layer in document.analysis.layers]
    del persistent


def test_changes_compose_into_one_undo_step_and_invert() -> None:
    insert_first = RowChange((None, 0, 1, 2), 3)
    remove_second = RowChange((0, 2, 3), 4)
    both = insert_first.then(remove_second)
    assert both == RowChange((None, 1, 2), 3)
    assert both.inverse() == RowChange((None, 1, 2), 3)
    edited = RowChange.unchanged(3, [2]).then(RowChange((2, 0, 1), 3))
    assert edited.replaced == (0,) and edited.inverse().replaced == (2,)


def test_an_edit_of_a_deep_stack_lays_out_no_rows_again(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    layers = tuple(LayerSpec.create("Dense", {"units": 1 + row % 7}) for row in range(3000))
    document = ProjectDocument(NetworkSpec(layers=(LayerSpec.new("Flatten"), *layers)))
    asked = [0]  # the view asks for the number of rows once or twice per row it lays out
    row_count = LayerStackModel.rowCount

    def counted(model: LayerStackModel, parent: Any = QModelIndex()) -> int:  # noqa: B008
        asked[0] += 1
        return row_count(model, parent)

    monkeypatch.setattr(LayerStackModel, "rowCount", counted)
    panel = LayerStackPanel(document)
    qtbot.addWidget(panel)
    panel.resize(300, 600)
    panel.show()
    view, model = panel.view, panel.model
    qtbot.waitUntil(lambda: view.visualRect(model.index(2999, 0)).isValid())
    panel.select_paths([_at(1500)])
    asked[0] = 0
    try:
        document.replace_layer(_at(1500), document.spec.layers[1500].with_values(units=9), "u")
        document.settle()  # a network this deep is analysed on a thread after an edit
        # The tree view has uniform row heights: a change of the rows' data moves no row.
        assert asked[0] < 10
        qtbot.waitUntil(lambda: view.visualRect(model.index(2999, 0)).isValid())
        assert _selected(view)[1] == document.analysis.layers[1500].name
        assert document.spec.layers[1500].json_values()["units"] == 9
    finally:
        document.stop_editing()  # its thread is joined, as a window's is when it closes


def test_a_fix_that_inserts_a_layer_inserts_its_row(qtbot: Any) -> None:
    spec = NetworkSpec(
        input=InputSpec(1, 8, 8),
        layers=(
            LayerSpec.create("Conv2D", {"filters": 2, "kernel_size": 3}),
            LayerSpec.create("Dense", {"units": 3}),
            LayerSpec.create("Dense", {"units": 10}),
        ),
    )
    document = ProjectDocument(spec)
    view, model = _view(document, qtbot)
    _select(view, 2)
    fix = document.analysis.diagnostics[0].fix
    assert isinstance(fix, InsertLayer) and fix.layer_type == "Flatten"
    with qtbot.assertNotEmitted(model.modelReset), qtbot.waitSignal(model.rowsInserted) as inserted:
        document.apply_fix(fix)
    assert inserted.args[1:] == [1, 1]
    assert _names(model) == [layer.name for layer in document.analysis.layers]
    assert view.currentIndex().row() == 3
