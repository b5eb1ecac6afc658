"""A deep network in the whole window: what the GUI thread does for it stays bounded by
what is on screen (hidden panels draw nothing, lists re-lay out nothing)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics

from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.core.summary import COLUMNS
from explorer.ui.editor.summary import SummaryTableModel
from explorer.ui.shell.main_window import MainWindow
from explorer.ui.shell.workbench import Workbench


def deep_spec(pairs: int, classes: int = 10) -> NetworkSpec:
    """`pairs` × (Conv2D 'same' + ReLU) on a 6×6 map, then Flatten and the class layer."""
    layers = []
    for _ in range(pairs):
        layers.append(
            LayerSpec.create("Conv2D", {"filters": 2, "kernel_size": 3, "padding": "same"})
        )
        layers.append(LayerSpec.create("Activation", {"function": "relu"}))
    layers += [LayerSpec.create("Flatten"), LayerSpec.create("Dense", {"units": classes})]
    return NetworkSpec(input=InputSpec(1, 6, 6), num_classes=classes, layers=tuple(layers))


def test_a_hidden_inspect_panel_draws_no_layer_of_a_deep_network(qtbot: Any) -> None:
    window = MainWindow(deep_spec(200))
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: not window.document.analysing, timeout=60_000)  # in the background
    bench = Workbench(window, warm_up=False)
    try:
        window.summary_dock.raise_()
        maps = bench.inspect.feature_maps
        qtbot.waitUntil(lambda: not maps.on_screen(), timeout=5000)
        # Hidden, it captures nothing (no model built beside the edits) and makes no row.
        controller = bench.inspect.controller
        qtbot.waitUntil(lambda: not controller.busy, timeout=60_000)
        row = next(
            i for i, layer in enumerate(window.document.spec.layers) if i and layer.type == "Conv2D"
        )
        window.document.replace_layer(
            LayerPath.top(row), window.document.spec.layers[row].with_values(filters=3)
        )
        qtbot.wait(100)
        assert controller.held and not controller.busy and maps.result is None
        assert maps.model.rowCount() == 0 and sorted(maps.delegate.images) == []

        # Shown, it captures the network as edited and draws the rows on screen.
        bench.inspect_dock.raise_()
        qtbot.waitUntil(
            lambda: maps.result is not None and maps.result.layers[row].shape[0] == 3,
            timeout=60_000,
        )
        qtbot.waitUntil(lambda: bool(sorted(maps.delegate.images)), timeout=10_000)
        assert maps.model.rowCount() == 403
        coloured = sorted(maps.delegate.images)
        viewport = maps.view.viewport().rect()
        assert all(
            maps.view.visualRect(maps.model.index(r, 0)).intersects(viewport) for r in coloured
        )
        assert len(coloured) < 30  # of 403 rows
    finally:
        bench.shutdown()
        window.recovery.timer.stop()
        window.document.undo_stack.setClean()


def test_an_edit_that_keeps_the_rows_asks_no_row_height_again(window: MainWindow) -> None:
    # Without SizeHintRole among the roles, QListView repaints without laying out every row.
    model = window.stack.model
    changed: list[list[int]] = []
    model.dataChanged.connect(lambda first, last, roles: changed.append(list(roles)))
    spec = window.document.spec
    window.document.replace_layer(LayerPath.top(0), spec.layers[0].with_values(filters=33))
    assert changed and changed[-1]
    assert Qt.ItemDataRole.SizeHintRole not in changed[-1]
    assert Qt.ItemDataRole.DisplayRole in changed[-1]


def _summary_rows(model: SummaryTableModel) -> list[tuple[str, ...]]:
    return [model.row_cells(row) for row in range(model.rowCount())]


def test_summary_columns_fit_their_longest_text(qtbot: Any) -> None:
    window = MainWindow(deep_spec(60))
    qtbot.addWidget(window)
    try:
        table = window.summary.table
        metrics = QFontMetrics(table.font())
        for column in range(len(COLUMNS) - 1):
            texts = [row[column] for row in _summary_rows(window.summary.model)]
            widest = max(metrics.horizontalAdvance(text) for text in texts)
            assert table.columnWidth(column) >= widest, COLUMNS[column]
    finally:
        window.recovery.timer.stop()


def test_undo_and_redo_reuse_the_analysis_of_the_spec_they_return_to(window: MainWindow) -> None:
    from explorer.core.analysis import analyze
    from explorer.core.summary import table_rows

    document = window.document
    before = document.analysis
    document.replace_layer(LayerPath.top(0), document.spec.layers[0].with_values(filters=7))
    after = document.analysis
    assert after is not before and after.layers[0].output_shape[0] == 7
    document.undo_stack.undo()
    assert document.analysis is before and document.analysis == analyze(document.spec)
    assert _summary_rows(window.summary.model) == table_rows(before)
    document.undo_stack.redo()
    assert document.analysis is after and document.analysis == analyze(document.spec)
    assert _summary_rows(window.summary.model) == table_rows(after)
    assert _summary_rows(window.summary.model)[1][1] == "(7, 24, 24)"


def test_an_edit_of_a_deep_network_formats_only_the_rows_it_changed(qtbot: Any) -> None:
    from explorer.core.analysis import analyze
    from explorer.core.summary import table_rows

    window = MainWindow(deep_spec(100))
    qtbot.addWidget(window)
    try:
        document, model = window.document, window.summary.model
        before = list(_summary_rows(model))
        document.replace_layer(LayerPath.top(100), document.spec.layers[100].with_values(filters=3))

        assert document.analysis == analyze(document.spec)
        assert _summary_rows(model) == table_rows(document.analysis)
        # the rows of the layers before the edit, and after its effect ends (the next
        # convolution makes 2 channels again, from 3), are the very tuples shown before
        kept = [row for row in range(len(before)) if _summary_rows(model)[row] is before[row]]
        assert kept == [*range(1, 101), *range(104, 202)]
        assert _summary_rows(model)[101][1:3] == ("(3, 6, 6)", "57")
        assert _summary_rows(model)[102][1] == "(3, 6, 6)"  # the ReLU after it
        assert _summary_rows(model)[103][1:3] == ("(2, 6, 6)", "56")
    finally:
        window.recovery.timer.stop()


def test_the_totals_follow_an_edit_on_the_next_turn_of_the_event_loop(qtbot: Any) -> None:
    from explorer.core.summary import summary_totals

    window = MainWindow(deep_spec(100))
    qtbot.addWidget(window)
    try:
        document, panel = window.document, window.summary
        # not even the first estimate holds up the window: it follows the window's start
        assert "_memory" not in document.analysis.__dict__
        shown = "\n".join(summary_totals(document.spec, document.analysis))
        qtbot.waitUntil(lambda: panel.totals.text() == shown)
        document.replace_layer(LayerPath.top(0), document.spec.layers[0].with_values(filters=8))
        # the edit itself does not walk the network's autograd nodes for the estimate
        assert panel.totals.text() == shown
        assert "_memory" not in document.analysis.__dict__
        expected = "\n".join(summary_totals(document.spec, document.analysis))
        assert expected != shown
        qtbot.waitUntil(lambda: panel.totals.text() == expected)
    finally:
        window.recovery.timer.stop()
