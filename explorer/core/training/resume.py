"""Whether a checkpoint can continue a run: its weights, optimizer state, position and
random states against the network, the optimizer, the data and the device they are to
continue with; and the random states saved and put back.

Checked before anything is loaded: torch's own errors name neither the file nor what to do,
and some (an optimizer state of the wrong shape) only surface at the first step.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from explorer.core.spec import TrainingSpec
from explorer.core.training.checkpoint import Checkpoint, CheckpointError
from explorer.core.training.optim import make_optimizer
from explorer.core.training.payload import is_number, short


def check_resumable(
    checkpoint: Checkpoint,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    training: TrainingSpec,
    steps_per_epoch: int,
    device: torch.device,
) -> None:
    """Raise CheckpointError unless `checkpoint` can continue training `model` with
    `optimizer` (freshly made from `training`) on data of `steps_per_epoch` batches on
    `device`: the same tensors with the same shapes, an optimizer state of the same kind
    and shape, a position that this data and these settings can have reached, and random
    states of this device's generators."""
    check_weights(checkpoint, model)
    _check_optimizer(checkpoint.optimizer_state, optimizer, training)
    _check_random_states(checkpoint, device)
    position = checkpoint.position
    if position.batch >= steps_per_epoch:
        raise CheckpointError(
            f"the checkpoint's position ({position.describe()}) is past the end of an epoch "
            f"of {steps_per_epoch} batches: the data or the batch size changed"
        )
    if position.step != position.epoch * steps_per_epoch + position.batch:
        raise CheckpointError(
            f"the checkpoint's position ({position.describe()}) does not fit epochs of "
            f"{steps_per_epoch} batches: the data or the batch size changed"
        )
    if position.epoch >= training.epochs:
        raise CheckpointError(
            f"the run has already trained {position.epoch} of {training.epochs} epochs: "
            f"to go on, ask for more (e.g. --epochs {position.epoch + 1})"
        )


def check_weights(checkpoint: Checkpoint, model: torch.nn.Module) -> None:
    """Raise CheckpointError unless the checkpoint's weights are exactly the tensors of
    `model` (names, shapes, floating point), naming the first that is not."""
    expected = model.state_dict()
    saved = checkpoint.model_state
    missing = [key for key in expected if key not in saved]
    extra = [key for key in saved if key not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks {_names(missing)}")
        if extra:
            parts.append(f"has {_names(extra)} that the network does not")
        raise CheckpointError(
            f"the checkpoint's weights do not fit the network: {', '.join(parts)}"
        )
    for key, tensor in expected.items():
        if tuple(saved[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"the checkpoint's weights do not fit the network: {key!r} has shape "
                f"{tuple(saved[key].shape)}, the network needs {tuple(tensor.shape)}"
            )
        if saved[key].dtype.is_floating_point != tensor.dtype.is_floating_point:
            raise CheckpointError(f"the checkpoint's {key!r} is {saved[key].dtype}")


def random_states(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The states of torch's CPU generator and of `device`'s default generator (the CPU's
    again for a device without its own), as a checkpoint saves them."""
    cpu = torch.get_rng_state()
    return cpu, torch.cuda.get_rng_state(device) if device.type == "cuda" else cpu


def restore_random_states(
    checkpoint: Checkpoint, order: torch.Generator, device: torch.device
) -> None:
    """Put the checkpoint's random states back: the batch order's into `order`, and those
    of torch's CPU generator and of `device`'s."""
    order.set_state(checkpoint.order_rng)
    torch.set_rng_state(checkpoint.cpu_rng)
    if device.type == "cuda":
        torch.cuda.set_rng_state(checkpoint.device_rng, device)


def _check_random_states(checkpoint: Checkpoint, device: torch.device) -> None:
    """The saved generator states must fit this device's generators (tried on throwaway
    generators, so nothing changes on failure)."""
    states = [("order_rng", checkpoint.order_rng)]
    if device.type == "cuda":
        states.append(("device_rng", checkpoint.device_rng))
    for name, state in states:
        try:
            torch.Generator(device=device).set_state(state)
        except (RuntimeError, ValueError, TypeError):
            raise CheckpointError(
                f"the checkpoint's {name!r} is not a state of a {device.type} generator"
            ) from None


def _check_optimizer(
    saved: dict[str, Any], optimizer: torch.optim.Optimizer, training: TrainingSpec
) -> None:
    fresh = optimizer.state_dict()
    name = training.optimizer
    if len(saved["param_groups"]) != len(fresh["param_groups"]):
        raise CheckpointError(
            f"the checkpoint's optimizer state has {len(saved['param_groups'])} parameter "
            f"groups, {name} here has {len(fresh['param_groups'])}"
        )
    for old, new in zip(saved["param_groups"], fresh["param_groups"], strict=True):
        if old["params"] != new["params"]:
            raise CheckpointError(
                f"the checkpoint's optimizer state is for {len(old['params'])} parameter "
                f"tensors, the network has {len(new['params'])}"
            )
        if set(old) != set(new):
            raise CheckpointError(
                f"the checkpoint's optimizer state is not from {name} "
                f"(settings {', '.join(sorted(set(old) ^ set(new)))} differ)"
            )
        for key, value in new.items():
            if key != "params" and not _same_kind(old[key], value):
                raise CheckpointError(
                    f"the checkpoint's optimizer setting {key!r} is {short(old[key])}"
                )
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    keys = _state_keys(training)
    for index, entry in saved["state"].items():
        if index >= len(parameters):
            raise CheckpointError(f"the checkpoint's optimizer state names parameter {index}")
        if set(entry) != keys:
            raise CheckpointError(
                f"the checkpoint's optimizer state is not from {name}: parameter {index} holds "
                f"{', '.join(sorted(entry)) or 'nothing'}, {name} keeps "
                f"{', '.join(sorted(keys)) or 'nothing'}"
            )
        shape = tuple(parameters[index].shape)
        for key, value in entry.items():
            wanted = () if key == "step" else shape
            if not isinstance(value, torch.Tensor) or tuple(value.shape) != wanted:
                got = tuple(value.shape) if isinstance(value, torch.Tensor) else short(value)
                raise CheckpointError(
                    f"the checkpoint's optimizer state {key!r} of parameter {index} has "
                    f"shape {got}, the parameter needs {wanted}"
                )
            if not value.dtype.is_floating_point:
                raise CheckpointError(f"the checkpoint's optimizer state {key!r} is {value.dtype}")


def _state_keys(training: TrainingSpec) -> set[str]:
    """What this optimizer keeps per parameter once it has stepped (from a one-number
    probe, so the answer is torch's own)."""
    probe = torch.nn.Parameter(torch.zeros(1))
    optimizer = make_optimizer([probe], training)
    probe.grad = torch.ones(1)
    optimizer.step()
    return set(optimizer.state_dict()["state"].get(0, {}))


def _same_kind(saved: object, fresh: object) -> bool:
    if isinstance(fresh, bool) or fresh is None:
        return saved is None or isinstance(saved, bool)
    if is_number(fresh):
        return is_number(saved) and math.isfinite(saved)
    if isinstance(fresh, tuple | list):
        return (
            isinstance(saved, tuple | list)
            and len(saved) == len(fresh)
            and all(is_number(v) and math.isfinite(v) for v in saved)
        )
    return type(saved) is type(fresh)


def _names(keys: list[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def batch_order(device: torch.device, seed: int, resume: Checkpoint | None) -> torch.Generator:
    """The generator of a run's batch order, with torch's own generators: seeded with
    `seed` for a fresh run (dropout draws from torch's), restored from `resume` else."""
    order = torch.Generator(device=device)
    if resume is None:
        order.manual_seed(seed)
        torch.manual_seed(seed)
    else:
        restore_random_states(resume, order, device)
    return order
