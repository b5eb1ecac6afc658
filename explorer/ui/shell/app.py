"""Start the desktop application.

Nothing on the way to the first shown window may import torch (cold start ≤ 1 s); panels
that need it import it when they are first used.
"""

from __future__ import annotations

import gc
import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QTimer, Slot
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from explorer import __version__
from explorer.core.project import ProjectError, load_project
from explorer.core.templates import DEFAULT_TEMPLATE, load_template
from explorer.ui.common.clipboard import release_clipboard
from explorer.ui.common.settings import APPLICATION, ORGANIZATION
from explorer.ui.editor.mime import LAYERS_MIME
from explorer.ui.shell.main_window import MainWindow
from explorer.ui.shell.pyqtgraph_setup import configure_pyqtgraph
from explorer.ui.shell.wheel_guard import install_wheel_guard

if TYPE_CHECKING:
    from explorer.ui.shell.workbench import Workbench

log = logging.getLogger(__name__)

EXIT_AFTER_CRASH = 1  # the exit status after Quit in the unexpected-error dialog


def make_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication with the names QSettings uses."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    app.setApplicationDisplayName("CNN Explorer")
    install_wheel_guard(app)
    app.aboutToQuit.connect(lambda: release_clipboard([LAYERS_MIME]))
    return app


class _AfterFirstPaint(QObject):
    """Runs start-up work that may be slow (pyqtgraph, the workbench, dialogs) once the
    window has painted, so the user sees the window first: one task per turn of the loop
    (a timer's; zero-time single shots are posted calls that all run in one turn)."""

    def __init__(self, window: QWidget, tasks: list[Callable[[], object]]) -> None:
        super().__init__(window)
        self._tasks = tasks
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._on_timer_timeout)
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and self._tasks:
            watched.removeEventFilter(self)
            self._timer.start()
        return False

    @Slot()
    def _on_timer_timeout(self) -> None:
        if self._tasks:
            self._tasks.pop(0)()
        if self._tasks:
            self._timer.start()


def open_main_window(path: str | None) -> MainWindow:
    """Show the main window with the project at `path` (or the default template).

    A file that cannot be opened leaves the default project in place and shows the error.
    """
    window = MainWindow(load_template(DEFAULT_TEMPLATE))
    problem: str | None = None
    if path is not None:
        try:
            window.document.reset(load_project(path), str(Path(path).resolve()))
            window.files.remember(str(Path(path).resolve()))
        except ProjectError as error:
            problem = str(error)

    def workbench_then_dialogs() -> None:
        # The dialogs come with the workbench, in its turn: what a dialog's answer restores
        # goes to a window with every dock in place.
        start_workbench(window)
        if problem is not None:
            QMessageBox.critical(window, "Cannot Open Project", problem)
        # Offered even when the file failed to open: an earlier crash's work must not be lost.
        if not window.is_shut_down:
            window.offer_recovery()

    # A child of the window: lives as long as it.
    _AfterFirstPaint(window, [configure_pyqtgraph, workbench_then_dialogs])
    window.show()
    return window


def start_workbench(window: MainWindow) -> Workbench | None:
    """Add the panels that need torch to `window`: the workbench, the window's child
    named "workbench"; None when the window has shut down.

    Imports torch and pyqtgraph, so it waits until the window has painted. A window that
    was closed (or an application that quit) before then gets no panels, and no threads."""
    if window.is_shut_down:
        return None
    from explorer.ui.shell.workbench import Workbench

    workbench = Workbench(window)
    keep_startup_out_of_collections()
    return workbench


def keep_startup_out_of_collections() -> None:
    """Everything made so far lives as long as the program: the modules imported (torch's,
    Qt's and numpy's among them, some 200,000 objects) and the window. The cyclic
    collector need not walk them again: a full collection over them takes ~90 ms with the
    interpreter held, whichever thread starts it (the capture thread building a model of
    thousands of layers, say), and the window cannot answer meanwhile."""
    gc.freeze()


def install_excepthook(window: MainWindow | None = None) -> None:
    """Show unexpected errors in a dialog (and the log) instead of dying silently."""

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        log.error("unexpected error:\n%s", text)
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        box = QMessageBox(window)
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle("Unexpected Error")
        box.setText(f"Something went wrong: {value}")
        box.setInformativeText(
            "Your project is still open; saving it now is a good idea. Quit keeps your "
            "unsaved changes for the next start."
        )
        box.setDetailedText(text)
        box.addButton("Continue", QMessageBox.ButtonRole.AcceptRole)
        quit_button = box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
        box.exec()
        if box.clickedButton() is quit_button:
            # aboutToQuit runs the window's shutdown: threads joined, unsaved work kept.
            QApplication.exit(EXIT_AFTER_CRASH)

    sys.excepthook = hook


def run_app(path: str | None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = make_application()
    window = open_main_window(path)
    install_excepthook(window)
    return app.exec()
