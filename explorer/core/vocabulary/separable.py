"""Depthwise and depthwise-separable convolutions (Keras' DepthwiseConv2D, SeparableConv2D).

A depthwise convolution filters every input channel on its own (torch: a Conv2d with
groups = channels), making `depth_multiplier` maps per channel; a separable convolution
follows it with a 1×1 pointwise convolution that mixes the channels (MobileNet's unit,
Howard et al. 2017). Both use Conv2D's window, shape, padding, module and memory rules
(conv.py), so the arithmetic is written once.
"""

from __future__ import annotations

from typing import Any

from explorer.core.memory import Node
from explorer.core.params import Kind, Param, as_pair
from explorer.core.vocabulary.activation_functions import ACTIVATIONS
from explorer.core.vocabulary.common import (
    USE_BIAS,
    activation_param,
    activation_weights,
    elements,
    penalty_params,
    with_activation,
)
from explorer.core.vocabulary.conv import (
    FILTERS,
    WINDOW_PARAMS,
    conv_macs,
    conv_node,
    conv_nodes,
    conv_output_size,
    conv_parts,
    conv_weights,
    conv_window,
    window_text,
)
from explorer.core.vocabulary.geometry import Window
from explorer.core.vocabulary.layer_type import (
    Advice,
    AdviceContext,
    LayerType,
    Reach,
    Resolved,
    Shape,
)

_DEPTH_MULTIPLIER = Param(
    "depth_multiplier",
    Kind.INT,
    1,
    "Feature maps made from each input channel (its own filters).",
    minimum=1,
    maximum=1024,
)

# Below this many input channels a depthwise filter bank is a handful of weights.
_FEW_CHANNELS = 4


def _depthwise_shape(shape: Shape, p: Resolved, layer: str) -> Shape:
    """(C·depth_multiplier, H', W'): what the depthwise step of `layer` makes from an image
    `shape`."""
    size = conv_output_size(shape, p, layer)
    return (shape[0] * int(p["depth_multiplier"]), *size)


def _depthwise_weights(shape: Shape, p: Resolved, bias: bool) -> int:
    maps = shape[0] * int(p["depth_multiplier"])
    return conv_weights(shape[0], maps, as_pair(p["kernel_size"]), shape[0], bias)


def _depthwise_macs(shape: Shape, out: Shape, p: Resolved) -> int:
    middle = (shape[0] * int(p["depth_multiplier"]), *out[1:])
    return conv_macs(shape[0], middle, as_pair(p["kernel_size"]), shape[0])


def _depthwise_parts(shape: Shape, p: Resolved, *, name: str, bias: bool) -> list[tuple[str, Any]]:
    maps = shape[0] * int(p["depth_multiplier"])
    return conv_parts(shape, p, name=name, filters=maps, groups=shape[0], bias=bias)


def _advice(shape: Shape, out: Shape, p: Resolved, context: AdviceContext) -> tuple[Advice, ...]:
    if shape[0] >= _FEW_CHANNELS:
        return ()
    kh, kw = as_pair(p["kernel_size"])
    weights = shape[0] * int(p["depth_multiplier"]) * kh * kw
    return (
        Advice(
            f"a depthwise convolution on {shape[0]} input channel(s) has only {weights} "
            "kernel weights: start with a Conv2D, as MobileNet does, and go depthwise once "
            "there are more channels"
        ),
    )


# DepthwiseConv2D: one filter bank per input channel.


def _dw_output_shape(shape: Shape, p: Resolved) -> Shape:
    return _depthwise_shape(shape, p, "DepthwiseConv2D")


def _dw_weights(shape: Shape, p: Resolved) -> tuple[int, int]:
    return _depthwise_weights(shape, p, bool(p["use_bias"])) + activation_weights(p), 0


def _dw_macs(shape: Shape, out: Shape, p: Resolved) -> int:
    return _depthwise_macs(shape, out, p)


def _dw_autograd(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    nodes = conv_nodes(shape, out, p, _dw_weights(shape, p)[0], shape[0])
    return (*nodes, *ACTIVATIONS[p["activation"]].nodes(elements(out)))


def _dw_build(shape: Shape, p: Resolved) -> Any:
    return with_activation(_depthwise_parts(shape, p, name="conv", bias=bool(p["use_bias"])), p)


def _dw_describe(p: Resolved) -> str:
    kernel, *window = window_text(p)
    parts = [f"DepthwiseConv2D {kernel}", *window, f"×{p['depth_multiplier']}"]
    return " · ".join([*parts, p["activation"]])


DEPTHWISE_CONV2D = LayerType(
    name="DepthwiseConv2D",
    family="Convolution",
    base_name="depthwise_conv2d",
    summary="Filters each input channel on its own (depth_multiplier maps per channel) "
    "without mixing channels: a fraction of Conv2D's weights and work.",
    params=(
        *WINDOW_PARAMS,
        _DEPTH_MULTIPLIER,
        activation_param(),
        USE_BIAS,
        *penalty_params(),
    ),
    output_shape=_dw_output_shape,
    weights=_dw_weights,
    macs=_dw_macs,
    reach=Reach.WINDOW,
    window=conv_window,
    autograd=_dw_autograd,
    build=_dw_build,
    describe=_dw_describe,
    advice=_advice,
    activation_key="activation",
)


# SeparableConv2D: the depthwise step (no bias, as Keras), then a 1×1 pointwise Conv2D.


def _sep_output_shape(shape: Shape, p: Resolved) -> Shape:
    _, h, w = _depthwise_shape(shape, p, "SeparableConv2D")
    return (int(p["filters"]), h, w)


def _pointwise_weights(shape: Shape, p: Resolved) -> int:
    maps = shape[0] * int(p["depth_multiplier"])
    return conv_weights(maps, int(p["filters"]), (1, 1), 1, bool(p["use_bias"]))


def _sep_weights(shape: Shape, p: Resolved) -> tuple[int, int]:
    depthwise = _depthwise_weights(shape, p, False)
    return depthwise + _pointwise_weights(shape, p) + activation_weights(p), 0


def _sep_macs(shape: Shape, out: Shape, p: Resolved) -> int:
    maps = shape[0] * int(p["depth_multiplier"])
    return _depthwise_macs(shape, out, p) + conv_macs(maps, out, (1, 1), 1)


def _sep_autograd(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    middle = (shape[0] * int(p["depth_multiplier"]), *out[1:])
    depthwise = conv_nodes(shape, middle, p, _depthwise_weights(shape, p, False), shape[0])
    pointwise = conv_node(
        middle, out, Window((1, 1), (1, 1)), _pointwise_weights(shape, p), wide_padding=False
    )
    return (*depthwise, pointwise, *ACTIVATIONS[p["activation"]].nodes(elements(out)))


def _sep_build(shape: Shape, p: Resolved) -> Any:
    from torch import nn

    depthwise = _depthwise_parts(shape, p, name="depthwise", bias=False)
    maps = shape[0] * int(p["depth_multiplier"])
    pointwise = nn.Conv2d(maps, int(p["filters"]), 1, bias=bool(p["use_bias"]))
    return with_activation([*depthwise, ("pointwise", pointwise)], p)


def _sep_describe(p: Resolved) -> str:
    multiplier = [f"×{p['depth_multiplier']}"] if p["depth_multiplier"] != 1 else []
    parts = [f"SeparableConv2D {p['filters']}", *window_text(p), *multiplier]
    return " · ".join([*parts, p["activation"]])


SEPARABLE_CONV2D = LayerType(
    name="SeparableConv2D",
    family="Convolution",
    base_name="separable_conv2d",
    summary="A depthwise convolution then a 1×1 convolution that mixes the channels "
    "(MobileNet's unit): Conv2D's output with far fewer weights and multiply-adds.",
    params=(
        FILTERS,
        *WINDOW_PARAMS,
        _DEPTH_MULTIPLIER,
        activation_param(),
        USE_BIAS,
        *penalty_params(),
    ),
    output_shape=_sep_output_shape,
    weights=_sep_weights,
    macs=_sep_macs,
    reach=Reach.WINDOW,
    window=conv_window,
    autograd=_sep_autograd,
    build=_sep_build,
    describe=_sep_describe,
    advice=_advice,
    activation_key="activation",
)

TYPES = (DEPTHWISE_CONV2D, SEPARABLE_CONV2D)
