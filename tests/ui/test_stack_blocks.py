"""Blocks in the layer stack: a block's row expands to its sub-stacks, the rows follow every
edit of the tree (and its undo), keys and drags work on nested rows, and the margin draws
the block's structure."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, LayerOrBlock, NetworkSpec
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.family_style import type_colour
from explorer.ui.editor.palette import LayerPalette
from explorer.ui.editor.properties import PropertiesPanel
from explorer.ui.editor.stack import LayerStackPanel
from explorer.ui.editor.stack_model import (
    KIND_ROLE,
    NAME_ROLE,
    PARAMS_ROLE,
    SHAPE_ROLE,
    LayerStackModel,
)
from tests.ui.editor_widgets import palette_item
from tests.ui.test_document_blocks import _blocks, at, conv, network, relu, residual

MOVE, COPY = Qt.DropAction.MoveAction, Qt.DropAction.CopyAction

Tree = list[tuple[str, str | None, list[Any]]]


def model_tree(model: LayerStackModel, parent: QModelIndex | None = None) -> Tree:
    """The rows of the model: (kind, name of a layer or block, the rows under it)."""
    parent = parent if parent is not None else QModelIndex()
    rows: Tree = []
    for row in range(model.rowCount(parent)):
        index = model.index(row, 0, parent)
        kind = model.data(index, KIND_ROLE)
        name = model.data(index, NAME_ROLE) if kind in ("item", "block") else None
        rows.append((kind, name, model_tree(model, index)))
    return rows


def spec_tree(spec: NetworkSpec, items: tuple[LayerOrBlock, ...] = (), prefix: Any = None) -> Tree:
    """The rows the spec should show (written from the spec and the design, not the model)."""
    names = spec.names()
    items = items if prefix is not None else spec.layers
    rows: Tree = []
    for index, item in enumerate(items):
        path = LayerPath.top(index) if prefix is None else prefix.sibling(index)
        if not isinstance(item, BlockSpec):
            rows.append(("item", names[path], []))
            continue

        def stack(which: int, held: tuple[LayerOrBlock, ...], path: LayerPath = path) -> Tree:
            return spec_tree(spec, held, path.child(which, 0)) if held else [("empty", None, [])]

        if item.entry.max_stacks == 1:
            under = stack(0, item.stacks[0])
        else:
            under = [("header", None, stack(w, held)) for w, held in enumerate(item.stacks)]
        rows.append(("block", names[path], [*under, ("merge", None, [])]))
    return rows


@pytest.fixture
def panel(qtbot: Any) -> LayerStackPanel:
    panel = LayerStackPanel(_blocks())
    qtbot.addWidget(panel)
    panel.resize(420, 900)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def test_a_block_row_shows_its_kind_repeat_and_totals(qtbot: Any) -> None:
    document = ProjectDocument(network(residual(conv(), relu(), repeat=3)))
    model = LayerStackModel(document)
    index = model.index(0, 0)
    assert model.data(index, KIND_ROLE) == "block"
    assert model.data(index).startswith("Residual ×3")
    analysed = document.analysis.layers[0]
    assert model.data(index, PARAMS_ROLE) == f"{analysed.params:,}"
    # three copies of a 4→4 3×3 convolution with bias
    assert analysed.params == 3 * (4 * 4 * 9 + 4)
    body = model.index(0, 0, index)
    assert model.data(body, NAME_ROLE) == "conv2d_1"
    assert model.data(body, SHAPE_ROLE) == "(4, 8, 8)"
    merge = model.index(2, 0, index)
    assert model.data(merge, KIND_ROLE) == "merge"
    assert "identity" in model.data(merge)  # what auto picks: the body keeps the shape
    assert model.data(merge, SHAPE_ROLE) == "(4, 8, 8)"


def test_the_rows_show_the_tree_with_headers_empty_rows_and_merges(panel: LayerStackPanel) -> None:
    assert model_tree(panel.model) == spec_tree(panel.document.spec)
    parallel = model_tree(panel.model)[2]
    assert [row[0] for row in parallel[2]] == ["header", "header", "merge"]
    assert parallel[2][1][2] == [("empty", None, [])]


def test_blocks_start_expanded_and_left_and_right_collapse_and_expand(
    panel: LayerStackPanel, qtbot: Any
) -> None:
    view, model = panel.view, panel.model
    block = model.index_of(at(1))
    assert view.isExpanded(block)
    panel.select_paths([at(1)])
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Down)  # into the body
    assert model.path_of(view.currentIndex()) == at(1, 0, 0)
    qtbot.keyClick(view, Qt.Key.Key_Left)  # to the block
    qtbot.keyClick(view, Qt.Key.Key_Left)  # collapses it
    assert not view.isExpanded(block)
    qtbot.keyClick(view, Qt.Key.Key_Down)  # past its hidden rows, to the next block
    assert model.path_of(view.currentIndex()) == at(2)
    qtbot.keyClick(view, Qt.Key.Key_Up)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.isExpanded(block)


def test_a_collapsed_block_stays_collapsed_through_an_edit_inside_another(
    panel: LayerStackPanel,
) -> None:
    view, model, document = panel.view, panel.model, panel.document
    view.collapse(model.index_of(at(1)))
    document.insert_layers(at(2, 1, 0), [relu()])
    assert not view.isExpanded(model.index_of(at(1)))
    assert view.isExpanded(model.index_of(at(2)))
    assert model_tree(model) == spec_tree(document.spec)


def test_delete_key_on_a_nested_layer_removes_it_and_undo_puts_it_back(
    panel: LayerStackPanel, qtbot: Any
) -> None:
    before = panel.document.spec
    panel.select_paths([at(1, 0, 1)])
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_Delete)
    block = panel.document.spec.layers[1]
    assert isinstance(block, BlockSpec) and [x.type for x in block.stacks[0]] == ["Conv2D"] * 2
    assert model_tree(panel.model) == spec_tree(panel.document.spec)
    panel.document.undo_stack.undo()
    assert panel.document.spec == before
    assert model_tree(panel.model) == spec_tree(before)


def test_ctrl_r_wraps_the_selection_and_the_new_block_is_selected_and_expanded(
    panel: LayerStackPanel, qtbot: Any
) -> None:
    panel.select_paths([at(3)])
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert panel.document.spec.layers[3].type == "Residual"
    assert panel.selected_paths() == [at(3)]
    assert panel.view.isExpanded(panel.model.index_of(at(3)))
    assert panel.unwrap_action.isEnabled()
    panel.unwrap_action.trigger()
    assert panel.document.spec.layers[3].type == "Flatten"
    assert model_tree(panel.model) == spec_tree(panel.document.spec)


def test_ctrl_up_moves_a_nested_layer_within_its_body(panel: LayerStackPanel, qtbot: Any) -> None:
    panel.select_paths([at(1, 0, 2)])
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert panel.selected_paths() == [at(1, 0, 1)]
    assert panel.document.spec.name_of(at(1, 0, 1)) == "conv2d_3"


def test_a_copied_block_pastes_with_its_contents(panel: LayerStackPanel, qtbot: Any) -> None:
    panel.select_paths([at(1)])
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert '"body"' in QGuiApplication.clipboard().text()
    panel.select_paths([at(3)])
    qtbot.keyClick(panel.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    original, pasted = panel.document.spec.layers[1], panel.document.spec.layers[4]
    assert isinstance(pasted, BlockSpec) and isinstance(original, BlockSpec)
    assert pasted.to_json()["body"] == original.to_json()["body"]
    assert panel.selected_paths() == [at(4)]
    assert model_tree(panel.model) == spec_tree(panel.document.spec)


def test_a_layer_dragged_onto_an_empty_branch_goes_into_it_and_back_out(
    panel: LayerStackPanel,
) -> None:
    model, document = panel.model, panel.document
    moved = document.spec.layers[0]
    data = model.mimeData([model.index_of(at(0))])
    empty = model.index(0, 0, model.index(1, 0, model.index_of(at(2))))
    assert model.data(empty, KIND_ROLE) == "empty"
    assert model.dropMimeData(data, MOVE, -1, 0, empty)
    block = document.spec.layers[1]
    assert isinstance(block, BlockSpec) and block.stacks[1][0].type == moved.type
    assert model_tree(model) == spec_tree(document.spec)
    # out again: between the top-level rows, before the flatten
    data = model.mimeData([model.index_of(at(1, 1, 0))])
    assert model.dropMimeData(data, MOVE, 2, 0, QModelIndex())
    assert [x.type for x in document.spec.layers] == ["Residual", "Parallel", "Conv2D", "Flatten"]
    assert model_tree(model) == spec_tree(document.spec)


def test_drops_between_a_blocks_rows_land_in_the_right_sub_stack(panel: LayerStackPanel) -> None:
    model = panel.model
    residual_index, parallel_index = model.index_of(at(1)), model.index_of(at(2))
    assert model.drop_path(1, residual_index) == at(1, 0, 1)
    assert model.drop_path(3, residual_index) == at(1, 0, 3)  # above the merge: the end
    assert model.drop_path(-1, residual_index) == at(1, 0, 3)  # onto the block: the end
    assert model.drop_path(0, parallel_index) == at(2, 0, 0)
    assert model.drop_path(1, parallel_index) == at(2, 0, 1)  # above branch 2: end of 1
    assert model.drop_path(2, parallel_index) == at(2, 1, 0)  # above the merge: end of 2
    branch_2 = model.index(1, 0, parallel_index)
    assert model.drop_path(-1, branch_2) == at(2, 1, 0)


def test_a_palette_residual_block_drops_with_an_empty_body(
    panel: LayerStackPanel, qtbot: Any
) -> None:
    palette = LayerPalette(panel.document)
    qtbot.addWidget(palette)
    data = palette.mimeData([palette_item(palette, "Residual")])
    assert panel.model.dropMimeData(data, COPY, 0, 0, QModelIndex())
    block = panel.document.spec.layers[0]
    assert isinstance(block, BlockSpec) and block.stacks == ((),)
    assert model_tree(panel.model)[0][2] == [("empty", None, []), ("merge", None, [])]


def test_properties_edit_a_blocks_repeat_and_refuse_a_bad_one(
    panel: LayerStackPanel, qtbot: Any
) -> None:
    properties = PropertiesPanel(panel.document)
    qtbot.addWidget(properties)
    properties.show_layer(at(1))
    assert set(properties.editors) == {"shortcut", "merge", "activation", "repeat"}
    properties.editors["repeat"].set_value(4)
    properties.editors["repeat"].value_edited.emit(4)
    block = panel.document.spec.layers[1]
    assert isinstance(block, BlockSpec) and block.repeat == 4
    assert panel.model.data(panel.model.index_of(at(1))).startswith("Residual ×4")
    properties.editors["repeat"].value_edited.emit(0)
    assert not properties.errors["repeat"].isHidden()
    assert "repeat" in properties.errors["repeat"].text()


def test_the_margin_draws_the_shortcut_beside_the_body(panel: LayerStackPanel) -> None:
    view, model = panel.view, panel.model
    QApplication.processEvents()
    image = view.viewport().grab().toImage()
    body = view.visualRect(model.index_of(at(1, 0, 1)))
    block = view.visualRect(model.index_of(at(1)))
    x = block.left() - view.indentation() // 2  # the block's own column in the margin
    colour = image.pixelColor(x, body.center().y())
    expected = type_colour("Residual")
    assert abs(colour.red() - expected.red()) + abs(colour.green() - expected.green()) < 40
    # a flat row has nothing drawn there
    top = view.visualRect(model.index_of(at(0)))
    assert image.pixelColor(x, top.center().y()) != colour


# ---- rows and persistent indexes through any edits -----------------------------------------

_EDIT = st.tuples(
    st.sampled_from(["insert", "remove", "move", "wrap", "unwrap", "branch"]),
    st.integers(0, 40),
    st.integers(0, 40),
)


@settings(max_examples=40, deadline=None)
@given(edits=st.lists(_EDIT, min_size=1, max_size=5), watched=st.integers(0, 8))
@example(edits=[("move", 3, 2)], watched=2)  # a layer moved within its block
def test_any_edits_of_the_tree_keep_the_rows_and_the_watched_layer_right(
    edits: list[tuple[str, int, int]], watched: int
) -> None:
    document = _blocks()
    model = LayerStackModel(document)
    paths = [path for path, _ in document.spec.walk()]
    followed = paths[watched % len(paths)]
    name = document.spec.name_of(followed)
    persistent = QPersistentModelIndex(model.index_of(followed))
    for kind, first, second in edits:
        paths = [path for path, _ in document.spec.walk()]
        if not paths:  # every row removed: the next edit adds one
            document.insert_layers(LayerPath.top(0), [conv(2)])
            continue
        chosen, other = paths[first % len(paths)], paths[second % len(paths)]
        if kind == "insert":
            document.insert_layers(other, [conv(2)])
        elif kind == "remove":
            document.remove_layers([chosen])
        elif kind == "move":
            document.move_layers([chosen], other)
        elif kind == "wrap":
            document.wrap_in_block([chosen], "Parallel" if second % 2 else "Residual")
        elif kind == "unwrap":
            document.unwrap_block(chosen)
        else:
            document.add_branch(chosen)
        assert model_tree(model) == spec_tree(document.spec)
        if persistent.isValid() and model.data(persistent, KIND_ROLE) in ("item", "block"):
            # a row that stayed shows the layer it showed (by name: names are kept)
            assert model.data(persistent, NAME_ROLE) == name
    while document.undo_stack.canUndo():
        document.undo_stack.undo()
        assert model_tree(model) == spec_tree(document.spec)


def test_the_model_passes_the_qt_model_tester_through_block_edits(qtmodeltester: Any) -> None:
    document = _blocks()
    model = LayerStackModel(document)
    qtmodeltester.check(model)
    document.wrap_in_block([at(0)], "Residual")
    document.move_layers([at(3)], at(0, 0, 0))
    document.insert_layers(at(2, 1, 0), [relu(), relu()])
    document.unwrap_block(at(1))
    qtmodeltester.check(model)
    while document.undo_stack.canUndo():
        document.undo_stack.undo()
    qtmodeltester.check(model)


def test_the_summary_indents_nested_rows_and_a_click_selects_the_layer_in_the_stack(
    panel: LayerStackPanel, qtbot: Any
) -> None:
    from explorer.core.summary import input_row, layer_row
    from explorer.ui.editor.summary import SummaryPanel

    summary = SummaryPanel(panel.document)
    qtbot.addWidget(summary)
    summary.show()
    model = summary.model
    analysis = panel.document.analysis
    rows = [model.row_cells(row) for row in range(model.rowCount())]
    expected = [input_row(analysis), *(layer_row(layer) for layer in analysis.walk())]
    assert [row[1:] for row in rows] == [row[1:] for row in expected]  # block subtotals too
    assert rows[2][2] == f"{analysis.layers[1].params:,}"  # residual_1: its body's params
    # the layers inside a block indented by depth, as torchinfo does
    indents = [len(row[0]) - len(row[0].lstrip()) for row in rows]
    assert indents == [0, 0, 0, 2, 2, 2, 0, 2, 0]
    titles = [row[0].strip().split(" ")[0] for row in rows]
    assert titles == [
        "input", "conv2d_1", "residual_1", "conv2d_2", "activation_1", "conv2d_3",
        "parallel_1", "conv2d_4", "flatten_1",
    ]  # fmt: skip
    assert model.path_of(4) == at(1, 0, 1) and model.row_of(at(1, 0, 1)) == 4
    cell = summary.table.visualRect(model.index(4, 0)).center()
    qtbot.mouseClick(summary.table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    assert panel.selected_paths() == [at(1, 0, 1)]


def test_pasting_on_an_empty_branch_row_fills_that_branch(
    panel: LayerStackPanel, qtbot: Any
) -> None:
    panel.select_paths([at(0)])
    panel.copy_action.trigger()
    model = panel.model
    empty = model.index(0, 0, model.index(1, 0, model.index_of(at(2))))
    panel.view.selectionModel().clearSelection()
    panel.view.setCurrentIndex(empty)
    assert panel.selected_paths() == []  # an empty row is never selected, only current
    panel.paste_action.trigger()
    block = panel.document.spec.layers[2]
    assert isinstance(block, BlockSpec) and [x.type for x in block.stacks[1]] == ["Conv2D"]
    assert panel.selected_paths() == [at(2, 1, 0)]


def test_remove_branch_acts_on_the_branch_of_the_current_row(panel: LayerStackPanel) -> None:
    panel.select_paths([at(2)])
    assert panel.add_branch_action.isEnabled() and panel.unwrap_action.isEnabled()
    assert not panel.remove_branch_action.isEnabled()  # a block's own row is in no branch
    panel.add_branch_action.trigger()
    block = panel.document.spec.layers[2]
    assert isinstance(block, BlockSpec) and len(block.stacks) == 3
    panel.select_paths([at(2, 0, 0)])  # the conv of branch 1
    assert panel.remove_branch_action.isEnabled()
    panel.remove_branch_action.trigger()
    block = panel.document.spec.layers[2]
    assert isinstance(block, BlockSpec) and block.stacks == ((), ())
    assert model_tree(panel.model) == spec_tree(panel.document.spec)


def test_the_edit_menu_wraps_and_unwraps(qtbot: Any) -> None:
    from explorer.ui.shell.main_window import MainWindow

    window = MainWindow(_blocks().spec)
    qtbot.addWidget(window)
    try:
        edit = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Edit")
        texts = [action.text() for action in edit.actions()]
        for entry in ("Wrap in &Residual Block", "Wrap in Para&llel Branches", "U&nwrap Block"):
            assert entry in texts
        wrap = next(a for a in edit.actions() if a.text() == "Wrap in &Residual Block")
        assert wrap.shortcut().toString() == "Ctrl+R"
        window.stack.select_paths([at(0)])
        wrap.trigger()
        assert window.document.spec.layers[0].type == "Residual"
        assert window.properties.path == at(0)  # Properties shows the new block
        assert set(window.properties.editors) == {"shortcut", "merge", "activation", "repeat"}
    finally:
        window.recovery.timer.stop()
        window.document.undo_stack.setClean()


@pytest.mark.parametrize("steps", [1, -1])
def test_moving_a_layer_past_a_collapsed_block_keeps_it_collapsed_and_the_layer_selected(
    qtbot: Any, steps: int
) -> None:
    # conv2d_1, residual_1 [conv2d_2, activation_1], conv2d_3, conv2d_4
    document = ProjectDocument(network(conv(), residual(conv(), relu()), conv(), conv()))
    panel = LayerStackPanel(document)
    qtbot.addWidget(panel)
    panel.show()
    view, model = panel.view, panel.model
    block = QPersistentModelIndex(model.index_of(at(1)))
    view.collapse(model.index_of(at(1)))
    moving = at(0) if steps == 1 else at(2)  # down past the block, or up past it
    panel.select_paths([moving])
    removed: list[tuple[int, int]] = []
    model.rowsRemoved.connect(lambda parent, first, last: removed.append((first, last)))
    assert document.move_by([moving], steps)
    qtbot.wait(1)
    assert model_tree(model) == spec_tree(document.spec)
    # the block's row stayed (its index too): the layer's row went and came back
    assert block.isValid() and model.path_of(QModelIndex(block)) in (at(0), at(1), at(2))
    assert not view.isExpanded(QModelIndex(block))
    assert len(removed) == 1 and removed[0][0] == removed[0][1]
    qtbot.waitUntil(lambda: panel.selected_paths() == [at(1)])  # one place on: row 1


def test_moving_the_first_row_to_the_end_past_blocks_takes_out_that_row_alone(
    qtbot: Any,
) -> None:
    document = ProjectDocument(network(conv(), *[residual(conv(), relu()) for _ in range(6)]))
    panel = LayerStackPanel(document)
    qtbot.addWidget(panel)
    model = panel.model
    removed: list[tuple[int, int]] = []
    model.rowsRemoved.connect(lambda parent, first, last: removed.append((first, last)))
    assert document.move_layers([at(0)], at(7))
    assert model_tree(model) == spec_tree(document.spec)
    assert removed == [(0, 0)]  # not the six blocks it passed


def test_blocks_renamed_behind_an_edit_keep_their_rows_and_show_the_new_analysis() -> None:
    # Unnamed layers in blocks: removing the first convolution renumbers every later one,
    # so each later block comes back a new object with its layers' names written out.
    blocks = [residual(conv(4), relu()) for _ in range(6)]
    document = ProjectDocument(network(*blocks))
    model = LayerStackModel(document)
    before = document.spec
    inner = [at(row, 0, 1) for row in range(1, 6)]  # each later block's ReLU
    kept = [QPersistentModelIndex(model.index_of(path)) for path in inner]
    names = [model.data(index, NAME_ROLE) for index in kept]
    removed: list[tuple[int, int]] = []
    model.rowsAboutToBeRemoved.connect(lambda parent, first, last: removed.append((first, last)))

    document.remove_layers([at(0, 0, 0)])

    assert all(document.spec.layers[row] is not before.layers[row] for row in range(1, 6))
    assert removed == [(0, 0)]  # the convolution's row alone
    assert [model.data(index, NAME_ROLE) for index in kept] == names
    assert [model.index_of(path) for path in inner] == [QModelIndex(index) for index in kept]
    assert model_tree(model) == spec_tree(document.spec)
    for path, _ in document.spec.walk():
        node = model.node(model.index_of(path))
        assert node is not None and node.shown is document.analysis.at(path)
        assert node.item is document.spec.at(path)
