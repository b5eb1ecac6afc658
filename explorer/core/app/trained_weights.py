"""Which trained weights belong to which network.

Weights depend on a network's architecture only — its input, layers and class count
(`NetworkSpec.architecture`) — so renaming the project or changing a training setting keeps
them, while any edit of the layers, the input or the class count leaves them without a
network. The window holds one set: the latest run's (live snapshots while it trains), or
those of a project opened with its weights. An ensemble's set is its members' weights, one
state per member (the first is the one shown by default).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from explorer.core.dataset_split import Split
from explorer.core.spec import NetworkSpec

if TYPE_CHECKING:
    from explorer.core.data import DeviceDataset
    from explorer.core.evaluation import Evaluation

#: A state dict: parameter and buffer names to tensors (CPU copies).
State = dict[str, Any]


def share_weights(first: NetworkSpec, second: NetworkSpec) -> bool:
    """Whether weights trained for one network fit the other (equal architectures)."""
    return first.architecture() == second.architecture()


class TrainedWeights:
    """The trained weights of one network at a time, or none."""

    def __init__(self) -> None:
        self._network: NetworkSpec | None = None
        self._state: State | None = None
        self._members: tuple[State, ...] = ()

    @property
    def state(self) -> State | None:
        """The weights held, whichever network they belong to."""
        return self._state

    @property
    def members(self) -> tuple[State, ...]:
        """An ensemble's members' weights (`state` is one of them); () for one network."""
        return self._members

    def hold(self, spec: NetworkSpec, state: State | None, members: Sequence[State] = ()) -> None:
        """Hold `state` as the weights of `spec` (None: hold none), and with an ensemble's
        `members` (two or more states of the same network), those too."""
        if len(members) == 1:
            raise ValueError("an ensemble has two or more members")
        self._network = spec.architecture() if state is not None else None
        self._state = state
        self._members = tuple(members) if state is not None else ()

    def belong_to(self, spec: NetworkSpec) -> bool:
        """Whether weights are held and fit `spec`."""
        return self._network is not None and share_weights(self._network, spec)

    def for_network(self, spec: NetworkSpec) -> State | None:
        """The weights when they belong to `spec`, else None."""
        return self._state if self.belong_to(spec) else None

    def forget_unless_for(self, spec: NetworkSpec) -> bool:
        """Forget weights that do not fit `spec` (an edit changed the network); True when
        some were forgotten."""
        if self._network is None or self.belong_to(spec):
            return False
        self.hold(spec, None)
        return True


def evaluate_weights(
    spec: NetworkSpec,
    state: State,
    dataset: DeviceDataset | None,
    data_dir: str | os.PathLike[str] | None = None,
) -> tuple[Evaluation, DeviceDataset]:
    """Evaluate `spec` with these weights on the dataset's test split, on the dataset's
    device, with a snapshot (never the model a run trains); the evaluation and the dataset
    it indexes. Without a dataset the network's own is loaded on the CPU, never downloaded:
    `BadRunInput` when it is not on this computer yet. Scales with the network: run it off
    the GUI thread."""
    from explorer.core.capture import snapshot_model
    from explorer.core.evaluation import evaluate

    dataset = evaluation_dataset(spec, dataset, data_dir)
    model = snapshot_model(spec, state).to(dataset.device)
    return evaluate(model, dataset, Split.TEST), dataset


def evaluation_dataset(
    spec: NetworkSpec, dataset: DeviceDataset | None, data_dir: str | os.PathLike[str] | None
) -> DeviceDataset:
    """`dataset`, or (None) the network's own loaded on the CPU, never downloaded:
    `BadRunInput` when it is not on this computer yet."""
    from explorer.core.app.preparation import BadRunInput, load_network_dataset
    from explorer.core.data import dataset_status

    if dataset is not None:
        return dataset
    name = spec.training.dataset
    if not dataset_status(name, data_dir).available:
        raise BadRunInput(f"{name} is not on this computer yet: Train downloads it")
    return load_network_dataset(spec, data_dir, "cpu")
