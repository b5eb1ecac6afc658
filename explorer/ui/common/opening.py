"""A deep network's first analysis, worked out off the GUI thread.

Opening a project of thousands of layers analyses every one of them (~40 µs a layer: 5,000
layers take ~200 ms), which would hold the window for that long. The document hands such a
spec to `OpeningAnalysis` instead; the spec is immutable, so the task runner's thread can
walk it while the window stays responsive. The result comes back with the spec and the file
path it was opened with, so the document can show spec and analysis together, as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal, Slot

from explorer.core.analysis import Analysis, analyze
from explorer.core.spec import NetworkSpec
from explorer.ui.common.tasks import TaskFailed, TaskFinished, TaskRunner

log = logging.getLogger(__name__)

#: Networks with more layers than this (nested ones counted) are analysed in the
#: background when opened: 500 take ~20 ms on the GUI thread, well inside a 50 ms turn
#: with the views' own work on top.
BACKGROUND_LAYERS = 500


def layer_count(spec: NetworkSpec) -> int:
    """Every layer and block of the tree."""
    return sum(1 for _ in spec.walk())


def needs_background(spec: NetworkSpec) -> bool:
    """Whether opening `spec` should analyse it off the GUI thread."""
    return len(spec.layers) > BACKGROUND_LAYERS or layer_count(spec) > BACKGROUND_LAYERS


@dataclass(frozen=True)
class Opened:
    """A spec to open with its analysis and the file it came from (None: not saved)."""

    spec: NetworkSpec
    path: str | None
    analysis: Analysis


class OpeningAnalysis(QObject):
    """Analyses one spec at a time in the background; a newer `start()` or `cancel()`
    drops the older one's result and the callbacks waiting on it (`when_done`).
    `analysed` carries an `Opened`; `failed` the spec and path whose analysis raised (a
    bug: the document then analyses it as it always did)."""

    analysed = Signal(object)  # Opened
    failed = Signal(object)  # tuple[NetworkSpec, str | None]

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = TaskRunner("opening-analysis", self)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        self._pending: tuple[NetworkSpec, str | None] | None = None
        self._layers = 0
        self._waiting: list[Callable[[], object]] = []

    @property
    def layers(self) -> int:
        """How many layers the spec being analysed has; 0 when none is."""
        return self._layers

    def start(self, spec: NetworkSpec, path: str | None) -> None:
        self.cancel()
        self._pending, self._layers = (spec, path), layer_count(spec)
        self._runner.start(lambda control: analyze(spec))

    def cancel(self) -> bool:
        """Forget the spec being analysed (its thread ends on its own); whether one was."""
        was = self._pending is not None
        self._runner.invalidate()
        self._pending, self._layers, self._waiting = None, 0, []
        return was

    def when_done(self, callback: Callable[[], object]) -> bool:
        """Call `callback` after `analysed` has been handled; False (not kept) when nothing
        is being analysed."""
        if self._pending is not None:
            self._waiting.append(callback)
        return self._pending is not None

    def shutdown(self) -> None:
        """Stop and join the thread (the way out of the application)."""
        self.cancel()
        self._runner.shutdown()

    def _take(self) -> tuple[tuple[NetworkSpec, str | None] | None, list[Callable[[], object]]]:
        taken = self._pending, self._waiting
        self._pending, self._layers, self._waiting = None, 0, []
        return taken

    @Slot(object)
    def _on_runner_finished(self, result: TaskFinished[Analysis]) -> None:
        pending, waiting = self._take()
        if pending is not None:
            self.analysed.emit(Opened(*pending, result.value))
            for callback in waiting:
                callback()

    @Slot(object)
    def _on_runner_failed(self, failure: TaskFailed) -> None:
        log.error("analysing the opened network failed: %s", failure.message)
        pending, _ = self._take()
        if pending is not None:
            self.failed.emit(pending)
