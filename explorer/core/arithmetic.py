"""The output-size arithmetic of a windowed layer (convolution, pooling), with its numbers.

The properties panel shows it so a user can see why a layer's output is what it is, e.g.
"⌊(28 + 2·0 − 5)/1⌋ + 1 = 24" for a 5×5 valid convolution on a 28×28 input. The formula is
DESIGN.md's floor((in + 2P − D·(K−1) − 1)/S) + 1, with the kernel term shortened when D = 1;
the window is the one the layer's type declares, and the size is `output_length`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.core.spec import LayerSpec
from explorer.core.vocabulary.geometry import output_length
from explorer.core.vocabulary.layer_type import Shape


@dataclass(frozen=True)
class AxisArithmetic:
    """One spatial axis: the formula text and the size it gives (≤ 0 means impossible)."""

    axis: str
    text: str
    size: int


def output_arithmetic(layer: LayerSpec, input_shape: Shape | None) -> tuple[AxisArithmetic, ...]:
    """Per-axis (height, width) arithmetic for layers whose type slides a window.

    Empty for other layer types and when the input is unknown or not an image (C, H, W).
    """
    entry = layer.entry
    if input_shape is None or len(input_shape) != 3 or entry.window is None:
        return ()
    window = entry.window(input_shape, layer.resolved_view())
    return tuple(
        _axis(
            name,
            input_shape[1 + i],
            (window.before[i], window.after[i]),
            window.taps[i],
            window.stride[i],
            window.dilation[i],
        )
        for i, name in enumerate(("height", "width"))
    )


def _axis(name: str, n: int, pad: tuple[int, int], k: int, s: int, d: int) -> AxisArithmetic:
    before, after = pad
    pad_text = f"2·{before}" if before == after else f"{before} + {after}"
    kernel_text = str(k) if d == 1 else f"{d}·({k}−1) − 1"
    size = output_length(n, k, s, d, before, after)
    return AxisArithmetic(name, f"⌊({n} + {pad_text} − {kernel_text})/{s}⌋ + 1 = {size}", size)
