"""One training run into one run folder: the trainer, and its events written as they come.

`start_run` builds the trainer (continuing from a checkpoint when given) and then prepares
the run folder: a new run writes its project and settings, a continued one cuts its metrics
back to the checkpoint. `TrainingRun.events()` yields the trainer's frozen events, each
already appended to the folder's metrics.jsonl. The CLI prints them; the window's worker
relays them as signals.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

from explorer.core.app.preparation import BadRunInput, RunFailed, folder_write_failed

if TYPE_CHECKING:
    import torch

    from explorer.core.builder import Network
    from explorer.core.data import DeviceDataset
    from explorer.core.spec import NetworkSpec
    from explorer.core.training import Checkpoint, Trainer, TrainingEvent
    from explorer.core.training.health_log import HealthRecord
    from explorer.core.training.runs import RunFolder, RunSettings
    from explorer.core.training.stacked import BatchReady

log = logging.getLogger(__name__)


class TrainingRun:
    """A trainer and the run folder its events go to (None: a run that keeps no folder)."""

    def __init__(
        self,
        trainer: Trainer,
        folder: RunFolder | None,
        start_step: int = 0,
        probe: torch.Tensor | None = None,
        views: bool = True,
    ) -> None:
        self.trainer = trainer
        self.folder = folder
        self.start_step = start_step  # a continued run's checkpoint step
        self.views = views  # write the embedding and channel tops once it has finished
        self._health: list[HealthRecord] = []
        # The feature-map timeline of the probe image (None: the dataset has no test image).
        from explorer.core.app.timeline_run import TimelineRecorder

        self.timeline = TimelineRecorder.for_trainer(trainer, probe)
        self._stopped = threading.Event()  # also ends the writing of the run's views

    def take_health(self) -> list[HealthRecord]:
        """The layer-health records read since the last call (already in health.jsonl)."""
        taken, self._health = self._health, []
        return taken

    def _observe(self, event: TrainingEvent) -> None:
        """What each event adds beside metrics.jsonl: health records and timeline frames."""
        self._read_health()
        if self.timeline is not None:
            self.timeline.observe(event, self.folder)

    def _read_health(self) -> None:
        """Move the trainer's new health records to the folder and to take_health()."""
        records = self.trainer.health.read()
        if records and self.folder is not None:
            from explorer.core.training.health_log import append_health

            append_health(self.folder.path, records)
        self._health.extend(records)

    @property
    def model(self) -> Network:
        return self.trainer.model

    def stop(self) -> None:
        """Stop before the next batch (callable from any thread)."""
        self._stopped.set()
        self.trainer.stop()

    def events(self) -> Generator[TrainingEvent, None, None]:
        """The trainer's events, each appended to the folder's metrics (and its TensorBoard
        event file) first; the metrics file is closed when the run ends, fails, or the caller
        stops iterating. A folder that cannot be written raises `RunFailed`."""
        from explorer.core.training.stacked import BatchReady

        for event in self._relay(self.trainer.run()):
            if not isinstance(event, BatchReady):
                yield event

    def lockstep_events(self) -> Generator[TrainingEvent | BatchReady, None, None]:
        """`events()` with the trainer in lockstep: a `BatchReady` (written nowhere) before
        each update (see stacked.py)."""
        return self._relay(self.trainer.lockstep_run())

    def _relay(
        self, source: Iterator[TrainingEvent | BatchReady]
    ) -> Generator[TrainingEvent | BatchReady, None, None]:
        from explorer.core.training.stacked import BatchReady

        folder = self.folder
        if folder is None:
            for event in source:
                if not isinstance(event, BatchReady):
                    self._observe(event)
                yield event
            return
        from explorer.core.app.tensorboard_log import TensorBoardLog
        from explorer.core.training import TrainingFinished

        board = TensorBoardLog(folder.path, start_step=self.start_step)
        finished = False
        try:
            with folder:
                for event in source:
                    if not isinstance(event, BatchReady):
                        folder.append(event)
                        board.add(event)
                        self._observe(event)
                        finished = isinstance(event, TrainingFinished)
                    yield event
        except OSError as error:
            raise folder_write_failed(folder, error) from None
        finally:
            board.close()
        if finished and self.views:
            self._write_views(folder)

    def _write_views(self, folder: RunFolder) -> None:
        """The finished run's embedding and channel tops, into its folder (see run_views.py):
        an extra, so a failure to write them is logged, not the run's."""
        from explorer.core.app.run_views import write_run_views

        trainer = self.trainer
        try:
            write_run_views(
                folder.path, trainer.spec, trainer.model, trainer.dataset, self._stopped
            )
        except (OSError, ValueError, RuntimeError) as error:
            log.warning("the run's embedding and channels were not written: %s", error)


def start_run(
    spec: NetworkSpec,
    dataset: DeviceDataset,
    folder: RunFolder | None,
    *,
    settings: RunSettings | None = None,
    checkpoint: Checkpoint | None = None,
    probe: torch.Tensor | None = None,
    views: bool = True,
) -> TrainingRun:
    """A run of `spec` on `dataset` into `folder`, ready to iterate.

    The spec takes the dataset's class names (the checkpoint keeps them). Without a
    checkpoint the folder gets the project and `settings`; with one, the trainer continues
    from it and the folder's metrics are cut back to it. A checkpoint that does not fit the
    network raises `BadRunInput`; a folder that cannot be written `RunFailed`. `probe`
    (C, H, W, normalised) is the timeline's image, the first test image when None. With
    `views`, a finished run also writes its embedding and channel tops (run_views.py), a
    few seconds' pass over the test split.
    """
    from explorer.core.training import CheckpointError, Trainer
    from explorer.core.training.runs import spec_for_dataset

    spec = spec_for_dataset(spec, dataset.info.class_names)
    path = folder.checkpoint_path if folder is not None else None
    try:
        trainer = Trainer(spec, dataset, resume=checkpoint, checkpoint_path=path)
    except CheckpointError as error:
        raise BadRunInput(f"{path}: {error}" if path else str(error)) from None
    if folder is not None:
        try:
            if checkpoint is None:
                folder.create(spec, settings)
            else:
                folder.truncate_metrics(checkpoint)
                from explorer.core.training.health_log import truncate_health

                truncate_health(folder.path, checkpoint.position.step)
        except OSError as error:
            raise folder_write_failed(folder, error) from None
    step = checkpoint.position.step if checkpoint else 0
    return TrainingRun(trainer, folder, step, probe, views)


def report_unexpected(error: BaseException, folder: RunFolder) -> RunFailed:
    """An error nobody foresaw: its traceback written to the run's training.log, and one
    line for the user that says where the full report is."""
    text = str(error).strip().splitlines()
    summary = f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
    details = "".join(traceback.format_exception(error))
    try:
        where = f" (full report in {folder.write_log('training failed', details)})"
    except OSError:
        where = ""
    return RunFailed(f"training failed: {summary}{where}")
