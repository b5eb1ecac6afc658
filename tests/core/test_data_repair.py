"""Repairing the download cache: a damaged file is moved aside and named, nothing the app did
not download is deleted, and only a verified replacement lets the damaged copy go."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from explorer.core.data import (
    DatasetError,
    RemoteFile,
    RemoteSource,
    dataset_status,
    download_dataset,
    load_dataset,
)
from tests.core.test_data_download import Serve, _refused_url
from tests.core.test_data_download import serve as serve  # the fixture
from tests.core.test_data_formats import idx_bytes, write_cifar

CIFAR_NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))
    monkeypatch.delenv("CNN_EXPLORER_DATA", raising=False)


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _cifar_cache(root: Path) -> Path:
    """The cache's CIFAR folder: six batches, data_batch_3 truncated, and a user's file."""
    folder = root / "cifar10" / "cifar-10-batches-py"
    write_cifar(folder)
    damaged = folder / "data_batch_3"
    damaged.write_bytes(damaged.read_bytes()[:700])
    (folder / "my notes.txt").write_text("mine")
    return folder


def _cifar_source(base_url: str, md5: str) -> RemoteSource:
    """The CIFAR-10 archive at `base_url`, expected to have the checksum `md5`."""
    return RemoteSource(
        (base_url,),
        (RemoteFile("cifar-10-python.tar.gz", md5),),
        archive_folder="cifar-10-batches-py",
    )


def _served_cifar(serve: Serve, good: Path) -> RemoteSource:
    """Good CIFAR batches written to `good`, served as the archive by a local server."""
    write_cifar(good)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name in CIFAR_NAMES:
            tar.add(good / name, arcname=f"cifar-10-batches-py/{name}")
    data = archive.getvalue()
    server = serve({"cifar-10-python.tar.gz": data})
    return _cifar_source(server.base_url, _md5(data))


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_ino, p.read_bytes()) for p in folder.iterdir()}


def test_damaged_cifar_batch_offline_is_moved_aside_and_nothing_is_deleted(
    tmp_path: Path,
) -> None:
    folder = _cifar_cache(tmp_path)
    damaged_bytes = (folder / "data_batch_3").read_bytes()
    before = _snapshot(folder)
    remote = _cifar_source(_refused_url(), "0" * 32)

    with pytest.raises(DatasetError) as caught:
        load_dataset("cifar10", data_dir=tmp_path, remote=remote)

    (aside,) = folder.glob("data_batch_3.damaged-*")
    message = str(caught.value)
    assert aside.name in message and str(folder / "data_batch_3") in message
    assert "offline" in message and "Nothing else" in message
    assert aside.read_bytes() == damaged_bytes
    after = _snapshot(folder)
    for name in [*CIFAR_NAMES, "my notes.txt"]:
        if name != "data_batch_3":
            assert after[name] == before[name], name  # same file, same bytes
    assert set(after) == (set(before) - {"data_batch_3"}) | {aside.name}
    status = dataset_status("cifar10", tmp_path)
    assert (status.source, status.label) == ("damaged", "damaged")
    assert aside.name in status.message and "moved aside" in status.message


def test_damaged_cifar_batch_is_replaced_alone_and_the_rest_is_kept(
    serve: Serve, tmp_path: Path
) -> None:
    folder = _cifar_cache(tmp_path / "data")
    before = _snapshot(folder)
    good = tmp_path / "good"
    remote = _served_cifar(serve, good)

    data = load_dataset("cifar10", data_dir=tmp_path / "data", remote=remote)

    assert (data.size("train"), data.size("test")) == (30, 6)
    after = _snapshot(folder)
    assert after["data_batch_3"][1] == (good / "data_batch_3").read_bytes()
    for name in [*CIFAR_NAMES, "my notes.txt"]:
        if name != "data_batch_3":
            assert after[name] == before[name], name  # the good batches were not rewritten
    assert not list(folder.glob("*.damaged-*"))  # gone once the replacement loaded
    assert not (folder.parent / "cifar-10-python.tar.gz").exists()


def _mnist_cache(root: Path) -> dict[str, bytes]:
    """Good uncompressed train images, a truncated uncompressed train labels file, and the
    test files as .gz; returns the published (.gz) files."""
    rng = np.random.default_rng(5)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(30) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(10) % 10).astype(np.uint8),
    }
    folder = root / "mnist"
    folder.mkdir(parents=True)
    published = {f"{stem}.gz": gzip.compress(idx_bytes(a)) for stem, a in arrays.items()}
    (folder / "train-images-idx3-ubyte").write_bytes(idx_bytes(arrays["train-images-idx3-ubyte"]))
    (folder / "train-labels-idx1-ubyte").write_bytes(
        idx_bytes(arrays["train-labels-idx1-ubyte"])[:20]
    )
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / f"{stem}.gz").write_bytes(published[f"{stem}.gz"])
    return published


def _mnist_remote(base_url: str, files: dict[str, bytes]) -> RemoteSource:
    remote = tuple(RemoteFile(name, _md5(data), len(data)) for name, data in files.items())
    return RemoteSource((base_url,), remote)


def test_truncated_mnist_labels_offline_keep_the_good_uncompressed_images(
    tmp_path: Path,
) -> None:
    published = _mnist_cache(tmp_path)
    folder = tmp_path / "mnist"
    images = folder / "train-images-idx3-ubyte"
    before = (images.stat().st_ino, images.read_bytes())

    with pytest.raises(DatasetError) as caught:
        load_dataset("mnist", data_dir=tmp_path, remote=_mnist_remote(_refused_url(), published))

    (aside,) = folder.glob("train-labels-idx1-ubyte.damaged-*")
    assert aside.name in str(caught.value) and "truncated" in str(caught.value)
    assert (images.stat().st_ino, images.read_bytes()) == before
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [images.name, aside.name, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    )


def test_truncated_mnist_labels_are_the_only_file_downloaded_again(
    serve: Serve, tmp_path: Path
) -> None:
    published = _mnist_cache(tmp_path)
    folder = tmp_path / "mnist"
    images = folder / "train-images-idx3-ubyte"
    before = (images.stat().st_ino, images.read_bytes())
    server = serve(published)

    data = load_dataset(
        "mnist", data_dir=tmp_path, remote=_mnist_remote(server.base_url, published)
    )

    assert (data.size("train"), data.size("test")) == (30, 10)
    assert data.labels("train").tolist() == [i % 10 for i in range(30)]
    assert [name for name, _ in server.requests] == ["train-labels-idx1-ubyte.gz"]
    assert (images.stat().st_ino, images.read_bytes()) == before
    assert not list(folder.glob("*.damaged-*"))


def test_damage_outside_the_download_cache_is_never_moved(tmp_path: Path) -> None:
    own = tmp_path / "MNIST" / "raw"
    published = _mnist_cache(tmp_path / "tmp")
    own.mkdir(parents=True)
    for path in (tmp_path / "tmp" / "mnist").iterdir():
        path.rename(own / path.name)

    with pytest.raises(DatasetError, match="truncated"):
        load_dataset("mnist", data_dir=tmp_path, remote=_mnist_remote(_refused_url(), published))

    assert (own / "train-labels-idx1-ubyte").is_file()
    assert not list(own.glob("*.damaged-*"))


def test_a_later_download_fills_the_gap_and_only_then_drops_the_damaged_copy(
    serve: Serve, tmp_path: Path
) -> None:
    folder = _cifar_cache(tmp_path / "data")
    offline = _cifar_source(_refused_url(), "0" * 32)
    with pytest.raises(DatasetError):
        load_dataset("cifar10", data_dir=tmp_path / "data", remote=offline)
    assert len(list(folder.glob("data_batch_3.damaged-*"))) == 1
    good = tmp_path / "good"
    remote = _served_cifar(serve, good)

    download_dataset("cifar10", data_dir=tmp_path / "data", remote=remote)

    assert (folder / "data_batch_3").read_bytes() == (good / "data_batch_3").read_bytes()
    assert not list(folder.glob("*.damaged-*"))
    assert (folder / "my notes.txt").read_text() == "mine"
    assert dataset_status("cifar10", tmp_path / "data").label == "cached"
