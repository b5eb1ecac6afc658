"""Choosing the image to look at: a dataset's test images, an image file, or a drawing.

Whatever the source, the picker converts it to the network's input shape and normalises
it with the training statistics, shows it as the network sees it, and emits
`image_chosen(tensor (C, H, W) float32, description)`.

The GUI thread never makes an input-sized array of a large input: up to `INLINE_VALUES`
values (a 3×512×512 image) the conversion is a few milliseconds and runs at once; above
that it runs on a background thread; above `MAX_INPUT_VALUES` the picker refuses and
`input_refused(message)` says how large one image would be.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from functools import partial

import numpy as np
import torch
from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from explorer.core.data import DeviceDataset
from explorer.core.dataset_split import Split
from explorer.core.images import (
    ImageError,
    centre_drawing,
    load_image_file,
)
from explorer.ui.common.quiet_timer import QuietTimer
from explorer.ui.common.tasks import TaskFailed, TaskFinished, TaskRunner
from explorer.ui.inspect.drawing_canvas import DrawingCanvas
from explorer.ui.inspect.input_images import (
    INLINE_VALUES,
    PREVIEW_SIZE,
    THUMB_HEIGHT,
    THUMB_WIDTH,
    ChosenImage,
    Source,
    convert_choice,
    input_refusal,
    labelled_thumbnail,
    pixels_to_qimage,
)

log = logging.getLogger(__name__)

GRID_LIMIT = 120  # thumbnails listed at once; "Random" reaches every image
# Thumbnails made per turn of the event loop (a few rows of the grid each): 120 of them at
# once held the window for ~20 ms more than the panel needs.
GRID_CHUNK = 30


class InputPicker(QWidget):
    """Pick the image to inspect; emits `image_chosen(tensor, description)`."""

    image_chosen = Signal(object, str)
    input_refused = Signal(str)  # the network's input is too large to inspect

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Large inputs convert off the GUI thread; only the latest choice's result counts.
        self._runner = TaskRunner("input-picker", self)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        self.refusal: str | None = None
        self._shape: tuple[int, int, int] = (1, 28, 28)
        self._mean: tuple[float, ...] = (0.5,)
        self._std: tuple[float, ...] = (0.5,)
        self._images: np.ndarray = np.zeros((0, 1, 28, 28), np.uint8)
        self._labels: np.ndarray = np.zeros(0, np.int64)
        self._class_names: tuple[str, ...] = ()
        self._random = random.Random(0)
        self.current: torch.Tensor | None = None
        self.description = ""

        # Dataset tab
        self.class_combo = QComboBox()
        self.random_button = QPushButton("Random")
        self.grid = QListWidget()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(THUMB_WIDTH, THUMB_HEIGHT))
        self.grid.setGridSize(QSize(THUMB_WIDTH + 6, THUMB_HEIGHT + 6))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setUniformItemSizes(True)
        dataset_tab = QWidget()
        row = QHBoxLayout()
        row.addWidget(self.class_combo, 1)
        row.addWidget(self.random_button)
        box = QVBoxLayout(dataset_tab)
        box.addLayout(row)
        box.addWidget(self.grid, 1)

        # File tab
        self.open_button = QPushButton("Open image…")
        self.file_label = QLabel("PNG, JPEG or BMP; converted to the network's input.")
        self.file_label.setWordWrap(True)
        file_tab = QWidget()
        box = QVBoxLayout(file_tab)
        box.addWidget(self.open_button)
        box.addWidget(self.file_label)
        box.addStretch(1)

        # Draw tab
        self.canvas = DrawingCanvas()
        self.clear_button = QPushButton("Clear")
        self.stroke_spin = QSpinBox()
        self.stroke_spin.setRange(4, 60)
        self.stroke_spin.setValue(self.canvas.stroke_width)
        self.stroke_spin.setPrefix("stroke ")
        self.stroke_spin.setSuffix(" px")
        draw_tab = QWidget()
        row = QHBoxLayout()
        row.addWidget(self.clear_button)
        row.addWidget(self.stroke_spin)
        # The canvas keeps its size (strokes are as thick as on MNIST); in a small dock
        # it scrolls rather than widening the whole Inspect panel.
        canvas_area = QScrollArea()
        canvas_area.setWidget(self.canvas)
        canvas_area.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        canvas_area.setFrameShape(QFrame.Shape.NoFrame)
        canvas_area.setMinimumSize(100, 80)
        box = QVBoxLayout(draw_tab)
        box.addWidget(canvas_area, 1)
        box.addLayout(row)

        self.tabs = QTabWidget()
        self.tabs.addTab(dataset_tab, "Dataset")
        self.tabs.addTab(file_tab, "File")
        self.tabs.addTab(draw_tab, "Draw")

        self.preview = QLabel()
        self.preview.setFixedSize(PREVIEW_SIZE, PREVIEW_SIZE)
        self.preview.setStyleSheet("background: black")
        self.preview_text = QLabel("No image chosen yet.")
        self.preview_text.setWordWrap(True)
        seen = QHBoxLayout()
        seen.addWidget(self.preview)
        seen.addWidget(self.preview_text, 1)

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(QLabel("<b>As the network sees it</b> (normalised):"))
        layout.addLayout(seen)

        self.class_combo.currentIndexChanged.connect(self._on_class_combo_changed)
        self.random_button.clicked.connect(self._on_random_button_clicked)
        self.grid.currentRowChanged.connect(self._on_grid_row_changed)
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.clear_button.clicked.connect(self._on_clear_button_clicked)
        self.stroke_spin.valueChanged.connect(self._on_stroke_spin_changed)
        self.canvas.drawing_finished.connect(self._on_canvas_drawing_finished)
        self._indices: np.ndarray = np.zeros(0, np.int64)
        self._grid_timer = QuietTimer(self)  # the rest of the thumbnails, a chunk a turn
        self._grid_timer.timeout.connect(self._on_grid_timer_timeout)

    # ---- configuration ---------------------------------------------------------------------

    def set_input_shape(self, shape: Sequence[int]) -> None:
        """The network's input (C, H, W); files and drawings are converted to it."""
        self._shape = (int(shape[0]), int(shape[1]), int(shape[2]))
        self.refusal = input_refusal(self._shape)
        if len(self._mean) != self._shape[0]:
            self._mean, self._std = (0.5,) * self._shape[0], (0.5,) * self._shape[0]

    def set_normalization(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self._mean, self._std = tuple(mean), tuple(std)

    def set_samples(
        self,
        images: np.ndarray | torch.Tensor,
        labels: np.ndarray | torch.Tensor,
        class_names: Sequence[str],
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        """Browse uint8 images (N, C, H, W) with integer labels."""
        if isinstance(images, torch.Tensor):
            images = images.detach().cpu().numpy()
        if isinstance(labels, torch.Tensor):
            labels = labels.detach().cpu().numpy()
        self._images = np.asarray(images, np.uint8)
        self._labels = np.asarray(labels, np.int64)
        self._class_names = tuple(class_names)
        self.set_normalization(mean, std)
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem("All classes")
        self.class_combo.addItems([self._class_name(i) for i in range(len(class_names))])
        self.class_combo.blockSignals(False)
        self._fill_grid()

    def set_dataset(self, dataset: DeviceDataset) -> None:
        """Browse a dataset's test split."""
        self.set_samples(
            dataset.images(Split.TEST),
            dataset.labels(Split.TEST),
            dataset.info.class_names,
            dataset.mean,
            dataset.std,
        )

    # ---- choosing --------------------------------------------------------------------------

    def choose_sample(self, index: int) -> None:
        pixels = self._images[index]
        label = int(self._labels[index])
        self._choose(pixels, f"test image #{index} · label {self._class_name(label)}")

    def choose_default(self) -> None:
        """The first listed dataset image when it fits the network, else a blank image."""
        if self.refusal is not None:
            self._runner.invalidate()
            self.current = None
            self.description = ""
            self.preview.clear()
            size = "×".join(map(str, self._shape))
            self.preview_text.setText(f"No image: the input {size} is too large to show.")
            self.input_refused.emit(self.refusal)
            return
        if len(self._indices) and self._images.shape[1:] == self._shape:
            if self.grid.currentRow() == 0:
                self.choose_sample(int(self._indices[0]))
            else:
                self.grid.setCurrentRow(0)
            return
        self._choose(None, "blank image (pick one from a dataset, a file or a drawing)")

    def open_file(self, path: str) -> bool:
        """Convert an image file to the input; False (and why, under the button) when it
        cannot be read. A large input is converted in the background."""
        if self.refusal is not None:
            self.file_label.setText(self.refusal)
            return False
        if math.prod(self._shape) > INLINE_VALUES:
            self._choose(partial(load_image_file, path, self._shape), path)
            return True
        try:
            converted = load_image_file(path, self._shape)
        except ImageError as error:
            self.file_label.setText(str(error))
            return False
        self.file_label.setText(converted.description)
        self._choose(converted.pixels, converted.description)
        return True

    def shutdown(self) -> None:
        """Wait for a conversion in progress; call before the app quits."""
        self._runner.shutdown()

    def _choose(self, pixels: Source, description: str) -> None:
        """Convert and show `pixels` (None: a black image of the input's shape)."""
        if self.refusal is not None:
            self.input_refused.emit(self.refusal)
            return
        self._runner.invalidate()  # a conversion still running is of an older choice
        args = (pixels, self._shape, self._mean, self._std, description)
        if math.prod(self._shape) <= INLINE_VALUES:
            self._show_choice(convert_choice(*args))
            return
        self.preview_text.setText(f"{description}<br>converting…")
        self._runner.start(lambda control: convert_choice(*args))

    @Slot(object)
    def _on_runner_finished(self, result: TaskFinished[ChosenImage]) -> None:
        self._show_choice(result.value)

    @Slot(object)
    def _on_runner_failed(self, failure: TaskFailed) -> None:
        self._show_failure(failure.error)

    def _show_choice(self, chosen: ChosenImage) -> None:
        tensor = chosen.tensor
        self.current = tensor
        self.description = chosen.description
        shown = pixels_to_qimage(chosen.preview).scaled(
            self.preview.size(), Qt.AspectRatioMode.KeepAspectRatio
        )
        self.preview.setPixmap(QPixmap.fromImage(shown))
        self.preview_text.setText(
            f"{chosen.description}<br>{'×'.join(map(str, tensor.shape))}, values "
            f"{chosen.low:.2f} … {chosen.high:.2f}"
        )
        self.image_chosen.emit(tensor, chosen.description)

    def _show_failure(self, error: BaseException) -> None:
        if isinstance(error, ImageError):
            self.file_label.setText(str(error))
        self.preview_text.setText(f"Cannot convert the image: {error}")

    def _class_name(self, label: int) -> str:
        return self._class_names[label] if 0 <= label < len(self._class_names) else str(label)

    def _matching(self) -> np.ndarray:
        wanted = self.class_combo.currentIndex() - 1
        if wanted < 0:
            return np.arange(len(self._labels))
        return np.flatnonzero(self._labels == wanted)

    def _fill_grid(self) -> None:
        self.grid.blockSignals(True)
        self.grid.clear()
        self.grid.blockSignals(False)
        self._indices = self._matching()[:GRID_LIMIT]
        self._grid_timer.stop()
        self._add_thumbnails()

    @property
    def grid_filling(self) -> bool:
        """Whether thumbnails of the listed images are still to be added to the grid."""
        return self.grid.count() < len(self._indices)

    def _add_thumbnails(self) -> None:
        """The next chunk of thumbnails (more on a later turn while some are left)."""
        start = self.grid.count()
        self.grid.blockSignals(True)
        for index in self._indices[start : start + GRID_CHUNK]:
            label = self._class_name(int(self._labels[index]))
            item = QListWidgetItem(QIcon(labelled_thumbnail(self._images[index], label)), "")
            item.setData(Qt.ItemDataRole.UserRole, label)
            item.setToolTip(f"test image #{index} · {label}")
            self.grid.addItem(item)
        self.grid.blockSignals(False)
        if self.grid_filling:
            self._grid_timer.start(0)

    @Slot()
    def _on_grid_timer_timeout(self) -> None:
        self._add_thumbnails()

    # ---- slots -----------------------------------------------------------------------------

    @Slot(int)
    def _on_class_combo_changed(self, _: int) -> None:
        self._fill_grid()

    @Slot()
    def _on_random_button_clicked(self) -> None:
        matching = self._matching()
        if len(matching):
            self.choose_sample(int(self._random.choice(list(matching))))

    @Slot(int)
    def _on_grid_row_changed(self, row: int) -> None:
        if 0 <= row < len(self._indices):
            self.choose_sample(int(self._indices[row]))

    @Slot()
    def _on_open_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open image", "", "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp);;All files (*)"
        )
        if path:
            self.open_file(path)

    @Slot()
    def _on_clear_button_clicked(self) -> None:
        self.canvas.clear()

    @Slot(int)
    def _on_stroke_spin_changed(self, width: int) -> None:
        self.canvas.stroke_width = width

    @Slot()
    def _on_canvas_drawing_finished(self) -> None:
        if math.prod(self._shape) > INLINE_VALUES:
            self._choose(partial(centre_drawing, self.canvas.strokes(), self._shape), "drawing")
            return
        converted = centre_drawing(self.canvas.strokes(), self._shape)
        self._choose(converted.pixels, converted.description)
