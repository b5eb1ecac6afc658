"""UI test fixtures: every test keeps settings and recovery files under its tmp_path, and
message boxes are captured instead of blocking."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from explorer.core.templates import load_template
from explorer.ui.common import settings
from explorer.ui.common.clipboard import release_clipboard
from explorer.ui.common.document import ProjectDocument
from explorer.ui.editor.mime import LAYERS_MIME
from explorer.ui.shell.main_window import MainWindow


@pytest.fixture(autouse=True, scope="session")
def clipboard_released_at_the_end(qapp: Any) -> Iterator[None]:
    """The application's own quit step, which tests never reach: without it, layers left on
    the clipboard by a Copy test crash the process as it exits (see ui/common/clipboard.py)."""
    yield
    release_clipboard([LAYERS_MIME])


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "config"
    settings.use_location(folder)
    yield folder
    settings.use_location(None)


@dataclass
class MessageBoxes:
    """Records every QMessageBox shown and answers with `answer`."""

    answer: QMessageBox.StandardButton = QMessageBox.StandardButton.Discard
    shown: list[tuple[str, str, str]] = field(default_factory=list)

    def titles(self) -> list[str]:
        return [title for _, title, _ in self.shown]


@pytest.fixture(autouse=True)
def message_boxes(monkeypatch: pytest.MonkeyPatch) -> MessageBoxes:
    boxes = MessageBoxes()

    def fake(kind: str) -> Any:
        def show(parent: Any, title: str, text: str, *args: Any, **kwargs: Any) -> Any:
            boxes.shown.append((kind, title, text))
            return boxes.answer

        return staticmethod(show)

    for kind in ("critical", "warning", "question", "information", "about"):
        monkeypatch.setattr(QMessageBox, kind, fake(kind))
    return boxes


@pytest.fixture
def document() -> ProjectDocument:
    return ProjectDocument(load_template("keras-mnist"))


@pytest.fixture
def window(qtbot: Any, message_boxes: MessageBoxes) -> Iterator[MainWindow]:
    main = MainWindow(load_template("keras-mnist"))
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    yield main
    main.recovery.timer.stop()
    main.document.undo_stack.setClean()


def workbench_in_window(qtbot: Any, spec: Any, runs_root: Path) -> Iterator[Any]:
    """For fixtures: a shown main window with the workbench installed (no warm-up), runs
    under `runs_root`; shut down and left clean afterwards."""
    from explorer.ui.shell.workbench import Workbench

    main = MainWindow(spec)
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    workbench = Workbench(main, runs_root=runs_root, warm_up=False)
    yield workbench
    workbench.shutdown()
    main.recovery.timer.stop()
    main.document.undo_stack.setClean()


def tick_run(panel: Any, path: Path, ticked: bool = True) -> None:
    """Tick (or untick) the Runs panel's row of the run in `path`, as a click on its box does."""
    panel.set_ticked(path, ticked)


@pytest.fixture(autouse=True)
def no_running_threads() -> Iterator[None]:
    """Fail a test that leaves a QThread running (it would outlive its objects and crash
    with "QThread: Destroyed while thread is still running")."""
    yield
    import gc

    from PySide6.QtCore import QCoreApplication, QThread
    from shiboken6 import isValid

    app = QCoreApplication.instance()
    main = app.thread() if app is not None else None
    gc.collect()
    running = [
        t
        for t in gc.get_objects()
        if issubclass(type(t), QThread) and t is not main and isValid(t) and t.isRunning()
    ]
    for thread in running:  # end them so later tests are not affected, then fail this one
        thread.requestInterruption()
        thread.quit()
        thread.wait(10_000)
    if running:
        names = ", ".join(t.objectName() or type(t).__name__ for t in running)
        pytest.fail(f"{len(running)} QThread(s) left running: {names}")
