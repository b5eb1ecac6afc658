"""Training ▸ Profile Training Step: the profile runs off the GUI thread and its measured
columns appear in the Summary beside the estimates, until the next edit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu

from explorer.core.profiling import profile_network
from explorer.core.summary import COLUMNS
from explorer.ui.editor.summary import PROFILE_COLUMNS, SummaryPanel
from explorer.ui.shell.main_window import MainWindow
from explorer.ui.shell.profile_actions import ProfileActions
from explorer.ui.shell.workbench import Workbench
from tests.ui.conftest import workbench_in_window
from tests.ui.test_training import tiny_spec

TIMEOUT_MS = 60_000
FIRST_MEASURED = COLUMNS.index("Memory") + 1


def small_spec() -> Any:
    spec = tiny_spec()
    return replace(spec, training=spec.training.with_values(batch_size=8, device="cpu"))


@pytest.fixture
def bench(qtbot: Any, tmp_path: Path, message_boxes: Any) -> Iterator[Workbench]:
    yield from workbench_in_window(qtbot, small_spec(), tmp_path / "runs")


def test_summary_shows_measured_columns_until_an_edit(qtbot: Any, window: MainWindow) -> None:
    panel: SummaryPanel = window.summary
    profile = profile_network(window.document.spec, 4, "cpu")
    panel.show_profile(profile, None)
    model = panel.model
    # the measured columns beside the estimated memory, the receptive field after them
    assert model.headers == COLUMNS[:5] + PROFILE_COLUMNS + COLUMNS[5:]
    assert model.columnCount() == len(COLUMNS) + len(PROFILE_COLUMNS)
    first = FIRST_MEASURED
    conv = model.index(1, first)  # row 0 is the input
    assert model.data(conv) == f"{profile.layers[0].forward_ms:.3f}"
    assert model.headerData(first + 3, Qt.Orientation.Horizontal) == "Peak"
    assert model.data(model.index(1, first - 1)) == "72.00 KB"  # estimated, per image
    assert model.data(model.index(1, first + 4)) == "5 /1"  # the receptive field
    right = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    assert model.data(conv, Qt.ItemDataRole.TextAlignmentRole) == right
    assert panel.profile_shown and "Peak memory:" in panel.profile_label.text()
    # an edit: the numbers measured another network
    document = window.document
    document.edit(replace(document.spec, name="changed"), "rename")
    assert model.columnCount() == len(COLUMNS)
    assert not panel.profile_shown


def test_profile_action_fills_the_summary(qtbot: Any, bench: Workbench) -> None:
    window = bench.window
    actions: ProfileActions = bench.profile
    menu = bench.training_docks.menu
    assert actions.action in menu.actions()
    actions.budget_bytes = 2**40
    actions.cap = 4  # the search stops at the cap: three tries, quick
    actions.action.trigger()
    assert not actions.action.isEnabled()
    qtbot.waitUntil(lambda: window.summary.profile_shown, timeout=TIMEOUT_MS)
    model = window.summary.model
    measured = slice(FIRST_MEASURED, FIRST_MEASURED + len(PROFILE_COLUMNS))
    assert model.headers[measured] == PROFILE_COLUMNS
    for row in range(1, model.rowCount()):
        forward = float(model.data(model.index(row, FIRST_MEASURED)))
        assert forward > 0
        assert model.data(model.index(row, FIRST_MEASURED + 3)).endswith("B")
    text = window.summary.profile_label.text()
    assert "batch 8" in text and "Largest batch: 4 " in text
    assert actions.action.isEnabled()
    grab = window.summary.grab()
    assert not grab.isNull()


def test_profile_of_a_broken_network_says_so(qtbot: Any, bench: Workbench) -> None:
    from explorer.core.spec import LayerSpec

    document = bench.document
    broken = replace(
        document.spec,
        layers=(LayerSpec.create("Conv2D", {"filters": 2, "kernel_size": 99}),),
    )
    document.edit(broken, "break it")
    bench.profile.action.trigger()
    assert "fix the network" in bench.window.statusBar().currentMessage()
    assert not bench.profile.runner.busy
    assert isinstance(bench.training_docks.menu, QMenu)


def test_an_edit_while_profiling_drops_the_result(qtbot: Any, bench: Workbench) -> None:
    actions: ProfileActions = bench.profile
    actions.search = False
    actions.action.trigger()
    document = bench.document
    document.edit(replace(document.spec, name="renamed"), "rename")
    assert "Profile dropped" in bench.window.statusBar().currentMessage()
    assert actions.action.isEnabled()
    qtbot.waitUntil(lambda: actions.runner.running_thread is None, timeout=TIMEOUT_MS)
    qtbot.wait(50)  # a late result would arrive through the event loop now
    assert not bench.window.summary.profile_shown
