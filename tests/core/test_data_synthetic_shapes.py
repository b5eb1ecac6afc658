"""The built-in shapes dataset: deterministic, balanced, fast, and learnable."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from explorer.core.data import DatasetError, load_dataset, make_shapes
from explorer.core.data.synthetic_shapes import CLASS_NAMES, render_split


def test_same_seed_gives_identical_bytes_and_another_seed_differs() -> None:
    first = make_shapes(500, 100, seed=7)
    again = make_shapes(500, 100, seed=7)
    other = make_shapes(500, 100, seed=8)

    assert torch.equal(first.train_images, again.train_images)
    assert torch.equal(first.test_labels, again.test_labels)
    assert not torch.equal(first.train_images, other.train_images)
    assert not torch.equal(first.train_images[:100], first.test_images)  # own stream per split


def test_default_set_is_balanced_28x28_grayscale_and_quick_to_make() -> None:
    start = time.perf_counter()
    shapes = make_shapes()
    elapsed = time.perf_counter() - start

    assert shapes.train_images.shape == (12_000, 1, 28, 28)
    assert shapes.train_images.dtype == torch.uint8
    assert torch.bincount(shapes.train_labels).tolist() == [1_200] * 10
    assert torch.bincount(shapes.test_labels).tolist() == [200] * 10
    assert shapes.class_names == CLASS_NAMES and len(set(CLASS_NAMES)) == 10
    # Typically ~0.2 s; the bound is loose for a busy shared machine, but a per-pixel
    # Python loop would take minutes.
    assert elapsed < 5.0


def test_shapes_fill_part_of_the_frame_over_a_dark_noisy_background() -> None:
    images, _ = render_split(1_000, 28, seed=0, stream=0)
    pixels = images[:, 0].astype(np.float32)

    bright = (pixels > 128).mean(axis=(1, 2))
    assert bright.min() > 0.02 and bright.max() < 0.7  # every image shows a shape, none floods
    border = np.concatenate([pixels[:, 0], pixels[:, -1], pixels[:, :, 0], pixels[:, :, -1]], 1)
    assert border.mean() < 40  # shapes stay inside the frame
    assert pixels[pixels < 100].std() > 3  # the background is noisy, not flat


def test_classes_differ_from_each_other_on_average() -> None:
    images, labels = render_split(2_000, 28, seed=1, stream=0)
    means = np.stack([images[labels == k, 0].mean(axis=0) for k in range(10)])
    distances = np.abs(means[:, None] - means[None, :]).mean(axis=(2, 3))

    off_diagonal = distances[~np.eye(10, dtype=bool)]
    assert off_diagonal.min() > 2.0  # no two classes share an average picture


def test_nearest_centroid_on_pixels_beats_chance_by_far() -> None:
    # A crude check that the labels match the pictures (a CNN reaches >95% in one epoch).
    train, train_labels = render_split(3_000, 28, seed=2, stream=0)
    test, test_labels = render_split(1_000, 28, seed=2, stream=1)
    centroids = np.stack([train[train_labels == k].mean(axis=0).ravel() for k in range(10)])
    flat = test.reshape(len(test), -1).astype(np.float32)
    predicted = ((flat[:, None, :] - centroids[None]) ** 2).sum(axis=2).argmin(axis=1)

    assert (predicted == test_labels).mean() > 0.4


@pytest.mark.parametrize(
    ("size", "grayscale", "shape"), [(32, True, (1, 32, 32)), (16, False, (3, 16, 16))]
)
def test_load_dataset_makes_shapes_at_the_requested_input(
    size: int, grayscale: bool, shape: tuple[int, int, int]
) -> None:
    data = load_dataset("shapes", input_size=size, grayscale=grayscale, seed=4)

    assert data.info.input_shape == shape
    assert (data.size("train"), data.size("test")) == (12_000, 2_000)
    assert data.info.name == "shapes" and data.info.num_classes == 10
    if shape[0] == 3:
        colours = data.images("train")[:200].float().mean(dim=(2, 3))
        assert (colours[:, 0] - colours[:, 1]).abs().max() > 10  # random colours, not gray


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"input_size": 4}, "at least 8 pixels"),
        ({"input_size": (0, 28)}, "positive int"),
        ({"validation_fraction": 1.0}, "validation fraction"),
    ],
)
def test_bad_arguments_are_dataset_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        load_dataset("shapes", **options)  # type: ignore[arg-type]
