"""A single-shot timer for work that takes a turn of the event loop to itself.

Timers due at the same moment run one after another in one pass of the loop, and a posted
call runs right after whatever the pass before it did: two pieces of 30 ms work then hold
the window for 60. A `QuietTimer` that fires late — the loop was busy with something else
until now — waits once more (up to `max_waits` times) before it sends `timeout`, so its
work lands in a turn of its own.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer, Signal, Slot

#: Later than this, the timer's turn had other work just before it.
LATE_MS = 10.0


class QuietTimer(QObject):
    """Single shot: `start(ms)`, `stop()`, `isActive()`, then `timeout` once."""

    timeout = Signal()

    def __init__(self, parent: QObject | None = None, *, max_waits: int = 8) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._interval = 0
        self._due = 0.0
        self._waits = 0
        self._max_waits = max_waits

    def start(self, ms: int) -> None:
        self._waits = 0
        self._arm(ms)

    def stop(self) -> None:
        self._timer.stop()

    def isActive(self) -> bool:
        return self._timer.isActive()

    def _arm(self, ms: int) -> None:
        self._interval = ms
        self._due = time.perf_counter() + ms / 1000
        self._timer.start(ms)

    @Slot()
    def _on_timer_timeout(self) -> None:
        late = (time.perf_counter() - self._due) * 1000
        if late > LATE_MS and self._waits < self._max_waits:
            self._waits += 1
            self._arm(max(self._interval, 1))
            return
        self.timeout.emit()
