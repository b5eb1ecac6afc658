"""Grids of test images from an evaluation: one cell's images, or the surest mistakes.

Each item carries its sample index (`indices()`), so a click can name the image to inspect.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from explorer.core.data.resident import DeviceDataset
from explorer.core.evaluation import Evaluation

# Thumbnails per list; a pair with more images shows its most confident ones.
MAX_THUMBNAILS = 200
THUMBNAIL_SIZE = 56
_INDEX_ROLE = Qt.ItemDataRole.UserRole


class ThumbnailGrid(QListWidget):
    """Enlarged images with their confidence (and, with `text_lines` 3, true → predicted)."""

    def __init__(self, text_lines: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._with_labels = text_lines > 1
        line = self.fontMetrics().lineSpacing()
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        # Wide enough for a class name like "Ankle boot" when the cells carry names.
        extra = 12 * self.fontMetrics().averageCharWidth() if self._with_labels else 12
        self.setGridSize(QSize(THUMBNAIL_SIZE + extra, THUMBNAIL_SIZE + 10 + text_lines * line))
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideNone)

    def show_samples(
        self,
        evaluation: Evaluation,
        dataset: DeviceDataset,
        class_names: tuple[str, ...],
        indices: np.ndarray,
    ) -> None:
        """List the images at `indices` of the evaluated split, in that order."""
        self.clear()
        if len(indices) == 0:
            return
        split = evaluation.split
        chosen = np.asarray(indices, dtype=np.int64)
        images = dataset.images(split)[chosen].cpu().numpy()
        for index, image in zip(chosen.tolist(), images, strict=True):
            confidence = f"{evaluation.confidences[index] * 100:.0f}%"
            true = class_names[evaluation.true_labels[index]]
            predicted = class_names[evaluation.predicted[index]]
            text = f"{true}\n→ {predicted}\n{confidence}" if self._with_labels else confidence
            item = QListWidgetItem(QIcon(_thumbnail(image)), text)
            item.setData(_INDEX_ROLE, index)
            item.setToolTip(
                f"{split} image {index}: true {true}, predicted {predicted} ({confidence})"
            )
            self.addItem(item)

    def indices(self) -> list[int]:
        """The sample indices listed, in display order."""
        return [self.sample_index(self.item(row)) for row in range(self.count())]

    @staticmethod
    def sample_index(item: QListWidgetItem) -> int:
        return int(item.data(_INDEX_ROLE))


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
