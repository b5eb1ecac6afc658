"""One training update, shared by the trainer and the benchmarks that measure it."""

from __future__ import annotations

import copy
import logging
from contextlib import AbstractContextManager, nullcontext

import torch
import torch.nn.functional as F

from explorer.core.builder import Network
from explorer.core.training.failures import batch_norm_message, is_single_value_batch_norm
from explorer.core.training_spec import TrainingSpec

log = logging.getLogger(__name__)


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


def warm_up(
    model: Network,
    images: torch.Tensor,
    labels: torch.Tensor,
    autocast: AbstractContextManager[object],
    training: TrainingSpec,
) -> None:
    """One forward and backward pass of a throwaway copy of `model` on a real batch, so
    kernels are chosen and caches filled before the first real step."""
    model = copy.deepcopy(model)
    try:
        with autocast:
            logits = model(images)
            loss = F.cross_entropy(logits.float(), labels)
    except ValueError as error:
        if not is_single_value_batch_norm(error):
            raise
        # Nothing to prepare: training itself stops at its first step and says why.
        log.debug("no warm-up: %s", batch_norm_message(training.batch_size))
        return
    torch.autograd.backward(loss)
    if images.device.type == "cuda":
        torch.cuda.synchronize(images.device)
