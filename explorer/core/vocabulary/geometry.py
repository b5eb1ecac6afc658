"""The sliding-window arithmetic convolution and pooling share, written once.

Output size along one axis (DESIGN.md): floor((in + P_before + P_after − D·(K−1) − 1)/S) + 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.core.diagnostics import ShapeError

Pair = tuple[int, int]


def output_length(
    size: int, taps: int, stride: int, dilation: int = 1, before: int = 0, after: int = 0
) -> int:
    """Output positions along one axis of `size` inputs; below 1 when the window does not
    fit in the padded input."""
    return (size + before + after - dilation * (taps - 1) - 1) // stride + 1


@dataclass(frozen=True)
class Window:
    """A sliding window's geometry per axis (h, w), for shapes, receptive fields, coverage
    and the written-out arithmetic.

    `taps` is the kernel size, `dilation` the spacing of its taps, `before` and `after` the
    zero padding on the top/left and bottom/right; `kernel` is the effective (dilated)
    extent.
    """

    taps: Pair
    stride: Pair
    dilation: Pair = (1, 1)
    before: Pair = (0, 0)
    after: Pair = (0, 0)

    @property
    def kernel(self) -> Pair:
        return (
            self.dilation[0] * (self.taps[0] - 1) + 1,
            self.dilation[1] * (self.taps[1] - 1) + 1,
        )

    def padded(self, size: Pair) -> Pair:
        """The input size (h, w) with the padding added."""
        return (
            size[0] + self.before[0] + self.after[0],
            size[1] + self.before[1] + self.after[1],
        )

    def output_size(self, size: Pair) -> Pair:
        """Output (h, w) on an input of `size`."""
        return (
            output_length(
                size[0],
                self.taps[0],
                self.stride[0],
                self.dilation[0],
                self.before[0],
                self.after[0],
            ),
            output_length(
                size[1],
                self.taps[1],
                self.stride[1],
                self.dilation[1],
                self.before[1],
                self.after[1],
            ),
        )


def size_text(pair: Pair) -> str:
    """A size for messages: '3' when square, '3×5' otherwise."""
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"


def need_image(shape: tuple[int, ...], layer: str) -> tuple[int, int, int]:
    """The (C, H, W) of an image input; ShapeError for a vector."""
    if len(shape) != 3:
        raise ShapeError(
            f"{layer} needs an image (C, H, W) but its input is a vector of "
            f"{shape[0]}: move it before the Flatten"
        )
    return shape[0], shape[1], shape[2]
