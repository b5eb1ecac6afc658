"""Runs that cannot go on: the error a training loop raised turned into a TrainingFailed
event whose one-line message says what happened and what to try."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping

import torch

from explorer.core.analysis import analyze
from explorer.core.spec import NetworkSpec
from explorer.core.training.devices import describe_device
from explorer.core.training.events import TrainingFailed

log = logging.getLogger(__name__)

# What torch's batch_norm says when a training batch gives it one value per channel.
_SINGLE_VALUE_BATCH_NORM = "Expected more than 1 value per channel"

# Share of the free GPU memory a suggested batch size may plan to use: the estimate leaves
# out the allocator's fragmentation and cuDNN's workspaces.
_USABLE_FREE_MEMORY = 0.8


class TrainingAborted(Exception):
    """Raised inside the loop to end the run with a TrainingFailed event carrying this
    message (a problem the loop found itself: a non-finite loss, an unwritable file)."""


def failure_for(
    error: Exception, step: int, spec: NetworkSpec, device: torch.device, batch_size: int
) -> TrainingFailed:
    """The event that ends a run whose loop raised `error` after `step` updates."""
    if isinstance(error, TrainingAborted):
        return TrainingFailed(str(error), step)
    if isinstance(error, torch.cuda.OutOfMemoryError) or (
        isinstance(error, RuntimeError | MemoryError | ValueError)
        and ("out of memory" in str(error) or "can't allocate memory" in str(error))
    ):
        return TrainingFailed(out_of_memory_message(spec, device, batch_size), step)
    if is_single_value_batch_norm(error):
        return TrainingFailed(batch_norm_message(batch_size), 0)
    # The one-line message is for the user; the traceback goes with the event for a log
    # file (the run folder's), and to the debug log, never to a terminal by default.
    log.debug("training failed", exc_info=error)
    details = "".join(traceback.format_exception(error))
    text = str(error).strip().splitlines()
    summary = f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
    return TrainingFailed(f"training failed: {summary}", step, details)


def is_single_value_batch_norm(error: Exception) -> bool:
    """Whether BatchNorm refused a training batch with one value per channel."""
    return isinstance(error, RuntimeError | ValueError) and _SINGLE_VALUE_BATCH_NORM in str(error)


def non_finite_message(
    step: int, epoch: int, learning_rate: float, penalties: Mapping[str, tuple[float, float]]
) -> str:
    """The training loss became NaN or infinite: lower the learning rate (and, where layers
    carry L1/L2 terms, those too: a large term makes the update explode)."""
    return (
        f"the loss became non-finite at step {step} (epoch {epoch}) with learning rate "
        f"{learning_rate:g}: {_advice(learning_rate, penalties)}"
    )


def non_finite_penalty_message(
    step: int, epoch: int, penalties: Mapping[str, tuple[float, float]]
) -> str:
    """The L1/L2 term itself became NaN or infinite (the loss did not)."""
    return (
        f"the L1/L2 weight penalty became non-finite at step {step} (epoch {epoch}): "
        f"{_largest_penalty(penalties)} is too large; try a much smaller l1/l2 "
        f"(e.g. 0.0001)"
    )


def non_finite_evaluation_message(
    split: str, epoch: int, learning_rate: float, penalties: Mapping[str, tuple[float, float]]
) -> str:
    """The training steps were finite but the model's loss on `split` is not."""
    return (
        f"the {split} loss is non-finite after epoch {epoch} (the last update made the "
        f"weights unusable): {_advice(learning_rate, penalties)}"
    )


def _advice(learning_rate: float, penalties: Mapping[str, tuple[float, float]]) -> str:
    advice = f"try a lower learning rate (e.g. {learning_rate / 10:g})"
    largest = _largest_penalty(penalties)
    if largest:
        advice += f" or smaller L1/L2 penalties (the largest: {largest})"
    return advice


def batch_norm_message(batch_size: int) -> str:
    """BatchNorm met a training batch with one value per channel."""
    return (
        f"BatchNorm cannot normalise a training batch of {batch_size} image"
        f"{'s' if batch_size != 1 else ''} with one value per channel (after Dense or "
        f"Flatten, or on a 1×1 map): use batch size 2 or more, or remove that BatchNorm"
    )


def _largest_penalty(penalties: Mapping[str, tuple[float, float]]) -> str:
    """The largest L1 or L2 factor in words, e.g. "l2 1e+308 on dense_1" ("" for none)."""
    terms = [
        (value, kind, name)
        for name, pair in penalties.items()
        for kind, value in zip(("l1", "l2"), pair, strict=True)
        if value
    ]
    if not terms:
        return ""
    value, kind, name = max(terms)
    return f"{kind} {value:g} on {name}"


def out_of_memory_message(spec: NetworkSpec, device: torch.device, batch_size: int) -> str:
    """Name the batch size that failed and suggest one: half of it, or less where the
    analysis estimate says half will not fit in the GPU memory now free."""
    suggestion = max(1, batch_size // 2)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        suggestion = min(suggestion, fitting_batch_size(spec, free))
    return (
        f"out of memory on {describe_device(device)} with batch size {batch_size}: "
        f"try batch size {suggestion}"
    )


def fitting_batch_size(spec: NetworkSpec, free_bytes: int) -> int:
    """The largest batch size whose estimated training memory fits in `free_bytes`
    (at least 1), from `Analysis.training_memory`."""
    training = spec.training
    memory = analyze(spec).training_memory(
        training.optimizer, training.momentum, training.weight_decay
    )
    return memory.largest_batch_within(int(_USABLE_FREE_MEMORY * free_bytes))
