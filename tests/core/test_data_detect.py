"""Recognising data in a folder by its files, whatever the folder is called: IDX (MNIST and
Fashion-MNIST told apart by content), torchvision and Keras layouts, CIFAR-10 batches and
image class folders, each with what was found or why it cannot be used."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from explorer.core.data import dataset_status, inspect_folder, load_dataset
from tests.core.test_data_folder import make_folder, save_image
from tests.core.test_data_formats import IDX_STEMS, idx_bytes, write_cifar, write_idx_set


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))
    monkeypatch.delenv("CNN_EXPLORER_DATA", raising=False)


def _link_real(real: Path, folder: Path) -> Path:
    """The four real .gz files, linked (not copied) into `folder`."""
    folder.mkdir(parents=True)
    for stem in IDX_STEMS:
        (folder / f"{stem}.gz").symlink_to(real / f"{stem}.gz")
    return folder


def test_mnist_files_in_a_folder_of_any_name_are_the_data_dir(
    real_datasets: Path, tmp_path: Path
) -> None:
    folder = _link_real(real_datasets / "mnist", tmp_path / "downloads from work")

    data = load_dataset("mnist", data_dir=folder, download=False)

    assert (data.size("train"), data.size("test")) == (60_000, 10_000)
    assert data.labels("train")[:4].tolist() == [5, 0, 4, 1]
    # The same files are not taken for Fashion-MNIST: the labels say they are digits.
    assert not dataset_status("fashion-mnist", folder).available


def test_fashion_mnist_in_an_unnamed_sub_folder_is_found_by_content(
    real_datasets: Path, tmp_path: Path
) -> None:
    _link_real(real_datasets / "fashion-mnist", tmp_path / "data" / "zalando")
    _link_real(real_datasets / "mnist", tmp_path / "data" / "digits")

    fashion = load_dataset("fashion-mnist", data_dir=tmp_path / "data", download=False)
    digits = load_dataset("mnist", data_dir=tmp_path / "data", download=False)

    assert fashion.info.class_names[9] == "Ankle boot"
    assert fashion.labels("train")[:4].tolist() == [9, 0, 0, 3]
    assert digits.labels("train")[:4].tolist() == [5, 0, 4, 1]
    assert str(tmp_path / "data" / "zalando") in fashion.source


def test_real_idx_folders_are_described_with_their_counts(
    real_datasets: Path, tmp_path: Path
) -> None:
    _link_real(real_datasets / "fashion-mnist", tmp_path / "vision" / "FashionMNIST" / "raw")
    mnist = _link_real(real_datasets / "mnist", tmp_path / "stuff")

    assert inspect_folder(mnist).summary == "MNIST IDX: 60,000 train / 10,000 test, 28×28"
    found = inspect_folder(tmp_path / "vision")
    assert found.usable and found.dataset == "fashion-mnist"
    assert found.summary == (
        "Fashion-MNIST IDX: 60,000 train / 10,000 test, 28×28 (in FashionMNIST/raw/)"
    )


def test_a_chosen_idx_folder_trains_as_folder_path_and_its_status_agrees(
    tmp_path: Path,
) -> None:
    arrays = write_idx_set(tmp_path / "mine", train=30, test=10, size=12)

    status = dataset_status(f"folder:{tmp_path / 'mine'}")
    data = load_dataset(f"folder:{tmp_path / 'mine'}")

    assert status.available and status.label == "found"
    assert status.message == "IDX files: 30 train / 10 test, 12×12"
    assert data.info.input_shape == (1, 12, 12)
    assert data.labels("test").tolist() == arrays[IDX_STEMS[3]].tolist()
    assert data.info.class_names == tuple(str(i) for i in range(10))


def test_idx_files_whose_counts_disagree_are_unusable(tmp_path: Path) -> None:
    write_idx_set(tmp_path, train=30, test=10)
    labels = (np.arange(29) % 10).astype(np.uint8)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))

    found = inspect_folder(tmp_path)

    assert not found.usable
    assert found.problem is not None and "30 images but 29 labels" in found.problem
    assert not dataset_status(f"folder:{tmp_path}").available


def test_cifar_batches_are_recognised_in_their_folder_or_above_it(tmp_path: Path) -> None:
    write_cifar(tmp_path / "cifar-10-batches-py")

    above = inspect_folder(tmp_path)
    inside = inspect_folder(tmp_path / "cifar-10-batches-py")
    data = load_dataset(f"folder:{tmp_path}")

    assert above.usable and above.dataset == "cifar10"
    assert above.summary.endswith("(in cifar-10-batches-py/)")
    assert inside.usable and inside.summary.startswith("CIFAR-10 python batches")
    assert (data.size("train"), data.size("test")) == (30, 6)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    assert inspect_folder(tmp_path).problem == (
        f"{tmp_path / 'cifar-10-batches-py'} lacks test_batch of the CIFAR-10 python batches"
    )


def test_keras_mnist_npz_is_described_without_loading_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "mnist.npz",
        x_train=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        y_train=np.arange(20) % 10,
        x_test=rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        y_test=np.arange(5) % 10,
    )

    found = inspect_folder(tmp_path)

    assert found.summary == "Keras mnist.npz: 20 train / 5 test, 28×28"
    assert load_dataset(f"folder:{tmp_path}").size("test") == 5


def test_class_folders_are_counted_without_decoding(tmp_path: Path) -> None:
    make_folder(tmp_path, per_class=4)
    (tmp_path / "square" / "broken.png").write_bytes(b"counted, not opened")

    found = inspect_folder(tmp_path)

    assert found.usable
    assert found.summary == "3 class folders: circle 4, square 5, triangle 4"


def test_train_and_test_class_folders_show_both_counts(tmp_path: Path) -> None:
    for split, count in (("train", 3), ("test", 1)):
        for name in ("cat", "dog"):
            for i in range(count):
                save_image(tmp_path / split / name / f"{i}.png", 9)

    found = inspect_folder(tmp_path)

    assert found.summary == "train/ and test/ with 2 classes (train/test): cat 3/1, dog 3/1"


@pytest.mark.parametrize(
    ("layout", "problem"),
    [
        ({"cat/0.png"}, "1 class folder(s) with images (cat 1); it needs at least 2"),
        ({"cat/0.png", "dog/0.png"}, "too small to split into train and test"),
        ({"notes/readme.txt"}, "no IDX, CIFAR-10, Keras or image class folders in"),
    ],
)
def test_unusable_folders_say_why_before_training(
    tmp_path: Path, layout: set[str], problem: str
) -> None:
    for relative in layout:
        if relative.endswith(".png"):
            save_image(tmp_path / relative, 3)
        else:
            (tmp_path / relative).parent.mkdir(parents=True)
            (tmp_path / relative).write_text("x")

    found = inspect_folder(tmp_path)
    status = dataset_status(f"folder:{tmp_path}")

    assert not found.usable and found.problem is not None and problem in found.problem
    assert not status.available and problem in status.message
