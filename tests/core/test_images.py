"""Image files and drawings converted to network inputs, with real files written by Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.core.images import ImageError, centre_drawing, load_image_file, normalize_pixels


@pytest.mark.parametrize("suffix", ["png", "jpg", "bmp"])
def test_an_rgb_file_of_another_size_becomes_grayscale_28(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    path = tmp_path / f"photo.{suffix}"
    Image.fromarray(pixels, "RGB").save(path)

    converted = load_image_file(path, (1, 28, 28))

    assert converted.pixels.shape == (1, 28, 28) and converted.pixels.dtype == np.uint8
    assert converted.description == f"photo.{suffix}: RGB 64×48 → grayscale 28×28"
    want = np.asarray(Image.open(path).convert("L").resize((28, 28), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(converted.pixels[0], want)


def test_a_grayscale_file_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "digit.png"
    gray = np.tile(np.arange(32, dtype=np.uint8) * 8, (32, 1))
    Image.fromarray(gray, "L").save(path)
    converted = load_image_file(path, (3, 32, 32))
    assert converted.pixels.shape == (3, 32, 32)
    for channel in converted.pixels:
        np.testing.assert_array_equal(channel, gray)
    assert converted.description == "digit.png: grayscale 32×32 → RGB 32×32"


def test_transparent_areas_become_black(tmp_path: Path) -> None:
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[2:5, 2:5, 3] = 255  # only this square is opaque
    path = tmp_path / "sticker.png"
    Image.fromarray(rgba, "RGBA").save(path)
    pixels = load_image_file(path, (1, 10, 10)).pixels[0]
    assert pixels[3, 3] == 255 and pixels[8, 8] == 0


def test_a_file_that_is_not_an_image_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(ImageError, match=r"notes\.png"):
        load_image_file(path, (1, 28, 28))


def test_a_drawing_is_scaled_into_the_middle_like_mnist() -> None:
    canvas = np.zeros((280, 280), np.uint8)
    canvas[10:110, 20:60] = 255  # a tall bar in the top-left corner
    converted = centre_drawing(canvas, (1, 28, 28))
    digit = converted.pixels[0].astype(np.float64)
    ys, _ = np.nonzero(digit > 0)
    assert ys.max() - ys.min() + 1 == 20  # the taller side fills 20 of 28
    cy = (digit.sum(axis=1) * np.arange(28)).sum() / digit.sum()
    cx = (digit.sum(axis=0) * np.arange(28)).sum() / digit.sum()
    assert abs(cy - 13.5) <= 1.0 and abs(cx - 13.5) <= 1.0
    assert "centred grayscale 28×28" in converted.description


def test_an_empty_drawing_is_black_in_every_channel() -> None:
    converted = centre_drawing(np.zeros((50, 50), np.uint8), (3, 32, 32))
    assert converted.pixels.shape == (3, 32, 32) and not converted.pixels.any()


def test_normalisation_matches_the_training_formula() -> None:
    pixels = np.array([[[0, 255], [51, 102]]], np.uint8)
    tensor = normalize_pixels(pixels, (0.1307,), (0.3081,))
    want = (torch.tensor([[[0.0, 1.0], [0.2, 0.4]]]) - 0.1307) / 0.3081
    assert tensor.dtype == torch.float32
    torch.testing.assert_close(tensor, want)
    with pytest.raises(ValueError, match="one mean and std per channel"):
        normalize_pixels(pixels, (0.5, 0.5), (0.2, 0.2))


def test_training_and_inspection_convert_a_transparent_png_the_same_way(tmp_path: Path) -> None:
    """A white mark on a transparent background: both paths see a white mark on black."""
    from explorer.core.data import load_dataset

    mark = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    mark.paste((255, 255, 255, 255), (3, 3, 7, 7))
    for label in ("a", "b"):
        (tmp_path / "train" / label).mkdir(parents=True)
        (tmp_path / "test" / label).mkdir(parents=True)
        mark.save(tmp_path / "train" / label / "0.png")
        mark.save(tmp_path / "test" / label / "0.png")
    dataset = load_dataset(f"folder:{tmp_path}", input_size=(10, 10), grayscale=True)
    trained_on = dataset.images("test")[0].numpy()
    inspected = load_image_file(tmp_path / "test" / "a" / "0.png", (1, 10, 10)).pixels
    assert trained_on[0, 0, 0] == 0 and trained_on[0, 5, 5] == 255
    assert np.array_equal(trained_on, inspected)
