"""Property-based: the static analysis agrees with what real torch modules do.

For random valid specs, every analysed output shape and parameter count equals what the built
model produces and holds. For random (often invalid) specs, the first error the analysis
reports is on exactly the layer where running the real torch layers first fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.core.analysis import analyze
from explorer.core.builder import build_model
from explorer.core.layers import LAYER_TYPES
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.core.vocabulary.activation_functions import ACTIVATION_NAMES
from explorer.core.vocabulary.layer_type import LayerType, Reach

torch.set_num_threads(1)

pairs = st.one_of(st.integers(1, 5), st.tuples(st.integers(1, 5), st.integers(1, 5)))


def _window_values(draw: st.DrawFn) -> dict[str, object]:
    """Kernel, stride, padding, dilation, activation and bias of a convolution type."""
    padding = draw(
        st.one_of(
            st.sampled_from(["valid", "same"]),
            st.integers(0, 2),
            st.tuples(st.integers(0, 2), st.integers(0, 2)),
        )
    )
    return {
        "kernel_size": draw(pairs),
        "stride": draw(
            st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3)))
        ),
        "padding": padding,
        "dilation": draw(st.integers(1, 2)),
        "activation": draw(st.sampled_from(ACTIVATION_NAMES)),
        "use_bias": draw(st.booleans()),
    }


@st.composite
def conv_layers(draw: st.DrawFn) -> LayerSpec:
    # groups 2 and 3 often fail to divide the channels: torch refuses those too
    values = {
        "filters": draw(st.integers(1, 6)),
        **_window_values(draw),
        "groups": draw(st.sampled_from([1, 1, 1, 2, 3])),
    }
    return LayerSpec.create("Conv2D", _json(values))


@st.composite
def depthwise_layers(draw: st.DrawFn, kind: str) -> LayerSpec:
    values = {**_window_values(draw), "depth_multiplier": draw(st.integers(1, 3))}
    if kind == "SeparableConv2D":
        values["filters"] = draw(st.integers(1, 6))
    return LayerSpec.create(kind, _json(values))


@st.composite
def pool_layers(draw: st.DrawFn, kind: str) -> LayerSpec:
    values = {"pool_size": draw(pairs), "padding": draw(st.sampled_from(["valid", 0, 1]))}
    if draw(st.booleans()):
        values["stride"] = draw(st.integers(1, 3))
    return LayerSpec.create(kind, _json(values))


def _json(values: dict[str, object]) -> dict[str, object]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


# One strategy per registry entry (test_every_type_has_a_strategy keeps them in step), so
# a new type joins the properties below by its roles rather than by a list of names.
LAYER_STRATEGIES: dict[str, st.SearchStrategy[LayerSpec]] = {
    "Conv2D": conv_layers(),
    "DepthwiseConv2D": depthwise_layers("DepthwiseConv2D"),
    "SeparableConv2D": depthwise_layers("SeparableConv2D"),
    "MaxPool2D": pool_layers("MaxPool2D"),
    "AvgPool2D": pool_layers("AvgPool2D"),
    "GlobalMaxPool2D": st.builds(LayerSpec.create, st.just("GlobalMaxPool2D")),
    "GlobalAvgPool2D": st.builds(LayerSpec.create, st.just("GlobalAvgPool2D")),
    "Flatten": st.builds(LayerSpec.create, st.just("Flatten")),
    "Dense": st.builds(
        lambda u, a, b: LayerSpec.create("Dense", {"units": u, "activation": a, "use_bias": b}),
        st.integers(1, 12),
        st.sampled_from(ACTIVATION_NAMES),
        st.booleans(),
    ),
    "Dropout": st.builds(lambda r: LayerSpec.create("Dropout", {"rate": r}), st.floats(0, 0.9)),
    "BatchNorm": st.builds(
        lambda m: LayerSpec.create("BatchNorm", {"momentum": m}), st.floats(0.01, 1)
    ),
    "Activation": st.builds(
        lambda f: LayerSpec.create("Activation", {"function": f}), st.sampled_from(ACTIVATION_NAMES)
    ),
}


def _strategies(keep: Callable[[LayerType], bool]) -> st.SearchStrategy[LayerSpec]:
    return st.one_of(*(LAYER_STRATEGIES[name] for name, e in LAYER_TYPES.items() if keep(e)))


def _collapses(entry: LayerType) -> bool:
    return entry.reach is Reach.WHOLE_INPUT and entry.scores_key is None


# Before the collapse: windowed and pointwise layers; the collapse to a vector (Flatten,
# global pooling); after it, pointwise layers and those that can give the class scores.
image_layers = _strategies(lambda e: e.reach is not Reach.WHOLE_INPUT)
collapse_layers = _strategies(_collapses)
vector_layers = _strategies(lambda e: e.reach is Reach.POINTWISE or e.scores_key is not None)


def test_every_type_has_a_strategy() -> None:
    assert set(LAYER_STRATEGIES) == set(LAYER_TYPES)


def draw_stack(
    draw: st.DrawFn,
    sides: tuple[int, int],
    image_count: int,
    vector: st.SearchStrategy[LayerSpec],
    vector_count: int,
) -> tuple[InputSpec, list[LayerSpec]]:
    """An input of 1 to 3 channels with height and width in `sides`, up to `image_count`
    image layers and, half the time, a collapse and up to `vector_count` `vector` layers."""
    input_spec = InputSpec(
        draw(st.integers(1, 3)), draw(st.integers(*sides)), draw(st.integers(*sides))
    )
    layers = draw(st.lists(image_layers, max_size=image_count))
    if draw(st.booleans()):
        layers.append(draw(collapse_layers))
        layers += draw(st.lists(vector, max_size=vector_count))
    return input_spec, layers


@st.composite
def specs(draw: st.DrawFn) -> NetworkSpec:
    """Mostly plausible stacks: image layers, a collapse, vector layers, a class layer."""
    input_spec, layers = draw_stack(draw, (4, 24), 5, vector_layers, 3)
    num_classes = draw(st.integers(2, 5))
    return NetworkSpec(input=input_spec, num_classes=num_classes, layers=tuple(layers))


def _reference_run(spec: NetworkSpec) -> tuple[list[tuple[int, ...]], int | None]:
    """Run each layer's real torch module on a real tensor; return the output shapes up to
    the first layer that torch rejects (or that yields an empty tensor), and its index."""
    x = torch.randn(2, *spec.input.shape)
    shapes = []
    for index, layer in enumerate(spec.layers):
        shape = tuple(x.shape[1:])
        if layer.entry.scores_key is not None and len(shape) != 1:
            return shapes, index  # the vocabulary requires a Flatten first, as Keras does
        try:
            module = layer.entry.build(shape, layer.resolved()).eval()
            with torch.no_grad():
                x = module(x)
        except (RuntimeError, ValueError):  # ValueError: nn.Conv2d refuses the groups
            return shapes, index
        if x.numel() == 0:
            return shapes, index
        shapes.append(tuple(x.shape[1:]))
    return shapes, None


def _held_parameters(module: torch.nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    # Running statistics count as non-trainable; BatchNorm's integer step counter does not.
    frozen = sum(b.numel() for b in module.buffers() if b.is_floating_point())
    return trainable, frozen


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_valid_specs_match_the_built_torch_model(spec: NetworkSpec) -> None:
    analysis = analyze(spec)
    shape_errors = [
        d
        for layer in analysis.layers
        for d in layer.diagnostics
        if d.is_error and "class" not in d.message
    ]
    if shape_errors or not spec.layers:
        return  # covered by the invalid-spec property below
    # Make the output fit the class count so the spec builds.
    out = analysis.output_shape
    assert out is not None
    if len(out) == 1:
        spec = replace(spec, num_classes=out[0])
    else:
        spec = spec.with_layers(
            [
                *spec.layers,
                LayerSpec.create("Flatten"),
                LayerSpec.create("Dense", {"units": spec.num_classes}),
            ]
        )
    analysis = analyze(spec)
    assert analysis.ok, [d.text() for d in analysis.errors]
    model = build_model(spec, seed=0).eval()
    x = torch.randn(3, *spec.input.shape)
    with torch.no_grad():
        for result, (name, module) in zip(analysis.layers, model.layer_modules(), strict=True):
            assert result.name == name
            x = module(x)
            assert tuple(x.shape[1:]) == result.output_shape, (name, spec)
            assert result.activation_elements == math.prod(x.shape[1:])
            assert _held_parameters(module) == (
                result.trainable_params,
                result.non_trainable_params,
            ), name
    assert _held_parameters(model) == (analysis.trainable_params, analysis.non_trainable_params)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_first_error_is_on_the_layer_where_torch_fails(spec: NetworkSpec) -> None:
    analysis = analyze(spec)  # must never raise
    reference_shapes, failing = _reference_run(spec)
    errors = [
        layer.index
        for layer in analysis.layers
        if any(d.is_error and "class" not in d.message for d in layer.diagnostics)
    ]
    first_error = errors[0] if errors else None
    assert first_error == failing, ([d.text() for d in analysis.errors], spec)
    known = [layer.output_shape for layer in analysis.layers[: len(reference_shapes)]]
    assert known == reference_shapes
    if failing is not None:
        assert all(not layer.known for layer in analysis.layers[failing:])


@pytest.mark.parametrize("padding", ["same", "valid", 1])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("kernel", [1, 2, 3, 4])
def test_conv_output_size_matches_torch_on_odd_and_even_inputs(
    padding: object, stride: int, kernel: int
) -> None:
    for size in (7, 8):
        spec = NetworkSpec(
            input=InputSpec(2, size, size + 1),
            layers=(
                LayerSpec.create(
                    "Conv2D",
                    {"filters": 3, "kernel_size": kernel, "stride": stride, "padding": padding},
                ),
            ),
        )
        expected = analyze(spec).layers[0].output_shape
        module = spec.layers[0].entry.build((2, size, size + 1), spec.layers[0].resolved())
        assert tuple(module(torch.randn(1, 2, size, size + 1)).shape[1:]) == expected


@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
@pytest.mark.parametrize("size", [9, 10, 28])
def test_output_sizes_follow_the_design_formulas(
    size: int, kernel: int, stride: int, dilation: int
) -> None:
    """DESIGN.md: floor((in + 2P − D·(K−1) − 1)/S) + 1, and 'same' keeps ceil(in/S)."""

    def out_size(padding: object) -> int:
        spec = NetworkSpec(
            input=InputSpec(1, size, size),
            layers=(
                LayerSpec.create(
                    "Conv2D",
                    {
                        "filters": 1,
                        "kernel_size": kernel,
                        "stride": stride,
                        "dilation": dilation,
                        "padding": padding,
                    },
                ),
            ),
        )
        shape = analyze(spec).layers[0].output_shape
        assert shape is not None
        return shape[1]

    assert out_size("same") == math.ceil(size / stride)
    for padding in (0, 1, 2):
        expected = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
        assert out_size(padding) == expected
