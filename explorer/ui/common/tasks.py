"""Run one short job at a time off the GUI thread and deliver its result on the GUI thread.

For work measured in fractions of a second to seconds (an ONNX export, evaluating the test
set). The job gets only its arguments, never a widget; the result is picked up by a GUI-thread
timer, so callbacks always run on the GUI thread. Training and capture have their own
controllers with QThreads; this is for everything else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, QTimer, Slot

log = logging.getLogger(__name__)


class BackgroundRunner(QObject):
    """Owns one worker thread; `submit` queues a job, `shutdown` waits for the thread."""

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: list[
            tuple[Future[Any], Callable[[Any], None], Callable[[BaseException], None]]
        ] = []
        self._poll = QTimer(self)
        self._poll.setInterval(30)
        self._poll.timeout.connect(self._on_poll_timeout)
        self._closed = False

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def submit(
        self,
        job: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> Future[Any]:
        if self._closed:
            raise RuntimeError("the background runner was shut down")
        future = self._executor.submit(job, *args)
        self._pending.append((future, on_done, on_error))
        self._poll.start()
        return future

    def wait(self, timeout: float = 120.0) -> None:
        """Block until every queued job has ended and its callback has run (tests)."""
        for future, _, _ in list(self._pending):
            future.exception(timeout=timeout)
        self._on_poll_timeout()

    @Slot()
    def _on_poll_timeout(self) -> None:
        still: list[tuple[Future[Any], Callable[[Any], None], Callable[[BaseException], None]]] = []
        finished = []
        for entry in self._pending:
            (finished if entry[0].done() else still).append(entry)
        self._pending = still
        if not still:
            self._poll.stop()
        for future, on_done, on_error in finished:
            error = future.exception()
            if error is None:
                on_done(future.result())
            else:
                log.warning("background job failed: %s", error)
                on_error(error)

    def shutdown(self) -> None:
        self._closed = True
        self._poll.stop()
        self._pending = []
        self._executor.shutdown(wait=True, cancel_futures=True)
