"""The Summary panel: totals read as one line each at the panel's real width; a deep
network's table formats only the rows it measures or shows."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtGui import QFontMetrics

from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.core.summary import summary_totals
from explorer.core.templates import load_template, template_names
from explorer.ui.common.document import ProjectDocument
from explorer.ui.editor import summary as summary_module
from explorer.ui.editor.summary import SummaryPanel
from explorer.ui.shell.main_window import MainWindow


@pytest.mark.parametrize("template", template_names())
def test_totals_never_wrap_in_the_summary_of_a_1280_by_800_window(
    window: MainWindow, qtbot: Any, template: str
) -> None:
    # The first-run window on the tests' 1280×800 screen (conftest), frame allowed for.
    assert window.screen().size().toTuple() == (1280, 800)
    assert window.width() >= 1270 and window.height() >= 790
    window.document.reset(load_template(template))
    panel = window.summary
    expected = "\n".join(summary_totals(window.document.spec, window.document.analysis))
    qtbot.waitUntil(lambda: panel.totals.text() == expected)  # they follow on the next turn
    panel.layout().activate()
    assert panel.width() >= 600  # the Summary dock as the window lays it out (634 px here)
    totals = panel.totals
    lines = totals.text().split("\n")
    assert any(line.endswith(" MB") or line.endswith(" GB") for line in lines)
    metrics = totals.fontMetrics()
    room = totals.contentsRect().width()
    for line in lines:
        assert metrics.horizontalAdvance(line) <= room, line
    # Exactly one text line per total: nothing broke "48.90" from "MB".
    assert not totals.wordWrap()
    assert totals.height() >= len(lines) * metrics.lineSpacing()
    # The diagnostics beside them keep the rest of the width.
    assert panel.diagnostics.geometry().left() > totals.geometry().right()
    assert panel.diagnostics.geometry().right() <= panel.width()


def _deep(layers: int) -> NetworkSpec:
    convs = [
        LayerSpec.create("Conv2D", {"filters": 2, "kernel_size": 3, "padding": "same"})
        for _ in range(layers - 2)
    ]
    return NetworkSpec(
        input=InputSpec(1, 4, 4),
        layers=(*convs, LayerSpec.new("Flatten"), LayerSpec.create("Dense", {"units": 10})),
    )


def _shown_deep_panel(qtbot: Any) -> tuple[ProjectDocument, SummaryPanel]:
    """A summary of 1,500 layers, shown."""
    document = ProjectDocument(_deep(1500))
    panel = SummaryPanel(document)
    qtbot.addWidget(panel)
    panel.resize(700, 400)
    panel.show()
    qtbot.waitExposed(panel)
    return document, panel


def test_a_deep_summary_fits_its_columns_to_the_first_rows_and_grows_them_when_scrolled(
    qtbot: Any,
) -> None:
    document, panel = _shown_deep_panel(qtbot)
    model, table = panel.model, panel.table
    advance = QFontMetrics(table.font()).horizontalAdvance("0")
    first = [model.row_cells(row)[0] for row in range(1000)]
    fitted = advance * max(map(len, first)) + 16  # "conv2d_999 (Conv2D)"
    # (1,500 rows: fitted in a turn of its own, after the table has taken them in)
    qtbot.waitUntil(lambda: table.columnWidth(0) == fitted)
    table.scrollToBottom()
    qtbot.waitUntil(lambda: table.rowAt(0) > 1000)
    assert model.row_cells(1400)[0] == "conv2d_1400 (Conv2D)"
    assert table.columnWidth(0) == advance * len("conv2d_1400 (Conv2D)") + 16
    document.replace_layer(LayerPath.top(0), document.spec.layers[0].with_values(filters=3))
    assert model.row_cells(1)[1] == "(3, 4, 4)"
    assert model.data(model.index(1, 1)) == "(3, 4, 4)"


def test_a_scroll_before_a_deep_summary_is_fitted_leaves_the_full_fit_to_come(
    qtbot: Any,
) -> None:
    document, panel = _shown_deep_panel(qtbot)
    model, table = panel.model, panel.table
    qtbot.waitUntil(lambda: not panel._fit_timer.isActive())
    table.setColumnWidth(0, 20)  # too narrow for any name
    document.reset(_deep(1400))
    assert panel._fit_timer.isActive()
    panel._on_table_scrolled()  # as a scroll in the meantime would
    qtbot.waitUntil(lambda: not panel._fit_timer.isActive())
    advance = QFontMetrics(table.font()).horizontalAdvance("0")
    longest = max(len(model.row_cells(row)[0]) for row in range(1000))
    assert table.columnWidth(0) == advance * longest + 16


def test_a_deep_summary_formats_the_rows_it_measures_a_few_hundred_a_turn(qtbot: Any) -> None:
    document, panel = _shown_deep_panel(qtbot)
    model, table = panel.model, panel.table
    qtbot.waitUntil(lambda: not panel._fit_timer.isActive())
    formatted: list[int] = []
    row_lengths = model.row_lengths
    model.row_lengths = lambda row: formatted.append(row) or row_lengths(row)  # type: ignore[method-assign]
    document.reset(_deep(1400))
    table.setColumnWidth(0, 20)  # too narrow for any name (the header's least width)
    narrow = table.columnWidth(0)
    turns = 0
    while panel._fit_timer.isActive():
        panel._fit_timer.stop()
        before = len(set(formatted))
        panel._on_fit_timer_timeout()  # one turn's work
        turns += 1
        # rows formatted anew (a row formatted before is measured from its kept texts)
        assert len(set(formatted)) - before <= summary_module._FIT_AT_ONCE_ROWS
        if panel._fit_timer.isActive():
            assert table.columnWidth(0) == narrow  # measured once all are formatted
    measured = summary_module._FIT_ROWS
    assert turns == -(-measured // summary_module._FIT_AT_ONCE_ROWS)
    assert set(range(measured)) <= set(formatted)
    advance = QFontMetrics(table.font()).horizontalAdvance("0")
    longest = max(len(model.row_cells(row)[0]) for row in range(measured))
    assert table.columnWidth(0) == advance * longest + 16
