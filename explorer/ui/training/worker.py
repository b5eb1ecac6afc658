"""The training job: loads the data, drives the core trainer's generator and reports its
frozen events, run by the controller's `TaskRunner` on a background QThread.

The worker never touches a widget. Everything it reports (`control.report`) is frozen: an
event from `explorer.core.training.events`, a `DownloadProgress`, or one of the payloads
below (a weights snapshot is a CPU copy), so the GUI thread can keep what it receives.
Stopping never goes through a queued slot (the job's thread is busy inside `run`): the
runner's stop token is set from the GUI thread and passed on to the trainer's own stop
flag, both checked before every batch.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer.core.spec import NetworkSpec
from explorer.ui.common.tasks import TaskControl

if TYPE_CHECKING:
    import torch

    from explorer.core.app.training_run import TrainingRun
    from explorer.core.data import DeviceDataset
    from explorer.core.training import Checkpoint, Trainer
    from explorer.core.training.runs import RunFolder, RunSettings

log = logging.getLogger(__name__)

#: Seconds between two weight snapshots sent to the feature-map view during training.
SNAPSHOT_INTERVAL = 0.5
#: Images in the one batch a warm-up trains on: enough to load torch's kernels, small
#: enough that a warm-up never needs much memory.
WARM_UP_BATCH = 4
#: Share of the free memory a warm-up (its dataset, model and one step) may plan to use.
WARM_UP_MEMORY_SHARE = 0.5


class _Cancelled(Exception):
    """Raised from the download progress callback to abandon a download on Stop."""


@dataclass(frozen=True)
class DeviceDetected:
    """Where the run trains, for the user: e.g. "CUDA: NVIDIA H100", "CPU (2 threads)"."""

    text: str


@dataclass(frozen=True)
class LoadingReported:
    """A line about loading or warming up ("loading mnist…", a dataset's warning)."""

    text: str


@dataclass(frozen=True)
class WeightsSnapshot:
    """A CPU copy of the weights (~every `SNAPSHOT_INTERVAL` s and at the end)."""

    state: dict[str, Any]


@dataclass(frozen=True)
class HealthReported:
    """Layer-health records (HealthRecord, host floats) read since the last report."""

    records: tuple[Any, ...]


@dataclass(frozen=True)
class TimelineReported:
    """Feature-map timeline frames (TimelineFrame, uint8 mosaics) recorded since the last."""

    frames: tuple[Any, ...]


@dataclass(frozen=True)
class DatasetReady:
    """The dataset the job loaded, resident on its device, kept for the next run."""

    key: DatasetKey
    dataset: DeviceDataset


@dataclass(frozen=True)
class DatasetKey:
    """What a loaded dataset depends on; equal keys can share one resident dataset."""

    name: str
    data_dir: str
    device: str
    validation_split: float
    seed: int
    input_shape: tuple[int, int, int]


def dataset_key(spec: NetworkSpec, data_dir: Path | None, device: str) -> DatasetKey:
    training = spec.training
    return DatasetKey(
        training.dataset,
        str(data_dir or ""),
        device,
        training.validation_split,
        training.seed,
        (spec.input.channels, spec.input.height, spec.input.width),
    )


@dataclass(frozen=True)
class TrainingJob:
    """One piece of background work: train `spec` into `run_dir`, or only warm up.

    `dataset` is a resident dataset kept from an earlier job with the same key (None: load
    it). A warm-up job never downloads: it only prepares what is already on disk.
    """

    spec: NetworkSpec
    run_dir: Path | None
    data_dir: Path | None = None
    dataset: DeviceDataset | None = None
    warm_only: bool = False
    snapshot_interval: float = SNAPSHOT_INTERVAL
    #: Continue the run in `run_dir` from its checkpoint (as `train --resume` does).
    resume: bool = False
    #: The map timeline's image (C, H, W, normalised): the one picked to inspect, if any.
    probe: torch.Tensor | None = None


def warm_up_memory(spec: NetworkSpec) -> int:
    """Bytes a warm-up would need: the dataset resident at the network's input size (uint8)
    and training the network on one tiny batch (the analysis estimate)."""
    from explorer.core.analysis import analyze
    from explorer.core.data import DatasetError
    from explorer.core.data.catalogue import find_entry

    training = spec.training
    analysis = analyze(spec)
    step = analysis.training_memory_bytes(WARM_UP_BATCH, training.optimizer, training.momentum)
    try:
        entry = find_entry(training.dataset)
    except DatasetError:
        return step
    images = (entry.train_size or 0) + (entry.test_size or 0)
    return step + images * spec.input.channels * spec.input.height * spec.input.width


def free_memory(device: Any) -> int | None:
    """Bytes free on the device now (None when unknown)."""
    import torch

    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    available = _linux_available_memory()
    if available is not None:
        return available
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _linux_available_memory() -> int | None:
    """MemAvailable: what can be had without swapping, reclaimable page cache included
    (the free pages alone understate it on a machine that has been reading files)."""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if fields[:1] == ["MemAvailable:"] and len(fields) > 1 and fields[1].isdigit():
            return int(fields[1]) * 1024
    return None


class TrainingWorker:
    """Runs one `TrainingJob` as a task: `run(control)` reports everything it has to say
    through `control.report` and stops when the control's token is set."""

    def __init__(self, job: TrainingJob) -> None:
        self.job = job
        self._control: TaskControl | None = None
        self._trainer: Trainer | None = None

    # ---- control from the GUI thread (plain calls, thread-safe) ---------------------------

    def set_paused(self, paused: bool) -> bool:
        """Pause or resume the trainer; False while there is no trainer yet."""
        trainer = self._trainer
        if trainer is None:
            return False
        if paused:
            trainer.pause()
        else:
            trainer.resume()
        return True

    # ---- the work, in the worker thread -------------------------------------------------

    def run(self, control: TaskControl) -> None:
        from explorer.core.training import TrainingFailed

        self._control = control
        try:
            self._run()
        except Exception as error:
            # The loop boundary: whatever escaped becomes a failed run, never a dead thread.
            log.exception("training worker failed")
            control.report(TrainingFailed(f"{type(error).__name__}: {error}", 0))
        finally:
            self._trainer = None

    def _emit(self, payload: object) -> None:
        assert self._control is not None
        self._control.report(payload)

    def _stopped(self) -> bool:
        return self._control is not None and self._control.stopped

    #: For the ensemble job (ensemble_worker.py), which reports through this worker.
    emit = _emit

    @property
    def stopped(self) -> bool:
        """Stop has been pressed (the job's thread reads it between members)."""
        return self._stopped()

    def _run(self) -> None:
        from explorer.core.app.preparation import (
            TrainingRunError,
            check_class_count,
            choose_device,
        )
        from explorer.core.data import DownloadCancelled
        from explorer.core.training import Trainer, TrainingFailed, TrainingStopped

        job, spec = self.job, self.job.spec
        settings = spec.training
        if job.warm_only:
            from explorer.core.training import preload

            preload()  # torch's one-time costs first: they are paid even without a dataset
        try:
            # Automatic threads (0) leave a core free: the one the GUI thread draws on.
            choice = choose_device(spec)
        except TrainingRunError as error:
            self._emit(TrainingFailed(str(error), 0))
            return
        if job.warm_only and not self._warm_up_fits(spec, choice.device):
            return
        self._emit(DeviceDetected(choice.description))
        key = dataset_key(spec, job.data_dir, str(choice.device))
        dataset = job.dataset
        if dataset is None:
            try:
                dataset = self._load(spec, choice.device)
            except (_Cancelled, DownloadCancelled):
                self._emit(TrainingStopped(0, 0, 0.0))
                return
            except TrainingRunError as error:
                if not job.warm_only:
                    self._emit(TrainingFailed(str(error), 0))
                log.info("dataset not loaded: %s", error)
                return
            if dataset is None:
                return
            self._emit(DatasetReady(key, dataset))
        try:
            check_class_count(spec, dataset)
        except TrainingRunError as error:
            self._emit(TrainingFailed(str(error), 0))
            return
        if self._stopped():
            self._emit(TrainingStopped(0, 0, 0.0))
            return
        if job.warm_only:
            self._emit_loading("warming up")
            tiny = settings.with_values(batch_size=min(settings.batch_size, WARM_UP_BATCH))
            Trainer(spec, dataset, tiny).warm_up()
            self._emit_loading("ready")
            return
        self._train(spec, dataset)

    def _emit_loading(self, text: str) -> None:
        self._emit(LoadingReported(text))

    def _warm_up_fits(self, spec: NetworkSpec, device: Any) -> bool:
        needed, free = warm_up_memory(spec), free_memory(device)
        if free is not None and needed > WARM_UP_MEMORY_SHARE * free:
            log.info(
                "no warm-up: it would need about %.1f MB of the %.1f MB free",
                needed / 1e6,
                free / 1e6,
            )
            self._emit_loading(
                f"not warmed up: the network and its data need about {needed / 1e6:,.0f} MB "
                f"and {free / 1e6:,.0f} MB are free"
            )
            return False
        return True

    def _load(self, spec: NetworkSpec, device: Any) -> DeviceDataset | None:
        from explorer.core.app.preparation import load_network_dataset
        from explorer.core.data import DownloadProgress, dataset_status

        job, settings = self.job, spec.training
        status = dataset_status(settings.dataset, job.data_dir)
        if job.warm_only and not status.available:
            return None  # warming up never downloads
        verb = "loading" if status.available else "downloading"
        self._emit_loading(f"{verb} {settings.dataset}…")

        def progress(report: DownloadProgress) -> None:
            if self._stopped():
                raise _Cancelled
            self._emit(report)

        # Stop also ends a download's wait before a retry
        assert self._control is not None
        dataset = load_network_dataset(
            spec, job.data_dir, device, progress=progress, cancel=self._control.stop_event
        )
        for warning in dataset.warnings:
            self._emit_loading(warning)
        return dataset

    def _train(self, spec: NetworkSpec, dataset: DeviceDataset) -> None:
        from explorer.core.app.preparation import absolute_data_dir
        from explorer.core.training.runs import RunFolder, RunSettings

        job = self.job
        folder = RunFolder(job.run_dir) if job.run_dir is not None else None
        if folder is not None and _trains_an_ensemble(job, folder):
            from explorer.ui.training.ensemble_worker import train_ensemble

            train_ensemble(self, dataset)
            return
        checkpoint = None
        if job.resume and folder is not None:
            checkpoint = self._checkpoint(folder, spec)
            if checkpoint is None:
                return
        # What `train --resume` needs to continue this run.
        settings = RunSettings(data_dir=absolute_data_dir(job.data_dir))
        self.train_run(spec, dataset, folder, settings, checkpoint)

    def train_run(
        self,
        spec: NetworkSpec,
        dataset: DeviceDataset,
        folder: RunFolder | None,
        settings: RunSettings,
        checkpoint: Checkpoint | None,
    ) -> tuple[object | None, dict[str, Any] | None]:
        """Train one network into `folder`, reporting as it goes; the run's last event and
        its final weights (None, None when it could not start)."""
        from explorer.core.app.preparation import TrainingRunError
        from explorer.core.app.training_run import start_run
        from explorer.core.training import TrainingFailed, TrainingStarted

        job = self.job
        try:
            run = start_run(
                spec, dataset, folder, settings=settings, checkpoint=checkpoint, probe=job.probe
            )
        except TrainingRunError as error:
            self._emit(TrainingFailed(str(error), 0))
            return None, None
        trainer = self._trainer = run.trainer
        assert self._control is not None
        # Stop pressed from now on (or already, while the trainer was being built).
        self._control.token.when_stopped(run.stop)
        last_snapshot = time.perf_counter()
        event: object | None = None
        with closing(run.events()) as events:  # the metrics file closes even if a slot fails
            for event in events:
                # What the run recorded by this event goes with it: after TrainingStarted,
                # which resets the views, and before any other event, so that a run's last
                # payload is its last event.
                started = isinstance(event, TrainingStarted)
                if started:
                    self._emit(event)
                self._emit_recorded(run)
                if not started:
                    self._emit(event)
                now = time.perf_counter()
                if now - last_snapshot >= job.snapshot_interval:
                    self._emit(WeightsSnapshot(trainer.weights_snapshot()))
                    last_snapshot = now
        final = trainer.weights_snapshot()
        self._emit(WeightsSnapshot(final))
        return event, final

    def _emit_recorded(self, run: TrainingRun) -> None:
        """The run's new layer-health records and timeline frames, if any."""
        health = run.take_health()
        if health:
            self._emit(HealthReported(tuple(health)))
        frames = run.timeline.take_new() if run.timeline is not None else []
        if frames:
            self._emit(TimelineReported(tuple(frames)))

    def _checkpoint(self, folder: RunFolder, spec: NetworkSpec) -> Checkpoint | None:
        """The run's checkpoint, read and checked against the run here (it scales with the
        network), as `train --resume` does; None after saying why it cannot be used."""
        from explorer.core.app.preparation import TrainingRunError, resume_checkpoint
        from explorer.core.app.trained_weights import share_weights
        from explorer.core.training import TrainingFailed

        try:
            checkpoint = resume_checkpoint(folder)
        except TrainingRunError as error:
            self._emit(TrainingFailed(f"cannot resume: {error}", 0))
            return None
        if not share_weights(checkpoint.spec, spec):
            self._emit(
                TrainingFailed(
                    f"cannot resume: the checkpoint in {folder.path} is of another network "
                    "than the one in the editor",
                    0,
                )
            )
            return None
        return checkpoint


def _trains_an_ensemble(job: TrainingJob, folder: RunFolder) -> bool:
    """A new run of two or more members, or the continuation of such a run."""
    from explorer.core.training.runs import RunError

    if not job.resume:
        return job.spec.training.ensemble > 1
    try:
        return folder.read_settings().ensemble > 1
    except RunError:
        return False  # the single-run path says what is wrong with the folder
