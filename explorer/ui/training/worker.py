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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer.core.spec import NetworkSpec
from explorer.ui.common.tasks import TaskControl

if TYPE_CHECKING:
    from explorer.core.data import DeviceDataset
    from explorer.core.training import Trainer

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


def load_for(
    spec: NetworkSpec,
    data_dir: Path | None,
    device: Any,
    progress: Any = None,
    cancel: Any = None,
) -> DeviceDataset:
    """The network's dataset resident on `device`, sized and coloured for its input, split
    as its training settings say (downloads it when missing; raises DatasetError)."""
    from explorer.core.data import load_dataset

    settings = spec.training
    return load_dataset(
        settings.dataset,
        data_dir=data_dir,
        device=device,
        validation_fraction=settings.validation_split,
        seed=settings.seed,
        progress=progress,
        cancel=cancel,
        input_size=(spec.input.height, spec.input.width),
        grayscale=spec.input.channels == 1,
    )


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

    def _run(self) -> None:
        from explorer.core.data import DatasetError, DownloadCancelled
        from explorer.core.training import Trainer, TrainingFailed, TrainingStopped
        from explorer.core.training.devices import DeviceError, apply_threads, resolve_device

        job, spec = self.job, self.job.spec
        settings = spec.training
        if job.warm_only:
            from explorer.core.training import preload

            preload()  # torch's one-time costs first: they are paid even without a dataset
        try:
            choice = resolve_device(settings.device, threads=settings.threads)
        except DeviceError as error:
            self._emit(TrainingFailed(str(error), 0))
            return
        if job.warm_only and not self._warm_up_fits(spec, choice.device):
            return
        # Automatic (0) leaves a core free, which is also the one the GUI thread draws on.
        threads = apply_threads(choice, settings.threads)
        detail = f"CPU ({threads} thread{'s' if threads != 1 else ''})"
        self._emit(DeviceDetected(detail if choice.type == "cpu" else choice.description))
        key = dataset_key(spec, job.data_dir, str(choice.device))
        dataset = job.dataset
        if dataset is None:
            try:
                dataset = self._load(spec, choice.device)
            except (_Cancelled, DownloadCancelled):
                self._emit(TrainingStopped(0, 0, 0.0))
                return
            except DatasetError as error:
                if not job.warm_only:
                    self._emit(TrainingFailed(str(error), 0))
                log.info("dataset not loaded: %s", error)
                return
            if dataset is None:
                return
            self._emit(DatasetReady(key, dataset))
        if dataset.info.num_classes != spec.num_classes:
            self._emit(
                TrainingFailed(
                    f"dataset {settings.dataset!r} has {dataset.info.num_classes} classes but "
                    f"the network ends in {spec.num_classes}: set the number of classes to "
                    f"{dataset.info.num_classes}",
                    0,
                )
            )
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
        self._train(Trainer, spec, dataset)

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
        dataset = load_for(spec, job.data_dir, device, progress, cancel=self._control.stop_event)
        for warning in dataset.warnings:
            self._emit_loading(warning)
        return dataset

    def _train(self, trainer_class: Any, spec: NetworkSpec, dataset: DeviceDataset) -> None:
        from explorer.core.training.runs import RunFolder, RunSettings, spec_for_dataset

        job = self.job
        folder = RunFolder(job.run_dir) if job.run_dir is not None else None
        checkpoint = None
        if job.resume and folder is not None:
            checkpoint = self._checkpoint(folder, spec)
            if checkpoint is None:
                return
        if folder is not None:
            # The class names of the data actually used, in the checkpoint too.
            spec = spec_for_dataset(spec, dataset.info.class_names)
            if checkpoint is not None:
                folder.truncate_metrics(checkpoint)  # as `train --resume` does
            else:
                # What `train --resume` needs to continue this run.
                data_dir = str(Path(job.data_dir).resolve()) if job.data_dir is not None else None
                folder.create(spec, RunSettings(data_dir=data_dir))
        trainer = trainer_class(
            spec,
            dataset,
            resume=checkpoint,
            checkpoint_path=folder.checkpoint_path if folder else None,
        )
        self._trainer = trainer
        assert self._control is not None
        # Stop pressed from now on (or already, while the trainer was being built).
        self._control.token.when_stopped(trainer.stop)
        last_snapshot = time.perf_counter()
        try:
            for event in trainer.run():
                if folder is not None:
                    folder.append(event)
                self._emit(event)
                now = time.perf_counter()
                if now - last_snapshot >= job.snapshot_interval:
                    self._emit(WeightsSnapshot(trainer.weights_snapshot()))
                    last_snapshot = now
            self._emit(WeightsSnapshot(trainer.weights_snapshot()))
        finally:
            if folder is not None:
                folder.close()

    def _checkpoint(self, folder: Any, spec: NetworkSpec) -> Any:
        """The run's checkpoint, read and checked against the run here (it scales with the
        network), as `train --resume` does; None after saying why it cannot be used."""
        from explorer.core.training import CheckpointError, TrainingFailed

        try:
            checkpoint = folder.checkpoint_for_resume()
        except CheckpointError as error:
            self._emit(TrainingFailed(f"cannot resume: {error}", 0))
            return None
        if checkpoint.spec.architecture() != spec.architecture():
            self._emit(
                TrainingFailed(
                    f"cannot resume: the checkpoint in {folder.path} is of another network "
                    "than the one in the editor",
                    0,
                )
            )
            return None
        return checkpoint
