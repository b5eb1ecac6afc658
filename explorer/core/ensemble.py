"""An ensemble as one model: the average of its members' class probabilities.

Its output is the logarithm of that average, so it drops in wherever a network's logits are
read: softmax of the output is the averaged probability, argmax the ensemble's class, and
cross-entropy on it the ensemble's loss. Every member is the same architecture with its own
weights (seeds S, S+1, …; see core/app/run_plan.py).

Its state_dict names member k's tensors `members.k.<the member's key>`; that one mapping is
how an ensemble's weights are saved with a project and exported (`ensemble_state`,
`member_states` convert between it and the members' own state_dicts).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from explorer.core.builder import Network, build_with_weights
from explorer.core.spec import NetworkSpec

#: the smallest averaged probability whose logarithm is taken (keeps log(0) finite)
_FLOOR = 1e-12
_MEMBER_KEY = re.compile(r"members\.(0|[1-9][0-9]*)\.(.+)", re.DOTALL)


class Ensemble(nn.Module):
    """Members `members.0`, `members.1`, …; forward gives log(mean of softmax(member(x)))."""

    def __init__(self, members: Sequence[Network]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble has two or more members")
        self.members = nn.ModuleList(members)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one input image, as `Network.input_shape`."""
        return self.member(0).input_shape

    def member(self, index: int) -> Network:
        """Member `index` (from 0)."""
        member = self.members[index]
        assert isinstance(member, Network)
        return member

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predict_proba(x).clamp_min(_FLOOR).log()

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """The members' class probabilities averaged (batch, classes)."""
        return torch.stack([torch.softmax(m(x), dim=1) for m in self.members]).mean(0)


def build_ensemble(spec: NetworkSpec, members: Sequence[Mapping[str, torch.Tensor]]) -> Ensemble:
    """A CPU ensemble of `spec` holding copies of the members' weights, in eval mode
    (builds draw no random numbers, as `build_with_weights`)."""
    return Ensemble([build_with_weights(spec, state) for state in members]).eval()


def ensemble_state(members: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The members' state_dicts as one, keyed as `Ensemble.state_dict()` keys them."""
    return {
        f"members.{index}.{key}": value
        for index, state in enumerate(members)
        for key, value in state.items()
    }


def member_states(state: Mapping[str, torch.Tensor]) -> list[dict[str, torch.Tensor]] | None:
    """The members' own state_dicts in an ensemble's (`members.k.…` keys, k = 0, 1, … with
    none missing, two or more members); None when `state` is not an ensemble's."""
    members: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        match = _MEMBER_KEY.fullmatch(key)
        if match is None:
            return None
        members.setdefault(int(match[1]), {})[match[2]] = value
    if len(members) < 2 or sorted(members) != list(range(len(members))):
        return None
    return [members[index] for index in range(len(members))]
