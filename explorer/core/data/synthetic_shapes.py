"""The built-in `shapes` dataset: ten classes of geometric shapes drawn procedurally.

It needs no download, so the app always has something to train on. Every image is a shape
with random position, scale, rotation (±15°, so that a plus never becomes an x, a square
never a diamond and a horizontal bar never a vertical one), stroke width, brightness and
noise, drawn for all images of a class at once as an anti-aliased signed-distance field.
Same seed, same bytes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from explorer.core.data.memory import check_fits
from explorer.core.data.splits import ImageSplits

CLASS_NAMES = (
    "circle",
    "ring",
    "square",
    "diamond",
    "triangle",
    "star",
    "plus",
    "x",
    "horizontal bar",
    "vertical bar",
)
MAX_ROTATION_RAD = np.deg2rad(15.0)
_TRAIN_STREAM, _TEST_STREAM = 0, 1


def make_shapes(
    train_size: int = 12_000,
    test_size: int = 2_000,
    *,
    image_size: int = 28,
    seed: int = 0,
    rgb: bool = False,
) -> ImageSplits:
    """Train and test splits of shapes, (N, 1, S, S) uint8 (or (N, 3, S, S) with `rgb`, with
    random colours), classes balanced to within one image. Each split has its own random
    stream, so the test images do not depend on the train size. Raises DatasetError, with
    the numbers, when the images would not fit in the memory available."""
    if image_size < 8:
        raise ValueError(f"shapes need an image size of at least 8 pixels, got {image_size}")
    channels = 3 if rgb else 1
    check_fits(
        shapes_peak_bytes(train_size, test_size, image_size, channels),
        f"the shapes set at {image_size}×{image_size}×{channels} "
        f"({train_size:,} + {test_size:,} images)",
        "use a smaller input size",
    )
    train_images, train_labels = render_split(train_size, image_size, seed, _TRAIN_STREAM, rgb)
    test_images, test_labels = render_split(test_size, image_size, seed, _TEST_STREAM, rgb)
    return ImageSplits.from_numpy(
        train_images, train_labels, test_images, test_labels, class_names=CLASS_NAMES
    )


def shapes_peak_bytes(train_size: int, test_size: int, image_size: int, channels: int) -> int:
    """Bytes `make_shapes` holds at its peak: both splits' uint8 pixels plus the float32
    temporaries of the largest class being drawn (measured with tracemalloc: 11 to 13
    image-sized planes per image, whatever the channels; 14 + 2 per channel allowed)."""
    plane = image_size * image_size
    pixels = (train_size + test_size) * channels * plane
    largest_class = -(-max(train_size, test_size) // len(CLASS_NAMES))
    return pixels + largest_class * plane * 4 * (14 + 2 * channels)


def render_split(
    count: int, image_size: int, seed: int, stream: int, rgb: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """`count` images (N, C, S, S) uint8 and their labels (N,) int64 from stream `stream`."""
    rng = np.random.default_rng([seed, stream])
    labels = np.arange(count, dtype=np.int64) % len(CLASS_NAMES)
    rng.shuffle(labels)
    half = image_size / 2.0
    scale = rng.uniform(0.55, 0.9, count)  # shape radius as a fraction of half the image
    room = (1.0 - scale) * half * 0.9  # keeps the whole shape inside the frame
    centre_x = rng.uniform(-1.0, 1.0, count) * room
    centre_y = rng.uniform(-1.0, 1.0, count) * room
    angle = rng.uniform(-MAX_ROTATION_RAD, MAX_ROTATION_RAD, count)
    stroke = rng.uniform(0.13, 0.26, count)  # half-width of lines, in shape radii
    radius_px = scale * half
    channels = 3 if rgb else 1
    colours = (count, channels, 1, 1)
    background = rng.uniform(0.0, 0.15, colours).astype(np.float32)
    foreground = rng.uniform(0.65, 1.0, colours).astype(np.float32)
    # Uniform noise: a third of the cost of Gaussian; sqrt(12) makes `noise_level` its std.
    noise_level = rng.uniform(0.02, 0.08, colours).astype(np.float32) * np.float32(np.sqrt(12))

    pixels = np.empty((count, channels, image_size, image_size), np.uint8)
    grid = np.arange(image_size, dtype=np.float32) - (image_size - 1) / 2.0
    # One class at a time: a few MB of temporaries that stay in cache, not full-size arrays.
    for label in range(len(CLASS_NAMES)):
        index = np.flatnonzero(labels == label)
        if index.size == 0:
            continue
        radius = radius_px[index, None, None].astype(np.float32)
        dx = grid[None, None, :] - centre_x[index, None, None].astype(np.float32)
        dy = grid[None, :, None] - centre_y[index, None, None].astype(np.float32)
        cos = np.cos(angle[index])[:, None, None].astype(np.float32)
        sin = np.sin(angle[index])[:, None, None].astype(np.float32)
        u = _field((dx * cos + dy * sin) / radius)
        v = _field((dy * cos - dx * sin) / radius)
        distance = _SHAPES[label](u, v, _field(stroke[index, None, None]))
        # Signed distance in pixels -> coverage of a one-pixel-wide edge (anti-aliasing).
        coverage = np.clip(0.5 - distance * radius, 0.0, 1.0)[:, None]
        image = rng.random((index.size, channels, image_size, image_size), dtype=np.float32)
        image -= 0.5
        image *= noise_level[index]
        image += background[index]
        image += coverage * (foreground[index] - background[index])
        image *= 255.0
        image += 0.5
        pixels[index] = np.clip(image, 0.0, 255.0, out=image)
    return pixels, labels


# Signed distance functions in shape radii: negative inside, 0 on the edge. Each takes the
# rotated coordinates u (right), v (down) and the stroke half-width w, all float32 (n, S, S).

Field = npt.NDArray[np.float32]


def _field(values: npt.ArrayLike) -> Field:
    return np.asarray(values, dtype=np.float32)  # no copy: the inputs are float32 already


def _box(u: Field, v: Field, half_u: float | Field, half_v: float | Field) -> Field:
    return _field(np.maximum(np.abs(u) - half_u, np.abs(v) - half_v))


def _circle(u: Field, v: Field, w: Field) -> Field:
    return _field(np.hypot(u, v) - 0.85)


def _ring(u: Field, v: Field, w: Field) -> Field:
    return _field(np.abs(np.hypot(u, v) - 0.75) - w)


def _square(u: Field, v: Field, w: Field) -> Field:
    return _field(np.abs(np.maximum(np.abs(u), np.abs(v)) - 0.72) - w)


def _diamond(u: Field, v: Field, w: Field) -> Field:
    return _field((np.abs(u) + np.abs(v) - 0.95) * np.float32(1 / np.sqrt(2)))


def _triangle(u: Field, v: Field, w: Field) -> Field:
    # Apex up; the outline spans v in [-1, 0.5], shifted by 0.25 to centre it.
    v = v - 0.25
    edge = np.float32(np.sqrt(3) / 2)
    return _field(np.maximum(np.maximum(v, -0.5 * v + edge * u), -0.5 * v - edge * u) - 0.5)


def _star(u: Field, v: Field, w: Field) -> Field:
    # Five points, one straight up; the radius swings between 0.4 and 1.0.
    phi = np.arctan2(v, u) + np.float32(np.pi / 2)
    lobe = (0.5 + 0.5 * np.cos(5 * phi)) ** 2
    return _field((np.hypot(u, v) - (0.4 + 0.6 * lobe)) * np.float32(0.6))


def _plus(u: Field, v: Field, w: Field) -> Field:
    return _field(np.minimum(_box(u, v, 0.85, w), _box(u, v, w, 0.85)))


def _x(u: Field, v: Field, w: Field) -> Field:
    diagonal = np.float32(1 / np.sqrt(2))
    return _plus((u + v) * diagonal, (v - u) * diagonal, w)


def _horizontal_bar(u: Field, v: Field, w: Field) -> Field:
    return _box(u, v, 0.9, w * 1.3)


def _vertical_bar(u: Field, v: Field, w: Field) -> Field:
    return _box(u, v, w * 1.3, 0.9)


_SHAPES = (
    _circle,
    _ring,
    _square,
    _diamond,
    _triangle,
    _star,
    _plus,
    _x,
    _horizontal_bar,
    _vertical_bar,
)
