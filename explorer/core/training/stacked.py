"""Several trainers' forward and backward pass computed at once (torch.func), so that a
group of small same-architecture runs trains in lockstep on one device.

Each member keeps its own `Trainer` (optimizer, schedule, moving average, metrics, early
stopping, checkpoints); only the gradients come from here. `StackedStep` stacks the members'
parameters and buffers (`torch.func.stack_module_state`) and makes every member's tensors
views into the stacked ones, so an optimizer's in-place update, `state_dict()` and
`load_state_dict()` work on the member as before, and one `vmap(grad_and_value(...))` over
the stacked tensors gives every member's loss, logits and gradients for the shared batch.
BatchNorm's running statistics are stacked buffers (in_dims 0), updated in place as each
member's own forward pass would.

Exact only where nothing inside the network draws random numbers (dropout, RReLU: under
vmap they would draw other numbers than the member's own pass), so `random_layers` keeps
such networks out. The gradients match each member's own within float rounding (about 1e-8
per step here): vmap runs a batched (grouped) convolution where the member runs a plain one.
Training can amplify that rounding over many steps at a high learning rate, exactly as it
amplifies a change of CPU thread count (measured alike: 1e-8 → 1e-5 in 100 SGD steps, then
apart). A layer-health step is each member's own update (`BatchReady.stacked` False), since
the health hooks must see the member's modules run.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from explorer.core.builder import Network

#: Modules that draw random numbers in training mode (they keep a network unstacked).
_DROPOUTS = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


def random_layers(model: nn.Module) -> list[str]:
    """The qualified names of the model's modules that draw random numbers while training
    (a dropout with a rate above 0, RReLU, or any other dropout kind)."""
    found = []
    for name, module in model.named_modules():
        dropout = isinstance(module, _DROPOUTS) and module.p > 0
        if dropout or isinstance(module, nn.RReLU):
            found.append(name)
    return found


@dataclass(frozen=True)
class BatchReady:
    """A trainer in lockstep is about to update on this batch: with `stacked`, it waits for
    its gradients from `Trainer.supply`; else it makes its own update (a layer-health step,
    whose hooks must see the member's own forward pass)."""

    images: torch.Tensor
    labels: torch.Tensor
    stacked: bool


@dataclass(frozen=True)
class SuppliedStep:
    """One member's share of a stacked pass: its loss (0-d), logits (batch, classes) and
    gradients by parameter name; or the error the pass raised, which the member's update
    raises in its place (so it fails as its own pass would have)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    grads: dict[str, torch.Tensor] = field(default_factory=dict)
    error: Exception | None = None

    def apply(
        self, model: Network, optimizer: torch.optim.Optimizer
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The member's update with these gradients: the network's L1/L2 terms
        differentiated on top (gradients add), then the optimizer's step; returns the loss,
        logits and terms as `step.update` does."""
        if self.error is not None:
            raise self.error
        assert self.loss is not None and self.logits is not None
        for name, parameter in model.named_parameters():
            parameter.grad = self.grads[name]
        penalty = model.penalty()
        if penalty is not None:
            torch.autograd.backward(penalty)
        optimizer.step()
        return self.loss, self.logits, penalty


class StackedStep:
    """The stacked forward and backward pass of same-architecture models in training mode,
    with the cross-entropy of `step.update` (float32 logits, `label_smoothing`)."""

    def __init__(self, models: Sequence[Network], label_smoothing: float = 0.0) -> None:
        # A structure-only copy (no memory) that functional_call fills with each slice.
        self._base = copy.deepcopy(models[0]).to("meta").train()
        self._smoothing = label_smoothing
        self._models: list[Network] = []
        self._params: dict[str, torch.Tensor] = {}
        self._buffers: dict[str, torch.Tensor] = {}
        self._pass = vmap(grad_and_value(self._loss, has_aux=True), in_dims=(0, 0, None, None))
        self.restack(models)

    @property
    def models(self) -> list[Network]:
        return list(self._models)

    def restack(self, models: Sequence[Network]) -> None:
        """Stack these models' current parameters and buffers and make theirs views into
        the stack (a model left out keeps its values, in a stack no pass writes to)."""
        params, buffers = stack_module_state(list(models))
        self._params = {name: value.detach() for name, value in params.items()}
        self._buffers = buffers
        for index, model in enumerate(models):
            for name, parameter in model.named_parameters():
                parameter.data = self._params[name][index]
            for name, _ in model.named_buffers():
                owner, _, attr = name.rpartition(".")
                model.get_submodule(owner)._buffers[attr] = self._buffers[name][index]
        self._models = list(models)

    def _loss(
        self,
        params: dict[str, torch.Tensor],
        buffers: dict[str, torch.Tensor],
        images: torch.Tensor,
        labels: torch.Tensor,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        logits = functional_call(self._base, (params, buffers), (images,))
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=self._smoothing)
        return loss, (loss.detach(), logits.detach())

    def compute(self, images: torch.Tensor, labels: torch.Tensor) -> list[SuppliedStep]:
        """Every stacked model's share of one pass on the batch, in stacking order (the
        buffers, BatchNorm's running statistics, are updated in place)."""
        grads, (_, (losses, logits)) = self._pass(self._params, self._buffers, images, labels)
        return [
            SuppliedStep(losses[k], logits[k], {name: grad[k] for name, grad in grads.items()})
            for k in range(len(self._models))
        ]


def stacking_problem(
    models: Sequence[Network], images: torch.Tensor, labels: torch.Tensor
) -> str | None:
    """Why these models cannot train stacked (a random layer, or a pass vmap cannot run,
    tried on copies so nothing changes), or None when they can."""
    randoms = random_layers(models[0])
    if randoms:
        return f"{randoms[0]} draws random numbers while training"
    copies = [copy.deepcopy(model) for model in models]
    try:
        StackedStep(copies).compute(images, labels)
    except (RuntimeError, NotImplementedError, ValueError) as error:
        # vmap has no rule for an operation, or the batch cannot train (one value per
        # BatchNorm channel): the trials then train one after another, which says why
        return f"the stacked pass does not run: {str(error).splitlines()[0]}"
    return None
