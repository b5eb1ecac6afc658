"""Layer health, recorded while a network trains: per layer, every N steps, the gradient
norm, the update/weight ratio, the share of dead ReLU units, the share of saturated
sigmoid/tanh outputs, the activation mean and std, and weight/gradient histograms.

Cheap by construction: forward hooks are registered only for the recording step and
removed after it, every figure is computed on the device with torch ops and kept there,
and `read()` moves everything pending to the host in one transfer (one sync per UI tick,
not per step). The probe batch is the recording step's own training batch, so recording
draws nothing from any random generator and runs no extra forward pass: the hooks only
read, and the weights after training are the same with recording on or off.

A layer is a leaf layer of the spec (a row, or a layer inside a block), keyed by its
qualified module name. A unit is a channel of a (N, C, H, W) output or a feature of a
(N, F) one; a ReLU unit is dead when it is never positive on the whole batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from explorer.core.spec import LayerSpec, NetworkSpec
from explorer.core.training.health_log import HealthRecord, LayerHealth

#: Bins of each weight and gradient histogram, over [-max |value|, +max |value|].
HISTOGRAM_BINS = 32
#: A tanh output beyond ±this, or a sigmoid output within 1 − this of 0 or 1, is saturated.
SATURATION = 0.99

_DEAD_WHEN_NOT_POSITIVE = (nn.ReLU, nn.ReLU6)
_SATURATING = (nn.Sigmoid, nn.Tanh)


def health_layers(spec: NetworkSpec, network: nn.Module) -> list[tuple[str, nn.Module]]:
    """The network's leaf layers in spec order, by qualified module name (a layer in a
    repeated block: its first copy's)."""
    layers: list[tuple[str, nn.Module]] = []
    for path, item in spec.walk():
        if isinstance(item, LayerSpec):
            name = network.module_name(path)  # type: ignore[operator]
            layers.append((name, network.get_submodule(name)))
    return layers


def _output_kind(module: nn.Module) -> type[nn.Module] | None:
    """The activation type at the module's output (its last child, or itself)."""
    children = list(module.children())
    last = children[-1] if children else module
    for kind in (*_DEAD_WHEN_NOT_POSITIVE, *_SATURATING):
        if isinstance(last, kind):
            return kind
    return None


def _dead_share(output: torch.Tensor) -> torch.Tensor:
    """Share of units (dim 1) whose output is never positive over the batch (a 0-d tensor)."""
    units = output.transpose(0, 1).reshape(output.shape[1], -1)
    return 1.0 - (units.amax(dim=1) > 0).float().mean()


def _saturated_share(output: torch.Tensor, kind: type[nn.Module]) -> torch.Tensor:
    if kind is nn.Tanh:
        return (output.abs() > SATURATION).float().mean()
    return ((output < 1.0 - SATURATION) | (output > SATURATION)).float().mean()


def _histogram(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """HISTOGRAM_BINS counts of `values` over ±max|values|, and that range (0-d), without
    reading the range on the host (histc's bounds are Python numbers)."""
    extent = values.abs().amax()
    scaled = values / extent.clamp_min(torch.finfo(values.dtype).tiny)
    return torch.histc(scaled, HISTOGRAM_BINS, min=-1.0, max=1.0), extent


class _Layer:
    """One recorded layer: its module, parameters and output activation type."""

    def __init__(self, name: str, module: nn.Module) -> None:
        self.name = name
        self.module = module
        self.parameters = [p for p in module.parameters() if p.requires_grad]
        kernels = [p for p in self.parameters if p.ndim > 1]
        self.histogrammed = kernels or self.parameters
        self.kind = _output_kind(module)


# Per layer, the device figures of one record: 6 scalars (NaN where None), then the
# weight and gradient histograms with their ranges (absent for layers without parameters).
_Pending = tuple[int, list[list[torch.Tensor]]]


class HealthRecorder:
    """Records `layers` every `interval` updates (0: never); the trainer wraps each update
    in `recording(done)`, and the reader calls `read()` for the records so far."""

    def __init__(self, layers: Sequence[tuple[str, nn.Module]], interval: int) -> None:
        self.interval = interval
        self._layers = [_Layer(name, module) for name, module in layers]
        self._pending: list[_Pending] = []

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self._layers)

    def due(self, done: int) -> bool:
        """Whether the update after `done` updates is recorded."""
        return self.interval > 0 and done % self.interval == 0 and bool(self._layers)

    @contextmanager
    def recording(self, done: int) -> Iterator[None]:
        """Around one whole update (forward, backward, optimizer step) after `done`
        updates: when due, hooks read the outputs and, once the update is through, the
        gradients and the weight change are measured. Nothing is recorded for an update
        that raises."""
        if not self.due(done):
            yield
            return
        outputs: dict[str, list[torch.Tensor]] = {}
        handles = [
            layer.module.register_forward_hook(self._output_hook(layer, outputs))
            for layer in self._layers
        ]
        with torch.no_grad():
            before = [[p.detach().clone() for p in layer.parameters] for layer in self._layers]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
        with torch.no_grad():
            figures = [
                self._after_update(layer, outputs.get(layer.name), old)
                for layer, old in zip(self._layers, before, strict=True)
            ]
        self._pending.append((done + 1, figures))

    @staticmethod
    def _output_hook(layer: _Layer, outputs: dict[str, list[torch.Tensor]]) -> Any:
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            if layer.name in outputs or not isinstance(output, torch.Tensor):
                return  # a module called twice: its first call is the layer's output
            with torch.no_grad():
                out = output.detach().float()
                nan = out.new_full((), float("nan"))
                dead = _dead_share(out) if layer.kind in _DEAD_WHEN_NOT_POSITIVE else nan
                saturated = (
                    _saturated_share(out, layer.kind)
                    if layer.kind is not None and layer.kind in _SATURATING
                    else nan
                )
                std = out.std() if out.numel() > 1 else out.new_zeros(())
                outputs[layer.name] = [dead, saturated, out.mean(), std]

        return hook

    @staticmethod
    def _after_update(
        layer: _Layer, output: list[torch.Tensor] | None, before: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        params = layer.parameters
        device = params[0].device if params else (output[0].device if output else None)
        nan = torch.full((), float("nan"), device=device)
        activation = output if output is not None else [nan, nan, nan, nan]
        if not params:
            return [nan, nan, *activation]
        grads = [p.grad.detach().float() for p in params if p.grad is not None]
        grad_norm = (
            torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads])) if grads else nan
        )
        change = torch.cat(
            [(p.detach() - b).reshape(-1).float() for p, b in zip(params, before, strict=True)]
        )
        old = torch.cat([b.reshape(-1).float() for b in before])
        ratio = torch.linalg.vector_norm(change) / torch.linalg.vector_norm(old)
        weights = torch.cat([p.detach().reshape(-1).float() for p in layer.histogrammed])
        weight_hist, weight_range = _histogram(weights)
        chosen = [p.grad for p in layer.histogrammed if p.grad is not None]
        if chosen:
            grad_hist, grad_range = _histogram(torch.cat([g.reshape(-1).float() for g in chosen]))
        else:
            grad_hist, grad_range = torch.zeros_like(weight_hist), weight_range.new_zeros(())
        return [grad_norm, ratio, *activation, weight_hist, weight_range, grad_hist, grad_range]

    def read(self) -> list[HealthRecord]:
        """The records made since the last read, as host floats (one device transfer)."""
        if not self._pending:
            return []
        pending, self._pending = self._pending, []
        flat = [t.reshape(-1).float().cpu() for _, layers in pending for fig in layers for t in fig]
        values = torch.cat(flat).tolist() if flat else []
        records: list[HealthRecord] = []
        at = 0
        for step, layers in pending:
            health: dict[str, LayerHealth] = {}
            for layer, figures in zip(self._layers, layers, strict=True):
                sizes = [t.numel() for t in figures]
                parts = []
                for size in sizes:
                    parts.append(values[at : at + size])
                    at += size
                health[layer.name] = _layer_health(parts)
            records.append(HealthRecord(step, health))
        return records


def _layer_health(parts: list[list[float]]) -> LayerHealth:
    def scalar(index: int) -> float | None:
        value = parts[index][0]
        return None if value != value else value  # NaN: not defined for this layer

    has_histograms = len(parts) > 6
    return LayerHealth(
        grad_norm=scalar(0),
        update_ratio=scalar(1),
        dead=scalar(2),
        saturated=scalar(3),
        act_mean=parts[4][0],
        act_std=parts[5][0],
        weight_hist=tuple(parts[6]) if has_histograms else None,
        weight_range=parts[7][0] if has_histograms else 0.0,
        grad_hist=tuple(parts[8]) if has_histograms else None,
        grad_range=parts[9][0] if has_histograms else 0.0,
    )
