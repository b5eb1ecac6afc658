"""Positions in a network as paths, from the top-level stack down through blocks.

A layer of the top-level stack is the path `(i,)`. A block's rows hold sub-stacks (a
residual block's body, a parallel block's branches); the layer at position `j` of sub-stack
`s` of the block at `(i,)` is `(i, s, j)`, and so on down: the steps alternate between a
position and, below a block, which of its sub-stacks. Paths are 0-based; messages number
positions from 1, as the default names `conv2d_1` do ("layer 3", "layer 3 › body 2").

The helpers work on any sequence whose nested items are `Container`s (blocks) and return new
tuples: specs are immutable, so every edit builds the new tree along the path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar, cast, runtime_checkable

__all__ = [
    "Container",
    "LayerPath",
    "PathError",
    "insert_at",
    "item_at",
    "move_to",
    "moved_paths",
    "outermost",
    "remove_at",
    "replace_at",
]

T = TypeVar("T")


class PathError(LookupError):
    """A path that does not lead to a position in the stack it is used on."""


# The top-level paths made so far, made once each: every analysis, name table and edit of a
# network of thousands of rows asks for all of them (paths are immutable, so shared).
_TOPS: list[LayerPath] = []
_MAX_KEPT_TOPS = 1 << 16


@runtime_checkable
class Container(Protocol):
    """An item holding sub-stacks (a block)."""

    @property
    def stacks(self) -> tuple[tuple[Any, ...], ...]: ...

    def with_stacks(self, stacks: Sequence[Sequence[Any]]) -> Self: ...


@dataclass(frozen=True, order=True)
class LayerPath:
    """Where a layer sits: `steps[0]` indexes the top-level stack; below a block, each pair
    of steps is (which sub-stack, position in it). Ordered as the rows appear in the stack
    (a block before the layers inside it)."""

    steps: tuple[int, ...]

    def __post_init__(self) -> None:
        steps = self.steps
        if not steps or len(steps) % 2 == 0:
            raise ValueError(f"a layer path has an odd number of steps, got {steps}")
        for step in steps:  # a loop, not any(): paths are made for every row of every edit
            if not isinstance(step, int) or step < 0:
                raise ValueError(f"layer path steps are indices from 0, got {steps}")
        # Paths are keys of name and analysis tables of thousands of rows: hashed once.
        object.__setattr__(self, "_hash", hash(steps))

    def __hash__(self) -> int:
        hashed: int = self.__dict__["_hash"]
        return hashed

    @staticmethod
    def top(index: int) -> LayerPath:
        """The path of the layer at `index` of the top-level stack."""
        if 0 <= index < len(_TOPS) and type(index) is int:
            return _TOPS[index]
        path = LayerPath((index,))
        while len(_TOPS) <= index < _MAX_KEPT_TOPS:  # (index >= 0 once the path is made)
            _TOPS.append(LayerPath((len(_TOPS),)))
        return path

    def child(self, stack: int, index: int) -> LayerPath:
        """The path of position `index` of sub-stack `stack` of the block at this path."""
        return LayerPath((*self.steps, stack, index))

    @property
    def index(self) -> int:
        """The position within the innermost stack."""
        return self.steps[-1]

    @property
    def depth(self) -> int:
        """1 for a top-level layer, one more per block it sits in."""
        return (len(self.steps) + 1) // 2

    @property
    def parent(self) -> LayerPath | None:
        """The block holding this position, or None at the top level."""
        return LayerPath(self.steps[:-2]) if len(self.steps) > 1 else None

    @property
    def stack(self) -> int | None:
        """Which sub-stack of its block this position is in (None at the top level)."""
        return self.steps[-2] if len(self.steps) > 1 else None

    @property
    def row(self) -> int:
        """The index of a top-level layer; PathError for a layer inside a block."""
        if len(self.steps) != 1:
            raise PathError(f"{self} is inside a block, not a row of the top-level stack")
        return self.steps[0]

    @property
    def top_row(self) -> int:
        """The top-level row this position is in (the outermost block holding it)."""
        return self.steps[0]

    def sibling(self, index: int) -> LayerPath:
        """The path of position `index` in the same stack as this one."""
        return LayerPath((*self.steps[:-1], index))

    def following(self) -> LayerPath:
        """The position just after this one in the same stack (where a copy goes)."""
        return self.sibling(self.steps[-1] + 1)

    def contains(self, other: LayerPath) -> bool:
        """Whether `other` is this position or inside the block at it."""
        return other.steps[: len(self.steps)] == self.steps

    def label(self, stack_labels: Sequence[str] = ()) -> str:
        """How messages name the position, numbered from 1: 'layer 3', or with the label
        of each sub-stack on the way ('body', 'branch 2'), 'layer 3 › body 2'.

        Without labels a sub-stack is numbered: 'layer 3 › stack 1 › 2'."""
        parts = [f"layer {self.steps[0] + 1}"]
        for level in range(1, self.depth):
            stack, index = self.steps[2 * level - 1], self.steps[2 * level]
            name = (
                stack_labels[level - 1] if level - 1 < len(stack_labels) else f"stack {stack + 1} ›"
            )
            parts.append(f"{name} {index + 1}")
        return " › ".join(parts)

    def __str__(self) -> str:
        return self.label()

    def to_json(self) -> list[int]:
        return list(self.steps)

    @staticmethod
    def from_json(value: object) -> LayerPath:
        """A path written by `to_json`; ValueError for anything else."""
        if not isinstance(value, list) or not all(
            isinstance(step, int) and not isinstance(step, bool) for step in value
        ):
            raise ValueError(f"a layer path is a list of indices, got {value!r}")
        return LayerPath(tuple(value))


def _stack(items: Sequence[Any], steps: tuple[int, ...], path: LayerPath) -> Sequence[Any]:
    """The stack that `steps` (a path without its last step) leads to."""
    stack = items
    for level in range(0, len(steps), 2):
        index, which = steps[level], steps[level + 1]
        if index >= len(stack):
            raise PathError(f"there is no {path}: the stack has {len(stack)} layers")
        block = stack[index]
        if not isinstance(block, Container):
            raise PathError(f"there is no {path}: {LayerPath(steps[: level + 1])} is no block")
        if which >= len(block.stacks):
            raise PathError(f"there is no {path}: the block has {len(block.stacks)} sub-stacks")
        stack = block.stacks[which]
    return stack


def _check(items: Sequence[Any], path: LayerPath, *, end: bool = False) -> Sequence[Any]:
    """The stack holding `path`'s position, checked to exist (`end`: one past the last
    position too, a place to insert at)."""
    stack = _stack(items, path.steps[:-1], path)
    if path.index >= len(stack) + (1 if end else 0):
        raise PathError(f"there is no {path}: the stack has {len(stack)} layers")
    return stack


def _rebuilt(
    items: Sequence[T], steps: tuple[int, ...], new_stack: tuple[Any, ...]
) -> tuple[T, ...]:
    """`items` with the stack that `steps` leads to replaced by `new_stack`."""
    if not steps:
        return cast(tuple[T, ...], new_stack)
    index, which = steps[0], steps[1]
    block = cast(Container, items[index])
    stacks = list(block.stacks)
    stacks[which] = _rebuilt(stacks[which], steps[2:], new_stack)
    return (*items[:index], cast(T, block.with_stacks(stacks)), *items[index + 1 :])


def item_at(items: Sequence[T], path: LayerPath) -> T:
    """The item at `path`."""
    return cast(T, _check(items, path)[path.index])


def replace_at(items: Sequence[T], path: LayerPath, item: Any) -> tuple[T, ...]:
    """`items` with the one at `path` replaced by `item`."""
    stack = _check(items, path)
    row = path.index
    return _rebuilt(items, path.steps[:-1], (*stack[:row], item, *stack[row + 1 :]))


def insert_at(items: Sequence[T], path: LayerPath, new: Iterable[Any]) -> tuple[T, ...]:
    """`items` with `new` inserted before the position `path` (one past the last
    position appends)."""
    stack = _check(items, path, end=True)
    row = path.index
    return _rebuilt(items, path.steps[:-1], (*stack[:row], *new, *stack[row:]))


def outermost(paths: Iterable[LayerPath]) -> list[LayerPath]:
    """`paths` in stack order, each once, without those inside another one's block."""
    kept: list[LayerPath] = []
    for path in sorted(set(paths)):
        if not kept or not kept[-1].contains(path):
            kept.append(path)
    return kept


def remove_at(items: Sequence[T], paths: Iterable[LayerPath]) -> tuple[T, ...]:
    """`items` without those at `paths` (each removed once, however often named; a layer
    inside a removed block goes with it)."""
    chosen = outermost(paths)
    for path in chosen:
        _check(items, path)
    result: tuple[T, ...] = tuple(items)
    for path in reversed(chosen):  # deepest and last first: earlier paths stay valid
        stack = _stack(result, path.steps[:-1], path)
        row = path.index
        result = _rebuilt(result, path.steps[:-1], (*stack[:row], *stack[row + 1 :]))
    return result


def _after_removal(destination: LayerPath, removed: Sequence[LayerPath]) -> LayerPath:
    """Where `destination` (a position before removing `removed`) is once they are gone."""
    steps = list(destination.steps)
    for level in range(0, len(steps), 2):
        prefix = destination.steps[:level]
        steps[level] -= sum(
            1
            for path in removed
            if len(path.steps) == level + 1
            and path.steps[:level] == prefix
            and path.steps[level] < destination.steps[level]
        )
    return LayerPath(tuple(steps))


def _moving(
    items: Sequence[Any], paths: Iterable[LayerPath], destination: LayerPath
) -> list[LayerPath]:
    chosen = outermost(paths)
    for path in chosen:
        _check(items, path)
        if path.contains(destination) and path != destination:
            raise PathError(f"cannot move {path} into itself")
    _check(items, destination, end=True)
    return chosen


def move_to(
    items: Sequence[T], paths: Iterable[LayerPath], destination: LayerPath
) -> tuple[T, ...]:
    """`items` with those at `paths` (kept in their order) moved to sit before the
    position `destination` of the tree as it is now (one past the last: to the end of
    that stack). Moving a block into itself is a PathError."""
    chosen = _moving(items, paths, destination)
    moved = [item_at(items, path) for path in chosen]
    target = _after_removal(destination, chosen)
    return insert_at(remove_at(items, chosen), target, moved)


def moved_paths(paths: Iterable[LayerPath], destination: LayerPath) -> list[LayerPath]:
    """Where `move_to(items, paths, destination)` puts the moved items, in order."""
    chosen = outermost(paths)
    target = _after_removal(destination, chosen)
    return [target.sibling(target.index + offset) for offset in range(len(chosen))]
