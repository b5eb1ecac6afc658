"""Which networks a `train` command trains into which run folders: one, or an ensemble.

An ensemble of N trains N copies of one network with seeds S, S+1, … into the members of
one run folder (`member-1`, `member-2`, …) and reports their averaged accuracy. Continuing
a run (`train --resume`) reads its settings and each member's checkpoint back; a member
trained to the end before needs only its weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from explorer.core.app.preparation import BadRunInput, absolute_data_dir, resume_checkpoint
from explorer.core.training_spec import MAX_ENSEMBLE

if TYPE_CHECKING:
    import torch

    from explorer.core.builder import Network
    from explorer.core.spec import NetworkSpec
    from explorer.core.training import Checkpoint
    from explorer.core.training.runs import RunFolder, RunSettings

#: The training settings `train --resume` may change: the rest must stay as the checkpoint
#: was made, or the run would not continue its curve.
RESUMABLE_SETTINGS = frozenset({"epochs", "device", "threads"})


@dataclass(frozen=True)
class RunMember:
    """One network to train into one run folder (an ensemble has several)."""

    folder: RunFolder
    spec: NetworkSpec
    checkpoint: Checkpoint | None = None
    #: trained to the end before: only its weights are needed (a resumed ensemble)
    finished: bool = False


@dataclass(frozen=True)
class RunPlan:
    """The run folder, what it records beside its project, and the networks to train."""

    root: RunFolder
    settings: RunSettings
    members: tuple[RunMember, ...]
    resumed: bool = False

    @property
    def spec(self) -> NetworkSpec:
        """The first member's network (every member has the same architecture)."""
        return self.members[0].spec

    @property
    def is_ensemble(self) -> bool:
        return len(self.members) > 1


def with_settings(spec: NetworkSpec, values: dict[str, Any]) -> NetworkSpec:
    """`spec` with these training settings changed; `BadRunInput` for a value out of range."""
    from explorer.core.spec import SpecError

    try:
        return replace(spec, training=spec.training.with_values(**values))
    except SpecError as error:
        raise BadRunInput(error.message) from None


def member_spec(spec: NetworkSpec, index: int) -> NetworkSpec:
    """Ensemble member `index` (from 0): the network with its seed moved on by `index`, one
    network on its own (its `ensemble` setting 1)."""
    training = spec.training.with_values(seed=spec.training.seed + index, ensemble=1)
    return replace(spec, training=training)


def plan_run(
    spec: NetworkSpec,
    out: str | os.PathLike[str] | None,
    *,
    ensemble: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> RunPlan:
    """A new run of `spec` into `out` (default: runs/<time>-<name> here), as `ensemble`
    members (default: the project's `ensemble` setting); `BadRunInput` for an ensemble size
    out of range."""
    from explorer.core.training.runs import RunFolder, RunSettings, default_run_dir

    if ensemble is None:
        ensemble = spec.training.ensemble
    if not 1 <= ensemble <= MAX_ENSEMBLE:
        raise BadRunInput(f"--ensemble must be 1 to {MAX_ENSEMBLE}, got {ensemble}")
    root = RunFolder(out if out else default_run_dir(spec.name))
    settings = RunSettings(data_dir=absolute_data_dir(data_dir), ensemble=ensemble)
    if ensemble == 1:
        return RunPlan(root, settings, (RunMember(root, spec),))
    members = tuple(RunMember(root.member(k), member_spec(spec, k)) for k in range(ensemble))
    return RunPlan(root, settings, members)


def plan_resume(run_dir: str | os.PathLike[str], changes: dict[str, Any]) -> RunPlan:
    """Continue the run in `run_dir` from its checkpoints, with these training settings
    changed (only `RESUMABLE_SETTINGS`); `BadRunInput` saying why it cannot continue."""
    from explorer.core.project import ProjectError, load_project
    from explorer.core.training.runs import RunError, RunFolder

    refused = sorted(set(changes) - RESUMABLE_SETTINGS)
    if refused:
        allowed = ", ".join(sorted(RESUMABLE_SETTINGS))
        raise BadRunInput(f"a continued run can change only {allowed}, not {', '.join(refused)}")
    root = RunFolder(run_dir)
    try:
        settings = root.read_settings()
    except RunError as error:
        raise BadRunInput(str(error)) from None
    if settings.ensemble == 1:
        checkpoint = resume_checkpoint(root)
        member = RunMember(root, with_settings(checkpoint.spec, changes), checkpoint)
        return RunPlan(root, settings, (member,), resumed=True)
    try:
        base = with_settings(load_project(root.project_path), changes)
    except ProjectError as error:
        raise BadRunInput(str(error)) from None
    members = []
    for index in range(settings.ensemble):
        member = RunMember(root.member(index), member_spec(base, index))
        if member.folder.checkpoint_path.exists():
            checkpoint = resume_checkpoint(member.folder)
            member = RunMember(member.folder, with_settings(checkpoint.spec, changes), checkpoint)
            member = replace(member, finished=trained_to_the_end(member))
        members.append(member)
    return RunPlan(root, settings, tuple(members), resumed=True)


def trained_to_the_end(member: RunMember) -> bool:
    """Whether the member needs no more training: all its epochs done, or stopped early on
    its validation loss at its checkpoint."""
    checkpoint = member.checkpoint
    if checkpoint is None:
        return False
    if checkpoint.position.batch == 0 and checkpoint.position.epoch >= member.spec.training.epochs:
        return True
    ends = [e for e in member.folder.read_metrics().events if e["event"] == "finished"]
    return bool(ends) and ends[-1]["step"] == checkpoint.position.step and ends[-1]["early_stopped"]


def finished_model(member: RunMember, device: torch.device) -> Network:
    """A member trained before, rebuilt from its checkpoint's weights on `device`;
    `BadRunInput` when they do not fit its network."""
    from explorer.core.builder import build_model
    from explorer.core.training import CheckpointError
    from explorer.core.training.resume import check_weights

    if member.checkpoint is None:
        raise ValueError(f"{member.folder} has no checkpoint to rebuild its network from")
    model = build_model(member.spec)
    try:
        check_weights(member.checkpoint, model)
    except CheckpointError as error:
        raise BadRunInput(f"{member.folder.checkpoint_path}: {error}") from None
    model.load_state_dict(member.checkpoint.result_state())
    return model.to(device)
