"""Trained weights saved with a project: `<project>.weights.pt` beside the JSON file.

`explorer.core.project` stays torch-free (the GUI opens before torch is imported); this
module adds the torch part. Weights are read with `torch.load(weights_only=True)`, so a
weights file can hold tensors only, never code.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch

from explorer.core.builder import build_structure
from explorer.core.files import write_stream_atomic
from explorer.core.project import ProjectError, read_project, save_project
from explorer.core.spec import NetworkSpec

StateDict = Mapping[str, torch.Tensor]

# Names tried inside a run folder, and keys of a training checkpoint that hold the weights.
CHECKPOINT_NAMES = ("checkpoint.pt", "model.pt", "weights.pt")
STATE_KEYS = ("model", "model_state", "model_state_dict", "state_dict")


class WeightsError(ProjectError):
    """Weights that cannot be read or do not fit the network; the message says why."""


def weights_file_name(project_path: str | os.PathLike[str]) -> str:
    """`net.json` -> `net.weights.pt`."""
    return Path(project_path).with_suffix(".weights.pt").name


def save_project_with_weights(
    spec: NetworkSpec, state_dict: StateDict, path: str | os.PathLike[str]
) -> Path:
    """Write the project JSON with a "weights" key and the state_dict beside it.

    Both files are written atomically, the weights first, so the JSON never names a
    weights file that is not complete. Returns the weights file's path.
    """
    path = Path(path)
    check_weights(spec, state_dict)
    weights_path = path.with_name(weights_file_name(path))
    save_state_dict(state_dict, weights_path)
    save_project(spec, path, weights=weights_path.name)
    return weights_path


def save_state_dict(state_dict: StateDict, path: str | os.PathLike[str]) -> None:
    """Save CPU copies of the tensors atomically; load with torch.load(weights_only=True)."""
    state = OrderedDict((key, value.detach().cpu()) for key, value in state_dict.items())
    write_stream_atomic(path, lambda stream: torch.save(state, stream))


def load_project_weights(
    path: str | os.PathLike[str],
) -> tuple[NetworkSpec, dict[str, torch.Tensor] | None]:
    """Read a project and, when it names one, its weights file (checked against the spec).

    Raises ProjectError for a bad project and WeightsError for missing, unreadable or
    mismatched weights.
    """
    path = Path(path)
    spec, weights_name = read_project(path)
    if weights_name is None:
        return spec, None
    state = load_state_dict(path.parent / weights_name)
    try:
        check_weights(spec, state)
    except WeightsError as error:
        raise WeightsError(f"{path.parent / weights_name}: {error}") from None
    return spec, state


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The weights in a .pt file, a training checkpoint, or a run folder holding one.

    A checkpoint is a dict whose weights sit under one of STATE_KEYS; a run folder is
    searched for CHECKPOINT_NAMES. Tensors are loaded onto the CPU.
    """
    path = Path(path)
    if path.is_dir():
        found = next((path / name for name in CHECKPOINT_NAMES if (path / name).is_file()), None)
        if found is None:
            raise WeightsError(
                f"{path}: no checkpoint in this folder (looked for {', '.join(CHECKPOINT_NAMES)})"
            )
        path = found
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise WeightsError(f"{path}: not a weights file PyTorch can read safely: {error}") from None
    if isinstance(loaded, Mapping):
        for key in STATE_KEYS:
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in loaded.items()
    ):
        raise WeightsError(f"{path}: does not hold a state_dict (a mapping of names to tensors)")
    return dict(loaded)


def check_weights(spec: NetworkSpec, state_dict: StateDict) -> None:
    """Raise WeightsError naming the first missing, unexpected or misshapen tensor."""
    expected = build_structure(spec).state_dict()  # shapes only: no memory, no RNG
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    problems = []
    if missing:
        problems.append(f"missing {_some(missing)}")
    if unexpected:
        problems.append(f"unexpected {_some(unexpected)}")
    for key, tensor in expected.items():
        if key in state_dict and tuple(state_dict[key].shape) != tuple(tensor.shape):
            problems.append(
                f"{key} has shape {tuple(state_dict[key].shape)}, the network needs "
                f"{tuple(tensor.shape)}"
            )
            break
    if problems:
        raise WeightsError("the weights do not match the network: " + "; ".join(problems))


def _some(keys: list[str]) -> str:
    shown = ", ".join(keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
