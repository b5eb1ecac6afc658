"""Receptive-field coverage after a collapse and windows that see only padding, checked
against torch autograd: with every weight positive, every activation linear and max pooling
replaced by average pooling over the same windows, an input pixel has a non-zero gradient
exactly when it can influence the output."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.core.analysis import analyze
from explorer.core.builder import build_model
from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.core.summary import format_receptive_field, summary_json
from tests.core.test_analysis_vs_torch import collapse_layers, image_layers, vector_layers

L = LayerSpec.create
torch.set_num_threads(1)

_SAME_WINDOWS = {"MaxPool2D": "AvgPool2D", "GlobalMaxPool2D": "GlobalAvgPool2D"}


def _dependency_twin(spec: NetworkSpec) -> NetworkSpec:
    """The same windows with linear activations and average pooling, so that gradients
    are non-zero wherever a path exists."""
    layers = []
    for layer in spec.layers:
        values = layer.json_values()
        key = layer.entry.activation_key
        if layer.type == "Activation":
            layers.append(L("Dropout", {"rate": 0.0}))
            continue
        if key:
            values[key] = "linear"
        layers.append(L(_SAME_WINDOWS.get(layer.type, layer.type), values))
    return spec.with_layers(layers)


def _reaching_pixels(spec: NetworkSpec, upto: int) -> torch.Tensor:
    """(H, W) mask of input pixels whose gradient reaches the output of layer `upto`."""
    model = build_model(_dependency_twin(spec), seed=0).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.abs() + 0.1)
    image = torch.ones(1, *spec.input.shape, requires_grad=True)
    x = image
    for _, module in model.layer_modules()[: upto + 1]:
        x = module(x)
    x.sum().backward()
    assert image.grad is not None
    return image.grad[0].abs().sum(0) > 0


@st.composite
def collapsing_specs(draw: st.DrawFn) -> NetworkSpec:
    input_spec = InputSpec(
        draw(st.integers(1, 2)), draw(st.integers(4, 30)), draw(st.integers(4, 30))
    )
    layers = [*draw(st.lists(image_layers, max_size=6)), draw(collapse_layers)]
    layers += draw(st.lists(vector_layers, max_size=2))
    return NetworkSpec(input=input_spec, layers=tuple(layers))


@pytest.mark.slow
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(collapsing_specs())
def test_coverage_is_the_set_of_pixels_autograd_reaches(spec: NetworkSpec) -> None:
    analysis = analyze(spec)
    if any(d.is_error and "class" not in d.message for d in analysis.errors):
        return
    out = analysis.output_shape
    assert out is not None and len(out) == 1
    spec = replace(spec, num_classes=out[0])
    collapse = next(layer for layer in analysis.layers if layer.receptive_field.jump is None)
    rf = collapse.receptive_field
    assert rf.covered is not None and rf.size == (spec.input.height, spec.input.width)
    mask = _reaching_pixels(spec, collapse.index)
    rows, columns = int(mask.any(1).sum()), int(mask.any(0).sum())
    assert rf.covered == (rows, columns), [layer.describe() for layer in spec.layers]
    # The reached set is a product of rows and columns.
    assert int(mask.sum()) == rows * columns
    assert analysis.layers[-1].receptive_field == rf  # later layers keep it


def _alexnet_start() -> NetworkSpec:
    return NetworkSpec(
        input=InputSpec(3, 224, 224),
        layers=(
            L("Conv2D", {"filters": 8, "kernel_size": 11, "stride": 4, "activation": "relu"}),
            L("MaxPool2D", {"pool_size": 3, "stride": 2}),
            L("Flatten"),
            L("Dense", {"units": 10}),
        ),
    )


def test_alexnet_start_covers_219_of_224_pixels_and_says_so() -> None:
    spec = _alexnet_start()
    analysis = analyze(spec)
    rf = analysis.layers[2].receptive_field
    assert rf is not None and rf.covered == (219, 219) and not rf.whole_input
    assert format_receptive_field(rf) == "219 of 224"
    assert summary_json(spec, analysis)["layers"][3]["receptive_field"] == {
        "size": [224, 224],
        "jump": None,
        "covered": [219, 219],
    }
    mask = _reaching_pixels(spec, 2)
    assert int(mask.any(1).sum()) == 219 and not bool(mask[-5:].any())


def test_full_coverage_still_reads_all() -> None:
    spec = NetworkSpec(
        layers=(
            L("Conv2D", {"filters": 4, "kernel_size": 3}),
            L("Flatten"),
            L("Dense", {"units": 10}),
        )
    )
    rf = analyze(spec).layers[1].receptive_field
    assert rf is not None and rf.whole_input and format_receptive_field(rf) == "28 (all)"


def _blind_conv_net() -> NetworkSpec:
    # kernel 2 dilated 3 with 'same' and stride 2 on a 2×2 map: the taps land on padding only
    return NetworkSpec(
        input=InputSpec(1, 2, 2),
        layers=(
            L(
                "Conv2D",
                {"filters": 4, "kernel_size": 2, "dilation": 3, "padding": "same", "stride": 2},
            ),
            L("Flatten"),
            L("Dense", {"units": 10}),
        ),
    )


def test_a_dilated_same_conv_on_a_tiny_map_warns_that_the_output_ignores_the_input() -> None:
    spec = _blind_conv_net()
    analysis = analyze(spec)
    (warning,) = analysis.warnings
    assert warning.path == LayerPath.top(0)
    assert "output does not depend on the input" in warning.message
    assert warning.fix is not None and warning.fix.label == "use dilation 1"
    assert analysis.layers[1].receptive_field.covered == (0, 0)
    assert not bool(_reaching_pixels(spec, 0).any())
    # The real model's output is the same for any input.
    model = build_model(spec, seed=0).eval()
    with torch.no_grad():
        assert torch.equal(model(torch.zeros(1, 1, 2, 2)), model(torch.randn(1, 1, 2, 2)))
    from explorer.core.fixes import apply_fix

    assert analyze(apply_fix(spec, warning.fix)).warnings == ()


def test_padding_wider_than_the_kernel_counts_the_blind_outputs() -> None:
    spec = NetworkSpec(
        input=InputSpec(1, 6, 6),
        layers=(
            L("Conv2D", {"filters": 2, "kernel_size": 1, "padding": 3}),
            L("Flatten"),
            L("Dense", {"units": 10}),
        ),
    )
    (warning,) = analyze(spec).warnings
    assert warning.message.startswith("108 of 144 output positions see only padding")
    # autograd: which of the 12×12 outputs depend on the input at all
    conv = build_model(spec, seed=0).layer_modules()[0][1]
    image = torch.randn(1, 1, 6, 6, requires_grad=True)
    out = conv(image)[0, 0]
    blind = sum(
        1
        for i in range(12)
        for j in range(12)
        if torch.autograd.grad(out[i, j], image, retain_graph=True)[0].abs().sum() == 0
    )
    assert blind == 108
    assert warning.fix is not None and warning.fix.label == "use padding 'same'"


def test_padding_within_the_kernel_never_warns() -> None:
    spec = replace(_alexnet_start(), input=InputSpec(3, 32, 32))
    spec = spec.with_layers(
        [
            L("Conv2D", {"filters": 4, "kernel_size": 3, "padding": 2}),
            L("Flatten"),
            L("Dense", {"units": 10}),
        ]
    )
    assert analyze(spec).warnings == ()
