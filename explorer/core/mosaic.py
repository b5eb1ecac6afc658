"""Tile many small maps into one large image, so a view draws one item per layer.

A layer's output (C, H, W) becomes one 2-D float32 image of `rows × cols` tiles separated
by `gap` pixels of NaN (drawn transparent by pyqtgraph), normalised to 0..1 either per map
or with one scale shared by the layer. With `indexed=True` the image is instead uint8
colour indices, 0 on separators and 1..255 for 0..1, ready for a 256-colour lookup table:
the cheapest form to colour and draw. The arrays are row-major and C-contiguous, as
pyqtgraph wants them with `imageAxisOrder='row-major'`. Vectors (N,) become a strip that
wraps after `columns` values. Everything here is vectorised numpy; no per-channel loops.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IndexArray = npt.NDArray[np.uint8]

DEFAULT_GAP = 1
STRIP_COLUMNS = 64
# Mosaics about this many times wider than tall fill a row of the feature-map column.
COLUMN_ASPECT = 3.5


@dataclass(frozen=True)
class Layout:
    """Where tile `i` lies: row i // cols, column i % cols; tile origin at
    (row·(height+gap), col·(width+gap)) in image pixels (y, x)."""

    count: int
    rows: int
    cols: int
    height: int
    width: int
    gap: int

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) of the whole mosaic in pixels."""
        return (
            self.rows * (self.height + self.gap) - self.gap,
            self.cols * (self.width + self.gap) - self.gap,
        )

    def locate(self, y: int, x: int) -> tuple[int, int, int] | None:
        """(tile index, y, x inside the tile) for a mosaic pixel, or None on a gap or outside."""
        if y < 0 or x < 0:
            return None
        row, ty = divmod(y, self.height + self.gap)
        col, tx = divmod(x, self.width + self.gap)
        if ty >= self.height or tx >= self.width or row >= self.rows or col >= self.cols:
            return None
        index = row * self.cols + col
        return (index, ty, tx) if index < self.count else None


@dataclass(frozen=True)
class Mosaic:
    """A tiled image in 0..1 (NaN on separators and unused tiles), or its uint8 colour
    indices (0 on separators, 1..255 for 0..1), and the levels used.

    `levels` is (count, 2): the (low, high) raw values mapped to 0 and 1 for each tile; with
    a shared scale every row is the same.
    """

    image: FloatArray | IndexArray
    layout: Layout
    levels: FloatArray
    shared: bool


@functools.lru_cache(maxsize=256)
def grid_shape(count: int, height: int, width: int, aspect: float = 2.0) -> tuple[int, int]:
    """(rows, cols) for `count` tiles of height×width making a mosaic about `aspect` times
    wider than tall (a wide mosaic suits a column of layers), preferring grids whose last
    row is full: 16 maps make 2 rows of 8 rather than 7 + 7 + 2."""
    if count <= 0:
        return (0, 0)
    cols = np.arange(1, count + 1)
    rows = -(-count // cols)
    shape_error = np.abs(np.log((cols * max(width, 1)) / (rows * max(height, 1)) / aspect))
    empty = (rows * cols - count) / count
    best = int(np.argmin(shape_error + 2.0 * empty))
    return int(rows[best]), int(cols[best])


def map_levels(maps: npt.NDArray[np.floating], shared: bool) -> FloatArray:
    """(low, high) per map of (C, ...) values, or the layer's overall range repeated."""
    flat = np.asarray(maps, dtype=np.float32).reshape(maps.shape[0], -1)
    if flat.shape[1] == 0:
        return np.zeros((flat.shape[0], 2), np.float32)
    low, high = flat.min(axis=1), flat.max(axis=1)
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        # NaN or ±inf in a map (activations that overflowed): its finite values' range
        # (min and max pass NaN and infinities through; all finite, they are the range)
        finite = np.isfinite(flat)
        low = np.where(finite, flat, np.inf).min(axis=1)
        high = np.where(finite, flat, -np.inf).max(axis=1)
        none = ~finite.any(axis=1)
        low[none], high[none] = 0.0, 0.0
    if shared:
        low = np.full_like(low, low.min())
        high = np.full_like(high, high.max())
    return np.stack([low, high], axis=1).astype(np.float32)


def normalize(maps: npt.NDArray[np.floating], levels: FloatArray) -> FloatArray:
    """Scale each map (C, ...) to 0..1 with its (low, high); a flat map becomes 0."""
    values = np.asarray(maps, dtype=np.float32)
    extra = (1,) * (values.ndim - 1)
    low = levels[:, 0].reshape(-1, *extra)
    span = (levels[:, 1] - levels[:, 0]).reshape(-1, *extra)
    safe = np.where(span > 0, span, 1.0).astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):  # (overflowed maps: NaN, ±inf)
        out: FloatArray = ((values - low) / safe).astype(np.float32, copy=False)
    np.nan_to_num(out, copy=False, nan=0.0, posinf=1.0, neginf=0.0)  # (overflowed values)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def to_indices(scaled: FloatArray) -> IndexArray:
    """0..1 values as colour indices 1..255 (rounded)."""
    indices: IndexArray = (scaled * 254.0 + 1.5).astype(np.uint8)
    return indices


def tile(
    maps: npt.NDArray[np.floating] | IndexArray,
    cols: int | None = None,
    *,
    gap: int = DEFAULT_GAP,
    aspect: float = 2.0,
) -> tuple[Any, Layout]:
    """Arrange maps (C, H, W) — or colour maps (C, H, W, 3) — as a grid, as they are
    (no scaling). Gaps and unused tiles are NaN, or 0 for uint8 maps. Returns the image
    (float32, or uint8 for uint8 maps) and its layout."""
    values = np.asarray(maps)
    if values.dtype != np.uint8:
        values = values.astype(np.float32, copy=False)
    fill = 0 if values.dtype == np.uint8 else np.nan
    if values.ndim not in (3, 4):
        raise ValueError(f"tile needs (C, H, W) or (C, H, W, 3) maps, got shape {values.shape}")
    count, height, width = values.shape[:3]
    if cols is None:
        rows, cols = grid_shape(count, height, width, aspect)
    else:
        cols = max(1, min(cols, max(count, 1)))
        rows = -(-count // cols) if count else 0
    layout = Layout(count, rows, cols, height, width, gap)
    if count == 0:
        return np.zeros((0, 0, *values.shape[3:]), values.dtype), layout
    colour = values.shape[3:]
    cell = np.full((rows * cols, height + gap, width + gap, *colour), fill, dtype=values.dtype)
    cell[:count, :height, :width] = values
    # (rows, cols, H+g, W+g, ...) -> (rows, H+g, cols, W+g, ...) -> one image; then drop
    # the trailing gap on the bottom and right edges.
    grid = cell.reshape(rows, cols, height + gap, width + gap, *colour)
    grid = grid.swapaxes(1, 2).reshape(rows * (height + gap), cols * (width + gap), *colour)
    full_h, full_w = layout.image_shape
    return np.ascontiguousarray(grid[:full_h, :full_w]), layout


def feature_mosaic(
    maps: npt.NDArray[np.floating],
    *,
    shared: bool = False,
    cols: int | None = None,
    gap: int = DEFAULT_GAP,
    aspect: float = 2.0,
    indexed: bool = False,
) -> Mosaic:
    """All channels of a (C, H, W) map as one 0..1 image (or colour indices), with
    per-map or shared levels."""
    values = np.asarray(maps, dtype=np.float32)
    if values.ndim != 3:
        raise ValueError(f"feature_mosaic needs (C, H, W), got shape {values.shape}")
    levels = map_levels(values, shared)
    if indexed:
        # normalize + to_indices in one pass: this runs for every layer on every redraw.
        span = levels[:, 1] - levels[:, 0]
        scale = np.divide(254.0, span, out=np.zeros_like(span), where=span > 0)
        with np.errstate(invalid="ignore", over="ignore"):  # (overflowed maps: NaN, ±inf)
            scaled = values - levels[:, 0, None, None]
            scaled *= scale[:, None, None]
            scaled += 1.5
        if not np.isfinite(scaled).all():  # overflowed values: the ends of the colormap
            np.nan_to_num(scaled, copy=False, nan=0.0, posinf=255.0, neginf=1.0)
            np.clip(scaled, 0.0, 255.0, out=scaled)
        image, layout = tile(scaled.astype(np.uint8), cols, gap=gap, aspect=aspect)
    else:
        image, layout = tile(normalize(values, levels), cols, gap=gap, aspect=aspect)
    return Mosaic(image, layout, levels, shared)


def vector_strip(
    vector: npt.NDArray[np.floating], columns: int = STRIP_COLUMNS, *, indexed: bool = False
) -> Mosaic:
    """A vector (N,) as rows of `columns` cells (one pixel per value), 0..1 over its range
    (or colour indices); the unused cells of the last row are NaN (or 0). Its layout has
    one tile of 1×1 per value."""
    values = np.asarray(vector, dtype=np.float32).reshape(-1)
    count = values.shape[0]
    cols = max(1, min(columns, count))
    rows = -(-count // cols) if count else 0
    levels = map_levels(values.reshape(1, -1), shared=True)
    scaled = normalize(values.reshape(1, -1), levels)[0]
    padded: FloatArray | IndexArray
    if indexed:
        padded = np.zeros(rows * cols, np.uint8)
        padded[:count] = to_indices(scaled)
    else:
        padded = np.full(rows * cols, np.nan, dtype=np.float32)
        padded[:count] = scaled
    layout = Layout(count, rows, cols, 1, 1, 0)
    return Mosaic(padded.reshape(rows, cols), layout, np.repeat(levels, count, axis=0), True)


@dataclass(frozen=True)
class LayerMosaics:
    """A layer's output ready to draw both ways: each map on its own scale, and one scale
    shared by the layer (the same strip twice for a vector)."""

    per_map: Mosaic
    shared: Mosaic

    def get(self, shared: bool) -> Mosaic:
        return self.shared if shared else self.per_map


def layer_mosaics(output: npt.NDArray[np.floating], aspect: float = COLUMN_ASPECT) -> LayerMosaics:
    """The indexed mosaics of one layer's output, (C, H, W) maps or an (N,) vector."""
    values = np.asarray(output, dtype=np.float32)
    if values.ndim == 3:
        return LayerMosaics(
            feature_mosaic(values, shared=False, indexed=True, aspect=aspect),
            feature_mosaic(values, shared=True, indexed=True, aspect=aspect),
        )
    strip = vector_strip(values, indexed=True)
    return LayerMosaics(strip, strip)
