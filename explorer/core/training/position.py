"""Where a run is: the loop's mutable position, saved in and restored from checkpoints."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from explorer.core.training.checkpoint import Checkpoint


@dataclass
class Position:
    """Mutable and owned by the training thread; other threads see copies in events."""

    epoch: int = 0  # completed epochs
    step: int = 0  # completed updates
    batch: int = 0  # batches taken in the epoch under way
    elapsed: float = 0.0  # seconds of training before this session (resume)
    epoch_loss: float = 0.0  # summed over the samples of the epoch under way
    epoch_correct: float = 0.0
    epoch_samples: int = 0
    best_validation_loss: float = math.inf
    epochs_without_improvement: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def from_checkpoint(checkpoint: Checkpoint) -> Position:
        loss, hits, samples = checkpoint.epoch_totals
        return Position(
            epoch=checkpoint.epoch,
            step=checkpoint.step,
            batch=checkpoint.batch,
            elapsed=checkpoint.elapsed,
            epoch_loss=loss,
            epoch_correct=hits,
            epoch_samples=samples,
            best_validation_loss=checkpoint.best_validation_loss,
            epochs_without_improvement=checkpoint.epochs_without_improvement,
            history=list(checkpoint.history),
        )
