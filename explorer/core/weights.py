"""Trained weights saved with a project: `<project>.weights-<hash>.pt` beside the JSON file.

The project file names its weights file and records the file's SHA-256, and the weights
file is named by that hash, so a save writes the weights under a new name first and commits
the pair with the one atomic rename of the JSON. A crash at any point leaves a project whose
weights are its own. Projects from before the hash (`<project>.weights.pt`, no hash) still
load, checked against the network's shapes.

`explorer.core.project` stays torch-free (the GUI opens before torch is imported); this
module adds the torch part. Weights are read with `torch.load(weights_only=True)`, so a
weights file can hold tensors only, never code.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from explorer.core.builder import build_structure
from explorer.core.ensemble import ensemble_state, member_states
from explorer.core.files import write_stream, write_stream_atomic
from explorer.core.project import (
    ProjectError,
    read_project_weights_entry,
    remove_save_leftovers,
    save_project,
    temporary_weights_path,
    versioned_weights_name,
)
from explorer.core.spec import NetworkSpec
from explorer.core.training.checkpoint import (
    CheckpointError,
    checkpoint_from_payload,
    is_checkpoint_payload,
)

StateDict = Mapping[str, torch.Tensor]

# Names tried inside a run folder, and keys of a training checkpoint that hold the weights.
CHECKPOINT_NAMES = ("checkpoint.pt", "model.pt", "weights.pt")
STATE_KEYS = ("model", "model_state", "model_state_dict", "state_dict")


class WeightsError(ProjectError):
    """Weights that cannot be read or do not fit the network; the message says why.

    `spec` is the project's network when it was read before the weights failed: callers
    keep the network and drop the weights.
    """

    def __init__(self, message: str, spec: NetworkSpec | None = None) -> None:
        super().__init__(message)
        self.spec = spec


def save_project_with_weights(
    spec: NetworkSpec,
    state_dict: StateDict,
    path: str | os.PathLike[str],
    *,
    members: Sequence[StateDict] = (),
) -> Path:
    """Write the project JSON naming the state_dict, which is saved beside it; with an
    ensemble's `members`, their states are saved instead, as one `Ensemble` state_dict
    (`members.k.…` keys), and their count must be the project's `ensemble` setting.

    The weights go to a new file named by their hash, then the JSON (naming that file and
    its SHA-256) replaces the old one atomically: the commit. Leftovers of killed saves
    are removed before (to free their space) and the replaced weights after. Write
    failures, a full disk included, raise OSError. Returns the weights file's path.
    """
    path = Path(path)
    if members:
        try:
            check_ensemble_size(spec, len(members))
        except WeightsError as error:
            raise WeightsError(
                f"{error}: set it to {len(members)} to save these weights, or train the "
                "ensemble again"
            ) from None
        for state in members:
            check_weights(spec, state)
        state_dict = ensemble_state(members)
    else:
        check_weights(spec, state_dict)
    try:
        before = read_project_weights_entry(path)[1] if path.is_file() else None
    except ProjectError:
        before = None  # unreadable: it names nothing to keep
    remove_save_leftovers(path, {before[0]} if before else set())
    path.parent.mkdir(parents=True, exist_ok=True)  # as write_file_atomic does for the JSON
    temporary = temporary_weights_path(path, secrets.token_hex(4))
    try:
        state = _cpu_state(state_dict)
        write_stream(temporary, lambda stream: torch.save(state, stream))  # a temporary already
        digest = file_sha256(temporary)
        weights_path = path.with_name(versioned_weights_name(path, digest))
        os.replace(temporary, weights_path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    save_project(spec, path, weights=weights_path.name, weights_sha256=digest)
    return weights_path


def save_state_dict(state_dict: StateDict, path: str | os.PathLike[str]) -> None:
    """Save CPU copies of the tensors atomically; load with torch.load(weights_only=True).

    Write failures, a full disk included, raise OSError (torch itself reports them as a
    RuntimeError that hides the cause)."""
    state = _cpu_state(state_dict)
    write_stream_atomic(path, lambda stream: torch.save(state, stream))


def _cpu_state(state_dict: StateDict) -> StateDict:
    return OrderedDict((key, value.detach().cpu()) for key, value in state_dict.items())


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's content, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def load_project_weights(
    path: str | os.PathLike[str],
) -> tuple[NetworkSpec, dict[str, torch.Tensor] | None]:
    """Read a project and, when it names one, its weights file (checked against the spec);
    of an ensemble's, the first member's (see `load_project_members`)."""
    spec, state, _ = load_project_members(path)
    return spec, state


def load_project_members(
    path: str | os.PathLike[str],
) -> tuple[NetworkSpec, dict[str, torch.Tensor] | None, tuple[dict[str, torch.Tensor], ...]]:
    """Read a project and, when it names one, its weights file (checked against the spec):
    the spec, the weights (of an ensemble, its first member's) and an ensemble's members'
    (() for one network). An ensemble's member count must be the project's `ensemble`.

    Raises ProjectError for a bad project and WeightsError (carrying the spec) for missing,
    unreadable or mismatched weights, including weights whose hash is not the one the
    project recorded: they were saved for another version of the project.
    """
    path = Path(path)
    spec, entry = read_project_weights_entry(path)
    if entry is None:
        return spec, None, ()
    name, digest = entry
    weights_path = path.parent / name
    try:
        if digest is not None and weights_path.is_file():
            try:
                actual = file_sha256(weights_path)
            except OSError as error:
                raise WeightsError(f"{weights_path}: cannot read: {error}") from None
            if actual != digest:
                raise WeightsError(
                    f"{weights_path}: these weights are from another version of the project "
                    f"(their SHA-256 is not the one {path.name} records)"
                )
        loaded = load_state_dict(weights_path)
        try:
            state, members = fitting_weights(spec, loaded)
            if members:
                check_ensemble_size(spec, len(members))
        except WeightsError as error:
            raise WeightsError(f"{weights_path}: {error}") from None
    except WeightsError as error:
        raise WeightsError(str(error), spec) from None
    return spec, state, members


def fitting_weights(
    spec: NetworkSpec, loaded: dict[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], tuple[dict[str, torch.Tensor], ...]]:
    """`loaded` as the weights of `spec` and, when it is an ensemble's state_dict, its
    members' states (else ()); WeightsError when they do not fit the network."""
    members = member_states(loaded)
    if members is None or _fits(spec, loaded):  # a network's keys win over a lookalike
        check_weights(spec, loaded)
        return loaded, ()
    for index, state in enumerate(members):
        try:
            check_weights(spec, state)
        except WeightsError as error:
            raise WeightsError(f"ensemble member {index + 1}: {error}") from None
    return members[0], tuple(members)


def check_ensemble_size(spec: NetworkSpec, count: int) -> None:
    """WeightsError unless `count` members are what the project's `ensemble` setting says."""
    expected = spec.training.ensemble
    if count != expected:
        raise WeightsError(
            f"the weights are an ensemble of {count} networks, but the project's ensemble "
            f"setting is {expected}"
        )


def _fits(spec: NetworkSpec, state: StateDict) -> bool:
    try:
        check_weights(spec, state)
    except WeightsError:
        return False
    return True


def load_weights(
    path: str | os.PathLike[str], spec: NetworkSpec
) -> tuple[dict[str, torch.Tensor], tuple[dict[str, torch.Tensor], ...]]:
    """The weights a `--weights` argument names (see `load_state_dict`), checked against
    `spec`, and an ensemble's members' states (else ()): an ensemble's run folder (its
    `member-k` folders) or a file holding an ensemble's state_dict gives all its members."""
    from explorer.core.training.runs import RunError, RunFolder

    path = Path(path)
    if path.is_dir() and not any((path / name).is_file() for name in CHECKPOINT_NAMES):
        run = RunFolder(path)
        try:
            size = run.read_settings().ensemble
        except RunError as error:
            raise WeightsError(str(error)) from None
        if size > 1:
            members = []
            for index in range(size):
                state = load_state_dict(run.member(index).path)
                try:
                    check_weights(spec, state)
                except WeightsError as error:
                    raise WeightsError(f"{run.member(index).path}: {error}") from None
                members.append(state)
            return members[0], tuple(members)
    loaded = load_state_dict(path)
    try:
        return fitting_weights(spec, loaded)
    except WeightsError as error:
        raise WeightsError(f"{path}: {error}") from None


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The weights in a .pt file, a training checkpoint, or a run folder holding one.

    Of this program's checkpoints it is the run's result (Checkpoint.result_state); of
    other checkpoints, the dict under the first of STATE_KEYS; a run folder is searched for
    CHECKPOINT_NAMES. Tensors are loaded onto the CPU.
    """
    path = Path(path)
    try:
        return _load_state_dict(path)
    except OSError as error:  # e.g. a name too long for the file system
        raise WeightsError(f"{path}: cannot read: {error}") from None


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
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
    if is_checkpoint_payload(loaded):
        # A run's checkpoint: the weights the run kept as its result (the moving average or
        # early stopping's best), not the raw ones training continues from.
        try:
            return checkpoint_from_payload(loaded, path).result_state()
        except CheckpointError as error:
            raise WeightsError(str(error)) from None
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
