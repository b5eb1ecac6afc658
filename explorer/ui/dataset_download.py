"""Downloads a dataset on a background QThread, with progress and cancel.

The core's downloader calls a progress callback for every chunk; raising from that callback
abandons the download and keeps the partial file, so Cancel is a flag checked there and the
next download resumes where this one stopped.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

log = logging.getLogger(__name__)


class _Cancelled(Exception):
    pass


class _DownloadWorker(QObject):
    progressed = Signal(object)  # DownloadProgress
    done = Signal(str, str)  # name, "" on success or the error message ("cancelled")

    def __init__(self, name: str, data_dir: Path | None) -> None:
        super().__init__()
        self.name = name
        self.data_dir = data_dir
        self.cancel = threading.Event()

    @Slot()
    def run(self) -> None:
        from explorer.core.data import DatasetError, DownloadProgress, download_dataset

        def progress(report: DownloadProgress) -> None:
            if self.cancel.is_set():
                raise _Cancelled
            self.progressed.emit(report)

        try:
            download_dataset(self.name, data_dir=self.data_dir, progress=progress)
        except _Cancelled:
            self.done.emit(self.name, "cancelled")
        except DatasetError as error:
            self.done.emit(self.name, str(error))
        except Exception as error:  # the loop boundary: report, never kill the thread
            log.exception("download of %s failed", self.name)
            self.done.emit(self.name, f"{type(error).__name__}: {error}")
        else:
            self.done.emit(self.name, "")


class DatasetDownloader(QObject):
    """One download at a time; `progressed(fraction, text)` and `finished(name, error)`."""

    progressed = Signal(float, str)  # fraction in 0..1 (-1: unknown), text for the user
    finished = Signal(str, str)  # name, "" on success, "cancelled", or the error message

    def __init__(self, data_dir: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data_dir = data_dir
        self._thread: QThread | None = None
        self._worker: _DownloadWorker | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self, name: str) -> bool:
        if self._thread is not None:
            return False
        thread = QThread(self)
        thread.setObjectName("download")
        worker = _DownloadWorker(name, self.data_dir)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progressed.connect(self._on_worker_progressed)
        worker.done.connect(self._on_worker_done)
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        thread.start()
        return True

    @Slot()
    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel.set()

    def shutdown(self) -> None:
        """Cancel and wait for the thread (the partial file is kept for a later resume)."""
        self.cancel()
        thread = self._thread
        if thread is not None:
            thread.quit()
            thread.wait()
            self._on_thread_finished()

    @Slot(object)
    def _on_worker_progressed(self, report: object) -> None:
        fraction = getattr(report, "fraction", None)
        done = getattr(report, "done", 0) / 1e6
        total = getattr(report, "total", None)
        index, count = getattr(report, "file_index", 0), getattr(report, "file_count", 1)
        size = f"{done:.1f} of {total / 1e6:.1f} MB" if total else f"{done:.1f} MB"
        text = f"{getattr(report, 'filename', '')} ({index + 1}/{count}): {size}"
        self.progressed.emit(-1.0 if fraction is None else float(fraction), text)

    @Slot(str, str)
    def _on_worker_done(self, name: str, error: str) -> None:
        self.finished.emit(name, error)

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, worker = self._thread, self._worker
        if thread is None or worker is None:
            return
        self._thread = self._worker = None
        worker.deleteLater()
        thread.deleteLater()
