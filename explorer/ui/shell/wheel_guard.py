"""Spin boxes and combo boxes change their value on the mouse wheel only when focused.

Qt's boxes take wheel events (and focus) from a pointer merely passing over them, so a user
scrolling a settings form steps the learning rate and switches the optimizer on the way.
One application-wide event filter, installed once, fixes every box, including those a panel
creates later: each box gets `Qt.StrongFocus` (a click or Tab focuses it, the wheel does not)
and an unfocused box hands the wheel to the scroll area around it.
"""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QWidget,
)

_BOXES = (QAbstractSpinBox, QComboBox)


W = TypeVar("W", bound=QWidget)


def _nearest(widget: QWidget | None, kind: type[W] | tuple[type[W], ...]) -> W | None:
    """`widget` or the closest widget around it in its window that is a `kind`."""
    current = widget
    while current is not None:
        if isinstance(current, kind):
            return current
        if current.isWindow():
            return None
        current = current.parentWidget()
    return None


def _box_of(widget: QObject) -> QWidget | None:
    """The spin or combo box `widget` is, or belongs to (a spin box's line edit)."""
    return _nearest(widget if isinstance(widget, QWidget) else None, _BOXES)


def _scroll_area_around(widget: QWidget) -> QAbstractScrollArea | None:
    return _nearest(widget.parentWidget(), QAbstractScrollArea)


class WheelGuard(QObject):
    """The application-wide filter; see the module docstring."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Polish and isinstance(watched, _BOXES):
            watched.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            return False
        if kind != QEvent.Type.Wheel or not isinstance(event, QWheelEvent):
            return False
        box = _box_of(watched)
        if box is None or box.hasFocus():
            return False
        area = _scroll_area_around(box)
        if area is not None:
            # Delivered by hand: Qt does not pass a synthesised wheel event on to parents.
            viewport = area.viewport()
            position = viewport.mapFromGlobal(event.globalPosition())
            forwarded = QWheelEvent(
                position,
                event.globalPosition(),
                event.pixelDelta(),
                event.angleDelta(),
                event.buttons(),
                event.modifiers(),
                event.phase(),
                event.inverted(),
            )
            QApplication.sendEvent(viewport, forwarded)
        event.accept()
        return True


def install_wheel_guard(app: QApplication) -> WheelGuard:
    """Install the guard on `app` once (a second call returns the installed one)."""
    existing = app.findChild(WheelGuard)
    if isinstance(existing, WheelGuard):
        return existing
    guard = WheelGuard(app)
    app.installEventFilter(guard)
    return guard
