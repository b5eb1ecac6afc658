"""The learning-rate schedules, each declared once: its name (the training setting's choices)
and its closed-form rate at a step.

Closed-form functions of the step, applied by setting each parameter group's learning rate
before the step: nothing to save beyond the step count, and a resumed run with more epochs
simply stretches the schedule. No torch here, so the settings can list the names without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from explorer.core.training_spec import TrainingSpec

# one-cycle shape, as torch.optim.lr_scheduler.OneCycleLR's defaults
_ONECYCLE_WARMUP = 0.3
_ONECYCLE_START_DIVISOR = 25.0
_ONECYCLE_FINAL_DIVISOR = 1e4


@dataclass(frozen=True)
class Step:
    """Where a run is in its schedule: the update numbered `step` (0-based) of `total`."""

    step: int
    steps_per_epoch: int
    total: int

    @property
    def progress(self) -> float:
        """From 0 at the first update to 1 at the last."""
        return min(self.step / max(self.total - 1, 1), 1.0)


Schedule = Callable[["TrainingSpec", Step], float]


def _constant(training: TrainingSpec, at: Step) -> float:
    return training.learning_rate


def _step(training: TrainingSpec, at: Step) -> float:
    decays = at.step // (training.step_size * at.steps_per_epoch)
    return training.learning_rate * training.gamma**decays


def _cosine(training: TrainingSpec, at: Step) -> float:
    return training.learning_rate * 0.5 * (1.0 + math.cos(math.pi * at.progress))


def _onecycle(training: TrainingSpec, at: Step) -> float:
    peak = training.learning_rate
    start = peak / _ONECYCLE_START_DIVISOR
    end = start / _ONECYCLE_FINAL_DIVISOR
    if at.progress < _ONECYCLE_WARMUP:
        return _cosine_between(start, peak, at.progress / _ONECYCLE_WARMUP)
    return _cosine_between(peak, end, (at.progress - _ONECYCLE_WARMUP) / (1 - _ONECYCLE_WARMUP))


def _cosine_between(start: float, end: float, fraction: float) -> float:
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * fraction))


SCHEDULES: dict[str, Schedule] = {
    "constant": _constant,
    "step": _step,
    "cosine": _cosine,
    "onecycle": _onecycle,
}
