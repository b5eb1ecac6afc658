"""Drags and drops on the layer stack: the layer stack model's part (a mixin of
`LayerStackModel`). Rows dragged out carry their layers (and, within one window, their
paths); a drop becomes a document edit by path: a move of the window's own rows, an insert
of anyone else's, or a palette block that asks how many times to repeat itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, QModelIndex, QPersistentModelIndex, Qt, SignalInstance

from explorer.core.paths import LayerPath, item_at, outermost
from explorer.core.spec import SpecError
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
from explorer.ui.editor.stack_tree import Node, RowKind, drop_position

if TYPE_CHECKING:
    from explorer.ui.common.document import ProjectDocument

ModelIndex = QModelIndex | QPersistentModelIndex


class StackDrops:
    """Qt's drag-and-drop methods of the stack model, over its document and rows."""

    document: ProjectDocument
    block_dropped: SignalInstance

    def _node(self, index: ModelIndex) -> Node:
        raise NotImplementedError

    def path_of(self, index: ModelIndex) -> LayerPath:
        raise NotImplementedError

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
