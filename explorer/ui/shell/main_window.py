"""The main window: menus, tool bar, status bar and movable dock panels around one document.

Other panels join with `add_dock(title, widget, area, object_name)`; every dock appears in
the View menu and its place is saved with the window layout. The menus and the tool bar are
`menus` (`window_menus.WindowMenus`), where later panels add theirs. Panels added after start-up
(training, inspect...) are placed between `begin_late_docks()` and `finish_late_docks()`:
the saved layout is applied again once they exist, since `restoreState()` only places docks
that exist when it runs.

Every way out of the window — closing it, `QApplication.quit()`, Quit in the crash dialog —
goes through `shutdown()`, which emits `closing` once: panels stop and join their threads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QCoreApplication, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QUndoView,
    QWidget,
)

from explorer.core.paths import LayerPath
from explorer.core.project import ProjectError, load_project
from explorer.core.spec import NetworkSpec
from explorer.core.summary import format_bytes
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.settings import app_settings, data_dir, settings_list
from explorer.ui.editor.palette import LayerPalette
from explorer.ui.editor.properties import PropertiesPanel
from explorer.ui.editor.stack import LayerStackPanel
from explorer.ui.editor.summary import SummaryPanel
from explorer.ui.shell.file_actions import FileActions
from explorer.ui.shell.heap import HeapKeeper
from explorer.ui.shell.help_dialogs import show_about, show_layer_reference
from explorer.ui.shell.recovery import RecoveryStore
from explorer.ui.shell.screen_fit import available_geometry, fit_into_screen, fitting
from explorer.ui.shell.window_menus import WindowMenus

DockArea = Qt.DockWidgetArea
# 2: every panel is in the saved state (version 1 saved the late panels hidden).
_STATE_VERSION = 2
#: The first-run window size, made smaller to fit a smaller screen.
DEFAULT_SIZE = QSize(1280, 800)
#: Below this the panels no longer fit side by side.
MINIMUM_SIZE = QSize(760, 500)


class MainWindow(QMainWindow):
    closing = Signal()  # the window is going away (close, quit, crash): panels stop threads

    def __init__(self, spec: NetworkSpec | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        # A deep network is analysed off the GUI thread; the window shows it when done.
        self.document = ProjectDocument(spec, self, analyse_in_background=True)
        self.files = FileActions(self.document, self)
        self.recovery = RecoveryStore(self.document, data_dir(), self)
        self.heap = HeapKeeper(self.document, self)
        self.docks: dict[str, QDockWidget] = {}
        self._history: QUndoView | None = None
        self._layout_restored = False
        self._saved_docks: set[str] = set()
        self._shut_down = False
        #: Asked in turn before the window closes; any one returning False keeps it open.
        self.close_guards: list[Callable[[], bool]] = []

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
        self.menus = menus = WindowMenus(self, self.files, self.document.undo_stack, self.stack)
        menus.quit_action.triggered.connect(self.close)
        menus.history_action.triggered.connect(self.show_history)
        menus.reset_layout_action.triggered.connect(self._on_reset_layout_triggered)
        menus.reference_action.triggered.connect(self._on_reference_triggered)
        menus.about_action.triggered.connect(self._on_about_triggered)
        self.document.undo_stack.undoTextChanged.connect(self._on_undo_stack_undo_text_changed)
        self.document.undo_stack.redoTextChanged.connect(self._on_undo_stack_redo_text_changed)
        self.setMinimumSize(MINIMUM_SIZE)
        self.resize(fitting(DEFAULT_SIZE, available_geometry(self, DEFAULT_SIZE)))
        left, right = DockArea.LeftDockWidgetArea, DockArea.RightDockWidgetArea
        self.palette_dock = self.add_dock("Layer Palette", self.palette_view, left, "paletteDock")
        self.stack_dock = self.add_dock("Layer Stack", self.stack, left, "stackDock")
        self.splitDockWidget(self.palette_dock, self.stack_dock, Qt.Orientation.Horizontal)
        self.properties_dock = self.add_dock("Properties", self.properties, right, "propertiesDock")
        self.summary_dock = self.add_dock("Summary", self.summary, right, "summaryDock")
        self.splitDockWidget(self.properties_dock, self.summary_dock, Qt.Orientation.Vertical)
        # Shares of the first-run window (220 : 420 : 640 at 1280 wide), so a smaller screen
        # gets the same proportions rather than a squeezed palette.
        width, height = self.width(), self.height()
        self.resizeDocks(
            [self.palette_dock, self.stack_dock, self.properties_dock],
            [width * 11 // 64, width * 21 // 64, width * 32 // 64],
            Qt.Orientation.Horizontal,
        )
        self.resizeDocks(
            [self.properties_dock, self.summary_dock],
            [height * 36 // 74, height * 38 // 74],
            Qt.Orientation.Vertical,
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
        self.document.analysing_changed.connect(self._on_document_analysing_changed)
        # Qt moves the current index before the selection on a click: follow both.
        self.stack.view.selectionModel().currentChanged.connect(self._on_stack_current_changed)
        self.stack.view.selectionModel().selectionChanged.connect(self._on_stack_current_changed)
        self.stack.model.modelReset.connect(self._on_stack_current_changed)
        self._on_document_spec_changed()
        self._on_document_path_changed("")
        if self.document.spec.layers:
            # A turn after the window's first: Properties builds the layer's form then.
            self.document.later_selection.request(self.document.spec, [LayerPath.top(0)])
        self.restore_layout()
        self._on_document_analysing_changed(bool(self.document.analysing))
        self.recovery.start()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._on_application_about_to_quit)

    # ---- public API for other panels ----------------------------------------------------

    def add_dock(
        self,
        title: str,
        widget: QWidget,
        area: DockArea,
        object_name: str,
        *,
        dock_type: type[QDockWidget] = QDockWidget,
    ) -> QDockWidget:
        """Add a movable, hideable panel; it is listed in the View menu and its place is
        saved with the window layout. `dock_type`: a QDockWidget subclass to make (one
        whose panel is built later, say)."""
        dock = dock_type(title, self)
        dock.setObjectName(object_name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.menus.add_view_action(dock.toggleViewAction())
        self.docks[object_name] = dock
        # A panel added after start-up goes back where the user last left it, else shows.
        if self._layout_restored and not self._placing_late_docks:
            if object_name in self._saved_docks:
                self.restoreDockWidget(dock)
            else:
                dock.show()
        return dock

    # ---- layout persistence -------------------------------------------------------------

    _placing_late_docks = False
    _shown_once = False
    _geometry_restored = False

    def restore_layout(self) -> None:
        """Apply the saved geometry and dock layout (first run: keep the default one)."""
        self._first_run_state = self.saveState(_STATE_VERSION)
        self._first_run_docks = set(self.docks)
        settings = app_settings()
        geometry = settings.value("window/geometry")
        state = settings.value("window/state")
        self._geometry_restored = isinstance(geometry, QByteArray) and self.restoreGeometry(
            geometry
        )
        self._saved_state = state if isinstance(state, QByteArray) else None
        if self._saved_state is not None and self.restoreState(self._saved_state, _STATE_VERSION):
            self._saved_docks = set(settings_list(settings.value("window/docks", [])))
        else:
            self._saved_state = None
        self._layout_restored = True

    def begin_late_docks(self) -> None:
        """Panels added from now until `finish_late_docks()` are placed relative to the
        first-run layout, which then becomes the layout Reset Layout returns to."""
        self._placing_late_docks = True
        self.restoreState(self._first_run_state, _STATE_VERSION)

    def finish_late_docks(self) -> None:
        """Every panel exists: remember the first-run layout, then apply the saved one."""
        self._placing_late_docks = False
        for name, dock in self.docks.items():
            if name not in self._first_run_docks:
                dock.show()  # a dock added to a shown window stays hidden until laid out
        self._first_run_state = self.saveState(_STATE_VERSION)
        self._first_run_docks = set(self.docks)
        if self._saved_state is not None:
            self.restoreState(self._saved_state, _STATE_VERSION)

    def save_layout(self) -> None:
        settings = app_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState(_STATE_VERSION))
        settings.setValue("window/docks", sorted(self.docks))
        settings.sync()

    def reset_layout(self) -> None:
        """Back to the first-run layout, with the window inside the screen."""
        self.setWindowState(Qt.WindowState.WindowNoState)
        for dock in self.docks.values():
            if dock.isFloating():
                dock.setFloating(False)
        self.fit_into_screen()
        self.restoreState(self._first_run_state, _STATE_VERSION)
        for name, dock in self.docks.items():
            if name not in self._first_run_docks:
                dock.hide()  # opened later (History): not part of the first-run layout

    @Slot()
    def fit_into_screen(self) -> None:
        """The first-run size, or less on a smaller screen; wholly on the screen."""
        fit_into_screen(self, DEFAULT_SIZE)

    @Slot()
    def _fit_if_outside(self) -> None:
        if not available_geometry(self, DEFAULT_SIZE).contains(self.frameGeometry()):
            fit_into_screen(self, self.size())

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            if not self._geometry_restored:
                # The frame's size is known once the window is on the screen, and under
                # some window managers only a moment later: fit again then.
                QTimer.singleShot(0, self.fit_into_screen)
                QTimer.singleShot(500, self._fit_if_outside)

    @Slot()
    def _on_reset_layout_triggered(self) -> None:
        self.reset_layout()

    # ---- reacting to the document -------------------------------------------------------

    @Slot()
    def _on_document_spec_changed(self) -> None:
        analysis = self.document.analysis
        errors = len(analysis.errors)
        warnings = len(analysis.warnings)
        self._status_params.setText(f"Params: {analysis.params:,}")
        self._status_memory.setText(f"Forward memory/image: {format_bytes(analysis.forward_bytes)}")
        if self.document.analysing:
            text = ""  # the placeholder's errors are not the network's
        elif errors:
            plural = "s" if errors != 1 else ""
            text = f"<span style='color:#d93025'><b>{errors} error{plural}</b></span>"
        else:
            text = "No errors"
        if warnings and not self.document.analysing:
            text += f", {warnings} warning{'s' if warnings != 1 else ''}"
        self._status_errors.setText(text)

    @Slot(str)
    def _on_document_path_changed(self, path: str) -> None:
        # (a file being opened in the background is named already: it is what the window
        # shows, the network it had until then is gone)
        path = self.document.analysing_path or path
        name = Path(path).name if path else "Untitled"
        self.setWindowTitle(f"{name}[*] — CNN Explorer")
        self.setWindowFilePath(path)
        self.setWindowModified(not self.document.is_clean)

    @Slot(bool)
    def _on_document_clean_changed(self, clean: bool) -> None:
        self.setWindowModified(not clean)

    @Slot()
    def _on_document_edit_refused(self) -> None:
        if self.document.analysing:
            self.statusBar().showMessage(
                f"{_analysing_text(self.document.analysing)} the network can be edited and "
                "saved once it is shown."
            )
            return
        self.statusBar().showMessage(
            "The network cannot change while it trains: stop training to edit it.", 5000
        )

    @Slot(bool)
    def _on_document_analysing_changed(self, analysing: bool) -> None:
        text = _analysing_text(self.document.analysing) if analysing else None
        self._on_document_path_changed(self.document.path or "")
        self.stack.view.set_empty_text(text)
        self._on_document_spec_changed()
        if text is not None:
            self.statusBar().showMessage(text)
        else:
            self.statusBar().clearMessage()

    @Slot(str)
    def _on_undo_stack_undo_text_changed(self, text: str) -> None:
        self.menus.toolbar_undo.setToolTip(f"Undo {text}".strip())

    @Slot(str)
    def _on_undo_stack_redo_text_changed(self, text: str) -> None:
        self.menus.toolbar_redo.setToolTip(f"Redo {text}".strip())

    @Slot()
    def _on_stack_current_changed(self) -> None:
        self.properties.show_layer(self.stack.current_path())

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
        if self._shut_down:
            event.accept()
            return
        if not all(guard() for guard in list(self.close_guards)) or not self.files.maybe_save():
            event.ignore()
            return
        self.save_layout()
        self.recovery.close()
        event.accept()
        self.shutdown()

    @Slot()
    def _on_application_about_to_quit(self) -> None:
        # QApplication.quit() (or Quit in the crash dialog) ends the program without a close:
        # keep the unsaved work for the next start, and the layout as it is now.
        if self._shut_down:
            return
        self.recovery.save_now()
        self.save_layout()
        self.shutdown()

    @property
    def is_shut_down(self) -> bool:
        return self._shut_down

    def shutdown(self) -> None:
        """Stop everything the window's panels run in the background and wait for it; nothing
        starts afterwards. Safe to call more than once."""
        if self._shut_down:
            return
        self._shut_down = True
        self.recovery.stop()  # and waits for a recovery file being written
        self.document.stop_analysing()
        self.document.stop_editing()  # an edit still being worked out is dropped
        self.closing.emit()
        self.heap.stop()
        # Floating panels are windows of their own: they go with this one (the layout has
        # been saved by now, so they still come back floating next time).
        for dock in self.findChildren(QDockWidget):
            if dock.isFloating():
                dock.hide()

    def offer_recovery(self) -> bool:
        """After an unclean exit, offer the autosaved project; True when it was restored
        (a deep one is, once analysed: its autosave is forgotten only then)."""
        pending = self.recovery.pending()
        if pending is None:
            return False
        if not self._ask_to_recover(pending.spec, pending.path):
            pending.forget()  # declined
            return False
        # Restored work is unsaved: an edit from the file's state, so the window shows [*].
        path = pending.path
        base = self.document.spec
        if path:
            try:
                base = load_project(path)
            except ProjectError:
                path = None
        self.document.reset(base, path)
        # A deep network is analysed in the background, the opened one and then the
        # recovered one: the autosave is forgotten once the recovered work is in.
        self.document.when_analysed(lambda: self._recover(pending.spec, pending.forget))
        return True

    def _ask_to_recover(self, spec: NetworkSpec, path: str | None) -> bool:
        answer = QMessageBox.question(
            self,
            "Recover Unsaved Work",
            f"CNN Explorer did not close cleanly. Recover the unsaved changes to "
            f"“{Path(path).name if path else spec.name}”?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _recover(self, spec: NetworkSpec, forget: Callable[[], None]) -> None:
        self.document.edit_analysed(spec, "Recover unsaved changes")
        self.document.when_analysed(lambda: self._recovered(forget))

    def _recovered(self, forget: Callable[[], None]) -> None:
        self.recovery.save_now()  # now this window's own, before the old file goes
        forget()


def _analysing_text(layers: int) -> str:
    return f"Analysing {layers:,} layers…"
