"""Messages for runs that cannot go on: what happened and what to try."""

from __future__ import annotations

import torch

from explorer.core.analysis import analyze
from explorer.core.spec import NetworkSpec
from explorer.core.training.devices import describe_device

# Share of the free GPU memory a suggested batch size may plan to use: the estimate leaves
# out the allocator's fragmentation and cuDNN's workspaces.
_USABLE_FREE_MEMORY = 0.8


def non_finite_message(step: int, epoch: int, learning_rate: float) -> str:
    return (
        f"the loss became non-finite at step {step} (epoch {epoch}) with learning rate "
        f"{learning_rate:g}: try a lower learning rate (e.g. {learning_rate / 10:g})"
    )


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
