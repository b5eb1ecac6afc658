"""The Training dock: dataset, hyperparameters, device, Train/Pause/Stop, progress, results.

Hyperparameter editors are generated from `TRAINING_PARAMS`, and every change is an
undoable edit of the document's `spec.training`. The panel only draws what the controller
relays; the work happens on the controller's thread. `install_training(window)` adds the
Training, Curves and Runs docks and the Training menu to a main window.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QScrollArea,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.core.spec import TRAINING_PARAMS, SpecError
from explorer.ui.common.param_editors import ParamEditor, make_editor
from explorer.ui.training.controller import RunState, TrainingController
from explorer.ui.training.curves import TrainingCurves
from explorer.ui.training.datasets import DatasetPicker
from explorer.ui.training.results import MessageBar, ResultsView, TrainingLog

log = logging.getLogger(__name__)

# Settings that only one schedule reads: greyed out under the others.
_STEP_SCHEDULE_KEYS = ("step_size", "gamma")


class TrainingPanel(QWidget):
    """Settings and controls for training the document's network."""

    def __init__(
        self,
        controller: TrainingController,
        curves: TrainingCurves,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.document = controller.document
        self.curves = curves
        self._epochs = 0
        self._run_started = False

        self.train_action = QAction("&Train", self)
        self.train_action.setShortcut(QKeySequence("F5"))
        self.train_action.setToolTip("Train the network (F5)")
        self.train_action.triggered.connect(controller.start)
        self.pause_action = QAction("&Pause", self)
        self.pause_action.setShortcut(QKeySequence("F6"))
        self.pause_action.setToolTip("Pause or resume training (F6)")
        self.pause_action.triggered.connect(controller.toggle_pause)
        self.stop_action = QAction("&Stop", self)
        self.stop_action.setShortcut(QKeySequence("Shift+F5"))
        self.stop_action.setToolTip("Stop training before the next batch (Shift+F5)")
        self.stop_action.triggered.connect(controller.stop)
        self.train_button, self.pause_button, self.stop_button = (
            self._button(a) for a in (self.train_action, self.pause_action, self.stop_action)
        )

        self.message_bar = MessageBar()
        self.message_bar.action_triggered.connect(self._on_message_bar_action_triggered)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("%p%")
        self.epoch_label = QLabel("Not trained yet")
        self.speed_label = QLabel(" ")
        self.results = ResultsView()
        self.log_view = TrainingLog()

        buttons = QHBoxLayout()
        for button in (self.train_button, self.pause_button, self.stop_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.tabs = QTabWidget()
        self.settings_page = self._settings_page()
        self.tabs.addTab(self.settings_page, "Settings")
        self.tabs.addTab(self.results, "Results")
        self.tabs.addTab(self.log_view, "Log")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.message_bar)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.epoch_label)
        layout.addWidget(self.speed_label)
        layout.addWidget(self.tabs, 1)

        # Labels follow the newest progress on a timer: every event repainting text and the bar
        # is wasted work for the GUI thread (and the interpreter lock the trainer shares).
        self._latest: Any = None
        self.label_timer = QTimer(self)
        self.label_timer.setInterval(100)
        self.label_timer.timeout.connect(self._on_label_timer_timeout)
        self.label_timer.start()
        controller.state_changed.connect(self._on_controller_state_changed)
        controller.device_detected.connect(self._on_controller_device_detected)
        controller.loading_reported.connect(self._on_controller_loading_reported)
        controller.download_reported.connect(self._on_controller_download_reported)
        controller.training_started.connect(self._on_controller_training_started)
        controller.progress_reported.connect(self._on_controller_progress_reported)
        controller.epoch_ended.connect(self._on_controller_epoch_ended)
        controller.training_finished.connect(self._on_controller_training_finished)
        controller.training_stopped.connect(self._on_controller_training_stopped)
        controller.training_failed.connect(self._on_controller_training_failed)
        controller.start_refused.connect(self._on_controller_start_refused)
        controller.warm_up_finished.connect(self.populate_datasets)
        self.document.spec_changed.connect(self._on_document_spec_changed)
        self.document.edit_refused.connect(self._on_document_edit_refused)
        self.document.replaced.connect(self._on_document_replaced)
        self._on_document_spec_changed()
        self._on_controller_state_changed(controller.state)

    def _button(self, action: QAction) -> QToolButton:
        button = QToolButton()
        button.setDefaultAction(action)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.setMinimumWidth(72)
        return button

    # ---- the settings page ----------------------------------------------------------------

    def _settings_page(self) -> QWidget:
        self.dataset_picker = data = DatasetPicker(self.controller.data_dir)
        data.dataset_chosen.connect(self._on_dataset_picker_dataset_chosen)
        data.logged.connect(self.log_view.add)
        data.failed.connect(self._on_dataset_picker_failed)

        self.device_label = QLabel("detected when training starts")
        self.device_label.setWordWrap(True)
        self._form = form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.editors: dict[str, ParamEditor] = {}
        for key, param in TRAINING_PARAMS.items():
            if key == "dataset":
                continue
            editor = make_editor(param)
            editor.value_edited.connect(self._on_editor_value_edited)
            editor.editing_finished.connect(self.document.end_merge)
            self.editors[key] = editor
            form.addRow(key.replace("_", " ").capitalize(), editor)
            if key == "device":
                form.addRow("Detected", self.device_label)
        settings = QGroupBox("Hyperparameters")
        settings.setLayout(form)
        page = QWidget()
        page_layout = QVBoxLayout(page)
        page_layout.setContentsMargins(0, 0, 0, 0)
        page_layout.addWidget(data)
        page_layout.addWidget(settings)
        page_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(page)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        return scroll

    @Slot()
    def shutdown(self) -> None:
        """Stop training and any download, waiting for their threads (safe to repeat)."""
        self.controller.shutdown()
        self.dataset_picker.shutdown()

    def populate_datasets(self) -> None:
        self.dataset_picker.populate()

    @Slot(str)
    def _on_dataset_picker_dataset_chosen(self, name: str) -> None:
        if not self._set_training(dataset=name):
            self.dataset_picker.show_dataset(self.document.spec.training.dataset)

    @Slot(str)
    def _on_dataset_picker_failed(self, text: str) -> None:
        self.message_bar.show_message(text, "error")

    def _set_training(self, **values: Any) -> bool:
        spec = self.document.spec
        try:
            training = spec.training.with_values(**values)
        except SpecError as error:
            self.message_bar.show_message(error.message, "warning")
            return False
        key = ",".join(sorted(values))
        return self.document.edit(
            replace(spec, training=training), f"Change {key}", merge_key=("training", key)
        )

    @Slot(object)
    def _on_editor_value_edited(self, value: object) -> None:
        editor = self.sender()
        for key, candidate in self.editors.items():
            if candidate is editor:
                param = TRAINING_PARAMS[key]
                self._set_training(**{key: param.default if value is None else value})
                return

    @Slot()
    def _on_document_spec_changed(self) -> None:
        training = self.document.spec.training
        for key, editor in self.editors.items():
            editor.set_value(getattr(training, key))
        stepped = training.schedule == "step"
        for key in _STEP_SCHEDULE_KEYS:
            editor = self.editors[key]
            editor.setEnabled(stepped)
            label = self._form.labelForField(editor)
            if label is not None:
                label.setEnabled(stepped)
            note = "" if stepped else " Used only by the step schedule."
            editor.setToolTip(TRAINING_PARAMS[key].help + note)
        self.dataset_picker.show_dataset(training.dataset)

    # ---- training state -------------------------------------------------------------------

    @Slot(object)
    def _on_controller_state_changed(self, state: RunState) -> None:
        idle = state in (RunState.IDLE, RunState.WARMING) and not self.controller.is_running
        self.train_action.setEnabled(idle)
        self.pause_action.setEnabled(state in (RunState.TRAINING, RunState.PAUSED))
        self.pause_action.setText("&Resume" if state == RunState.PAUSED else "&Pause")
        self.stop_action.setEnabled(not idle)
        self.settings_page.setEnabled(idle)
        if state == RunState.LOADING:
            self._run_started = False  # a new run: nothing trained yet
        self._show_paused(state == RunState.PAUSED)
        if not idle and self.message_bar.level == "warning":
            self.message_bar.hide()

    @Slot(str)
    def _on_controller_device_detected(self, text: str) -> None:
        self.device_label.setText(text)

    @Slot(str)
    def _on_controller_loading_reported(self, text: str) -> None:
        if self.controller.is_running:
            self.epoch_label.setText(text[:1].upper() + text[1:])
        self.log_view.add(text)

    @Slot(object)
    def _on_controller_download_reported(self, report: Any) -> None:
        # Train on a dataset not yet on disk downloads it first, in the worker.
        fraction = report.fraction
        if fraction is not None:
            self.progress_bar.setValue(round(1000 * fraction))
        size = f"{report.done / 1e6:.1f} MB"
        self.epoch_label.setText(
            f"Downloading {report.filename} ({report.file_index + 1}/{report.file_count}): {size}"
        )

    @Slot(object)
    def _on_controller_training_started(self, event: Any) -> None:
        self._run_started = True
        self._epochs = event.epochs
        self.message_bar.hide()
        self.curves.begin_run(event.epochs)
        self.results.clear()
        self.progress_bar.setValue(0)
        self.log_view.add(
            f"training on {event.device}: {event.train_size:,} train / "
            f"{event.validation_size:,} validation / {event.test_size:,} test images, "
            f"{event.steps_per_epoch} steps per epoch"
        )

    @Slot(object)
    def _on_controller_progress_reported(self, event: Any) -> None:
        self.curves.add_progress(event)
        self._latest = event  # drawn by the label timer, at most 10 times a second

    @Slot()
    def _on_label_timer_timeout(self) -> None:
        event, self._latest = self._latest, None
        if event is None:
            return
        done = (event.epoch - 1 + event.epoch_fraction) / max(self._epochs, 1)
        self.progress_bar.setValue(round(1000 * done))
        self.epoch_label.setText(
            f"Epoch {event.epoch}/{self._epochs} · step {event.step:,} · "
            f"loss {event.train_loss:.4f} · accuracy {100 * event.train_accuracy:.1f}%"
        )
        eta = "—" if not math.isfinite(event.eta) else _clock(event.eta)
        self.speed_label.setText(
            f"{event.images_per_second:,.0f} images/s · elapsed {_clock(event.elapsed)} · ETA {eta}"
        )
        self._show_paused(self.controller.state == RunState.PAUSED)

    def _show_paused(self, paused: bool) -> None:
        # Progress already on its way when Pause was pressed must not hide the word.
        text = self.epoch_label.text().removesuffix(_PAUSED)
        self.epoch_label.setText(text + _PAUSED if paused else text)
        self.progress_bar.setFormat("Paused · %p%" if paused else "%p%")

    def _end_speed_line(self) -> None:
        """The run is over: no time left to estimate."""
        self.speed_label.setText(self.speed_label.text().split(" · ETA")[0])

    @Slot(object)
    def _on_controller_epoch_ended(self, event: Any) -> None:
        self.curves.add_epoch(event)
        text = (
            f"epoch {event.epoch}: loss {event.train_loss:.4f}, "
            f"acc {100 * event.train_accuracy:.2f}%"
        )
        if event.validation_loss is not None and event.validation_accuracy is not None:
            text += (
                f", val loss {event.validation_loss:.4f}, "
                f"val acc {100 * event.validation_accuracy:.2f}%"
            )
        self.log_view.add(text)

    @Slot(object)
    def _on_controller_training_finished(self, event: Any) -> None:
        self._on_label_timer_timeout()
        self._end_speed_line()
        self.progress_bar.setValue(1000)
        note = f" · stopped early after epoch {event.epoch}" if event.early_stopped else ""
        names = self.controller.class_names or self.document.spec.class_names
        self.results.show_result(
            event.test_accuracy, event.test_loss, event.per_class_accuracy, names, note
        )
        self.tabs.setCurrentWidget(self.results)
        self.epoch_label.setText(f"Finished: test accuracy {100 * event.test_accuracy:.2f}%")
        self.log_view.add(f"finished: test accuracy {100 * event.test_accuracy:.2f}%")

    @Slot(object)
    def _on_controller_training_stopped(self, event: Any) -> None:
        self._on_label_timer_timeout()
        self._end_speed_line()
        self.epoch_label.setText(f"Stopped at epoch {event.epoch}, step {event.step:,}")
        self.log_view.add(f"stopped at step {event.step} (checkpoint kept in the run folder)")

    @Slot(object)
    def _on_controller_training_failed(self, event: Any) -> None:
        self._on_label_timer_timeout()
        self._end_speed_line()
        if not self._run_started:  # e.g. the dataset does not suit the network: nothing ran
            self.message_bar.show_message(f"Training could not start: {event.message}", "error")
            self.epoch_label.setText("Could not start training")
            self.log_view.add(f"could not start: {event.message}")
            return
        self.message_bar.show_message(f"Training failed: {event.message}", "error")
        self.epoch_label.setText("Failed — the curves so far are kept")
        self.log_view.add(f"FAILED at step {event.step}: {event.message}")

    @Slot(str)
    def _on_controller_start_refused(self, text: str) -> None:
        # Nothing ran: no "Training failed", and the last run's curves and labels stay.
        self.message_bar.show_message(text, "error")
        self.log_view.add(text)

    @Slot()
    def _on_document_replaced(self) -> None:
        """New, Open or a template: the last run's banner, curves, position and log are of
        another network."""
        if self.controller.is_running:
            return
        self.message_bar.hide()
        self.curves.clear()
        self.results.reset()
        self.progress_bar.setValue(0)
        self.epoch_label.setText("Not trained yet")
        self.speed_label.setText(" ")
        self.log_view.clear()

    @Slot()
    def export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export Curves", "curves.png", "PNG (*.png)")
        if path and not self.curves.export_png(path):
            self.message_bar.show_message(f"Could not write {path}", "error")

    @Slot()
    def export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export Curves", "curves.csv", "CSV (*.csv)")
        if path:
            try:
                self.curves.export_csv(path)
            except OSError as error:
                self.message_bar.show_message(f"Could not write {path}: {error}", "error")

    @Slot()
    def _on_document_edit_refused(self) -> None:
        if self.controller.is_running:
            self.message_bar.show_message(
                "The network is locked while it trains.", "warning", "Stop Training and Edit"
            )

    @Slot()
    def _on_message_bar_action_triggered(self) -> None:
        self.controller.stop()
        self.message_bar.hide()


_PAUSED = " — Paused"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _DockRaiser(QObject):
    def __init__(self, docks: tuple[QDockWidget, ...], parent: QObject) -> None:
        super().__init__(parent)
        self.docks = docks

    @Slot()
    def raise_docks(self) -> None:
        for dock in self.docks:
            dock.show()
            dock.raise_()


def install_training(
    window: QMainWindow,
    *,
    runs_root: str | Path | None = None,
    data_dir: str | Path | None = None,
    warm_up: bool = True,
) -> TrainingController:
    """Add the Training, Training Curves and Runs docks and a Training menu to `window`
    (a MainWindow: `add_dock`, `document`). With `warm_up`, torch, the dataset and the
    first training step are prepared in the background shortly after the window shows."""
    from explorer.ui.training.runs import RunsPanel

    document = window.document  # type: ignore[attr-defined]
    controller = TrainingController(document, runs_root=runs_root, data_dir=data_dir, parent=window)
    curves = TrainingCurves()
    panel = TrainingPanel(controller, curves)
    runs = RunsPanel(document, curves, controller.runs_root)
    controller.run_ended.connect(runs.add_run)
    # A dataset Train just downloaded is now cached: the picker says so.
    controller.dataset_loaded.connect(panel.populate_datasets)
    right = Qt.DockWidgetArea.RightDockWidgetArea
    add_dock = window.add_dock  # type: ignore[attr-defined]
    training_dock = add_dock("Training", panel, right, "trainingDock")
    curves_dock = add_dock("Training Curves", curves, right, "trainingCurvesDock")
    runs_dock = add_dock("Runs", runs, right, "runsDock")
    # Beside the editor's panels as tabs: the curves get the Summary's room, which a 1280×800
    # window cannot spare for one more dock; training raises them, selecting a layer does not.
    properties = getattr(window, "properties_dock", None)
    summary = getattr(window, "summary_dock", None)
    if properties is not None and summary is not None:
        window.tabifyDockWidget(properties, training_dock)
        window.tabifyDockWidget(training_dock, runs_dock)
        window.tabifyDockWidget(summary, curves_dock)
    else:
        window.splitDockWidget(training_dock, curves_dock, Qt.Orientation.Vertical)
        window.tabifyDockWidget(training_dock, runs_dock)
    raiser = _DockRaiser((training_dock, curves_dock), panel)
    controller.training_started.connect(raiser.raise_docks)
    panel.train_action.triggered.connect(raiser.raise_docks)

    menu = window.menuBar().addMenu("&Training")
    menu.addActions([panel.train_action, panel.pause_action, panel.stop_action])
    menu.addSeparator()
    export_png = menu.addAction("Export Curves as &PNG…")
    export_png.triggered.connect(panel.export_png)
    export_csv = menu.addAction("Export Curves as &CSV…")
    export_csv.triggered.connect(panel.export_csv)
    toolbar = getattr(window, "toolbar", None)
    if toolbar is not None:
        toolbar.addSeparator()
        toolbar.addActions([panel.train_action, panel.pause_action, panel.stop_action])
    # Emitted only once the window has agreed to close: a cancelled "save changes?" keeps
    # training running.
    window.closing.connect(panel.shutdown)  # type: ignore[attr-defined]

    app = QCoreApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(panel.shutdown)
    if warm_up:
        QTimer.singleShot(300, controller.warm_up)
    else:
        QTimer.singleShot(0, panel.populate_datasets)
    return controller
