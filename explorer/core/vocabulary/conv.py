"""Convolution layers: Conv2D, every rule of it in reading order.

DepthwiseConv2D and SeparableConv2D (and a `groups` key) belong here beside Conv2D: they
share its padding, window and memory rules.
"""

from __future__ import annotations

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

_PARAMS = (
    Param(
        "filters",
        Kind.INT,
        None,
        "Number of filters, i.e. output channels.",
        minimum=1,
        maximum=65536,
        required=True,
        initial=32,
    ),
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


def _output_shape(shape: Shape, p: Resolved) -> Shape:
    _, h, w = need_image(shape, "Conv2D")
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
    return (int(p["filters"]), *window.output_size((h, w)))


def _weights(shape: Shape, p: Resolved) -> tuple[int, int]:
    kh, kw = as_pair(p["kernel_size"])
    filters = int(p["filters"])
    kernel = filters * shape[0] * kh * kw
    return kernel + (filters if p["use_bias"] else 0) + activation_weights(p), 0


def _macs(shape: Shape, out: Shape, p: Resolved) -> int:
    kh, kw = as_pair(p["kernel_size"])
    return out[0] * out[1] * out[2] * shape[0] * kh * kw


def _autograd(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
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
    nodes.append(_conv_node(shape, out, window, _weights(shape, p)[0], wide_padding=wide))
    return (*nodes, *ACTIVATIONS[p["activation"]].nodes(elements(out)))


# oneDNN, which runs float32 convolutions on the CPU, works on copies with the channels
# padded to blocks of 16 (AVX-512) or 8; it reads inputs of fewer than 16 channels in place.
_CHANNEL_BLOCK = 16


def _blocked_bytes(shape: Shape, block: int = _CHANNEL_BLOCK) -> int:
    channels = -(-shape[0] // block) * block
    return 4 * channels * elements(shape[1:])


def _conv_node(
    shape: Shape, out: Shape, window: Window, weights: int, *, wide_padding: bool
) -> Node:
    """The convolution's node with the scratch copies oneDNN makes, as torch.profiler
    shows them on torch 2.13 (measured case by case; see bench/memory_estimate.py).

    Usually blocked layouts: copies of the input (16 channels or more) and output in the
    forward pass; of the output and input gradients (and a second input-sized buffer for
    strides) in the backward, then of the output gradient and input for the weights'
    gradient. Padding as wide as the kernel runs on plain layouts (an output copy forward,
    an input-gradient copy backward, nothing for the weights), and so does the backward
    pass of a dilated strided convolution; the backward pass of strided convolutions on
    fewer than 4 channels uses plain copies too.
    """
    k, s, d = window.taps, window.stride, window.dilation
    channels = shape[0]
    plain_input, plain_output = 4 * elements(shape), 4 * elements(out)
    strided = s != (1, 1)
    input_copy = _blocked_bytes(shape) if channels >= _CHANNEL_BLOCK else 0
    forward = max(input_copy + _blocked_bytes(out) - plain_output, _blocked_bytes(out))
    if wide_padding or (d != (1, 1) and strided):
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


def _build(shape: Shape, p: Resolved) -> Any:
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
        int(p["filters"]),
        window.taps,
        stride=window.stride,
        padding=padding,
        dilation=window.dilation,
        bias=bool(p["use_bias"]),
    )
    return with_activation([*parts, ("conv", conv)], p)


def _describe(p: Resolved) -> str:
    kh, kw = as_pair(p["kernel_size"])
    parts = [f"Conv2D {p['filters']}", f"{kh}×{kw}"]
    if as_pair(p["stride"]) != (1, 1):
        parts.append(f"stride {size_text(as_pair(p['stride']))}")
    if p["padding"] != "valid":
        padding = "same" if p["padding"] == "same" else f"pad {size_text(as_pair(p['padding']))}"
        parts.append(padding)
    if as_pair(p["dilation"]) != (1, 1):
        parts.append(f"dilation {size_text(as_pair(p['dilation']))}")
    parts.append(p["activation"])
    return " · ".join(parts)


CONV2D = LayerType(
    name="Conv2D",
    family="Convolution",
    base_name="conv2d",
    summary="Slides learned filters over the image; each filter makes one feature map that "
    "responds to a local pattern (filters, kernel_size, stride, padding).",
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
