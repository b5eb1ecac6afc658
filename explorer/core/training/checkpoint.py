"""Checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint holds the model, the optimizer state, the position (epoch, step, batch within the
epoch), the metrics history, the spec as a JSON string and the random-number states as
tensors, so it loads with `torch.load(..., weights_only=True)` and never executes code.
It is written to a temporary file and moved into place, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from explorer.core.files import write_file_atomic
from explorer.core.project import ProjectError, dumps_project, parse_project
from explorer.core.spec import NetworkSpec

CHECKPOINT_FORMAT = "cnn-explorer-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """The file is not a readable checkpoint of this program."""


@dataclass(frozen=True)
class Checkpoint:
    """A training state. `epoch` counts completed epochs; `batch` is the number of batches
    already taken in the epoch under way (0 at an epoch boundary)."""

    spec: NetworkSpec
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]
    epoch: int
    step: int
    batch: int
    elapsed: float
    history: tuple[dict[str, Any], ...]
    best_validation_loss: float
    epochs_without_improvement: int
    #: torch RNG state of the training device's default generator (dropout and friends)
    device_rng: torch.Tensor
    cpu_rng: torch.Tensor
    #: state of the batch-order generator at the start of the epoch under way
    order_rng: torch.Tensor
    #: summed loss, correct count and samples of the epoch under way so far
    epoch_totals: tuple[float, float, int] = (0.0, 0.0, 0)


def save_checkpoint(checkpoint: Checkpoint, path: str | os.PathLike[str]) -> None:
    """Write `checkpoint` to `path` atomically (temporary file + os.replace)."""
    target = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "spec": dumps_project(checkpoint.spec),
        "model": {k: v.detach().cpu() for k, v in checkpoint.model_state.items()},
        "optimizer": _to_cpu(checkpoint.optimizer_state),
        "epoch": checkpoint.epoch,
        "step": checkpoint.step,
        "batch": checkpoint.batch,
        "elapsed": checkpoint.elapsed,
        "history": json.dumps(list(checkpoint.history)),
        "best_validation_loss": checkpoint.best_validation_loss,
        "epochs_without_improvement": checkpoint.epochs_without_improvement,
        "device_rng": checkpoint.device_rng.cpu(),
        "cpu_rng": checkpoint.cpu_rng.cpu(),
        "order_rng": checkpoint.order_rng.cpu(),
        "epoch_totals": [float(v) for v in checkpoint.epoch_totals],
    }
    write_file_atomic(target, lambda temporary: torch.save(payload, temporary))


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint (tensors on the CPU); raise CheckpointError when it is not one."""
    try:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except (OSError, RuntimeError, EOFError, ValueError) as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a cnn-explorer checkpoint")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint version {payload.get('version')}")
    try:
        spec = parse_project(json.loads(payload["spec"]))
        loss, hits, samples = (float(v) for v in payload["epoch_totals"])
        return Checkpoint(
            spec=spec,
            model_state=payload["model"],
            optimizer_state=payload["optimizer"],
            epoch=int(payload["epoch"]),
            step=int(payload["step"]),
            batch=int(payload["batch"]),
            elapsed=float(payload["elapsed"]),
            history=tuple(json.loads(payload["history"])),
            best_validation_loss=float(payload["best_validation_loss"]),
            epochs_without_improvement=int(payload["epochs_without_improvement"]),
            device_rng=payload["device_rng"],
            cpu_rng=payload["cpu_rng"],
            order_rng=payload["order_rng"],
            epoch_totals=(loss, hits, int(samples)),
        )
    except (KeyError, TypeError, ValueError, ProjectError) as error:
        raise CheckpointError(f"{path}: damaged checkpoint ({error})") from None


def _to_cpu(value: Any, copy: bool = False) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=copy)
    if isinstance(value, dict):
        return {k: _to_cpu(v, copy) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v, copy) for v in value)
    return value


def cpu_copy(value: Any) -> Any:
    """A copy of nested dicts/lists of tensors (a state_dict) with every tensor on the CPU."""
    return _to_cpu(value, copy=True)
