"""The overlay picture: levels, colours, blending, the way back from normalised pixels."""

from __future__ import annotations

import numpy as np

from explorer.core.attribution_overlay import (
    blend,
    colour_ramp,
    display_pixels,
    enlarged,
    heat_levels,
    overlay,
)
from explorer.core.images import normalize_pixels


def test_levels_keep_the_positive_part_scaled_to_the_top_percentile() -> None:
    heat = np.linspace(-1.0, 1.0, 1000).reshape(10, 100)
    levels = heat_levels(heat)
    assert levels.min() == 0.0 and levels.max() == 1.0
    assert (levels[heat <= 0] == 0).all()
    # Below the 99.5th percentile the scale is linear in the heat.
    top = np.percentile(np.clip(heat, 0, None), 99.5)
    middle = (heat > 0) & (heat < top)
    np.testing.assert_allclose(levels[middle], heat[middle] / top, rtol=1e-6)
    assert not heat_levels(np.zeros((3, 3))).any()


def test_opacity_zero_leaves_the_input_and_full_opacity_paints_the_ramps_end() -> None:
    pixels = np.full((1, 4, 4), 100, np.uint8)
    heat = np.zeros((4, 4))
    heat[2, 3] = 5.0
    untouched = overlay(pixels, heat, opacity=0.0)
    assert (untouched == 100).all() and untouched.shape == (4, 4, 3)
    painted = overlay(pixels, heat, opacity=1.0)
    assert painted[2, 3].tolist() == colour_ramp(np.ones((1, 1)))[0, 0].tolist() == [255, 230, 0]
    assert (painted[0, 0] == 50).all()  # no heat: the input, dimmed by half at full opacity
    half = blend(
        np.zeros((1, 1, 3), np.uint8), np.full((1, 1, 3), 200, np.uint8), np.ones((1, 1)), 0.5
    )
    assert half.tolist() == [[[100, 100, 100]]]


def test_display_pixels_undo_the_normalisation_in_colour() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(3, 5, 6), dtype=np.uint8)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    shown = display_pixels(normalize_pixels(pixels, mean, std).numpy(), mean, std)
    assert shown.shape == (5, 6, 3)
    assert np.array_equal(shown, pixels.transpose(1, 2, 0))


def test_enlarging_repeats_whole_pixels_up_to_the_side_asked() -> None:
    small = np.arange(28 * 28 * 3, dtype=np.uint8).reshape(28, 28, 3)
    big = enlarged(small, 224)
    assert big.shape == (224, 224, 3)
    assert np.array_equal(big[::8, ::8], small)
    assert enlarged(np.zeros((300, 400, 3), np.uint8)).shape == (300, 400, 3)
