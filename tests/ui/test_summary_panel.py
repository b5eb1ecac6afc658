"""The Summary panel's totals read as one line each at the panel's real width."""

from __future__ import annotations

from typing import Any

import pytest

from explorer.core.templates import load_template, template_names
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
    qtbot.waitUntil(lambda: not panel.totals_pending)  # they follow on the next turn
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
