"""Turning image files and drawings into network inputs.

A network wants uint8 pixels (C, H, W) with its own channel count and size, normalised
with the training set's per-channel statistics. Files are decoded with Pillow (PNG, JPEG,
BMP, ...), converted to grayscale or RGB and resized; drawings are centred the way MNIST
digits are (the stroke's bounding box scaled into the central 20/28 of the image, then
shifted so its centre of mass sits in the middle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

UInt8Array = npt.NDArray[np.uint8]

# MNIST digits fill a 20×20 box inside the 28×28 image.
DIGIT_FILL = 20 / 28

_MODE_NAMES = {
    "L": "grayscale",
    "RGB": "RGB",
    "RGBA": "RGBA",
    "P": "palette",
    "1": "1-bit",
    "I;16": "16-bit grayscale",
    "I": "32-bit grayscale",
    "LA": "grayscale+alpha",
    "CMYK": "CMYK",
}


class ImageError(ValueError):
    """The file is not an image Pillow can read; the message says which file and why."""


@dataclass(frozen=True)
class ConvertedImage:
    """Pixels ready for a network, (C, H, W) uint8, and how they were made."""

    pixels: UInt8Array
    description: str


def _channel_name(channels: int) -> str:
    return "grayscale" if channels == 1 else "RGB"


def prepare_image(image: Image.Image, mode: str, size: tuple[int, int]) -> Image.Image:
    """The one conversion every image goes through, for training (image folders) and for
    inspection alike: upright by its EXIF orientation, transparent areas black (like the
    background of a drawing), converted to `mode` ("L" or "RGB"), resized to `size` (W, H)."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, rgba)
    image = image.convert(mode)
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return image


def _pixels(image: Image.Image) -> UInt8Array:
    array = np.asarray(image, dtype=np.uint8)
    array = array[np.newaxis] if array.ndim == 2 else array.transpose(2, 0, 1)
    return np.ascontiguousarray(array)


def convert_image(image: Image.Image, shape: Sequence[int], source: str = "") -> ConvertedImage:
    """Convert a Pillow image to `shape` (C, H, W): channels first, then size (bilinear)."""
    channels, height, width = (int(n) for n in shape)
    mode = _MODE_NAMES.get(image.mode, image.mode)
    before = f"{mode} {image.width}×{image.height}"
    if channels not in (1, 3):
        raise ValueError(f"networks take 1 (grayscale) or 3 (RGB) channels, not {channels}")
    converted = prepare_image(image, "L" if channels == 1 else "RGB", (width, height))
    after = f"{_channel_name(channels)} {width}×{height}"
    text = f"{before} → {after}" if before != after else after
    return ConvertedImage(_pixels(converted), f"{source}: {text}" if source else text)


def load_image_file(path: str | Path, shape: Sequence[int]) -> ConvertedImage:
    """Read an image file and convert it to `shape` (C, H, W); ImageError if unreadable."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            return convert_image(image, shape, path.name)
    except (OSError, UnidentifiedImageError) as error:
        raise ImageError(f"cannot read {path.name} as an image: {error}") from None


def centre_drawing(strokes: npt.NDArray[np.uint8], shape: Sequence[int]) -> ConvertedImage:
    """An MNIST-style input from a drawing: white strokes (H, W uint8) on black.

    The strokes' bounding box is scaled (keeping its aspect) to fill the central 20/28 of
    the target, which is then shifted so the centre of mass sits in the middle. An empty
    drawing gives a black image.
    """
    channels, height, width = (int(n) for n in shape)
    drawing = np.asarray(strokes, dtype=np.uint8)
    out = np.zeros((height, width), np.uint8)
    ys, xs = np.nonzero(drawing)
    if ys.size:
        crop = drawing[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        box_h, box_w = max(1, round(height * DIGIT_FILL)), max(1, round(width * DIGIT_FILL))
        scale = min(box_h / crop.shape[0], box_w / crop.shape[1])
        new_h = max(1, round(crop.shape[0] * scale))
        new_w = max(1, round(crop.shape[1] * scale))
        small = np.asarray(
            Image.fromarray(crop).resize((new_w, new_h), Image.Resampling.LANCZOS), np.uint8
        )
        weights = small.astype(np.float64)
        total = weights.sum()
        if total > 0:
            cy = (weights.sum(axis=1) * np.arange(new_h)).sum() / total
            cx = (weights.sum(axis=0) * np.arange(new_w)).sum() / total
        else:
            cy, cx = (new_h - 1) / 2, (new_w - 1) / 2
        top = int(np.clip(round((height - 1) / 2 - cy), 0, height - new_h))
        left = int(np.clip(round((width - 1) / 2 - cx), 0, width - new_w))
        out[top : top + new_h, left : left + new_w] = small
    pixels = np.repeat(out[np.newaxis], channels, axis=0)
    text = f"drawing {drawing.shape[1]}×{drawing.shape[0]} → centred {_channel_name(channels)}"
    return ConvertedImage(np.ascontiguousarray(pixels), f"{text} {width}×{height}")


def normalize_pixels(
    pixels: npt.NDArray[np.uint8], mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """uint8 pixels (C, H, W) -> float32 tensor (x/255 − mean)/std per channel, as the
    training data is normalised (mean and std on the 0..1 scale)."""
    values = torch.tensor(np.asarray(pixels), dtype=torch.float32).div_(255.0)
    if values.dim() != 3 or len(mean) != values.shape[0] or len(std) != values.shape[0]:
        raise ValueError(
            f"pixels {tuple(values.shape)} need one mean and std per channel, "
            f"got {len(mean)} and {len(std)}"
        )
    m = torch.tensor([float(v) for v in mean]).view(-1, 1, 1)
    s = torch.tensor([float(v) for v in std]).view(-1, 1, 1)
    return (values - m) / s
