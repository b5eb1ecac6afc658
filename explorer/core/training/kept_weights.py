"""Weights a run keeps besides the live ones: the moving average it evaluates, and the best.

`WeightAverage` is torch's `AveragedModel` with an exponential moving average of the
parameters and of the buffers (BatchNorm's running statistics average with the weights, so
the averaged network needs no statistics pass of its own). `BestWeights` is a CPU copy of the
evaluated weights at the best validation loss, which early stopping puts back.
"""

from __future__ import annotations

from typing import cast

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from explorer.core.builder import Network
from explorer.core.training.checkpoint import CheckpointError, cpu_copy


class WeightAverage:
    """The exponential moving average of a model's weights and buffers, updated after each
    step: average = decay * average + (1 - decay) * weights (the first update copies)."""

    def __init__(self, model: Network, decay: float) -> None:
        average = get_ema_multi_avg_fn(decay)  # type: ignore[no-untyped-call]
        self._averaged = AveragedModel(model, multi_avg_fn=average, use_buffers=True)
        self._averaged.eval()

    @property
    def module(self) -> Network:
        """The averaged network (a copy of the model's structure, on its device)."""
        return cast(Network, self._averaged.module)

    def update(self, model: Network) -> None:
        self._averaged.update_parameters(model)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """A CPU copy of the average, with how many updates it has seen."""
        state: dict[str, torch.Tensor] = cpu_copy(self._averaged.state_dict())
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Continue from a saved average; CheckpointError when it is not one of this
        network's (other tensors or shapes)."""
        expected = self._averaged.state_dict()
        if set(state) != set(expected):
            raise CheckpointError("the checkpoint's averaged weights do not fit the network")
        for key, tensor in expected.items():
            if tuple(state[key].shape) != tuple(tensor.shape):
                raise CheckpointError(
                    f"the checkpoint's averaged {key!r} has shape {tuple(state[key].shape)}, "
                    f"the network needs {tuple(tensor.shape)}"
                )
        self._averaged.load_state_dict(state)


class BestWeights:
    """The weights at the best validation loss so far (None until one is kept)."""

    def __init__(self, state: dict[str, torch.Tensor] | None = None) -> None:
        self.state = state

    def keep(self, model: torch.nn.Module) -> None:
        self.state = cpu_copy(model.state_dict())

    def restore(self, model: torch.nn.Module) -> bool:
        """Put the kept weights into `model`; False when none were kept."""
        if self.state is None:
            return False
        model.load_state_dict(self.state)
        return True
