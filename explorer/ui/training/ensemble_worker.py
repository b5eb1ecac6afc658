"""An ensemble's training job: its members one after another on the training job's thread,
into the run-folder layout `train --ensemble` writes (`member-1`, `member-2`, …).

`plan_run` (a new run) or `plan_resume` (Resume) says which members to train: a member
trained to the end before keeps its weights, a stopped one continues from its checkpoint,
the rest start. Each member reports as a single run does, after a `MemberStarted`; once the
last one has finished, `EnsembleTrained` carries the members' weights and the ensemble's
evaluation (so the window shows it without another pass). Stop ends the member under way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from explorer.core.app.curves import RunCurves
from explorer.core.app.trained_weights import State

if TYPE_CHECKING:
    from explorer.core.app.ensemble_run import EnsembleEvaluation
    from explorer.core.app.run_plan import RunPlan
    from explorer.core.data import DeviceDataset
    from explorer.core.spec import NetworkSpec
    from explorer.ui.training.worker import TrainingWorker


@dataclass(frozen=True)
class MemberStarted:
    """Member `index` (from 0) of `count` starts (or continues) training; `earlier` holds
    the curves of the members before it, named "member k"."""

    index: int
    count: int
    seed: int
    folder: Path
    earlier: tuple[RunCurves, ...]


@dataclass(frozen=True)
class EnsembleTrained:
    """Every member has finished: their result weights (CPU) and the ensemble's test
    evaluation (None when it could not be measured, with `problem` saying why)."""

    run_dir: Path
    spec: NetworkSpec
    states: tuple[State, ...]
    evaluation: EnsembleEvaluation | None
    problem: str = ""


def member_name(index: int) -> str:
    """What the curves' legend and the evaluation's table call member `index` (from 0)."""
    return f"member {index + 1}"


def train_ensemble(worker: TrainingWorker, dataset: DeviceDataset) -> None:
    """Train the job's ensemble (or continue it) on `dataset`, reporting through `worker`."""
    from explorer.core.app.curves import run_curves
    from explorer.core.app.preparation import TrainingRunError
    from explorer.core.training import TrainingFailed, TrainingFinished, TrainingStopped
    from explorer.core.training.runs import RunSettings

    try:
        plan = _plan(worker, dataset)
    except TrainingRunError as error:
        worker.emit(TrainingFailed(str(error), 0))
        return
    states: list[State] = []
    curves: list[RunCurves] = []
    count = len(plan.members)
    for index, member in enumerate(plan.members):
        if not member.finished:
            if worker.stopped:  # Stop between two members: the next one has not begun
                worker.emit(TrainingStopped(0, 0, 0.0))
                return
            seed = member.spec.training.seed
            worker.emit(MemberStarted(index, count, seed, member.folder.path, tuple(curves)))
            settings = RunSettings(data_dir=plan.settings.data_dir)
            last, _ = worker.train_run(
                member.spec, dataset, member.folder, settings, member.checkpoint
            )
            if not isinstance(last, TrainingFinished):
                return  # stopped or failed: the member's own event has said so
        try:
            states.append(_result_weights(member.folder.checkpoint_path))
        except TrainingRunError as error:
            worker.emit(TrainingFailed(str(error), 0))
            return
        curves.append(run_curves(member_name(index), member.folder.read_metrics().events))
    worker.emit(_trained(plan, states, dataset))


def _plan(worker: TrainingWorker, dataset: DeviceDataset) -> RunPlan:
    """The members to train: a new run's (its folder written as `train` writes it) or the
    continued run's. Raises `TrainingRunError` saying why it cannot go on."""
    from explorer.core.app.preparation import write_run_folder
    from explorer.core.app.run_plan import plan_resume, plan_run
    from explorer.core.training.runs import spec_for_dataset

    job = worker.job
    assert job.run_dir is not None
    if job.resume:
        return plan_resume(job.run_dir, {})
    plan = plan_run(job.spec, job.run_dir, data_dir=job.data_dir)
    write_run_folder(
        plan.root, spec_for_dataset(plan.spec, dataset.info.class_names), plan.settings
    )
    return plan


def _result_weights(checkpoint_path: Path) -> State:
    """A finished member's result weights, as `train --resume` rebuilds them."""
    from explorer.core.app.preparation import BadRunInput
    from explorer.core.training import CheckpointError, load_checkpoint

    try:
        return dict(load_checkpoint(checkpoint_path).result_state())
    except CheckpointError as error:
        raise BadRunInput(f"{checkpoint_path}: {error}") from None


def _trained(plan: RunPlan, states: list[State], dataset: DeviceDataset) -> EnsembleTrained:
    from dataclasses import replace

    from explorer.core.app.ensemble_run import evaluate_ensemble
    from explorer.core.training.runs import spec_for_dataset

    base = spec_for_dataset(plan.spec, dataset.info.class_names)
    spec = replace(base, training=base.training.with_values(ensemble=len(states)))
    try:
        evaluation = evaluate_ensemble(spec, states, dataset)
    except (ValueError, RuntimeError) as error:
        return EnsembleTrained(plan.root.path, spec, tuple(states), None, str(error))
    return EnsembleTrained(plan.root.path, spec, tuple(states), evaluation)
