"""The layer stack as a Qt tree model: an adapter over the document's spec and analysis.

A block's row holds its sub-stacks as child rows (stack_tree.py). Drops and moves call
document edits by path; the document's `spec_changed` says what the edit did to the
top-level rows, and the model inserts, moves and removes just those rows (as napari's list
model does), then brings the rows inside a changed block up to date with as few inserts
and removals as it can, so the view keeps its selection, current row, scroll position and
the blocks it has collapsed.

The tree's shape lives in Qt: each row is a bare QStandardItem (a "cell") holding only its
flags, so the index, parent, row count and flags a view asks of every row whenever it lays
the rows out are answered in C++. A tree view lays out all its rows after each insert or
removal: for 5,000 rows, a Python model's index() and flags() made that 30-40 ms on their
own, a QStandardItemModel's 1 ms. What a row shows (data()) is Python's, from the row's
Node, and is asked only of the rows on screen.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QStandardItem, QStandardItemModel

from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, LayerOrBlock
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.row_change import RowChange
from explorer.ui.editor.stack_cells import (
    ROOT_FLAGS,
    PreparedRows,
    cells_for,
    flags_of,
    prepare_rows,
    show_all,
    show_block,
    show_repointed,
    show_rows,
)
from explorer.ui.editor.stack_drops import StackDrops
from explorer.ui.editor.stack_health import StackHealth
from explorer.ui.editor.stack_roles import (
    CONTENT_ROLES,
    HEALTH_ROLE,
    KIND_ROLE,
    MACS_ROLE,
    MERGE_ROLE,
    NAME_ROLE,
    PARAMS_ROLE,
    SEVERITY_ROLE,
    SHAPE_ROLE,
    TYPE_ROLE,
    item_data,
    other_data,
)
from explorer.ui.editor.stack_tree import (
    Node,
    RowKind,
    item_rows,
    renumber,
    runs,
    sync_item,
)

if TYPE_CHECKING:
    from explorer.core.health_advice import HealthAdvice

ModelIndex = QModelIndex | QPersistentModelIndex

# The roles, re-exported: views and tests read them from the model's module.
__all__ = [
    "HEALTH_ROLE",
    "KIND_ROLE",
    "MACS_ROLE",
    "MERGE_ROLE",
    "NAME_ROLE",
    "PARAMS_ROLE",
    "SEVERITY_ROLE",
    "SHAPE_ROLE",
    "TYPE_ROLE",
    "LayerStackModel",
]


_MAX_RUNS = 8  # runs of changed rows told one by one


class LayerStackModel(StackDrops, QStandardItemModel):
    """One row per layer and block of the document's spec; a block's rows hold its
    sub-stacks (see stack_tree.py for the rows a block adds)."""

    # A block that asks for N was dropped before a position: (block name, N offered, the
    # LayerPath). The panel asks and inserts; a model shows no dialogs.
    block_dropped = Signal(str, int, LayerPath)
    # Rows (parent, first, last) about to be removed, before Qt is told: a view that still
    # selects them deselects them now. Deselected while Qt removes them, a tree view lays
    # out all its rows at once, and then again after the removal (thousands of rows).
    rows_leaving = Signal(QModelIndex, int, int)

    def __init__(self, document: ProjectDocument, parent: QObject | None = None) -> None:
        # Not a child of the document: it refers to the document, and a child that does so
        # makes a cycle through C++ that the garbage collector breaks by deleting both at once.
        super().__init__(parent)
        self.document = document
        self._root = Node(RowKind.ITEM, None)
        root_cell = self.invisibleRootItem()
        root_cell.setFlags(ROOT_FLAGS)  # (an invalid index's flags: drops at the end)
        self.setColumnCount(1)
        # The row each cell shows, by the cell (its Python wrapper, which the node keeps).
        self._nodes: dict[int, Node] = {}
        self._root.children = item_rows(document.spec.layers, self._root)
        self._refresh_all()
        root_cell.appendRows([self._attach(node) for node in self._root.children])
        # A network opened in the background comes with its rows, made on that thread.
        # (The preparer holds the root node, not the model: a Python slot on the model's
        # `destroyed`, to tell it the model is gone, crashed a garbage collection.)
        document.prepare_when_opening(functools.partial(prepare_rows, self._root))
        self._changed: dict[int, tuple[Node, int, int]] = {}
        self._health = StackHealth()
        document.spec_changed.connect(self._on_document_spec_changed)

    @Slot(object)
    def set_health(self, advice: dict[LayerPath, HealthAdvice]) -> None:
        """Badge the rows at `advice`'s paths with a run's health advice (empty: none)."""
        self._tell_health(self._health.show(self.document.spec, advice))

    def _tell_health(self, paths: set[LayerPath]) -> None:
        for index in filter(QModelIndex.isValid, map(self.index_of, paths)):
            self.dataChanged.emit(index, index, [HEALTH_ROLE, Qt.ItemDataRole.ToolTipRole])

    @Slot(RowChange)
    def _on_document_spec_changed(self, change: RowChange) -> None:
        if self._health:
            self._tell_health(self._health.forget_stale(self.document.spec))
        layers = self.document.spec.layers
        if not change.kept:
            self._reset(layers)
            return
        if change.removed:
            self._remove_rows(change.removed)
        if change.moved:
            self._order_rows(change.kept)
        if change.inserted:
            self._insert_rows(change.inserted, layers)
        self._changed = {}
        rows = self._root.children
        analysed = self.document.analysis.layers
        changed = []
        names = self.document.spec.layer_names()
        by_path = self.document.spec.names()
        for row, node in enumerate(rows):
            item = layers[row]
            if node.item is not item:
                if node.children and show_repointed(
                    node, item, LayerPath.top(row), analysed[row], by_path
                ):
                    changed.append(row)
                    self._tell_subtree(node)
                    continue
                if node.children or isinstance(item, BlockSpec):
                    sync_item(self, node, item)
                    self._set_flags(node)
                else:  # a layer's row shows another layer: no rows under it, the same flags
                    node.item = item
            elif node.shown is analysed[row] and node.name == names[row]:
                continue
            changed.append(row)
            if node.children:
                # what a block holds follows the shapes flowing into it
                show_block(node, LayerPath.top(row), analysed[row], self.document.spec)
                self._tell_subtree(node)
            else:  # (by row: thousands of rows change name or place after an insert)
                node.shown = analysed[row]
                node.name = names[row]
        # Naming the roles (row heights never change) tells views no size changed; one
        # signal per run of changed rows, not one over the rows between (the last row
        # changes with any edit: its advice is the network's output's), which Qt would
        # otherwise go over one by one, asking each row for its flags. Past a few runs
        # (every other row renamed after an insert), one signal over them all costs less
        # than a signal per run.
        told = runs(changed)
        if len(told) > _MAX_RUNS:
            told = [(told[0][0], told[-1][1])]
        for first, last in told:
            self.dataChanged.emit(self.index(first, 0), self.index(last, 0), CONTENT_ROLES)
        for node, first, last in self._changed.values():
            parent = self._index_of_node(node)
            self.dataChanged.emit(
                self.index(first, 0, parent), self.index(last, 0, parent), CONTENT_ROLES
            )
        self._changed = {}

    def _reset(self, layers: Sequence[LayerOrBlock]) -> None:
        """New rows for all of `layers`: Qt's views hear of a reset, not of the cells going
        and coming."""
        root_cell = self.invisibleRootItem()
        prepared = self.document.prepared_for(self.document.spec)
        self.beginResetModel()
        blocked = self.blockSignals(True)
        try:
            root_cell.removeRows(0, root_cell.rowCount())
            if isinstance(prepared, PreparedRows) and prepared.fits(self._root, tuple(layers)):
                self._nodes = dict(prepared.by_cell)
                self._root.children = prepared.nodes
                cells = prepared.cells
            else:
                self._nodes = {}
                self._root.children = item_rows(layers, self._root)
                self._refresh_all()
                cells = [self._attach(node) for node in self._root.children]
            root_cell.appendRows(cells)
        finally:
            self.blockSignals(blocked)
        self.endResetModel()

    def _attach(self, node: Node) -> QStandardItem:
        """A new cell for `node`, holding the cells of the rows under it."""
        return cells_for(node, self._nodes)

    def _detach(self, node: Node) -> None:
        """Forget the cells of `node` and of the rows under it (Qt deletes them)."""
        self._nodes.pop(id(node.cell), None)
        node.cell = None
        for child in node.children:
            self._detach(child)

    def _cell(self, node: Node) -> QStandardItem:
        """`node`'s cell. (The root's is asked of Qt each time: Qt made it, and deletes it
        with the model without telling Python, so a wrapper kept for it could outlive it
        and be handed out again for whatever Qt makes at that address next.)"""
        if node is self._root:
            return self.invisibleRootItem()
        cell = node.cell
        assert isinstance(cell, QStandardItem)
        return cell

    def _set_flags(self, node: Node) -> None:
        """`node`'s cell holds the flags of what it shows now (a layer's row may come to
        show a block)."""
        flags = flags_of(node)
        cell = self._cell(node)
        if cell.flags() != flags:
            cell.setFlags(flags)

    def _tell_subtree(self, node: Node) -> None:
        if node.children:
            self._changed[id(node)] = (node, 0, len(node.children) - 1)
            for child in node.children:
                self._tell_subtree(child)

    # ---- row operations (the root's by RowChange, a block's by stack_tree.Sync) ---------

    def _refresh(self, node: Node) -> None:
        """Show the current analysis and names in `node` and the rows under it."""
        show_rows(node, self.document.spec, self.document.analysis)

    def _refresh_all(self) -> None:
        show_all(self._root.children, self.document.spec, self.document.analysis)

    # The nodes change first, then the cells, whose removal or insertion tells Qt: rows
    # that stay are found by their cells, so they show the right node all the while.

    def remove_children(self, node: Node, first: int, last: int) -> None:
        self.rows_leaving.emit(self._index_of_node(node), first, last)
        leaving = node.children[first : last + 1]
        del node.children[first : last + 1]
        renumber(node.children, first)
        self._cell(node).removeRows(first, last - first + 1)  # (the leaving still shown till then)
        for gone in leaving:
            self._detach(gone)

    def insert_children(self, node: Node, first: int, nodes: list[Node]) -> None:
        node.children[first:first] = nodes
        renumber(node.children, first)
        for new in nodes:
            self._refresh(new)
        self._cell(node).insertRows(first, [self._attach(new) for new in nodes])

    def row_changed(self, node: Node) -> None:
        if node.cell is not None:
            self._set_flags(node)
        parent = node.parent
        if parent is None or parent is self._root:
            return  # the root's rows are told at once
        known = self._changed.get(id(parent))
        first, last = (node.row, node.row) if known is None else (known[1], known[2])
        self._changed[id(parent)] = (parent, min(first, node.row), max(last, node.row))

    def _remove_rows(self, rows: Sequence[int]) -> None:
        """Remove top-level `rows` (ascending), one run of neighbours at a time from the
        bottom."""
        for first, last in reversed(runs(rows)):
            self.remove_children(self._root, first, last)

    def _order_rows(self, kept: Sequence[int]) -> None:
        """Move the remaining top-level rows (the old rows `kept`, still in their old
        order) into the order `kept` gives them, a run of rows that stay neighbours per
        move."""
        current = sorted(kept)
        for target, wanted in enumerate(kept):
            if current[target] == wanted:
                continue
            source = current.index(wanted, target)
            length = 1
            while (
                target + length < len(kept)
                and source + length < len(current)
                and current[source + length] == kept[target + length]
            ):
                length += 1
            last = source + length - 1
            self._move_rows(source, last, target)
            current[target:target] = current[source : last + 1]
            del current[source + length : last + 1 + length]

    def _move_rows(self, source: int, last: int, target: int) -> None:
        """Move top-level rows `source`..`last` up to `target` (< `source`)."""
        rows = self._root.children
        moved, passed = rows[source : last + 1], rows[target:source]
        if _has_blocks(moved) or _has_blocks(passed):
            # A block's cell holds its rows' cells: one side goes and comes back, the
            # rows passed over unless they hold blocks and the moved ones do not (a block
            # taken out would come back expanded, its rows' indexes lost).
            if not _has_blocks(passed) or (_has_blocks(moved) and len(passed) < len(moved)):
                self.remove_children(self._root, target, source - 1)
                self.insert_children(self._root, target + len(moved), passed)
            else:
                self.remove_children(self._root, source, last)
                self.insert_children(self._root, target, moved)
            return
        # Rows of layers alone: every cell between is alike, so the nodes move and the
        # cells stay, each now showing the node that comes to its row.
        cells = [row.cell for row in rows[target : last + 1]]
        self.beginMoveRows(QModelIndex(), source, last, QModelIndex(), target)
        rows[target:target] = moved
        del rows[source + len(moved) : last + 1 + len(moved)]
        renumber(rows, target)
        for node, cell in zip(rows[target : last + 1], cells, strict=True):
            node.cell = cell
            self._nodes[id(cell)] = node
        self.endMoveRows()

    def _insert_rows(self, rows: Sequence[int], layers: Sequence[LayerOrBlock]) -> None:
        """Insert the new top-level layers at `rows` (ascending), a run at a time."""
        for first, last in runs(rows):
            nodes = item_rows(layers[first : last + 1], self._root)
            self.insert_children(self._root, first, nodes)

    # ---- the tree as Qt sees it ---------------------------------------------------------

    def _node(self, index: ModelIndex) -> Node:
        # An invalid index points at nothing: the root.
        if not index.isValid():
            return self._root
        return self._nodes[id(self.itemFromIndex(index))]

    def _index_of_node(self, node: Node) -> QModelIndex:
        if node is self._root or node.parent is None:
            return QModelIndex()
        return self._cell(node).index()

    def node(self, index: ModelIndex) -> Node | None:
        """The row a valid index shows (None for an invalid one)."""
        return self._node(index) if index.isValid() else None

    def removeRows(self, row: int, count: int, parent: ModelIndex = QModelIndex()) -> bool:  # noqa: B008
        # Rows go by document edits alone (a view's drag that moved layers asks for the
        # dragged rows to be removed: the move has done that).
        return False

    def path_of(self, index: ModelIndex) -> LayerPath:
        """The path of the layer or block a valid index shows (for a header, empty or
        merge row: where a layer dropped on it goes)."""
        return self._node(index).position()

    def index_of(self, path: LayerPath) -> QModelIndex:
        """The index that shows the layer at `path` (invalid when there is none)."""
        rows = self._root.children
        if path.steps[0] >= len(rows):
            return QModelIndex()
        node: Node | None = rows[path.steps[0]]
        for level in range(1, len(path.steps), 2):
            assert node is not None
            node = node.child_at(path.steps[level], path.steps[level + 1])
            if node is None:
                return QModelIndex()
        assert node is not None
        return self._cell(node).index()

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        node = self._node(index)
        if role == KIND_ROLE:
            return "block" if node.is_block else node.kind.value
        if node.kind is RowKind.ITEM:
            if role == HEALTH_ROLE:
                return self._health.badge(node.position()) if self._health else None
            shown = item_data(node, role, self.document.spec)
            if role == Qt.ItemDataRole.ToolTipRole and self._health:
                return self._health.tooltip(node.position(), shown)
            return shown
        return other_data(node, role)


def _has_blocks(nodes: Sequence[Node]) -> bool:
    return any(node.children or node.is_block for node in nodes)
