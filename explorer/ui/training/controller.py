"""Owns the training task: starts, pauses and stops runs of the document's network.

The controller lives on the GUI thread. It runs a `TrainingWorker` job on its `TaskRunner`
(a QThread per job), turns what the job reports into its own typed signals, locks the
document while a run is under way, and keeps the last resident dataset so the next Train
starts at once. Before the first Train it can warm up on the same runner (torch import,
dataset, one forward/backward pass on a tiny batch), when the analysis estimate says that
fits in memory. A stopped run continues from its checkpoint with `resume_run()`, as
`train --resume` does.

How a training event reaches the views, in two hops:
1. `core/training/trainer.py` yields a frozen event to `ui/training/worker.py`
   (`TrainingWorker._train`, on the job's thread), which reports it (`control.report`); the
   runner (`ui/common/tasks.py`) delivers it on the GUI thread as `progressed`
   (`TaskProgress`, dropped if it belongs to an older job);
2. `TrainingController._on_runner_progressed` emits it on the typed signal for its kind
   (`progress_reported`, `epoch_ended`, `training_finished`, ...), connected straight to the
   views: `ui/training/panel.py` (labels, curves, results), `ui/training/runs.py` (through
   `run_ended`) and `ui/shell/workbench.py` (weights for Inspect, evaluation).
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from explorer.core.error_list import format_errors
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.tasks import TaskFailed, TaskFinished, TaskProgress, TaskRunner
from explorer.ui.training.ensemble_worker import EnsembleTrained, MemberStarted
from explorer.ui.training.worker import (
    DatasetKey,
    DatasetReady,
    DeviceDetected,
    HealthReported,
    LoadingReported,
    TimelineReported,
    TrainingJob,
    TrainingWorker,
    WeightsSnapshot,
)

log = logging.getLogger(__name__)


class RunState(StrEnum):
    """Where the controller is; a run is LOADING, TRAINING, PAUSED or STOPPING."""

    IDLE = "idle"
    WARMING = "warming"  # a warm-up job runs; Train may be pressed meanwhile
    LOADING = "loading"  # the run's job prepares device and data
    TRAINING = "training"
    PAUSED = "paused"
    STOPPING = "stopping"  # stop requested, the job ends before the next batch


_RUNNING = (RunState.LOADING, RunState.TRAINING, RunState.PAUSED, RunState.STOPPING)


def default_runs_root() -> Path:
    """Runs are kept in the per-user data folder (overridable for tests and benchmarks)."""
    from explorer.ui.common.settings import data_dir

    return data_dir() / "runs"


class TrainingController(QObject):
    """Start/pause/stop training of `document.spec` on a background thread."""

    state_changed = Signal(object)  # RunState
    device_detected = Signal(str)
    loading_reported = Signal(str)
    download_reported = Signal(object)  # DownloadProgress
    training_started = Signal(object)  # TrainingStarted
    progress_reported = Signal(object)  # Progress
    epoch_ended = Signal(object)  # EpochEnded
    training_finished = Signal(object)  # TrainingFinished
    training_stopped = Signal(object)  # TrainingStopped
    training_failed = Signal(object)  # TrainingFailed (message carries the advice)
    start_refused = Signal(str)  # Train pressed but nothing can start: why, and what to do
    weights_updated = Signal(object)  # CPU state_dict copy, ~every 0.5 s and at the end
    health_reported = Signal(object)  # tuple[HealthRecord, ...] read since the last report
    timeline_reported = Signal(object)  # tuple[TimelineFrame, ...] recorded since the last
    run_ended = Signal(str)  # the run folder, once the thread has finished
    member_started = Signal(object)  # MemberStarted: an ensemble's member k of N begins
    ensemble_trained = Signal(object)  # EnsembleTrained: weights and evaluation of them all
    warm_up_finished = Signal()
    dataset_loaded = Signal(object)  # DeviceDataset now resident, for browsing and evaluation

    def __init__(
        self,
        document: ProjectDocument,
        *,
        runs_root: str | Path | None = None,
        data_dir: str | Path | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self._runs_root = Path(runs_root) if runs_root is not None else None
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._state = RunState.IDLE
        self._shut_down = False
        self._runner = TaskRunner("training", self)
        self._runner.progressed.connect(self._on_runner_progressed)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        document.replaced.connect(self._on_document_replaced)
        self._worker: TrainingWorker | None = None
        self._job_is_warm_up = False
        self._start_after_warm_up = False
        self._resume_after_warm_up: Path | None = None
        self._datasets: dict[DatasetKey, Any] = {}
        self.run_dir: Path | None = None
        #: The class names of the dataset of the current (or last) run, once it is loaded.
        self.class_names: tuple[str, ...] = ()
        self.last_event: object | None = None
        #: The ensemble member training now (MemberStarted), None for a single network.
        self.member: Any = None
        #: The image picked to inspect (C, H, W, normalised), the next run's timeline probe.
        self.probe: Any = None

    # ---- state ----------------------------------------------------------------------------

    @property
    def state(self) -> RunState:
        return self._state

    @property
    def is_running(self) -> bool:
        """A run is loading, training, paused or stopping (a warm-up does not count)."""
        return self._state in _RUNNING or self._start_after_warm_up

    @property
    def runs_root(self) -> Path:
        return self._runs_root if self._runs_root is not None else default_runs_root()

    @property
    def worker_thread(self) -> QThread | None:
        """The job's thread while one runs."""
        return self._runner.running_thread

    def _set_state(self, state: RunState) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    def remember_dataset(self, key: DatasetKey, dataset: object) -> None:
        """Keep one resident dataset for the next run with the same key (older ones go)."""
        self._datasets = {key: dataset}
        self.dataset_loaded.emit(dataset)

    # ---- commands -------------------------------------------------------------------------

    @Slot()
    def start(self) -> bool:
        """Train the document's current network; False when it cannot start now."""
        if self.is_running or self._shut_down:
            return False
        if not self._can_train():
            return False
        self.document.set_locked(True)
        if self._state == RunState.WARMING:
            # The warm-up holds the dataset we are about to need: start when it is done.
            self._start_after_warm_up = True
            self._set_state(RunState.LOADING)
            return True
        self._launch(warm_only=False)
        return True

    def _can_train(self) -> bool:
        errors = self.document.analysis.errors
        if errors:
            listed = format_errors(errors, inline=True, limit=3)
            self.start_refused.emit(f"Cannot start training: {listed}")
            return False
        return True

    def resume_run(self, run_dir: str | Path) -> bool:
        """Continue a stopped run from its checkpoint, in its own folder (the network goes
        into the editor first, as an undoable edit); False when it cannot start now."""
        from dataclasses import replace

        from explorer.core.project import ProjectError, load_project
        from explorer.core.training.runs import RunFolder

        if self.is_running or self._shut_down:
            return False
        folder = RunFolder(run_dir)
        members = _ensemble_size(folder)
        if members == 1 and not folder.checkpoint_path.is_file():
            self.start_refused.emit(
                f"Cannot resume {folder.path.name}: it has no checkpoint to continue from"
            )
            return False
        try:
            spec = load_project(folder.project_path)
        except ProjectError as error:
            self.start_refused.emit(f"Cannot resume {folder.path.name}: {error}")
            return False
        if members > 1:  # the folder's project is its first member's: one network
            spec = replace(spec, training=spec.training.with_values(ensemble=members))
        if spec != self.document.spec and not self.document.edit(
            spec, f"Resume run {folder.path.name}"
        ):
            return False
        if not self._can_train():
            return False
        self.document.set_locked(True)
        if self._state == RunState.WARMING:  # as Train does: start once the warm-up is done
            self._start_after_warm_up = True
            self._resume_after_warm_up = folder.path
            self._set_state(RunState.LOADING)
            return True
        self._launch(warm_only=False, run_dir=folder.path, resume=True)
        return True

    @Slot()
    def warm_up(self) -> bool:
        """Prepare in the background (torch, dataset, kernels) without downloading."""
        # A warm-up scheduled at start-up may fire after the window has closed.
        if self._worker is not None or self._shut_down:
            return False
        self._launch(warm_only=True)
        return True

    @Slot()
    def stop(self) -> None:
        """Stop before the next batch; the run keeps its checkpoint and curves."""
        if self._start_after_warm_up:
            self._start_after_warm_up = False
            self._resume_after_warm_up = None
            self.document.set_locked(False)
            self._set_state(RunState.WARMING if self._worker is not None else RunState.IDLE)
            return
        if self._worker is not None and not self._job_is_warm_up:
            self._runner.request_stop()
            self._set_state(RunState.STOPPING)

    @Slot()
    def pause(self) -> None:
        worker = self._worker
        if self._state == RunState.TRAINING and worker is not None and worker.set_paused(True):
            self._set_state(RunState.PAUSED)

    @Slot()
    def resume(self) -> None:
        if self._state == RunState.PAUSED and self._worker is not None:
            self._worker.set_paused(False)
            self._set_state(RunState.TRAINING)

    @Slot()
    def toggle_pause(self) -> None:
        if self._state == RunState.PAUSED:
            self.resume()
        else:
            self.pause()

    def shutdown(self) -> None:
        """Stop whatever runs and join its thread (closing the window); nothing starts
        afterwards. Safe to call more than once."""
        self._shut_down = True
        self._start_after_warm_up = False
        self._runner.shutdown()
        # What the job still sent is dropped by the runner: end the job here instead.
        self._job_ended()

    @Slot()
    def _on_document_replaced(self) -> None:
        """File ▸ New or Open during a run: the run is of a network that has gone. Stop it
        and join its thread, so nothing it still sends is taken for the new network's."""
        if not self.is_running:
            return
        self._start_after_warm_up = False
        self._resume_after_warm_up = None
        self._runner.cancel()
        self._job_ended()

    # ---- the job --------------------------------------------------------------------------

    def _launch(
        self, *, warm_only: bool, run_dir: Path | None = None, resume: bool = False
    ) -> None:
        from explorer.core.training.runs import default_run_dir

        spec = self.document.spec
        dataset = self._cached_dataset(spec)
        if run_dir is None and not warm_only:
            run_dir = _unused(default_run_dir(spec.name, self.runs_root))
        job = TrainingJob(
            spec,
            run_dir,
            self.data_dir,
            dataset,
            warm_only=warm_only,
            resume=resume,
            probe=self.probe,
        )
        worker = TrainingWorker(job)
        self._worker, self._job_is_warm_up = worker, warm_only
        self.run_dir = run_dir
        self.last_event = None
        self.member = None
        if dataset is not None:
            self.class_names = tuple(dataset.info.class_names)
        self._set_state(RunState.WARMING if warm_only else RunState.LOADING)
        self._runner.start(worker.run)

    def _cached_dataset(self, spec: Any) -> Any:
        from explorer.ui.training.worker import dataset_key

        # The device is part of the key; "auto" resolves the same way every time.
        for key, dataset in self._datasets.items():
            device = key.device
            if key == dataset_key(spec, self.data_dir, device) and _device_matches(
                spec.training.device, device
            ):
                return dataset
        return None

    @Slot(object)
    def _on_runner_progressed(self, progress: TaskProgress[object]) -> None:
        from explorer.core.data import DownloadProgress

        # A warm-up's device, loading lines and dataset count; its weights and events do not.
        payload = progress.value
        if isinstance(payload, DatasetReady):
            self.remember_dataset(payload.key, payload.dataset)
            self.class_names = tuple(payload.dataset.info.class_names)
        elif isinstance(payload, DeviceDetected):
            self.device_detected.emit(payload.text)
        elif isinstance(payload, LoadingReported):
            self.loading_reported.emit(payload.text)
        elif isinstance(payload, DownloadProgress):
            self.download_reported.emit(payload)
        elif self._job_is_warm_up:
            return
        elif isinstance(payload, WeightsSnapshot):
            self.weights_updated.emit(payload.state)
        elif isinstance(payload, HealthReported):
            self.health_reported.emit(payload.records)
        elif isinstance(payload, TimelineReported):
            self.timeline_reported.emit(payload.frames)
        elif isinstance(payload, MemberStarted):
            self.member = payload
            self.member_started.emit(payload)
        elif isinstance(payload, EnsembleTrained):
            self.last_event = payload  # the run's result: not its last member's
            self.ensemble_trained.emit(payload)
        else:
            self._on_training_event(payload)

    def _on_training_event(self, event: object) -> None:
        from explorer.core.training import (
            EpochEnded,
            Progress,
            TrainingFailed,
            TrainingFinished,
            TrainingStarted,
            TrainingStopped,
        )

        self.last_event = event
        if isinstance(event, Progress):
            self.progress_reported.emit(event)
        elif isinstance(event, EpochEnded):
            self.epoch_ended.emit(event)
        elif isinstance(event, TrainingStarted):
            if self._state == RunState.LOADING:
                self._set_state(RunState.TRAINING)
            self.training_started.emit(event)
        elif isinstance(event, TrainingFinished):
            self.training_finished.emit(event)
        elif isinstance(event, TrainingStopped):
            self.training_stopped.emit(event)
        elif isinstance(event, TrainingFailed):
            self.training_failed.emit(event)

    @Slot(object)
    def _on_runner_finished(self, _: TaskFinished[None]) -> None:
        self._job_ended()

    @Slot(object)
    def _on_runner_failed(self, failure: TaskFailed) -> None:
        # The worker turns its own errors into TrainingFailed; this is what escaped it.
        from explorer.core.training import TrainingFailed

        if not self._job_is_warm_up:
            self._on_training_event(TrainingFailed(failure.message, 0))
        self._job_ended()

    def _job_ended(self) -> None:
        """The job has sent everything it will send (or was shut down)."""
        if self._worker is None:
            return  # already ended by shutdown()
        was_warm_up = self._job_is_warm_up
        self._worker = None
        if was_warm_up:
            self.warm_up_finished.emit()
            if self._start_after_warm_up:
                self._start_after_warm_up = False
                run_dir, self._resume_after_warm_up = self._resume_after_warm_up, None
                self._launch(warm_only=False, run_dir=run_dir, resume=run_dir is not None)
                return
            self._set_state(RunState.IDLE)
            return
        self.document.set_locked(False)
        self._set_state(RunState.IDLE)
        if self.run_dir is not None:
            self.run_ended.emit(str(self.run_dir))


def _unused(path: Path) -> Path:
    # Folder names have a one-second time stamp: two runs in one second get -2, -3...
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


def _ensemble_size(folder: Any) -> int:
    """How many members the run in `folder` trains (1 where its run.json cannot be read:
    resuming it then says what is wrong)."""
    from explorer.core.training.runs import RunError

    try:
        return int(folder.read_settings().ensemble)
    except RunError:
        return 1


def _device_matches(requested: str, resolved: str) -> bool:
    return requested == "auto" or resolved.startswith(requested)
