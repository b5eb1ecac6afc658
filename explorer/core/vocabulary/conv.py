"""Convolution layers: Conv2D, every rule of it in reading order.

The padding, window, shape check, module and memory rules are written here once, as
functions of the convolution's channels and groups; DepthwiseConv2D and SeparableConv2D
(`separable.py`) are declared with them.
"""

from __future__ import annotations

import math
from typing import Any

from explorer.core.diagnostics import SetParams, ShapeError
from explorer.core.memory import Node
from explorer.core.params import Kind, Param, Value, as_pair
from explorer.core.vocabulary.activation_functions import ACTIVATIONS
from explorer.core.vocabulary.common import (
    MAX_WINDOW,
    USE_BIAS,
    activation_param,
    activation_weights,
    elements,
    no_advice,
    penalty_params,
    with_activation,
)
from explorer.core.vocabulary.geometry import Pair, Window, need_image, size_text
from explorer.core.vocabulary.layer_type import LayerType, Reach, Resolved, Shape

FILTERS = Param(
    "filters",
    Kind.INT,
    None,
    "Number of filters, i.e. output channels.",
    minimum=1,
    maximum=65536,
    required=True,
    initial=32,
)

# The window of every convolution type.
WINDOW_PARAMS = (
    Param(
        "kernel_size",
        Kind.PAIR,
        None,
        "Filter size: an int or [height, width].",
        minimum=1,
        maximum=MAX_WINDOW,
        required=True,
        initial=3,
    ),
    Param(
        "stride",
        Kind.PAIR,
        1,
        "Step between filter positions; 2 halves the spatial size.",
        minimum=1,
        maximum=MAX_WINDOW,
    ),
    Param(
        "padding",
        Kind.PADDING,
        "valid",
        "'valid' (none), 'same' (keep size/stride, "
        "as Keras) or zeros added on each side: an int or [h, w].",
        minimum=0,
        maximum=MAX_WINDOW,
    ),
    Param(
        "dilation",
        Kind.PAIR,
        1,
        "Spacing between kernel taps; widens the receptive field without more weights.",
        minimum=1,
        maximum=MAX_WINDOW,
    ),
)

_PARAMS = (
    FILTERS,
    *WINDOW_PARAMS,
    Param(
        "groups",
        Kind.INT,
        1,
        "Split the channels into this many groups, each filtered apart (fewer weights); "
        "must divide the input channels and the filters.",
        minimum=1,
        maximum=65536,
    ),
    activation_param(),
    USE_BIAS,
    *penalty_params(),
)


def conv_padding(
    size: Pair, kernel: Pair, stride: Pair, dilation: Pair, padding: Value
) -> tuple[int, int, int, int]:
    """Zero padding (top, bottom, left, right) for a conv's padding setting.

    'same' follows Keras/TensorFlow: output = ceil(input / stride), any odd extra pixel on
    the bottom/right.
    """
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        pads = []
        for n, k, s, d in zip(size, kernel, stride, dilation, strict=True):
            out = -(-n // s)
            total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
        return (pads[0][0], pads[0][1], pads[1][0], pads[1][1])
    ph, pw = as_pair(padding)
    return (ph, ph, pw, pw)


def conv_window(shape: Shape, p: Resolved) -> Window:
    """The convolution's window on an input of `shape`, its padding worked out."""
    k, s, d = as_pair(p["kernel_size"]), as_pair(p["stride"]), as_pair(p["dilation"])
    top, bottom, left, right = conv_padding((shape[-2], shape[-1]), k, s, d, p["padding"])
    return Window(k, s, d, (top, left), (bottom, right))


def conv_output_size(shape: Shape, p: Resolved, layer: str) -> Pair:
    """The output (h, w) of the convolution window of `p` on the image `shape`; ShapeError
    (with a fix) when the window does not fit."""
    _, h, w = need_image(shape, layer)
    window = conv_window(shape, p)
    padded, effective = window.padded((h, w)), window.kernel
    if effective[0] > padded[0] or effective[1] > padded[1]:
        d = window.dilation
        what = "dilated kernel" if d != (1, 1) else "kernel"
        where = "padded input" if padded != (h, w) else "input"
        if p["padding"] == "valid":
            raise ShapeError(
                f"{what} {size_text(effective)} > {where} {size_text(padded)}: use padding "
                "'same' or a smaller kernel",
                SetParams("use padding 'same'", (("padding", "same"),)),
            )
        fit = ((padded[0] - 1) // d[0] + 1, (padded[1] - 1) // d[1] + 1)
        fit_value: Value = fit[0] if fit[0] == fit[1] else fit
        raise ShapeError(
            f"{what} {size_text(effective)} > {where} {size_text(padded)}: use a smaller kernel",
            SetParams(f"use kernel_size {size_text(fit)}", (("kernel_size", fit_value),)),
        )
    return window.output_size((h, w))


def nearest_groups(channels: int, filters: int, groups: int) -> int:
    """The valid group count nearest `groups`: a divisor of both the input channels and
    the filters (the smaller one on a tie)."""
    common = math.gcd(channels, filters)
    divisors = [g for g in range(1, common + 1) if common % g == 0]
    return min(divisors, key=lambda g: (abs(g - groups), g))


def _output_shape(shape: Shape, p: Resolved) -> Shape:
    size = conv_output_size(shape, p, "Conv2D")
    channels, filters, groups = shape[0], int(p["filters"]), int(p["groups"])
    if channels % groups or filters % groups:
        valid = nearest_groups(channels, filters, groups)
        raise ShapeError(
            f"groups {groups} must divide the input channels ({channels}) and the filters "
            f"({filters}): use groups {valid}",
            SetParams(f"use groups {valid}", (("groups", valid),)),
        )
    return (filters, *size)


def conv_weights(channels: int, filters: int, kernel: Pair, groups: int, bias: bool) -> int:
    """Weights of a convolution from `channels` to `filters` in `groups`: each filter sees
    channels/groups input channels (Keras and torch count alike)."""
    return filters * (channels // groups) * kernel[0] * kernel[1] + (filters if bias else 0)


def conv_macs(channels: int, out: Shape, kernel: Pair, groups: int) -> int:
    """Multiply-accumulates of a convolution with output `out` (C, H, W), per image."""
    return elements(out) * (channels // groups) * kernel[0] * kernel[1]


def _weights(shape: Shape, p: Resolved) -> tuple[int, int]:
    kernel, groups = as_pair(p["kernel_size"]), int(p["groups"])
    weights = conv_weights(shape[0], int(p["filters"]), kernel, groups, bool(p["use_bias"]))
    return weights + activation_weights(p), 0


def _macs(shape: Shape, out: Shape, p: Resolved) -> int:
    return conv_macs(shape[0], out, as_pair(p["kernel_size"]), int(p["groups"]))


def _autograd(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    nodes = conv_nodes(shape, out, p, _weights(shape, p)[0], int(p["groups"]))
    return (*nodes, *ACTIVATIONS[p["activation"]].nodes(elements(out)))


def conv_nodes(shape: Shape, out: Shape, p: Resolved, weights: int, groups: int = 1) -> list[Node]:
    """The autograd nodes of the padded convolution of `p` from `shape` to `out` in
    `groups`, holding `weights`: its ZeroPad2d copy when the padding is uneven, then the
    convolution."""
    window = conv_window(shape, p)
    (top, left), (bottom, right) = window.before, window.after
    nodes: list[Node] = []
    effective = window.kernel
    wide = max(top, bottom) >= effective[0] or max(left, right) >= effective[1]
    if top != bottom or left != right:
        # ZeroPad2d makes a padded copy, the convolution reads (and keeps) that copy
        shape = (shape[0], shape[1] + top + bottom, shape[2] + left + right)
        nodes.append(Node(elements(shape)))
        wide = False
    nodes.append(conv_node(shape, out, window, weights, wide_padding=wide, groups=groups))
    return nodes


# oneDNN, which runs float32 convolutions on the CPU, works on copies with the channels
# padded to blocks of 16 (AVX-512) or 8; it reads inputs of fewer than 16 channels in place.
_CHANNEL_BLOCK = 16


def _blocked_bytes(shape: Shape, block: int = _CHANNEL_BLOCK) -> int:
    channels = -(-shape[0] // block) * block
    return 4 * channels * elements(shape[1:])


def conv_node(
    shape: Shape, out: Shape, window: Window, weights: int, *, wide_padding: bool, groups: int = 1
) -> Node:
    """The convolution's node with the scratch copies oneDNN makes, as torch.profiler
    shows them on torch 2.13 (measured case by case; see bench/memory_estimate.py).

    Usually blocked layouts: copies of the input (16 channels or more) and output in the
    forward pass; of the output and input gradients (and a second input-sized buffer for
    strides) in the backward, then of the output gradient and input for the weights'
    gradient. Padding as wide as the kernel runs on plain layouts (an output copy forward,
    an input-gradient copy backward, nothing for the weights), and so does the backward
    pass of a dilated strided convolution; the backward pass of strided convolutions on
    fewer than 4 channels uses plain copies too. Grouped convolutions: see `_grouped_node`.
    """
    k, s, d = window.taps, window.stride, window.dilation
    channels = shape[0]
    plain_input, plain_output = 4 * elements(shape), 4 * elements(out)
    strided = s != (1, 1)
    input_copy = _blocked_bytes(shape) if channels >= _CHANNEL_BLOCK else 0
    forward = max(input_copy + _blocked_bytes(out) - plain_output, _blocked_bytes(out))
    plain = wide_padding or (d != (1, 1) and strided)
    if groups > 1 and not plain:
        return _grouped_node(shape, out, weights, groups)
    if plain:
        return Node(
            elements(out),
            saves_input=True,
            weights=weights,
            forward_scratch=plain_output if wide_padding else forward,
            backward_scratch=plain_input + (plain_input if wide_padding and strided else 0),
        )
    block = 1 if channels < 4 and strided else _CHANNEL_BLOCK
    output_copy = _blocked_bytes(out, block)
    gradient_copy = _blocked_bytes(shape, block)
    if k == (1, 1) or channels >= _CHANNEL_BLOCK:
        weight_pass = _blocked_bytes(out) + _blocked_bytes(shape)
    elif channels < 4:
        weight_pass = _blocked_bytes(out)
    elif d != (1, 1):
        weight_pass = 0  # a direct kernel without copies
    else:
        weight_pass = _blocked_bytes(out, 8) + _blocked_bytes(shape, 8)
    data_pass = max(
        output_copy + gradient_copy - plain_input,
        gradient_copy + (plain_input if strided else 0),
    )
    return Node(
        elements(out),
        saves_input=True,
        weights=weights,
        forward_scratch=forward,
        backward_scratch=max(data_pass, weight_pass),
        weight_scratch=weight_pass,
    )


def conv_parts(
    shape: Shape, p: Resolved, *, name: str, filters: int, groups: int, bias: bool
) -> list[tuple[str, Any]]:
    """The named modules of the convolution window of `p` on `shape`: a ZeroPad2d ('pad')
    when the padding is uneven ('same' with an even kernel), then the nn.Conv2d `name`."""
    from torch import nn

    window = conv_window(shape, p)
    (top, left), (bottom, right) = window.before, window.after
    parts: list[tuple[str, Any]] = []
    if top != bottom or left != right:
        parts.append(("pad", nn.ZeroPad2d((left, right, top, bottom))))
        padding: Pair = (0, 0)
    else:
        padding = (top, left)
    conv = nn.Conv2d(
        shape[0],
        filters,
        window.taps,
        stride=window.stride,
        padding=padding,
        dilation=window.dilation,
        groups=groups,
        bias=bias,
    )
    return [*parts, (name, conv)]


def _grouped_node(shape: Shape, out: Shape, weights: int, groups: int) -> Node:
    """A grouped convolution's node, as torch.profiler shows it on torch 2.13.

    A depthwise one (one input and one output channel per group) copies its input and
    output to blocks of 16 channels, whatever the channel count; other groups with a
    multiple of 8 channels in and out per group copy them unpadded. Either way the backward
    pass copies input and output once more (no second buffer for strides) and its
    weights' gradient as much. Any other grouping runs on plain layouts: an output copy
    forward, an input-gradient copy backward.
    """
    plain_input, plain_output = 4 * elements(shape), 4 * elements(out)
    per_group = (shape[0] // groups, out[0] // groups)
    if per_group == (1, 1):
        input_copy, output_copy = _blocked_bytes(shape), _blocked_bytes(out)
    elif per_group[0] % 8 == 0 and per_group[1] % 8 == 0:
        input_copy, output_copy = plain_input, plain_output
    else:
        return Node(
            elements(out),
            saves_input=True,
            weights=weights,
            forward_scratch=plain_output,
            backward_scratch=plain_input,
        )
    copies = input_copy + output_copy
    return Node(
        elements(out),
        saves_input=True,
        weights=weights,
        forward_scratch=max(copies - plain_output, output_copy),
        backward_scratch=copies,
        weight_scratch=copies,
    )


def _build(shape: Shape, p: Resolved) -> Any:
    parts = conv_parts(
        shape,
        p,
        name="conv",
        filters=int(p["filters"]),
        groups=int(p["groups"]),
        bias=bool(p["use_bias"]),
    )
    return with_activation(parts, p)


def window_text(p: Resolved) -> list[str]:
    """The describe parts of a convolution window: kernel, then stride, padding and
    dilation where they are not the defaults."""
    kh, kw = as_pair(p["kernel_size"])
    parts = [f"{kh}×{kw}"]
    if as_pair(p["stride"]) != (1, 1):
        parts.append(f"stride {size_text(as_pair(p['stride']))}")
    if p["padding"] != "valid":
        padding = "same" if p["padding"] == "same" else f"pad {size_text(as_pair(p['padding']))}"
        parts.append(padding)
    if as_pair(p["dilation"]) != (1, 1):
        parts.append(f"dilation {size_text(as_pair(p['dilation']))}")
    return parts


def _describe(p: Resolved) -> str:
    groups = [f"groups {p['groups']}"] if p["groups"] != 1 else []
    return " · ".join([f"Conv2D {p['filters']}", *window_text(p), *groups, p["activation"]])


CONV2D = LayerType(
    name="Conv2D",
    family="Convolution",
    base_name="conv2d",
    summary="Slides learned filters over the image; each filter makes one feature map that "
    "responds to a local pattern (filters, kernel_size, stride, padding, groups).",
    params=_PARAMS,
    output_shape=_output_shape,
    weights=_weights,
    macs=_macs,
    reach=Reach.WINDOW,
    window=conv_window,
    autograd=_autograd,
    build=_build,
    describe=_describe,
    advice=no_advice,
    activation_key="activation",
)

TYPES = (CONV2D,)
