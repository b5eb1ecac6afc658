"""Torch models of nested specs put together by hand from `explorer.core.block_modules`,
for tests of code that reads the builder's module tree (names: `block_part`'s scheme)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from explorer.core.block_modules import ParallelBlock, ResidualBlock
from explorer.core.block_spec import BlockSpec, LayerOrBlock
from explorer.core.builder import Network
from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.core.vocabulary.activation_functions import build_activation


def _conv(filters: int, size: int = 3, **more: object) -> LayerSpec:
    return LayerSpec.create(
        "Conv2D", {"filters": filters, "kernel_size": size, "padding": "same", **more}
    )


def nested_spec() -> NetworkSpec:
    """conv · residual ×2 (conv relu, BN) · parallel of [1×1 conv], [residual (conv)], []
    concatenated · flatten · dense: blocks repeated, nested and with an empty branch."""
    residual = BlockSpec.create(
        "Residual", {"repeat": 2}, [[_conv(4, activation="relu"), LayerSpec.create("BatchNorm")]]
    )
    inner = BlockSpec.create("Residual", {"activation": "tanh"}, [[_conv(4)]])
    parallel = BlockSpec.create("Parallel", {}, [[_conv(3, 1)], [inner], []])
    layers = (
        _conv(4),
        residual,
        parallel,
        LayerSpec.create("Flatten"),
        LayerSpec.create("Dense", {"units": 5}),
    )
    return NetworkSpec(input=InputSpec(2, 6, 6), num_classes=5, layers=layers)


def _out(module: nn.Module, shape: tuple[int, ...]) -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(module.eval()(torch.zeros(1, *shape)).shape[1:])


def _stack(
    spec: NetworkSpec, items: Sequence[LayerOrBlock], prefix: LayerPath | None, shape: tuple
) -> tuple[list[tuple[str, nn.Module]], tuple[int, ...]]:
    named: list[tuple[str, nn.Module]] = []
    for index, item in enumerate(items):
        path = LayerPath.top(index) if prefix is None else prefix.sibling(index)
        name = spec.name_of(path)
        if isinstance(item, BlockSpec):
            copies = []
            for _ in range(item.repeat):
                stacks = []
                for which, stack in enumerate(item.stacks):
                    parts, _ = _stack(spec, stack, path.child(which, 0), shape)
                    stacks.append(parts)
                activation = item.get("activation")
                act = None if activation == "linear" else build_activation(activation)
                if item.type == "Residual":
                    block: nn.Module = ResidualBlock(stacks[0], None, act)
                else:
                    block = ParallelBlock(stacks, item.get("merge"), act)
                shape = _out(block, shape)
                copies.append(block)
            module: nn.Module = copies[0] if len(copies) == 1 else nn.Sequential(*copies)
        else:
            module = item.entry.build(shape, item.resolved())
            shape = _out(module, shape)
        named.append((name, module))
    return named, shape


def build_by_hand(spec: NetworkSpec, seed: int = 0) -> Network:
    """`spec`'s model with block modules nested as the builder nests them, in eval mode."""
    torch.manual_seed(seed)
    named, _ = _stack(spec, spec.layers, None, spec.input.shape)
    model = Network(named, input_shape=spec.input.shape, final_softmax=False, penalties={})
    return model.eval()
