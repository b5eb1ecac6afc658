"""The window's sweep queue: a sweep's trials trained one after another on the task runner.

Each trial is one job (`train_trial`, a plain function of the plan, the trial and the stop
control): the same `start_trial` the `sweep` command calls, so the folders it writes are the
command's. Stopping stops the running trial at its next batch (its checkpoint stays);
`start()` again skips the finished trials and continues the stopped one, as a rerun of the
command does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from explorer.core.app.sweep import SweepPlan, Trial
from explorer.core.app.sweep_run import FINISHED, TrialData, TrialResult, read_results
from explorer.ui.common.tasks import TaskControl, TaskFailed, TaskFinished, TaskProgress, TaskRunner

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialEpoch:
    """A trial finished an epoch (accuracies as fractions; None without a validation split)."""

    trial: int
    epoch: int
    epochs: int
    train_accuracy: float
    validation_accuracy: float | None


@dataclass(frozen=True)
class TrialOutcome:
    """A trial's job ended: every trial's result as the folders now say, and whether this
    one was stopped on request."""

    trial: int
    stopped: bool
    results: tuple[TrialResult, ...]


def train_trial(
    plan: SweepPlan, trial: Trial, data: TrialData, control: TaskControl
) -> TrialOutcome:
    """Train one trial into its folder (runs on the task runner's thread), reporting each
    epoch as a `TrialEpoch`; rewrites results.csv when it ends."""
    from explorer.core.app.preparation import choose_device
    from explorer.core.app.sweep_run import start_trial, write_results
    from explorer.core.training import EpochEnded, TrainingStarted, TrainingStopped

    choice = choose_device(trial.spec)
    run = start_trial(plan, trial, data.dataset(trial.spec, choice.device), data.data_dir)
    control.token.when_stopped(run.stop)
    epochs = trial.spec.training.epochs
    stopped = False
    for event in run.events():
        if isinstance(event, TrainingStarted):
            epochs = event.epochs
        elif isinstance(event, EpochEnded):
            control.report(
                TrialEpoch(
                    trial.number,
                    event.epoch,
                    epochs,
                    event.train_accuracy,
                    event.validation_accuracy,
                )
            )
        stopped = isinstance(event, TrainingStopped)
    return TrialOutcome(trial.number, stopped, tuple(write_results(plan)))


class SweepQueue(QObject):
    """Runs a plan's unfinished trials one after another; see the module docstring."""

    #: every trial's result as the folders say (after each trial, and on `start`)
    results_changed = Signal(object)  # tuple[TrialResult, ...]
    epoch_finished = Signal(object)  # TrialEpoch
    #: the queue ran dry (True) or was stopped (False)
    queue_ended = Signal(bool)
    trial_failed = Signal(str)

    def __init__(
        self,
        plan: SweepPlan,
        data_dir: str | Path | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.plan = plan
        self._data = TrialData(data_dir)
        self._runner = TaskRunner("sweep", self)
        self._runner.progressed.connect(self._on_runner_progressed)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        self._running: Trial | None = None
        self._stopping = False
        self._tried: set[int] = set()  # trials started since `start` (a failed one waits)
        self.results: tuple[TrialResult, ...] = ()

    @property
    def running(self) -> Trial | None:
        """The trial training now, if any."""
        return self._running

    def refresh(self) -> None:
        """Read every trial's result from its folder (a sweep opened again, or a start)."""
        self.results = tuple(read_results(self.plan))
        self.results_changed.emit(self.results)

    def start(self) -> None:
        """Train the trials not finished yet, in order (the stopped one continues)."""
        if self._running is not None:
            return
        self._stopping = False
        self._tried = set()
        self.plan.out.mkdir(parents=True, exist_ok=True)
        self.refresh()
        self._next()

    def stop(self) -> None:
        """Stop the running trial at its next batch; the queue ends when it has."""
        if self._running is not None:
            self._stopping = True
            self._runner.request_stop()

    def shutdown(self) -> None:
        """Stop and join (every way out of the window)."""
        self._stopping = True
        self._runner.shutdown()
        self._running = None

    def _next(self) -> None:
        done = {r.trial.number for r in self.results if r.status == FINISHED}
        pending = [
            trial
            for trial in self.plan.trials
            if trial.number not in done and trial.number not in self._tried
        ]
        if self._stopping or not pending:
            self._running = None
            self.queue_ended.emit(len(done) == len(self.plan.trials))
            return
        trial = pending[0]
        self._running = trial
        self._tried.add(trial.number)
        plan, data = self.plan, self._data
        self._runner.start(lambda control: train_trial(plan, trial, data, control))

    @Slot(object)
    def _on_runner_progressed(self, progress: TaskProgress[TrialEpoch]) -> None:
        self.epoch_finished.emit(progress.value)

    @Slot(object)
    def _on_runner_finished(self, outcome: TaskFinished[TrialOutcome]) -> None:
        self.results = outcome.value.results
        self.results_changed.emit(self.results)
        self._stopping = self._stopping or outcome.value.stopped
        self._next()

    @Slot(object)
    def _on_runner_failed(self, failure: TaskFailed) -> None:
        trial = self._running
        self._running = None
        name = f"trial {trial.number}" if trial is not None else "a trial"
        log.warning("sweep %s failed: %s", name, failure.message)
        self.trial_failed.emit(f"{name}: {failure.message}")
        self.queue_ended.emit(False)
