"""Where the trained network fails: accuracy, per-class scores, confusion matrix, mistakes.

A thin view over `explorer.core.evaluation.Evaluation`. Clicking a confusion-matrix cell
lists that (true, predicted) pair's images, most confident first; clicking an image emits
`image_chosen(split, index)` so the feature-map view can take it as its input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QIcon,
    QImage,
    QPen,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from explorer.core.data.resident import DeviceDataset
from explorer.core.evaluation import Evaluation, most_confident_mistakes, pair_samples

# More cells than this and the numbers and names no longer fit: colour only.
MAX_LABELLED_CLASSES = 20
# Thumbnails per list; a pair with more images shows its most confident ones.
MAX_THUMBNAILS = 200
THUMBNAIL_SIZE = 56
# Narrower than this (a docked panel on a 1280×800 screen is about 620 px), the matrix
# becomes the first tab instead of sitting beside the tabs, so nothing scrolls sideways.
SIDE_BY_SIDE_WIDTH = 900
# White (no samples) to dark blue (the whole row), like the usual confusion-matrix plots.
_COLOURS = pg.ColorMap([0.0, 1.0], [(247, 251, 255), (8, 48, 107)])
_INDEX_ROLE = Qt.ItemDataRole.UserRole


class EvaluationPanel(QWidget):
    """Test results of a trained network; empty until `set_evaluation`."""

    image_chosen = Signal(str, int)
    cell_chosen = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._evaluation: Evaluation | None = None
        self._dataset: DeviceDataset | None = None
        self._class_names: tuple[str, ...] = ()
        self._cell_texts: list[pg.TextItem] = []
        self._cell_font = QFont()
        self._tick_names: list[str] = []
        self._fitted_cell = 0.0

        self._accuracy = QLabel("No evaluation yet: train the network, then evaluate it.")
        self._accuracy_font = QFont(self._accuracy.font())
        self._accuracy_font.setPointSizeF(self._accuracy_font.pointSizeF() * 1.8)
        self._accuracy_font.setBold(True)
        self._details = QLabel()
        # Two short lines (not a wrapping label, which would make the panel as tall as its
        # preferred size inside the dock's scroll area) so Export fits a narrow panel.
        self._save_button = QPushButton("Export PNG…")
        self._save_button.setEnabled(False)
        self._save_button.clicked.connect(self._on_save_button_clicked)
        header = QHBoxLayout()
        header.addWidget(self._accuracy)
        header.addSpacing(16)
        header.addWidget(self._details, 1)
        header.addWidget(self._save_button)

        self._plot = pg.PlotWidget(background="w")
        # Small enough for a docked panel; the aspect-locked matrix fills what it is given.
        self._plot.setMinimumSize(200, 180)
        self._plot.setMenuEnabled(False)
        self._plot.setMouseEnabled(x=False, y=False)
        self._plot.hideButtons()
        self._plot.invertY(True)
        self._plot.setAspectLocked(True)
        self._plot.setLabel("left", "True class")
        self._plot.setLabel("bottom", "Predicted class")
        for name in ("left", "bottom"):
            self._plot.getAxis(name).setPen(pg.mkPen("k"))
            self._plot.getAxis(name).setTextPen(pg.mkPen("k"))
        self._image = pg.ImageItem(axisOrder="row-major")
        self._image.setColorMap(_COLOURS)
        self._plot.addItem(self._image)
        self._highlight = pg.QtWidgets.QGraphicsRectItem()
        self._highlight.setPen(QPen(QColor(230, 85, 13), 0.08))
        self._highlight.setVisible(False)
        self._plot.addItem(self._highlight)
        self._plot.scene().sigMouseClicked.connect(self._on_scene_clicked)
        self._plot.getViewBox().sigResized.connect(self._on_view_resized)
        self._plot.getViewBox().sigRangeChanged.connect(self._on_view_changed)
        # Until there is a matrix, show a blank square rather than meaningless axis numbers.
        for name in ("left", "bottom"):
            self._plot.getAxis(name).setTicks([[]])
        self._plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)

        self._table = QTableWidget(0, 5)
        self._table.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "F1", "Support"])
        self._table.verticalHeader().setVisible(False)
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header_view = self._table.horizontalHeader()
        header_view.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header_view.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # No sort column until the user picks one, so rows start in class order.
        header_view.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self._table.setSortingEnabled(True)

        self._pair_caption = QLabel("Click a cell of the confusion matrix to see its images.")
        self._pair_caption.setWordWrap(True)
        self._pair_grid = _thumbnail_grid(text_lines=1)
        self._pair_grid.itemClicked.connect(self._on_pair_grid_item_clicked)
        pair_page = QWidget()
        pair_layout = QVBoxLayout(pair_page)
        pair_layout.addWidget(self._pair_caption)
        pair_layout.addWidget(self._pair_grid, 1)

        self._mistakes_caption = QLabel()
        self._mistakes_caption.setWordWrap(True)
        self._mistakes_grid = _thumbnail_grid(text_lines=3)
        self._mistakes_grid.itemClicked.connect(self._on_mistakes_grid_item_clicked)
        mistakes_page = QWidget()
        mistakes_layout = QVBoxLayout(mistakes_page)
        mistakes_layout.addWidget(self._mistakes_caption)
        mistakes_layout.addWidget(self._mistakes_grid, 1)

        self._pair_page = pair_page
        self._tabs = QTabWidget()
        self._tabs.addTab(self._table, "Per class")
        self._tabs.addTab(pair_page, "Cell images")
        self._tabs.addTab(mistakes_page, "Top mistakes")

        self._splitter = QSplitter(Qt.Orientation.Horizontal)
        self._splitter.setChildrenCollapsible(False)
        self._splitter.addWidget(self._plot)
        self._splitter.addWidget(self._tabs)
        self._splitter.setStretchFactor(0, 3)
        self._splitter.setStretchFactor(1, 2)
        self._splitter.setSizes([600, 400])
        self._side_by_side = True
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(header)
        layout.addWidget(self._splitter, 1)

    # ---- public API --------------------------------------------------------------------

    def set_evaluation(
        self, evaluation: Evaluation, dataset: DeviceDataset, class_names: Sequence[str]
    ) -> None:
        """Show `evaluation`, whose per-sample arrays index `dataset`'s split images."""
        if len(class_names) != evaluation.num_classes:
            raise ValueError(f"{len(class_names)} class names for {evaluation.num_classes} classes")
        self._evaluation = evaluation
        self._dataset = dataset
        self._class_names = tuple(class_names)
        split = evaluation.split.capitalize()
        self._accuracy.setFont(self._accuracy_font)
        self._accuracy.setText(f"{split} accuracy {evaluation.accuracy * 100:.2f} %")
        self._details.setText(
            f"{evaluation.correct:,} of {evaluation.size:,} correct\n"
            f"mean loss {evaluation.loss:.4f}"
        )
        self._save_button.setEnabled(True)
        self._show_matrix()
        self._show_table()
        self._show_mistakes()
        self._highlight.setVisible(False)
        self._pair_grid.clear()
        self._pair_caption.setText("Click a cell of the confusion matrix to see its images.")

    def mark_outdated(self) -> None:
        """The network was edited since: keep the results on show, but say they are old."""
        if self._evaluation is not None:
            self._details.setText("of an earlier version of the network:\ntrain again to update")

    def select_cell(self, true: int, predicted: int) -> None:
        """List the images of class `true` predicted as `predicted`, most confident first."""
        evaluation = self._evaluation
        if evaluation is None:
            return
        indices = pair_samples(evaluation, true, predicted)
        names = self._class_names
        what = "correct" if true == predicted else "mistaken"
        caption = (
            f"True {names[true]}, predicted {names[predicted]} ({what}): "
            f"{len(indices):,} image{'s' if len(indices) != 1 else ''}"
        )
        if len(indices) > MAX_THUMBNAILS:
            caption += f", the {MAX_THUMBNAILS} most confident shown"
        elif len(indices) > 1:
            caption += ", most confident first"
        self._pair_caption.setText(caption + ".")
        self._fill_grid(self._pair_grid, indices[:MAX_THUMBNAILS], with_labels=False)
        self._highlight.setRect(QRectF(predicted, true, 1, 1))
        self._highlight.setVisible(True)
        self._tabs.setCurrentWidget(self._pair_page)
        self.cell_chosen.emit(true, predicted)

    def pair_indices(self) -> list[int]:
        """Sample indices listed for the selected cell, in display order."""
        return _grid_indices(self._pair_grid)

    def mistake_indices(self) -> list[int]:
        return _grid_indices(self._mistakes_grid)

    def cell_center(self, true: int, predicted: int) -> QPointF:
        """Where cell (true, predicted) is drawn, in the plot widget's viewport pixels."""
        scene = self._plot.getViewBox().mapViewToScene(QPointF(predicted + 0.5, true + 0.5))
        return QPointF(self._plot.mapFromScene(scene))

    @property
    def side_by_side(self) -> bool:
        """Whether the matrix sits beside the tabs (wide) or is their first tab (narrow)."""
        return self._side_by_side

    @property
    def plot_widget(self) -> pg.PlotWidget:
        return self._plot

    @property
    def pair_grid(self) -> QListWidget:
        return self._pair_grid

    def save_png(self, path: str) -> bool:
        """Save a picture of the whole panel; False when it could not be written."""
        return bool(self.grab().save(path, "PNG"))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._arrange(event.size().width() >= SIDE_BY_SIDE_WIDTH)

    def _arrange(self, side_by_side: bool) -> None:
        """The matrix beside the tabs, or (narrow) as the first of them."""
        if side_by_side == self._side_by_side:
            return
        self._side_by_side = side_by_side
        if side_by_side:
            self._tabs.removeTab(self._tabs.indexOf(self._plot))
            self._splitter.insertWidget(0, self._plot)
            self._plot.show()
            self._splitter.setSizes([600, 400])
        else:
            current = self._tabs.currentIndex()
            self._tabs.insertTab(0, self._plot, "Confusion matrix")
            # The tab the user had open stays open; a fresh panel starts on the matrix.
            self._tabs.setCurrentIndex(0 if self._evaluation is None else current + 1)

    # ---- drawing -----------------------------------------------------------------------

    def _show_matrix(self) -> None:
        evaluation = self._evaluation
        assert evaluation is not None
        confusion = evaluation.confusion
        k = evaluation.num_classes
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
            self._plot.removeItem(item)
        self._cell_texts = []
        labelled = k <= MAX_LABELLED_CLASSES
        if labelled:
            font = self._cell_font = QFont()
            font.setPointSizeF(max(6.0, 11.0 - 0.25 * k))
            for row in range(k):
                for col in range(k):
                    count = int(confusion[row, col])
                    colour = "w" if shade[row, col] > 0.6 else "k"
                    text = pg.TextItem(str(count), color=colour, anchor=(0.5, 0.5))
                    text.setFont(font)
                    text.setPos(col + 0.5, row + 0.5)
                    self._plot.addItem(text)
                    self._cell_texts.append(text)
        names = [_wrap(name) for name in self._class_names] if labelled else []
        self._tick_names = names
        self._fitted_cell = 0.0
        # pyqtgraph hides tick labels wider than the axis, so size both axes to the names;
        # the rows take the names on one line when two lines do not fit a row.
        metrics = QFontMetrics(self._plot.getAxis("left").font())
        widest = max(
            (metrics.horizontalAdvance(n) for n in self._class_names if labelled),
            default=metrics.horizontalAdvance("0"),
        )
        lines = max((name.count("\n") + 1 for name in names), default=1)
        self._plot.getAxis("left").setWidth(widest + 2 * metrics.height() + 8)
        self._plot.getAxis("bottom").setHeight((lines + 1) * metrics.height() + 12)
        self._fit_range()
        self._fit_labels()

    def _fit_range(self) -> None:
        """Show the whole matrix against both axes (the row names at its left, the column
        names under it); the aspect lock alone would centre it, leaving the names far from
        their cells in a wide, short docked panel."""
        k = self._evaluation.num_classes if self._evaluation is not None else 1
        pad = 0.02 * k
        side = k + 2 * pad
        view = self._plot.getViewBox()
        width, height = view.width(), view.height()
        x_range, y_range = (-pad, k + pad), (-pad, k + pad)
        if width > 0 and height > 0:
            if width >= height:
                x_range = (-pad, -pad + side * width / height)
            else:
                y_range = (k + pad - side * height / width, k + pad)
        view.setRange(xRange=x_range, yRange=y_range, padding=0)

    def cell_pixels(self) -> float:
        """The side of one matrix cell on screen, in pixels (0 before it is laid out)."""
        view = self._plot.getViewBox()
        (left, right), (top, bottom) = view.viewRange()
        if right <= left or bottom <= top:
            return 0.0
        return min(view.width() / (right - left), view.height() / (bottom - top))

    def column_labels(self) -> list[str]:
        """The predicted-class names under the matrix, as drawn."""
        return self._tick_labels("bottom")

    def row_labels(self) -> list[str]:
        """The true-class names beside the matrix, as drawn."""
        return self._tick_labels("left")

    def _tick_labels(self, axis: str) -> list[str]:
        ticks = self._plot.getAxis(axis)._tickLevels
        return [label for _, label in ticks[0]] if ticks else []

    def _fit_labels(self) -> None:
        """Size the counts and the column names to the cells: a docked panel's cells are a
        third of a floated one's, where full names and counts would overlap."""
        cell = self.cell_pixels()
        if cell <= 0 or abs(cell - self._fitted_cell) < 0.5:
            return
        self._fitted_cell = cell
        room = cell - 4
        metrics = QFontMetrics(self._plot.getAxis("bottom").font())
        names = self._tick_names

        def width(text: str) -> int:
            return max(metrics.horizontalAdvance(line) for line in text.split("\n"))

        lines = max((name.count("\n") + 1 for name in names), default=1)
        rows = (
            names
            if cell >= lines * metrics.lineSpacing()
            else list(self._class_names)[: len(names)]
        )
        self._plot.getAxis("left").setTicks([[(i + 0.5, n) for i, n in enumerate(rows)]])
        if any(width(name) > room for name in names):
            # As much of each name as its column holds; the rows keep the full names.
            names = [_prefix(name.split("\n")[0], metrics, room) for name in names]
        self._plot.getAxis("bottom").setTicks([[(i + 0.5, n) for i, n in enumerate(names)]])
        if self._cell_texts:
            base = max(6.0, 11.0 - 0.25 * len(self._tick_names))
            font = QFont(self._cell_font)
            font.setPointSizeF(base)
            widest = max((item.toPlainText() for item in self._cell_texts), key=len)
            needed = QFontMetrics(font).horizontalAdvance(widest.rjust(2, "0"))
            font.setPointSizeF(max(5.0, min(base, base * 0.85 * cell / needed)))
            for item in self._cell_texts:
                item.setFont(font)

    def _show_table(self) -> None:
        evaluation = self._evaluation
        assert evaluation is not None
        self._table.setSortingEnabled(False)
        self._table.setRowCount(evaluation.num_classes)
        for row, name in enumerate(self._class_names):
            self._table.setItem(row, 0, QTableWidgetItem(name))
            scores = (evaluation.precision, evaluation.recall, evaluation.f1)
            for col, values in enumerate(scores, start=1):
                self._table.setItem(row, col, _NumberItem(float(values[row]), f"{values[row]:.3f}"))
            support = int(evaluation.support[row])
            self._table.setItem(row, 4, _NumberItem(support, f"{support:,}"))
        self._table.setSortingEnabled(True)

    def _show_mistakes(self) -> None:
        evaluation = self._evaluation
        assert evaluation is not None
        indices = most_confident_mistakes(evaluation, MAX_THUMBNAILS)
        wrong = evaluation.size - evaluation.correct
        self._mistakes_caption.setText(
            f"{wrong:,} mistakes; the {len(indices)} the network was surest of, "
            "with the true class → the predicted class."
        )
        self._fill_grid(self._mistakes_grid, indices, with_labels=True)

    def _fill_grid(self, grid: QListWidget, indices: np.ndarray, *, with_labels: bool) -> None:
        evaluation, dataset = self._evaluation, self._dataset
        assert evaluation is not None and dataset is not None
        grid.clear()
        if len(indices) == 0:
            return
        split = evaluation.split
        chosen = np.asarray(indices, dtype=np.int64)
        images = dataset.images(split)[chosen].cpu().numpy()
        names = self._class_names
        for index, image in zip(chosen.tolist(), images, strict=True):
            confidence = f"{evaluation.confidences[index] * 100:.0f}%"
            true, predicted = (
                names[evaluation.true_labels[index]],
                names[evaluation.predicted[index]],
            )
            text = f"{true}\n→ {predicted}\n{confidence}" if with_labels else confidence
            item = QListWidgetItem(QIcon(_thumbnail(image)), text)
            item.setData(_INDEX_ROLE, index)
            item.setToolTip(
                f"{split} image {index}: true {true}, predicted {predicted} ({confidence})"
            )
            grid.addItem(item)

    # ---- slots -------------------------------------------------------------------------

    @Slot(object)
    def _on_scene_clicked(self, event: object) -> None:
        evaluation = self._evaluation
        if evaluation is None:
            return
        scene_pos = event.scenePos()  # type: ignore[attr-defined]
        point = self._plot.getViewBox().mapSceneToView(scene_pos)
        col, row = math.floor(point.x()), math.floor(point.y())
        if 0 <= row < evaluation.num_classes and 0 <= col < evaluation.num_classes:
            self.select_cell(row, col)

    @Slot(object)
    def _on_view_changed(self, *_: object) -> None:
        self._fit_labels()

    @Slot(object)
    def _on_view_resized(self, *_: object) -> None:
        if self._evaluation is not None:
            self._fit_range()
        self._fit_labels()

    @Slot(QListWidgetItem)
    def _on_pair_grid_item_clicked(self, item: QListWidgetItem) -> None:
        self._emit_image(item)

    @Slot(QListWidgetItem)
    def _on_mistakes_grid_item_clicked(self, item: QListWidgetItem) -> None:
        self._emit_image(item)

    @Slot()
    def _on_save_button_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export PNG", "evaluation.png", "PNG (*.png)")
        if path:
            self.save_png(path)

    def _emit_image(self, item: QListWidgetItem) -> None:
        if self._evaluation is not None:
            self.image_chosen.emit(self._evaluation.split, int(item.data(_INDEX_ROLE)))


class _NumberItem(QTableWidgetItem):
    """A right-aligned table cell shown as formatted text but sorted by its value."""

    def __init__(self, value: float, text: str) -> None:
        super().__init__(text)
        self.value = value
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, _NumberItem):
            return self.value < other.value
        return super().__lt__(other)


def _thumbnail_grid(text_lines: int) -> QListWidget:
    grid = QListWidget()
    line = grid.fontMetrics().lineSpacing()
    grid.setViewMode(QListView.ViewMode.IconMode)
    grid.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    # Wide enough for a class name like "Ankle boot" when the cells carry names.
    width = THUMBNAIL_SIZE + (12 if text_lines == 1 else 12 * grid.fontMetrics().averageCharWidth())
    grid.setGridSize(QSize(width, THUMBNAIL_SIZE + 10 + text_lines * line))
    grid.setResizeMode(QListView.ResizeMode.Adjust)
    grid.setMovement(QListView.Movement.Static)
    grid.setUniformItemSizes(True)
    grid.setWordWrap(False)
    grid.setTextElideMode(Qt.TextElideMode.ElideNone)
    return grid


def _grid_indices(grid: QListWidget) -> list[int]:
    return [int(grid.item(row).data(_INDEX_ROLE)) for row in range(grid.count())]


def _thumbnail(image: np.ndarray) -> QPixmap:
    """A (C, H, W) uint8 image as a pixmap, enlarged with hard pixel edges."""
    channels, height, width = image.shape
    if channels == 3:
        pixels = np.ascontiguousarray(image.transpose(1, 2, 0))
        qimage = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    else:
        pixels = np.ascontiguousarray(image[0])
        qimage = QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8)
    # QImage only borrows the numpy buffer: copy before `pixels` goes away.
    return QPixmap.fromImage(qimage.copy()).scaled(
        THUMBNAIL_SIZE,
        THUMBNAIL_SIZE,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.FastTransformation,
    )


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
