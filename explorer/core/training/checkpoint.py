"""Checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint holds the model, the optimizer state, the run's position (position.py: epoch,
step, batch within the epoch, the metrics history), the spec as a JSON string and the
random-number states as tensors, so it loads with `torch.load(..., weights_only=True)` and
never executes code. It is written to a temporary file and moved into place, so a crash
never leaves half a file.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from explorer.core.files import write_file_atomic
from explorer.core.project import ProjectError, dumps_project, parse_project
from explorer.core.spec import NetworkSpec
from explorer.core.training.payload import (
    MAX_COUNT,
    MAX_TEXT,
    Damaged,
    entry,
    first_line,
    is_number,
    short,
)
from explorer.core.training.position import RunPosition
from explorer.core.training.runs import remove_leftover_temporaries

CHECKPOINT_FORMAT = "cnn-explorer-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """The file is not a checkpoint of this program, or not one that can continue this
    run; the message says what is wrong."""


@dataclass(frozen=True)
class Checkpoint:
    """A training state: the weights, the optimizer's state, where the run is and the random
    states that make its continuation the same as an uninterrupted run."""

    spec: NetworkSpec
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]
    position: RunPosition
    #: torch RNG state of the training device's default generator (dropout and friends)
    device_rng: torch.Tensor
    cpu_rng: torch.Tensor
    #: state of the batch-order generator at the start of the epoch under way
    order_rng: torch.Tensor
    #: the moving average of the weights (training.ema_decay > 0), with its update count
    averaged_state: dict[str, torch.Tensor] | None = None
    #: the evaluated weights at the best validation loss (early stopping puts them back)
    best_state: dict[str, torch.Tensor] | None = None

    def result_state(self) -> dict[str, torch.Tensor]:
        """The weights the run's result is (the model's state_dict keys): the best ones
        where early stopping ended the run, else the moving average where there is one,
        else the trained weights. `model_state` stays what training continues from."""
        patience = self.spec.training.early_stopping_patience
        if self.best_state is not None and self.position.out_of_patience(patience):
            return self.best_state
        if self.averaged_state is not None:
            prefix = "module."
            return {
                key[len(prefix) :]: value
                for key, value in self.averaged_state.items()
                if key.startswith(prefix)
            }
        return self.model_state


def save_checkpoint(checkpoint: Checkpoint, path: str | os.PathLike[str]) -> None:
    """Write `checkpoint` to `path` atomically (temporary file + os.replace)."""
    target = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "spec": dumps_project(checkpoint.spec),
        "model": {k: v.detach().cpu() for k, v in checkpoint.model_state.items()},
        "optimizer": _to_cpu(checkpoint.optimizer_state),
        **checkpoint.position.to_payload(),
        "device_rng": checkpoint.device_rng.cpu(),
        "cpu_rng": checkpoint.cpu_rng.cpu(),
        "order_rng": checkpoint.order_rng.cpu(),
    }
    # Only when there are any, so files without them stay as they were.
    for key, state in (("averaged", checkpoint.averaged_state), ("best", checkpoint.best_state)):
        if state is not None:
            payload[key] = {k: v.detach().cpu() for k, v in state.items()}
    # Temporaries of earlier writes that were killed half-way are of no use to anyone.
    remove_leftover_temporaries(target)
    write_file_atomic(target, lambda temporary: torch.save(payload, temporary))


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint (tensors on the CPU); raise CheckpointError, naming what is wrong,
    when it is not a whole checkpoint of this program. Only the file's own structure is
    checked here; `resume.check_resumable` checks it against the network it continues."""
    try:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path} is a folder, not a checkpoint") from None
    except RecursionError:
        raise CheckpointError(f"{path}: damaged checkpoint (nested too deeply)") from None
    except MemoryError:
        raise CheckpointError(f"{path}: too large to read as a checkpoint") from None
    except pickle.UnpicklingError as error:
        # weights_only refused what the file holds; torch's text is advice for developers.
        found = re.search(r"GLOBAL (\S+)", str(error))
        if found:
            raise CheckpointError(
                f"{path} is not a checkpoint: it holds Python code ({found.group(1)}), "
                f"which is never loaded"
            ) from None
        raise CheckpointError(
            f"{path} is not a checkpoint (damaged, or another kind of file)"
        ) from None
    except EOFError:
        raise CheckpointError(f"{path} is not a checkpoint (empty or cut off)") from None
    except Exception as error:
        # Garbage raises whatever the unpickler or the zip reader meets first; none of it
        # is more than "unreadable".
        raise CheckpointError(f"cannot read checkpoint {path}: {first_line(error)}") from None
    if not is_checkpoint_payload(payload):
        raise CheckpointError(f"{path} is not a cnn-explorer checkpoint")
    return checkpoint_from_payload(payload, path)


def is_checkpoint_payload(payload: object) -> bool:
    """Whether a loaded file's content is one of this program's checkpoints."""
    return isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT


def checkpoint_from_payload(payload: dict[str, Any], path: str | os.PathLike[str]) -> Checkpoint:
    """The checkpoint in a loaded file's content (`path` names it in errors); raise
    CheckpointError for another version or a damaged one."""
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: unsupported checkpoint version {short(payload.get('version'))}"
        )
    try:
        return _checkpoint_from(payload)
    except Damaged as error:
        raise CheckpointError(f"{path}: damaged checkpoint ({error})") from None


def _checkpoint_from(payload: dict[str, Any]) -> Checkpoint:
    spec_text = entry(payload, "spec", str)
    if len(spec_text) > MAX_TEXT:
        raise Damaged("'spec' is too long")
    try:
        spec = parse_project(json.loads(spec_text))
    except (ValueError, RecursionError) as error:
        raise Damaged(f"'spec' is not a valid project: {first_line(error)}") from None
    except ProjectError as error:
        raise Damaged(f"'spec' is not a valid project: {error}") from None
    model = _named_tensors(payload, "model")
    kept = {key: _named_tensors(payload, key) for key in ("averaged", "best") if key in payload}
    optimizer = entry(payload, "optimizer", dict)
    _check_optimizer_structure(optimizer)
    position = RunPosition.from_payload(payload)
    rng = {}
    for key in ("device_rng", "cpu_rng", "order_rng"):
        value = entry(payload, key, torch.Tensor)
        if value.dtype != torch.uint8 or value.dim() != 1:
            raise Damaged(f"{key!r} is not a random-number state (1-D uint8 tensor)")
        rng[key] = value
    if rng["cpu_rng"].numel() != torch.get_rng_state().numel():
        raise Damaged("'cpu_rng' is not the CPU generator's state")
    return Checkpoint(
        spec=spec,
        model_state=model,
        optimizer_state=optimizer,
        position=position,
        device_rng=rng["device_rng"],
        cpu_rng=rng["cpu_rng"],
        order_rng=rng["order_rng"],
        averaged_state=kept.get("averaged"),
        best_state=kept.get("best"),
    )


def _named_tensors(payload: dict[str, Any], key: str) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = entry(payload, key, dict)
    for name, value in tensors.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise Damaged(f"{key!r} entry {short(name)} is not a named tensor")
    return tensors


def _check_optimizer_structure(state: dict[str, Any]) -> None:
    """A torch optimizer state_dict: {"state": {index: {name: tensor or number}},
    "param_groups": [{"params": [index, ...], setting: value, ...}]}."""
    groups = state.get("param_groups")
    per_parameter = state.get("state")
    if set(state) != {"state", "param_groups"}:
        raise Damaged(f"'optimizer' has the keys {sorted(map(str, state))}")
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise Damaged("'optimizer' param_groups is not a list of groups")
    for group in groups:
        params = group.get("params")
        if not isinstance(params, list) or not all(_is_index(i) for i in params):
            raise Damaged("'optimizer' param_groups holds a group without parameter indices")
        for key, value in group.items():
            if key != "params" and not _is_setting(value):
                raise Damaged(f"'optimizer' setting {short(key)} is {short(value)}")
    if not isinstance(per_parameter, dict):
        raise Damaged("'optimizer' state is not a mapping")
    for index, kept in per_parameter.items():
        if not _is_index(index) or not isinstance(kept, dict):
            raise Damaged(f"'optimizer' state {short(index)} is not a parameter's state")
        for key, value in kept.items():
            if not isinstance(key, str) or not isinstance(value, torch.Tensor | int | float):
                raise Damaged(f"'optimizer' state {index}: {short(key)} is {short(value)}")


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


def _is_setting(value: object) -> bool:
    if value is None or isinstance(value, bool | str):
        return True
    if is_number(value):
        return True
    return isinstance(value, tuple | list) and len(value) <= 4 and all(map(is_number, value))


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
