"""Random nested networks (blocks in blocks, depth ≤ 3, repeats, empty sub-stacks): capture
gives every layer and block of the spec, once, in the order the data flows, each equal to
a torch hook on the module at its path (the builder's `module_at`, or for models put
together by hand, the module named by block_modules' scheme) and of the analysed shape."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.core.analysis import analyze
from explorer.core.block_spec import BlockSpec, LayerOrBlock
from explorer.core.builder import build_model
from explorer.core.capture import capture, capture_points
from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from tests.core.blocks_by_hand import build_by_hand

CHANNELS = 2


@st.composite
def stacks(
    draw: Any, depth: int, channels: int, keep: bool, identity: bool = True
) -> tuple[list[LayerOrBlock], int]:
    """A sub-stack over `channels` channels and the channels it gives; with `keep` it gives
    as many as it takes. With `identity` every residual block has an identity shortcut
    (models put together by hand have no other), else auto or pad ones."""
    items: list[LayerOrBlock] = []
    kinds = ["conv", "norm", "act"] + (["residual", "parallel"] if depth < 3 else [])
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(kinds))
        if kind == "conv":
            filters = channels if keep else draw(st.integers(1, 4))
            size = draw(st.sampled_from([1, 3]))
            values = {"filters": filters, "kernel_size": size, "padding": "same"}
            items.append(LayerSpec.create("Conv2D", values))
            channels = filters
        elif kind == "norm":
            items.append(LayerSpec.create("BatchNorm"))
        elif kind == "act":
            function = draw(st.sampled_from(["relu", "tanh", "sigmoid"]))
            items.append(LayerSpec.create("Activation", {"function": function}))
        elif kind == "residual":
            body, width = draw(stacks(depth + 1, channels, keep=keep or identity))
            repeat = draw(st.integers(1, 2)) if width == channels else 1
            shortcut = "identity" if identity else draw(st.sampled_from(["auto", "pad"]))
            if shortcut == "pad" and width < channels:
                shortcut = "auto"  # pad adds channels, never removes them
            values = {"repeat": repeat, "shortcut": shortcut}
            items.append(BlockSpec.create("Residual", values, [body]))
            channels = width
        else:
            add = keep or draw(st.booleans())
            branches, widths = [], []
            for _ in range(draw(st.integers(2, 3))):
                branch, width = draw(stacks(depth + 1, channels, keep=add, identity=identity))
                branches.append(branch)
                widths.append(width)
            merge = "add" if add else "concat"
            repeat = draw(st.integers(1, 2)) if add else 1
            items.append(BlockSpec.create("Parallel", {"merge": merge, "repeat": repeat}, branches))
            channels = channels if add else sum(widths)
    return items, channels


@st.composite
def networks(draw: Any, identity: bool = True) -> NetworkSpec:
    layers, _ = draw(stacks(1, CHANNELS, keep=False, identity=identity))
    layers += [LayerSpec.create("Flatten"), LayerSpec.create("Dense", {"units": 3})]
    return NetworkSpec(input=InputSpec(CHANNELS, 5, 5), num_classes=3, layers=tuple(layers))


def flow_order(items: tuple[LayerOrBlock, ...], prefix: LayerPath | None = None) -> list:
    """(path, merged) of every layer and block, each block after what it holds."""
    order: list[tuple[LayerPath, bool]] = []
    for index, item in enumerate(items):
        path = LayerPath.top(index) if prefix is None else prefix.sibling(index)
        if isinstance(item, BlockSpec):
            for which, stack in enumerate(item.stacks):
                order += flow_order(stack, path.child(which, 0))
            order.append((path, True))
        else:
            order.append((path, False))
    return order


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=networks(), seed=st.integers(0, 2**16))
def test_every_layer_and_block_is_captured_once_as_its_module_computes_it(
    spec: NetworkSpec, seed: int
) -> None:
    model = build_by_hand(spec, seed=seed)
    image = torch.randn(CHANNELS, 5, 5, generator=torch.Generator().manual_seed(seed))
    result = capture(model, image)

    assert [(layer.path, layer.merged) for layer in result.layers] == flow_order(spec.layers)
    assert {layer.path: layer.name for layer in result.layers} == spec.names()
    seen: dict[str, torch.Tensor] = {}
    points = capture_points(model)
    handles = [
        model.get_submodule(point.module).register_forward_hook(
            lambda _m, _i, out, name=point.module: seen.setdefault(name, out.clone())
        )
        for point in points
    ]
    try:
        with torch.no_grad():
            model(image[None])
    finally:
        for handle in handles:
            handle.remove()
    for layer, point in zip(result.layers, points, strict=True):
        want = seen[point.module][0]
        assert layer.shape == tuple(want.shape)
        np.testing.assert_allclose(layer.output, want[: layer.output.shape[0]], atol=1e-5)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=networks(identity=False), seed=st.integers(0, 2**16))
def test_built_networks_are_captured_at_the_builders_modules_with_the_analysed_shapes(
    spec: NetworkSpec, seed: int
) -> None:
    model = build_model(spec, seed=seed).eval()
    image = torch.randn(CHANNELS, 5, 5, generator=torch.Generator().manual_seed(seed))
    result = capture(model, image)

    assert [(layer.path, layer.merged) for layer in result.layers] == flow_order(spec.layers)
    for point in capture_points(model):
        assert point.module == model.module_name(point.path)
    seen: dict[LayerPath, torch.Tensor] = {}
    handles = [
        model.module_at(layer.path).register_forward_hook(
            lambda _m, _i, out, path=layer.path: seen.setdefault(path, out.clone())
        )
        for layer in result.layers
    ]
    try:
        with torch.no_grad():
            model(image[None])
    finally:
        for handle in handles:
            handle.remove()
    analysis = analyze(spec)
    for layer in result.layers:
        assert layer.shape == analysis.at(layer.path).output_shape
        want = seen[layer.path][0]
        np.testing.assert_allclose(layer.output, want[: layer.output.shape[0]], atol=1e-5)
