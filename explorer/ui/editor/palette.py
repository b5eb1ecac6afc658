"""The layer palette: every registry type grouped by family, then the blocks: the block
types (Residual, Parallel: rows that hold sub-stacks) and multi-layer presets.

Drag an item onto the stack (our layer MIME type) or double-click it to append it at the end.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from PySide6.QtCore import QByteArray, QMimeData, QSize, Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, LayerOrBlock, LayerSpec
from explorer.core.vocabulary.blocks import BLOCK_TYPES
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.family_style import families, family_colour, type_icon
from explorer.ui.editor.blocks import BLOCKS, Block, ask_repeat
from explorer.ui.editor.mime import BLOCK_MIME, LAYERS_MIME, layers_mime_data

_TYPE_ROLE = Qt.ItemDataRole.UserRole + 1
_BLOCK_ROLE = Qt.ItemDataRole.UserRole + 2
BLOCKS_GROUP = "Blocks"


class LayerPalette(QTreeWidget):
    """Families as groups, layer types and blocks as draggable items."""

    def __init__(
        self,
        document: ProjectDocument,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.repeat = 2  # N of the last "×N" block: what the next dialog offers
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
        for family, types in families():
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
        group.setForeground(0, family_colour(BLOCKS_GROUP))
        for block_type in BLOCK_TYPES.values():
            item = QTreeWidgetItem(group, [block_type.name])
            item.setIcon(0, type_icon(block_type.name))
            item.setToolTip(
                0,
                f"{block_type.summary} Drops with empty {block_type.json_key}: drag layers "
                "into them, or select layers and wrap them (Edit ▸ Wrap).",
            )
            item.setData(0, _TYPE_ROLE, block_type.name)
            item.setFlags(
                Qt.ItemFlag.ItemIsEnabled
                | Qt.ItemFlag.ItemIsSelectable
                | Qt.ItemFlag.ItemIsDragEnabled
            )
        for index, block in enumerate(BLOCKS):
            item = QTreeWidgetItem(group, [block.name])
            item.setIcon(0, type_icon(block.make(1)[0].type))
            tip = block.summary
            if block.asks_repeat:
                tip += " Asks for N when you double-click or drop it."
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

    def layers_for(
        self, item: QTreeWidgetItem, repeat: int | None = None
    ) -> tuple[LayerOrBlock, ...]:
        type_name = item.data(0, _TYPE_ROLE)
        if type_name in BLOCK_TYPES:
            return (BlockSpec.new(type_name),)
        if type_name:
            return (LayerSpec.new(type_name),)
        block = self._block(item)
        if block is None:
            return ()
        return block.make(self.repeat if repeat is None else repeat)

    def mimeTypes(self) -> list[str]:
        return [LAYERS_MIME]

    def mimeData(self, items: Sequence[QTreeWidgetItem]) -> QMimeData:
        layers = [layer for item in items for layer in self.layers_for(item)]
        data = layers_mime_data(layers)
        blocks = [self._block(item) for item in items]
        if len(items) == 1 and blocks[0] is not None and blocks[0].asks_repeat:
            # The stack asks for N on the drop; the layers above are for other targets.
            marker = {"block": blocks[0].name, "repeat": self.repeat}
            data.setData(BLOCK_MIME, QByteArray(json.dumps(marker).encode()))
        return data

    @staticmethod
    def _block(item: QTreeWidgetItem) -> Block | None:
        index = item.data(0, _BLOCK_ROLE)
        return None if index is None else BLOCKS[int(index)]

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    @Slot(QTreeWidgetItem, int)
    def _on_item_double_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        self.append(item)

    def append(self, item: QTreeWidgetItem) -> bool:
        """Append the item's layer(s) at the end of the stack, in one undo step (a block that
        repeats asks for N first)."""
        repeat = None
        block = self._block(item)
        if block is not None and block.asks_repeat:
            repeat = ask_repeat(self, block, self.repeat)
            if repeat is None:
                return False
            self.repeat = repeat
        layers = self.layers_for(item, repeat)
        if not layers:
            return False
        end = LayerPath.top(len(self.document.spec.layers))
        return self.document.insert_layers(end, layers, f"Add {item.text(0)}")
