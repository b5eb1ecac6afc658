"""One training update, shared by the trainer and the benchmarks that measure it."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
import torch.nn.functional as F

from explorer.core.builder import Network


def update(
    model: Network,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    autocast: AbstractContextManager[object] | None = None,
    *,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """One training update on a batch: cross-entropy on the logits (in float32, also under
    `autocast`, with `label_smoothing`) plus the network's L1/L2 terms, then
    zero_grad(set_to_none), backward and the optimizer's step. Returns the loss, the logits
    and the terms (None without)."""
    with autocast or nullcontext():
        logits = model(images)
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)
    penalty = model.penalty()
    total = loss if penalty is None else loss + penalty
    optimizer.zero_grad(set_to_none=True)
    torch.autograd.backward(total)
    optimizer.step()
    return loss, logits, penalty
