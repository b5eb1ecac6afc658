"""An ensemble as one model: the average of its members' class probabilities.

Its output is the logarithm of that average, so it drops in wherever a network's logits are
read: softmax of the output is the averaged probability, argmax the ensemble's class, and
cross-entropy on it the ensemble's loss. Every member is the same architecture with its own
weights (seeds S, S+1, …; see core/app/run_plan.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from explorer.core.builder import Network

#: the smallest averaged probability whose logarithm is taken (keeps log(0) finite)
_FLOOR = 1e-12


class Ensemble(nn.Module):
    """Members `member_0`, `member_1`, …; forward gives log(mean of softmax(member(x)))."""

    def __init__(self, members: Sequence[Network]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble has two or more members")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predict_proba(x).clamp_min(_FLOOR).log()

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """The members' class probabilities averaged (batch, classes)."""
        return torch.stack([torch.softmax(m(x), dim=1) for m in self.members]).mean(0)
