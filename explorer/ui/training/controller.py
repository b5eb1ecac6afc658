"""Owns the training thread: starts, pauses and stops runs of the document's network.

The controller lives on the GUI thread. It moves a `TrainingWorker` onto a `QThread`, relays
the worker's events as its own signals (received on the GUI thread: the connections are
queued because the worker lives on another thread), locks the document while a run is under
way, and keeps the last resident dataset so the next Train starts at once. Before the first
Train it can warm up in the background (torch import, dataset, one forward/backward pass on a
tiny batch), when the analysis estimate says that fits in memory. A stopped run continues
from its checkpoint with `resume_run()`, as `train --resume` does.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from explorer.ui.common.document import ProjectDocument
from explorer.ui.training.worker import DatasetKey, TrainingJob, TrainingWorker

log = logging.getLogger(__name__)

IDLE, WARMING, LOADING, TRAINING, PAUSED, STOPPING = (
    "idle",
    "warming",
    "loading",
    "training",
    "paused",
    "stopping",
)


def default_runs_root() -> Path:
    """Runs are kept in the per-user data folder (overridable for tests and benchmarks)."""
    from explorer.ui.common.settings import data_dir

    return data_dir() / "runs"


class TrainingController(QObject):
    """Start/pause/stop training of `document.spec` on a background thread."""

    state_changed = Signal(str)
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
    run_ended = Signal(str)  # the run folder, once the thread has finished
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
        self._state = IDLE
        self._shut_down = False
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._job_is_warm_up = False
        self._start_after_warm_up = False
        self._resume_after_warm_up: Path | None = None
        self._datasets: dict[DatasetKey, Any] = {}
        self.run_dir: Path | None = None
        #: The class names of the dataset of the current (or last) run, once it is loaded.
        self.class_names: tuple[str, ...] = ()
        self.last_event: object | None = None

    # ---- state ----------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def is_running(self) -> bool:
        """A run is loading, training, paused or stopping (a warm-up does not count)."""
        return self._state in (LOADING, TRAINING, PAUSED, STOPPING) or self._start_after_warm_up

    @property
    def runs_root(self) -> Path:
        return self._runs_root if self._runs_root is not None else default_runs_root()

    @property
    def worker_thread(self) -> QThread | None:
        """The worker thread while one exists (for tests and shutdown)."""
        return self._thread

    def _set_state(self, state: str) -> None:
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
        if self._state == WARMING:
            # The warm-up holds the dataset we are about to need: start when it is done.
            self._start_after_warm_up = True
            self._set_state(LOADING)
            return True
        self._launch(warm_only=False)
        return True

    def _can_train(self) -> bool:
        errors = self.document.analysis.errors
        if errors:
            lines = "; ".join(d.text() for d in errors[:3])
            more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
            count = "1 error" if len(errors) == 1 else f"{len(errors)} errors"
            self.start_refused.emit(
                f"Cannot start training: the network has {count}. Fix first: {lines}{more}"
            )
            return False
        return True

    def resume_run(self, run_dir: str | Path) -> bool:
        """Continue a stopped run from its checkpoint, in its own folder (the network goes
        into the editor first, as an undoable edit); False when it cannot start now."""
        from explorer.core.project import ProjectError, load_project
        from explorer.core.training.runs import RunFolder

        if self.is_running or self._shut_down:
            return False
        folder = RunFolder(run_dir)
        if not folder.checkpoint_path.is_file():
            self.start_refused.emit(
                f"Cannot resume {folder.path.name}: it has no checkpoint to continue from"
            )
            return False
        try:
            spec = load_project(folder.project_path)
        except ProjectError as error:
            self.start_refused.emit(f"Cannot resume {folder.path.name}: {error}")
            return False
        if spec != self.document.spec and not self.document.edit(
            spec, f"Resume run {folder.path.name}"
        ):
            return False
        if not self._can_train():
            return False
        self.document.set_locked(True)
        if self._state == WARMING:  # as Train does: start once the warm-up is done
            self._start_after_warm_up = True
            self._resume_after_warm_up = folder.path
            self._set_state(LOADING)
            return True
        self._launch(warm_only=False, run_dir=folder.path, resume=True)
        return True

    @Slot()
    def warm_up(self) -> bool:
        """Prepare in the background (torch, dataset, kernels) without downloading."""
        # A warm-up scheduled at start-up may fire after the window has closed.
        if self._thread is not None or self._shut_down:
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
            self._set_state(WARMING if self._thread is not None else IDLE)
            return
        if self._worker is not None and not self._job_is_warm_up:
            self._worker.request_stop()
            self._set_state(STOPPING)

    @Slot()
    def pause(self) -> None:
        worker = self._worker
        if self._state == TRAINING and worker is not None and worker.set_paused(True):
            self._set_state(PAUSED)

    @Slot()
    def resume(self) -> None:
        if self._state == PAUSED and self._worker is not None:
            self._worker.set_paused(False)
            self._set_state(TRAINING)

    @Slot()
    def toggle_pause(self) -> None:
        if self._state == PAUSED:
            self.resume()
        else:
            self.pause()

    def shutdown(self) -> None:
        """Stop whatever runs and wait for the thread to end (closing the window); nothing
        starts afterwards."""
        self._shut_down = True
        self._start_after_warm_up = False
        if self._worker is not None:
            self._worker.request_stop()
        thread = self._thread
        if thread is not None:
            thread.quit()
            thread.wait()
            # The thread's finished signal is queued to us; clean up now rather than later.
            self._on_thread_finished()

    # ---- the thread -----------------------------------------------------------------------

    def _launch(
        self, *, warm_only: bool, run_dir: Path | None = None, resume: bool = False
    ) -> None:
        from explorer.core.training.runs import default_run_dir

        spec = self.document.spec
        dataset = self._cached_dataset(spec)
        if run_dir is None and not warm_only:
            run_dir = _unused(default_run_dir(spec.name, self.runs_root))
        job = TrainingJob(spec, run_dir, self.data_dir, dataset, warm_only=warm_only, resume=resume)
        thread = QThread(self)
        thread.setObjectName("training" if not warm_only else "warm-up")
        worker = TrainingWorker(job)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # Direct: quit() is thread-safe, and the GUI thread may be blocked in wait().
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        worker.device_detected.connect(self._on_worker_device_detected)
        worker.loading_reported.connect(self._on_worker_loading_reported)
        worker.download_reported.connect(self._on_worker_download_reported)
        worker.event_emitted.connect(self._on_worker_event_emitted)
        worker.weights_updated.connect(self._on_worker_weights_updated)
        worker.dataset_ready.connect(self._on_worker_dataset_ready)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker, self._job_is_warm_up = thread, worker, warm_only
        self.run_dir = run_dir
        self.last_event = None
        if dataset is not None:
            self.class_names = tuple(dataset.info.class_names)
        self._set_state(WARMING if warm_only else LOADING)
        thread.start()

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

    @Slot(str)
    def _on_worker_device_detected(self, text: str) -> None:
        self.device_detected.emit(text)

    @Slot(str)
    def _on_worker_loading_reported(self, text: str) -> None:
        self.loading_reported.emit(text)

    @Slot(object)
    def _on_worker_download_reported(self, report: object) -> None:
        self.download_reported.emit(report)

    @Slot(object, object)
    def _on_worker_dataset_ready(self, key: DatasetKey, dataset: Any) -> None:
        self.remember_dataset(key, dataset)
        self.class_names = tuple(dataset.info.class_names)

    @Slot(object)
    def _on_worker_weights_updated(self, state: object) -> None:
        if not self._job_is_warm_up:
            self.weights_updated.emit(state)

    @Slot(object)
    def _on_worker_event_emitted(self, event: object) -> None:
        from explorer.core.training import (
            EpochEnded,
            Progress,
            TrainingFailed,
            TrainingFinished,
            TrainingStarted,
            TrainingStopped,
        )

        if self._job_is_warm_up:
            return
        self.last_event = event
        if isinstance(event, Progress):
            self.progress_reported.emit(event)
        elif isinstance(event, EpochEnded):
            self.epoch_ended.emit(event)
        elif isinstance(event, TrainingStarted):
            if self._state == LOADING:
                self._set_state(TRAINING)
            self.training_started.emit(event)
        elif isinstance(event, TrainingFinished):
            self.training_finished.emit(event)
        elif isinstance(event, TrainingStopped):
            self.training_stopped.emit(event)
        elif isinstance(event, TrainingFailed):
            self.training_failed.emit(event)

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, worker = self._thread, self._worker
        if thread is None or worker is None:
            return  # already cleaned up by shutdown()
        was_warm_up = self._job_is_warm_up
        self._thread = self._worker = None
        worker.deleteLater()
        thread.deleteLater()
        if was_warm_up:
            self.warm_up_finished.emit()
            if self._start_after_warm_up:
                self._start_after_warm_up = False
                run_dir, self._resume_after_warm_up = self._resume_after_warm_up, None
                self._launch(warm_only=False, run_dir=run_dir, resume=run_dir is not None)
                return
            self._set_state(IDLE)
            return
        self.document.set_locked(False)
        self._set_state(IDLE)
        if self.run_dir is not None:
            self.run_ended.emit(str(self.run_dir))


def _unused(path: Path) -> Path:
    # Folder names have a one-second time stamp: two runs in one second get -2, -3...
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


def _device_matches(requested: str, resolved: str) -> bool:
    return requested == "auto" or resolved.startswith(requested)
