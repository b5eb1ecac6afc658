"""Grouped, depthwise and separable convolutions against real torch and published counts.

Parameters are the built module's numel, output shapes come from a forward pass, and
multiply-accumulates from torch.utils.flop_counter (a convolution's flops are 2 per MAC).
Published references: Keras' MobileNet summary (keras.applications.MobileNet(), also the
Keras applications table: 4,253,864 parameters, 21,888 of them non-trainable) and
Howard et al. 2017, "MobileNets", Table 1 (first depthwise separable layer: 3×3×32
depthwise, 1×1×32×64 pointwise, on 112×112) and Table 8 (569 million mult-adds).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from explorer.core.analysis import analyze
from explorer.core.builder import build_model, kernel_weights
from explorer.core.diagnostics import SetParams
from explorer.core.fixes import apply_fix
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.core.vocabulary.conv import nearest_groups

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from memory_estimate import estimate, profiled_peak

L = LayerSpec.create

CASES = [
    ("Conv2D", {"filters": 8, "kernel_size": 3, "groups": 4}),
    ("Conv2D", {"filters": 12, "kernel_size": [3, 2], "groups": 2, "padding": "same"}),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 4, "stride": 2, "dilation": 2}),
    ("DepthwiseConv2D", {"kernel_size": 3}),
    ("DepthwiseConv2D", {"kernel_size": 4, "padding": "same", "stride": 2}),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 3, "use_bias": False}),
    ("SeparableConv2D", {"filters": 10, "kernel_size": 3}),
    ("SeparableConv2D", {"filters": 6, "kernel_size": 2, "padding": "same", "stride": 2}),
    ("SeparableConv2D", {"filters": 5, "kernel_size": 3, "dilation": 2, "depth_multiplier": 2}),
]


def _one_layer(layer: LayerSpec, channels: int = 4, size: int = 11) -> NetworkSpec:
    return NetworkSpec(input=InputSpec(channels, size, size), num_classes=3, layers=(layer,))


@pytest.mark.parametrize(("kind", "values"), CASES)
def test_shape_params_and_macs_equal_the_torch_module(kind: str, values: dict) -> None:
    layer = L(kind, values)
    result = analyze(_one_layer(layer)).layers[0]
    assert result.output_shape is not None and result.input_shape is not None
    module = layer.entry.build(result.input_shape, layer.resolved())
    x = torch.randn(2, *result.input_shape)
    with FlopCounterMode(display=False) as flops:
        y = module(x)
    assert tuple(y.shape[1:]) == result.output_shape
    assert sum(p.numel() for p in module.parameters()) == result.trainable_params
    assert flops.get_total_flops() // (2 * 2) == result.macs


def test_depthwise_is_a_conv_with_one_group_per_channel() -> None:
    layer = L("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2})
    module = layer.entry.build((5, 8, 8), layer.resolved())
    assert module.conv.groups == 5
    assert tuple(module.conv.weight.shape) == (10, 1, 3, 3)
    # Output channel j reads only input channel j // depth_multiplier.
    x = torch.zeros(1, 5, 8, 8)
    x[0, 3] = torch.randn(8, 8)
    y = module(x) - module(torch.zeros_like(x))
    changed = [j for j in range(10) if y[0, j].abs().max() > 0]
    assert changed == [6, 7]


def test_separable_is_depthwise_then_pointwise_with_the_bias_on_the_pointwise_conv() -> None:
    layer = L("SeparableConv2D", {"filters": 7, "kernel_size": 3, "padding": "same"})
    module = layer.entry.build((4, 9, 9), layer.resolved())
    assert [name for name, _ in module.named_children()] == ["depthwise", "pointwise"]
    assert module.depthwise.bias is None and module.pointwise.bias is not None
    x = torch.randn(1, 4, 9, 9)
    reference = torch.nn.functional.conv2d(
        torch.nn.functional.conv2d(x, module.depthwise.weight, padding=1, groups=4),
        module.pointwise.weight,
        module.pointwise.bias,
    )
    assert torch.allclose(module(x), reference, atol=1e-5)


def test_mobilenet_first_separable_layer_has_the_papers_weights_and_mult_adds() -> None:
    """Howard et al. 2017, Table 1: Conv dw 3×3×32 then Conv 1×1×32×64 on 112×112×32:
    3·3·32 + 32·64 = 2,336 weights without bias (Keras: SeparableConv2D(64, 3,
    use_bias=False)), and D_K²·M·D_F² + M·N·D_F² mult-adds."""
    layer = L(
        "SeparableConv2D",
        {"filters": 64, "kernel_size": 3, "padding": "same", "use_bias": False},
    )
    result = analyze(_one_layer(layer, channels=32, size=112)).layers[0]
    assert result.trainable_params == 2_336
    assert result.macs == 3 * 3 * 32 * 112 * 112 + 32 * 64 * 112 * 112
    with_bias = analyze(_one_layer(L("SeparableConv2D", {"filters": 64, "kernel_size": 3}), 32))
    assert with_bias.layers[0].trainable_params == 2_336 + 64


def _mobilenet() -> NetworkSpec:
    """keras.applications.MobileNet (alpha 1, 224×224, 1000 classes), its layers in order:
    the 1×1 classifier convolution on the pooled 1×1 map is a Dense layer of equal count."""
    stages = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
    stages += [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    layers = [
        L(
            "Conv2D",
            {"filters": 32, "kernel_size": 3, "stride": 2, "padding": "same", "use_bias": False},
        ),
        L("BatchNorm"),
        L("Activation", {"function": "relu"}),
    ]
    for filters, stride in stages:
        layers += [
            L(
                "DepthwiseConv2D",
                {"kernel_size": 3, "stride": stride, "padding": "same", "use_bias": False},
            ),
            L("BatchNorm"),
            L("Activation", {"function": "relu"}),
            L("Conv2D", {"filters": filters, "kernel_size": 1, "use_bias": False}),
            L("BatchNorm"),
            L("Activation", {"function": "relu"}),
        ]
    layers += [L("GlobalAvgPool2D"), L("Dropout"), L("Dense", {"units": 1000})]
    return NetworkSpec(input=InputSpec(3, 224, 224), num_classes=1000, layers=tuple(layers))


def test_mobilenet_totals_equal_keras_published_summary() -> None:
    analysis = analyze(_mobilenet())
    assert analysis.ok, [d.text() for d in analysis.errors]
    assert analysis.trainable_params == 4_231_976
    assert analysis.non_trainable_params == 21_888
    assert analysis.output_shape == (1000,)
    # Table 8 of the paper: 569 million mult-adds (convolutions and the classifier).
    assert round(analysis.macs / 1e6) == 569


@pytest.mark.parametrize(
    ("channels", "filters", "groups", "valid"),
    [(6, 9, 2, 1), (8, 12, 3, 2), (16, 16, 5, 4), (7, 3, 2, 1), (12, 18, 7, 6), (32, 64, 30, 32)],
)
def test_groups_that_do_not_divide_fail_with_the_nearest_valid_groups(
    channels: int, filters: int, groups: int, valid: int
) -> None:
    spec = _one_layer(L("Conv2D", {"filters": filters, "kernel_size": 1, "groups": groups}))
    spec = NetworkSpec(input=InputSpec(channels, 5, 5), num_classes=3, layers=spec.layers)
    with pytest.raises(ValueError, match="divisible by groups"):
        torch.nn.Conv2d(channels, filters, 1, groups=groups)  # torch refuses it too
    [error] = analyze(spec).errors
    assert f"groups {groups} must divide the input channels ({channels})" in error.message
    assert isinstance(error.fix, SetParams)
    assert error.fix.changes == (("groups", valid),)
    fixed = analyze(apply_fix(spec, error.fix)).layers[0]
    assert fixed.output_shape == (filters, 5, 5)
    assert not [d for d in fixed.diagnostics if d.is_error and "class" not in d.message]
    torch.nn.Conv2d(channels, filters, 1, groups=valid)


def test_nearest_groups_divides_both_and_prefers_the_smaller_on_a_tie() -> None:
    for channels in range(1, 25):
        for filters in range(1, 25):
            for groups in range(1, 30):
                g = nearest_groups(channels, filters, groups)
                assert channels % g == 0 and filters % g == 0
                if channels % groups == 0 and filters % groups == 0:
                    assert g == groups
    assert nearest_groups(12, 12, 5) == 4  # 4 and 6 are both one away


def test_penalties_reach_both_kernels_of_a_separable_conv() -> None:
    spec = NetworkSpec(
        input=InputSpec(3, 8, 8),
        num_classes=3,
        layers=(
            L("SeparableConv2D", {"filters": 4, "kernel_size": 3, "l1": 0.01, "l2": 0.5}),
            L("DepthwiseConv2D", {"kernel_size": 3, "l2": 0.25}),
            L("GlobalAvgPool2D"),
            L("Dense", {"units": 3}),
        ),
    )
    model = build_model(spec, seed=0)
    separable, depthwise = model.separable_conv2d_1, model.depthwise_conv2d_1
    assert kernel_weights(separable) == (separable.depthwise.weight, separable.pointwise.weight)
    expected = (
        sum(0.01 * w.abs().sum() + 0.5 * w.square().sum() for w in kernel_weights(separable))
        + 0.25 * depthwise.conv.weight.square().sum()
    )
    penalty = model.penalty()
    assert penalty is not None
    assert torch.allclose(penalty, expected)
    penalty.backward()
    w = separable.pointwise.weight
    assert torch.allclose(w.grad, 0.01 * w.detach().sign() + 2 * 0.5 * w.detach())
    assert separable.pointwise.bias.grad is None


def test_receptive_field_is_the_depthwise_window() -> None:
    def field(kind: str, values: dict) -> object:
        layers = (L(kind, values), L(kind, values))
        spec = NetworkSpec(input=InputSpec(4, 16, 16), num_classes=3, layers=layers)
        return analyze(spec).layers[-1].receptive_field

    window = {"kernel_size": 3, "stride": 2, "dilation": 2}
    conv = field("Conv2D", {"filters": 4, **window})
    assert conv == field("DepthwiseConv2D", window)
    assert conv == field("SeparableConv2D", {"filters": 4, **window})


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"kernel_size": 3, "activation": "relu"}, "DepthwiseConv2D 3×3 · ×1 · relu"),
        (
            {"kernel_size": 5, "stride": 2, "padding": "same", "depth_multiplier": 2},
            "DepthwiseConv2D 5×5 · stride 2 · same · ×2 · linear",
        ),
    ],
)
def test_depthwise_describe(values: dict, text: str) -> None:
    assert L("DepthwiseConv2D", values).describe() == text


def test_separable_and_grouped_describe() -> None:
    assert L("SeparableConv2D", {"filters": 64, "kernel_size": 3}).describe() == (
        "SeparableConv2D 64 · 3×3 · linear"
    )
    assert L("Conv2D", {"filters": 64, "kernel_size": 3, "groups": 4}).describe() == (
        "Conv2D 64 · 3×3 · groups 4 · linear"
    )


def test_depthwise_on_an_rgb_input_advises_a_full_conv_first() -> None:
    layers = (L("DepthwiseConv2D", {"kernel_size": 3}), L("Flatten"), L("Dense", {"units": 3}))
    rgb = NetworkSpec(input=InputSpec(3, 8, 8), num_classes=3, layers=layers)
    [warning] = [d for d in analyze(rgb).layers[0].diagnostics if not d.is_error]
    assert "27 kernel weights" in warning.message and "Conv2D" in warning.message
    wide = NetworkSpec(input=InputSpec(8, 8, 8), num_classes=3, layers=layers)
    assert not analyze(wide).layers[0].diagnostics


def test_depthwise_on_a_vector_names_the_type() -> None:
    spec = NetworkSpec(
        input=InputSpec(2, 6, 6),
        num_classes=3,
        layers=(L("Flatten"), L("SeparableConv2D", {"filters": 4, "kernel_size": 3})),
    )
    [error] = analyze(spec).errors
    assert error.message.startswith("SeparableConv2D needs an image")


def _stem(*layers: LayerSpec) -> NetworkSpec:
    stem = L("Conv2D", {"filters": 32, "kernel_size": 3, "padding": "same", "activation": "relu"})
    head = (L("GlobalAvgPool2D"), L("Dense", {"units": 10}))
    return NetworkSpec(input=InputSpec(3, 32, 32), num_classes=10, layers=(stem, *layers, *head))


@pytest.mark.slow
@pytest.mark.parametrize(
    "spec",
    [
        # a depth multiplier runs on plain layouts (estimated 1.39× before it was modelled)
        _stem(L("DepthwiseConv2D", {"kernel_size": 3, "padding": 1, "depth_multiplier": 2})),
        # strided depthwise: no second input-sized buffer (1.17× before)
        _stem(
            L(
                "SeparableConv2D",
                {"filters": 64, "kernel_size": 3, "padding": "same", "stride": 2},
            )
        ),
        _stem(
            L("DepthwiseConv2D", {"kernel_size": 3, "padding": "same", "use_bias": False}),
            L("BatchNorm"),
            L("Activation", {"function": "relu"}),
            L("Conv2D", {"filters": 64, "kernel_size": 1, "use_bias": False}),
            L("Conv2D", {"filters": 64, "kernel_size": 3, "padding": 1, "groups": 16}),
        ),
    ],
    ids=["depth-multiplier", "strided-separable", "mobilenet-unit-and-groups"],
)
def test_training_memory_estimate_is_within_a_fifth_of_the_profiled_peak(
    spec: NetworkSpec,
) -> None:
    torch.set_num_threads(1)
    ratio = estimate(spec, 64) / profiled_peak(spec, 64)
    assert 0.8 <= ratio <= 1.2, ratio
