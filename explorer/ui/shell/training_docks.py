"""The training feature in the main window: its controller, the Training, Training Curves,
Layer Health, Map Timeline and Runs docks, the Training menu and the tool bar's Train/Pause/Stop.

The docks go beside the editor's panels as tabs (the curves get the Summary's room, which a
1280×800 window cannot spare for one more dock); starting a run raises the Training and
Curves tabs, selecting a layer does not. With `warm_up`, torch, the dataset and the first
training step are prepared in the background shortly after the window shows.

The docks are there from the start; their panels are built later (`deferred.py`): the
curves, the Training panel (whose Train/Pause/Stop then join the menu and tool bar), the
runs and the timeline one per turn, the layer health (too big for one turn) when its
tab is shown or a run reports health.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QDockWidget, QWidget

from explorer.ui.shell.deferred import BuildQueue, Deferred, DeferredDock
from explorer.ui.shell.main_window import MainWindow
from explorer.ui.training.controller import TrainingController
from explorer.ui.training.curves import TrainingCurves, loss_graphics, with_accuracy_plot
from explorer.ui.training.health_view import HealthPlots, HealthView
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
        queue: BuildQueue | None = None,
    ) -> None:
        super().__init__(window)
        self._window = window
        document = self._document = window.document
        self.controller = controller = TrainingController(
            document, runs_root=runs_root, data_dir=data_dir, parent=window
        )
        self._warms_up = warm_up
        self._data_dir = data_dir

        def dock(title: str, name: str) -> QDockWidget:
            right = Qt.DockWidgetArea.RightDockWidgetArea
            return window.add_dock(title, QWidget(), right, name, dock_type=DeferredDock)

        self.training_dock = dock("Training", "trainingDock")
        self.curves_dock = dock("Training Curves", "trainingCurvesDock")
        self.runs_dock = dock("Runs", "runsDock")
        # Layer health: the live run's as it trains, a finished run's when it is selected.
        self.health_dock = dock("Layer Health", "layerHealthDock")
        # The probe image's feature maps over the run: live frames, or a selected run's.
        self.timeline_dock = dock("Map Timeline", "mapTimelineDock")
        window.tabifyDockWidget(window.properties_dock, self.training_dock)
        window.tabifyDockWidget(self.training_dock, self.runs_dock)
        window.tabifyDockWidget(window.summary_dock, self.curves_dock)
        window.tabifyDockWidget(self.curves_dock, self.health_dock)
        window.tabifyDockWidget(self.health_dock, self.timeline_dock)

        queue = queue if queue is not None else BuildQueue(self)
        # The curves' two plots are made a turn each before the panel around them.
        loss = Deferred(queue, loss_graphics)
        plots = Deferred(queue, lambda: with_accuracy_plot(loss.get()))
        self._curves = Deferred(
            queue, lambda: TrainingCurves(graphics=plots.get()), self.curves_dock
        )
        self._panel = Deferred(queue, self._build_panel, self.training_dock)
        self._runs = Deferred(queue, self._build_runs, self.runs_dock)
        self._timeline = Deferred(queue, self._build_timeline, self.timeline_dock)
        # The layer health's plots are made a turn each in the background; the view around
        # them only when its tab is shown or a run reports health.
        metric = Deferred(queue, HealthPlots)
        self._health_plots = Deferred(queue, lambda: metric.get().with_histograms())
        self._health = Deferred(queue, self._build_health, self.health_dock, idle=False)
        controller.run_ended.connect(self._on_controller_run_ended)
        # A dataset Train just downloaded is now cached: the picker says so.
        controller.dataset_loaded.connect(self._on_controller_dataset_loaded)
        controller.training_started.connect(self._on_controller_training_started)
        controller.health_reported.connect(self._on_controller_health_reported)
        controller.timeline_reported.connect(self._on_controller_timeline_reported)
        self.layer_health_changed.connect(window.stack.model.set_health)  # the rows' badges

        self.menu = window.menus.add_menu("&Training")
        self.menu.aboutToShow.connect(self._on_menu_about_to_show)
        self._run_separator = self.menu.addSeparator()
        export_png = self.menu.addAction("Export Curves as &PNG…")
        export_png.triggered.connect(self._on_export_png_triggered)
        export_csv = self.menu.addAction("Export Curves as &CSV…")
        export_csv.triggered.connect(self._on_export_csv_triggered)
        export_gif = self.menu.addAction("Export Map Timeline as &GIF…")
        export_gif.triggered.connect(self._on_export_gif_triggered)
        export_frames = self.menu.addAction("Export Map Timeline as MP4 &Frames…")
        export_frames.triggered.connect(self._on_export_frames_triggered)
        self.menu.addSeparator()
        self.sweep_action = self.menu.addAction("S&weep…")
        self.sweep_action.setShortcut("F8")
        self.sweep_action.triggered.connect(self.open_sweep)
        self.sweeps: list[SweepView] = []
        # Emitted only once the window has agreed to close: a cancelled "save changes?"
        # keeps training running.
        window.closing.connect(self.shutdown)
        if warm_up:
            QTimer.singleShot(WARM_UP_DELAY_MS, self._warm_up)

    # ---- the panels, made when first needed ---------------------------------------------

    @property
    def curves(self) -> TrainingCurves:
        return self._curves.get()

    @property
    def panel(self) -> TrainingPanel:
        return self._panel.get()

    @property
    def runs(self) -> RunsPanel:
        return self._runs.get()

    @property
    def health(self) -> HealthView:
        return self._health.get()

    @property
    def timeline(self) -> TimelineView:
        return self._timeline.get()

    def when_runs_built(self, callback: Callable[[RunsPanel], object]) -> None:
        """Call `callback(runs)` once the Runs panel is made (at once if it is)."""
        self._runs.then(callback)

    def _build_panel(self) -> TrainingPanel:
        panel = TrainingPanel(self.controller, self.curves)
        panel.train_action.triggered.connect(self.raise_run_docks)
        run_actions = [panel.train_action, panel.pause_action, panel.stop_action]
        self.menu.insertActions(self._run_separator, run_actions)
        self._window.menus.add_tool_actions(run_actions)
        if not self._warms_up:
            QTimer.singleShot(0, panel.populate_datasets)
        return panel

    def _build_runs(self) -> RunsPanel:
        runs = RunsPanel(self._document, self.curves, self.controller.runs_root)
        runs.current_run_changed.connect(self._on_runs_current_run_changed)
        runs.live_run = self._live_run
        return runs

    def _build_health(self) -> HealthView:
        health = HealthView(plots=self._health_plots.get())
        health.layer_health_changed.connect(self._on_health_layer_health_changed)
        return health

    def _build_timeline(self) -> TimelineView:
        return TimelineView()

    @Slot()
    def raise_run_docks(self) -> None:
        """Bring the Training and Training Curves tabs to the front."""
        for dock in (self.training_dock, self.curves_dock):
            dock.show()
            dock.raise_()

    @Slot()
    def open_sweep(self) -> SweepView | None:
        """Ask for a sweep of the current network and open its window (not started)."""
        window = self._window
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
        repeat). Panels not made yet run nothing, and are not made now."""
        if (panel := self._panel.built) is not None:
            panel.shutdown()
        else:
            self.controller.shutdown()
        if (runs := self._runs.built) is not None:
            runs.shutdown()
        for view in self.sweeps:
            view.queue.shutdown()

    # ---- slots ----------------------------------------------------------------------------

    @Slot()
    def _on_menu_about_to_show(self) -> None:
        self._panel.get()  # Train, Pause and Stop head the menu

    @Slot()
    def _on_export_png_triggered(self) -> None:
        self.panel.export_png()

    @Slot()
    def _on_export_csv_triggered(self) -> None:
        self.panel.export_csv()

    @Slot()
    def _on_export_gif_triggered(self) -> None:
        self.timeline.ask_export_gif()

    @Slot()
    def _on_export_frames_triggered(self) -> None:
        self.timeline.ask_export_frames()

    @Slot(str)
    def _on_controller_run_ended(self, run_dir: str) -> None:
        self.runs.add_run(run_dir)

    @Slot(object)
    def _on_controller_dataset_loaded(self, _dataset: object) -> None:
        self.panel.populate_datasets()

    @Slot(object)
    def _on_controller_health_reported(self, records: Any) -> None:
        self.health.add_records(records)

    @Slot(object)
    def _on_controller_timeline_reported(self, frames: Any) -> None:
        self.timeline.add_frames(frames)

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
    def _on_controller_training_started(self) -> None:
        # A new run's health and timeline start empty (made now if need be).
        self.health.clear()
        self.timeline.clear()
        self.raise_run_docks()

    def prepare_run(self) -> None:
        """Make the Training panel (if need be) before the controller starts anything: it
        shows what the controller reports."""
        self._panel.get()

    @Slot()
    def _warm_up(self) -> None:
        self.prepare_run()
        self.controller.warm_up()
