"""The training steps since the last progress event, summed on the device.

Each step adds its loss, logits, labels and L1/L2 term, all left on the device: the step
itself adds no host sync (DESIGN.md: accumulate, sync per UI tick). `read()` turns the
window into plain numbers with one host read, when a progress event is built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from explorer.core.training.failures import non_finite_message, non_finite_penalty_message
from explorer.core.training.metrics import sum_dtype

# Logits of this many steps are kept before their correct predictions are counted: one
# argmax for many steps, and a bounded amount of memory when events are far apart.
FOLD_STEPS = 64


@dataclass(frozen=True)
class WindowTotals:
    """A window's steps summed: the loss over its samples, the correct predictions, and how
    many leading steps had a finite loss and a finite L1/L2 term (None without terms)."""

    steps: int
    samples: int
    loss: float
    correct: int
    finite_steps: int
    finite_penalty_steps: int | None
    seconds: float  # the window's wall time, pauses excluded

    @property
    def mean_loss(self) -> float:
        return self.loss / self.samples

    @property
    def accuracy(self) -> float:
        return self.correct / self.samples

    @property
    def images_per_second(self) -> float:
        return self.samples / max(self.seconds, 1e-9)

    def problem(
        self,
        first_step: int,
        epoch: int,
        learning_rate: float,
        penalties: Mapping[str, tuple[float, float]],
    ) -> str:
        """Why training cannot go on after these steps, numbered from `first_step`: the
        first non-finite L1/L2 term or loss, in words ("" when all are finite)."""
        terms = self.finite_penalty_steps
        if terms is not None and terms < self.steps and terms <= self.finite_steps:
            # The term went first: it, not the learning rate, is what to change.
            return non_finite_penalty_message(first_step + terms, epoch, penalties)
        if self.finite_steps < self.steps or not math.isfinite(self.loss):
            # Finite losses whose sum overflows: the last step is where it went too far.
            broke = min(self.finite_steps, self.steps - 1)
            return non_finite_message(first_step + broke, epoch, learning_rate, penalties)
        return ""


class MetricsWindow:
    """The steps since the last read; owned by the training thread."""

    def __init__(self, device: torch.device, *, fold_steps: int = FOLD_STEPS) -> None:
        self._dtype = sum_dtype(device)
        self._fold_steps = fold_steps
        self._losses: list[torch.Tensor] = []
        self._logits: list[torch.Tensor] = []
        self._labels: list[torch.Tensor] = []
        self._hits: list[torch.Tensor] = []  # correct counts of folded steps
        self._penalties: list[torch.Tensor] = []
        self._sizes: list[int] = []
        self._opened = 0.0
        self._read_at: float | None = None

    @property
    def steps(self) -> int:
        return len(self._sizes)

    def open(self, now: float) -> None:
        """Start counting the window's time at `now` (perf_counter seconds)."""
        self._opened = now

    def pause(self, seconds: float) -> None:
        """Leave a pause of `seconds` out of the window's time."""
        self._opened += seconds

    def due(self, now: float, interval: float) -> bool:
        """Whether `interval` seconds have passed since the last read (true before the
        first, so the first step is reported at once)."""
        return self._read_at is None or now - self._read_at >= interval

    def add(
        self,
        loss: torch.Tensor,
        logits: torch.Tensor,
        labels: torch.Tensor,
        penalty: torch.Tensor | None,
    ) -> None:
        """One step: its mean loss (0-D), logits (N, classes), labels (N) and L1/L2 term,
        all detached and on the device."""
        self._losses.append(loss)
        self._logits.append(logits)
        self._labels.append(labels)
        if penalty is not None:
            self._penalties.append(penalty)
        self._sizes.append(labels.shape[0])
        if len(self._logits) >= self._fold_steps:
            self._fold()

    def read(self, now: float) -> WindowTotals:
        """The window's totals (one host read); the window keeps its steps until clear()."""
        if not self._sizes:
            raise ValueError("an empty metrics window has nothing to read")
        if self._logits:
            self._fold()
        step_losses = torch.stack(self._losses).to(self._dtype)
        weights = torch.tensor(self._sizes, dtype=self._dtype, device=step_losses.device)
        correct = torch.stack(self._hits).sum().to(self._dtype)
        values = [(step_losses * weights).sum(), correct, _finite_prefix(step_losses)]
        if self._penalties:
            values.append(_finite_prefix(torch.stack(self._penalties).to(self._dtype)))
        read = torch.stack(values).tolist()
        return WindowTotals(
            steps=len(self._sizes),
            samples=sum(self._sizes),
            loss=read[0],
            correct=int(read[1]),
            finite_steps=int(read[2]),
            finite_penalty_steps=int(read[3]) if self._penalties else None,
            seconds=now - self._opened,
        )

    def clear(self, now: float) -> None:
        """Drop the steps read and open the next window at `now`."""
        self._losses.clear()
        self._hits.clear()
        self._penalties.clear()
        self._sizes.clear()
        self._opened = self._read_at = now

    def _fold(self) -> None:
        """Count the correct predictions of the kept logits (on the device) and drop them."""
        self._hits.append((torch.cat(self._logits).argmax(1) == torch.cat(self._labels)).sum())
        self._logits.clear()
        self._labels.clear()


def _finite_prefix(values: torch.Tensor) -> torch.Tensor:
    """How many leading entries of the 1-D `values` are finite, as a 0-D tensor."""
    steps = torch.arange(len(values), dtype=values.dtype, device=values.device)
    return torch.where(torch.isfinite(values), torch.full_like(steps, len(values)), steps).min()
