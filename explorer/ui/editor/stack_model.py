"""The layer stack as a Qt tree model: an adapter over the document's spec and analysis.

A block's row holds its sub-stacks as child rows (stack_tree.py). Drops and moves call
document edits by path; the document's `spec_changed` says what the edit did to the
top-level rows, and the model inserts, moves and removes just those rows (as napari's list
model does), then brings the rows inside a changed block up to date with as few inserts
and removals as it can, so the view keeps its selection, current row, scroll position and
the blocks it has collapsed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)

from explorer.core.analysis import LayerAnalysis
from explorer.core.paths import LayerPath, item_at, outermost
from explorer.core.spec import BlockSpec, LayerOrBlock, SpecError
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.row_change import RowChange
from explorer.ui.editor.blocks import block_named
from explorer.ui.editor.mime import (
    BLOCK_MIME,
    LAYERS_MIME,
    PATHS_MIME,
    dragged_paths,
    layers_from_mime,
    layers_mime_data,
    mark_dragged_paths,
)
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
    drop_position,
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


# Worked out once: a view asks for a row's flags many times per paint.
_MOVABLE = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled
# Drops land between layers, never on one.
_LAYER_FLAGS = _MOVABLE | Qt.ItemFlag.ItemNeverHasChildren
# Dropped on: into its first sub-stack.
_BLOCK_FLAGS = _MOVABLE | Qt.ItemFlag.ItemIsDropEnabled
# Not selectable: a branch header, an empty or a merge row is where layers go.
_PART_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsDropEnabled
_ROOT_FLAGS = Qt.ItemFlag.ItemIsDropEnabled
_ITEM = RowKind.ITEM  # (an enum member looked up once, not on every call)
_MAX_RUNS = 8  # runs of changed rows told one by one


class LayerStackModel(QAbstractItemModel):
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
        self._root.children = item_rows(document.spec.layers, self._root)
        self._refresh_all()
        # Rows taken out stay referenced until the next edit: Qt may still ask an index
        # made for one of them for its parent while it tidies up.
        self._removed: list[Node] = []
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
        self._removed = []
        if self._health:
            self._tell_health(self._health.forget_stale(self.document.spec))
        layers = self.document.spec.layers
        if not change.kept:
            self.beginResetModel()
            self._root.children = item_rows(layers, self._root)
            self._refresh_all()
            self.endResetModel()
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
        for row, node in enumerate(rows):
            if node.item is not layers[row]:
                sync_item(self, node, layers[row])
            elif node.shown is analysed[row] and node.name == names[row]:
                continue
            changed.append(row)
            if node.children:
                # what a block holds follows the shapes flowing into it
                self._refresh(node)
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
            self.dataChanged.emit(self.index(first), self.index(last), CONTENT_ROLES)
        for node, first, last in self._changed.values():
            parent = self._index_of_node(node)
            self.dataChanged.emit(
                self.index(first, 0, parent), self.index(last, 0, parent), CONTENT_ROLES
            )
        self._changed = {}

    def _tell_subtree(self, node: Node) -> None:
        if node.children:
            self._changed[id(node)] = (node, 0, len(node.children) - 1)
            for child in node.children:
                self._tell_subtree(child)

    # ---- row operations (the root's by RowChange, a block's by stack_tree.Sync) ---------

    def _refresh(self, node: Node) -> None:
        """Show the current analysis and names in `node` and the rows under it."""
        if node.kind is RowKind.ITEM and node.parent is not None:
            path = node.position()
            node.shown = self._analysis(path)
            node.name = self.document.spec.names().get(path, "")
        for child in node.children:
            self._refresh(child)

    def _refresh_all(self) -> None:
        """`_refresh` of every row, the top-level ones' results and names found by their
        index (thousands of rows need no path worked out and looked up each)."""
        results = self.document.analysis.layers
        names = self.document.spec.layer_names()
        for row, node in enumerate(self._root.children):
            node.shown = results[row]
            node.name = names[row]
            for child in node.children:
                self._refresh(child)

    def remove_children(self, node: Node, first: int, last: int) -> None:
        parent = self._index_of_node(node)
        self.rows_leaving.emit(parent, first, last)
        self.beginRemoveRows(parent, first, last)
        self._removed += node.children[first : last + 1]
        del node.children[first : last + 1]
        renumber(node.children, first)
        self.endRemoveRows()

    def insert_children(self, node: Node, first: int, nodes: list[Node]) -> None:
        self.beginInsertRows(self._index_of_node(node), first, first + len(nodes) - 1)
        node.children[first:first] = nodes
        renumber(node.children, first)
        for new in nodes:
            self._refresh(new)
        self.endInsertRows()

    def row_changed(self, node: Node) -> None:
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
        rows = self._root.children
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
            self.beginMoveRows(QModelIndex(), source, last, QModelIndex(), target)
            rows[target:target] = rows[source : last + 1]
            del rows[source + length : last + 1 + length]
            renumber(rows, target)
            current[target:target] = current[source : last + 1]
            del current[source + length : last + 1 + length]
            self.endMoveRows()

    def _insert_rows(self, rows: Sequence[int], layers: Sequence[LayerOrBlock]) -> None:
        """Insert the new top-level layers at `rows` (ascending), a run at a time."""
        for first, last in runs(rows):
            nodes = item_rows(layers[first : last + 1], self._root)
            self.insert_children(self._root, first, nodes)

    # ---- the tree as Qt sees it ---------------------------------------------------------

    def _node(self, index: ModelIndex) -> Node:
        # An invalid index points at nothing: the root. (Views ask for indexes, flags and
        # parents of every row whenever rows come or go: one call into Qt, not two.)
        node: Node | None = index.internalPointer()
        return self._root if node is None else node

    def _index_of_node(self, node: Node) -> QModelIndex:
        if node is self._root or node.parent is None:
            return QModelIndex()
        return self.createIndex(node.row, 0, node)

    def node(self, index: ModelIndex) -> Node | None:
        """The row a valid index shows (None for an invalid one)."""
        return self._node(index) if index.isValid() else None

    def index(
        self,
        row: int,
        column: int = 0,
        parent: ModelIndex = QModelIndex(),  # noqa: B008
    ) -> QModelIndex:
        rows = self._node(parent).children
        if column != 0 or not 0 <= row < len(rows):
            return QModelIndex()
        return self.createIndex(row, 0, rows[row])

    def parent(self, index: ModelIndex | None = None) -> Any:
        if index is None:
            return QObject.parent(self)
        node: Node | None = index.internalPointer()
        if node is None:
            return QModelIndex()
        return self._index_of_node(_parent_of(node))

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._node(parent).children)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 1

    def hasChildren(self, parent: ModelIndex = QModelIndex()) -> bool:  # noqa: B008
        return bool(self._node(parent).children)

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
        return self.createIndex(node.row, 0, node)

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

    def _analysis(self, path: LayerPath) -> LayerAnalysis | None:
        try:
            return self.document.analysis.at(path)
        except LookupError:
            return None

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        node: Node | None = index.internalPointer()
        if node is None:
            return _ROOT_FLAGS
        if node.kind is not _ITEM:
            return _PART_FLAGS
        return _BLOCK_FLAGS if isinstance(node.item, BlockSpec) else _LAYER_FLAGS

    # ---- drag and drop ------------------------------------------------------------------

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction | Qt.DropAction.CopyAction

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction | Qt.DropAction.CopyAction

    def mimeTypes(self) -> list[str]:
        return [LAYERS_MIME, PATHS_MIME, "text/plain"]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        paths = outermost(
            self.path_of(index)
            for index in indexes
            if index.isValid() and self._node(index).kind is RowKind.ITEM
        )
        data = layers_mime_data([item_at(self.document.spec.layers, path) for path in paths])
        mark_dragged_paths(data, self.document, paths)
        return data

    def canDropMimeData(
        self,
        data: QMimeData,
        action: Qt.DropAction,
        row: int,
        column: int,
        parent: ModelIndex,
    ) -> bool:
        return data.hasFormat(LAYERS_MIME) and not self.document.locked

    def dropMimeData(
        self,
        data: QMimeData,
        action: Qt.DropAction,
        row: int,
        column: int,
        parent: ModelIndex,
    ) -> bool:
        if action == Qt.DropAction.IgnoreAction:
            return True
        if not data.hasFormat(LAYERS_MIME):
            return False
        destination = self.drop_path(row, parent)
        block = self._asking_block(data)
        if block is not None:
            self.block_dropped.emit(*block, destination)
            return True
        own_paths = dragged_paths(data, self.document)
        if own_paths is not None and action == Qt.DropAction.MoveAction:
            return self.document.move_layers(own_paths, destination)
        try:
            layers = layers_from_mime(data)
        except SpecError:
            return False
        return self.document.insert_layers(destination, layers)

    def drop_path(self, row: int, parent: ModelIndex) -> LayerPath:
        """Where a drop lands: before `row` of `parent`'s rows, or (row -1) on `parent`:
        before a layer; at the end of a block's first sub-stack or of a branch; at the start
        of an empty sub-stack; at the end of the last sub-stack for a merge row."""
        return drop_position(self._node(parent), row)

    def _asking_block(self, data: QMimeData) -> tuple[str, int] | None:
        """(name, N offered) when `data` is a palette block that asks for N."""
        if not data.hasFormat(BLOCK_MIME):
            return None
        try:
            marker = json.loads(bytes(data.data(BLOCK_MIME).data()).decode())
            name, repeat = str(marker["block"]), int(marker["repeat"])
        except (ValueError, KeyError, TypeError):
            return None
        block = block_named(name)
        return (name, repeat) if block is not None and block.asks_repeat else None


def _parent_of(node: Node) -> Node:
    assert node.parent is not None
    return node.parent
