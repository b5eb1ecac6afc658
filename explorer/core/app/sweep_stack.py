"""Which of a sweep's trials train together, stacked on one device (training/stacked.py).

A group is a run of consecutive pending trials that start afresh (none continues from a
checkpoint), with the same architecture and training settings equal except in `PER_TRIAL`,
the settings each member's own trainer applies (its optimizer, schedule, moving average,
epochs, early stopping, evaluation), `MIN_STACKED` to `MAX_STACKED` of them, each small:
multiply-accumulates per image times the batch size at most `MAX_STACKED_MACS`. Those limits
are where stacking measured faster than one trial after another (bench/sweep_stack.py).

A trial stays alone where stacking could change its result or cannot see it: augmentation
(its random draws would interleave), torch.compile, mixed precision, a layer that draws
random numbers (`stacked.random_layers`). Layer health still records: its steps are each
member's own update. Results equal one after another's up to float rounding (stacked.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from explorer.core.app.sweep import SweepPlan, Trial

if TYPE_CHECKING:
    from explorer.core.spec import NetworkSpec
    from explorer.core.training_spec import TrainingSpec

#: Settings that may differ within a group: each member's own trainer applies them.
PER_TRIAL = (
    "optimizer",
    "learning_rate",
    "momentum",
    "nesterov",
    "weight_decay",
    "schedule",
    "step_size",
    "gamma",
    "epochs",
    "early_stopping_patience",
    "ema_decay",
    "tta_flip",
)
#: The fewest and the most trials in one group (two measured slower stacked than alone).
MIN_STACKED = 3
MAX_STACKED = 8
#: The most multiply-accumulates per image times batch size for a trial to stack.
MAX_STACKED_MACS = 3_000_000


def alone_because(spec: NetworkSpec) -> str | None:
    """Why the trial cannot train stacked with others, or None when it can."""
    from explorer.core.analysis import analyze
    from explorer.core.training.augment_settings import AugmentSettings

    training = spec.training
    if training.compile:
        return "it is compiled"
    if training.mixed_precision:
        return "it uses mixed precision"
    if AugmentSettings.of(training).active:
        return "it augments its batches"
    work = analyze(spec).macs * training.batch_size
    if work > MAX_STACKED_MACS:
        return f"it is not small ({work:,} MACs a batch; stacking pays below {MAX_STACKED_MACS:,})"
    from explorer.core.builder import build_model
    from explorer.core.training.stacked import random_layers

    randoms = random_layers(build_model(spec))
    if randoms:
        return f"its layer {randoms[0]} draws random numbers"
    return None


def _shared(training: TrainingSpec, like: TrainingSpec) -> TrainingSpec:
    """`training` with `like`'s per-trial settings: equal when the two may stack."""
    return replace(training, **{key: getattr(like, key) for key in PER_TRIAL})


def stack_together(first: NetworkSpec, other: NetworkSpec) -> bool:
    """Whether `other` may join a group that `first` starts (both stackable alone)."""
    same_training = _shared(other.training, first.training) == first.training
    return first.architecture() == other.architecture() and same_training


def stack_groups(
    plan: SweepPlan, trials: Sequence[Trial], *, stack: bool = True
) -> list[tuple[Trial, ...]]:
    """The pending `trials`, in order, cut into groups that train together (one trial per
    group where `stack` is off or where it cannot stack; see the module docstring)."""
    return list(iter_groups(plan, trials, stack=stack))


def first_group(
    plan: SweepPlan, trials: Sequence[Trial], *, stack: bool = True
) -> tuple[Trial, ...]:
    """The first of `stack_groups`, looking at no more trials than it needs (at most
    MAX_STACKED + 1), so the window can ask on its own thread."""
    return next(iter_groups(plan, trials, stack=stack))


def iter_groups(
    plan: SweepPlan, trials: Sequence[Trial], *, stack: bool = True
) -> Iterator[tuple[Trial, ...]]:
    from explorer.core.app.sweep_run import continues

    group: list[Trial] = []
    for trial in trials:
        alone = not stack or continues(plan, trial) or alone_because(trial.spec) is not None
        joins = not alone and bool(group) and len(group) < MAX_STACKED
        if joins and stack_together(group[0].spec, trial.spec):
            group.append(trial)
            continue
        yield from _cut(group)
        group = [] if alone else [trial]
        if alone:
            yield (trial,)
    yield from _cut(group)


def _cut(group: list[Trial]) -> Iterator[tuple[Trial, ...]]:
    """The group, or its trials one by one where it is too small to pay."""
    if len(group) >= MIN_STACKED:
        yield tuple(group)
    else:
        yield from ((trial,) for trial in group)


def describe_group(group: Sequence[Trial]) -> str:
    """'trial 3' or 'trials 3–6' (or '3, 5, 8' when not a range)."""
    numbers = [trial.number for trial in group]
    if len(numbers) == 1:
        return f"trial {numbers[0]}"
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"trials {numbers[0]}–{numbers[-1]}"
    return "trials " + ", ".join(map(str, numbers))
