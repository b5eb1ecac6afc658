"""The Explain tab's two views: the overlay picture and the class probabilities as bars.

Both paint what they are given and compute nothing that scales with the network.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

UInt8Array = npt.NDArray[np.uint8]

TOP_CLASSES = 10  # probability rows shown


class PictureView(QWidget):
    """An RGB picture scaled to fit, whole pixels kept sharp (no smoothing)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._pixels: UInt8Array | None = None  # the QImage's buffer, kept alive
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    @property
    def pixels(self) -> UInt8Array | None:
        return self._pixels

    def set_pixels(self, rgb: UInt8Array | None) -> None:
        self._pixels = None if rgb is None else np.ascontiguousarray(rgb)
        if self._pixels is None:
            self._image = None
        else:
            h, w = self._pixels.shape[:2]
            self._image = QImage(self._pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        if self._image is not None:
            size = QSize(self._image.width(), self._image.height())
            size.scale(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            left = (self.width() - size.width()) / 2
            top = (self.height() - size.height()) / 2
            painter.drawImage(QRectF(left, top, size.width(), size.height()), self._image)
        painter.end()


class ProbabilityBars(QWidget):
    """The most likely classes as horizontal bars, the explained one highlighted."""

    ROW = 20

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[str, float, bool]] = []
        self.setMinimumWidth(150)

    @property
    def rows(self) -> list[tuple[str, float, bool]]:
        return list(self._rows)

    def show_probabilities(
        self, probabilities: npt.NDArray[np.float32], names: Sequence[str], target: int
    ) -> None:
        order = np.argsort(-probabilities, kind="stable")[:TOP_CLASSES]
        self._rows = [
            (class_text(int(i), names), float(probabilities[i]), int(i) == target) for i in order
        ]
        self.setMinimumHeight(self.ROW * len(self._rows) + 4)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        label_width = min(110, self.width() // 2)
        bar_width = max(1, self.width() - label_width - 50)
        for row, (text, p, chosen) in enumerate(self._rows):
            top = 2 + row * self.ROW
            painter.setPen(self.palette().windowText().color())
            painter.drawText(
                QRectF(0, top, label_width - 6, self.ROW),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                text,
            )
            colour = QColor("#e8590c") if chosen else QColor("#4a78b5")
            painter.fillRect(QRectF(label_width, top + 3, bar_width * p, self.ROW - 6), colour)
            painter.drawText(
                QRectF(label_width + bar_width * p + 4, top, 46, self.ROW),
                Qt.AlignmentFlag.AlignVCenter,
                f"{p:.2f}",
            )
        painter.end()


def class_text(index: int, names: Sequence[str]) -> str:
    """ "3" or "3 · cat": the index, and the name when it says more."""
    name = names[index] if index < len(names) else ""
    return str(index) if name in ("", str(index)) else f"{index} · {name}"
