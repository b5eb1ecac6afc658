"""The layer stack panel: input header, the list of layer rows, and their edit actions."""

from __future__ import annotations

from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPoint,
    Qt,
    QTimer,
    Slot,
)
from PySide6.QtGui import (
    QAction,
    QDrag,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from explorer.core.paths import LayerPath, item_at
from explorer.core.spec import SpecError
from explorer.ui.common.document import ProjectDocument
from explorer.ui.editor.blocks import ask_repeat, block_named
from explorer.ui.editor.delegate import LayerRowDelegate
from explorer.ui.editor.input_header import InputHeader
from explorer.ui.editor.mime import layers_from_mime, layers_mime_data
from explorer.ui.editor.stack_model import LayerStackModel

_LAYOUT_BATCH = 512  # rows laid out per turn of the event loop


class LayerStackView(QListView):
    """A list that drags our MIME data and leaves removing moved rows to the document."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        # Qt's one-pixel indicator is easy to miss: paintEvent draws a bolder one.
        self.setDropIndicatorShown(False)
        self._drop_y: int | None = None
        self.setUniformItemSizes(True)
        # Qt lays the rows out again after any change of their data; in batches, a network
        # of thousands of layers is laid out over several turns of the event loop, none long.
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(_LAYOUT_BATCH)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setItemDelegate(LayerRowDelegate(self))

    def startDrag(self, supportedActions: Qt.DropAction) -> None:
        indexes = self.selectedIndexes()
        if not indexes or self.model() is None:
            return
        drag = QDrag(self)
        drag.setMimeData(self.model().mimeData(indexes))
        current = self.currentIndex() if self.currentIndex().isValid() else indexes[0]
        drag.setPixmap(self.viewport().grab(self.visualRect(current)))
        # The drop (in this or another stack) makes the edit; nothing is removed here.
        drag.exec(supportedActions, Qt.DropAction.MoveAction)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        super().dragMoveEvent(event)
        self._drop_y = self._indicator_y(event.position().toPoint()) if event.isAccepted() else None
        self.viewport().update()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        super().dragLeaveEvent(event)
        self._drop_y = None
        self.viewport().update()

    def dropEvent(self, event: QDropEvent) -> None:
        self._drop_y = None
        super().dropEvent(event)
        self.viewport().update()

    def _indicator_y(self, pos: QPoint) -> int:
        """Where a drop at `pos` lands: Qt splits a row at its middle, since rows do not
        accept drops onto themselves."""
        index = self.indexAt(pos)
        model = self.model()
        if not index.isValid():
            if model is None or model.rowCount() == 0:
                return 2
            return self.visualRect(model.index(model.rowCount() - 1, 0)).bottom() + 1
        rect = self.visualRect(index)
        return rect.top() if pos.y() < rect.center().y() else rect.bottom() + 1

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self._drop_y is not None:
            painter = QPainter(self.viewport())
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            colour = self.palette().highlight().color()
            painter.setPen(QPen(colour, 3))
            width = self.viewport().width()
            painter.drawLine(8, self._drop_y, width - 4, self._drop_y)
            painter.setBrush(colour)
            painter.drawEllipse(QPoint(6, self._drop_y), 4, 4)
            painter.end()
        if self.model() is not None and self.model().rowCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(
                self.viewport().rect().adjusted(12, 12, -12, -12),
                Qt.AlignmentFlag.AlignHCenter
                | Qt.AlignmentFlag.AlignTop
                | Qt.TextFlag.TextWordWrap,
                "No layers yet.\nDrag layers here from the palette, double-click one, "
                "or pick a template.",
            )
            painter.end()


class LayerStackPanel(QWidget):
    """Input header over the layer list, with Delete, Duplicate, Copy, Cut and Paste."""

    def __init__(self, document: ProjectDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.model = LayerStackModel(document, self)
        self.header = InputHeader(document, self)
        self.view = LayerStackView(self)
        self.view.setModel(self.model)
        self.view.setObjectName("layerStackView")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.header)
        layout.addWidget(self.view, 1)

        self.delete_action = self._action("&Delete Layer", QKeySequence.StandardKey.Delete)
        self.delete_action.triggered.connect(self._on_delete_action_triggered)
        self.duplicate_action = self._action("D&uplicate Layer", QKeySequence("Ctrl+D"))
        self.duplicate_action.triggered.connect(self._on_duplicate_action_triggered)
        self.copy_action = self._action("&Copy Layers", QKeySequence.StandardKey.Copy)
        self.copy_action.triggered.connect(self._on_copy_action_triggered)
        self.cut_action = self._action("Cu&t Layers", QKeySequence.StandardKey.Cut)
        self.cut_action.triggered.connect(self._on_cut_action_triggered)
        self.paste_action = self._action("&Paste Layers", QKeySequence.StandardKey.Paste)
        self.paste_action.triggered.connect(self._on_paste_action_triggered)
        self.select_all_action = self._action(
            "Select &All Layers", QKeySequence.StandardKey.SelectAll
        )
        self.select_all_action.triggered.connect(self.view.selectAll)
        self.view.addActions(
            [
                self.duplicate_action,
                self.copy_action,
                self.cut_action,
                self.paste_action,
                self.delete_action,
            ]
        )
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

        self._dropped_block: tuple[str, int, LayerPath] | None = None
        self.model.block_dropped.connect(self._on_model_block_dropped)
        document.selection_requested.connect(self._on_document_selection_requested)
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.model.modelReset.connect(self._on_selection_changed)
        self._on_selection_changed()

    def _action(self, text: str, shortcut: QKeySequence | QKeySequence.StandardKey) -> QAction:
        action = QAction(text, self)
        action.setShortcut(shortcut)
        return action

    def selected_paths(self) -> list[LayerPath]:
        """The selected layers, in stack order."""
        rows = self.view.selectionModel().selectedRows()
        return sorted({self.model.path_of(index) for index in rows})

    def select_paths(self, paths: list[LayerPath]) -> None:
        """Select the layers at `paths`; the first becomes current and is scrolled to."""
        selection = QItemSelection()
        for path in paths:
            index = self.model.index_of(path)
            if index.isValid():
                selection.select(index, index)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.view.selectionModel().select(selection, flags)
        first = self.model.index_of(paths[0]) if paths else QModelIndex()
        if first.isValid():
            self.view.selectionModel().setCurrentIndex(
                first, QItemSelectionModel.SelectionFlag.NoUpdate
            )
            self.view.scrollTo(first)

    @Slot(str, int, LayerPath)
    def _on_model_block_dropped(self, name: str, repeat: int, at: LayerPath) -> None:
        # Asked once the drag has finished: a dialog inside the drop would run in its loop.
        self._dropped_block = (name, repeat, at)
        QTimer.singleShot(0, self._ask_dropped_block)

    @Slot()
    def _ask_dropped_block(self) -> None:
        if self._dropped_block is None:
            return
        name, repeat, at = self._dropped_block
        self._dropped_block = None
        block = block_named(name)
        if block is None:
            return
        answer = ask_repeat(self, block, repeat)
        if answer is not None:
            self.document.insert_layers(at, block.make(answer), f"Add {name}")

    @Slot(list)
    def _on_document_selection_requested(self, paths: list[LayerPath]) -> None:
        if paths:
            self.select_paths(paths)

    @Slot()
    def _on_selection_changed(self) -> None:
        has = bool(self.selected_paths())
        for action in (
            self.delete_action,
            self.duplicate_action,
            self.copy_action,
            self.cut_action,
        ):
            action.setEnabled(has)

    def _insert_path(self) -> LayerPath:
        """Where pasted layers go: after the last selected layer, else at the end."""
        paths = self.selected_paths()
        if paths:
            return paths[-1].following()
        return LayerPath.top(len(self.document.spec.layers))

    @Slot()
    def _on_delete_action_triggered(self) -> None:
        self.document.remove_layers(self.selected_paths())

    @Slot()
    def _on_duplicate_action_triggered(self) -> None:
        self.document.duplicate_layers(self.selected_paths())

    @Slot()
    def _on_copy_action_triggered(self) -> None:
        paths = self.selected_paths()
        if paths:
            layers = [item_at(self.document.spec.layers, path) for path in paths]
            QGuiApplication.clipboard().setMimeData(layers_mime_data(layers))

    @Slot()
    def _on_cut_action_triggered(self) -> None:
        self._on_copy_action_triggered()
        self.document.remove_layers(self.selected_paths())

    @Slot()
    def _on_paste_action_triggered(self) -> None:
        data = QGuiApplication.clipboard().mimeData()
        try:
            layers = layers_from_mime(data)
        except SpecError as error:
            QMessageBox.warning(self, "Paste Layers", f"Cannot paste: {error.message}")
            return
        self.document.insert_layers(self._insert_path(), layers)

    def current_path(self) -> LayerPath | None:
        """The layer Properties shows: the current one when selected, else the first
        selected one."""
        index: QModelIndex = self.view.currentIndex()
        paths = self.selected_paths()
        if index.isValid() and self.model.path_of(index) in paths:
            return self.model.path_of(index)
        return paths[0] if paths else None
