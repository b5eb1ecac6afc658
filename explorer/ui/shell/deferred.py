"""Panels built after the window is up, one per turn of the event loop, or when needed.

Each of the workbench's panels takes 10–60 ms to build (pyqtgraph plots mostly); built
together they held the window for a quarter of a second after it appeared. A `Deferred`
panel has its dock from the start (so the saved layout places it, see
`MainWindow.finish_late_docks`) with an empty placeholder in it; its widget is made by the
`BuildQueue` in a later turn (one panel a turn), as soon as its dock is shown, or at once
by `get()` when something needs it — a menu, a signal, a test (a `DeferredDock`'s
`widget()` is such a need). `built` is None until then,
so work for a panel nobody has looked at yet is skipped: its builder starts it from the
current state instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QDockWidget, QFrame, QScrollArea, QWidget

from explorer.ui.common.quiet_timer import QuietTimer

W = TypeVar("W", bound=QWidget)


#: The pause between two panels built in the background: each takes 10–40 ms, and other
#: work due in the same turn of the loop (a paint, a deep network's memory estimate) adds
#: to it, so they are spread out rather than built in consecutive turns.
SPACING_MS = 25


class BuildQueue(QObject):
    """Builds the panels queued with `add()`, one per turn of the loop (a `QuietTimer`'s,
    never a posted call's: those run back to back), SPACING_MS apart, in order; a panel whose dock
    was shown goes first, in the next turn. While `hold()` is true (a deep network's first
    analysis is coming, whose turn should have the loop to itself), only such a panel is
    built."""

    def __init__(
        self, parent: QObject | None = None, *, hold: Callable[[], bool] | None = None
    ) -> None:
        super().__init__(parent)
        self._hold = hold
        self._held = False
        self._urgent = False
        self._queue: deque[Deferred[QWidget]] = deque()
        self._timer = QuietTimer(self)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._stopped = False

    @property
    def pending(self) -> bool:
        """Whether a queued panel is still to be built."""
        return any(deferred.built is None for deferred in self._queue)

    def add(self, deferred: Deferred[W], *, first: bool = False, now: bool = False) -> None:
        """Queue `deferred` (`first`: ahead of the others; `now`: wanted on screen, built
        in the next turn whatever `hold` says)."""
        item: Deferred[QWidget] = deferred  # type: ignore[assignment]
        if first or now:
            self._queue.appendleft(item)
        else:
            self._queue.append(item)
        self._urgent = self._urgent or now
        if not self._stopped and (now or not self._timer.isActive()):
            self._timer.start(0 if now else SPACING_MS)

    def stop(self) -> None:
        """Build nothing more in the background (the window is going away)."""
        self._stopped = True
        self._timer.stop()
        self._queue.clear()

    @Slot()
    def _on_timer_timeout(self) -> None:
        held = not self._urgent and self._hold is not None and self._hold()
        if held or self._held:
            # Held, or just released: the turn that ended the hold (the analysis shown)
            # may be this one, so the next panel waits one more spacing.
            self._held = held
            self._timer.start(SPACING_MS)
            return
        self._urgent = False
        while self._queue:
            deferred = self._queue.popleft()
            if deferred.built is None:
                deferred.get()
                break
        if self._queue:
            self._timer.start(SPACING_MS)


class DeferredDock(QDockWidget):
    """A dock whose panel may not be made yet: asked for it, `widget()` makes it first.
    (Qt's own code reads the widget without this method: it gets the placeholder.)"""

    _deferred: Deferred[QWidget] | None = None

    def widget(self) -> QWidget:
        if self._deferred is not None:
            self._deferred.get()
        return super().widget()


class Deferred(Generic[W]):
    """One panel made by `build` when first needed; its widget goes into `dock` (through
    `content`, e.g. a scroll area) when it has one. `idle`: also built by the queue in a
    turn of its own; else only when its dock is shown or `get()` is called (a panel too
    big for one turn that nobody may ever open)."""

    def __init__(
        self,
        queue: BuildQueue,
        build: Callable[[], W],
        dock: QDockWidget | None = None,
        *,
        content: Callable[[W], QWidget] | None = None,
        idle: bool = True,
    ) -> None:
        self._queue = queue
        self._build = build
        self._dock = dock
        self._content = content
        self._widget: W | None = None
        self._building = False
        self._then: list[Callable[[W], object]] = []
        if dock is not None:
            if QDockWidget.widget(dock) is None:
                dock.setWidget(QWidget())  # the placeholder: the dock's tab is there already
            if isinstance(dock, DeferredDock):
                dock._deferred = self  # type: ignore[assignment]
            dock.visibilityChanged.connect(self._on_dock_visibility_changed)
        if idle:
            queue.add(self)

    @property
    def built(self) -> W | None:
        """The panel, or None while it has not been made."""
        return self._widget

    def get(self) -> W:
        """The panel, made now if need be."""
        if self._widget is None:
            if self._building:
                raise RuntimeError("a deferred panel's builder asked for the panel itself")
            self._building = True
            try:
                widget = self._build()
            finally:
                self._building = False
            self._widget = widget
            if self._dock is not None:
                placeholder = QDockWidget.widget(self._dock)
                self._dock.setWidget(self._content(widget) if self._content else widget)
                if placeholder is not None:
                    placeholder.deleteLater()
            then, self._then = self._then, []
            for callback in then:
                callback(widget)
        return self._widget

    def then(self, callback: Callable[[W], object]) -> None:
        """Call `callback(panel)` once it is made (at once if it is): to connect it."""
        if self._widget is None:
            self._then.append(callback)
        else:
            callback(self._widget)

    def _on_dock_visibility_changed(self, visible: bool) -> None:
        # Built in the next turn, not inside the show (a restoreState, a tab click).
        if visible and self._widget is None:
            self._queue.add(self, now=True)


def scrollable(widget: QWidget) -> QScrollArea:
    """`widget` in a frameless scroll area (a dock's content that may be bigger than it)."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    return area
