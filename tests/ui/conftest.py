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
from explorer.ui import settings
from explorer.ui.document import ProjectDocument
from explorer.ui.main_window import MainWindow


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
