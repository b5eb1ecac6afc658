"""One training update, shared by the trainer and the benchmarks that measure it."""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import cast

import torch
import torch.nn.functional as F

from explorer.core.builder import Network
from explorer.core.training.devices import ThreadTiming, candidate_threads, measure_threads
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
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """One training update on a batch: cross-entropy on the logits (in float32, also under
    `autocast`, with `label_smoothing`) plus the network's L1/L2 terms, then
    zero_grad(set_to_none), backward and the optimizer's step. Returns the loss, the logits
    and the terms (None without). `forward` computes the logits in place of `model` (its
    torch.compile'd form, which shares its weights)."""
    with autocast or nullcontext():
        logits = (model if forward is None else forward)(images)
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)
    penalty = model.penalty()
    total = loss if penalty is None else loss + penalty
    optimizer.zero_grad(set_to_none=True)
    torch.autograd.backward(total)
    optimizer.step()
    return loss, logits, penalty


def compiled_forward(model: Network) -> Callable[[torch.Tensor], torch.Tensor]:
    """`model` compiled by torch.compile (Inductor), sharing its weights: the compiler runs
    at the first call of each batch shape. Inductor's import loads torch.utils.mkldnn,
    which warns that torch.jit is deprecated: torch's own business, so it is not shown."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit.script_method` is deprecated")
        return cast(Callable[[torch.Tensor], torch.Tensor], torch.compile(model))


def warm_up(
    model: Network,
    images: torch.Tensor,
    labels: torch.Tensor,
    autocast: AbstractContextManager[object],
    training: TrainingSpec,
) -> None:
    """One forward and backward pass of a throwaway copy of `model` on a real batch, so
    kernels are chosen and caches filled before the first real step."""
    trial = trial_step(model, images, labels, autocast, training)
    if trial is not None:
        trial()


def trial_step(
    model: Network,
    images: torch.Tensor,
    labels: torch.Tensor,
    autocast: AbstractContextManager[object],
    training: TrainingSpec,
) -> Callable[[], None] | None:
    """A forward and backward pass of a throwaway copy of `model` on a real batch, to call
    as often as one likes (warming up, timing thread counts): the model, its optimizer and
    its BatchNorm statistics stay as they are. None where the batch cannot train (a
    BatchNorm layer meeting one value per channel: training itself stops and says why)."""
    model = copy.deepcopy(model)

    def step() -> None:
        # Dropout's draws leave the run's random states alone.
        with torch.random.fork_rng(devices=[]), autocast:
            logits = model(images)
            loss = F.cross_entropy(logits.float(), labels)
        torch.autograd.backward(loss)
        model.zero_grad(set_to_none=True)
        if images.device.type == "cuda":
            torch.cuda.synchronize(images.device)

    try:
        step()
    except ValueError as error:
        if not is_single_value_batch_norm(error):
            raise
        log.debug("no trial step: %s", batch_norm_message(training.batch_size))
        return None
    return step


def fastest_threads(
    model: Network,
    images: torch.Tensor,
    labels: torch.Tensor,
    autocast: AbstractContextManager[object],
    training: TrainingSpec,
) -> ThreadTiming | None:
    """Time a trial step on this batch at each candidate CPU thread count (up to torch's
    count now) and keep the fastest, which the device line then names with the times; None
    (the count unchanged) where the batch cannot train."""
    trial = trial_step(model, images, labels, autocast, training)
    if trial is None:
        return None
    return measure_threads(trial, candidate_threads(torch.get_num_threads()))
