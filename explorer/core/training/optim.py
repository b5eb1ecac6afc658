"""Optimizers and learning rates from a TrainingSpec: the optimizer its registry entry
describes (`explorer.core.optimizers`), and the rate its schedule (`explorer.core.schedules`)
gives each step, set on every parameter group before the step."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from explorer.core.optimizers import optimizer_type
from explorer.core.schedules import SCHEDULES, Step
from explorer.core.training_spec import TrainingSpec


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
    """The learning rate for the update numbered `step` (0-based) of `total_steps`, as the
    run's schedule (`explorer.core.schedules`) gives it."""
    return SCHEDULES[training.schedule](training, Step(step, steps_per_epoch, total_steps))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
