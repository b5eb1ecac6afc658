"""The layer palette: every registry type grouped by family, plus multi-layer blocks.

Drag an item onto the stack (our layer MIME type) or double-click it to append.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QMimeData, QSize, Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QInputDialog,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from explorer.core.layers import FAMILIES, LAYER_TYPES
from explorer.core.spec import LayerSpec
from explorer.ui.blocks import BLOCKS, Block
from explorer.ui.document import ProjectDocument
from explorer.ui.family_style import family_colour, type_icon
from explorer.ui.layer_mime import LAYERS_MIME, layers_mime_data

_TYPE_ROLE = Qt.ItemDataRole.UserRole + 1
_BLOCK_ROLE = Qt.ItemDataRole.UserRole + 2
BLOCKS_GROUP = "Blocks"


class LayerPalette(QTreeWidget):
    """Families as groups, layer types and blocks as draggable items."""

    def __init__(
        self,
        document: ProjectDocument,
        insert_row: Callable[[], int] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        # Where a double-clicked item goes: a callable giving the row (default: the end).
        self._insert_row = insert_row
        self.repeat = 2  # N of the last "×N" block; a drag reuses it
        self.setHeaderHidden(True)
        self.setIconSize(QSize(22, 22))
        self.setRootIsDecorated(False)
        self.setIndentation(8)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setObjectName("layerPalette")
        self._populate()
        self.expandAll()
        self.itemDoubleClicked.connect(self._on_item_double_clicked)

    def _populate(self) -> None:
        families = list(FAMILIES) + sorted({t.family for t in LAYER_TYPES.values()} - set(FAMILIES))
        for family in families:
            types = [t for t in LAYER_TYPES.values() if t.family == family]
            if not types:
                continue
            group = self._group(family)
            group.setForeground(0, family_colour(family))
            for entry in types:
                item = QTreeWidgetItem(group, [entry.name])
                item.setIcon(0, type_icon(entry.name))
                item.setToolTip(0, entry.summary)
                item.setData(0, _TYPE_ROLE, entry.name)
                item.setFlags(
                    Qt.ItemFlag.ItemIsEnabled
                    | Qt.ItemFlag.ItemIsSelectable
                    | Qt.ItemFlag.ItemIsDragEnabled
                )
        group = self._group(BLOCKS_GROUP)
        for index, block in enumerate(BLOCKS):
            item = QTreeWidgetItem(group, [block.name])
            item.setIcon(0, type_icon(block.make(1)[0].type))
            tip = block.summary
            if block.asks_repeat:
                tip += " Double-click asks for N; a drag uses the last N."
            item.setToolTip(0, tip)
            item.setData(0, _BLOCK_ROLE, index)
            item.setFlags(
                Qt.ItemFlag.ItemIsEnabled
                | Qt.ItemFlag.ItemIsSelectable
                | Qt.ItemFlag.ItemIsDragEnabled
            )

    def _group(self, title: str) -> QTreeWidgetItem:
        group = QTreeWidgetItem(self, [title])
        font = group.font(0)
        font.setBold(True)
        group.setFont(0, font)
        group.setFlags(Qt.ItemFlag.ItemIsEnabled)
        return group

    def find_item(self, name: str) -> QTreeWidgetItem:
        """The palette item for a layer type or block name (for tests and automation)."""
        matches = [
            item
            for item in self.findItems(
                name, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive
            )
            if item.parent() is not None
        ]
        if not matches:
            raise KeyError(name)
        return matches[0]

    def layers_for(self, item: QTreeWidgetItem, repeat: int | None = None) -> tuple[LayerSpec, ...]:
        type_name = item.data(0, _TYPE_ROLE)
        if type_name:
            return (LayerSpec.new(type_name),)
        block_index = item.data(0, _BLOCK_ROLE)
        if block_index is None:
            return ()
        block: Block = BLOCKS[int(block_index)]
        return block.make(self.repeat if repeat is None else repeat)

    def mimeTypes(self) -> list[str]:
        return [LAYERS_MIME]

    def mimeData(self, items: Sequence[QTreeWidgetItem]) -> QMimeData:
        layers = [layer for item in items for layer in self.layers_for(item)]
        return layers_mime_data(layers)

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    @Slot(QTreeWidgetItem, int)
    def _on_item_double_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        self.append(item)

    def append(self, item: QTreeWidgetItem) -> bool:
        """Insert the item's layer(s) after the selection (or at the end), in one undo step."""
        repeat = None
        block_index = item.data(0, _BLOCK_ROLE)
        if block_index is not None and BLOCKS[int(block_index)].asks_repeat:
            value, ok = QInputDialog.getInt(
                self, item.text(0), "Convolutions before the pool (N):", self.repeat, 1, 16
            )
            if not ok:
                return False
            self.repeat = repeat = value
        layers = self.layers_for(item, repeat)
        if not layers:
            return False
        row = self._insert_row() if self._insert_row else len(self.document.spec.layers)
        return self.document.insert_layers(row, layers, f"Add {item.text(0)}")
