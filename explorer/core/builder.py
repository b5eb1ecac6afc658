"""Spec -> torch.nn.Module, with submodules named after the layers.

The built `Network` returns logits: a final softmax (as a Dense/Conv2D activation or an
Activation layer) is kept in the spec for display but left out of `forward`, because
CrossEntropyLoss applies log-softmax itself; `predict_proba` gives the probabilities.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from explorer.core.analysis import analyze
from explorer.core.block_modules import PadShortcut, ParallelBlock, ResidualBlock, block_part
from explorer.core.block_spec import label_of
from explorer.core.blocks import merged_shape, projection_layers, resolve_shortcut, shortcut_stride
from explorer.core.error_list import format_errors
from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, LayerOrBlock, LayerSpec, NetworkSpec
from explorer.core.vocabulary.blocks import Shortcut
from explorer.core.vocabulary.layer_type import Shape


class BuildError(ValueError):
    """The spec has errors; the message lists them."""


class Network(nn.Module):
    """A sequential network whose children are the spec's top-level rows, in order, by
    name; a block's module holds its layers by name (see block_modules.py)."""

    def __init__(
        self,
        named_layers: list[tuple[str, nn.Module]],
        *,
        input_shape: tuple[int, int, int],
        final_softmax: bool,
        penalties: dict[str, tuple[float, float]],
        kernels: dict[str, tuple[str, ...]] | None = None,
        places: dict[LayerPath, Place] | None = None,
    ) -> None:
        super().__init__()
        for name, module in named_layers:
            self.add_module(name, module)
        self.layer_names: tuple[str, ...] = tuple(name for name, _ in named_layers)
        self.input_shape = input_shape
        self.final_softmax = final_softmax
        # qualified layer name -> (l1, l2) on that layer's kernel weights
        self.penalties = penalties
        # qualified layer name -> the qualified names of its kernels (Conv2d/Linear weights)
        self.kernels = kernels if kernels is not None else {}
        self._places = places if places is not None else {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return x

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (batch, classes)."""
        return torch.softmax(self.forward(x), dim=1)

    def layer_modules(self) -> list[tuple[str, nn.Module]]:
        """The top-level rows' modules by name, in order."""
        return [(name, getattr(self, name)) for name in self.layer_names]

    def module_name(self, path: LayerPath, copy: int = 0) -> str:
        """The qualified module name of the layer or block at `path`: copy `copy` of the
        innermost repeated block holding it (the first copy of any other). A repeated
        block's own module holds all its copies (its output is the last copy's).
        KeyError for a path the network does not have."""
        return self._places[path].name(copy)

    def module_at(self, path: LayerPath, copy: int = 0) -> nn.Module:
        """The module of the layer or block at `path` (see `module_name`)."""
        return self.get_submodule(self.module_name(path, copy))

    def penalty(self) -> torch.Tensor | None:
        """The spec's per-layer L1/L2 terms on kernel weights (Keras convention:
        l1·Σ|w| + l2·Σw²), or None when no layer has any."""
        total: torch.Tensor | None = None
        for name, (l1, l2) in self.penalties.items():
            for kernel in self.kernels[name]:
                weight = self.get_parameter(kernel)
                term = weight.new_zeros(())
                if l1:
                    term = term + l1 * weight.abs().sum()
                if l2:
                    term = term + l2 * weight.square().sum()
                total = term if total is None else total + term
        return total


@dataclass(frozen=True)
class Place:
    """Where a layer's module sits: the sub-stacks of the blocks on the way (block name,
    repeat, sub-stack, residual?) and its own name."""

    blocks: tuple[tuple[str, int, int, bool], ...]
    own: str

    def name(self, copy: int = 0) -> str:
        repeated = [i for i, (_, repeat, _, _) in enumerate(self.blocks) if repeat > 1]
        innermost = repeated[-1] if repeated else None
        if copy and innermost is None:
            raise KeyError(f"{self.own} is in no repeated block: it has no copy {copy}")
        prefix = ""
        for level, (block, repeat, stack, residual) in enumerate(self.blocks):
            which = copy if level == innermost else 0
            if which >= repeat:
                raise KeyError(f"copy {copy} of a block repeated {repeat} times")
            prefix = block_part(f"{prefix}{block}", repeat, which, stack, residual) + "."
        return prefix + self.own


def kernel_weights(module: nn.Module) -> tuple[torch.Tensor, ...]:
    """The kernels of a layer module, which its l1/l2 penalties act on: the weights of its
    convolutions and linear maps (a SeparableConv2D has two, depthwise and pointwise)."""
    kernels = tuple(module.get_parameter(name) for name in kernel_names(module))
    if not kernels:
        raise TypeError(f"{type(module).__name__} has no kernel")
    return kernels


def kernel_names(module: nn.Module) -> tuple[str, ...]:
    """The names (within `module`) of the kernels `kernel_weights` gives."""
    return tuple(
        f"{name}.weight" if name else "weight"
        for name, inner in module.named_modules()
        if isinstance(inner, nn.Conv2d | nn.Linear)
    )


def kernel_weight(module: nn.Module) -> torch.Tensor:
    """The first kernel of a layer module: a Conv2D's, a Dense layer's, a separable
    convolution's depthwise (spatial) one."""
    return kernel_weights(module)[0]


# Seeded builds set torch's one global generator for a moment: two at once in different
# threads (the feature maps', the Explain tab's, the channel explorer's) would interleave
# their draws and give each other's weights.
_SEEDED_BUILD = threading.Lock()


@contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    if seed is None:
        yield
        return
    with _SEEDED_BUILD, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class _Builder:
    """Builds the modules of a stack and its blocks, recording where each layer is."""

    def __init__(self, spec: NetworkSpec) -> None:
        self.names = spec.names()
        self.last = LayerPath.top(len(spec.layers) - 1)
        self.final_softmax = False
        self.penalties: dict[str, tuple[float, float]] = {}
        self.kernels: dict[str, tuple[str, ...]] = {}
        self.places: dict[LayerPath, Place] = {}

    def stack(
        self,
        items: Sequence[LayerOrBlock],
        shape: Shape,
        first: LayerPath | None,
        blocks: tuple[tuple[str, int, int, bool], ...],
        record: bool,
        prefix: str = "",
    ) -> tuple[list[tuple[str, nn.Module]], Shape]:
        """The named modules of a stack whose first position is `first` (None: the top
        level) on an input of `shape`, and its output shape. `blocks`: those on the way,
        `prefix`: the stack's qualified module name with a dot (of the copy being built);
        `record`: the first copy of every block on the way (the one a path names)."""
        named: list[tuple[str, nn.Module]] = []
        for index, item in enumerate(items):
            at = LayerPath.top(index) if first is None else first.sibling(index)
            name = self.names[at]
            place = Place(blocks, name)
            if record:
                self.places[at] = place
            if isinstance(item, BlockSpec):
                module, shape = self.block(at, item, shape, place, record, prefix)
            else:
                module, shape = self.layer(at, item, shape, prefix + name)
            named.append((name, module))
        return named, shape

    def layer(
        self, at: LayerPath, layer: LayerSpec, shape: Shape, qualified: str
    ) -> tuple[nn.Module, Shape]:
        entry = layer.entry
        p = entry.module_values(layer.resolved(), at == self.last)
        if p != layer.resolved():
            self.final_softmax = True
        module: nn.Module = entry.build(shape, p)
        if p.get("l1") or p.get("l2"):
            self.penalties[qualified] = (float(p["l1"]), float(p["l2"]))
            self.kernels[qualified] = tuple(f"{qualified}.{k}" for k in kernel_names(module))
        return module, entry.output_shape(shape, p)

    def block(
        self,
        at: LayerPath,
        block: BlockSpec,
        shape: Shape,
        place: Place,
        record: bool,
        prefix: str,
    ) -> tuple[nn.Module, Shape]:
        repeat = block.repeat
        residual = block.entry.name == "Residual"
        copies: list[nn.Module] = []
        for copy in range(repeat):
            stacks = []
            outs = []
            for which, items in enumerate(block.stacks):
                level = (*place.blocks, (place.own, repeat, which, residual))
                part = block_part(prefix + place.own, repeat, copy, which, residual) + "."
                named, out = self.stack(
                    items, shape, at.child(which, 0), level, record and copy == 0, part
                )
                stacks.append(named)
                outs.append(out)
            activation = self._activation(block, outs, shape)
            if residual:
                module: nn.Module = ResidualBlock(
                    stacks[0], self._shortcut(block, shape, outs[0]), activation
                )
                shape = outs[0]
            else:
                merge = str(block.get("merge"))
                module = ParallelBlock(stacks, merge, activation)
                shape = merged_shape(merge, outs)
            copies.append(module)
        if repeat == 1:
            return copies[0], shape
        return nn.Sequential(*copies), shape

    @staticmethod
    def _activation(block: BlockSpec, outs: list[Shape], shape: Shape) -> nn.Module | None:
        function = str(block.get("activation"))
        if function == "linear":
            return None
        layer = LayerSpec.create("Activation", {"function": function})
        built: nn.Module = layer.entry.build(outs[0], layer.resolved())
        return built

    @staticmethod
    def _shortcut(block: BlockSpec, shape: Shape, body: Shape) -> nn.Module | None:
        kind = resolve_shortcut(str(block.get("shortcut")), shape, body)
        if kind is Shortcut.IDENTITY:
            return None
        if kind is Shortcut.PAD:
            stride = shortcut_stride(shape, body)
            assert stride is not None
            return PadShortcut(stride, body[0] - shape[0])
        parts = []
        current = shape
        for layer in projection_layers(shape, body):
            p = layer.resolved()
            parts.append(layer.entry.build(current, p))
            current = layer.entry.output_shape(current, p)
        return nn.Sequential(*parts)


def build_model(spec: NetworkSpec, *, seed: int | None = None) -> Network:
    """Build the torch model for a spec without errors; raise BuildError otherwise.

    With `seed`, the initial weights depend only on the seed (the global RNG is untouched).
    """
    analysis = analyze(spec)
    if analysis.errors:
        label = functools.partial(label_of, spec.layers)
        raise BuildError(format_errors(analysis.errors, label=label))
    builder = _Builder(spec)
    with _seeded(seed):
        named, _ = builder.stack(spec.layers, spec.input.shape, None, (), True)
    return Network(
        named,
        input_shape=spec.input.shape,
        final_softmax=builder.final_softmax,
        penalties=builder.penalties,
        kernels=builder.kernels,
        places=builder.places,
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
