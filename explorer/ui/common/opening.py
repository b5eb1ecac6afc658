"""A deep network's first analysis, worked out off the GUI thread.

Opening a project of thousands of layers analyses every one of them (~40 µs a layer: 5,000
layers take ~200 ms), which would hold the window for that long. The document hands such a
spec to `OpeningAnalysis` instead; the spec is immutable, so the task runner's thread can
walk it while the window stays responsive. The result comes back with the spec and the file
path it was opened with, so the document can show spec and analysis together, as usual.
`BackgroundOpening` is the document's side of it (a mixin of `ProjectDocument`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal, SignalInstance, Slot

from explorer.core.analysis import Analysis, analyze
from explorer.core.paths import LayerPath
from explorer.core.spec import NetworkSpec
from explorer.ui.common.deep_edits import worked_out_for_views
from explorer.ui.common.later_selection import LaterSelection
from explorer.ui.common.quiet_timer import QuietTimer
from explorer.ui.common.tasks import TaskControl, TaskFailed, TaskFinished, TaskRunner

log = logging.getLogger(__name__)

#: Networks with more layers than this (nested ones counted) are analysed in the
#: background when opened: 250 take ~8 ms on the GUI thread (500: ~17 ms, 5,000: ~190 ms),
#: which the window's first turn, ~30 ms of its own with a paint to follow, can afford.
BACKGROUND_LAYERS = 250
RECENT_ANALYSES = 8  # analyses a document keeps for undo and redo (by spec identity)
#: An analysis is shown this long after it arrives, by a `QuietTimer`: in a turn of the loop
#: of its own (it arrives as a posted call, which would run right after whatever the
#: previous turn did), in which the views take in thousands of rows.
SHOW_AFTER_MS = 25
#: The interpreter's switch interval (s) while a network is analysed in the background. At
#: Python's 5 ms the window's thread waits up to that long for the interpreter after each
#: Qt call that lets go of it, which made a 30 ms turn last 130 ms beside the analysis.
SWITCH_INTERVAL_S = 0.0005


def needs_background(spec: NetworkSpec) -> bool:
    """Whether opening `spec` should analyse it off the GUI thread."""
    return len(spec.layers) > BACKGROUND_LAYERS or spec.size > BACKGROUND_LAYERS


#: Work a view does for a network it is about to show, run on the opening's thread after
#: the analysis (see `BackgroundOpening.prepare_when_opening`).
Preparer = Callable[[NetworkSpec, Analysis], object]


@dataclass(frozen=True)
class Opened:
    """A spec to open with its analysis and the file it came from (None: not saved); with
    `edit`, the spec is not opened but reached by an edit of that name (recovered work).
    `prepared`: what the preparer made of them (None: no preparer)."""

    spec: NetworkSpec
    path: str | None
    analysis: Analysis
    edit: str | None = None
    prepared: object = None


def _analysed(
    spec: NetworkSpec, prepare: list[Preparer | None], control: TaskControl
) -> tuple[Analysis, object]:
    analysis = analyze(spec)
    worked_out_for_views(spec, analysis)
    # (the preparer as it is once the analysis is done: a window's views, made after its
    # document has started analysing the network it opens with, have given theirs by then)
    preparer = prepare[0]
    if preparer is None or control.stopped:  # (given up: its result is not shown)
        return analysis, None
    try:
        return analysis, preparer(spec, analysis)
    except Exception:  # the view makes its own on the GUI thread, as without a preparer
        log.exception("preparing the views of the opened network failed")
        return analysis, None


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
        self._arrived: tuple[Analysis, object] | None = None
        # (a list the thread reads, not an attribute of this object: the task holds no
        # reference to a QObject)
        self.prepare: list[Preparer | None] = [None]
        self._show_timer = QuietTimer(self)
        self._show_timer.timeout.connect(self._on_show_timer_timeout)
        self._start_timer = QuietTimer(self)
        self._start_timer.timeout.connect(self._on_start_timer_timeout)
        self._edit: str | None = None
        self._switch_interval: float | None = None
        self._layers = 0
        self._waiting: list[Callable[[], object]] = []

    @property
    def layers(self) -> int:
        """How many layers the spec being analysed (or about to be shown) has; 0: none."""
        return self._layers

    @property
    def path(self) -> str | None:
        """The file of the spec being analysed (None: none, or not saved)."""
        return None if self._pending is None else self._pending[1]

    def start(self, spec: NetworkSpec, path: str | None, *, edit: str | None = None) -> None:
        """Analyse `spec` from the next quiet turn on: the turn asking (a window's first,
        which paints it) runs without a thread beside it holding the interpreter."""
        self.cancel()
        self._pending, self._layers, self._edit = (spec, path), spec.size, edit
        self._start_timer.start(0)

    @Slot()
    def _on_start_timer_timeout(self) -> None:
        if self._pending is None:
            return
        spec, edit = self._pending[0], self._edit
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL_S))
        none: list[Preparer | None] = [None]
        prepare = self.prepare if edit is None else none  # (an edit shows its own change)
        self._runner.start(lambda control: _analysed(spec, prepare, control))

    def _analysed(self) -> None:
        """The thread is done with the spec (or told to be): the usual switch interval."""
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None

    def cancel(self) -> bool:
        """Forget the spec being analysed (its thread ends on its own); whether one was."""
        was = self._pending is not None
        self._runner.invalidate()
        self._analysed()
        self._start_timer.stop()
        self._show_timer.stop()
        self._arrived = None
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
    def _on_runner_finished(self, result: TaskFinished[tuple[Analysis, object]]) -> None:
        self._analysed()
        if self._pending is not None:
            self._arrived = result.value
            self._show_timer.start(SHOW_AFTER_MS)

    @Slot()
    def _on_show_timer_timeout(self) -> None:
        arrived, edit, self._arrived = self._arrived, self._edit, None
        pending, waiting = self._take()
        if pending is not None and arrived is not None:
            self.analysed.emit(Opened(*pending, arrived[0], edit, arrived[1]))
            for callback in waiting:
                callback()

    @Slot(object)
    def _on_runner_failed(self, failure: TaskFailed) -> None:
        log.error("analysing the opened network failed: %s", failure.message)
        self._analysed()
        pending, _ = self._take()
        if pending is not None:
            self.failed.emit(pending)


class BackgroundOpening:
    """What `ProjectDocument` does with an `OpeningAnalysis` (see its module docstring):
    says how many layers are being analysed, runs callbacks once they are shown, and
    shows what the analysis returns."""

    # The document's own, which these methods use.
    _opening: OpeningAnalysis | None
    _prepared: tuple[NetworkSpec, object] | None
    _recent: list[tuple[NetworkSpec, Analysis]]
    _spec: NetworkSpec
    _path: str | None
    later_selection: LaterSelection
    analysing_changed: SignalInstance
    selection_requested: SignalInstance

    def edit(self, new: NetworkSpec, text: str) -> bool:
        raise NotImplementedError

    def _reset_now(self, spec: NetworkSpec, path: str | None, *, select: bool = True) -> None:
        raise NotImplementedError

    @property
    def analysing(self) -> int:
        """How many layers the network being opened in the background has (0: none is)."""
        return self._opening.layers if self._opening is not None else 0

    @property
    def analysing_path(self) -> str | None:
        """The file of the network being opened in the background (None: none, or a
        network not saved)."""
        return self._opening.path if self._opening is not None else None

    def prepare_when_opening(self, prepare: Preparer) -> None:
        """Run `prepare(spec, analysis)` on the opening's thread after each analysis; what it
        returns is `prepared_for(spec)` while that spec is being shown (a later preparer
        replaces this one)."""
        if self._opening is not None:
            self._opening.prepare[0] = prepare

    def prepared_for(self, spec: NetworkSpec) -> object:
        """What the preparer made for `spec`, while it is being shown (else None)."""
        shown = self._prepared
        return shown[1] if shown is not None and shown[0] is spec else None

    def when_analysed(self, callback: Callable[[], object]) -> None:
        """Call `callback` once the network being opened is shown (at once when none is;
        never when that opening is given up for another project)."""
        if self._opening is None or not self._opening.when_done(callback):
            callback()

    def stop_analysing(self) -> None:
        """Join the background analysis' thread (the way out of the window)."""
        if self._opening is not None:
            self._opening.shutdown()

    def edit_analysed(self, new: NetworkSpec, text: str) -> None:
        """`edit(new, text)`; a deep `new` is analysed in the background first (recovered
        work: edits are refused meanwhile, `when_analysed` waits for it)."""
        if self._opening is None or not needs_background(new):
            self.edit(new, text)
            return
        self._opening.start(new, self._path, edit=text)
        self.analysing_changed.emit(True)

    @Slot(object)
    def _on_opening_analysed(self, opened: Opened) -> None:
        self._recent = [(opened.spec, opened.analysis), *self._recent[: RECENT_ANALYSES - 1]]
        if opened.edit is not None:  # the analysis is known now: the edit reuses it
            self.analysing_changed.emit(False)
            self.edit(opened.spec, opened.edit)
            return
        # The first layer is selected a turn later: a view lays its thousands of rows out
        # first (selecting needs that layout), so neither turn does both.
        self._prepared = (opened.spec, opened.prepared)
        try:
            self._reset_now(opened.spec, opened.path, select=False)
        finally:
            self._prepared = None
        if opened.spec.layers:
            self.later_selection.request(opened.spec, [LayerPath.top(0)], SHOW_AFTER_MS)
        self.analysing_changed.emit(False)

    @Slot(object)
    def _on_opening_failed(self, pending: tuple[NetworkSpec, str | None]) -> None:
        self.analysing_changed.emit(False)
        self._reset_now(*pending)  # as before: on this thread, where the error shows
