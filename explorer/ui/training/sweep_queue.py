"""The window's sweep queue: a sweep's trials trained group by group on the task runner.

Each group of trials (`stack_groups`: small trials of one architecture train stacked, the
others alone) is one job (`train_group`, a plain function of the plan, the trials and the
stop control): the same `TrialGroup` the `sweep` command runs, so the folders it writes are
the command's. Stopping stops the running trials at their next batch (their checkpoints
stay); `start()` again skips the finished trials and continues the stopped ones, as a rerun
of the command does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from explorer.core.app.sweep import SweepPlan, Trial
from explorer.core.app.sweep_run import FINISHED, TrialData, TrialResult, read_results
from explorer.core.app.sweep_stack import describe_group, first_group
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
class TrialsRead:
    """A trial of a group ended while others train on: every trial's result as read now."""

    results: tuple[TrialResult, ...]


@dataclass(frozen=True)
class TrialOutcome:
    """A group's job ended: every trial's result as the folders now say, and whether one
    of its trials was stopped on request."""

    trials: tuple[int, ...]
    stopped: bool
    results: tuple[TrialResult, ...]


def train_group(
    plan: SweepPlan, trials: tuple[Trial, ...], data: TrialData, control: TaskControl
) -> TrialOutcome:
    """Train a group of trials into their folders (runs on the task runner's thread),
    reporting each epoch of each as a `TrialEpoch` and the results whenever one of several
    ends (`TrialsRead`); rewrites results.csv when a trial ends."""
    from explorer.core.app.sweep_group import TrialGroup
    from explorer.core.app.sweep_run import write_results
    from explorer.core.training import (
        EpochEnded,
        TrainingFailed,
        TrainingFinished,
        TrainingStarted,
        TrainingStopped,
    )

    group = TrialGroup(plan, trials, data)
    control.token.when_stopped(group.stop)
    epochs = [trial.spec.training.epochs for trial in trials]
    stopped = False
    for index, event in group.events():
        if isinstance(event, TrainingStarted):
            epochs[index] = event.epochs
        elif isinstance(event, EpochEnded):
            control.report(
                TrialEpoch(
                    trials[index].number,
                    event.epoch,
                    epochs[index],
                    event.train_accuracy,
                    event.validation_accuracy,
                )
            )
        stopped = stopped or isinstance(event, TrainingStopped)
        ended = isinstance(event, (TrainingFinished, TrainingStopped, TrainingFailed))
        if ended and len(trials) > 1:
            control.report(TrialsRead(tuple(write_results(plan))))
    return TrialOutcome(tuple(t.number for t in trials), stopped, tuple(write_results(plan)))


class SweepQueue(QObject):
    """Runs a plan's unfinished trials group by group; see the module docstring."""

    #: every trial's result as the folders say (after each trial, and on `start`)
    results_changed = Signal(object)  # tuple[TrialResult, ...]
    epoch_finished = Signal(object)  # TrialEpoch
    #: a job began training these trials (a stacked group, or one)
    trials_started = Signal(object)  # tuple[Trial, ...]
    #: the queue ran dry (True) or was stopped (False)
    queue_ended = Signal(bool)
    trial_failed = Signal(str)

    def __init__(
        self,
        plan: SweepPlan,
        data_dir: str | Path | None = None,
        parent: QObject | None = None,
        *,
        stack: bool = True,
    ) -> None:
        super().__init__(parent)
        self.plan = plan
        self.stack = stack  # small trials of one architecture train together
        self._data = TrialData(data_dir)
        self._runner = TaskRunner("sweep", self)
        self._runner.progressed.connect(self._on_runner_progressed)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        self._running: tuple[Trial, ...] = ()
        self._stopping = False
        self._tried: set[int] = set()  # trials started since `start` (a failed one waits)
        self.results: tuple[TrialResult, ...] = ()

    @property
    def running(self) -> tuple[Trial, ...]:
        """The trials training now (a stacked group, or one), if any."""
        return self._running

    def refresh(self) -> None:
        """Read every trial's result from its folder (a sweep opened again, or a start)."""
        self.results = tuple(read_results(self.plan))
        self.results_changed.emit(self.results)

    def start(self) -> None:
        """Train the trials not finished yet, in order (the stopped one continues)."""
        if self._running:
            return
        self._stopping = False
        self._tried = set()
        self.plan.out.mkdir(parents=True, exist_ok=True)
        self.refresh()
        self._next()

    def stop(self) -> None:
        """Stop the running trials at their next batch; the queue ends when they have."""
        if self._running:
            self._stopping = True
            self._runner.request_stop()

    def shutdown(self) -> None:
        """Stop and join (every way out of the window)."""
        self._stopping = True
        self._runner.shutdown()
        self._running = ()

    def _next(self) -> None:
        done = {r.trial.number for r in self.results if r.status == FINISHED}
        pending = [
            trial
            for trial in self.plan.trials
            if trial.number not in done and trial.number not in self._tried
        ]
        if self._stopping or not pending:
            self._running = ()
            self.queue_ended.emit(len(done) == len(self.plan.trials))
            return
        group = first_group(self.plan, pending, stack=self.stack)
        self._running = group
        self._tried.update(trial.number for trial in group)
        plan, data = self.plan, self._data
        self._runner.start(lambda control: train_group(plan, group, data, control))
        self.trials_started.emit(group)

    @Slot(object)
    def _on_runner_progressed(self, progress: TaskProgress[TrialEpoch | TrialsRead]) -> None:
        if isinstance(progress.value, TrialsRead):
            self.results = progress.value.results
            self.results_changed.emit(self.results)
        else:
            self.epoch_finished.emit(progress.value)

    @Slot(object)
    def _on_runner_finished(self, outcome: TaskFinished[TrialOutcome]) -> None:
        self.results = outcome.value.results
        self.results_changed.emit(self.results)
        self._stopping = self._stopping or outcome.value.stopped
        self._next()

    @Slot(object)
    def _on_runner_failed(self, failure: TaskFailed) -> None:
        group = self._running
        self._running = ()
        name = describe_group(group) if group else "a trial"
        log.warning("sweep %s failed: %s", name, failure.message)
        self.trial_failed.emit(f"{name}: {failure.message}")
        self.queue_ended.emit(False)
