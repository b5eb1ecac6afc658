"""The layer stack as a Qt list model: an adapter over the document's spec and analysis.

Drops and moves call document edits; the document's `spec_changed` says what the edit did to
the rows, and the model inserts, moves and removes just those rows (as napari's list model
does), so the view keeps its selection, current row and scroll position.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)

from explorer.core.analysis import LayerAnalysis
from explorer.core.paths import LayerPath, item_at
from explorer.core.spec import SpecError
from explorer.core.summary import format_shape
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

ModelIndex = QModelIndex | QPersistentModelIndex

NAME_ROLE = Qt.ItemDataRole.UserRole + 1
SHAPE_ROLE = Qt.ItemDataRole.UserRole + 2
PARAMS_ROLE = Qt.ItemDataRole.UserRole + 3
TYPE_ROLE = Qt.ItemDataRole.UserRole + 4
SEVERITY_ROLE = Qt.ItemDataRole.UserRole + 5  # "error", "warning" or None
_CONTENT_ROLES = [
    Qt.ItemDataRole.DisplayRole,
    Qt.ItemDataRole.ToolTipRole,
    NAME_ROLE,
    SHAPE_ROLE,
    PARAMS_ROLE,
    TYPE_ROLE,
    SEVERITY_ROLE,
]


class LayerStackModel(QAbstractListModel):
    """One row per layer of the document's spec."""

    # A block that asks for N was dropped before a position: (block name, N offered, the
    # LayerPath). The panel asks and inserts; a model shows no dialogs.
    block_dropped = Signal(str, int, LayerPath)

    def __init__(self, document: ProjectDocument, parent: QObject | None = None) -> None:
        # Not a child of the document: it refers to the document, and a child that does so
        # makes a cycle through C++ that the garbage collector breaks by deleting both at once.
        super().__init__(parent)
        self.document = document
        # The rows shown: the document's analysis, except while an edit is being applied
        # row by row (then rows kept are the old ones and new rows are the new ones).
        self._layers: list[LayerAnalysis] = list(document.analysis.layers)
        document.spec_changed.connect(self._on_document_spec_changed)

    @Slot(RowChange)
    def _on_document_spec_changed(self, change: RowChange) -> None:
        new = self.document.analysis.layers
        if not change.kept:
            self.beginResetModel()
            self._layers = list(new)
            self.endResetModel()
            return
        if change.removed:
            self._remove_rows(change.removed)
        if change.moved:
            self._order_rows(change.kept)
        if change.inserted:
            self._insert_rows(change.inserted, new)
        changed = [row for row, layer in enumerate(new) if self._layers[row] is not layer]
        self._layers = list(new)
        if changed:
            # Naming the roles (row heights never change) tells views no size changed.
            first, last = self.index(changed[0]), self.index(changed[-1])
            self.dataChanged.emit(first, last, _CONTENT_ROLES)

    def _remove_rows(self, rows: Sequence[int]) -> None:
        """Remove `rows` (ascending), one run of neighbours at a time from the bottom."""
        for first, last in reversed(_runs(rows)):
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._layers[first : last + 1]
            self.endRemoveRows()

    def _order_rows(self, kept: Sequence[int]) -> None:
        """Move the remaining rows (the old rows `kept`, still in their old order) into the
        order `kept` gives them, a run of rows that stay neighbours per move."""
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
            self._layers[target:target] = self._layers[source : last + 1]
            del self._layers[source + length : last + 1 + length]
            current[target:target] = current[source : last + 1]
            del current[source + length : last + 1 + length]
            self.endMoveRows()

    def _insert_rows(self, rows: Sequence[int], new: Sequence[LayerAnalysis]) -> None:
        """Insert the new layers at `rows` (ascending), one run of neighbours at a time."""
        for first, last in _runs(rows):
            self.beginInsertRows(QModelIndex(), first, last)
            self._layers[first:first] = new[first : last + 1]
            self.endInsertRows()

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._layers)

    def path_of(self, index: ModelIndex) -> LayerPath:
        """The path of the layer a valid index shows."""
        return LayerPath.top(index.row())

    def index_of(self, path: LayerPath) -> QModelIndex:
        """The index that shows the layer at `path` (invalid when there is none)."""
        return self.index(path.row)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._layers):
            return None
        layer = self._layers[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return layer.description
        if role == NAME_ROLE:
            return layer.name
        if role == SHAPE_ROLE:
            return format_shape(layer.output_shape)
        if role == PARAMS_ROLE:
            return f"{layer.params:,}" if layer.known else "?"
        if role == TYPE_ROLE:
            return layer.type
        if role == SEVERITY_ROLE:
            diagnostic = layer.diagnostic
            return None if diagnostic is None else diagnostic.severity.value
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [f"{layer.name}: {layer.description}"]
            lines += [
                f"{'Error' if d.is_error else 'Warning'}: {d.text()}" for d in layer.diagnostics
            ]
            if not layer.known and not layer.error:
                lines.append("Output shape unknown: an earlier layer has an error.")
            return "\n".join(lines)
        return None

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            # Drops land between rows, never on a row.
            return Qt.ItemFlag.ItemIsDropEnabled
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsDragEnabled
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    # ---- drag and drop ------------------------------------------------------------------

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction | Qt.DropAction.CopyAction

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction | Qt.DropAction.CopyAction

    def mimeTypes(self) -> list[str]:
        return [LAYERS_MIME, PATHS_MIME, "text/plain"]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        paths = sorted({self.path_of(index) for index in indexes if index.isValid()})
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
        if row < 0:
            row = parent.row() if parent.isValid() else len(self._layers)
        destination = LayerPath.top(row)
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


def _runs(rows: Sequence[int]) -> list[tuple[int, int]]:
    """Ascending `rows` as (first, last) runs of neighbours: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and runs[-1][1] == row - 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs
