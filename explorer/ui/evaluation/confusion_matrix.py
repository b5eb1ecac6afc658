"""The confusion matrix as a picture: counts in the cells, class names along the axes.

Rows are true classes, columns predicted ones; the colour is the share of the true class
(square-root scale), so rare classes' mistakes show as clearly as frequent ones. Clicking a
cell emits `cell_clicked(true, predicted)`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent
from PySide6.QtCore import QObject, QPointF, QRectF, Signal, Slot
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPen

# More cells than this and the numbers and names no longer fit: colour only.
MAX_LABELLED_CLASSES = 20
# White (no samples) to dark blue (the whole row), like the usual confusion-matrix plots.
_COLOURS = pg.ColorMap([0.0, 1.0], [(247, 251, 255), (8, 48, 107)])


class ConfusionMatrixView(QObject):
    """A k×k confusion matrix drawn on `plot`, empty (a blank square) until
    `show_confusion`."""

    cell_clicked = Signal(int, int)  # true class, predicted class

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="w")
        self._classes = 0
        self._class_names: tuple[str, ...] = ()
        self._cell_texts: list[pg.TextItem] = []
        self._cell_font = QFont()
        self._tick_names: list[str] = []
        self._fitted_cell = 0.0
        # Small enough for a docked panel; the aspect-locked matrix fills what it is given.
        self.plot.setMinimumSize(200, 180)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.setLabel("left", "True class")
        self.plot.setLabel("bottom", "Predicted class")
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setPen(pg.mkPen("k"))
            self.plot.getAxis(name).setTextPen(pg.mkPen("k"))
        self._image = pg.ImageItem(axisOrder="row-major")
        self._image.setColorMap(_COLOURS)
        self.plot.addItem(self._image)
        self._highlight = pg.QtWidgets.QGraphicsRectItem()
        self._highlight.setPen(QPen(QColor(230, 85, 13), 0.08))
        self._highlight.setVisible(False)
        self.plot.addItem(self._highlight)
        self.plot.scene().sigMouseClicked.connect(self._on_scene_clicked)
        self.plot.getViewBox().sigResized.connect(self._on_view_resized)
        self.plot.getViewBox().sigRangeChanged.connect(self._on_view_changed)
        # Until there is a matrix, show a blank square rather than meaningless axis numbers.
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setTicks([[]])
        self.plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)

    # ---- public API --------------------------------------------------------------------

    def show_confusion(self, confusion: np.ndarray, class_names: Sequence[str]) -> None:
        """Draw `confusion` (k×k counts, rows true, columns predicted)."""
        k = len(class_names)
        self._classes = k
        self._class_names = tuple(class_names)
        rows = confusion.sum(axis=1, keepdims=True)
        # Colour by share of the true class, so rare classes' mistakes are as visible as
        # frequent ones, on a square-root scale so a 2 % confusion is not lost beside a 95 %
        # diagonal; the cells show the counts.
        share = np.divide(
            confusion, rows, out=np.zeros(confusion.shape, np.float64), where=rows > 0
        )
        shade = np.ascontiguousarray(np.sqrt(share), dtype=np.float32)
        self._image.setImage(shade, levels=(0.0, 1.0))
        self._image.setRect(QRectF(0, 0, k, k))
        for item in self._cell_texts:
            self.plot.removeItem(item)
        self._cell_texts = []
        labelled = k <= MAX_LABELLED_CLASSES
        if labelled:
            font = self._cell_font = QFont()
            font.setPointSizeF(max(6.0, 11.0 - 0.25 * k))
            for row in range(k):
                for col in range(k):
                    colour = "w" if shade[row, col] > 0.6 else "k"
                    text = pg.TextItem(
                        str(int(confusion[row, col])), color=colour, anchor=(0.5, 0.5)
                    )
                    text.setFont(font)
                    text.setPos(col + 0.5, row + 0.5)
                    self.plot.addItem(text)
                    self._cell_texts.append(text)
        names = [_wrap(name) for name in self._class_names] if labelled else []
        self._tick_names = names
        self._fitted_cell = 0.0
        # pyqtgraph hides tick labels wider than the axis, so size both axes to the names;
        # the rows take the names on one line when two lines do not fit a row.
        metrics = QFontMetrics(self.plot.getAxis("left").font())
        widest = max(
            (metrics.horizontalAdvance(n) for n in self._class_names if labelled),
            default=metrics.horizontalAdvance("0"),
        )
        lines = max((name.count("\n") + 1 for name in names), default=1)
        self.plot.getAxis("left").setWidth(widest + 2 * metrics.height() + 8)
        self.plot.getAxis("bottom").setHeight((lines + 1) * metrics.height() + 12)
        self._highlight.setVisible(False)
        self._fit_range()
        self._fit_labels()

    def highlight(self, true: int, predicted: int) -> None:
        """Outline cell (true, predicted)."""
        self._highlight.setRect(QRectF(predicted, true, 1, 1))
        self._highlight.setVisible(True)

    def cell_center(self, true: int, predicted: int) -> QPointF:
        """Where cell (true, predicted) is drawn, in the plot's viewport pixels."""
        scene = self.plot.getViewBox().mapViewToScene(QPointF(predicted + 0.5, true + 0.5))
        return QPointF(self.plot.mapFromScene(scene))

    def cell_pixels(self) -> float:
        """The side of one matrix cell on screen, in pixels (0 before it is laid out)."""
        view = self.plot.getViewBox()
        (left, right), (top, bottom) = view.viewRange()
        if right <= left or bottom <= top:
            return 0.0
        return float(min(view.width() / (right - left), view.height() / (bottom - top)))

    def column_labels(self) -> list[str]:
        """The predicted-class names under the matrix, as drawn."""
        return self._tick_labels("bottom")

    def row_labels(self) -> list[str]:
        """The true-class names beside the matrix, as drawn."""
        return self._tick_labels("left")

    # ---- fitting to the space ------------------------------------------------------------

    def _tick_labels(self, axis: str) -> list[str]:
        ticks = self.plot.getAxis(axis)._tickLevels
        return [label for _, label in ticks[0]] if ticks else []

    def _fit_range(self) -> None:
        """Show the whole matrix against both axes (the row names at its left, the column
        names under it); the aspect lock alone would centre it, leaving the names far from
        their cells in a wide, short docked panel."""
        k = self._classes or 1
        pad = 0.02 * k
        side = k + 2 * pad
        view = self.plot.getViewBox()
        width, height = view.width(), view.height()
        x_range, y_range = (-pad, k + pad), (-pad, k + pad)
        if width > 0 and height > 0:
            if width >= height:
                x_range = (-pad, -pad + side * width / height)
            else:
                y_range = (k + pad - side * height / width, k + pad)
        view.setRange(xRange=x_range, yRange=y_range, padding=0)

    def _fit_labels(self) -> None:
        """Size the counts and the column names to the cells: a docked panel's cells are a
        third of a floated one's, where full names and counts would overlap."""
        cell = self.cell_pixels()
        if cell <= 0 or abs(cell - self._fitted_cell) < 0.5:
            return
        self._fitted_cell = cell
        room = cell - 4
        metrics = QFontMetrics(self.plot.getAxis("bottom").font())
        names = self._tick_names

        def width(text: str) -> int:
            return max(metrics.horizontalAdvance(line) for line in text.split("\n"))

        lines = max((name.count("\n") + 1 for name in names), default=1)
        rows = (
            names
            if cell >= lines * metrics.lineSpacing()
            else list(self._class_names)[: len(names)]
        )
        self.plot.getAxis("left").setTicks([[(i + 0.5, n) for i, n in enumerate(rows)]])
        if any(width(name) > room for name in names):
            # As much of each name as its column holds; the rows keep the full names.
            names = [_prefix(name.split("\n")[0], metrics, room) for name in names]
        self.plot.getAxis("bottom").setTicks([[(i + 0.5, n) for i, n in enumerate(names)]])
        if self._cell_texts:
            base = max(6.0, 11.0 - 0.25 * len(self._tick_names))
            font = QFont(self._cell_font)
            font.setPointSizeF(base)
            widest = max((item.toPlainText() for item in self._cell_texts), key=len)
            needed = QFontMetrics(font).horizontalAdvance(widest.rjust(2, "0"))
            font.setPointSizeF(max(5.0, min(base, base * 0.85 * cell / needed)))
            for item in self._cell_texts:
                item.setFont(font)

    # ---- slots -------------------------------------------------------------------------

    @Slot(object)
    def _on_scene_clicked(self, event: MouseClickEvent) -> None:
        if not self._classes:
            return
        point = self.plot.getViewBox().mapSceneToView(event.scenePos())
        col, row = math.floor(point.x()), math.floor(point.y())
        if 0 <= row < self._classes and 0 <= col < self._classes:
            self.cell_clicked.emit(row, col)

    @Slot(object)
    def _on_view_changed(self, *_: object) -> None:
        self._fit_labels()

    @Slot(object)
    def _on_view_resized(self, *_: object) -> None:
        if self._classes:
            self._fit_range()
        self._fit_labels()


def _prefix(name: str, metrics: QFontMetrics, width: float) -> str:
    """The longest start of `name` (at least one character) that is `width` pixels wide."""
    for end in range(len(name), 1, -1):
        if metrics.horizontalAdvance(name[:end]) <= width:
            return name[:end]
    return name[:1]


def _wrap(name: str, width: int = 8) -> str:
    """Break a long class name at a space or slash so axis labels do not overlap."""
    if len(name) <= width:
        return name
    for separator in (" ", "/", "-"):
        head, found, tail = name.partition(separator)
        if found and head:
            kept = found if separator != " " else ""
            return f"{head}{kept}\n{_wrap(tail, width)}"
    return name
