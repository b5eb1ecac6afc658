"""The layer stack's rows as Qt holds them: a bare QStandardItem (a "cell") per node, with
the row's flags and nothing else, and what each node shows of the analysis.

A tree view asks every row for its index, parent and flags each time it lays its rows
out: cells answer in C++, where a Python model's index() and flags() took 30-40 ms for
5,000 rows. The rows of a network being opened in the background are made on that
thread too (`prepare_rows`), so the turn that shows it only hands them to Qt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItem

from explorer.core.analysis import Analysis
from explorer.core.layer_analysis import LayerAnalysis
from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, LayerOrBlock, NetworkSpec
from explorer.ui.editor.stack_tree import Node, RowKind, item_rows, sub_stacks

_MOVABLE = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled
# Drops land between layers, never on one.
LAYER_FLAGS = _MOVABLE | Qt.ItemFlag.ItemNeverHasChildren
# Dropped on: into its first sub-stack.
BLOCK_FLAGS = _MOVABLE | Qt.ItemFlag.ItemIsDropEnabled
# Not selectable: a branch header, an empty or a merge row is where layers go.
PART_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsDropEnabled
ROOT_FLAGS = Qt.ItemFlag.ItemIsDropEnabled

Names = Mapping[LayerPath, str]


def flags_of(node: Node) -> Qt.ItemFlag:
    if node.kind is not RowKind.ITEM:
        return PART_FLAGS
    return BLOCK_FLAGS if isinstance(node.item, BlockSpec) else LAYER_FLAGS


def cells_for(node: Node, nodes: dict[int, Node]) -> QStandardItem:
    """A new cell for `node`, holding the cells of the rows under it; each cell's node is
    entered in `nodes` under the cell's id. (Made here, never cloned: Qt tells Python
    when it deletes an item Python made, and only then.)"""
    cell = QStandardItem()
    cell.setFlags(flags_of(node))
    node.cell = cell
    nodes[id(cell)] = node
    if node.children:
        cell.appendRows([cells_for(child, nodes) for child in node.children])
    return cell


def show_rows(node: Node, spec: NetworkSpec, analysis: Analysis) -> None:
    """`node` and the rows under it show `analysis` and `spec`'s names."""
    if node.kind is RowKind.ITEM and node.parent is not None:
        path = node.position()
        try:
            shown: LayerAnalysis | None = analysis.at(path)
        except LookupError:
            shown = None
        _show(node, path, shown, spec.names())
        return
    for child in node.children:
        show_rows(child, spec, analysis)


def show_all(nodes: list[Node], spec: NetworkSpec, analysis: Analysis) -> None:
    """`show_rows` of a top-level stack, whose results and names are found by row
    (thousands of rows need no path worked out and looked up each)."""
    results = analysis.layers
    names = spec.layer_names()
    for row, node in enumerate(nodes):
        node.shown = results[row]
        node.name = names[row]
        if node.children:
            show_block(node, LayerPath.top(row), results[row], spec)


def show_block(node: Node, path: LayerPath, shown: LayerAnalysis, spec: NetworkSpec) -> None:
    """`show_rows` of a block's `node` at `path`, whose analysis is `shown`."""
    _show(node, path, shown, spec.names())


def show_repointed(
    node: Node, item: LayerOrBlock, path: LayerPath, shown: LayerAnalysis | None, names: Names
) -> bool:
    """Let the block's `node` at `path` and the rows under it show `item` and `shown`, when
    each row would show the layer or block it shows now, by name (the row's own name is
    `names`'), and `item` has their shape (layers where they show layers, blocks of the
    same type and sizes where they show blocks): True if so, with no row added, removed
    or flagged. An edit that renumbers the generated names after it writes them out,
    which makes every later block a new object of the same shape; thousands of them are
    re-pointed, not synced. (A layer that moved within a block is another layer to the
    row it lands on: that row is synced, and the layer gets a row of its own.)

    False leaves re-pointed only the rows inside whose whole shape fits, each showing its
    new item and analysis with all under it: syncing the rest (`sync_item`) keeps them."""
    if names.get(path, "") != node.name:
        return False
    if not isinstance(item, BlockSpec):
        if node.children or node.is_block:
            return False
        node.item, node.shown = item, shown
        return True
    old = node.item
    stacks = sub_stacks(node)
    if not isinstance(old, BlockSpec) or old.type != item.type or len(stacks) != len(item.stacks):
        return False
    fits = True
    for (rows, stack), items in zip(stacks, item.stacks, strict=True):
        if not items:
            fits = fits and len(rows) == 1 and rows[0].kind is RowKind.EMPTY
            continue
        if len(rows) != len(items):
            fits = False
            continue
        results = _held(shown, stack)
        for row, inner in zip(rows, items, strict=True):
            index = row.row
            fits = (
                row.kind is RowKind.ITEM
                and show_repointed(
                    row,
                    inner,
                    path.child(stack, index),
                    results[index] if index < len(results) else None,
                    names,
                )
                and fits
            )
    if fits:
        node.item, node.shown = item, shown
    return fits


def _held(shown: LayerAnalysis | None, stack: int) -> tuple[LayerAnalysis, ...]:
    """The results of sub-stack `stack` of a block's analysis (none when it has none)."""
    return shown.children[stack] if shown is not None and stack < len(shown.children) else ()


def _show(node: Node, path: LayerPath, shown: LayerAnalysis | None, names: Names) -> None:
    """`node` (at `path`) shows `shown`, and each row inside it what `shown` holds for it
    (as `Analysis.at` finds it, without going down from the top for each)."""
    node.shown = shown
    node.name = names.get(path, "")
    for rows, stack in sub_stacks(node):
        results = _held(shown, stack)
        for row in rows:
            if row.kind is RowKind.ITEM:
                index = row.row
                inner = results[index] if index < len(results) else None
                _show(row, path.child(stack, index), inner, names)


@dataclass(frozen=True)
class PreparedRows:
    """The top-level rows of `layers`, under `root`, with their cells (not yet Qt's)."""

    root: Node
    layers: tuple[LayerOrBlock, ...]
    nodes: list[Node]
    cells: list[QStandardItem]
    by_cell: dict[int, Node]

    def fits(self, root: Node, layers: tuple[LayerOrBlock, ...]) -> bool:
        """Whether these are rows for `layers` under `root`, not yet given to Qt."""
        return (
            root is self.root
            and layers is self.layers
            and not (self.cells and self.cells[0].model() is not None)
        )


def prepare_rows(root: Node, spec: NetworkSpec, analysis: Analysis) -> PreparedRows:
    """`spec`'s rows under `root`, showing `analysis` (run on the thread that analysed it:
    cells are no QObjects, and belong to no model until they are handed over)."""
    nodes = item_rows(spec.layers, root)
    show_all(nodes, spec, analysis)
    by_cell: dict[int, Node] = {}
    cells = [cells_for(node, by_cell) for node in nodes]
    return PreparedRows(root, spec.layers, nodes, cells, by_cell)
