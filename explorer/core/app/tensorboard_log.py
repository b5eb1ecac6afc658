"""TensorBoard event files beside a run's metrics.jsonl, so `tensorboard --logdir runs` shows
every run (and `--logdir SWEEP_DIR` a sweep's trials side by side).

Per epoch: `train/loss`, `train/accuracy`, `validation/loss`, `validation/accuracy` (without
a validation split, none) and `learning_rate`; at the end `test/loss` and `test/accuracy`;
accuracies as fractions, the step being the training step. The writer (and the `tensorboard`
package with it, about a second to import) is made at the first epoch's end, after the first
loss point is drawn; without the package no events are written and the run goes on. A
continued run purges what the folder's event files hold after its checkpoint's step.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explorer.core.training import TrainingEvent

log = logging.getLogger(__name__)


class TensorBoardLog:
    """Writes a run's epoch and test metrics as TensorBoard scalars into `folder`."""

    def __init__(self, folder: Path, *, start_step: int = 0) -> None:
        self.folder = folder
        self.start_step = start_step
        self._writer: Any = None
        self._unavailable = False

    def add(self, event: TrainingEvent) -> None:
        """Record the event if it is an epoch's end or the test result (others are not)."""
        from explorer.core.training import EpochEnded, TrainingFinished

        if isinstance(event, EpochEnded):
            scalars = {
                "train/loss": event.train_loss,
                "train/accuracy": event.train_accuracy,
                "validation/loss": event.validation_loss,
                "validation/accuracy": event.validation_accuracy,
                "learning_rate": event.learning_rate,
            }
        elif isinstance(event, TrainingFinished):
            scalars = {"test/loss": event.test_loss, "test/accuracy": event.test_accuracy}
        else:
            return
        writer = self._open()
        if writer is None:
            return
        for tag, value in scalars.items():
            if value is not None:
                writer.add_scalar(tag, value, event.step)
        writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _open(self) -> Any:
        if self._writer is None and not self._unavailable:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the package is optional: runs go on without event files
                log.info("tensorboard is not installed: no event files in %s", self.folder)
                self._unavailable = True
                return None
            # TensorBoard drops what the files hold from `purge_step` on: the checkpoint's
            # own step stays (its epoch was recorded before it was saved)
            purge = self.start_step + 1 if self.start_step > 0 else None
            self._writer = SummaryWriter(str(self.folder), purge_step=purge)
        return self._writer
