"""The main window: menus, tool bar, status bar and movable dock panels around one document.

Other panels join with `add_dock(title, widget, area, object_name)`; every dock appears in
the View menu and its place is saved with the window layout.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStyle,
    QToolBar,
    QUndoView,
    QWidget,
)

from explorer.core.project import ProjectError, load_project
from explorer.core.spec import NetworkSpec
from explorer.core.summary import format_bytes
from explorer.ui.document import ProjectDocument
from explorer.ui.file_actions import FileActions
from explorer.ui.help_dialogs import show_about, show_layer_reference
from explorer.ui.layer_stack import LayerStackPanel
from explorer.ui.palette import LayerPalette
from explorer.ui.properties import PropertiesPanel
from explorer.ui.recovery import RecoveryStore
from explorer.ui.settings import app_settings, data_dir, settings_list
from explorer.ui.summary_panel import SummaryPanel

DockArea = Qt.DockWidgetArea
_STATE_VERSION = 1


class MainWindow(QMainWindow):
    closing = Signal()  # the window accepted a close: panels stop their threads

    def __init__(self, spec: NetworkSpec | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.document = ProjectDocument(spec, self)
        self.files = FileActions(self.document, self)
        self.recovery = RecoveryStore(self.document, data_dir(), self)
        self.docks: dict[str, QDockWidget] = {}
        self._history: QUndoView | None = None
        self._layout_restored = False
        self._saved_docks: set[str] = set()

        self.stack = LayerStackPanel(self.document)
        self.palette_view = LayerPalette(self.document)
        self.properties = PropertiesPanel(self.document)
        self.summary = SummaryPanel(self.document)

        self.setDockNestingEnabled(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowNestedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
        )
        self._build_menus()
        self.resize(1280, 800)
        left, right = DockArea.LeftDockWidgetArea, DockArea.RightDockWidgetArea
        self.palette_dock = self.add_dock("Layer Palette", self.palette_view, left, "paletteDock")
        self.stack_dock = self.add_dock("Layer Stack", self.stack, left, "stackDock")
        self.splitDockWidget(self.palette_dock, self.stack_dock, Qt.Orientation.Horizontal)
        self.properties_dock = self.add_dock("Properties", self.properties, right, "propertiesDock")
        self.summary_dock = self.add_dock("Summary", self.summary, right, "summaryDock")
        self.splitDockWidget(self.properties_dock, self.summary_dock, Qt.Orientation.Vertical)
        self.resizeDocks(
            [self.palette_dock, self.stack_dock, self.properties_dock],
            [220, 420, 640],
            Qt.Orientation.Horizontal,
        )
        self.resizeDocks(
            [self.properties_dock, self.summary_dock], [360, 380], Qt.Orientation.Vertical
        )

        self._status_params = QLabel()
        self._status_memory = QLabel()
        self._status_errors = QLabel()
        for label in (self._status_params, self._status_memory, self._status_errors):
            label.setContentsMargins(8, 0, 8, 0)
            self.statusBar().addPermanentWidget(label)

        self.document.spec_changed.connect(self._on_document_spec_changed)
        self.document.path_changed.connect(self._on_document_path_changed)
        self.document.clean_changed.connect(self._on_document_clean_changed)
        self.document.edit_refused.connect(self._on_document_edit_refused)
        # Qt moves the current index before the selection on a click: follow both.
        self.stack.view.selectionModel().currentChanged.connect(self._on_stack_current_changed)
        self.stack.view.selectionModel().selectionChanged.connect(self._on_stack_current_changed)
        self.stack.model.modelReset.connect(self._on_stack_current_changed)
        self._on_document_spec_changed()
        self._on_document_path_changed("")
        if self.document.spec.layers:
            self.stack.select_rows([0])
        self.restore_layout()
        self.recovery.start()

    # ---- public API for other panels ----------------------------------------------------

    def add_dock(
        self, title: str, widget: QWidget, area: DockArea, object_name: str
    ) -> QDockWidget:
        """Add a movable, hideable panel; it is listed in the View menu and its place is
        saved with the window layout."""
        dock = QDockWidget(title, self)
        dock.setObjectName(object_name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.view_menu.insertAction(self._view_separator, dock.toggleViewAction())
        self.docks[object_name] = dock
        # A panel added after start-up goes back where the user last left it, else shows.
        if self._layout_restored:
            if object_name in self._saved_docks:
                self.restoreDockWidget(dock)
            else:
                dock.show()
        return dock

    # ---- menus --------------------------------------------------------------------------

    def _build_menus(self) -> None:
        files = self.files
        file_menu = self.file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions([files.new_action, files.open_action])
        file_menu.addMenu(files.recent_menu)
        file_menu.addSeparator()
        file_menu.addActions([files.save_action, files.save_as_action])
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        quit_action.triggered.connect(self.close)

        stack = self.undo_stack = self.document.undo_stack
        edit_menu = self.menuBar().addMenu("&Edit")
        self.undo_action = stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = stack.createRedoAction(self, "&Redo")
        # Ctrl+Y as well, as on Windows and in most editors.
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        edit_menu.addActions([self.undo_action, self.redo_action])
        edit_menu.addSeparator()
        panel = self.stack
        edit_menu.addActions(
            [
                panel.cut_action,
                panel.copy_action,
                panel.paste_action,
                panel.duplicate_action,
                panel.delete_action,
            ]
        )
        edit_menu.addSeparator()
        edit_menu.addAction(panel.select_all_action)
        edit_menu.addSeparator()
        history = edit_menu.addAction("&History")
        history.setShortcut(QKeySequence("Ctrl+H"))
        history.triggered.connect(self.show_history)

        self.view_menu = self.menuBar().addMenu("&View")
        self._view_separator = self.view_menu.addSeparator()
        reset = self.view_menu.addAction("&Reset Layout")
        reset.triggered.connect(self._on_reset_layout_triggered)
        self.menuBar().addMenu(files.templates_menu)

        help_menu = self.menuBar().addMenu("&Help")
        reference = help_menu.addAction("&Layer Reference")
        reference.setShortcut(QKeySequence.StandardKey.HelpContents)
        reference.triggered.connect(self._on_reference_triggered)
        about = help_menu.addAction("&About CNN Explorer")
        about.setMenuRole(QAction.MenuRole.AboutRole)
        about.triggered.connect(self._on_about_triggered)

        toolbar = QToolBar("Main", self)
        toolbar.setObjectName("mainToolBar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        icons = self.style().standardIcon
        pixmaps = QStyle.StandardPixmap
        files.new_action.setIcon(icons(pixmaps.SP_FileIcon))
        files.open_action.setIcon(icons(pixmaps.SP_DialogOpenButton))
        files.save_action.setIcon(icons(pixmaps.SP_DialogSaveButton))
        toolbar.addActions([files.new_action, files.open_action, files.save_action])
        toolbar.addSeparator()
        # Fixed labels: the menu's "Undo Move Conv2D" would make the tool bar jump.
        undo = toolbar.addAction(icons(pixmaps.SP_ArrowBack), "Undo", stack.undo)
        redo = toolbar.addAction(icons(pixmaps.SP_ArrowForward), "Redo", stack.redo)
        undo.setEnabled(stack.canUndo())
        redo.setEnabled(stack.canRedo())
        stack.canUndoChanged.connect(undo.setEnabled)
        stack.canRedoChanged.connect(redo.setEnabled)
        self._toolbar_undo, self._toolbar_redo = undo, redo
        stack.undoTextChanged.connect(self._on_undo_stack_undo_text_changed)
        stack.redoTextChanged.connect(self._on_undo_stack_redo_text_changed)
        toolbar.addSeparator()
        panel.duplicate_action.setIcon(icons(pixmaps.SP_FileDialogNewFolder))
        panel.delete_action.setIcon(icons(pixmaps.SP_TrashIcon))
        toolbar.addActions([panel.duplicate_action, panel.delete_action])
        self.addToolBar(toolbar)
        self.toolbar = toolbar

    @Slot(str)
    def _on_undo_stack_undo_text_changed(self, text: str) -> None:
        self._toolbar_undo.setToolTip(f"Undo {text}".strip())

    @Slot(str)
    def _on_undo_stack_redo_text_changed(self, text: str) -> None:
        self._toolbar_redo.setToolTip(f"Redo {text}".strip())

    # ---- layout persistence -------------------------------------------------------------

    def _default_state(self) -> QByteArray:
        return self.saveState(_STATE_VERSION)

    def restore_layout(self) -> None:
        self._initial_state = self._default_state()
        settings = app_settings()
        geometry = settings.value("window/geometry")
        state = settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state, _STATE_VERSION)
            self._saved_docks = set(settings_list(settings.value("window/docks", [])))
        self._layout_restored = True

    def save_layout(self) -> None:
        settings = app_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState(_STATE_VERSION))
        settings.setValue("window/docks", sorted(self.docks))
        settings.sync()

    @Slot()
    def _on_reset_layout_triggered(self) -> None:
        self.restoreState(self._initial_state, _STATE_VERSION)
        for dock in self.docks.values():
            dock.show()

    # ---- reacting to the document -------------------------------------------------------

    @Slot()
    def _on_document_spec_changed(self) -> None:
        analysis = self.document.analysis
        errors = len(analysis.errors)
        warnings = len(analysis.warnings)
        self._status_params.setText(f"Params: {analysis.params:,}")
        self._status_memory.setText(f"Forward memory/image: {format_bytes(analysis.forward_bytes)}")
        if errors:
            plural = "s" if errors != 1 else ""
            text = f"<span style='color:#d93025'><b>{errors} error{plural}</b></span>"
        else:
            text = "No errors"
        if warnings:
            text += f", {warnings} warning{'s' if warnings != 1 else ''}"
        self._status_errors.setText(text)

    @Slot(str)
    def _on_document_path_changed(self, path: str) -> None:
        name = Path(path).name if path else "Untitled"
        self.setWindowTitle(f"{name}[*] — CNN Explorer")
        self.setWindowFilePath(path)
        self.setWindowModified(not self.document.is_clean)

    @Slot(bool)
    def _on_document_clean_changed(self, clean: bool) -> None:
        self.setWindowModified(not clean)

    @Slot()
    def _on_document_edit_refused(self) -> None:
        self.statusBar().showMessage(
            "The network cannot change while it trains: stop training to edit it.", 5000
        )

    @Slot()
    def _on_stack_current_changed(self) -> None:
        self.properties.show_row(self.stack.current_row())

    @Slot()
    def show_history(self) -> QUndoView:
        if self._history is None:
            self._history = QUndoView(self.document.undo_stack)
            self._history.setEmptyLabel("<opened>")
            self._history.setObjectName("historyView")
            self.add_dock("History", self._history, DockArea.RightDockWidgetArea, "historyDock")
        dock = self.docks["historyDock"]
        dock.show()
        dock.raise_()
        return self._history

    @Slot()
    def _on_reference_triggered(self) -> None:
        self._reference = show_layer_reference(self)

    @Slot()
    def _on_about_triggered(self) -> None:
        show_about(self)

    # ---- closing and recovery -----------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.files.maybe_save():
            event.ignore()
            return
        self.save_layout()
        self.recovery.timer.stop()
        self.recovery.discard()
        event.accept()
        self.closing.emit()

    def offer_recovery(self) -> bool:
        """After an unclean exit, offer the autosaved project; True when it was restored."""
        pending = self.recovery.pending()
        self.recovery.claim()
        if pending is None:
            return False
        spec, path = pending
        answer = QMessageBox.question(
            self,
            "Recover Unsaved Work",
            f"CNN Explorer did not close cleanly. Recover the unsaved changes to "
            f"“{Path(path).name if path else spec.name}”?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        if answer != QMessageBox.StandardButton.Yes:
            self.recovery.discard()
            return False
        # Restored work is unsaved: an edit from the file's state, so the window shows [*].
        base = self.document.spec
        if path:
            try:
                base = load_project(path)
            except ProjectError:
                path = None
        self.document.reset(base, path)
        self.document.edit(spec, "Recover unsaved changes")
        return True
