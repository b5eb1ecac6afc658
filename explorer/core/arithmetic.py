"""The output-size arithmetic of a convolution or pooling layer, written out with its numbers.

The properties panel shows it so a user can see why a layer's output is what it is, e.g.
"⌊(28 + 2·0 − 5)/1⌋ + 1 = 24" for a 5×5 valid convolution on a 28×28 input. The formula is
DESIGN.md's floor((in + 2P − D·(K−1) − 1)/S) + 1, with the kernel term shortened when D = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.core.layers import Shape, conv_padding
from explorer.core.params import as_pair
from explorer.core.spec import LayerSpec


@dataclass(frozen=True)
class AxisArithmetic:
    """One spatial axis: the formula text and the size it gives (≤ 0 means impossible)."""

    axis: str
    text: str
    size: int


def output_arithmetic(layer: LayerSpec, input_shape: Shape | None) -> tuple[AxisArithmetic, ...]:
    """Per-axis (height, width) arithmetic for Conv2D and windowed pooling layers.

    Empty for other layer types and when the input is unknown or not an image (C, H, W).
    """
    if input_shape is None or len(input_shape) != 3:
        return ()
    p = layer.resolved()
    size = (input_shape[1], input_shape[2])
    if layer.type == "Conv2D":
        kernel, stride = as_pair(p["kernel_size"]), as_pair(p["stride"])
        dilation = as_pair(p["dilation"])
        top, bottom, left, right = conv_padding(size, kernel, stride, dilation, p["padding"])
        pads = ((top, bottom), (left, right))
    elif layer.entry.family == "Pooling" and "pool_size" in layer.entry.keys:
        kernel = as_pair(p["pool_size"])
        stride = as_pair(p["stride"]) if p["stride"] is not None else kernel
        dilation = (1, 1)
        pad = 0 if p["padding"] == "valid" else int(p["padding"])
        pads = ((pad, pad), (pad, pad))
    else:
        return ()
    return tuple(
        _axis(name, size[i], pads[i], kernel[i], stride[i], dilation[i])
        for i, name in enumerate(("height", "width"))
    )


def _axis(name: str, n: int, pad: tuple[int, int], k: int, s: int, d: int) -> AxisArithmetic:
    before, after = pad
    pad_text = f"2·{before}" if before == after else f"{before} + {after}"
    kernel_text = str(k) if d == 1 else f"{d}·({k}−1) − 1"
    effective = d * (k - 1) + 1
    numerator = n + before + after - effective
    size = numerator // s + 1
    return AxisArithmetic(name, f"⌊({n} + {pad_text} − {kernel_text})/{s}⌋ + 1 = {size}", size)
