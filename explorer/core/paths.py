"""Positions in a network as paths: one index per level, from the top-level stack down.

A layer of the top-level stack is a path of length 1. Blocks that hold sub-stacks will add
longer paths (a block's index, then positions inside it); until they exist the helpers
here refuse a longer path with a `PathError` instead of guessing. Paths are 0-based;
messages number positions from 1, as the default names `conv2d_1` do ("layer 3",
"layer 3 › body 2").

The helpers work on any sequence (layers, row numbers) and return new tuples: specs are
immutable, so every edit builds the new list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "LayerPath",
    "PathError",
    "insert_at",
    "item_at",
    "move_to",
    "moved_paths",
    "remove_at",
    "replace_at",
]

T = TypeVar("T")


class PathError(LookupError):
    """A path that does not lead to a position in the stack it is used on."""


@dataclass(frozen=True, order=True)
class LayerPath:
    """Where a layer sits: `steps[0]` indexes the top-level stack, each further step the
    sub-stack of the block before it. Ordered as the layers appear in the stack."""

    steps: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a layer path needs at least one step")
        if any(not isinstance(step, int) or step < 0 for step in self.steps):
            raise ValueError(f"layer path steps are indices from 0, got {self.steps}")

    @staticmethod
    def top(index: int) -> LayerPath:
        """The path of the layer at `index` of the top-level stack."""
        return LayerPath((index,))

    @property
    def index(self) -> int:
        """The position within the innermost stack."""
        return self.steps[-1]

    @property
    def depth(self) -> int:
        """1 for a top-level layer, one more per block it sits in."""
        return len(self.steps)

    @property
    def row(self) -> int:
        """The index of a top-level layer; PathError for a layer inside a block."""
        if len(self.steps) != 1:
            raise PathError(f"{self}: layers inside blocks are not supported yet")
        return self.steps[0]

    def sibling(self, index: int) -> LayerPath:
        """The path of position `index` in the same stack as this one."""
        return LayerPath((*self.steps[:-1], index))

    def following(self) -> LayerPath:
        """The position just after this one in the same stack (where a copy goes)."""
        return self.sibling(self.steps[-1] + 1)

    def label(self, stack_names: Sequence[str] = ()) -> str:
        """How messages name the position, numbered from 1: 'layer 3', or with the name of
        each sub-stack below the top ('body'), 'layer 3 › body 2'."""
        parts = [f"layer {self.steps[0] + 1}"]
        for depth, step in enumerate(self.steps[1:]):
            name = stack_names[depth] if depth < len(stack_names) else ""
            parts.append(f"{name} {step + 1}" if name else str(step + 1))
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


def _row(items: Sequence[T], path: LayerPath, *, end: bool = False) -> int:
    """The top-level index `path` names in `items`; `end` allows one past the last (a
    position to insert at)."""
    row = path.row
    if row >= len(items) + (1 if end else 0):
        raise PathError(f"there is no {path}: the stack has {len(items)} layers")
    return row


def item_at(items: Sequence[T], path: LayerPath) -> T:
    """The item at `path`."""
    return items[_row(items, path)]


def replace_at(items: Sequence[T], path: LayerPath, item: T) -> tuple[T, ...]:
    """`items` with the one at `path` replaced by `item`."""
    row = _row(items, path)
    return (*items[:row], item, *items[row + 1 :])


def insert_at(items: Sequence[T], path: LayerPath, new: Iterable[T]) -> tuple[T, ...]:
    """`items` with `new` inserted before the position `path` (one past the last
    position appends)."""
    row = _row(items, path, end=True)
    return (*items[:row], *new, *items[row:])


def _rows(items: Sequence[T], paths: Iterable[LayerPath]) -> list[int]:
    return sorted({_row(items, path) for path in paths})


def remove_at(items: Sequence[T], paths: Iterable[LayerPath]) -> tuple[T, ...]:
    """`items` without those at `paths` (each removed once, however often named)."""
    drop = set(_rows(items, paths))
    return tuple(item for row, item in enumerate(items) if row not in drop)


def move_to(
    items: Sequence[T], paths: Iterable[LayerPath], destination: LayerPath
) -> tuple[T, ...]:
    """`items` with those at `paths` (kept in their order) moved to sit before the
    position `destination` of the list as it is now (one past the last: to the end)."""
    rows = _rows(items, paths)
    target = _row(items, destination, end=True)
    chosen = set(rows)
    rest = [item for row, item in enumerate(items) if row not in chosen]
    at = target - sum(1 for row in rows if row < target)
    rest[at:at] = [items[row] for row in rows]
    return tuple(rest)


def moved_paths(paths: Iterable[LayerPath], destination: LayerPath) -> list[LayerPath]:
    """Where `move_to(items, paths, destination)` puts the moved items, in order."""
    rows = sorted({path.row for path in paths})
    target = destination.row
    at = target - sum(1 for row in rows if row < target)
    return [destination.sibling(at + offset) for offset in range(len(rows))]
