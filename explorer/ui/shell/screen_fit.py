"""Keeping a top-level window inside the screen it is on, frame included."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget, QStyle, QWidget


def available_geometry(window: QWidget, fallback: QSize) -> QRect:
    """The part of the window's screen that windows may use (without panels and docks)."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        return QRect(0, 0, fallback.width(), fallback.height())
    return screen.availableGeometry()


def fitting(size: QSize, available: QRect) -> QSize:
    """`size`, made smaller where `available` is."""
    return QSize(min(size.width(), available.width()), min(size.height(), available.height()))


def fit_into_screen(window: QWidget, size: QSize) -> None:
    """Resize `window` to `size`, or less where its screen is smaller, frame included, and
    move it wholly onto the screen."""
    available = available_geometry(window, size)
    frame = window.frameGeometry().size() - window.geometry().size()
    if frame.isEmpty() and QGuiApplication.platformName() != "offscreen":
        # The window manager adds its frame later: leave room for a title bar.
        bar = window.style().pixelMetric(QStyle.PixelMetric.PM_TitleBarHeight)
        frame = QSize(8, max(bar, 24) + 8)
    window.resize(fitting(size, QRect(available.topLeft(), available.size() - frame)))
    outer = window.frameGeometry()
    left = max(available.left(), min(outer.left(), available.right() + 1 - outer.width()))
    top = max(available.top(), min(outer.top(), available.bottom() + 1 - outer.height()))
    window.move(left, top)


def float_large(dock: QDockWidget, window: QWidget) -> None:
    """Float a dock at a size where its pictures are readable, over the main window and
    wholly inside its screen, frame included."""
    dock.show()
    dock.setFloating(True)
    dock.move(window.geometry().topLeft() + QPoint(40, 30))
    fit_into_screen(dock, QSize(1180, 760))
    dock.raise_()
