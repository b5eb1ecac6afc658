"""The same convolution passed through every activation function, side by side.

As in the tutorials that compare ReLU, sigmoid, tanh and friends: one filter (the first
convolution's first filter, or a Sobel edge filter) is applied to the chosen image, and
each function of the vocabulary (`explorer.core.activations`) is applied to the result.
Each tile has its own scale, written under it, since the functions' ranges differ.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from explorer.core.activations import ACTIVATIONS
from explorer.core.capture import CaptureResult, activation_responses
from explorer.ui.feature_maps import SEPARATOR_RGB, colormap_lut, install_png_export, save_png

COLUMNS = 5


class ActivationGallery(QWidget):
    """Feed it an image (`set_image`) and optionally a kernel (`show_capture`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: torch.Tensor | None = None
        self._kernel: np.ndarray | None = None
        self._kernel_name = "Sobel edge filter"
        self.info_label = QLabel("Pick an image to compare activation functions.")
        self.info_label.setWordWrap(True)
        self.save_button = QPushButton("Save PNG…")
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(SEPARATOR_RGB)
        self._lut = colormap_lut("viridis")
        self._titles: dict[str, pg.LabelItem] = {}
        self._items: dict[str, pg.ImageItem] = {}
        names = list(ACTIVATIONS)  # "linear" is the convolution itself
        for index, name in enumerate(names):
            row, col = divmod(index, COLUMNS)
            title = self.view.addLabel(name, row=2 * row, col=col, size="9pt", color="#222")
            box = self.view.addViewBox(
                row=2 * row + 1,
                col=col,
                lockAspect=True,
                enableMouse=False,
                enableMenu=False,
                invertY=True,
            )
            item = pg.ImageItem(axisOrder="row-major")
            item.setLookupTable(self._lut)
            box.addItem(item)
            self._titles[name] = title
            self._items[name] = item
        row = QHBoxLayout()
        row.addWidget(self.info_label, 1)
        row.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.view, 1)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        install_png_export(self.view, "activations.png")

    def set_image(self, image: torch.Tensor) -> None:
        self._image = image.detach().cpu()
        self._draw()

    def show_capture(self, result: CaptureResult) -> None:
        """Use the first convolution's first filter from the captured weights."""
        for layer in result.layers:
            if layer.kernel is not None and layer.kernel.ndim == 4:
                kernel = layer.kernel[0]
                if self._image is not None and kernel.shape[0] != self._image.shape[0]:
                    break
                self._kernel = kernel
                self._kernel_name = f"filter 0 of {layer.name}"
                self._draw()
                return
        self._kernel, self._kernel_name = None, "Sobel edge filter"
        self._draw()

    def responses(self) -> dict[str, np.ndarray]:
        """What each tile shows (raw values), for tests and export."""
        return {name: item.image for name, item in self._items.items() if item.image is not None}

    def _draw(self) -> None:
        if self._image is None:
            return
        pre, responses = activation_responses(self._image, self._kernel)
        for name, values in responses.items():
            low, high = float(values.min()), float(values.max())
            self._items[name].setImage(
                np.ascontiguousarray(values), levels=(low, high if high > low else low + 1e-6)
            )
            self._titles[name].setText(
                f"<b>{name}</b><br>{low:.2g} … {high:.2g}", size="9pt", color="#222"
            )
        kh, kw = pre.shape if self._kernel is None else self._kernel.shape[-2:]
        size = "3×3" if self._kernel is None else f"{kh}×{kw}"
        self.info_label.setText(
            f"One convolution ({self._kernel_name}, {size}) through each activation; "
            "every tile has its own colour scale. Softmax is taken over the whole map."
        )

    @Slot()
    def _on_save_button_clicked(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(
            self, "Save activations", "activations.png", "PNG (*.png)"
        )
        if path:
            save_png(self.view, path)
