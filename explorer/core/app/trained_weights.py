"""Which trained weights belong to which network.

Weights depend on a network's architecture only — its input, layers and class count
(`NetworkSpec.architecture`) — so renaming the project or changing a training setting keeps
them, while any edit of the layers, the input or the class count leaves them without a
network. The window holds one set: the latest run's (live snapshots while it trains), or
those of a project opened with its weights.
"""

from __future__ import annotations

from typing import Any

from explorer.core.spec import NetworkSpec

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

    @property
    def state(self) -> State | None:
        """The weights held, whichever network they belong to."""
        return self._state

    def hold(self, spec: NetworkSpec, state: State | None) -> None:
        """Hold `state` as the weights of `spec` (None: hold none)."""
        self._network = spec.architecture() if state is not None else None
        self._state = state

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
