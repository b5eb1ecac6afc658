"""A canvas to draw an input on with the mouse: white strokes on black, like MNIST."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

CANVAS_SIZE = 280  # pixels a side: strokes as thick, relative to it, as on MNIST


class DrawingCanvas(QWidget):
    """Draw with the mouse: white strokes on black, like MNIST digits."""

    drawing_finished = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(CANVAS_SIZE, CANVAS_SIZE)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.stroke_width = 22
        self._image = QImage(CANVAS_SIZE, CANVAS_SIZE, QImage.Format.Format_Grayscale8)
        self._image.fill(0)
        self._last: QPoint | None = None

    def clear(self) -> None:
        self._image.fill(0)
        self.update()

    def strokes(self) -> np.ndarray:
        """The drawing as uint8 (H, W), 0 = background, 255 = ink."""
        ptr = self._image.constBits()
        stride = self._image.bytesPerLine()
        array = np.frombuffer(ptr, np.uint8, count=stride * self._image.height())
        return array.reshape(self._image.height(), stride)[:, : self._image.width()].copy()

    def _line_to(self, point: QPoint) -> None:
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(QColor(255, 255, 255), self.stroke_width)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.drawLine(self._last or point, point)
        painter.end()
        self._last = point
        self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._last = None
            self._line_to(event.position().toPoint())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._line_to(event.position().toPoint())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._last = None
            self.drawing_finished.emit()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.drawImage(0, 0, self._image)
        painter.end()
