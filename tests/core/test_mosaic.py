"""Mosaic tiling, layout and levels checked against plain numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.core.mosaic import feature_mosaic, grid_shape, map_levels, tile, vector_strip


def test_tiles_sit_row_major_with_nan_gaps() -> None:
    maps = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)
    image, layout = tile(maps, cols=3, gap=1)
    assert (layout.rows, layout.cols) == (2, 3)
    assert image.shape == (2 * 2 + 1, 3 * 3 + 2)
    assert image.flags.c_contiguous and image.dtype == np.float32
    np.testing.assert_array_equal(image[0:2, 0:3], maps[0])
    np.testing.assert_array_equal(image[0:2, 4:7], maps[1])
    np.testing.assert_array_equal(image[0:2, 8:11], maps[2])
    np.testing.assert_array_equal(image[3:5, 0:3], maps[3])
    np.testing.assert_array_equal(image[3:5, 4:7], maps[4])
    assert np.isnan(image[2]).all()  # the separator row
    assert np.isnan(image[:, 3]).all() and np.isnan(image[:, 7]).all()
    assert np.isnan(image[3:5, 8:11]).all()  # the unused sixth tile


def test_colour_tiles_keep_their_last_axis() -> None:
    maps = np.random.default_rng(0).random((4, 3, 3, 3)).astype(np.float32)
    image, _ = tile(maps, cols=2, gap=1)
    assert image.shape == (7, 7, 3)
    np.testing.assert_array_equal(image[4:7, 4:7], maps[3])


@settings(max_examples=40, deadline=None)
@given(
    count=st.integers(1, 40),
    height=st.integers(1, 6),
    width=st.integers(1, 6),
    gap=st.integers(0, 2),
)
def test_every_pixel_locates_back_to_its_map(count: int, height: int, width: int, gap: int) -> None:
    maps = np.random.default_rng(count).normal(size=(count, height, width)).astype(np.float32)
    image, layout = tile(maps, gap=gap)
    assert layout.rows * layout.cols >= count > (layout.rows - 1) * layout.cols
    for y in range(image.shape[0]):
        for x in range(image.shape[1]):
            where = layout.locate(y, x)
            if where is None:
                assert np.isnan(image[y, x])
            else:
                index, ty, tx = where
                assert image[y, x] == maps[index, ty, tx]


def test_per_map_levels_are_each_maps_range() -> None:
    rng = np.random.default_rng(1)
    maps = rng.normal(size=(4, 5, 6)).astype(np.float32) * np.array([1, 10, 100, 0.1])[
        :, None, None
    ].astype(np.float32)
    mosaic = feature_mosaic(maps, shared=False, cols=4)
    np.testing.assert_array_equal(mosaic.levels[:, 0], maps.min(axis=(1, 2)))
    np.testing.assert_array_equal(mosaic.levels[:, 1], maps.max(axis=(1, 2)))
    for c in range(4):
        tile_ = mosaic.image[:, c * 7 : c * 7 + 6]
        want = (maps[c] - maps[c].min()) / (maps[c].max() - maps[c].min())
        np.testing.assert_allclose(tile_, want, rtol=1e-5, atol=1e-6)
        assert np.nanmin(tile_) == 0.0 and np.nanmax(tile_) == pytest.approx(1.0)


def test_shared_levels_use_the_whole_layers_range() -> None:
    maps = np.stack([np.full((2, 2), v, np.float32) for v in (-3.0, 0.0, 5.0)])
    mosaic = feature_mosaic(maps, shared=True, cols=3)
    assert mosaic.levels.tolist() == [[-3.0, 5.0]] * 3
    np.testing.assert_allclose(mosaic.image[0, [0, 3, 6]], [0.0, 3 / 8, 1.0])


def test_a_flat_map_becomes_zero_not_nan() -> None:
    maps = np.full((2, 3, 3), 7.0, np.float32)
    mosaic = feature_mosaic(maps, cols=2)
    assert np.nanmax(mosaic.image) == 0.0
    assert not np.isnan(mosaic.image[:, :3]).any()


def test_levels_for_an_empty_map_are_zero() -> None:
    assert map_levels(np.zeros((2, 0)), shared=False).tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_vector_strip_wraps_and_pads_with_nan() -> None:
    vector = np.arange(10, dtype=np.float32) - 4.0
    strip = vector_strip(vector, columns=4)
    assert strip.image.shape == (3, 4)
    np.testing.assert_allclose(strip.image.reshape(-1)[:10], (vector + 4.0) / 9.0)
    assert np.isnan(strip.image.reshape(-1)[10:]).all()
    assert strip.layout.locate(2, 1) == (9, 0, 0)
    assert strip.layout.locate(2, 2) is None


def test_grid_shape_is_wider_than_tall_and_holds_everything() -> None:
    rows, cols = grid_shape(64, 8, 8, aspect=2.0)
    assert rows * cols >= 64 and cols > rows
    assert grid_shape(1, 5, 5) == (1, 1)


def test_indexed_mosaic_is_the_float_mosaic_as_colour_indices() -> None:
    maps = np.random.default_rng(3).normal(size=(5, 4, 3)).astype(np.float32)
    floats = feature_mosaic(maps, cols=3)
    indexed = feature_mosaic(maps, cols=3, indexed=True)
    assert indexed.image.dtype == np.uint8 and indexed.image.shape == floats.image.shape
    gaps = np.isnan(floats.image)
    assert (indexed.image[gaps] == 0).all()
    want = np.rint(floats.image[~gaps] * 254) + 1
    np.testing.assert_array_equal(indexed.image[~gaps], want.astype(np.uint8))
    strip = vector_strip(np.arange(5, dtype=np.float32), columns=4, indexed=True)
    assert strip.image.tolist() == [[1, 65, 128, 192], [255, 0, 0, 0]]


@pytest.mark.parametrize("indexed", [False, True])
def test_overflowed_values_take_the_finite_range_and_the_ends_of_the_scale(indexed: bool) -> None:
    maps = np.array(
        [
            [[0.0, 1.0], [np.inf, 2.0]],  # an overflow beside finite values
            [[np.nan, -np.inf], [3.0, 5.0]],
            [[np.nan, np.nan], [np.inf, -np.inf]],  # nothing finite
        ],
        np.float32,
    )
    levels = map_levels(maps, shared=False)
    np.testing.assert_array_equal(levels, [[0.0, 2.0], [3.0, 5.0], [0.0, 0.0]])
    feature_mosaic(maps, indexed=indexed)  # no warning (the tests make warnings errors)
    top, low = (255, 1) if indexed else (1.0, 0.0)
    first = feature_mosaic(maps[:1], indexed=indexed).image
    assert first[1, 0] == top and first[0, 0] == low  # +inf at the top, the minimum at 0
