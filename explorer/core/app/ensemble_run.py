"""An ensemble's results for the window: the ensemble's and each member's test evaluation,
and the members' weights read back from a finished ensemble run folder.

The ensemble's evaluation is `measure_ensemble` (the average of the members' class
probabilities, as `train --ensemble` reports it) with its per-sample predictions kept; each
member's is the plain `evaluate` of its network. Both scale with the network: run them off
the GUI thread.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from explorer.core.app.trained_weights import State
from explorer.core.dataset_split import Split

if TYPE_CHECKING:
    from explorer.core.builder import Network
    from explorer.core.data import DeviceDataset
    from explorer.core.evaluation import Evaluation, IntArray
    from explorer.core.spec import NetworkSpec

#: Test images per batch while evaluating (members and their average).
EVALUATION_BATCH = 1000


@dataclass(frozen=True, eq=False)
class EnsembleEvaluation:
    """The ensemble's test evaluation and each member's, indexing the same test images."""

    ensemble: Evaluation
    members: tuple[Evaluation, ...]

    def wrong_but_some_member_right(self) -> IntArray:
        """Test images the ensemble gets wrong that at least one member gets right, the
        ensemble's surest first."""
        return self._surest_first(~self._ensemble_right() & self._members_right().any(0))

    def right_but_some_member_wrong(self) -> IntArray:
        """Test images the ensemble gets right that at least one member gets wrong (what the
        averaging repaired), the ensemble's surest first."""
        return self._surest_first(self._ensemble_right() & ~self._members_right().all(0))

    def _ensemble_right(self) -> np.ndarray:
        return np.asarray(self.ensemble.predicted == self.ensemble.true_labels)

    def _members_right(self) -> np.ndarray:
        return np.stack([m.predicted == m.true_labels for m in self.members])

    def _surest_first(self, chosen: np.ndarray) -> IntArray:
        indices = np.flatnonzero(chosen)
        order = np.argsort(-self.ensemble.confidences[indices], kind="stable")
        result: IntArray = indices[order].astype(np.int64)
        return result


def evaluate_ensemble(
    spec: NetworkSpec, states: Sequence[State], dataset: DeviceDataset
) -> EnsembleEvaluation:
    """Evaluate each member's weights and their averaged probabilities on the test split,
    on the dataset's device (snapshots: never the models a run trains), as training
    measured them: with each image's mirror image too where the network says `tta_flip`,
    so the numbers equal those `train` printed."""
    from explorer.core.capture import snapshot_model
    from explorer.core.training.metrics import measure_ensemble, test_evaluation

    flip = spec.training.tta_flip

    def measured(models: list[Network]) -> Evaluation:
        result = measure_ensemble(
            models, dataset, Split.TEST, EVALUATION_BATCH, flip=flip, predictions=True
        )
        evaluation = test_evaluation(result, dataset)
        if evaluation is None:
            raise ValueError("the test split is empty")
        return evaluation

    models = [snapshot_model(spec, state).to(dataset.device) for state in states]
    members = tuple(measured([m]) for m in models)
    return EnsembleEvaluation(measured(models), members)


def evaluate_ensemble_weights(
    spec: NetworkSpec,
    states: Sequence[State],
    dataset: DeviceDataset | None,
    data_dir: str | os.PathLike[str] | None = None,
) -> tuple[EnsembleEvaluation, DeviceDataset]:
    """`evaluate_ensemble` on `dataset`, or (None) on the network's own, as
    `evaluate_weights` finds it; the evaluation and the dataset it indexes."""
    from explorer.core.app.trained_weights import evaluation_dataset

    dataset = evaluation_dataset(spec, dataset, data_dir)
    return evaluate_ensemble(spec, states, dataset), dataset


def evaluate_ensemble_run(
    run_dir: str | os.PathLike[str],
    dataset: DeviceDataset | None,
    data_dir: str | os.PathLike[str] | None = None,
) -> tuple[EnsembleEvaluation, DeviceDataset, NetworkSpec, tuple[State, ...]]:
    """A finished ensemble run read back (`finished_member_states`) and evaluated on
    `dataset` when it suits the network, else on the network's own; the evaluation, the
    dataset it indexes, the network and its members' weights."""
    spec, states = finished_member_states(run_dir)
    if dataset is not None and (
        tuple(dataset.info.input_shape) != spec.input.shape
        or dataset.info.num_classes != spec.num_classes
    ):
        dataset = None
    result, used = evaluate_ensemble_weights(spec, states, dataset, data_dir)
    return result, used, spec, states


def finished_member_states(
    run_dir: str | os.PathLike[str],
) -> tuple[NetworkSpec, tuple[State, ...]]:
    """The network of the ensemble run in `run_dir` (its `ensemble` setting the member
    count) and each member's result weights, as `train --resume` reads them back;
    `BadRunInput` when it is not an ensemble run or a member has not finished training."""
    from dataclasses import replace

    from explorer.core.app.preparation import BadRunInput
    from explorer.core.app.run_plan import plan_resume

    plan = plan_resume(run_dir, {})
    if not plan.is_ensemble:
        raise BadRunInput(f"{plan.root.path.name} is the run of one network, not an ensemble")
    unfinished = [k + 1 for k, m in enumerate(plan.members) if not m.finished]
    if unfinished:
        listed = ", ".join(map(str, unfinished))
        raise BadRunInput(f"{plan.root.path.name}: member {listed} has not finished training")
    states = []
    for member in plan.members:
        assert member.checkpoint is not None  # a finished member has one
        states.append(member.checkpoint.result_state())
    base = plan.members[0].spec
    spec = replace(base, training=base.training.with_values(ensemble=len(states)))
    return spec, tuple(states)
