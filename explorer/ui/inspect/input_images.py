"""The picked image, converted: normalised for the network, and shown as it sees it.

Pure conversions used by the input picker: uint8 (C, H, W) pixels to a `QImage`, a
normalised input back to uint8 for display, the limit on the input's size, and the
conversion of a choice (made on a worker thread for large inputs, so it is a plain
function of its arguments).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap

from explorer.core.images import ConvertedImage, normalize_pixels
from explorer.core.summary import format_bytes

INLINE_VALUES = 1 << 20  # converted on the GUI thread: ≤ 4 MB as float32
MAX_INPUT_VALUES = 1 << 24  # larger inputs are refused: 64 MB as float32 per image
PREVIEW_SIZE = 80  # pixels a side of "as the network sees it"

# Thumbnails carry their label painted under the image: an item's own text would be
# elided to the icon's width ("Pu…" for Pullover).
THUMB_WIDTH, THUMB_HEIGHT = 66, 70
_THUMB_IMAGE = 54


def labelled_thumbnail(pixels: np.ndarray, label: str) -> QPixmap:
    """A thumbnail of uint8 (C, H, W) pixels with its label written under it."""
    pixmap = QPixmap(THUMB_WIDTH, THUMB_HEIGHT)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    image = pixels_to_qimage(pixels).scaled(
        _THUMB_IMAGE, _THUMB_IMAGE, Qt.AspectRatioMode.KeepAspectRatio
    )
    painter.drawImage((THUMB_WIDTH - image.width()) // 2, 0, image)
    font = painter.font()
    font.setPointSizeF(7.5)
    painter.setFont(font)
    text = painter.fontMetrics().elidedText(label, Qt.TextElideMode.ElideRight, THUMB_WIDTH)
    painter.drawText(
        QRect(0, _THUMB_IMAGE, THUMB_WIDTH, THUMB_HEIGHT - _THUMB_IMAGE),
        Qt.AlignmentFlag.AlignCenter,
        text,
    )
    painter.end()
    return pixmap


def pixels_to_qimage(pixels: np.ndarray) -> QImage:
    """uint8 (C, H, W), C = 1 or 3, as a QImage that owns a copy of the pixels."""
    c, h, w = pixels.shape
    if c == 1:
        data = np.ascontiguousarray(pixels[0])
        image = QImage(data.data, w, h, w, QImage.Format.Format_Grayscale8)
    else:
        data = np.ascontiguousarray(pixels[:3].transpose(1, 2, 0))
        image = QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return image.copy()  # the numpy buffer dies with this function


def network_view(tensor: torch.Tensor, size: int | None = None) -> np.ndarray:
    """A normalised input (C, H, W) stretched over its own range to uint8, for display;
    with `size`, every n-th pixel so that neither side exceeds about `size`."""
    values = tensor.detach().cpu().float().numpy()
    low, high = float(values.min()), float(values.max())
    if size is not None:
        step = max(1, math.ceil(max(values.shape[1:]) / size))
        values = values[:, ::step, ::step]
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return (scaled * 255.0 + 0.5).astype(np.uint8)


def input_refusal(shape: Sequence[int]) -> str | None:
    """Why an input of `shape` (C, H, W) cannot be inspected, or None when it can."""
    values = math.prod(int(n) for n in shape)
    if values <= MAX_INPUT_VALUES:
        return None
    size = "×".join(str(int(n)) for n in shape)
    return (
        f"The input {size} takes {format_bytes(4 * values)} per image as float32; "
        f"Inspect shows inputs up to {format_bytes(4 * MAX_INPUT_VALUES)}."
    )


@dataclass(frozen=True)
class ChosenImage:
    """A converted input and what the picker shows of it (made off the GUI thread for
    large inputs): the normalised tensor, a small uint8 preview and its value range."""

    tensor: torch.Tensor
    preview: np.ndarray
    low: float
    high: float
    description: str


Source = np.ndarray | Callable[[], ConvertedImage] | None


def convert_choice(
    pixels: Source,
    shape: tuple[int, int, int],
    mean: Sequence[float],
    std: Sequence[float],
    description: str,
) -> ChosenImage:
    """Normalise uint8 `pixels` (C, H, W), a black image of `shape` when None, or what a
    converter (a file or a drawing made to `shape`) returns, with its description."""
    if pixels is None:
        pixels = np.zeros(shape, np.uint8)
    elif callable(pixels):
        converted = pixels()
        pixels, description = converted.pixels, converted.description
    tensor = normalize_pixels(pixels, mean, std)
    low, high = float(tensor.min()), float(tensor.max())
    return ChosenImage(tensor, network_view(tensor, PREVIEW_SIZE), low, high, description)
