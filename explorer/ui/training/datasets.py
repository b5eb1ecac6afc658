"""The dataset picker, and downloads as a background task with progress and cancel.

Cancel sets the task's stop token, whose event the core's downloader watches: it stops at
the next chunk, or at once while waiting to retry, and keeps the partial file, so the next
download resumes it.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from explorer.ui.common.tasks import (
    TaskControl,
    TaskFailed,
    TaskFinished,
    TaskProgress,
    TaskRunner,
)

if TYPE_CHECKING:
    from explorer.core.data import DownloadProgress

log = logging.getLogger(__name__)


def _item_text(title: str, label: str) -> str:
    return f"{title} ({label})"


def _folder_text(name: str, label: str) -> str:
    path = Path(name[len(FOLDER_PREFIX) :])
    return f"{path.name or path}/ ({label})"


def download(name: str, data_dir: Path | None, control: TaskControl) -> str:
    """The download task: "" when done, "cancelled", or why it failed (DatasetError)."""
    from explorer.core.data import DatasetError, DownloadCancelled, download_dataset

    try:
        download_dataset(
            name, data_dir=data_dir, progress=control.report, cancel=control.stop_event
        )
    except DownloadCancelled:
        return "cancelled"
    except DatasetError as error:
        return str(error)
    return ""


class DatasetDownloader(QObject):
    """One download at a time; `progressed(fraction, text)` and `finished(name, error)`."""

    progressed = Signal(float, str)  # fraction in 0..1 (-1: unknown), text for the user
    finished = Signal(str, str)  # name, "" on success, "cancelled", or the error message

    def __init__(self, data_dir: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data_dir = data_dir
        self._name = ""  # the dataset being downloaded, if any
        self._runner = TaskRunner("download", self)
        self._runner.progressed.connect(self._on_runner_progressed)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)

    @property
    def busy(self) -> bool:
        return bool(self._name)

    def start(self, name: str) -> bool:
        if self._name or self._runner.is_shut_down:
            return False
        self._name = name
        self._runner.start(partial(download, name, self.data_dir))
        return True

    @Slot()
    def cancel(self) -> None:
        self._runner.request_stop()

    def shutdown(self) -> None:
        """Cancel and join the download (the partial file is kept for a later resume)."""
        self._runner.shutdown()
        self._name = ""

    @Slot(object)
    def _on_runner_progressed(self, progress: TaskProgress[DownloadProgress]) -> None:
        report = progress.value
        fraction = report.fraction
        size = f"{report.done / 1e6:.1f}"
        size += f" of {report.total / 1e6:.1f} MB" if report.total else " MB"
        text = f"{report.filename} ({report.file_index + 1}/{report.file_count}): {size}"
        self.progressed.emit(-1.0 if fraction is None else float(fraction), text)

    @Slot(object)
    def _on_runner_finished(self, result: TaskFinished[str]) -> None:
        self._end(result.value)

    @Slot(object)
    def _on_runner_failed(self, failure: TaskFailed) -> None:
        log.error("download of %s failed: %s", self._name, failure.message)
        self._end(f"{type(failure.error).__name__}: {failure.error}")

    def _end(self, error: str) -> None:
        name, self._name = self._name, ""
        self.finished.emit(name, error)


FOLDER_ITEM = "folder…"
FOLDER_PREFIX = "folder:"


class DatasetPicker(QGroupBox):
    """The dataset list with each one's state, and Download/Cancel for missing ones.

    Each entry's label ("cached", "not downloaded", ...) and the line under the list come
    from the same `DatasetStatus`, so they cannot disagree. A chosen folder is inspected on
    a background thread (IDX, Keras, CIFAR-10 or class folders, counted, not decoded):
    the line says what was found, and only a usable folder becomes the dataset; for an
    unusable one it says why, and the dataset stays as it was.

    Picking emits `dataset_chosen(name)`; the panel turns it into an undoable edit. Messages
    for the log go out as `logged(text)`, failures as `failed(text)`.
    """

    dataset_chosen = Signal(str)
    logged = Signal(str)
    failed = Signal(str)

    def __init__(self, data_dir: Path | None, parent: QWidget | None = None) -> None:
        super().__init__("Dataset", parent)
        self.data_dir = data_dir
        self.current = ""
        self.downloader = DatasetDownloader(data_dir, self)
        self.inspector = TaskRunner("dataset-folder", self)
        self.inspector.finished.connect(self._on_inspector_finished)
        self.inspector.failed.connect(self._on_inspector_failed)
        self._inspecting = ""  # the folder name whose inspection is awaited, if any
        self._inspected = ""  # the folder name of the latest inspection started
        self._fresh: tuple[str, Any] | None = None  # a chosen folder's status, just found
        self.combo = QComboBox()
        self.combo.setMinimumContentsLength(14)
        self.combo.activated.connect(self._on_combo_activated)
        self.status = QLabel(" ")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self._on_download_button_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.downloader.cancel)
        self.progress = QProgressBar()
        row = QHBoxLayout()
        row.addWidget(self.combo, 1)
        row.addWidget(self.download_button)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.progress)
        self._show_download(False)
        self.downloader.progressed.connect(self._on_downloader_progressed)
        self.downloader.finished.connect(self._on_downloader_finished)

    def shutdown(self) -> None:
        """Stop any download and folder inspection, waiting for their threads."""
        self.downloader.shutdown()
        self.inspector.shutdown()

    @Slot()
    def populate(self) -> None:
        """Fill the list from the catalogue. Deferred until torch is loaded (the data
        package imports it), so opening the window stays fast."""
        from explorer.core.data import dataset_status, list_datasets

        self.combo.blockSignals(True)
        self.combo.clear()
        for entry in list_datasets():
            if entry.kind != "folder":
                status = dataset_status(entry.name, self.data_dir)
                self.combo.addItem(_item_text(entry.title, status.label), entry.name)
        self.combo.addItem(FOLDER_ITEM, FOLDER_ITEM)
        self.combo.blockSignals(False)
        self.show_dataset(self.current)

    def show_dataset(self, name: str) -> None:
        """Select `name` and show where it loads from (or that it needs a download); a
        folder is inspected in the background first."""
        self.current = name
        if not name:
            return
        if self.combo.count() == 0:  # not populated yet: show the name alone
            self.combo.addItem(name, name)
            return
        index = self.combo.findData(name)
        if index < 0:
            self.combo.insertItem(self.combo.count() - 1, _folder_text(name, "…"), name)
            index = self.combo.findData(name)
        self.combo.setCurrentIndex(index)
        if name.lower().startswith(FOLDER_PREFIX):
            fresh, self._fresh = self._fresh, None
            if fresh is not None and fresh[0] == name:
                self._show_status(index, fresh[1])
            else:
                self._inspect(name)
            return
        from explorer.core.data import DatasetError, dataset_status

        try:
            status = dataset_status(name, self.data_dir)
        except DatasetError as error:
            self.status.setText(str(error))
            self.download_button.setVisible(False)
            return
        self._show_status(index, status)

    def _show_status(self, index: int, status: Any) -> None:
        # One status object draws both the list entry and the line under it.
        from explorer.core.data import find_entry

        name = self.combo.itemData(index)
        if name.lower().startswith(FOLDER_PREFIX):
            text = _folder_text(name, status.label)
        else:
            text = _item_text(find_entry(name).title, status.label)
        self.combo.setItemText(index, text)
        self.status.setText(status.message)
        missing = not status.available and status.source in ("missing", "damaged")
        self.download_button.setVisible(missing and not self.downloader.busy)

    def _inspect(self, name: str) -> None:
        from explorer.core.data import inspect_folder
        from explorer.core.data.catalogue import folder_path

        self._inspecting = name
        self.status.setText(f"Looking at {name[len(FOLDER_PREFIX) :]}…")
        self.download_button.setVisible(False)
        if self.inspector.is_shut_down:  # the window is closing
            log.info("not inspecting %s: the picker was shut down", name)
            return
        self.inspector.invalidate()  # only the latest folder's contents count
        self._inspected = name
        path = folder_path(name)
        self.inspector.start(lambda control: inspect_folder(path))

    @Slot(object)
    def _on_inspector_finished(self, result: TaskFinished[Any]) -> None:
        self._on_inspected(self._inspected, result.value)

    @Slot(object)
    def _on_inspector_failed(self, failure: TaskFailed) -> None:
        self._on_inspected(self._inspected, failure.error)

    def _on_inspected(self, name: str, contents: Any) -> None:
        if name != self._inspecting:
            return  # another dataset was chosen since
        self._inspecting = ""
        from explorer.core.data import FolderContents
        from explorer.core.data.chosen import folder_status

        if isinstance(contents, FolderContents):
            status = folder_status(name, contents)
            available, message = status.available, status.message
        else:  # the inspection itself failed (e.g. a permission error while listing)
            status, available = None, False
            message = f"cannot read {name[len(FOLDER_PREFIX) :]}: {contents}"
        if name == self.current:
            if status is not None:
                self._show_status(self.combo.findData(name), status)
            else:
                self.status.setText(message)
        elif available:
            self.logged.emit(f"{name[len(FOLDER_PREFIX) :]}: {message}")
            self._fresh = (name, status)
            self.dataset_chosen.emit(name)
        else:
            # Refused: the dataset stays as it was, and the line says why.
            self._remove_placeholder(name)
            self.status.setText(f"Not used — {message}")
            self.download_button.setVisible(False)
            self.logged.emit(f"not using {name[len(FOLDER_PREFIX) :]}: {message}")

    def _remove_placeholder(self, name: str) -> None:
        """Take a folder that did not become the dataset out of the list again."""
        index = self.combo.findData(name)
        if index >= 0 and name != self.current:
            self.combo.removeItem(index)
        self.combo.setCurrentIndex(max(self.combo.findData(self.current), 0))

    @Slot(int)
    def _on_combo_activated(self, index: int) -> None:
        name = self.combo.itemData(index)
        if name == FOLDER_ITEM:
            folder = QFileDialog.getExistingDirectory(
                self, "Data Folder (IDX, CIFAR-10, Keras files, or one sub-folder per class)"
            )
            if not folder:
                self.show_dataset(self.current)
                return
            name = f"{FOLDER_PREFIX}{folder}"
            if self._inspecting and self._inspecting != name:
                self._remove_placeholder(self._inspecting)
            if name != self.current:
                # Validate before it becomes the dataset: the result decides.
                if self.combo.findData(name) < 0:
                    self.combo.insertItem(self.combo.count() - 1, _folder_text(name, "…"), name)
                self.combo.setCurrentIndex(self.combo.findData(name))
                self._inspect(name)
                return
        elif self._inspecting:
            # Another choice made while a chosen folder was being looked at: it wins.
            pending, self._inspecting = self._inspecting, ""
            self.inspector.invalidate()
            self._remove_placeholder(pending)
        self.dataset_chosen.emit(name)

    def _show_download(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.download_button.setVisible(False)

    @Slot()
    def _on_download_button_clicked(self) -> None:
        if self.downloader.start(self.current):
            self.progress.setRange(0, 0)  # busy until the first report gives a size
            self._show_download(True)
            self.logged.emit(f"downloading {self.current}")

    @Slot(float, str)
    def _on_downloader_progressed(self, fraction: float, text: str) -> None:
        if fraction >= 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(1000 * fraction))
        self.status.setText(text)

    @Slot(str, str)
    def _on_downloader_finished(self, name: str, error: str) -> None:
        self._show_download(False)
        if error == "cancelled":
            self.logged.emit(f"download of {name} cancelled (it resumes next time)")
        elif error:
            self.failed.emit(f"Download of {name} failed: {error}")
            self.logged.emit(f"download of {name} failed: {error}")
        else:
            self.logged.emit(f"{name} downloaded")
        self.populate()
