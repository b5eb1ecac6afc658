"""The Runs menu of the workbench: Resume Stopped Run, Load Ensemble Run, Refresh List.

Resume continues the selected (or the latest) stopped run from its checkpoint, as
`train --resume` does, and so does the Runs panel's own Resume; both show the run in the
Training and Training Curves tabs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from explorer.core.app.trained_weights import TrainedWeights
from explorer.ui.shell.ensemble_results import EnsembleResults
from explorer.ui.training.runs import RunsPanel

if TYPE_CHECKING:
    from explorer.ui.shell.workbench import Workbench


class RunsMenu(QObject):
    """Adds the Runs menu to the bench's window (ensembles' entries in it, `ensembles`)."""

    def __init__(self, bench: Workbench, trained: TrainedWeights) -> None:
        super().__init__(bench)
        self._bench = bench
        self._docks = docks = bench.training_docks
        self.menu = bench.window.menus.add_menu("&Runs")
        self.menu.setObjectName("runsMenu")
        self.resume_action = self.menu.addAction("&Resume Stopped Run")
        self.resume_action.setToolTip(
            "Continue the selected (or the latest) stopped run from its checkpoint, as "
            "`train --resume` does"
        )
        self.resume_action.triggered.connect(self._on_resume_action_triggered)
        self.ensembles = EnsembleResults(bench, trained, self.menu)
        refresh = self.menu.addAction("Re&fresh List")
        refresh.triggered.connect(self._on_refresh_triggered)
        self.menu.aboutToShow.connect(self._on_menu_about_to_show)
        docks.when_runs_built(self._connect_runs)

    def resume(self, run_dir: str) -> bool:
        """Continue the run in `run_dir` from its checkpoint."""
        self._docks.prepare_run()
        started = self._docks.controller.resume_run(run_dir)
        if started:
            self._docks.raise_run_docks()
        return started

    def _connect_runs(self, runs: RunsPanel) -> None:
        runs.resume_requested.connect(self._on_runs_resume_requested)

    @Slot()
    def _on_refresh_triggered(self) -> None:
        self._docks.runs.refresh()

    @Slot()
    def _on_menu_about_to_show(self) -> None:
        self.resume_action.setEnabled(
            not self._docks.controller.is_running and self._docks.runs.run_to_resume() is not None
        )

    @Slot()
    def _on_resume_action_triggered(self) -> None:
        record = self._docks.runs.run_to_resume()
        if record is None:
            self._bench.window.statusBar().showMessage("No stopped run to resume", 6000)
            return
        self.resume(str(record.path))

    @Slot(str)
    def _on_runs_resume_requested(self, path: str) -> None:
        self.resume(path)
