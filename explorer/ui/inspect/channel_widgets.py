"""The channel explorer's small widgets (see channel_explorer.py): a top image that says
when it is clicked, and a map that says which position the mouse is over; and the grey
pixmaps both show, with a receptive box outlined."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QLabel, QWidget

from explorer.core.channel_explorer import Box

MAP_SIZE = 168  # screen pixels of the hovered map's longer side
BOX_PEN = QColor("#e6194b")


def gray_pixmap(image: np.ndarray, scale: int, box: Box | None = None) -> QPixmap:
    """An image (C, H, W) or map (H, W), min-max scaled to grey (RGB for 3 channels),
    enlarged `scale` times with hard edges, with `box` outlined."""
    values = np.asarray(image, np.float32)
    if values.ndim == 2:
        values = values[None]
    low, high = float(values.min()), float(values.max())
    pixels = ((values - low) / (high - low or 1.0) * 255).astype(np.uint8)
    channels, height, width = pixels.shape
    if channels == 3:
        data = np.ascontiguousarray(pixels.transpose(1, 2, 0))
        qimage = QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    else:
        data = np.ascontiguousarray(pixels[0])
        qimage = QImage(data.data, width, height, width, QImage.Format.Format_Grayscale8)
    pixmap = QPixmap.fromImage(qimage.copy()).scaled(
        width * scale, height * scale, mode=Qt.TransformationMode.FastTransformation
    )
    if box is not None:
        painter = QPainter(pixmap)
        painter.setPen(QPen(BOX_PEN, 2))
        painter.drawRect(
            QRect(
                box.left * scale, box.top * scale, box.size[1] * scale - 1, box.size[0] * scale - 1
            )
        )
        painter.end()
    return pixmap


class MapView(QLabel):
    """One map, enlarged; reports the map position under the mouse (`hovered(row, col)`)."""

    hovered = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self._shape = (0, 0)
        self._scale = 1

    def show_map(self, values: np.ndarray) -> None:
        height, width = values.shape
        self._shape = (height, width)
        self._scale = max(1, MAP_SIZE // max(height, width))
        self.setPixmap(gray_pixmap(values, self._scale))

    def position_at(self, point: QPoint) -> tuple[int, int] | None:
        row, column = point.y() // self._scale, point.x() // self._scale
        if 0 <= row < self._shape[0] and 0 <= column < self._shape[1]:
            return row, column
        return None

    def centre_of(self, row: int, column: int) -> QPoint:
        """Where map position (row, column) is drawn, in this widget's pixels."""
        half = self._scale // 2
        return QPoint(column * self._scale + half, row * self._scale + half)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        found = self.position_at(event.position().toPoint())
        if found is not None:
            self.hovered.emit(*found)
        super().mouseMoveEvent(event)


class Tile(QLabel):
    """One top image; `clicked(k)` when pressed."""

    clicked = Signal(int)

    def __init__(self, k: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.k = k

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.clicked.emit(self.k)
        super().mousePressEvent(event)
