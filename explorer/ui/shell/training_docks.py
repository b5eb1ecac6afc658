"""The training feature in the main window: its controller, the Training, Training Curves,
Layer Health, Map Timeline and Runs docks, the Training menu and the tool bar's Train/Pause/Stop.

The docks go beside the editor's panels as tabs (the curves get the Summary's room, which a
1280×800 window cannot spare for one more dock); starting a run raises the Training and
Curves tabs, selecting a layer does not. With `warm_up`, torch, the dataset and the first
training step are prepared in the background shortly after the window shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from explorer.ui.shell.main_window import MainWindow
from explorer.ui.training.controller import TrainingController
from explorer.ui.training.curves import TrainingCurves
from explorer.ui.training.health_view import HealthView
from explorer.ui.training.panel import TrainingPanel
from explorer.ui.training.runs import RunRecord, RunsPanel
from explorer.ui.training.sweep_dialog import SweepDialog
from explorer.ui.training.sweep_view import SweepView
from explorer.ui.training.timeline_view import TimelineView

if TYPE_CHECKING:
    from explorer.core.health_advice import HealthAdvice

#: How long after the window is built the warm-up starts: the window paints first.
WARM_UP_DELAY_MS = 300


class TrainingDocks(QObject):
    """Makes the training controller and its views for the window's document and adds
    them to the window; `shutdown()` (also on the window's `closing`) stops the run."""

    #: The live run's unhealthy layers, dict[LayerPath, HealthAdvice] of the editor's
    #: network (empty when none, or while a finished run's health is shown): for badges.
    layer_health_changed = Signal(object)

    def __init__(
        self,
        window: MainWindow,
        *,
        runs_root: str | Path | None = None,
        data_dir: str | Path | None = None,
        warm_up: bool = True,
    ) -> None:
        super().__init__(window)
        document = self._document = window.document
        self.controller = TrainingController(
            document, runs_root=runs_root, data_dir=data_dir, parent=window
        )
        self.curves = TrainingCurves()
        self.panel = TrainingPanel(self.controller, self.curves)
        self.runs = RunsPanel(document, self.curves, self.controller.runs_root)
        self.controller.run_ended.connect(self.runs.add_run)
        # A dataset Train just downloaded is now cached: the picker says so.
        self.controller.dataset_loaded.connect(self.panel.populate_datasets)

        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.training_dock = window.add_dock("Training", self.panel, right, "trainingDock")
        self.curves_dock = window.add_dock(
            "Training Curves", self.curves, right, "trainingCurvesDock"
        )
        self.runs_dock = window.add_dock("Runs", self.runs, right, "runsDock")
        # Layer health: the live run's as it trains, a finished run's when it is selected.
        self.health = HealthView()
        self.health_dock = window.add_dock("Layer Health", self.health, right, "layerHealthDock")
        self.controller.training_started.connect(self.health.clear)
        self.controller.health_reported.connect(self.health.add_records)
        self.health.layer_health_changed.connect(self._on_health_layer_health_changed)
        self.layer_health_changed.connect(window.stack.model.set_health)  # the rows' badges
        # The probe image's feature maps over the run: live frames, or a selected run's.
        self.timeline = TimelineView()
        self.timeline_dock = window.add_dock(
            "Map Timeline", self.timeline, right, "mapTimelineDock"
        )
        self.controller.training_started.connect(self.timeline.clear)
        self.controller.timeline_reported.connect(self.timeline.add_frames)
        self.runs.current_run_changed.connect(self._on_runs_current_run_changed)
        self.runs.live_run = self._live_run
        window.tabifyDockWidget(window.properties_dock, self.training_dock)
        window.tabifyDockWidget(self.training_dock, self.runs_dock)
        window.tabifyDockWidget(window.summary_dock, self.curves_dock)
        window.tabifyDockWidget(self.curves_dock, self.health_dock)
        window.tabifyDockWidget(self.health_dock, self.timeline_dock)
        self.controller.training_started.connect(self._on_training_started)
        self.panel.train_action.triggered.connect(self._on_training_started)

        panel = self.panel
        run_actions = [panel.train_action, panel.pause_action, panel.stop_action]
        self.menu = window.menus.add_menu("&Training")
        self.menu.addActions(run_actions)
        self.menu.addSeparator()
        export_png = self.menu.addAction("Export Curves as &PNG…")
        export_png.triggered.connect(panel.export_png)
        export_csv = self.menu.addAction("Export Curves as &CSV…")
        export_csv.triggered.connect(panel.export_csv)
        export_gif = self.menu.addAction("Export Map Timeline as &GIF…")
        export_gif.triggered.connect(self.timeline.ask_export_gif)
        export_frames = self.menu.addAction("Export Map Timeline as MP4 &Frames…")
        export_frames.triggered.connect(self.timeline.ask_export_frames)
        self.menu.addSeparator()
        self.sweep_action = self.menu.addAction("S&weep…")
        self.sweep_action.setShortcut("F8")
        self.sweep_action.triggered.connect(self.open_sweep)
        self.sweeps: list[SweepView] = []
        self._data_dir = data_dir
        window.menus.add_tool_actions(run_actions)
        # Emitted only once the window has agreed to close: a cancelled "save changes?"
        # keeps training running.
        window.closing.connect(self.shutdown)
        if warm_up:
            QTimer.singleShot(WARM_UP_DELAY_MS, self.controller.warm_up)
        else:
            QTimer.singleShot(0, panel.populate_datasets)

    def raise_run_docks(self) -> None:
        """Bring the Training and Training Curves tabs to the front."""
        for dock in (self.training_dock, self.curves_dock):
            dock.show()
            dock.raise_()

    @Slot()
    def open_sweep(self) -> SweepView | None:
        """Ask for a sweep of the current network and open its window (not started)."""
        window = self.parent()
        assert isinstance(window, MainWindow)
        dialog = SweepDialog(window.document.spec, self.controller.runs_root, window)
        if dialog.exec() != SweepDialog.DialogCode.Accepted or dialog.plan is None:
            return None
        view = SweepView(dialog.plan, self._data_dir, window)
        self.sweeps.append(view)
        view.show()
        return view

    @Slot()
    def shutdown(self) -> None:
        """Stop training, any download and the sweeps, waiting for their threads (safe to
        repeat)."""
        self.panel.shutdown()
        self.runs.shutdown()
        for view in self.sweeps:
            view.queue.shutdown()

    @Slot(object)
    def _on_health_layer_health_changed(self, advice: dict[str, HealthAdvice]) -> None:
        from explorer.core.health_advice import advice_by_path

        live = self.controller.is_running
        self.layer_health_changed.emit(advice_by_path(self._document.spec, advice) if live else {})

    def _live_run(self) -> Path | None:
        """The folder the controller is training into now (the Runs panel keeps it)."""
        return self.controller.run_dir if self.controller.is_running else None

    @Slot(object)
    def _on_runs_current_run_changed(self, record: object) -> None:
        if isinstance(record, RunRecord) and not self.controller.is_running:
            self.health.load_run(record.path)
            self.timeline.load_run(record.path)

    @Slot()
    def _on_training_started(self) -> None:
        self.raise_run_docks()
