"""The one way the GUI runs work off its thread: a task runner.

A job is a plain function of its data and a `TaskControl` (Orange3's idiom): it cannot touch
a widget, it reports progress with `control.report(payload)`, and it checks
`control.stopped` (or hands `control.stop_event` to a core API that takes one). Each job runs
on its own `QThread`, one job at a time per runner, in the order started; its outcome comes
back to the GUI thread as a frozen payload on `finished` (`TaskFinished`), `failed`
(`TaskFailed`) or, while it runs, `progressed` (`TaskProgress`).

Stale results are dropped by a context number: `invalidate()` starts a new context (and
asks the jobs of the old one to stop), so nothing a job of an older context sends reaches the
signals, and its waiting jobs never start. `cancel()` does that and joins the thread;
`shutdown()` cancels and refuses new jobs, and every owner calls it on every way out of the
application (window close, quit, the crash dialog's Quit). A join waits `JOIN_BOUND_S` for
the job to honour its stop token; past that it logs the job as stuck and waits on, since a
QThread destroyed while running aborts the process. `join(timeout_s)` alone only waits.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds `shutdown()` waits for a job to honour its stop token before waiting on
#: regardless (a thread destroyed while running aborts the whole process).
JOIN_BOUND_S = 30.0


class StopToken:
    """Thread-safe "please stop": an event, plus callbacks run once when it is set (so a
    job can pass the request on, e.g. to a trainer's own stop flag)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def stopped(self) -> bool:
        return self.event.is_set()

    def stop(self) -> None:
        with self._lock:
            if self.event.is_set():
                return
            self.event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def when_stopped(self, callback: Callable[[], None]) -> None:
        """Call `callback` when stop is requested (at once when it already was), on the
        thread that requests it."""
        with self._lock:
            if not self.event.is_set():
                self._callbacks.append(callback)
                return
        callback()


@dataclass(frozen=True)
class TaskFinished(Generic[T]):
    """A job returned `value` (delivered on the GUI thread, for the current context only)."""

    context: int
    value: T


@dataclass(frozen=True)
class TaskFailed:
    """A job raised `error`; `message` is what to tell the user."""

    context: int
    error: BaseException
    message: str


@dataclass(frozen=True)
class TaskProgress(Generic[T]):
    """Something a running job reported with `control.report(value)`."""

    context: int
    value: T


class TaskControl:
    """What a job gets besides its data: the stop token and a way to report progress.

    The runner makes one per job; to run a job inline (a test, the command line), make one
    with a `report` of your own, e.g. `TaskControl(StopToken(), events.append)`.
    """

    def __init__(self, token: StopToken, report: Callable[[object], None]) -> None:
        self.token = token
        self._report = report

    @property
    def stopped(self) -> bool:
        return self.token.stopped

    @property
    def stop_event(self) -> threading.Event:
        """The token's event, for core functions that take a `cancel` event."""
        return self.token.event

    def report(self, value: object) -> None:
        """Send `value` to the GUI thread (a frozen payload or a copy the job no longer
        changes); arrives as `TaskProgress` on the runner's `progressed`."""
        self._report(value)


Job = Callable[[TaskControl], Any]


@dataclass(frozen=True)
class _Pending:
    context: int
    job: Job
    token: StopToken


class _TaskWorker(QObject):
    """Lives on the job's thread; runs the one job when the thread starts."""

    progressed = Signal(object)  # TaskProgress
    finished = Signal(object)  # TaskFinished
    failed = Signal(object)  # TaskFailed

    def __init__(self, pending: _Pending) -> None:
        super().__init__()
        self._pending = pending

    @Slot()
    def run(self) -> None:
        pending = self._pending
        control = TaskControl(pending.token, self._report)
        try:
            value = pending.job(control)
        except Exception as error:  # the loop boundary: a failed task, never a dead thread
            # Often expected (a refused capture, a bad image file): the owner says more.
            log.info("background task failed: %s", describe_error(error), exc_info=True)
            self.failed.emit(TaskFailed(pending.context, error, describe_error(error)))
        else:
            self.finished.emit(TaskFinished(pending.context, value))
        finally:
            self.thread().quit()

    def _report(self, value: object) -> None:
        self.progressed.emit(TaskProgress(self._pending.context, value))


def describe_error(error: BaseException) -> str:
    """The error's own text, or its type's name when it has none."""
    return str(error) or type(error).__name__


class TaskRunner(QObject):
    """Runs jobs one at a time, each on its own QThread; see the module docstring."""

    progressed = Signal(object)  # TaskProgress, current context only
    finished = Signal(object)  # TaskFinished, current context only
    failed = Signal(object)  # TaskFailed, current context only

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._context = 0
        self._waiting: deque[_Pending] = deque()
        self._running: _Pending | None = None
        self._thread: QThread | None = None
        self._worker: _TaskWorker | None = None
        self._shut_down = False

    # ---- state -----------------------------------------------------------------------------

    @property
    def context(self) -> int:
        return self._context

    @property
    def busy(self) -> bool:
        """A job started earlier has not sent its outcome yet (in any context)."""
        return self._running is not None or bool(self._waiting)

    @property
    def running_thread(self) -> QThread | None:
        """The thread of the job running now, if any."""
        return self._thread

    @property
    def is_shut_down(self) -> bool:
        return self._shut_down

    # ---- commands --------------------------------------------------------------------------

    def start(self, job: Job) -> int:
        """Run `job(control)` after the jobs already started; returns its context number.
        Refused (RuntimeError) after `shutdown()`."""
        if self._shut_down:
            raise RuntimeError(f"the {self.name} tasks were shut down")
        self._waiting.append(_Pending(self._context, job, StopToken()))
        self._launch_next()
        return self._context

    def invalidate(self) -> int:
        """Start a new context: whatever the jobs started so far send is dropped, and they
        are asked to stop. Returns the new context number."""
        self._context += 1
        self.request_stop()
        self._waiting.clear()
        return self._context

    def request_stop(self) -> None:
        """Ask the running job to stop (its result, if any, still arrives)."""
        if self._running is not None:
            self._running.token.stop()
        for pending in self._waiting:
            pending.token.stop()

    def join(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the running job's thread to end; False if it did not.
        Its outcome arrives later through the event loop, as usual."""
        thread = self._thread
        return thread is None or thread.wait(max(0, round(1000 * timeout_s)))

    def cancel(self, timeout_s: float = JOIN_BOUND_S) -> None:
        """Stop every job and join the thread: nothing they send arrives afterwards, and
        the runner takes new jobs at once."""
        self.invalidate()
        thread = self._thread
        if thread is None:
            return
        thread.quit()
        if not self.join(timeout_s):
            # Returning now would destroy a running thread, which aborts the process.
            log.error("the %s task ignored its stop request for %.0f s", self.name, timeout_s)
            thread.wait()
        self._clear_thread()

    def shutdown(self, timeout_s: float = JOIN_BOUND_S) -> None:
        """`cancel()`, and refuse new jobs from now on (the way out of the application).
        Safe to call more than once."""
        self._shut_down = True
        self.cancel(timeout_s)

    # ---- the thread ------------------------------------------------------------------------

    def _launch_next(self) -> None:
        if self._thread is not None or self._shut_down:
            return
        while self._waiting:
            pending = self._waiting.popleft()
            if pending.context == self._context and not pending.token.stopped:
                break
        else:
            return
        thread = QThread(self)
        thread.setObjectName(self.name)
        worker = _TaskWorker(pending)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        queued = Qt.ConnectionType.QueuedConnection
        worker.progressed.connect(self._on_worker_progressed, queued)
        worker.finished.connect(self._on_worker_finished, queued)
        worker.failed.connect(self._on_worker_failed, queued)
        thread.finished.connect(self._on_thread_finished, queued)
        self._thread, self._worker, self._running = thread, worker, pending
        thread.start()

    @Slot(object)
    def _on_worker_progressed(self, progress: TaskProgress[Any]) -> None:
        if progress.context == self._context:
            self.progressed.emit(progress)

    @Slot(object)
    def _on_worker_finished(self, result: TaskFinished[Any]) -> None:
        self._outcome_arrived(result.context)
        if result.context == self._context:
            self.finished.emit(result)

    @Slot(object)
    def _on_worker_failed(self, failure: TaskFailed) -> None:
        self._outcome_arrived(failure.context)
        if failure.context == self._context:
            self.failed.emit(failure)

    def _outcome_arrived(self, context: int) -> None:
        # Not busy from now on, unless this is a cancelled job's late outcome (cancel()
        # moved on to a new context, whose job may be running now).
        if self._running is not None and self._running.context == context:
            self._running = None  # the next job starts once this one's thread has ended

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._thread is not None and self.sender() is self._thread:
            self._clear_thread()  # else shutdown() has already done it
            self._launch_next()

    def _clear_thread(self) -> None:
        thread = self._thread
        if thread is None:
            return
        # `finished` is sent just before the thread ends: let it end before it goes.
        thread.wait()
        self._thread = self._worker = self._running = None
        thread.deleteLater()
