"""File ▸ New, Open, Save, Save As, recent files and templates, with the prompt before
unsaved changes are discarded. Project files are read and written by explorer.core.project."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox, QWidget

from explorer.core.project import ProjectError, load_project, save_project
from explorer.core.spec import NetworkSpec
from explorer.core.templates import load_template, template_names
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.settings import app_settings, settings_list
from explorer.ui.common.tasks import TaskFailed, TaskFinished, TaskRunner

log = logging.getLogger(__name__)

MAX_RECENT = 8
_FILTER = "CNN Explorer projects (*.json);;All files (*)"
_OPEN_FILTER = "CNN Explorer projects (*.json);;ONNX models (*.onnx);;All files (*)"

#: Writes the project to a path with its trained weights and returns True, or returns
#: False (writing nothing) when there are no weights that fit it.
WeightsSaver = Callable[[NetworkSpec, str], bool]


class FileActions(QObject):
    """Owns the File menu's actions for one window."""

    def __init__(self, document: ProjectDocument, window: QWidget) -> None:
        super().__init__(window)
        self.document = document
        self.window = window
        self._weights_saver: WeightsSaver | None = None
        self._weights_adopter: Callable[[NetworkSpec, dict[str, Any]], None] | None = None
        self.importer = TaskRunner("onnx-import", self)
        self.importer.finished.connect(self._on_importer_finished)
        self.importer.failed.connect(self._on_importer_failed)
        self.new_action = self._action("&New", QKeySequence.StandardKey.New, self.new)
        self.open_action = self._action("&Open…", QKeySequence.StandardKey.Open, self.open)
        self.save_action = self._action("&Save", QKeySequence.StandardKey.Save, self.save)
        self.save_as_action = self._action(
            "Save &As…", QKeySequence.StandardKey.SaveAs, self.save_as
        )
        self.recent_menu = QMenu("Open &Recent", window)
        self.recent_menu.aboutToShow.connect(self._on_recent_menu_about_to_show)
        self.templates_menu = QMenu("&Templates", window)
        for name in template_names():
            action = self.templates_menu.addAction(name)
            action.triggered.connect(partial(self.open_template, name))

    def set_weights_saver(self, saver: WeightsSaver) -> None:
        """Save with `saver` from now on: the workbench's, once torch is loaded."""
        self._weights_saver = saver

    def _action(self, text: str, key: QKeySequence.StandardKey, slot: object) -> QAction:
        action = QAction(text, self.window)
        action.setShortcut(key)
        action.triggered.connect(slot)
        return action

    # ---- prompts ------------------------------------------------------------------------

    def maybe_save(self) -> bool:
        """Ask before discarding unsaved changes; False when the user cancels."""
        if self.document.is_clean:
            return True
        name = Path(self.document.path).name if self.document.path else "Untitled"
        answer = QMessageBox.warning(
            self.window,
            "Unsaved Changes",
            f"Save the changes to “{name}” before closing it?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    # ---- actions ------------------------------------------------------------------------

    @Slot()
    def new(self) -> bool:
        if not self.maybe_save():
            return False
        self.document.reset(NetworkSpec())
        return True

    @Slot()
    def open(self) -> bool:
        if not self.maybe_save():
            return False
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Open Project", self._folder(), _OPEN_FILTER
        )
        return bool(path) and self.open_path(path, prompt=False)

    def open_path(self, path: str, *, prompt: bool = True) -> bool:
        """Open a project file; on error show the core's message and keep the current one."""
        if prompt and not self.maybe_save():
            return False
        if path.lower().endswith(".onnx"):
            return self._import_onnx(path)
        try:
            spec = load_project(path)
        except ProjectError as error:
            log.warning("cannot open %s: %s", path, error)
            QMessageBox.critical(self.window, "Cannot Open Project", str(error))
            return False
        self.document.reset(spec, str(Path(path).resolve()))
        self.remember(str(Path(path).resolve()))
        return True

    def set_weights_adopter(self, adopter: Callable[[NetworkSpec, dict[str, Any]], None]) -> None:
        """Who takes the weights of an imported model (the workbench's trained weights)."""
        self._weights_adopter = adopter

    def _import_onnx(self, path: str) -> bool:
        """Read an ONNX model off the GUI thread; it opens unsaved, with its weights."""
        from explorer.core.onnx_import import import_onnx

        self._status(f"Importing {Path(path).name}…")
        self.importer.invalidate()  # only the latest file counts
        self.importer.start(lambda control: import_onnx(path))
        return True

    @Slot(object)
    def _on_importer_finished(self, result: TaskFinished[Any]) -> None:
        imported = result.value
        self.document.reset(imported.spec)
        if self._weights_adopter is not None:
            self._weights_adopter(imported.spec, imported.state_dict)
        self._status(f"Imported {imported.spec.name} with its weights (not saved yet)", 6000)

    @Slot(object)
    def _on_importer_failed(self, failure: TaskFailed) -> None:
        self._status("")
        QMessageBox.critical(self.window, "Cannot Import Model", failure.message)

    def _status(self, text: str, timeout: int = 0) -> None:
        if isinstance(self.window, QMainWindow):
            self.window.statusBar().showMessage(text, timeout)

    def open_template(self, name: str) -> bool:
        if not self.maybe_save():
            return False
        try:
            spec = load_template(name)
        except ProjectError as error:
            QMessageBox.critical(self.window, "Cannot Open Template", str(error))
            return False
        self.document.reset(spec)
        return True

    @Slot()
    def save(self) -> bool:
        if self.document.analysing:  # a network being opened: its layers are not in yet
            self.document.edit_refused.emit()
            return False
        if self.document.path is None:
            return self.save_as()
        return self.save_to(self.document.path)

    @Slot()
    def save_as(self) -> bool:
        if self.document.analysing:
            self.document.edit_refused.emit()
            return False
        suggested = self.document.path or str(
            Path(self._folder()) / f"{_slug(self.document.spec.name)}.json"
        )
        path, _ = QFileDialog.getSaveFileName(self.window, "Save Project", suggested, _FILTER)
        if not path:
            return False
        if not Path(path).suffix:
            path += ".json"
        return self.save_to(path)

    def save_to(self, path: str) -> bool:
        self.document.settle()  # an edit of a deep network still being worked out: with it
        try:
            # With trained weights that fit the network, they are saved beside the project.
            saver = self._weights_saver
            if saver is None or not saver(self.document.spec, path):
                # Saving the open file again keeps the weights it names when they still fit
                # (they may not have finished loading yet).
                same_file = self.document.path is not None and _same_path(path, self.document.path)
                save_project(self.document.spec, path, keep_weights=same_file)
        except Exception as error:  # every failure of a save is reported, not only OSError
            if not isinstance(error, OSError | ProjectError):
                log.exception("saving %s failed", path)
            strerror = error.strerror if isinstance(error, OSError) else None
            reason = strerror or str(error) or type(error).__name__
            QMessageBox.critical(
                self.window,
                "Cannot Save Project",
                f"{path}: {reason}\n\nThe project was not saved: the file on disk, if any, "
                "is as it was.",
            )
            return False
        resolved = str(Path(path).resolve())
        self.document.mark_saved(resolved)
        self.remember(resolved)
        return True

    # ---- recent files -------------------------------------------------------------------

    def recent_files(self) -> list[str]:
        return settings_list(app_settings().value("recentFiles", []))

    def remember(self, path: str) -> None:
        files = [path] + [p for p in self.recent_files() if p != path]
        app_settings().setValue("recentFiles", files[:MAX_RECENT])

    def _folder(self) -> str:
        if self.document.path:
            return str(Path(self.document.path).parent)
        recent = self.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    @Slot()
    def _on_recent_menu_about_to_show(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for number, path in enumerate(files, start=1):
            action = self.recent_menu.addAction(f"&{number} {Path(path).name}")
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(partial(self.open_path, path))
        if not files:
            self.recent_menu.addAction("No recent files").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Menu").triggered.connect(
                self._on_clear_recent_triggered
            )

    @Slot()
    def _on_clear_recent_triggered(self) -> None:
        app_settings().setValue("recentFiles", [])


def _same_path(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _slug(name: str, limit: int = 100) -> str:
    """A file name stem for a project name, short enough for any file system."""
    text = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    slug = "-".join(part for part in text.split("-") if part)[:limit].strip("-")
    return slug or "untitled"
