"""An attribution map drawn over its input: the picture the command line writes and the
Explain tab shows.

numpy only (no torch, no Qt, no matplotlib), so the window can blend a new opacity on its
thread in microseconds and the command line writes it with Pillow. The input shows in grey
(one channel) or colour (three); the heat in an "inferno"-like ramp, black through purple
and orange to yellow, blended over it; the input is dimmed as the opacity grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

UInt8Array = npt.NDArray[np.uint8]

# Anchors of the colour ramp (position 0..1 -> RGB), interpolated linearly.
_RAMP_AT = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_RAMP_RGB = np.array(
    [[0, 0, 4], [87, 16, 110], [200, 40, 60], [250, 130, 0], [255, 230, 0]], dtype=np.float64
)
# How much the input is dimmed at full opacity, so the heat's bright end stands out on
# white strokes (grayscale digits are mostly white on black).
DIM = 0.5

# The heat's top percentile maps to the ramp's end, so one extreme pixel (common in
# gradients) does not leave the rest dark.
TOP_PERCENTILE = 99.5


def heat_levels(heat: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """The heat (H, W) scaled to 0..1 for display: its positive part (evidence for the
    target class) over its 99.5th percentile, clipped. An all-zero map stays zero."""
    positive = np.clip(np.nan_to_num(np.asarray(heat, dtype=np.float64)), 0.0, None)
    top = float(np.percentile(positive, TOP_PERCENTILE)) if positive.size else 0.0
    if top <= 0.0:
        top = float(positive.max()) if positive.size else 0.0
    if top <= 0.0:
        return np.zeros(positive.shape, np.float32)
    return np.clip(positive / top, 0.0, 1.0).astype(np.float32)


def colour_ramp(levels: npt.NDArray[np.floating]) -> UInt8Array:
    """Levels (H, W) in 0..1 -> RGB (H, W, 3) uint8 on the ramp."""
    flat = np.clip(np.asarray(levels, np.float64).reshape(-1), 0.0, 1.0)
    channels = [np.interp(flat, _RAMP_AT, _RAMP_RGB[:, c]) for c in range(3)]
    rgb = np.stack(channels, axis=1).reshape(*np.shape(levels), 3)
    return np.rint(rgb).astype(np.uint8)


def display_pixels(
    image: npt.NDArray[np.floating], mean: Sequence[float], std: Sequence[float]
) -> UInt8Array:
    """A normalised image (C, H, W) back to the pixels it came from, RGB (H, W, 3) uint8
    (a grayscale image in all three channels)."""
    values = np.asarray(image, np.float64)
    m = np.asarray(mean, np.float64).reshape(-1, 1, 1)
    s = np.asarray(std, np.float64).reshape(-1, 1, 1)
    pixels = np.clip(np.rint((values * s + m) * 255.0), 0, 255).astype(np.uint8)
    return as_rgb(pixels)


def as_rgb(pixels: UInt8Array) -> UInt8Array:
    """uint8 pixels (C, H, W) with C = 1 or 3 -> RGB (H, W, 3)."""
    if pixels.ndim != 3 or pixels.shape[0] not in (1, 3):
        raise ValueError(f"need pixels (1 or 3, H, W), got shape {pixels.shape}")
    rgb = np.repeat(pixels, 3, axis=0) if pixels.shape[0] == 1 else pixels
    return np.ascontiguousarray(rgb.transpose(1, 2, 0))


def blend(
    rgb: UInt8Array, heat_rgb: UInt8Array, levels: npt.NDArray[np.floating], opacity: float
) -> UInt8Array:
    """The heat's colours over the input, each pixel at `opacity` × its level (0..1), on
    the input dimmed by DIM × `opacity`: cold areas show the (dimmed) input, the hottest
    the ramp at `opacity`. At opacity 0 the input shows as it is."""
    opacity = float(np.clip(opacity, 0.0, 1.0))
    alpha = (opacity * np.asarray(levels, np.float32))[..., None]
    base = rgb.astype(np.float32) * (1.0 - DIM * opacity)
    mixed = base * (1.0 - alpha) + heat_rgb.astype(np.float32) * alpha
    return np.ascontiguousarray(np.clip(np.rint(mixed), 0, 255).astype(np.uint8))


def overlay(pixels: UInt8Array, heat: npt.NDArray[np.floating], opacity: float = 0.6) -> UInt8Array:
    """uint8 pixels (C, H, W) with the heat (H, W) blended over them: RGB (H, W, 3)."""
    rgb = as_rgb(pixels)
    if np.shape(heat) != rgb.shape[:2]:
        raise ValueError(f"heat {np.shape(heat)} does not match the image {rgb.shape[:2]}")
    levels = heat_levels(heat)
    return blend(rgb, colour_ramp(levels), levels, opacity)


def enlarged(rgb: UInt8Array, min_side: int = 224) -> UInt8Array:
    """The picture repeated by a whole factor (nearest) until its shorter side is at least
    `min_side`: a 28×28 map becomes 224×224 with every input pixel still sharp."""
    factor = max(1, -(-min_side // max(1, min(rgb.shape[:2]))))
    return np.ascontiguousarray(rgb.repeat(factor, axis=0).repeat(factor, axis=1))


def write_png(rgb: UInt8Array, path: str | Path) -> None:
    """Write RGB (H, W, 3) uint8 as a PNG, atomically (a reader never sees half a file)."""
    from PIL import Image

    from explorer.core.files import write_stream_atomic

    image = Image.fromarray(np.ascontiguousarray(rgb))
    write_stream_atomic(path, lambda stream: image.save(stream, format="PNG"))
