"""Where a run is: the one record of a run's position, kept by the trainer and saved in its
checkpoints; the plan of its epochs (how the training split is cut into batches); and the
clock of the session under way.

`RunPosition` is frozen: the trainer replaces it as the run moves (once per progress event
and per epoch, never per step), and a checkpoint or another thread holds a position that
cannot change under it. `to_payload` and `from_payload` are its only serialisation; the
checkpoint stores the entries beside its tensors.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

from explorer.core.training.events import event_json_problem
from explorer.core.training.payload import (
    MAX_TEXT,
    Damaged,
    count,
    entry,
    first_line,
    is_number,
    number,
    short,
)


@dataclass(frozen=True)
class RunPosition:
    """A run's position and what it carries across epochs (early stopping, the history)."""

    epoch: int = 0  # completed epochs
    step: int = 0  # completed updates
    batch: int = 0  # batches taken in the epoch under way (0 at an epoch boundary)
    elapsed: float = 0.0  # seconds of training, pauses excluded, when saved (RunSession counts on)
    epoch_loss: float = 0.0  # summed over the samples of the epoch under way
    epoch_correct: int = 0
    epoch_samples: int = 0
    best_validation_loss: float = math.inf
    epochs_without_improvement: int = 0
    #: one record per finished epoch (its EpochEnded event as JSON)
    history: tuple[dict[str, Any], ...] = ()

    @property
    def train_loss(self) -> float:
        """Mean training loss of the epoch under way so far (0 before its first sample)."""
        return self.epoch_loss / max(self.epoch_samples, 1)

    @property
    def train_accuracy(self) -> float:
        return self.epoch_correct / max(self.epoch_samples, 1)

    def after_steps(self, steps: int, loss: float, correct: int, samples: int) -> RunPosition:
        """The position once `steps` more updates of `samples` images, with this summed
        loss and these correct predictions, are counted into the epoch under way."""
        return replace(
            self,
            step=self.step + steps,
            batch=self.batch + steps,
            epoch_loss=self.epoch_loss + loss,
            epoch_correct=self.epoch_correct + correct,
            epoch_samples=self.epoch_samples + samples,
        )

    def after_epoch(
        self, record: dict[str, Any], validation_loss: float | None, patience: int
    ) -> RunPosition:
        """The position at the start of the next epoch: `record` joins the history and,
        with a validation loss and a patience, the early-stopping count moves."""
        best, without = self.best_validation_loss, self.epochs_without_improvement
        if validation_loss is not None and patience:
            if validation_loss < best:
                best, without = validation_loss, 0
            else:
                without += 1
        return replace(
            self,
            epoch=self.epoch + 1,
            batch=0,
            epoch_loss=0.0,
            epoch_correct=0,
            epoch_samples=0,
            best_validation_loss=best,
            epochs_without_improvement=without,
            history=(*self.history, record),
        )

    def out_of_patience(self, patience: int) -> bool:
        """Whether early stopping with this patience (0: none) ends the run here."""
        return patience > 0 and self.epochs_without_improvement >= patience

    def describe(self) -> str:
        return f"epoch {self.epoch}, batch {self.batch}, step {self.step}"

    def to_payload(self) -> dict[str, Any]:
        """The checkpoint's position entries: numbers, the history as JSON text, and the
        epoch's totals as [loss, correct, samples]."""
        return {
            "epoch": self.epoch,
            "step": self.step,
            "batch": self.batch,
            "elapsed": self.elapsed,
            "history": json.dumps(list(self.history)),
            "best_validation_loss": self.best_validation_loss,
            "epochs_without_improvement": self.epochs_without_improvement,
            "epoch_totals": [
                float(self.epoch_loss),
                float(self.epoch_correct),
                float(self.epoch_samples),
            ],
        }

    @staticmethod
    def from_payload(payload: dict[str, Any]) -> RunPosition:
        """The position in a checkpoint's entries, checked for consistency; raises Damaged
        naming the first entry that is wrong (other entries are ignored)."""
        epoch = count(payload, "epoch")
        step = count(payload, "step")
        batch = count(payload, "batch")
        if step < epoch + batch:
            raise Damaged(
                f"position epoch {epoch}, batch {batch} needs at least {epoch + batch} steps, "
                f"but 'step' is {step}"
            )
        elapsed = number(payload, "elapsed")
        if not math.isfinite(elapsed) or elapsed < 0:
            raise Damaged(f"'elapsed' is {elapsed}")
        best = number(payload, "best_validation_loss")
        if math.isnan(best):
            raise Damaged("'best_validation_loss' is NaN")
        without = count(payload, "epochs_without_improvement")
        if without > epoch:
            raise Damaged(f"'epochs_without_improvement' {without} exceeds epoch {epoch}")
        history = _history(entry(payload, "history", str), epoch)
        totals = entry(payload, "epoch_totals", list)
        if len(totals) != 3 or not all(is_number(v) and math.isfinite(v) for v in totals):
            raise Damaged("'epoch_totals' is not three finite numbers")
        loss, correct, samples = (float(v) for v in totals)
        if not (_is_whole(correct) and _is_whole(samples) and 0 <= correct <= samples):
            raise Damaged(f"'epoch_totals' {totals} are not counts")
        return RunPosition(
            epoch=epoch,
            step=step,
            batch=batch,
            elapsed=elapsed,
            epoch_loss=loss,
            epoch_correct=int(correct),
            epoch_samples=int(samples),
            best_validation_loss=best,
            epochs_without_improvement=without,
            history=history,
        )


@dataclass(frozen=True)
class EpochPlan:
    """How the training split is cut into batches: whether the last batch is dropped, the
    images and the batches of one epoch, and the updates of the whole run."""

    drop_last: bool
    epoch_size: int
    steps_per_epoch: int
    total_steps: int
    batch_size: int

    @staticmethod
    def of(train_size: int, batch_size: int, epochs: int) -> EpochPlan:
        # A last batch of one image breaks BatchNorm after Flatten; drop it in that case only.
        drop_last = train_size % batch_size == 1 and train_size > 1
        epoch_size = train_size - 1 if drop_last else train_size
        steps = max(1, math.ceil(epoch_size / batch_size))
        return EpochPlan(drop_last, epoch_size, steps, steps * epochs, batch_size)

    def samples_seen(self, position: RunPosition) -> int:
        batches = min(position.batch * self.batch_size, self.epoch_size)
        return position.epoch * self.epoch_size + batches


@dataclass
class RunSession:
    """One session of a run (from its start or from a resume), kept by the training
    thread: its clock, pauses excluded, and the learning rate of the latest step."""

    start_step: int
    elapsed_before: float  # seconds the run had trained before this session
    started: float  # perf_counter seconds
    learning_rate: float
    paused_for: float = 0.0

    def elapsed(self, now: float) -> float:
        """Seconds of training of the whole run at `now`."""
        return self.elapsed_before + now - self.started - self.paused_for

    def eta(self, step: int, total_steps: int, now: float) -> float:
        """Seconds left at `step`, from this session's speed so far (NaN before a step)."""
        done = step - self.start_step
        spent = self.elapsed(now) - self.elapsed_before
        return spent / done * (total_steps - step) if done else math.nan


def _is_whole(value: float) -> bool:
    return value >= 0 and value == int(value)


def _history(text: str, epoch: int) -> tuple[dict[str, Any], ...]:
    """The epochs' records: one flat JSON object of numbers and words per finished epoch."""
    if len(text) > MAX_TEXT:
        raise Damaged("'history' is too long")
    try:
        entries = json.loads(text)
    except RecursionError:
        raise Damaged("'history' is nested too deeply") from None
    except ValueError as error:
        raise Damaged(f"'history' is not JSON: {first_line(error)}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise Damaged("'history' is not a list of epoch records")
    if len(entries) != epoch:
        raise Damaged(f"'history' holds {len(entries)} epochs but the position is epoch {epoch}")
    for index, record in enumerate(entries, start=1):
        problem = event_json_problem(record)
        if problem is None and record.get("epoch") != index:
            problem = f"epoch {short(record.get('epoch'))} where {index} belongs"
        if problem is not None:
            raise Damaged(f"'history' epoch {index}: {problem}")
    return tuple(entries)
