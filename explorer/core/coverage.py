"""Which input pixels can reach the output, one axis at a time.

Convolutions and pooling act on rows and columns separately, so the set of input pixels an
output depends on is a product of one set of rows and one set of columns. Each axis is a
bit set (bit i: position i), pushed through the layers' windows with shifts, so a 224-pixel
axis through twenty layers costs microseconds. With valid convolutions or strides whose
windows do not reach the last rows, fewer pixels than the whole input reach the output
(AlexNet's first layers see 219 of 224); with padding wider than the kernel, or a dilated
kernel on a small map, some windows see only padding.

Through a block the rows (and the columns) that reach through any sub-stack are joined:
exactly the rows and columns some reached pixel has. The pixels reached are then their
product, which holds when the sub-stacks' reach is nested (one window of a branch covering
another's) and is otherwise an upper bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True)
class AxisWindow:
    """One layer's window along one axis: `size_in` positions in, `size_out` out; output
    position o reads input positions o·stride − before + t·dilation for t < taps."""

    size_in: int
    size_out: int
    taps: int
    dilation: int
    stride: int
    before: int


@dataclass(frozen=True)
class AxisFork:
    """A block along one axis: sub-stacks of windows over the same `size_in` positions,
    merged into `size_out` (an empty sub-stack passes the positions on unchanged). An
    input position reaches the merge when it reaches it through any sub-stack."""

    size_in: int
    size_out: int
    stacks: tuple[tuple[AxisStep, ...], ...]


AxisStep: TypeAlias = AxisWindow | AxisFork


def _spread(bits: int, stride: int) -> int:
    """Move bit o to bit o·stride."""
    if stride == 1 or bits == 0:
        return bits
    low_first = format(bits, "b")[::-1]
    return int(("0" * (stride - 1)).join(low_first)[::-1], 2)


def _every(bits: int, stride: int, count: int) -> int:
    """Bits 0, stride, 2·stride, … of `bits` as bits 0, 1, 2, … (`count` of them)."""
    if stride == 1:
        return bits & ((1 << count) - 1)
    low_first = format(bits, "b")[::-1].ljust(count * stride, "0")
    picked = low_first[::stride][:count]
    return int(picked[::-1], 2) if picked else 0


def reached_inputs(windows: Sequence[AxisStep]) -> int:
    """How many input positions reach some output position through `windows` (in forward
    order, the first reading the input), counting every position of the last output."""
    if not windows:
        raise ValueError("no windows")
    return _back(windows, (1 << windows[-1].size_out) - 1).bit_count()


def _back(steps: Sequence[AxisStep], used: int) -> int:
    """The input positions of `steps` that reach the output positions `used`."""
    for step in reversed(steps):
        if isinstance(step, AxisFork):
            reached = 0
            for stack in step.stacks:
                reached |= _back(stack, used) if stack else used
            used = reached & ((1 << step.size_in) - 1)
            continue
        starts = _spread(used, step.stride)
        reached = 0
        for tap in range(step.taps):
            reached |= starts << (tap * step.dilation)
        used = (reached >> step.before) & ((1 << step.size_in) - 1)
    return used


def padding_only_outputs(window: AxisWindow) -> int:
    """How many output positions have every tap on padding (none on the input)."""
    inputs = ((1 << window.size_in) - 1) << window.before  # input in padded coordinates
    starts = 0  # bit p: a window starting at padded position p touches the input
    for tap in range(window.taps):
        starts |= inputs >> (tap * window.dilation)
    touching = _every(starts, window.stride, window.size_out)
    return window.size_out - touching.bit_count()
