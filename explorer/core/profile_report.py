"""What `explorer.core.profiling` measures, as plain data, and its text: torch-free, so the
window can show a profile without importing torch on its thread."""

from __future__ import annotations

from dataclasses import dataclass

from explorer.core.memory import format_bytes


@dataclass(frozen=True)
class LayerProfile:
    """One layer's measured cost in a training step (times: mean over the measured steps),
    beside the analysis' estimates for the same batch."""

    name: str
    type: str
    forward_ms: float
    backward_ms: float
    # bytes the forward pass allocated and still held when it returned (output, saved tensors)
    forward_bytes: int
    # the most memory allocated at any moment while the layer ran, forward or backward
    peak_bytes: int
    params: int
    macs: int  # per image
    estimated_activation_bytes: int  # the layer's output for the whole batch


@dataclass(frozen=True)
class StepProfile:
    """The measured step: per layer, and for the whole network."""

    device: str
    batch_size: int
    steps: int
    layers: tuple[LayerProfile, ...]
    step_ms: float
    peak_bytes: int
    weight_bytes: int
    estimated_peak_bytes: int
    params: int
    macs: int  # per image


@dataclass(frozen=True)
class BatchTry:
    """One batch size tried: its measured peak (None when it was not run, or failed)."""

    batch_size: int
    fits: bool
    peak_bytes: int | None
    note: str  # "ran", "over budget", "estimate over budget", "out of memory"


@dataclass(frozen=True)
class LargestBatch:
    batch_size: int  # 0 when not even a batch of 1 fits
    peak_bytes: int  # measured at that batch
    budget_bytes: int
    cap: int
    limited_by: str  # "cap" or "memory"
    tries: tuple[BatchTry, ...]


def largest_text(largest: LargestBatch) -> str:
    """One line: the largest batch, its peak and what limited it."""
    if largest.batch_size == 0:
        return f"Largest batch: none fits in {format_bytes(largest.budget_bytes)}"
    why = (
        f"the cap of {largest.cap}"
        if largest.limited_by == "cap"
        else f"a budget of {format_bytes(largest.budget_bytes)}"
    )
    return (
        f"Largest batch: {largest.batch_size} (peak {format_bytes(largest.peak_bytes)}; "
        f"limited by {why}, {len(largest.tries)} tries)"
    )


def peak_text(step: StepProfile) -> str:
    """One line: the measured peak beside the estimate."""
    ratio = step.estimated_peak_bytes / step.peak_bytes if step.peak_bytes else float("nan")
    return (
        f"Peak memory: {format_bytes(step.peak_bytes)} measured, "
        f"{format_bytes(step.estimated_peak_bytes)} estimated ({ratio:.2f}x)"
    )
