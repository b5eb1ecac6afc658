"""The layer stack panel: input header, the tree of layer and block rows, and their edit
actions (clipboard, delete, duplicate, move, wrap in a block, unwrap, branches)."""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QMessageBox, QVBoxLayout, QWidget

from explorer.core.paths import LayerPath, outermost
from explorer.core.spec import BlockSpec, SpecError
from explorer.core.vocabulary.blocks import PARALLEL, RESIDUAL
from explorer.ui.common.document import ProjectDocument
from explorer.ui.editor.blocks import ask_repeat, block_named
from explorer.ui.editor.input_header import InputHeader
from explorer.ui.editor.mime import layers_from_mime, layers_mime_data
from explorer.ui.editor.stack_model import KIND_ROLE, LayerStackModel
from explorer.ui.editor.stack_tree import RowKind
from explorer.ui.editor.stack_view import LayerStackView


class LayerStackPanel(QWidget):
    """Input header over the layer tree, with Delete, Duplicate, Copy, Cut, Paste, Move
    Up/Down, Wrap in Residual Block / Parallel Branches, Unwrap, Add/Remove Branch."""

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
        self.move_up_action = self._action("Move &Up", QKeySequence("Ctrl+Up"))
        self.move_up_action.triggered.connect(self._on_move_up_action_triggered)
        self.move_down_action = self._action("Move Do&wn", QKeySequence("Ctrl+Down"))
        self.move_down_action.triggered.connect(self._on_move_down_action_triggered)
        self.wrap_residual_action = self._action("Wrap in &Residual Block", QKeySequence("Ctrl+R"))
        self.wrap_residual_action.triggered.connect(self._on_wrap_residual_action_triggered)
        self.wrap_parallel_action = self._action(
            "Wrap in Para&llel Branches", QKeySequence("Ctrl+Shift+R")
        )
        self.wrap_parallel_action.triggered.connect(self._on_wrap_parallel_action_triggered)
        self.unwrap_action = self._action("U&nwrap Block", QKeySequence("Ctrl+Shift+U"))
        self.unwrap_action.triggered.connect(self._on_unwrap_action_triggered)
        self.add_branch_action = self._action("Add &Branch", QKeySequence("Ctrl+Shift+B"))
        self.add_branch_action.triggered.connect(self._on_add_branch_action_triggered)
        self.remove_branch_action = self._action("Remove Branc&h", QKeySequence())
        self.remove_branch_action.triggered.connect(self._on_remove_branch_action_triggered)
        for action, tip in (
            (self.wrap_residual_action, "The selected layers become the body of a residual "
             "block: their input is added back to their output."),
            (self.wrap_parallel_action, "The selected layers become branch 1 of a parallel "
             "block, beside an empty branch 2 that passes the input on."),
            (self.unwrap_action, "Replace the selected block by its first sub-stack."),
            (self.add_branch_action, "Add an empty branch to the selected parallel block."),
            (self.remove_branch_action, "Remove the branch (with its layers) that the current "
             "row is in."),
        ):  # fmt: skip
            action.setToolTip(tip)
            action.setStatusTip(tip)
        self.block_actions = [
            self.wrap_residual_action,
            self.wrap_parallel_action,
            self.unwrap_action,
            self.add_branch_action,
            self.remove_branch_action,
        ]
        separator = QAction(self)
        separator.setSeparator(True)
        self.view.addActions(
            [
                self.duplicate_action,
                self.copy_action,
                self.cut_action,
                self.paste_action,
                self.delete_action,
                self.move_up_action,
                self.move_down_action,
                separator,
                *self.block_actions,
            ]
        )
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

        self._dropped_block: tuple[str, int, LayerPath] | None = None
        self.model.block_dropped.connect(self._on_model_block_dropped)
        document.selection_requested.connect(self._on_document_selection_requested)
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.model.modelReset.connect(self._on_selection_changed)
        self.view.selectionModel().currentChanged.connect(self._on_selection_changed)
        self.model.modelReset.connect(self._on_model_reset)
        self.model.rowsInserted.connect(self._on_model_rows_inserted)
        self.model.rowsRemoved.connect(self._on_model_rows_removed)
        self.model.rows_leaving.connect(self._on_model_rows_leaving)
        self._on_model_reset()
        self._on_selection_changed()

    def _action(self, text: str, shortcut: QKeySequence | QKeySequence.StandardKey) -> QAction:
        action = QAction(text, self)
        action.setShortcut(shortcut)
        return action

    def selected_paths(self) -> list[LayerPath]:
        """The selected layers and blocks, in stack order."""
        rows = self.view.selectionModel().selectedRows()
        return sorted(
            {
                self.model.path_of(index)
                for index in rows
                if self.model.data(index, KIND_ROLE) in ("item", "block")
            }
        )

    def select_paths(self, paths: list[LayerPath]) -> None:
        """Select the layers at `paths` (their blocks expanded to show them); the first
        becomes current and is scrolled to."""
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

    # ---- blocks expand as they appear ---------------------------------------------------

    @Slot()
    def _on_model_reset(self) -> None:
        self.view.setRootIsDecorated(self.document.spec.has_blocks)
        if self.document.spec.has_blocks:
            self.view.expandAll()  # (every block, in one call: thousands of them)

    @Slot(QModelIndex, int, int)
    def _on_model_rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        # A new block (dropped, pasted, wrapped, or back by undo) shows what it holds.
        self.view.setRootIsDecorated(self.document.spec.has_blocks)
        for row in range(first, last + 1):
            index = self.model.index(row, 0, parent)
            if self.model.hasChildren(index):
                self.view.expandRecursively(index)

    @Slot(QModelIndex, int, int)
    def _on_model_rows_leaving(self, parent: QModelIndex, first: int, last: int) -> None:
        selection = self.view.selectionModel()
        current = selection.currentIndex()
        if current.isValid() and current.parent() == parent and first <= current.row() <= last:
            selection.setCurrentIndex(QModelIndex(), QItemSelectionModel.SelectionFlag.NoUpdate)
        leaving = QItemSelection(
            self.model.index(first, 0, parent), self.model.index(last, 0, parent)
        )
        if any(selection.isSelected(index) for index in leaving.indexes()):
            selection.select(leaving, QItemSelectionModel.SelectionFlag.Deselect)

    @Slot()
    def _on_model_rows_removed(self) -> None:
        self.view.setRootIsDecorated(self.document.spec.has_blocks)

    # ---- the block named by a palette drop ----------------------------------------------

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
        paths = self.selected_paths()
        for action in (
            self.delete_action,
            self.duplicate_action,
            self.copy_action,
            self.cut_action,
            self.move_up_action,
            self.move_down_action,
        ):
            action.setEnabled(bool(paths))
        wrap = self.document.can_wrap(paths)
        self.wrap_residual_action.setEnabled(wrap)
        self.wrap_parallel_action.setEnabled(wrap)
        block = self._selected_block()
        self.unwrap_action.setEnabled(block is not None)
        parallel = block is not None and block[1].type == PARALLEL.name
        self.add_branch_action.setEnabled(parallel)
        self.remove_branch_action.setEnabled(self._current_branch() is not None)

    def _selected_block(self) -> tuple[LayerPath, BlockSpec] | None:
        """The block Unwrap and Add Branch act on: the one selected, alone."""
        paths = self.selected_paths()
        if len(paths) != 1:
            return None
        try:
            item = self.document.spec.at(paths[0])
        except LookupError:  # asked while an edit is applied row by row
            return None
        return (paths[0], item) if isinstance(item, BlockSpec) else None

    def _current_branch(self) -> tuple[LayerPath, int] | None:
        """(parallel block, branch) of the current row, when that block has branches to
        spare."""
        node = self.model.node(self.view.currentIndex())
        while node is not None and node.kind is not RowKind.HEADER:
            node = node.parent if node.parent is not None and node.parent.parent else None
        if node is None or node.parent is None:
            return None
        block = node.parent.item
        if not isinstance(block, BlockSpec) or len(block.stacks) <= block.entry.min_stacks:
            return None
        return node.parent.position(), node.stack

    def _insert_path(self) -> LayerPath:
        """Where pasted layers go: after the last selected layer; else where the current
        row takes them (an empty sub-stack, a branch), else at the end."""
        paths = self.selected_paths()
        if paths:
            return paths[-1].following()
        node = self.model.node(self.view.currentIndex())
        if node is not None and node.kind is not RowKind.ITEM:
            return node.position()
        return LayerPath.top(len(self.document.spec.layers))

    @Slot()
    def _on_delete_action_triggered(self) -> None:
        self.document.remove_layers(self.selected_paths())

    @Slot()
    def _on_duplicate_action_triggered(self) -> None:
        self.document.duplicate_layers(self.selected_paths())

    @Slot()
    def _on_copy_action_triggered(self) -> None:
        paths = outermost(self.selected_paths())
        if paths:
            layers = [self.document.spec.at(path) for path in paths]
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

    @Slot()
    def _on_move_up_action_triggered(self) -> None:
        self.document.move_by(self.selected_paths(), -1)

    @Slot()
    def _on_move_down_action_triggered(self) -> None:
        self.document.move_by(self.selected_paths(), +1)

    @Slot()
    def _on_wrap_residual_action_triggered(self) -> None:
        self.document.wrap_in_block(self.selected_paths(), RESIDUAL.name)

    @Slot()
    def _on_wrap_parallel_action_triggered(self) -> None:
        self.document.wrap_in_block(self.selected_paths(), PARALLEL.name)

    @Slot()
    def _on_unwrap_action_triggered(self) -> None:
        block = self._selected_block()
        if block is not None:
            self.document.unwrap_block(block[0])

    @Slot()
    def _on_add_branch_action_triggered(self) -> None:
        block = self._selected_block()
        if block is not None:
            self.document.add_branch(block[0])

    @Slot()
    def _on_remove_branch_action_triggered(self) -> None:
        branch = self._current_branch()
        if branch is not None:
            self.document.remove_branch(*branch)

    def current_path(self) -> LayerPath | None:
        """The layer Properties shows: the current one when selected, else the first
        selected one."""
        index: QModelIndex = self.view.currentIndex()
        paths = self.selected_paths()
        if index.isValid() and self.model.path_of(index) in paths:
            return self.model.path_of(index)
        return paths[0] if paths else None
