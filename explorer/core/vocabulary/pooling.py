"""Pooling layers: windowed max and average pooling, and their global forms."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from explorer.core.diagnostics import RemoveLayer, SetParams, ShapeError
from explorer.core.memory import Node
from explorer.core.params import Kind, Param, as_pair
from explorer.core.vocabulary.common import (
    MAX_WINDOW,
    elements,
    fixed_text,
    no_advice,
    no_macs,
    no_weights,
)
from explorer.core.vocabulary.geometry import Window, need_image, size_text
from explorer.core.vocabulary.layer_type import LayerType, Reach, Resolved, Shape

# A pooling type has no weights, no multiply-adds and no advice of its own, and it always
# shrinks the maps; each type below gives the rest of its rules.
Autograd = Callable[[Shape, Shape, Resolved], tuple[Node, ...]]

_pooling = functools.partial(
    LayerType,
    family="Pooling",
    weights=no_weights,
    macs=no_macs,
    advice=no_advice,
    downsamples=True,
)


# ---- windowed pooling: MaxPool2D, AvgPool2D ---------------------------------------------

_PARAMS = (
    Param(
        "pool_size",
        Kind.PAIR,
        2,
        "Window size: an int or [height, width].",
        minimum=1,
        maximum=MAX_WINDOW,
    ),
    Param(
        "stride",
        Kind.PAIR,
        None,
        "Step between windows; defaults to pool_size (non-overlapping windows).",
        minimum=1,
        maximum=MAX_WINDOW,
    ),
    Param(
        "padding",
        Kind.POOL_PADDING,
        "valid",
        "'valid' (no padding) or an int of "
        "zeros (max: −∞) added on each side, at most half the window.",
        minimum=0,
        maximum=MAX_WINDOW // 2,
    ),
)


def _window(p: Resolved) -> Window:
    """The pooling window: the stride defaults to the pool size, the padding is even."""
    k = as_pair(p["pool_size"])
    s = as_pair(p["stride"]) if p["stride"] is not None else k
    pad = 0 if p["padding"] == "valid" else int(p["padding"])
    return Window(k, s, (1, 1), (pad, pad), (pad, pad))


def pool_window(shape: Shape, p: Resolved) -> Window:
    """The window rule: the same window on any input."""
    return _window(p)


def _pool_shape(layer: str) -> Callable[[Shape, Resolved], Shape]:
    def output_shape(shape: Shape, p: Resolved) -> Shape:
        c, h, w = need_image(shape, layer)
        window = _window(p)
        k, pad = window.taps, window.before[0]
        if pad * 2 > min(k):
            raise ShapeError(
                f"padding {pad} is more than half the pool size {size_text(k)}",
                SetParams(f"use padding {min(k) // 2}", (("padding", min(k) // 2),)),
            )
        padded = window.padded((h, w))
        if k[0] > padded[0] or k[1] > padded[1]:
            raise ShapeError(
                f"pool {size_text(k)} > input {size_text(padded)}: remove this layer or use a "
                "smaller pool_size",
                RemoveLayer("remove this layer"),
            )
        return (c, *window.output_size((h, w)))

    return output_shape


def _max_pool_nodes(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    # the input and the int64 index of each maximum
    return (Node(elements(out), saves_input=True, extra_bytes=8 * elements(out)),)


def _avg_pool_nodes(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    return (Node(elements(out), saves_input=True),)


def _build_pool(class_name: str) -> Callable[[Shape, Resolved], Any]:
    def build(shape: Shape, p: Resolved) -> Any:
        from torch import nn

        window = _window(p)
        return getattr(nn, class_name)(window.taps, stride=window.stride, padding=window.before[0])

    return build


def _describe_pool(name: str) -> Callable[[Resolved], str]:
    def describe(p: Resolved) -> str:
        window = _window(p)
        k, s, pad = window.taps, window.stride, window.before[0]
        text = f"{name} {k[0]}×{k[1]}"
        if s != k:
            text += f" · stride {size_text(s)}"
        if pad:
            text += f" · pad {pad}"
        return text

    return describe


# ---- global pooling: one value per channel ------------------------------------------------


def _global_shape(layer: str) -> Callable[[Shape, Resolved], Shape]:
    def output_shape(shape: Shape, p: Resolved) -> Shape:
        c, _, _ = need_image(shape, layer)
        return (c,)

    return output_shape


def _global_avg_nodes(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    return (Node(out[0]),)  # a mean over H and W keeps no tensor


def _build_global(class_name: str) -> Callable[[Shape, Resolved], Any]:
    def build(shape: Shape, p: Resolved) -> Any:
        from torch import nn

        return nn.Sequential(getattr(nn, class_name)(1), nn.Flatten())

    return build


def _pool_type(
    name: str,
    base_name: str,
    torch_class: str,
    summary: str,
    autograd: Autograd,
    *,
    windowed: bool,
) -> LayerType:
    """A pooling type built as torch's `torch_class`: windowed (`_PARAMS` and the window
    rules) or global (nothing to set, one value per channel)."""
    return _pooling(
        name=name,
        base_name=base_name,
        summary=summary,
        params=_PARAMS if windowed else (),
        output_shape=(_pool_shape if windowed else _global_shape)(name),
        reach=Reach.WINDOW if windowed else Reach.WHOLE_INPUT,
        window=pool_window if windowed else None,
        autograd=autograd,
        build=(_build_pool if windowed else _build_global)(torch_class),
        describe=_describe_pool(name) if windowed else fixed_text(name),
    )


MAX_POOL2D = _pool_type(
    "MaxPool2D",
    "max_pool2d",
    "MaxPool2d",
    "Keeps the largest value in each window, shrinking the feature maps and making "
    "them tolerant to small shifts (pool_size, stride).",
    _max_pool_nodes,
    windowed=True,
)
AVG_POOL2D = _pool_type(
    "AvgPool2D",
    "avg_pool2d",
    "AvgPool2d",
    "Averages each window, shrinking the feature maps smoothly (pool_size, stride).",
    _avg_pool_nodes,
    windowed=True,
)
GLOBAL_MAX_POOL2D = _pool_type(
    "GlobalMaxPool2D",
    "global_max_pool2d",
    "AdaptiveMaxPool2d",
    "Reduces each feature map to its largest value, giving a vector of one number per channel.",
    _max_pool_nodes,
    windowed=False,
)
GLOBAL_AVG_POOL2D = _pool_type(
    "GlobalAvgPool2D",
    "global_avg_pool2d",
    "AdaptiveAvgPool2d",
    "Reduces each feature map to its average, giving a vector of one number per "
    "channel; a light replacement for Flatten + Dense.",
    _global_avg_nodes,
    windowed=False,
)

TYPES = (MAX_POOL2D, AVG_POOL2D, GLOBAL_MAX_POOL2D, GLOBAL_AVG_POOL2D)
