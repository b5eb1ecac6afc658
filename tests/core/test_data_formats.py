"""File formats and on-disk layouts: IDX (raw and gz), torchvision and Keras layouts,
Keras's mnist.npz, CIFAR-10 pickles, and the errors for damaged files."""

from __future__ import annotations

import gzip
import os
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from explorer.core.data import (
    DatasetError,
    dataset_status,
    default_data_dir,
    load_dataset,
    resolve_data_dir,
)
from explorer.core.data.formats import IDX_IMAGES_MAGIC, read_idx

IDX_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@pytest.fixture(autouse=True)
def keras_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    home = tmp_path / "keras-home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.delenv("CNN_EXPLORER_DATA", raising=False)
    return home


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file: magic (0x0800 | ndim unless given), big-endian sizes, then the bytes."""
    magic = 0x0800 | array.ndim if magic is None else magic
    header = np.array([magic, *array.shape], ">u4").tobytes()
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def write_idx_set(
    folder: Path,
    *,
    train: int = 30,
    test: int = 10,
    gz: bool = True,
    size: int = 28,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Writes the four IDX files; labels cycle 0..9 starting at the seed."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (train, size, size), dtype=np.uint8),
        "train-labels-idx1-ubyte": ((np.arange(train) + seed) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (test, size, size), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": ((np.arange(test) + seed) % 10).astype(np.uint8),
    }
    for stem, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return arrays


# --- IDX ---------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_load_raw_or_gzipped(tmp_path: Path, gz: bool) -> None:
    arrays = write_idx_set(tmp_path / "mnist", gz=gz)

    data = load_dataset("mnist", data_dir=tmp_path, download=False)

    assert data.images("train")[:, 0].numpy().tobytes() == arrays[IDX_STEMS[0]].tobytes()
    assert data.labels("test").tolist() == arrays[IDX_STEMS[3]].tolist()
    assert data.info.input_shape == (1, 28, 28)


def test_wrong_magic_number_names_the_file(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "mnist")
    bad = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(idx_bytes(np.zeros(30, np.uint8), magic=0x0803)))

    with pytest.raises(DatasetError, match="magic number 0x00000803") as caught:
        load_dataset("mnist", data_dir=tmp_path, download=False)

    assert str(bad) in str(caught.value)
    assert dataset_status("mnist", tmp_path).source == "damaged"


def test_images_and_labels_of_different_counts_name_both_files(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "mnist")
    labels = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(idx_bytes(np.zeros(9, np.uint8))))

    with pytest.raises(DatasetError, match="10 images but 9 labels") as caught:
        load_dataset("mnist", data_dir=tmp_path, download=False)

    assert "t10k-images-idx3-ubyte.gz" in str(caught.value) and str(labels) in str(caught.value)


def test_images_of_the_wrong_shape_are_rejected(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "fashion-mnist", size=32)

    with pytest.raises(DatasetError, match=re.escape("(32, 32), expected 28×28")) as caught:
        load_dataset("fashion-mnist", data_dir=tmp_path, download=False)

    assert "train-images-idx3-ubyte.gz" in str(caught.value)


def test_truncated_files_are_detected(tmp_path: Path) -> None:
    raw = tmp_path / "images"
    raw.write_bytes(idx_bytes(np.zeros((5, 28, 28), np.uint8))[:-100])
    packed = tmp_path / "images.gz"
    packed.write_bytes(gzip.compress(idx_bytes(np.zeros((5, 28, 28), np.uint8)))[:-20])

    with pytest.raises(DatasetError, match="truncated: 3836 bytes, expected 3936"):
        read_idx(raw, IDX_IMAGES_MAGIC)
    with pytest.raises(DatasetError, match="damaged or truncated"):
        read_idx(packed, IDX_IMAGES_MAGIC)


def test_labels_outside_the_classes_are_rejected(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "mnist")
    bad = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(idx_bytes(np.full(30, 12, np.uint8))))

    with pytest.raises(DatasetError, match=re.escape("range 12..12, expected 0..9")):
        load_dataset("mnist", data_dir=tmp_path, download=False)


# --- layouts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "folder"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")]
)
def test_torchvision_layout_is_found(tmp_path: Path, name: str, folder: str) -> None:
    # torchvision keeps both the .gz and the extracted files in <root>/<Name>/raw/.
    raw = tmp_path / folder / "raw"
    arrays = write_idx_set(raw, gz=False)
    write_idx_set(raw, gz=True)

    status = dataset_status(name, tmp_path)
    data = load_dataset(name, data_dir=tmp_path, download=False)

    assert (status.available, status.source, status.location) == (True, "torchvision", raw)
    assert data.labels("train").tolist() == arrays[IDX_STEMS[1]].tolist()


def test_the_download_cache_comes_before_other_layouts(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "MNIST" / "raw", seed=1)
    cached = write_idx_set(tmp_path / "mnist", seed=2)

    data = load_dataset("mnist", data_dir=tmp_path, download=False)

    assert dataset_status("mnist", tmp_path).source == "cache"
    assert data.labels("train").tolist() == cached[IDX_STEMS[1]].tolist()


def test_a_folder_named_for_the_dataset_can_be_the_data_dir(tmp_path: Path) -> None:
    arrays = write_idx_set(tmp_path / "my-fashion-mnist-copy" / "Fashion-MNIST")

    data = load_dataset(
        "fashion-mnist", data_dir=tmp_path / "my-fashion-mnist-copy" / "Fashion-MNIST"
    )

    assert data.labels("test").tolist() == arrays[IDX_STEMS[3]].tolist()
    # ...but it is not taken for another dataset.
    assert not dataset_status(
        "mnist", tmp_path / "my-fashion-mnist-copy" / "Fashion-MNIST"
    ).available


def test_keras_mnist_npz_is_found(tmp_path: Path, keras_home: Path) -> None:
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    y_train = np.arange(20, dtype=np.uint8) % 10
    (keras_home / "datasets").mkdir(parents=True)
    np.savez(
        keras_home / "datasets" / "mnist.npz",
        x_train=x_train,
        y_train=y_train,
        x_test=x_train[:5],
        y_test=y_train[:5],
    )

    status = dataset_status("mnist", tmp_path / "empty")
    data = load_dataset("mnist", data_dir=tmp_path / "empty", download=False)

    assert (status.source, status.location) == ("keras", keras_home / "datasets" / "mnist.npz")
    assert data.images("train")[:, 0].numpy().tobytes() == x_train.tobytes()
    assert data.labels("test").tolist() == [0, 1, 2, 3, 4]


def test_keras_npz_without_the_expected_arrays_is_rejected(
    tmp_path: Path, keras_home: Path
) -> None:
    (keras_home / "datasets").mkdir(parents=True)
    bad = keras_home / "datasets" / "mnist.npz"
    np.savez(bad, images=np.zeros((2, 28, 28), np.uint8))

    with pytest.raises(DatasetError, match="lacks the arrays x_train, y_train, x_test, y_test"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_keras_fashion_mnist_folder_is_found(tmp_path: Path, keras_home: Path) -> None:
    arrays = write_idx_set(keras_home / "datasets" / "fashion-mnist")

    data = load_dataset("fashion-mnist", data_dir=tmp_path, download=False)

    assert dataset_status("fashion-mnist", tmp_path).source == "keras"
    assert data.labels("train").tolist() == arrays[IDX_STEMS[1]].tolist()
    assert data.info.class_names[0] == "T-shirt/top" and data.info.class_names[9] == "Ankle boot"


def test_missing_dataset_without_download_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="datasets download mnist"):
        load_dataset("mnist", data_dir=tmp_path, download=False)
    status = dataset_status("mnist", tmp_path)
    assert not status.available and status.location == tmp_path / "mnist"
    assert "12 MB" in status.message


# --- CIFAR-10 ---------------------------------------------------------------------------


def write_cifar(folder: Path, *, per_batch: int = 6, str_keys: bool = False) -> np.ndarray:
    """The six batch files and batches.meta, as pickled dicts; returns all images in order,
    (N, 3072) channel-major rows."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    rows = []
    for index, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [(index + j) % 10 for j in range(per_batch)]
        batch: dict[object, object] = (
            {"batch_label": name, "data": data, "labels": labels}
            if str_keys
            else {b"batch_label": name.encode(), b"data": data, b"labels": labels}
        )
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        rows.append(data)
    meta = {b"label_names": [b"airplane"], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return np.concatenate(rows)


@pytest.mark.parametrize("str_keys", [False, True])
def test_cifar_batches_load_channel_major_rgb(tmp_path: Path, str_keys: bool) -> None:
    rows = write_cifar(tmp_path / "cifar-10-batches-py", str_keys=str_keys)

    data = load_dataset("cifar10", data_dir=tmp_path, download=False)

    assert dataset_status("cifar10", tmp_path).source == "torchvision"
    assert (data.size("train"), data.size("test")) == (30, 6)
    image = data.images("train")[7].numpy()  # second batch, second image
    assert image.shape == (3, 32, 32)
    assert image[0, 0, 0] == rows[7][0]  # red, top-left
    assert image[1, 0, 5] == rows[7][1024 + 5]  # green, first row
    assert image[2, 31, 31] == rows[7][3071]  # blue, bottom-right
    assert data.labels("train")[:7].tolist() == [0, 1, 2, 3, 4, 5, 1]
    assert data.info.class_names[:2] == ("airplane", "automobile")


def test_cifar_in_the_keras_cache_is_found(tmp_path: Path, keras_home: Path) -> None:
    write_cifar(keras_home / "datasets" / "cifar-10-batches-py")

    assert dataset_status("cifar10", tmp_path).source == "keras"
    assert load_dataset("cifar10", data_dir=tmp_path, download=False).size("test") == 6


def test_cifar_batch_of_the_wrong_width_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder)
    bad = {b"data": np.zeros((6, 1024), np.uint8), b"labels": [0] * 6}
    (folder / "data_batch_3").write_bytes(pickle.dumps(bad))

    with pytest.raises(DatasetError, match="images have 1024 values, expected 3072") as caught:
        load_dataset("cifar10", data_dir=tmp_path, download=False)

    assert str(folder / "data_batch_3") in str(caught.value)


def test_cifar_pickle_cannot_run_code(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Payload()}))

    with pytest.raises(DatasetError, match="refusing to load"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert not marker.exists()


def test_truncated_cifar_batch_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder)
    batch = folder / "data_batch_1"
    batch.write_bytes(batch.read_bytes()[:1000])

    with pytest.raises(DatasetError, match="not a readable CIFAR-10 batch") as caught:
        load_dataset("cifar10", data_dir=tmp_path, download=False)

    assert str(batch) in str(caught.value)


# --- where the data folder is -----------------------------------------------------------


def test_data_dir_comes_from_the_option_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_data_dir(None) == default_data_dir()
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(None) == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "option") == tmp_path / "option"


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {"XDG_CACHE_HOME": "/xdg"}, "/xdg/cnn-explorer/datasets"),
        ("linux", {}, "~/.cache/cnn-explorer/datasets"),
        ("darwin", {}, "~/Library/Caches/cnn-explorer/datasets"),
        ("win32", {"LOCALAPPDATA": "/appdata"}, "/appdata/cnn-explorer/datasets"),
    ],
)
def test_default_data_dir_follows_the_platform(
    monkeypatch: pytest.MonkeyPatch, platform: str, env: dict[str, str], expected: str
) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("LOCALAPPDATA", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    assert default_data_dir() == Path(expected).expanduser()
