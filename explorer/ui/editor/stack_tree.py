"""The rows of the layer stack as a tree of nodes, kept in step with the spec's tree.

Beside a row per layer and per block, a block shows rows of its own: a header per branch of
a parallel block, a "drop layers here" row for an empty sub-stack, and a last row where its
sub-stacks merge (⊕ for a residual sum). The stack model (stack_model.py) hands these nodes
to Qt; this module only knows their shape and how to bring a block's rows up to date with
as few rows inserted and removed as possible.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from explorer.core.analysis import LayerAnalysis
from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, LayerOrBlock


class RowKind(Enum):
    ITEM = "item"  # a layer or a block
    HEADER = "header"  # a branch of a parallel block
    EMPTY = "empty"  # an empty sub-stack: a place to drop layers
    MERGE = "merge"  # where a block's sub-stacks (and shortcut) merge


class Node:
    """One row: what it shows (`item` for a layer or block; `stack` for a branch header,
    an empty sub-stack or a merge), its parent node and its row under it."""

    __slots__ = (
        "__weakref__",
        "_parent",
        "cell",
        "children",
        "item",
        "kind",
        "name",
        "row",
        "shown",
        "stack",
    )

    def __init__(
        self,
        kind: RowKind,
        parent: Node | None,
        item: LayerOrBlock | None = None,
        stack: int = 0,
    ) -> None:
        self.kind = kind
        # Weak: a node and the rows under it make no reference cycle, so rows that go are
        # freed at once, even frozen out of the cyclic collector's reach (heap.py).
        self._parent = None if parent is None else weakref.ref(parent)
        self.item = item
        self.stack = stack
        self.row = 0
        self.children: list[Node] = []
        # What the row shows of the analysis, and the item's name: set by the model once
        # the row has its place, so a row keeps showing its old result while an edit is
        # applied row by row (as Qt's model tester checks).
        self.shown: LayerAnalysis | None = None
        self.name = ""
        # The row as Qt holds it (the model's QStandardItem), while the row is shown.
        self.cell: object | None = None

    @property
    def parent(self) -> Node | None:
        """The node this row is under (None for the root, or once the parent is gone)."""
        return None if self._parent is None else self._parent()

    @property
    def is_block(self) -> bool:
        return isinstance(self.item, BlockSpec)

    def block_node(self) -> Node | None:
        """The node of the block this row belongs to (None at the top level)."""
        parent = self.parent
        if parent is not None and parent.kind is RowKind.HEADER:
            parent = parent.parent
        return parent if parent is not None and parent.item is not None else None

    def path(self) -> LayerPath | None:
        """The position of the layer or block this row shows (None for other rows)."""
        if self.kind is not RowKind.ITEM:
            return None
        return self.position()

    def position(self) -> LayerPath:
        """Where a layer dropped on this row goes: an item's own position; the start of
        the sub-stack of a header or an empty row; the end of the last sub-stack of a merge
        row."""
        if self.kind is RowKind.ITEM:
            return _item_path(self)
        block = _parent(self.block_node() if self.kind is RowKind.EMPTY else self.parent)
        if self.kind is RowKind.MERGE:
            assert isinstance(block.item, BlockSpec)
            last = len(block.item.stacks) - 1
            return _item_path(block).child(last, len(block.item.stacks[last]))
        return _item_path(block).child(self.stack, 0)

    def child_at(self, stack: int, index: int) -> Node | None:
        """Under a block's node: the node of position `index` of sub-stack `stack`."""
        stacks = sub_stacks(self)
        if stack >= len(stacks):
            return None
        rows = stacks[stack][0]
        if index >= len(rows) or rows[index].kind is not RowKind.ITEM:
            return None
        return rows[index]


def _item_path(node: Node) -> LayerPath:
    steps: list[int] = []
    while True:
        parent = _parent(node.parent)
        if parent.parent is None:  # the root
            return LayerPath((node.row, *steps))
        if parent.kind is RowKind.HEADER:
            steps = [parent.stack, node.row, *steps]
            node = _parent(parent.parent)
        else:
            steps = [0, node.row, *steps]
            node = parent


def _parent(node: Node | None) -> Node:
    assert node is not None
    return node


@dataclass(frozen=True)
class _Want:
    """A row a block should have: an item, a header, an empty sub-stack or its merge."""

    kind: RowKind
    item: LayerOrBlock | None = None
    stack: int = 0
    items: tuple[LayerOrBlock, ...] = ()  # a header's branch


def _wanted(block: BlockSpec) -> list[_Want]:
    """The rows under a block's row."""
    rows: list[_Want] = []
    if block.entry.max_stacks == 1:
        body = block.stacks[0]
        rows = [_Want(RowKind.ITEM, item) for item in body] or [_Want(RowKind.EMPTY)]
    else:
        rows = [
            _Want(RowKind.HEADER, stack=which, items=stack)
            for which, stack in enumerate(block.stacks)
        ]
    return [*rows, _Want(RowKind.MERGE)]


def _wanted_in(items: Sequence[LayerOrBlock], stack: int) -> list[_Want]:
    return [_Want(RowKind.ITEM, item) for item in items] or [_Want(RowKind.EMPTY, stack=stack)]


def build(want: _Want, parent: Node) -> Node:
    """A new node for `want` with all the rows under it."""
    node = Node(want.kind, parent, want.item, want.stack)
    if want.kind is RowKind.HEADER:
        node.children = [build(w, node) for w in _wanted_in(want.items, want.stack)]
    elif isinstance(want.item, BlockSpec):
        node.children = [build(w, node) for w in _wanted(want.item)]
    renumber(node.children)
    return node


def item_rows(items: Sequence[LayerOrBlock], parent: Node) -> list[Node]:
    """New nodes for a top-level stack of `items`."""
    nodes = [
        build(_Want(RowKind.ITEM, item), parent)
        if isinstance(item, BlockSpec)
        else Node(RowKind.ITEM, parent, item)  # (thousands of layers: no rows under them)
        for item in items
    ]
    renumber(nodes)
    return nodes


def renumber(nodes: Sequence[Node], start: int = 0) -> None:
    for row in range(start, len(nodes)):
        nodes[row].row = row


class RowOps(Protocol):
    """What brings rows in step: the model wraps each in Qt's begin/end calls."""

    def remove_children(self, node: Node, first: int, last: int) -> None: ...

    def insert_children(self, node: Node, first: int, nodes: list[Node]) -> None: ...

    def row_changed(self, node: Node) -> None:
        """The row `node` may show something else."""
        ...


def sync_item(ops: RowOps, node: Node, item: LayerOrBlock) -> None:
    """`node` (an ITEM row) now shows `item`: its rows follow, through `ops`."""
    old = node.item
    node.item = item
    ops.row_changed(node)
    if old is item:
        return
    if isinstance(item, BlockSpec):
        _sync_rows(ops, node, _wanted(item))
    elif node.children:
        _sync_rows(ops, node, [])


def sub_stacks(node: Node) -> list[tuple[list[Node], int]]:
    """A block's node's sub-stacks: the rows of each (an empty one's EMPTY row), and its
    index (none for a layer's node)."""
    rows = node.children
    if not rows:
        return []
    if rows[0].kind is RowKind.HEADER:
        return [(header.children, header.stack) for header in rows[:-1]]
    return [(rows[:-1], 0)]


def _sync_rows(ops: RowOps, node: Node, wanted: list[_Want]) -> None:
    """Make `node`'s rows those `wanted`: rows that show the same item (or the same header,
    empty or merge row) at the start and the end stay, and so do rows of the same kind in
    between when there are as many; the rest are replaced."""
    rows = node.children
    start = 0
    while start < min(len(rows), len(wanted)) and _same(rows[start], wanted[start]):
        start += 1
    end = 0
    while end < min(len(rows), len(wanted)) - start and _same(
        rows[len(rows) - 1 - end], wanted[len(wanted) - 1 - end]
    ):
        end += 1
    old_middle = rows[start : len(rows) - end]
    new_middle = wanted[start : len(wanted) - end]
    # A row is reused for another item only when that is its own item changed: an item
    # that moved within the stack gets a new row (and the old row goes with the old place).
    old_items = {id(r.item) for r in old_middle if r.item is not None}
    new_items = {id(w.item) for w in new_middle if w.item is not None}
    if (
        len(old_middle) != len(new_middle)
        or old_items & new_items
        or not all(_alike(r, w) for r, w in zip(old_middle, new_middle, strict=True))
    ):
        if old_middle:
            ops.remove_children(node, start, start + len(old_middle) - 1)
        if new_middle:
            ops.insert_children(node, start, [build(w, node) for w in new_middle])
    for row in range(len(node.children)):
        child = node.children[row]
        want = wanted[row]
        if child.kind is RowKind.ITEM and want.item is not None:
            sync_item(ops, child, want.item)
            continue
        child.stack = want.stack
        ops.row_changed(child)
        if child.kind is RowKind.HEADER:
            _sync_rows(ops, child, _wanted_in(want.items, want.stack))


def _same(node: Node, want: _Want) -> bool:
    if node.kind is not want.kind:
        return False
    if want.kind is RowKind.ITEM:
        return node.item is want.item
    return want.kind is RowKind.MERGE or node.stack == want.stack


def _alike(node: Node, want: _Want) -> bool:
    """Whether `node` can show `want` by updating what is under it."""
    if node.kind is not want.kind:
        return False
    if want.kind is not RowKind.ITEM:
        return True
    new, old = want.item, node.item
    if isinstance(new, BlockSpec) or isinstance(old, BlockSpec):
        return (
            isinstance(new, BlockSpec)
            and isinstance(old, BlockSpec)
            and new.type == old.type
            and len(new.stacks) == len(old.stacks)
        )
    return True


def drop_position(node: Node, row: int) -> LayerPath:
    """Where a drop on `node`'s rows lands: before `row` of them, or (row -1) on `node`:
    before a layer; at the end of a block's first sub-stack or of a branch; at the start
    of an empty sub-stack; at the end of the last sub-stack for a merge row. (`node`
    without a parent is the root: the top-level stack.)"""
    if node.parent is None:
        count = len(node.children)
        return LayerPath.top(count if row < 0 else min(row, count))
    if node.kind is not RowKind.HEADER and not node.is_block:
        return node.position()  # a layer, an empty or a merge row
    if node.kind is RowKind.HEADER:
        block_node = _parent(node.parent)
        stack = node.stack
    else:
        block_node, stack = node, 0
        branches = len(node.children) - 1
        if node.children[0].kind is RowKind.HEADER and row >= 0:
            # above branch N's header: the end of branch N-1 (the start of branch 1)
            if row == 0:
                return node.position().child(0, 0)
            stack, row = min(row, branches) - 1, -1
    block = block_node.item
    assert isinstance(block, BlockSpec)
    count = len(block.stacks[stack])
    return block_node.position().child(stack, count if row < 0 else min(row, count))


def runs(rows: Sequence[int]) -> list[tuple[int, int]]:
    """Ascending `rows` as (first, last) runs of neighbours: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    found: list[tuple[int, int]] = []
    for row in rows:
        if found and found[-1][1] == row - 1:
            found[-1] = (found[-1][0], row)
        else:
            found.append((row, row))
    return found
