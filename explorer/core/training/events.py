"""What the trainer reports: immutable events, safe to hand to another thread.

Every number is a plain Python float or int (read from the device only when the event is
built), so a consumer never touches a tensor that training is still using.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from functools import cache
from typing import Any, get_origin, get_type_hints


@dataclass(frozen=True)
class TrainingStarted:
    """Training is about to take its first step (or its first step after a resume)."""

    device: str
    epochs: int
    steps_per_epoch: int
    train_size: int
    validation_size: int
    test_size: int
    start_step: int
    mixed_precision: bool


@dataclass(frozen=True)
class Progress:
    """Training metrics averaged over the steps since the previous Progress event.

    `epoch` counts from 1; `epoch_fraction` is how far through that epoch training is (0..1].
    Loss is the cross-entropy on the logits (the spec's L1/L2 terms are not included).
    """

    step: int
    epoch: int
    epoch_fraction: float
    samples_seen: int
    train_loss: float
    train_accuracy: float
    learning_rate: float
    images_per_second: float
    elapsed: float  # seconds of training, pauses excluded
    eta: float  # seconds left, estimated from the speed so far


@dataclass(frozen=True)
class EpochEnded:
    """An epoch finished: its training averages and the validation metrics (None without a
    validation split)."""

    epoch: int
    step: int
    train_loss: float
    train_accuracy: float
    validation_loss: float | None
    validation_accuracy: float | None
    learning_rate: float
    elapsed: float


@dataclass(frozen=True)
class TrainingFinished:
    """Training ran to its last epoch (or stopped early on the validation loss).

    Accuracies are fractions (0..1); `per_class_accuracy` follows the class order and is NaN
    for a class absent from the test split.
    """

    epoch: int
    step: int
    test_loss: float
    test_accuracy: float
    per_class_accuracy: tuple[float, ...]
    early_stopped: bool
    elapsed: float
    #: the whole test result (explorer.core.evaluation.Evaluation: confusion matrix and
    #: per-sample predictions, host arrays) for the window's Evaluation panel; not in JSON
    evaluation: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class TrainingStopped:
    """Training stopped on request; the state up to `step` is kept and can be resumed."""

    epoch: int
    step: int
    elapsed: float


@dataclass(frozen=True)
class TrainingFailed:
    """Training could not go on; `message` says why and what to try (one line).

    `details` is the full report of an unexpected error (its traceback), for a log file;
    it is not part of the event's JSON.
    """

    message: str
    step: int
    details: str = ""


TrainingEvent = (
    TrainingStarted | Progress | EpochEnded | TrainingFinished | TrainingStopped | TrainingFailed
)


def event_to_json(event: TrainingEvent) -> dict[str, Any]:
    """A JSON-ready dict of the event with its kind first (for metrics.jsonl)."""
    data: dict[str, Any] = {"event": _KINDS[type(event)]}
    for item in fields(event):
        key, value = item.name, getattr(event, item.name)
        if key in _NOT_IN_JSON:
            continue
        data[key] = [_finite(v) for v in value] if isinstance(value, tuple) else _finite(value)
    return data


def event_json_problem(data: object) -> str | None:
    """What is wrong with one line of metrics.jsonl read back (None: a valid event).

    The checks follow the event classes' fields: every field without a default is present
    with its type (a float may be null, written for a non-finite value; a whole number is
    accepted for a float), and counts are not negative. Unknown keys are allowed.
    """
    if not isinstance(data, dict):
        return f"not an event object but {type(data).__name__}"
    kind = data.get("event")
    schema = _schema(kind) if isinstance(kind, str) else None
    if schema is None:
        return f"unknown event {_short(kind)}"
    for name, check, required in schema:
        if name not in data:
            if required:
                return f"{kind} event without {name!r}"
            continue
        value = data[name]
        if not check(value):
            return f"{kind} event: {name!r} is {_short(value)}"
    return None


_Check = Callable[[object], bool]


def _is_count(value: object) -> bool:
    return type(value) is int and value >= 0


def _is_real(value: object) -> bool:
    # null stands for a non-finite value; bool is an int subclass but not a number here
    return value is None or type(value) in (int, float)


def _check_for(expected: object) -> _Check:
    if expected is int:
        return _is_count
    if expected is bool:
        return lambda value: type(value) is bool
    if expected is str:
        return lambda value: type(value) is str
    if expected is float or expected == float | None:
        return _is_real
    if get_origin(expected) is tuple:
        return lambda value: type(value) is list and all(map(_is_real, value))
    raise TypeError(f"no check for a field of type {expected}")


@cache
def _schema(kind: str) -> tuple[tuple[str, _Check, bool], ...] | None:
    """(name, check, required) for each JSON field of the event kind; None if unknown."""
    cls = _CLASSES.get(kind)
    if cls is None:
        return None
    types = get_type_hints(cls)
    return tuple(
        (field.name, _check_for(types[field.name]), field.default is MISSING)
        for field in fields(cls)
        if field.name not in _NOT_IN_JSON
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _finite(value: Any) -> Any:
    # JSON has no NaN or infinity: such a metric is written as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_KINDS: dict[type, str] = {
    TrainingStarted: "started",
    Progress: "progress",
    EpochEnded: "epoch",
    TrainingFinished: "finished",
    TrainingStopped: "stopped",
    TrainingFailed: "failed",
}
_CLASSES: dict[str, type] = {kind: cls for cls, kind in _KINDS.items()}
_NOT_IN_JSON = frozenset({"details", "evaluation"})
