"""The layer registry: each layer type is declared exactly once, here.

An entry holds everything the rest of the program needs to know about a layer type: its
hyperparameters (type, default, range, help), its shape rule, parameter count, multiply-
accumulate count, receptive-field window, a one-line description and the torch module
factory. The palette, properties form, validator, analysis and builder all read it.

Shapes are (C, H, W) for images and (N,) for vectors, without the batch dimension.
Torch is imported inside the factories so the editor can start before torch loads.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from explorer.core.activations import ACTIVATION_NAMES, ACTIVATIONS, build_activation
from explorer.core.diagnostics import InsertLayer, RemoveLayer, SetParams, ShapeError
from explorer.core.memory import Node
from explorer.core.params import Kind, Param, Value, as_pair

Shape = tuple[int, ...]
Pair = tuple[int, int]
Resolved = Mapping[str, Any]


@dataclass(frozen=True)
class Window:
    """A sliding window's geometry per axis (h, w), for receptive fields and coverage.

    `taps` is the kernel size, `dilation` the spacing of its taps, `before` the zero padding
    on the top/left; `kernel` is the effective (dilated) extent.
    """

    taps: Pair
    stride: Pair
    dilation: Pair = (1, 1)
    before: Pair = (0, 0)

    @property
    def kernel(self) -> Pair:
        return (
            self.dilation[0] * (self.taps[0] - 1) + 1,
            self.dilation[1] * (self.taps[1] - 1) + 1,
        )


IDENTITY_WINDOW = Window((1, 1), (1, 1))


@dataclass(frozen=True)
class LayerType:
    """Everything about one layer type. `window` returns None when the layer sees its
    whole input (Flatten, Dense, global pooling), so its receptive field is the full image.
    The callables get the resolved values as the module is built (`module_values`)."""

    name: str
    family: str
    base_name: str
    summary: str
    params: tuple[Param, ...]
    shape: Callable[[Shape, Resolved], Shape]
    build: Callable[[Shape, Resolved], Any]
    describe: Callable[[Resolved], str]
    count: Callable[[Shape, Resolved], tuple[int, int]] = lambda shape, p: (0, 0)
    macs: Callable[[Shape, Shape, Resolved], int] = lambda shape, out, p: 0
    window: Callable[[Shape, Resolved], Window | None] = lambda shape, p: IDENTITY_WINDOW
    activation_key: str | None = None
    # The autograd nodes its module runs in training, per image (see memory.py).
    autograd: Callable[[Shape, Shape, Resolved], tuple[Node, ...]] = lambda shape, out, p: (
        Node(None),
    )

    def param(self, key: str) -> Param:
        for param in self.params:
            if param.name == key:
                return param
        raise KeyError(key)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(param.name for param in self.params)


FAMILIES = ("Convolution", "Pooling", "Core", "Regularisation", "Activation")


# ---- shared parameter declarations --------------------------------------------------------


def _activation_param(default: str = "linear", required: bool = False) -> Param:
    return Param(
        "activation" if not required else "function",
        Kind.CHOICE,
        None if required else default,
        "Non-linearity applied to the output: " + ", ".join(ACTIVATION_NAMES) + ".",
        # A dropped layer starts with relu, the usual hidden-layer choice.
        choices=ACTIVATION_NAMES,
        required=required,
        initial="relu",
    )


_ALPHA_HELP = (
    "The activation's alpha: "
    + ", ".join(
        f"{a.name} (default {a.default_alpha:g})"
        for a in ACTIVATIONS.values()
        if a.default_alpha is not None
    )
    + " — the negative slope, initial learned slope or saturation."
)


# Upper bounds that keep every value far inside what torch can take (a stride of 10**30
# overflows its int64 arithmetic) while allowing anything a real network uses.
_MAX_WINDOW = 1024  # kernel, pool, stride, padding and dilation, in pixels
_MAX_PENALTY = 10.0  # l1 and l2; usual values are 1e-5 to 1e-2


def _penalty_params() -> tuple[Param, ...]:
    return (
        Param(
            "l1",
            Kind.FLOAT,
            0.0,
            "L1 penalty on the weights, added to the loss as "
            "l1·Σ|w| (drives weights to exactly zero).",
            minimum=0.0,
            maximum=_MAX_PENALTY,
        ),
        Param(
            "l2",
            Kind.FLOAT,
            0.0,
            "L2 penalty on the weights, added to the loss as "
            "l2·Σw² (weight decay, Keras convention).",
            minimum=0.0,
            maximum=_MAX_PENALTY,
        ),
    )


_USE_BIAS = Param("use_bias", Kind.BOOL, True, "Add a learned bias per output.")


def _pool_params() -> tuple[Param, ...]:
    return (
        Param(
            "pool_size",
            Kind.PAIR,
            2,
            "Window size: an int or [height, width].",
            minimum=1,
            maximum=_MAX_WINDOW,
        ),
        Param(
            "stride",
            Kind.PAIR,
            None,
            "Step between windows; defaults to pool_size (non-overlapping windows).",
            minimum=1,
            maximum=_MAX_WINDOW,
        ),
        Param(
            "padding",
            Kind.POOL_PADDING,
            "valid",
            "'valid' (no padding) or an int of "
            "zeros (max: −∞) added on each side, at most half the window.",
            minimum=0,
            maximum=_MAX_WINDOW // 2,
        ),
    )


# ---- shape arithmetic ---------------------------------------------------------------------


def _hw(pair: Pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"


def _need_image(shape: Shape, layer: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeError(
            f"{layer} needs an image (C, H, W) but its input is a vector of "
            f"{shape[0]}: move it before the Flatten"
        )
    return shape[0], shape[1], shape[2]


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


def _conv_shape(shape: Shape, p: Resolved) -> Shape:
    _, h, w = _need_image(shape, "Conv2D")
    k, s, d = as_pair(p["kernel_size"]), as_pair(p["stride"]), as_pair(p["dilation"])
    top, bottom, left, right = conv_padding((h, w), k, s, d, p["padding"])
    padded = (h + top + bottom, w + left + right)
    effective = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
    if effective[0] > padded[0] or effective[1] > padded[1]:
        what = "dilated kernel" if d != (1, 1) else "kernel"
        where = "padded input" if padded != (h, w) else "input"
        if p["padding"] == "valid":
            raise ShapeError(
                f"{what} {_hw(effective)} > {where} {_hw(padded)}: use padding 'same' or a "
                "smaller kernel",
                SetParams("use padding 'same'", (("padding", "same"),)),
            )
        fit = ((padded[0] - 1) // d[0] + 1, (padded[1] - 1) // d[1] + 1)
        fit_value: Value = fit[0] if fit[0] == fit[1] else fit
        raise ShapeError(
            f"{what} {_hw(effective)} > {where} {_hw(padded)}: use a smaller kernel",
            SetParams(f"use kernel_size {_hw(fit)}", (("kernel_size", fit_value),)),
        )
    out = ((padded[0] - effective[0]) // s[0] + 1, (padded[1] - effective[1]) // s[1] + 1)
    return (int(p["filters"]), out[0], out[1])


def _pool_geometry(p: Resolved) -> tuple[Pair, Pair, int]:
    k = as_pair(p["pool_size"])
    s = as_pair(p["stride"]) if p["stride"] is not None else k
    pad = 0 if p["padding"] == "valid" else int(p["padding"])
    return k, s, pad


def _pool_shape_for(layer: str) -> Callable[[Shape, Resolved], Shape]:
    def rule(shape: Shape, p: Resolved) -> Shape:
        c, h, w = _need_image(shape, layer)
        k, s, pad = _pool_geometry(p)
        if pad * 2 > min(k):
            raise ShapeError(
                f"padding {pad} is more than half the pool size {_hw(k)}",
                SetParams(f"use padding {min(k) // 2}", (("padding", min(k) // 2),)),
            )
        padded = (h + 2 * pad, w + 2 * pad)
        if k[0] > padded[0] or k[1] > padded[1]:
            raise ShapeError(
                f"pool {_hw(k)} > input {_hw(padded)}: remove this layer or use a "
                "smaller pool_size",
                RemoveLayer("remove this layer"),
            )
        return (c, (padded[0] - k[0]) // s[0] + 1, (padded[1] - k[1]) // s[1] + 1)

    return rule


def _global_shape_for(layer: str) -> Callable[[Shape, Resolved], Shape]:
    def rule(shape: Shape, p: Resolved) -> Shape:
        c, _, _ = _need_image(shape, layer)
        return (c,)

    return rule


def _flatten_shape(shape: Shape, p: Resolved) -> Shape:
    size = 1
    for n in shape:
        size *= n
    return (size,)


def _dense_shape(shape: Shape, p: Resolved) -> Shape:
    if len(shape) != 1:
        raise ShapeError(
            f"Dense needs a vector but its input is {shape}: insert a Flatten layer before it",
            InsertLayer("insert a Flatten layer before it", "Flatten"),
        )
    return (int(p["units"]),)


def _same_shape(shape: Shape, p: Resolved) -> Shape:
    return shape


# ---- parameter and MAC counts ---------------------------------------------------------------


def _activation_params(p: Resolved, key: str = "activation") -> int:
    return ACTIVATIONS[p[key]].trainable_params


def _conv_count(shape: Shape, p: Resolved) -> tuple[int, int]:
    kh, kw = as_pair(p["kernel_size"])
    filters = int(p["filters"])
    weights = filters * shape[0] * kh * kw
    return weights + (filters if p["use_bias"] else 0) + _activation_params(p), 0


def _conv_macs(shape: Shape, out: Shape, p: Resolved) -> int:
    kh, kw = as_pair(p["kernel_size"])
    return out[0] * out[1] * out[2] * shape[0] * kh * kw


def _dense_count(shape: Shape, p: Resolved) -> tuple[int, int]:
    units = int(p["units"])
    return units * shape[0] + (units if p["use_bias"] else 0) + _activation_params(p), 0


def _dense_macs(shape: Shape, out: Shape, p: Resolved) -> int:
    return shape[0] * out[0]


def _batchnorm_count(shape: Shape, p: Resolved) -> tuple[int, int]:
    # Keras counts gamma and beta as trainable, the moving mean and variance as not.
    return 2 * shape[0], 2 * shape[0]


# ---- receptive-field windows ----------------------------------------------------------------


def _conv_window(shape: Shape, p: Resolved) -> Window:
    k, s, d = as_pair(p["kernel_size"]), as_pair(p["stride"]), as_pair(p["dilation"])
    top, _, left, _ = conv_padding((shape[1], shape[2]), k, s, d, p["padding"])
    return Window(k, s, d, (top, left))


def _pool_window(shape: Shape, p: Resolved) -> Window:
    k, s, pad = _pool_geometry(p)
    return Window(k, s, (1, 1), (pad, pad))


# ---- what autograd keeps in training --------------------------------------------------------


def module_values(entry: LayerType, p: Resolved, last: bool) -> dict[str, Any]:
    """The values a layer's module is built with: a softmax on the network's last layer is
    left out of the module, since the loss takes the logits (see builder.py)."""
    key = entry.activation_key
    if last and key is not None and p[key] == "softmax":
        return {**p, key: "linear"}
    return dict(p)


def _elements(shape: Shape) -> int:
    size = 1
    for n in shape:
        size *= n
    return size


def activation_nodes(name: str, elements: int) -> tuple[Node, ...]:
    """The autograd node of an activation on `elements` values per image."""
    activation = ACTIVATIONS[name]
    if activation.saves == "nothing":
        return (Node(None),)  # nn.Identity returns its input
    return (
        Node(
            elements,
            saves_input=activation.saves == "input",
            saves_output=activation.saves == "output",
            extra_bytes=activation.extra_copies * elements * 4,
            weights=activation.trainable_params,
            backward_scratch=activation.backward_copies * elements * 4,
        ),
    )


def _conv_nodes(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    k, s, d = as_pair(p["kernel_size"]), as_pair(p["stride"]), as_pair(p["dilation"])
    top, bottom, left, right = conv_padding((shape[1], shape[2]), k, s, d, p["padding"])
    nodes: list[Node] = []
    effective = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
    wide = max(top, bottom) >= effective[0] or max(left, right) >= effective[1]
    if top != bottom or left != right:
        # ZeroPad2d makes a padded copy, the convolution reads (and keeps) that copy
        shape = (shape[0], shape[1] + top + bottom, shape[2] + left + right)
        nodes.append(Node(_elements(shape)))
        wide = False
    nodes.append(_conv_node(shape, out, p, _conv_count(shape, p)[0], wide_padding=wide))
    return (*nodes, *activation_nodes(p["activation"], _elements(out)))


# oneDNN, which runs float32 convolutions on the CPU, works on copies with the channels
# padded to blocks of 16 (AVX-512) or 8; it reads inputs of fewer than 16 channels in place.
_CHANNEL_BLOCK = 16


def _blocked_bytes(shape: Shape, block: int = _CHANNEL_BLOCK) -> int:
    channels = -(-shape[0] // block) * block
    return 4 * channels * _elements(shape[1:])


def _conv_node(shape: Shape, out: Shape, p: Resolved, weights: int, *, wide_padding: bool) -> Node:
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
    k, s, d = as_pair(p["kernel_size"]), as_pair(p["stride"]), as_pair(p["dilation"])
    channels = shape[0]
    plain_input, plain_output = 4 * _elements(shape), 4 * _elements(out)
    strided = s != (1, 1)
    input_copy = _blocked_bytes(shape) if channels >= _CHANNEL_BLOCK else 0
    forward = max(input_copy + _blocked_bytes(out) - plain_output, _blocked_bytes(out))
    if wide_padding or (d != (1, 1) and strided):
        return Node(
            _elements(out),
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
        _elements(out),
        saves_input=True,
        weights=weights,
        forward_scratch=forward,
        backward_scratch=max(data_pass, weight_pass),
        weight_scratch=weight_pass,
    )


def _dense_nodes(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    linear = Node(out[0], saves_input=True, weights=_dense_count(shape, p)[0])
    return (linear, *activation_nodes(p["activation"], out[0]))


def _max_pool_nodes(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    # the input and the int64 index of each maximum
    return (Node(_elements(out), saves_input=True, extra_bytes=8 * _elements(out)),)


def _avg_pool_nodes(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    return (Node(_elements(out), saves_input=True),)


def _global_avg_nodes(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    return (Node(out[0]),)  # a mean over H and W keeps no tensor


def _dropout_nodes(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    if float(p["rate"]) == 0:
        return (Node(None),)  # rate 0 returns the input itself
    # on the CPU dropout multiplies by a float32 noise tensor and keeps the noise
    return (Node(_elements(out), extra_bytes=4 * _elements(out)),)


def _batchnorm_nodes(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    return (Node(_elements(out), saves_input=True, weights=2 * shape[0]),)


# ---- torch module factories -----------------------------------------------------------------


def _build_conv(shape: Shape, p: Resolved) -> Any:
    from torch import nn

    k, s, d = as_pair(p["kernel_size"]), as_pair(p["stride"]), as_pair(p["dilation"])
    top, bottom, left, right = conv_padding((shape[1], shape[2]), k, s, d, p["padding"])
    parts: OrderedDict[str, Any] = OrderedDict()
    if top != bottom or left != right:
        parts["pad"] = nn.ZeroPad2d((left, right, top, bottom))
        padding: Pair = (0, 0)
    else:
        padding = (top, left)
    parts["conv"] = nn.Conv2d(
        shape[0],
        int(p["filters"]),
        k,
        stride=s,
        padding=padding,
        dilation=d,
        bias=bool(p["use_bias"]),
    )
    if p["activation"] != "linear":
        parts["act"] = build_activation(p["activation"])
    return nn.Sequential(parts)


def _build_dense(shape: Shape, p: Resolved) -> Any:
    from torch import nn

    parts: OrderedDict[str, Any] = OrderedDict()
    parts["linear"] = nn.Linear(shape[0], int(p["units"]), bias=bool(p["use_bias"]))
    if p["activation"] != "linear":
        parts["act"] = build_activation(p["activation"])
    return nn.Sequential(parts)


def _build_pool(class_name: str) -> Callable[[Shape, Resolved], Any]:
    def build(shape: Shape, p: Resolved) -> Any:
        from torch import nn

        k, s, pad = _pool_geometry(p)
        return getattr(nn, class_name)(k, stride=s, padding=pad)

    return build


def _build_global(class_name: str) -> Callable[[Shape, Resolved], Any]:
    def build(shape: Shape, p: Resolved) -> Any:
        from torch import nn

        return nn.Sequential(getattr(nn, class_name)(1), nn.Flatten())

    return build


def _build_flatten(shape: Shape, p: Resolved) -> Any:
    from torch import nn

    return nn.Flatten()


def _build_dropout(shape: Shape, p: Resolved) -> Any:
    from torch import nn

    return nn.Dropout(float(p["rate"]))


def _build_batchnorm(shape: Shape, p: Resolved) -> Any:
    from torch import nn

    cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
    return cls(shape[0], eps=float(p["eps"]), momentum=float(p["momentum"]))


def _build_activation(shape: Shape, p: Resolved) -> Any:
    return build_activation(p["function"], p["alpha"])


# ---- one-line descriptions for the layer stack ----------------------------------------------


def _describe_conv(p: Resolved) -> str:
    parts = [f"Conv2D {p['filters']}", _kernel_text(p["kernel_size"])]
    if as_pair(p["stride"]) != (1, 1):
        parts.append(f"stride {_hw(as_pair(p['stride']))}")
    if p["padding"] != "valid":
        parts.append("same" if p["padding"] == "same" else f"pad {_hw(as_pair(p['padding']))}")
    if as_pair(p["dilation"]) != (1, 1):
        parts.append(f"dilation {_hw(as_pair(p['dilation']))}")
    parts.append(p["activation"])
    return " · ".join(parts)


def _kernel_text(value: Value) -> str:
    kh, kw = as_pair(value)
    return f"{kh}×{kw}"


def _describe_pool(name: str) -> Callable[[Resolved], str]:
    def describe(p: Resolved) -> str:
        k, s, pad = _pool_geometry(p)
        text = f"{name} {k[0]}×{k[1]}"
        if s != k:
            text += f" · stride {_hw(s)}"
        if pad:
            text += f" · pad {pad}"
        return text

    return describe


def _fixed(text: str) -> Callable[[Resolved], str]:
    return lambda p: text


# ---- the registry ---------------------------------------------------------------------------

_TYPES = (
    LayerType(
        "Conv2D",
        "Convolution",
        "conv2d",
        "Slides learned filters over the image; each filter makes one feature map that "
        "responds to a local pattern (filters, kernel_size, stride, padding).",
        (
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
                maximum=_MAX_WINDOW,
                required=True,
                initial=3,
            ),
            Param(
                "stride",
                Kind.PAIR,
                1,
                "Step between filter positions; 2 halves the spatial size.",
                minimum=1,
                maximum=_MAX_WINDOW,
            ),
            Param(
                "padding",
                Kind.PADDING,
                "valid",
                "'valid' (none), 'same' (keep size/stride, "
                "as Keras) or zeros added on each side: an int or [h, w].",
                minimum=0,
                maximum=_MAX_WINDOW,
            ),
            Param(
                "dilation",
                Kind.PAIR,
                1,
                "Spacing between kernel taps; widens the receptive field without more weights.",
                minimum=1,
                maximum=_MAX_WINDOW,
            ),
            _activation_param(),
            _USE_BIAS,
            *_penalty_params(),
        ),
        _conv_shape,
        _build_conv,
        _describe_conv,
        _conv_count,
        _conv_macs,
        _conv_window,
        activation_key="activation",
        autograd=_conv_nodes,
    ),
    LayerType(
        "MaxPool2D",
        "Pooling",
        "max_pool2d",
        "Keeps the largest value in each window, shrinking the feature maps and making them "
        "tolerant to small shifts (pool_size, stride).",
        _pool_params(),
        _pool_shape_for("MaxPool2D"),
        _build_pool("MaxPool2d"),
        _describe_pool("MaxPool2D"),
        window=_pool_window,
        autograd=_max_pool_nodes,
    ),
    LayerType(
        "AvgPool2D",
        "Pooling",
        "avg_pool2d",
        "Averages each window, shrinking the feature maps smoothly (pool_size, stride).",
        _pool_params(),
        _pool_shape_for("AvgPool2D"),
        _build_pool("AvgPool2d"),
        _describe_pool("AvgPool2D"),
        window=_pool_window,
        autograd=_avg_pool_nodes,
    ),
    LayerType(
        "GlobalMaxPool2D",
        "Pooling",
        "global_max_pool2d",
        "Reduces each feature map to its largest value, giving a vector of one number per channel.",
        (),
        _global_shape_for("GlobalMaxPool2D"),
        _build_global("AdaptiveMaxPool2d"),
        _fixed("GlobalMaxPool2D"),
        window=lambda shape, p: None,
        autograd=_max_pool_nodes,
    ),
    LayerType(
        "GlobalAvgPool2D",
        "Pooling",
        "global_avg_pool2d",
        "Reduces each feature map to its average, giving a vector of one number per channel; "
        "a light replacement for Flatten + Dense.",
        (),
        _global_shape_for("GlobalAvgPool2D"),
        _build_global("AdaptiveAvgPool2d"),
        _fixed("GlobalAvgPool2D"),
        window=lambda shape, p: None,
        autograd=_global_avg_nodes,
    ),
    LayerType(
        "Flatten",
        "Core",
        "flatten",
        "Unrolls the (C, H, W) feature maps into one long vector so Dense layers can use them.",
        (),
        _flatten_shape,
        _build_flatten,
        _fixed("Flatten"),
        window=lambda shape, p: None,
    ),
    LayerType(
        "Dense",
        "Core",
        "dense",
        "Fully connected layer: every output is a weighted sum of all inputs (units, "
        "activation); the last one gives the class scores.",
        (
            Param(
                "units",
                Kind.INT,
                None,
                "Number of outputs.",
                minimum=1,
                maximum=1 << 20,
                required=True,
                initial=128,
            ),
            _activation_param(),
            _USE_BIAS,
            *_penalty_params(),
        ),
        _dense_shape,
        _build_dense,
        lambda p: f"Dense {p['units']} · {p['activation']}",
        _dense_count,
        _dense_macs,
        window=lambda shape, p: None,
        activation_key="activation",
        autograd=_dense_nodes,
    ),
    LayerType(
        "Dropout",
        "Regularisation",
        "dropout",
        "While training, zeroes a random fraction of its inputs (rate) so the network cannot "
        "rely on any single feature; does nothing at inference.",
        (
            Param(
                "rate",
                Kind.FLOAT,
                0.5,
                "Fraction of inputs dropped while training.",
                minimum=0.0,
                maximum=1.0,
                exclusive_maximum=True,
            ),
        ),
        _same_shape,
        _build_dropout,
        lambda p: f"Dropout {p['rate']:g}",
        autograd=_dropout_nodes,
    ),
    LayerType(
        "BatchNorm",
        "Regularisation",
        "batch_norm",
        "Normalises each channel to zero mean and unit variance over the batch, then scales "
        "and shifts it; speeds up and steadies training.",
        (
            Param(
                "momentum",
                Kind.FLOAT,
                0.1,
                "Weight of the newest batch in the running "
                "statistics (PyTorch convention; Keras 0.99 is 0.01 here).",
                minimum=0.0,
                maximum=1.0,
                exclusive_minimum=True,
            ),
            Param(
                "eps",
                Kind.FLOAT,
                1e-5,
                "Added to the variance to avoid division by zero.",
                minimum=0.0,
                exclusive_minimum=True,
                maximum=1.0,
            ),
        ),
        _same_shape,
        _build_batchnorm,
        _fixed("BatchNorm"),
        _batchnorm_count,
        autograd=_batchnorm_nodes,
    ),
    LayerType(
        "Activation",
        "Activation",
        "activation",
        "Applies a non-linearity element by element (function); without one, stacked layers "
        "collapse into a single linear map.",
        (
            _activation_param(required=True),
            Param(
                "alpha",
                Kind.FLOAT,
                None,
                _ALPHA_HELP,
                minimum=0.0,
                maximum=100.0,
            ),
        ),
        _same_shape,
        _build_activation,
        lambda p: f"Activation · {p['function']}",
        lambda shape, p: (_activation_params(p, "function"), 0),
        activation_key="function",
        autograd=lambda shape, out, p: activation_nodes(p["function"], _elements(out)),
    ),
)

LAYER_TYPES: dict[str, LayerType] = {t.name: t for t in _TYPES}


def layer_type(name: str) -> LayerType:
    """The registry entry for a type name; KeyError names the valid types."""
    try:
        return LAYER_TYPES[name]
    except KeyError:
        raise KeyError(
            f"unknown layer type {name!r}; expected one of {', '.join(LAYER_TYPES)}"
        ) from None
