"""A damaged run folder never stops the window from installing its panels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from explorer.ui.shell.main_window import MainWindow
from explorer.ui.shell.workbench import Workbench
from explorer.ui.training.runs import RunsPanel
from tests.core.test_train_runs import BAD_LINES, write_run
from tests.ui.conftest import tick_run
from tests.ui.test_training import tiny_spec


def test_the_workbench_installs_with_damaged_runs_and_lists_them_as_damaged(
    qtbot: Any, tmp_path: Path, message_boxes: Any
) -> None:
    runs = tmp_path / "runs"
    for index, bad in enumerate(BAD_LINES):
        folder = write_run(runs / f"2026010{index % 10}-00000{index}-bad")
        with folder.metrics_path.open("ab") as stream:
            stream.write(bad + b"\n")
    write_run(runs / "20270101-000000-good")
    window = MainWindow(tiny_spec())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    workbench = Workbench(window, runs_root=runs, warm_up=False)
    try:
        assert {"trainingDock", "runsDock", "inspectDock", "evaluationDock"} <= set(window.docks)
        panel = window.docks["runsDock"].widget()
        assert isinstance(panel, RunsPanel)
        qtbot.waitUntil(lambda: not panel.listing.busy)  # many folders: read in the background
        rows = {record.name: record for record in panel.records}
        assert len(rows) == len(BAD_LINES) + 1
        assert panel.cell(runs / "20270101-000000-good", "Status") == "incomplete"
        damaged = [name for name in rows if panel.cell(runs / name, "Status").endswith("(damaged)")]
        assert len(damaged) == len(BAD_LINES)
        tips = [panel.tool_tip(runs / name).splitlines()[1] for name in damaged]
        assert all(tip.startswith("metrics.jsonl: skipped line 6") for tip in tips)
        # The readable part of a damaged run still draws: tick one and its curve is overlaid.
        tick_run(panel, runs / damaged[0], True)
        assert list(panel.ticked_runs()[0].curves.train_loss) == [1.0, 1.0, 1.0]
        assert message_boxes.shown == []
    finally:
        workbench.shutdown()
        window.recovery.timer.stop()
