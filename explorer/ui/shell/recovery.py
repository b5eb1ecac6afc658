"""Save a recovery file a moment after each edit while there are unsaved changes, and offer
it back after a session that did not close cleanly (a clean close deletes the file).

The autosave writes on a task runner's thread: a network of thousands of layers takes tens
of milliseconds to turn into JSON and write, which the window would otherwise stall for.
The spec is immutable, so the job gets it as it is. One write runs at a time; edits made
meanwhile are written once it is done (the last state, not each in between), and
`save_now`, `discard` and `close` wait for a running write before they touch the file.

Every window has its own file, `recovery/<id>.json`, and holds an operating-system lock on
`recovery/<id>.lock` for as long as it lives. The kernel drops the lock when the process
dies, however it dies, so a file whose lock can be taken belongs to a dead session: only
those are offered, and a second window never sees (or deletes) a living window's work.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

from PySide6.QtCore import QObject, QTimer, Slot

from explorer.core.files import write_text_atomic
from explorer.core.project import ProjectError, parse_recovery, recovery_text
from explorer.core.spec import NetworkSpec
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.tasks import TaskControl, TaskFailed, TaskFinished, TaskRunner

log = logging.getLogger(__name__)

#: Delay after the latest edit before the recovery file is written: a crash loses at most
#: this much work, and a burst of edits (typing in a spin box) is written once.
SAVE_DELAY_MS = 1500
FOLDER = "recovery"
LEGACY_FILE = "recovery.json"  # the one shared file of earlier versions
# What a damaged or hostile recovery file can raise while it is read and checked.
_UNREADABLE = (OSError, UnicodeDecodeError, ProjectError)


class _Lock:
    """An exclusive, non-blocking lock on a file, held until `release()` or process exit."""

    def __init__(self, path: Path, handle: IO[bytes]) -> None:
        self.path = path
        self._handle: IO[bytes] | None = handle

    @classmethod
    def take(cls, path: Path) -> _Lock | None:
        """The lock, or None while another window (in any process) holds it."""
        try:
            handle = path.open("a+b")
        except OSError as error:
            log.warning("cannot open the lock file %s: %s", path, error)
            return None
        try:
            _lock_handle(handle)
        except OSError:
            handle.close()
            return None
        return cls(path, handle)

    def __del__(self) -> None:
        self.release()  # a window dropped without closing (the process is ending)

    def release(self, *, delete: bool = False) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        if delete:  # while still held, so nobody takes a lock on a file about to go
            self.path.unlink(missing_ok=True)
        handle.close()  # closing drops the lock


def _lock_handle(handle: IO[bytes]) -> None:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


@dataclass
class Recovered:
    """A dead session's unsaved network, with the file it was edited from (if any)."""

    spec: NetworkSpec
    path: str | None
    file: Path
    lock: _Lock

    def forget(self) -> None:
        """Delete the dead session's file (it has been restored or declined)."""
        self.file.unlink(missing_ok=True)
        self.lock.release(delete=True)


class RecoveryStore(QObject):
    def __init__(
        self, document: ProjectDocument, folder: Path, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.data_folder = folder
        self.folder = folder / FOLDER
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.path = self.folder / f"{name}.json"
        self._lock = _Lock.take(self.folder / f"{name}.lock")
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(SAVE_DELAY_MS)
        self.timer.timeout.connect(self._on_timer_timeout)
        self._started = False
        self.writer = TaskRunner("recovery", self)
        self.writer.finished.connect(self._on_writer_finished)
        self.writer.failed.connect(self._on_writer_failed)
        # What the next write is to leave on disk (None: no file), once the running one is
        # done; `_queued` says there is such a write.
        self._next: _Snapshot | None = None
        self._queued = False

    @property
    def busy(self) -> bool:
        """A write is running or waits for the running one."""
        return self.writer.busy or self._queued

    def start(self) -> None:
        """From now on every change to the document is saved a moment later."""
        if not self._started:
            self._started = True
            self.document.spec_changed.connect(self._on_document_spec_changed)

    @Slot()
    def _on_document_spec_changed(self) -> None:
        self.timer.start()  # restarted by each edit: written once the edits pause

    @Slot()
    def _on_timer_timeout(self) -> None:
        """Write the current state on the writer's thread (after the running write)."""
        self._next = self._snapshot()
        self._queued = True
        self._write_next()

    def _write_next(self) -> None:
        if not self._queued or self.writer.busy or self.writer.is_shut_down:
            return
        snapshot, self._next, self._queued = self._next, None, False
        self.writer.start(partial(_write, self.path, snapshot))

    @Slot(object)
    def _on_writer_finished(self, result: TaskFinished[None]) -> None:
        self._write_next()

    @Slot(object)
    def _on_writer_failed(self, failure: TaskFailed) -> None:
        log.error("the recovery file %s was not written: %s", self.path, failure.message)
        self._write_next()

    def _snapshot(self) -> _Snapshot | None:
        self.document.settle()  # the latest spec, with the edits still being worked out
        return None if self.document.is_clean else (self.document.spec, self.document.path)

    def _wait_for_writes(self) -> None:
        """Let a running write end; the state waiting for it is written by the caller."""
        self._next, self._queued = None, False
        self.writer.cancel()  # a write is not interrupted: this waits for it

    def save_now(self) -> None:
        """Write the current spec (and its file path) if it has unsaved changes, before
        returning (after a write already running)."""
        self.timer.stop()
        self._wait_for_writes()
        _write(self.path, self._snapshot())

    def stop(self) -> None:
        """No more autosaves: a running write is waited for (the window is going away)."""
        self.timer.stop()
        self._wait_for_writes()
        self.writer.shutdown()

    def pending(self) -> Recovered | None:
        """The newest file left by a session that is no longer running, locked for this
        window until it is restored or forgotten; None when there is none."""
        candidates = sorted(
            (p for p in self.folder.glob("*.json") if p != self.path),
            key=_modified,
            reverse=True,
        )
        legacy = self.data_folder / LEGACY_FILE
        if legacy.is_file():
            candidates.append(legacy)
        self._remove_orphan_locks()
        for file in candidates:
            lock = _Lock.take(file.with_suffix(".lock"))
            if lock is None:
                continue  # its window is alive
            try:
                spec, path = _read(file)
            except _UNREADABLE as error:
                # Kept for whoever wants to look, but out of the way of the next start.
                damaged = file.with_name(file.name + ".damaged")
                log.warning("set aside an unreadable recovery file as %s: %s", damaged, error)
                with contextlib.suppress(OSError):
                    file.replace(damaged)
                lock.release(delete=True)
                continue
            return Recovered(spec, path, file, lock)
        return None

    def _remove_orphan_locks(self) -> None:
        for lock_path in self.folder.glob("*.lock"):
            if lock_path.with_suffix(".json").exists() or lock_path == self._own_lock_path():
                continue
            lock = _Lock.take(lock_path)
            if lock is not None:  # a dead window that left nothing to recover
                lock.release(delete=True)

    def _own_lock_path(self) -> Path:
        return self.path.with_suffix(".lock")

    def discard(self) -> None:
        """Delete this window's recovery file (the window closed cleanly)."""
        self.timer.stop()
        self._wait_for_writes()
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """The window is going away cleanly: delete its file and drop its lock."""
        self.discard()
        self.writer.shutdown()
        if self._lock is not None:
            self._lock.release(delete=True)
            self._lock = None


# What a recovery file holds: the spec and the file it was edited from (None: no file).
_Snapshot = tuple[NetworkSpec, str | None]


def _write(file: Path, snapshot: _Snapshot | None, control: TaskControl | None = None) -> None:
    """Leave `snapshot` in `file` (None: delete it). Run on the writer's thread or, to be
    done before returning, on the caller's; a full disk is logged, the work is still in the
    window."""
    if snapshot is None:
        file.unlink(missing_ok=True)
        return
    spec, path = snapshot
    try:
        write_text_atomic(file, recovery_text(spec, path))
    except OSError as error:
        log.warning("cannot write the recovery file %s: %s", file, error)


def _read(file: Path) -> tuple[NetworkSpec, str | None]:
    """The network and original path in a recovery file, through the same checks as a
    project file; raises OSError, UnicodeDecodeError or ProjectError for anything else."""
    return parse_recovery(file.read_text(encoding="utf-8"))


def _modified(path: Path) -> float:
    with contextlib.suppress(OSError):
        return path.stat().st_mtime
    return 0.0
