"""The main window's menu bar and tool bar: File, Edit, View, Templates and Help.

The menus hold the document's actions (file, undo/redo, the layer stack's clipboard) and
the window's own (History, Reset Layout, Layer Reference, About), which the window connects.
Panels added later put their menus before Help with `add_menu()`, File ▸ entries after
Save As with `add_file_menu()`, and tool buttons after the editor's with `add_tool_actions()`.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import QMainWindow, QMenu, QStyle, QToolBar

from explorer.ui.editor.stack import LayerStackPanel
from explorer.ui.shell.file_actions import FileActions


class WindowMenus(QObject):
    """Builds the menus and the tool bar of `window`; later panels add theirs here."""

    def __init__(
        self,
        window: QMainWindow,
        files: FileActions,
        undo_stack: QUndoStack,
        stack: LayerStackPanel,
    ) -> None:
        super().__init__(window)
        self._window = window
        self._files = files
        bar = window.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.file_menu.addActions([files.new_action, files.open_action])
        self.file_menu.addMenu(files.recent_menu)
        self.file_menu.addSeparator()
        self.file_menu.addActions([files.save_action, files.save_as_action])
        self.file_menu.addSeparator()
        self.quit_action = self.file_menu.addAction("&Quit")
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        edit_menu = bar.addMenu("&Edit")
        self.undo_action = undo_stack.createUndoAction(window, "&Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = undo_stack.createRedoAction(window, "&Redo")
        # Ctrl+Y as well, as on Windows and in most editors.
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        edit_menu.addActions([self.undo_action, self.redo_action])
        edit_menu.addSeparator()
        edit_menu.addActions(
            [
                stack.cut_action,
                stack.copy_action,
                stack.paste_action,
                stack.duplicate_action,
                stack.delete_action,
            ]
        )
        edit_menu.addActions([stack.move_up_action, stack.move_down_action])
        edit_menu.addSeparator()
        edit_menu.addActions(stack.block_actions)
        edit_menu.addSeparator()
        edit_menu.addAction(stack.select_all_action)
        edit_menu.addSeparator()
        self.history_action = edit_menu.addAction("&History")
        self.history_action.setShortcut(QKeySequence("Ctrl+H"))

        self.view_menu = bar.addMenu("&View")
        self._view_separator = self.view_menu.addSeparator()
        self.reset_layout_action = self.view_menu.addAction("&Reset Layout")
        bar.addMenu(files.templates_menu)

        self.help_menu = bar.addMenu("&Help")
        self.reference_action = self.help_menu.addAction("&Layer Reference")
        self.reference_action.setShortcut(QKeySequence.StandardKey.HelpContents)
        self.about_action = self.help_menu.addAction("&About CNN Explorer")
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)

        self.toolbar = self._tool_bar(window, files, undo_stack, stack)
        window.addToolBar(self.toolbar)

    def _tool_bar(
        self,
        window: QMainWindow,
        files: FileActions,
        undo_stack: QUndoStack,
        stack: LayerStackPanel,
    ) -> QToolBar:
        toolbar = QToolBar("Main", window)
        toolbar.setObjectName("mainToolBar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        icons = window.style().standardIcon
        pixmaps = QStyle.StandardPixmap
        files.new_action.setIcon(icons(pixmaps.SP_FileIcon))
        files.open_action.setIcon(icons(pixmaps.SP_DialogOpenButton))
        files.save_action.setIcon(icons(pixmaps.SP_DialogSaveButton))
        toolbar.addActions([files.new_action, files.open_action, files.save_action])
        toolbar.addSeparator()
        # Fixed labels: the menu's "Undo Move Conv2D" would make the tool bar jump.
        undo = toolbar.addAction(icons(pixmaps.SP_ArrowBack), "Undo", undo_stack.undo)
        redo = toolbar.addAction(icons(pixmaps.SP_ArrowForward), "Redo", undo_stack.redo)
        undo.setEnabled(undo_stack.canUndo())
        redo.setEnabled(undo_stack.canRedo())
        undo_stack.canUndoChanged.connect(undo.setEnabled)
        undo_stack.canRedoChanged.connect(redo.setEnabled)
        # Their tips ("Undo Move Conv2D") follow the stack: the window connects them, since
        # the stack outlives these actions while the window is taken apart.
        self.toolbar_undo, self.toolbar_redo = undo, redo
        toolbar.addSeparator()
        stack.duplicate_action.setIcon(icons(pixmaps.SP_FileDialogNewFolder))
        stack.delete_action.setIcon(icons(pixmaps.SP_TrashIcon))
        toolbar.addActions([stack.duplicate_action, stack.delete_action])
        return toolbar

    # ---- what later panels add ----------------------------------------------------------

    def add_menu(self, title: str) -> QMenu:
        """A new menu in the menu bar, before Help (which stays last)."""
        menu = QMenu(title, self._window)
        self._window.menuBar().insertMenu(self.help_menu.menuAction(), menu)
        return menu

    def add_file_menu(self, menu: QMenu) -> None:
        """A File ▸ submenu just after Save As, before the separator and Quit."""
        actions = self.file_menu.actions()
        after_save_as = actions.index(self._files.save_as_action) + 1
        self.file_menu.insertMenu(actions[after_save_as], menu)

    def add_view_action(self, action: QAction) -> None:
        """A View ▸ entry among the panels' toggles, before Reset Layout."""
        self.view_menu.insertAction(self._view_separator, action)

    def add_tool_actions(self, actions: list[QAction]) -> None:
        """Tool buttons after the editor's, behind a separator."""
        self.toolbar.addSeparator()
        self.toolbar.addActions(actions)
