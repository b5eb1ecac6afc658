"""What the shape walk (stack_walk.py) carries from row to row and leaves for later.

A `Flow` reaches each row. Each layer leaves a *source* for the memory estimate (its type,
shapes and module values; the autograd nodes are worked out only when asked) and, when it
has a window, a *window use* for coverage; a block leaves one `BlockSource` and one `Fork`
holding those of its sub-stacks, so both later walks see the branches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from explorer.core.advice import axis_windows
from explorer.core.coverage import AxisFork, AxisStep
from explorer.core.layer_analysis import ReceptiveField
from explorer.core.memory import Branches, Node, NodeOrBranches
from explorer.core.vocabulary.geometry import Window
from explorer.core.vocabulary.layer_type import LayerType, Shape

__all__ = [
    "BlockSource",
    "Flow",
    "Fork",
    "LayerSource",
    "Outer",
    "Source",
    "Spatial",
    "WindowUse",
    "axis_steps",
    "grown",
    "nodes_of",
    "same_windows",
]

# What reaches a row: the input shape and receptive field (None once unknown), whether the
# maps were downsampled before it, and the last activation before it.
Flow: TypeAlias = tuple[Shape | None, ReceptiveField | None, bool, str | None]

# A layer's type, input and output shapes, and the values its module gets; the autograd
# nodes are worked out from them only when the memory estimate is asked for.
LayerSource: TypeAlias = tuple[LayerType, Shape, Shape, dict[str, Any]]
# A windowed layer's input and output shapes and its window.
WindowUse: TypeAlias = tuple[Shape, Shape, Window]


@dataclass(frozen=True)
class BlockSource:
    """The sources of one copy of a block: those of each sub-stack (a residual block's
    second is its shortcut), and the node that merges them."""

    stacks: tuple[tuple[Source, ...], ...]
    merge: Node


@dataclass(frozen=True)
class Fork:
    """The windows of one copy of a block: those of each sub-stack (or shortcut), from
    maps of `shape_in` merged into maps of `shape_out`."""

    shape_in: Shape
    shape_out: Shape
    stacks: tuple[tuple[Spatial, ...], ...]


Source: TypeAlias = LayerSource | Node | BlockSource
Spatial: TypeAlias = WindowUse | Fork
# The windows before a sub-stack: the first `length` of each enclosing stack's list (the
# lists grow as the walk goes on, so they are not copied).
Outer: TypeAlias = tuple[tuple[list[Spatial], int], ...]


def nodes_of(source: Source) -> tuple[NodeOrBranches, ...]:
    """The autograd nodes a source runs in training (see memory.py)."""
    if isinstance(source, Node):
        return (source,)
    if isinstance(source, BlockSource):
        stacks = tuple(
            tuple(node for inner in stack for node in nodes_of(inner)) for stack in source.stacks
        )
        return (Branches(stacks, source.merge),)
    return tuple(source[0].autograd(*source[1:]))


def axis_steps(spatial: Sequence[Spatial]) -> tuple[tuple[AxisStep, ...], tuple[AxisStep, ...]]:
    """The windows along the rows and along the columns (see coverage.py)."""
    rows: list[AxisStep] = []
    columns: list[AxisStep] = []
    for use in spatial:
        if isinstance(use, Fork):
            stacks = [axis_steps(stack) for stack in use.stacks]
            rows.append(AxisFork(use.shape_in[1], use.shape_out[1], tuple(s[0] for s in stacks)))
            columns.append(AxisFork(use.shape_in[2], use.shape_out[2], tuple(s[1] for s in stacks)))
        else:
            row, column = axis_windows(*use)
            rows.append(row)
            columns.append(column)
    return tuple(rows), tuple(columns)


def same_windows(new: Spatial, was: Spatial) -> bool:
    """Whether two windowed layers (or blocks) see the same sizes through the same windows
    (their channels aside)."""
    if isinstance(new, Fork) or isinstance(was, Fork):
        return (
            isinstance(new, Fork)
            and isinstance(was, Fork)
            and new.shape_in[1:] == was.shape_in[1:]
            and new.shape_out[1:] == was.shape_out[1:]
            and len(new.stacks) == len(was.stacks)
            and all(
                len(a) == len(b) and all(map(same_windows, a, b))
                for a, b in zip(new.stacks, was.stacks, strict=True)
            )
        )
    return (new[0][1:], new[1][1:], new[2]) == (was[0][1:], was[1][1:], was[2])


def grown(rf: ReceptiveField, window: Window) -> ReceptiveField:
    """The field after a window (rf has a jump)."""
    assert rf.jump is not None
    jump = rf.jump
    size = (
        rf.size[0] + (window.kernel[0] - 1) * jump[0],
        rf.size[1] + (window.kernel[1] - 1) * jump[1],
    )
    return ReceptiveField(size, (jump[0] * window.stride[0], jump[1] * window.stride[1]))
