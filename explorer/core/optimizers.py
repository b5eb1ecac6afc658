"""The optimizers a run can use, each declared once: its name in project files, the torch
class that implements it, which training settings it takes and what its state costs.

The trainer builds from here (`explorer.core.training.optim`), the memory estimate counts
from here, the export writes the same call, and the settings form and the command line list
the names from here. Importing this module imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from explorer.core.training_spec import TrainingSpec


@dataclass(frozen=True)
class OptimizerType:
    """One optimizer: `torch_class` names its class in `torch.optim`.

    `momentum` / `nesterov` say whether it takes those settings of the run;
    `decoupled_weight_decay` whether weight decay shrinks the weights directly (AdamW)
    instead of adding an L2 term to the gradient. For the memory estimate,
    `state_per_weight` counts the weight-sized tensors it keeps for every weight (Adam's
    two moments) and `update_temporaries` those one parameter's update makes (sqrt and
    division in Adam's denominator, RMSprop's average), measured with torch.profiler on
    torch 2.13.
    """

    name: str
    torch_class: str
    momentum: bool = False
    nesterov: bool = False
    decoupled_weight_decay: bool = False
    state_per_weight: int = 0
    update_temporaries: int = 0

    def options(self, training: TrainingSpec) -> dict[str, float | bool]:
        """The keyword arguments of `torch.optim.<torch_class>` besides the parameters and
        the learning rate (`lr`), from the run's settings."""
        options: dict[str, float | bool] = {}
        if self.momentum:
            options["momentum"] = training.momentum
        if self.nesterov:  # torch refuses Nesterov without momentum
            options["nesterov"] = training.nesterov and training.momentum > 0
        options["weight_decay"] = training.weight_decay
        return options

    def state_tensors(self, momentum: float) -> int:
        """Weight-sized tensors kept per weight between steps (a momentum buffer is one)."""
        return self.state_per_weight + (1 if self.momentum and momentum > 0 else 0)

    def temporary_tensors(self, weight_decay: float) -> int:
        """Weight-sized temporaries one parameter's update makes; an L2 decay term adds one
        (grad + weight_decay * param, a new tensor)."""
        coupled = weight_decay > 0 and not self.decoupled_weight_decay
        return self.update_temporaries + (1 if coupled else 0)


OPTIMIZERS: dict[str, OptimizerType] = {
    entry.name: entry
    for entry in (
        OptimizerType("sgd", "SGD", momentum=True, nesterov=True),
        OptimizerType("adam", "Adam", state_per_weight=2, update_temporaries=2),
        OptimizerType(
            "adamw",
            "AdamW",
            decoupled_weight_decay=True,
            state_per_weight=2,
            update_temporaries=2,
        ),
        OptimizerType(
            "rmsprop", "RMSprop", momentum=True, state_per_weight=1, update_temporaries=1
        ),
    )
}
DEFAULT_OPTIMIZER = "sgd"


def optimizer_type(name: str) -> OptimizerType:
    """The registry entry named `name`; ValueError naming the choices for another name."""
    entry = OPTIMIZERS.get(name)
    if entry is None:
        raise ValueError(f"unknown optimizer {name!r} (choose from {', '.join(OPTIMIZERS)})")
    return entry
