"""Convolution kernels as images, and one feature map enlarged beside its kernels.

The first convolution's kernels are drawn as small RGB images when the input has three
channels (what each filter looks for in colour); otherwise, and for later layers, each
output channel is a row of its per-input-channel kernels; a depthwise convolution's are one
2-D kernel per channel. Convolutions inside blocks are listed with the blocks around them
("conv2d_4 in parallel_1 › residual_2"). Weights are scaled
symmetrically around zero (mid-grey is 0), one scale per layer, so signs and relative
strengths stay comparable.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from explorer.core.capture_types import CaptureResult, LayerCapture
from explorer.core.mosaic import Layout, tile
from explorer.ui.inspect.feature_maps import (
    SEPARATOR_RGB,
    add_png_export_action,
    colormap_lut,
    save_png,
)

MAX_INPUT_KERNELS = 16  # kernels per output channel drawn for later layers


def kernel_image(kernel: np.ndarray, rgb: bool) -> tuple[np.ndarray, Layout, float]:
    """A layer's kernels (out, in, kh, kw) as one 0..1 mosaic (0.5 = zero weight).

    With `rgb` (3 input channels) each output channel is one colour tile; with one input
    channel the kernels fill a grid; otherwise output channels are rows and input
    channels (up to MAX_INPUT_KERNELS) columns.
    Returns the image, its layout and the largest |weight| (mapped to 0 and 1).
    """
    weights = np.asarray(kernel, np.float32)
    if weights.ndim != 4:
        raise ValueError(f"need conv kernels (out, in, kh, kw), got {weights.shape}")
    if rgb:
        tiles = weights.transpose(0, 2, 3, 1)  # (out, kh, kw, 3)
        cols = None
    elif weights.shape[1] == 1:
        tiles = weights[:, 0]
        cols = None
    else:
        kept = weights[:, :MAX_INPUT_KERNELS]
        tiles = kept.reshape(-1, *kept.shape[2:])
        cols = kept.shape[1]
    bound = float(np.abs(tiles).max()) or 1.0
    image, layout = tile(tiles * (0.5 / bound) + 0.5, cols, gap=1)
    return np.ascontiguousarray(image), layout, bound


def _still_view(widget: pg.GraphicsLayoutWidget) -> tuple[pg.ViewBox, pg.ImageItem]:
    widget.setBackground(SEPARATOR_RGB)
    box = widget.addViewBox(lockAspect=True, enableMouse=False, enableMenu=False, invertY=True)
    item = pg.ImageItem(axisOrder="row-major")
    box.addItem(item)
    return box, item


class FiltersView(QWidget):
    """The learned kernels of the chosen convolution layer; feed it with `show_capture`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layers: dict[str, LayerCapture] = {}  # by the text the list shows
        self._depthwise: set[str] = set()
        self._input_channels = 1
        self.layer_combo = QComboBox()
        self.info_label = QLabel("No convolution layers yet.")
        self.info_label.setWordWrap(True)
        self.save_button = QPushButton("Save PNG…")
        self.view = pg.GraphicsLayoutWidget()
        self.box, self.image = _still_view(self.view)
        row = QHBoxLayout()
        row.addWidget(QLabel("Layer:"))
        row.addWidget(self.layer_combo, 1)
        row.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.info_label)
        layout.addWidget(self.view, 1)
        self.layer_combo.currentTextChanged.connect(self._on_layer_combo_changed)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        add_png_export_action(self.view, "filters.png")

    def show_capture(self, result: CaptureResult, input_channels: int) -> None:
        self._input_channels = input_channels
        self._layers = {
            _where(result, layer): layer
            for layer in result.layers
            if layer.kernel is not None and layer.kernel.ndim == 4
        }
        self._depthwise = {
            text
            for text, layer in self._layers.items()
            if _is_depthwise(result, layer, input_channels)
        }
        current = self.layer_combo.currentText()
        if list(self._layers) != [
            self.layer_combo.itemText(i) for i in range(self.layer_combo.count())
        ]:
            self.layer_combo.blockSignals(True)
            self.layer_combo.clear()
            self.layer_combo.addItems(list(self._layers))
            if current in self._layers:
                self.layer_combo.setCurrentText(current)
            self.layer_combo.blockSignals(False)
        self._draw(self.layer_combo.currentText())

    def _draw(self, name: str) -> None:
        layer = self._layers.get(name)
        if layer is None or layer.kernel is None:
            self.image.clear()
            self.info_label.setText("No convolution layers yet.")
            return
        kernel = layer.kernel
        first = name == next(iter(self._layers))
        rgb = first and kernel.shape[1] == 3 and self._input_channels == 3
        image, layout, bound = kernel_image(kernel, rgb)
        if rgb:
            self.image.setLookupTable(None)
            self.image.setImage(image, levels=(0.0, 1.0), autoLevels=False)
            what = f"{layout.count} RGB kernels {kernel.shape[2]}×{kernel.shape[3]}"
        else:
            self.image.setLookupTable(colormap_lut("gray"))
            self.image.setImage(image, levels=(0.0, 1.0), autoLevels=False)
            shown_in = min(kernel.shape[1], MAX_INPUT_KERNELS)
            what = (
                f"{kernel.shape[0]} depthwise kernels {kernel.shape[2]}×{kernel.shape[3]}, "
                "one per channel"
                if name in self._depthwise
                else f"{kernel.shape[0]} kernels {kernel.shape[2]}×{kernel.shape[3]}"
                if kernel.shape[1] == 1
                else f"rows: {kernel.shape[0]} output channels · columns: {shown_in} of "
                f"{kernel.shape[1]} input channels · {kernel.shape[2]}×{kernel.shape[3]}"
            )
        capped = f" (first {kernel.shape[0]} of {layer.shape[0]})" if layer.truncated else ""
        if layer.kernels > 1:  # SeparableConv2D: the depthwise step is what has a window
            what += f", then a 1×1 pointwise convolution mixes them into {layer.shape[0]} maps"
            capped = ""
        self.info_label.setText(
            f"<b>{layer.name}</b>: {what}{capped}; "
            f"grey = 0, white = +{bound:.3g}, black = −{bound:.3g}"
        )
        self.box.autoRange(padding=0.01)

    @Slot(str)
    def _on_layer_combo_changed(self, name: str) -> None:
        self._draw(name)

    @Slot()
    def _on_save_button_clicked(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self, "Save filters", "filters.png", "PNG (*.png)")
        if path:
            save_png(self.view, path)


def _where(result: CaptureResult, layer: LayerCapture) -> str:
    """'conv2d_1', or for a layer inside blocks 'conv2d_4 in parallel_1 › residual_2'."""
    blocks: list[str] = []
    parent = layer.path.parent
    while parent is not None:
        row = result.position(parent)
        blocks.insert(0, result.layers[row].name if row is not None else str(parent))
        parent = parent.parent
    return f"{layer.name} in {' › '.join(blocks)}" if blocks else layer.name


def _is_depthwise(result: CaptureResult, layer: LayerCapture, input_channels: int) -> bool:
    """Whether the convolution's kernels see one channel each of an input of several."""
    source = result.input_of(layer.path)
    channels = input_channels if source is None else source.shape[0]
    return layer.kernel is not None and layer.kernel.shape[1] == 1 and channels > 1


class ChannelDetail(QDialog):
    """One feature map enlarged, with the kernels that produced it beside it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Feature map")
        self.resize(760, 420)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(SEPARATOR_RGB)
        self.map_label = self.view.addLabel("feature map", row=0, col=0, color="#222")
        self.kernel_label = self.view.addLabel("kernels", row=0, col=1, color="#222")
        self.map_box = self.view.addViewBox(
            row=1, col=0, lockAspect=True, enableMenu=False, invertY=True
        )
        self.kernel_box = self.view.addViewBox(
            row=1, col=1, lockAspect=True, enableMenu=False, invertY=True
        )
        self.map_image = pg.ImageItem(axisOrder="row-major")
        self.kernel_image = pg.ImageItem(axisOrder="row-major")
        self.map_box.addItem(self.map_image)
        self.kernel_box.addItem(self.kernel_image)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.view, 1)
        add_png_export_action(self, "feature-map.png")

    def show_channel(
        self,
        layer: LayerCapture,
        channel: int,
        colormap: str = "viridis",
        kernel_layer: LayerCapture | None = None,
    ) -> None:
        """Enlarge `layer`'s map `channel`; the kernels come from `kernel_layer` (the
        convolution that made this channel, when `layer` is a pool or activation after it)."""
        values = layer.output[channel]
        low, high = float(values.min()), float(values.max())
        self.map_image.setLookupTable(colormap_lut(colormap))
        self.map_image.setImage(
            np.ascontiguousarray(values), levels=(low, high if high > low else low + 1)
        )
        self.map_label.setText(f"{values.shape[0]}×{values.shape[1]}, {low:.3g} … {high:.3g}")
        self.title.setText(f"<b>{layer.label}</b> · channel {channel}")
        source = kernel_layer or layer
        kernel = source.kernel
        if kernel is not None and kernel.ndim == 4 and channel < kernel.shape[0]:
            image, _, bound = kernel_image(kernel[channel : channel + 1], rgb=False)
            self.kernel_image.setLookupTable(colormap_lut("gray"))
            self.kernel_image.setImage(image, levels=(0.0, 1.0), autoLevels=False)
            self.kernel_label.setText(
                f"{source.name}: {min(kernel.shape[1], MAX_INPUT_KERNELS)} of "
                f"{kernel.shape[1]} input kernels "
                f"{kernel.shape[2]}×{kernel.shape[3]}, ±{bound:.3g}"
            )
        else:
            self.kernel_image.clear()
            self.kernel_label.setText("no kernel: this layer has no weights of its own")
        self.map_box.autoRange(padding=0.02)
        self.kernel_box.autoRange(padding=0.02)
