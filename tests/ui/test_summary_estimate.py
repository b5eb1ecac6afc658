"""The Summary panel works the training-memory estimate of a deep network out over several
turns of the event loop, and the totals it shows are those of the spec shown, even when
edits come faster than the estimate."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from explorer.core.analysis import analyze
from explorer.core.memory import WALK_SLICE
from explorer.core.paths import LayerPath
from explorer.core.summary import summary_totals
from explorer.ui.common.document import ProjectDocument
from explorer.ui.editor.summary import SummaryPanel
from tests.ui.test_deep_networks import deep_spec


def _scratch_totals(document: ProjectDocument) -> str:
    spec = replace(document.spec)  # worked out again, from nothing
    return "\n".join(summary_totals(spec, analyze(spec)))


def test_a_deep_networks_totals_take_several_turns_and_end_as_from_scratch(qtbot: Any) -> None:
    document = ProjectDocument(deep_spec(2 * WALK_SLICE))
    panel = SummaryPanel(document)
    qtbot.addWidget(panel)
    turns = []
    panel._totals_timer.timeout.connect(lambda: turns.append(panel.totals_pending))
    qtbot.waitUntil(lambda: not panel.totals_pending)
    assert len(turns) > 1 and turns[:-1] == [True] * (len(turns) - 1)
    assert panel.totals.text() == _scratch_totals(document)


def test_an_edit_while_the_estimate_is_worked_out_shows_the_edited_networks(
    qtbot: Any,
) -> None:
    document = ProjectDocument(deep_spec(2 * WALK_SLICE))
    panel = SummaryPanel(document)
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: not panel.totals_pending)
    shown = panel.totals.text()
    for filters in (6, 9):  # the second edit before the first one's estimate is done
        conv = document.spec.layers[4]
        document.replace_layer(LayerPath.top(4), conv.with_values(filters=filters))
        assert panel.totals_pending and panel.totals.text() == shown
    qtbot.waitUntil(lambda: not panel.totals_pending)
    assert panel.totals.text() == _scratch_totals(document) != shown
    document.undo_stack.undo()  # an analysis seen before: its estimate is kept
    qtbot.waitUntil(lambda: not panel.totals_pending)
    assert panel.totals.text() == _scratch_totals(document)
