"""The real MNIST and Fashion-MNIST files from $CNN_EXPLORER_TEST_DATA, loaded end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.core.data import dataset_status, load_dataset

MNIST_TRAIN_PER_CLASS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_PER_CLASS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def _no_keras(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))


def test_real_mnist_counts_labels_and_statistics(real_datasets: Path) -> None:
    data = load_dataset("mnist", data_dir=real_datasets, download=False)

    assert (data.size("train"), data.size("test")) == (60_000, 10_000)
    assert data.labels("train")[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert data.labels("test")[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert torch.bincount(data.labels("train")).tolist() == MNIST_TRAIN_PER_CLASS
    assert torch.bincount(data.labels("test")).tolist() == MNIST_TEST_PER_CLASS
    # The statistics every MNIST tutorial normalises with.
    assert data.mean[0] == pytest.approx(0.1307, abs=5e-5)
    assert data.std[0] == pytest.approx(0.3081, abs=5e-5)
    assert dataset_status("mnist", real_datasets).available


def test_real_fashion_mnist_is_balanced_with_its_class_names(real_datasets: Path) -> None:
    data = load_dataset("fashion-mnist", data_dir=real_datasets / "fashion-mnist", download=False)

    assert (data.size("train"), data.size("test")) == (60_000, 10_000)
    assert torch.bincount(data.labels("train")).tolist() == [6_000] * 10
    assert torch.bincount(data.labels("test")).tolist() == [1_000] * 10
    assert data.info.class_names[:3] == ("T-shirt/top", "Trouser", "Pullover")
    assert data.mean[0] == pytest.approx(0.2861, abs=5e-4)


def test_real_mnist_normalised_train_batches_have_zero_mean_unit_std(
    real_datasets: Path,
) -> None:
    data = load_dataset("mnist", data_dir=real_datasets, validation_fraction=0.1, seed=3)

    total = total_sq = count = 0.0
    for images, _ in data.batches("train", 4096):
        total += float(images.sum(dtype=torch.float64))
        total_sq += float(images.square().sum(dtype=torch.float64))
        count += images.numel()
    mean = total / count

    assert (data.size("train"), data.size("validation")) == (54_000, 6_000)
    assert mean == pytest.approx(0.0, abs=1e-5)
    assert (total_sq / count - mean**2) ** 0.5 == pytest.approx(1.0, abs=1e-4)


def test_real_mnist_resizes_like_pillow_and_converts_to_rgb(real_datasets: Path) -> None:
    size = 32  # LeNet-5's input
    native = load_dataset("mnist", data_dir=real_datasets)
    data = load_dataset("mnist", data_dir=real_datasets, input_size=size, grayscale=False)

    images = data.images("test")
    assert images.shape == (10_000, 3, size, size)
    assert torch.equal(images[:, 0], images[:, 2])
    for index in (0, 1, 9999):
        original = Image.fromarray(native.images("test")[index, 0].numpy())
        expected = np.asarray(original.resize((size, size), Image.Resampling.BILINEAR))
        difference = np.abs(images[index, 1].numpy().astype(int) - expected.astype(int))
        assert difference.max() <= 1
