"""Spec -> torch.nn.Module, with submodules named after the layers.

The built `Network` returns logits: a final softmax (as a Dense/Conv2D activation or an
Activation layer) is kept in the spec for display but left out of `forward`, because
CrossEntropyLoss applies log-softmax itself; `predict_proba` gives the probabilities.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import nn

from explorer.core.analysis import analyze
from explorer.core.error_list import format_errors
from explorer.core.spec import NetworkSpec


class BuildError(ValueError):
    """The spec has errors; the message lists them."""


class Network(nn.Module):
    """A sequential network whose children are the spec's layers, in order, by name."""

    def __init__(
        self,
        named_layers: list[tuple[str, nn.Module]],
        *,
        input_shape: tuple[int, int, int],
        final_softmax: bool,
        penalties: dict[str, tuple[float, float]],
    ) -> None:
        super().__init__()
        for name, module in named_layers:
            self.add_module(name, module)
        self.layer_names: tuple[str, ...] = tuple(name for name, _ in named_layers)
        self.input_shape = input_shape
        self.final_softmax = final_softmax
        # layer name -> (l1, l2) on that layer's kernel weights
        self.penalties = penalties

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return x

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (batch, classes)."""
        return torch.softmax(self.forward(x), dim=1)

    def layer_modules(self) -> list[tuple[str, nn.Module]]:
        return [(name, getattr(self, name)) for name in self.layer_names]

    def penalty(self) -> torch.Tensor | None:
        """The spec's per-layer L1/L2 terms on kernel weights (Keras convention:
        l1·Σ|w| + l2·Σw²), or None when no layer has any."""
        total: torch.Tensor | None = None
        for name, (l1, l2) in self.penalties.items():
            for weight in kernel_weights(getattr(self, name)):
                term = weight.new_zeros(())
                if l1:
                    term = term + l1 * weight.abs().sum()
                if l2:
                    term = term + l2 * weight.square().sum()
                total = term if total is None else total + term
        return total


def kernel_weights(module: nn.Module) -> tuple[torch.Tensor, ...]:
    """The kernels of a layer module, which its l1/l2 penalties act on: the weights of its
    convolutions and linear maps (a SeparableConv2D has two, depthwise and pointwise)."""
    kernels = tuple(
        inner.weight for inner in module.modules() if isinstance(inner, nn.Conv2d | nn.Linear)
    )
    if not kernels:
        raise TypeError(f"{type(module).__name__} has no kernel")
    return kernels


def kernel_weight(module: nn.Module) -> torch.Tensor:
    """The first kernel of a layer module: a Conv2D's, a Dense layer's, a separable
    convolution's depthwise (spatial) one."""
    return kernel_weights(module)[0]


@contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def build_model(spec: NetworkSpec, *, seed: int | None = None) -> Network:
    """Build the torch model for a spec without errors; raise BuildError otherwise.

    With `seed`, the initial weights depend only on the seed (the global RNG is untouched).
    """
    analysis = analyze(spec)
    if analysis.errors:
        raise BuildError(format_errors(analysis.errors))
    last = len(spec.layers) - 1
    final_softmax = False
    named: list[tuple[str, nn.Module]] = []
    penalties: dict[str, tuple[float, float]] = {}
    with _seeded(seed):
        for index, (layer, result) in enumerate(zip(spec.layers, analysis.layers, strict=True)):
            p = layer.entry.module_values(layer.resolved(), index == last)
            if p != layer.resolved():
                final_softmax = True
            assert result.input_shape is not None
            named.append((result.name, layer.entry.build(result.input_shape, p)))
            if p.get("l1") or p.get("l2"):
                penalties[result.name] = (float(p["l1"]), float(p["l2"]))
    return Network(
        named, input_shape=spec.input.shape, final_softmax=final_softmax, penalties=penalties
    )


def build_structure(spec: NetworkSpec) -> Network:
    """The network's modules on the meta device: names and shapes, no memory, and no draw
    from any random generator (so it cannot disturb a run training in another thread)."""
    with torch.device("meta"):
        return build_model(spec)


def build_with_weights(spec: NetworkSpec, state_dict: Mapping[str, torch.Tensor]) -> Network:
    """A CPU model for `spec` holding a copy of the given weights, in eval mode.

    One copy, assigned in place of the meta tensors; later changes to the source do not
    reach the model.
    """
    model = build_structure(spec)
    copies = {key: value.detach().to("cpu", copy=True) for key, value in state_dict.items()}
    model.load_state_dict(copies, assign=True)
    return model.eval()
