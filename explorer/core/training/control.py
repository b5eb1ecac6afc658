"""Stopping and pausing a training loop from any thread: the loop checks before each batch."""

from __future__ import annotations

import threading


class RunControl:
    """The stop and pause requests of one loop (a trainer), safe to make from any thread."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def stop(self) -> None:
        """Ask the loop to stop before its next batch (also ends a pause)."""
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Hold the loop before its next batch, keeping all state, until resume() or stop()."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()
