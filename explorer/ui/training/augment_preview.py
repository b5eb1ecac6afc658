"""A preview of the training augmentation under the dataset picker: four training images,
each beside three random draws of the augmentation the settings ask for.

The images are loaded (never downloaded) and augmented by a background task; the GUI thread
only turns the finished grid into a pixmap. The preview refreshes when the dataset, the
augmentation settings or the seed change, and only while it is visible, so a window that
never shows the Training settings never loads data or Kornia for it. "New draw" draws again.
Nothing here imports torch at start-up (the window draws before torch loads): the task does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QImage, QPixmap, QShowEvent
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from explorer.core.spec import TRAINING_PARAMS, TrainingSpec
from explorer.ui.common.tasks import TaskControl, TaskFailed, TaskFinished, TaskRunner

ROWS = 4  # training images shown
DRAWS = 3  # augmented versions of each
TILE_PIXELS = 56  # about how large each image is drawn (whole multiples of its size)


# The training settings the preview depends on besides the dataset and seed.
AUGMENT_KEYS = tuple(key for key in TRAINING_PARAMS if key.startswith("augment_"))


def augmentation_values(training: TrainingSpec) -> tuple[object, ...]:
    """`training`'s augmentation settings, in AUGMENT_KEYS order."""
    return tuple(getattr(training, key) for key in AUGMENT_KEYS)


@dataclass(frozen=True)
class PreviewRequest:
    """What the preview shows: the dataset, the augmentation settings
    (`augmentation_values`), the seed and the draw."""

    dataset: str
    augmentation: tuple[object, ...]
    seed: int
    draw: int


@dataclass(frozen=True)
class PreviewGrid:
    """A finished preview: uint8 pixels (H, W, C) and the caption."""

    request: PreviewRequest
    pixels: np.ndarray
    scale: int
    caption: str


@functools.lru_cache(maxsize=4)
def _first_images(
    dataset: str, data_dir: Path | None, seed: int
) -> tuple[Any, tuple[float, ...], tuple[float, ...]]:
    """The first ROWS training images (uint8 on the CPU) and the normalisation statistics;
    kept, so that editing a setting does not load the dataset again (a missing dataset
    raises DatasetError, which is not kept)."""
    from explorer.core.data import load_dataset
    from explorer.core.dataset_split import Split

    loaded = load_dataset(dataset, data_dir=data_dir, download=False, seed=seed)
    return loaded.images(Split.TRAIN)[:ROWS].clone(), loaded.mean, loaded.std


def render_preview(
    request: PreviewRequest, training: TrainingSpec, data_dir: Path | None, _: TaskControl
) -> PreviewGrid | str:
    """The preview task: the grid, or why there is none (e.g. the dataset is missing)."""
    from explorer.core.data import DatasetError
    from explorer.core.training.augment import AugmentSettings, preview_grid

    try:
        images, mean, std = _first_images(request.dataset, data_dir, request.seed)
    except DatasetError as error:
        return f"No preview: {error}"
    if images.shape[0] == 0:
        return "No preview: the training split is empty."
    pixels = preview_grid(
        images,
        mean,
        std,
        training,
        draws=DRAWS,
        seed=request.seed + request.draw,
    )
    side = max(images.shape[2], images.shape[3])
    settings = AugmentSettings.of(training)
    caption = (
        f"Left: training images; right: three random draws ({settings.describe()})."
        if settings.active
        else "Augmentation off: training images as they are."
    )
    return PreviewGrid(request, pixels.numpy(), max(1, TILE_PIXELS // side), caption)


def grid_pixmap(grid: PreviewGrid) -> QPixmap:
    """The grid as a pixmap, enlarged by its whole-number scale with hard pixel edges."""
    pixels = np.ascontiguousarray(grid.pixels)
    height, width, channels = pixels.shape
    if channels == 3:
        image = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    else:
        plane = np.ascontiguousarray(pixels[:, :, 0])
        image = QImage(plane.data, width, height, width, QImage.Format.Format_Grayscale8)
    # QImage only borrows the numpy buffer: copy before it goes away.
    return QPixmap.fromImage(image.copy()).scaled(
        width * grid.scale,
        height * grid.scale,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.FastTransformation,
    )


class AugmentPreview(QGroupBox):
    """Training images beside augmented draws of them; `show_training(training)` asks for
    the preview of those settings (drawn when visible, off the GUI thread)."""

    def __init__(self, data_dir: Path | None, parent: QWidget | None = None) -> None:
        super().__init__("Augmentation preview", parent)
        self.data_dir = data_dir
        self._training = TrainingSpec()
        self._wanted: PreviewRequest | None = None  # what the settings ask for
        self._asked: PreviewRequest | None = None  # the latest request given to the task
        self._shown: PreviewRequest | None = None  # what the picture shows
        self._draw = 0
        self.runner = TaskRunner("augment-preview", self)
        self.runner.finished.connect(self._on_runner_finished)
        self.runner.failed.connect(self._on_runner_failed)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption = QLabel("Shown when the settings are open.")
        self.caption.setWordWrap(True)
        self.new_draw = QPushButton("New draw")
        self.new_draw.setToolTip("Draw the augmentation again (training uses its own draws)")
        self.new_draw.clicked.connect(self._on_new_draw_clicked)
        row = QHBoxLayout()
        row.addWidget(self.caption, 1)
        row.addWidget(self.new_draw, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.addWidget(self.picture)
        layout.addLayout(row)

    @property
    def shown(self) -> PreviewRequest | None:
        """The request whose picture is on screen, if any."""
        return self._shown

    def show_training(self, training: TrainingSpec) -> None:
        """Preview `training`'s dataset and augmentation (redrawn only if they changed)."""
        self._training = training
        self._wanted = PreviewRequest(
            training.dataset, augmentation_values(training), training.seed, self._draw
        )
        self._refresh()

    def shutdown(self) -> None:
        """Stop the preview task and wait for it (safe to repeat)."""
        self.runner.shutdown()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._refresh()

    def _refresh(self) -> None:
        wanted = self._wanted
        if wanted is None or wanted == self._asked or not self.isVisible():
            return
        if self.runner.is_shut_down:
            return
        self._asked = wanted
        self.runner.invalidate()
        training, data_dir = self._training, self.data_dir
        self.runner.start(lambda control: render_preview(wanted, training, data_dir, control))

    @Slot()
    def _on_new_draw_clicked(self) -> None:
        self._draw += 1
        self.show_training(self._training)

    @Slot(object)
    def _on_runner_finished(self, result: TaskFinished[PreviewGrid | str]) -> None:
        value = result.value
        if isinstance(value, str):
            self.picture.clear()
            self.caption.setText(value)
            self._shown = None
            return
        self.picture.setPixmap(grid_pixmap(value))
        self.caption.setText(value.caption)
        self._shown = value.request

    @Slot(object)
    def _on_runner_failed(self, failure: TaskFailed) -> None:
        self.picture.clear()
        self.caption.setText(f"No preview: {failure.message}")
        self._shown = None
