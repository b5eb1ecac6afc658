"""Checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint holds the model, the optimizer state, the position (epoch, step, batch within the
epoch), the metrics history, the spec as a JSON string and the random-number states as
tensors, so it loads with `torch.load(..., weights_only=True)` and never executes code.
It is written to a temporary file and moved into place, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import math
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
from explorer.core.training.events import event_json_problem
from explorer.core.training.runs import remove_leftover_temporaries

CHECKPOINT_FORMAT = "cnn-explorer-checkpoint"
CHECKPOINT_VERSION = 1


# Bounds on what a checkpoint may hold: far above any real run, low enough that a hostile
# file cannot make the loader spend minutes or gigabytes on it.
_MAX_TEXT = 64 << 20  # characters of the spec or the history
_MAX_COUNT = 2**53


class CheckpointError(ValueError):
    """The file is not a checkpoint of this program, or not one that can continue this
    run; the message says what is wrong."""


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
        raise CheckpointError(f"cannot read checkpoint {path}: {_first_line(error)}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a cnn-explorer checkpoint")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: unsupported checkpoint version {_short(payload.get('version'))}"
        )
    try:
        return _checkpoint_from(payload)
    except _Damaged as error:
        raise CheckpointError(f"{path}: damaged checkpoint ({error})") from None


class _Damaged(Exception):
    """Internal: which entry of the checkpoint is wrong, and how."""


def _checkpoint_from(payload: dict[str, Any]) -> Checkpoint:
    spec_text = _entry(payload, "spec", str)
    if len(spec_text) > _MAX_TEXT:
        raise _Damaged("'spec' is too long")
    try:
        spec = parse_project(json.loads(spec_text))
    except (ValueError, RecursionError) as error:
        raise _Damaged(f"'spec' is not a valid project: {_first_line(error)}") from None
    except ProjectError as error:
        raise _Damaged(f"'spec' is not a valid project: {error}") from None
    model = _entry(payload, "model", dict)
    for key, value in model.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise _Damaged(f"'model' entry {_short(key)} is not a named tensor")
    optimizer = _entry(payload, "optimizer", dict)
    _check_optimizer_structure(optimizer)
    epoch = _count(payload, "epoch")
    step = _count(payload, "step")
    batch = _count(payload, "batch")
    if step < epoch + batch:
        raise _Damaged(
            f"position epoch {epoch}, batch {batch} needs at least {epoch + batch} steps, "
            f"but 'step' is {step}"
        )
    elapsed = _number(payload, "elapsed")
    if not math.isfinite(elapsed) or elapsed < 0:
        raise _Damaged(f"'elapsed' is {elapsed}")
    best = _number(payload, "best_validation_loss")
    if math.isnan(best):
        raise _Damaged("'best_validation_loss' is NaN")
    patience = _count(payload, "epochs_without_improvement")
    if patience > epoch:
        raise _Damaged(f"'epochs_without_improvement' {patience} exceeds epoch {epoch}")
    history = _history(_entry(payload, "history", str), epoch)
    rng = {}
    for key in ("device_rng", "cpu_rng", "order_rng"):
        value = _entry(payload, key, torch.Tensor)
        if value.dtype != torch.uint8 or value.dim() != 1:
            raise _Damaged(f"{key!r} is not a random-number state (1-D uint8 tensor)")
        rng[key] = value
    if rng["cpu_rng"].numel() != torch.get_rng_state().numel():
        raise _Damaged("'cpu_rng' is not the CPU generator's state")
    totals = _entry(payload, "epoch_totals", list)
    if len(totals) != 3 or not all(_is_number(v) and math.isfinite(v) for v in totals):
        raise _Damaged("'epoch_totals' is not three finite numbers")
    loss, hits, samples = (float(v) for v in totals)
    if samples < 0 or samples != int(samples) or not 0 <= hits <= samples:
        raise _Damaged(f"'epoch_totals' {totals} are not counts")
    return Checkpoint(
        spec=spec,
        model_state=model,
        optimizer_state=optimizer,
        epoch=epoch,
        step=step,
        batch=batch,
        elapsed=elapsed,
        history=history,
        best_validation_loss=best,
        epochs_without_improvement=patience,
        device_rng=rng["device_rng"],
        cpu_rng=rng["cpu_rng"],
        order_rng=rng["order_rng"],
        epoch_totals=(loss, hits, int(samples)),
    )


def _entry(payload: dict[str, Any], key: str, kind: type) -> Any:
    if key not in payload:
        raise _Damaged(f"no {key!r}")
    value = payload[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _Damaged(f"{key!r} is {_short(value)}, not {kind.__name__}")
    return value


def _count(payload: dict[str, Any], key: str) -> int:
    value = _entry(payload, key, int)
    if value < 0:
        raise _Damaged(f"{key!r} is negative ({value})")
    if value > _MAX_COUNT:
        raise _Damaged(f"{key!r} is too large ({value})")
    return int(value)


def _number(payload: dict[str, Any], key: str) -> float:
    if key not in payload:
        raise _Damaged(f"no {key!r}")
    value = payload[key]
    if not _is_number(value):
        raise _Damaged(f"{key!r} is {_short(value)}, not a number")
    return float(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _history(text: str, epoch: int) -> tuple[dict[str, Any], ...]:
    """The epochs' metrics: one flat JSON object of numbers and words per finished epoch."""
    if len(text) > _MAX_TEXT:
        raise _Damaged("'history' is too long")
    try:
        entries = json.loads(text)
    except RecursionError:
        raise _Damaged("'history' is nested too deeply") from None
    except ValueError as error:
        raise _Damaged(f"'history' is not JSON: {_first_line(error)}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise _Damaged("'history' is not a list of epoch records")
    if len(entries) != epoch:
        raise _Damaged(f"'history' holds {len(entries)} epochs but the position is epoch {epoch}")
    for number, entry in enumerate(entries, start=1):
        problem = event_json_problem(entry)
        if problem is None and entry.get("epoch") != number:
            problem = f"epoch {_short(entry.get('epoch'))} where {number} belongs"
        if problem is not None:
            raise _Damaged(f"'history' epoch {number}: {problem}")
    return tuple(entries)


def _check_optimizer_structure(state: dict[str, Any]) -> None:
    """A torch optimizer state_dict: {"state": {index: {name: tensor or number}},
    "param_groups": [{"params": [index, ...], setting: value, ...}]}."""
    groups = state.get("param_groups")
    per_parameter = state.get("state")
    if set(state) != {"state", "param_groups"}:
        raise _Damaged(f"'optimizer' has the keys {sorted(map(str, state))}")
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise _Damaged("'optimizer' param_groups is not a list of groups")
    for group in groups:
        params = group.get("params")
        if not isinstance(params, list) or not all(_is_index(i) for i in params):
            raise _Damaged("'optimizer' param_groups holds a group without parameter indices")
        for key, value in group.items():
            if key != "params" and not _is_setting(value):
                raise _Damaged(f"'optimizer' setting {_short(key)} is {_short(value)}")
    if not isinstance(per_parameter, dict):
        raise _Damaged("'optimizer' state is not a mapping")
    for index, entry in per_parameter.items():
        if not _is_index(index) or not isinstance(entry, dict):
            raise _Damaged(f"'optimizer' state {_short(index)} is not a parameter's state")
        for key, value in entry.items():
            if not isinstance(key, str) or not isinstance(value, torch.Tensor | int | float):
                raise _Damaged(f"'optimizer' state {index}: {_short(key)} is {_short(value)}")


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_COUNT


def _is_setting(value: object) -> bool:
    if value is None or isinstance(value, bool | str):
        return True
    if _is_number(value):
        return True
    return isinstance(value, tuple | list) and len(value) <= 4 and all(map(_is_number, value))


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return line if len(line) <= 200 else line[:197] + "..."


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
