"""The Training dock: dataset, hyperparameters, device, Train/Pause/Stop, progress, results.

The settings (dataset and hyperparameters) are the `TrainingSettingsForm` tab. The panel
only draws what the controller relays; the work happens on the controller's thread. The
shell places it, the curves and the runs list in the window (`shell/training_docks.py`).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.ui.training.controller import RunState, TrainingController
from explorer.ui.training.curves import TrainingCurves
from explorer.ui.training.results import MessageBar, ResultsView, TrainingLog
from explorer.ui.training.settings_form import TrainingSettingsForm

log = logging.getLogger(__name__)


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
        self.settings_page = TrainingSettingsForm(self.document, controller.data_dir)
        self.settings_page.refused.connect(self._on_settings_page_refused)
        self.settings_page.dataset_picker.logged.connect(self.log_view.add)
        self.settings_page.dataset_picker.failed.connect(self._on_dataset_picker_failed)
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
        controller.member_started.connect(self._on_controller_member_started)
        controller.ensemble_trained.connect(self._on_controller_ensemble_trained)
        controller.warm_up_finished.connect(self.populate_datasets)
        self.document.edit_refused.connect(self._on_document_edit_refused)
        self.document.replaced.connect(self._on_document_replaced)
        self._on_controller_state_changed(controller.state)

    def _button(self, action: QAction) -> QToolButton:
        button = QToolButton()
        button.setDefaultAction(action)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.setMinimumWidth(72)
        return button

    @Slot()
    def shutdown(self) -> None:
        """Stop training and any download, waiting for their threads (safe to repeat)."""
        self.controller.shutdown()
        self.settings_page.shutdown()

    @Slot()
    def populate_datasets(self) -> None:
        self.settings_page.dataset_picker.populate()

    @Slot(str)
    def _on_dataset_picker_failed(self, text: str) -> None:
        self.message_bar.show_message(text, "error")

    @Slot(str)
    def _on_settings_page_refused(self, text: str) -> None:
        self.message_bar.show_message(text, "warning")

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
        self.settings_page.show_device(text)

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
        if self.controller.member is None:
            self.curves.set_members(())
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
        member = self.controller.member
        if member is not None:  # the whole ensemble's progress, its members in turn
            done = (member.index + done) / member.count
        self.progress_bar.setValue(round(1000 * done))
        self.epoch_label.setText(
            f"{_member_prefix(member)}Epoch {event.epoch}/{self._epochs} · step {event.step:,} · "
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

    def _show_end(self, label: str, log: str) -> None:
        """The run is over: its last progress shown, no time left to estimate, and what it
        came to in the epoch label and the log."""
        self._on_label_timer_timeout()
        self.speed_label.setText(self.speed_label.text().split(" · ETA")[0])
        self.epoch_label.setText(label)
        self.log_view.add(log)

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
    def _on_controller_member_started(self, member: Any) -> None:
        from explorer.ui.training.ensemble_worker import member_name

        self.curves.set_members(member.earlier, member_name(member.index))
        self.log_view.add(
            f"ensemble member {member.index + 1} of {member.count} (seed {member.seed}) "
            f"-> {member.folder}"
        )

    @Slot(object)
    def _on_controller_ensemble_trained(self, trained: Any) -> None:
        count = len(trained.states)
        evaluation = trained.evaluation
        if evaluation is None:
            text = f"all {count} members trained; the ensemble not evaluated: {trained.problem}"
            self._show_end(f"Ensemble of {count}: trained", text)
            return
        accuracy = f"test accuracy {100 * evaluation.ensemble.accuracy:.2f}%"
        self._show_end(
            f"Ensemble of {count} finished: {accuracy}", f"ensemble of {count}: {accuracy}"
        )
        self.progress_bar.setValue(1000)

    @Slot(object)
    def _on_controller_training_finished(self, event: Any) -> None:
        accuracy = f"test accuracy {100 * event.test_accuracy:.2f}%"
        prefix = _member_prefix(self.controller.member)
        self._show_end(f"{prefix}Finished: {accuracy}", f"{prefix.lower()}finished: {accuracy}")
        member = self.controller.member
        done = 1.0 if member is None else (member.index + 1) / member.count
        self.progress_bar.setValue(round(1000 * done))
        note = f" · stopped early after epoch {event.epoch}" if event.early_stopped else ""
        names = self.controller.class_names or self.document.spec.class_names
        self.results.show_result(
            event.test_accuracy, event.test_loss, event.per_class_accuracy, names, note
        )
        self.tabs.setCurrentWidget(self.results)

    @Slot(object)
    def _on_controller_training_stopped(self, event: Any) -> None:
        self._show_end(
            f"{_member_prefix(self.controller.member)}Stopped at epoch {event.epoch}, "
            f"step {event.step:,}",
            f"stopped at step {event.step} (checkpoint kept in the run folder)",
        )

    @Slot(object)
    def _on_controller_training_failed(self, event: Any) -> None:
        if not self._run_started:  # e.g. the dataset does not suit the network: nothing ran
            self.message_bar.show_message(f"Training could not start: {event.message}", "error")
            self._show_end("Could not start training", f"could not start: {event.message}")
            return
        self.message_bar.show_message(f"Training failed: {event.message}", "error")
        self._show_end(
            "Failed — the curves so far are kept", f"FAILED at step {event.step}: {event.message}"
        )

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


def _member_prefix(member: Any) -> str:
    """ "Member 2 of 5 · " while an ensemble trains (`MemberStarted`), else ""."""
    return "" if member is None else f"Member {member.index + 1} of {member.count} · "


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
