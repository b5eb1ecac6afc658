"""Recording the feature-map timeline of a run: the probe image through a snapshot of the
weights at the start, about every `interval` seconds, at each epoch end and at the end,
saved to the run folder's timeline.npz at each epoch end and when the run ends.

The probe is the image picked to inspect when one was given (normalised as the network
sees it, of the dataset's input shape), else the first test image. The capture runs
on a CPU snapshot (`weights_snapshot`, `snapshot_model`), never on the model being
trained, and draws from no random generator, so the training is the same with it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from explorer.core.training.timeline import (
    DEFAULT_CAP_BYTES,
    MapTimeline,
    TimelineFrame,
    frame_from_capture,
)

if TYPE_CHECKING:
    import torch

    from explorer.core.training import Trainer, TrainingEvent
    from explorer.core.training.runs import RunFolder

log = logging.getLogger(__name__)

#: Seconds between two frames while training runs (the feature-map view's refresh is 0.5 s).
TIMELINE_INTERVAL = 1.0


class TimelineRecorder:
    """Adds frames to `timeline` as the trainer's events pass `observe`."""

    def __init__(
        self,
        trainer: Trainer,
        probe: torch.Tensor,
        *,
        interval: float = TIMELINE_INTERVAL,
        cap_bytes: int = DEFAULT_CAP_BYTES,
    ) -> None:
        self.trainer = trainer
        self.probe = probe.detach().cpu()
        self.interval = interval
        self.timeline = MapTimeline(cap_bytes)
        self._last = -float("inf")
        self._new: list[TimelineFrame] = []

    @staticmethod
    def for_trainer(trainer: Trainer, probe: torch.Tensor | None = None) -> TimelineRecorder | None:
        """A recorder whose probe is `probe` (C, H, W) when it has the dataset's input shape,
        else the trainer's first test image (None without one)."""
        from explorer.core.dataset_split import Split

        dataset = trainer.dataset
        if probe is not None and tuple(probe.shape) == tuple(dataset.info.input_shape):
            return TimelineRecorder(trainer, probe)
        if not dataset.size(Split.TEST):
            return None
        images, _ = next(dataset.batches(Split.TEST, 1))
        return TimelineRecorder(trainer, images[0])

    def observe(self, event: TrainingEvent, folder: RunFolder | None) -> None:
        """Record a frame when the event calls for one; save at epoch ends and the end."""
        from explorer.core.training import (
            EpochEnded,
            Progress,
            TrainingFailed,
            TrainingFinished,
            TrainingStarted,
            TrainingStopped,
        )

        now = time.perf_counter()
        ends = isinstance(event, EpochEnded | TrainingFinished | TrainingStopped)
        due = isinstance(event, Progress) and now - self._last >= self.interval
        if isinstance(event, TrainingStarted):
            self._record(event.start_step, now)
        elif due or ends:
            self._record(getattr(event, "step", 0), now)
        if folder is not None and (ends or isinstance(event, TrainingFailed)) and self.timeline:
            self.timeline.save(folder.path)

    def _record(self, step: int, now: float) -> None:
        from explorer.core.capture import capture, snapshot_model

        model = snapshot_model(self.trainer.spec, self.trainer.weights_snapshot())
        frame = frame_from_capture(step, capture(model, self.probe))
        self.timeline.add(frame)
        self._new.append(frame)
        self._last = now

    def take_new(self) -> list[TimelineFrame]:
        """The frames recorded since the last call (for a live view)."""
        taken, self._new = self._new, []
        return taken
