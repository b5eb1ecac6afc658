"""Optimizers and learning-rate schedules from a TrainingSpec.

Schedules are closed-form functions of the step, applied by setting each parameter group's
learning rate before the step: nothing to save beyond the step count, and a resumed run
with more epochs simply stretches the schedule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from explorer.core.optimizers import optimizer_type
from explorer.core.training_spec import TrainingSpec

# one-cycle shape, as torch.optim.lr_scheduler.OneCycleLR's defaults
_ONECYCLE_WARMUP = 0.3
_ONECYCLE_START_DIVISOR = 25.0
_ONECYCLE_FINAL_DIVISOR = 1e4


def make_optimizer(
    parameters: Iterable[torch.nn.Parameter], training: TrainingSpec
) -> torch.optim.Optimizer:
    """The optimizer named by `training.optimizer`, built as its registry entry says
    (`explorer.core.optimizers`) with the run's learning rate, momentum and weight decay."""
    entry = optimizer_type(training.optimizer)
    optimizer_class: Callable[..., torch.optim.Optimizer] = getattr(torch.optim, entry.torch_class)
    return optimizer_class(list(parameters), lr=training.learning_rate, **entry.options(training))


def learning_rate_at(
    training: TrainingSpec, step: int, steps_per_epoch: int, total_steps: int
) -> float:
    """The learning rate for the update numbered `step` (0-based) of `total_steps`."""
    base = training.learning_rate
    if training.schedule == "constant":
        return base
    if training.schedule == "step":
        return base * training.gamma ** (step // (training.step_size * steps_per_epoch))
    progress = min(step / max(total_steps - 1, 1), 1.0)
    if training.schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * progress))
    if training.schedule == "onecycle":
        start = base / _ONECYCLE_START_DIVISOR
        end = start / _ONECYCLE_FINAL_DIVISOR
        if progress < _ONECYCLE_WARMUP:
            return _cosine_between(start, base, progress / _ONECYCLE_WARMUP)
        return _cosine_between(base, end, (progress - _ONECYCLE_WARMUP) / (1 - _ONECYCLE_WARMUP))
    raise ValueError(f"unknown schedule {training.schedule!r}")


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _cosine_between(start: float, end: float, fraction: float) -> float:
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * fraction))
