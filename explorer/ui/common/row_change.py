"""What an edit did to the rows of a layer stack: which rows were inserted, removed, moved
or replaced, so that views update those rows (and keep their selection) instead of starting
over.

A change is written as `origin`: for every row after the edit, the row it was before (None
for a new layer). Inserts, removes and moves all read from it, it inverts for undo and
composes for merged undo steps, and a whole other project is the change that keeps no row.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

# A position in nested stacks: () is the network's own stack (blocks hold sub-stacks).
StackPath = tuple[int, ...]


@dataclass(frozen=True)
class RowChange:
    """The rows of the stack at `stack` after an edit, by the rows they were before.

    `origin[i]` is the row (of `old_count` rows) that row `i` was, or None where row `i` is a
    new layer; `replaced` are the rows (after the edit) whose layer was changed in place.
    """

    origin: tuple[int | None, ...]
    old_count: int
    replaced: tuple[int, ...] = ()
    stack: StackPath = ()

    @classmethod
    def unchanged(cls, count: int, replaced: Sequence[int] = ()) -> RowChange:
        """No row inserted, removed or moved (the layers in `replaced` edited in place)."""
        return cls(tuple(range(count)), count, tuple(sorted(set(replaced))))

    @classmethod
    def replacing(cls, old_count: int, new_count: int) -> RowChange:
        """Another project: every row goes, every row is new."""
        return cls((None,) * new_count, old_count)

    @classmethod
    def between(cls, old: Sequence[object], new: Sequence[object]) -> RowChange:
        """The change from `old` to `new` rows that keeps their common start and end and
        replaces what lies between (an edit that did not say what it did)."""
        limit = min(len(old), len(new))
        start = 0
        while start < limit and _same(old[start], new[start]):
            start += 1
        end = 0
        while end < limit - start and _same(old[-1 - end], new[-1 - end]):
            end += 1
        middle_old, middle_new = len(old) - start - end, len(new) - start - end
        if middle_old == middle_new:
            origin: list[int | None] = list(range(len(new)))
            return cls(tuple(origin), len(old), tuple(range(start, start + middle_new)))
        origin = [*range(start), *([None] * middle_new)]
        origin += range(len(old) - end, len(old))
        return cls(tuple(origin), len(old))

    @property
    def new_count(self) -> int:
        return len(self.origin)

    @functools.cached_property
    def inserted(self) -> tuple[int, ...]:
        """Rows (after the edit) that hold new layers, ascending."""
        return tuple(row for row, was in enumerate(self.origin) if was is None)

    @functools.cached_property
    def kept(self) -> tuple[int, ...]:
        """The rows (before the edit) that are still there, in their new order."""
        return tuple(was for was in self.origin if was is not None)

    @functools.cached_property
    def removed(self) -> tuple[int, ...]:
        """Rows (before the edit) that are gone, ascending."""
        kept = set(self.kept)
        return tuple(row for row in range(self.old_count) if row not in kept)

    @functools.cached_property
    def moved(self) -> bool:
        """Whether rows that stayed changed their order."""
        kept = self.kept
        return any(a > b for a, b in itertools.pairwise(kept))

    def new_row(self, old_row: int | None) -> int | None:
        """Where row `old_row` is after the edit (None: removed, or None given)."""
        if old_row is None:
            return None
        return self._new_rows.get(old_row)

    @functools.cached_property
    def _new_rows(self) -> dict[int, int]:
        return {was: row for row, was in enumerate(self.origin) if was is not None}

    def inverse(self) -> RowChange:
        """The change that undoes this one."""
        origin: list[int | None] = [None] * self.old_count
        for row, was in enumerate(self.origin):
            if was is not None:
                origin[was] = row
        replaced = {self.origin[row] for row in self.replaced}
        return RowChange(
            tuple(origin),
            self.new_count,
            tuple(sorted(row for row in replaced if row is not None)),
            self.stack,
        )

    def then(self, later: RowChange) -> RowChange:
        """This change followed by `later` (one undo step made of two edits)."""
        origin = tuple(None if was is None else self.origin[was] for was in later.origin)
        replaced = {row for row in range(len(later.origin)) if later.origin[row] in self.replaced}
        replaced.update(later.replaced)
        return RowChange(origin, self.old_count, tuple(sorted(replaced)), self.stack)


def _same(a: object, b: object) -> bool:
    return a is b or a == b
