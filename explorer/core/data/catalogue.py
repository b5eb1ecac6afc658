"""The catalogue: which datasets exist, what they contain, and where they are published.

Checksums are the official ones (the MD5 sums torchvision verifies against), so a file that
downloaded is byte-identical to the published one. Copies found on disk are not held to
them: they are trusted after format validation, since they may have been re-compressed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from explorer.core.data.errors import UnknownDatasetError
from explorer.core.data.synthetic_shapes import CLASS_NAMES as SHAPE_CLASS_NAMES

FOLDER_PREFIX = "folder:"


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name on the mirrors, its MD5 (hex) and its size in bytes.

    `size` is a hint for progress displays when a server sends no length; it is not checked.
    """

    name: str
    md5: str
    size: int | None = None


@dataclass(frozen=True)
class RemoteSource:
    """Where a dataset's files are published: base URLs tried in order, and the files.

    `archive_folder` names the folder inside a .tar.gz that holds the data (CIFAR-10); for
    plain files (the IDX .gz files) it is None and the files are kept as downloaded.
    """

    mirrors: tuple[str, ...]
    files: tuple[RemoteFile, ...]
    archive_folder: str | None = None

    @property
    def total_size(self) -> int | None:
        """Sum of the size hints in bytes, or None if any file lacks one."""
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)

    def with_mirrors(self, *mirrors: str) -> RemoteSource:
        """The same files from other base URLs (a local mirror, or a test server)."""
        return RemoteSource(tuple(mirrors), self.files, self.archive_folder)


@dataclass(frozen=True)
class DatasetEntry:
    """A catalogue entry. `kind` is "idx", "cifar", "shapes" or "folder".

    `input_shape` is (C, H, W) as stored; it is None for image folders, whose shape depends
    on the images and on the size asked for. Sizes are image counts per split.
    """

    name: str
    title: str
    kind: str
    input_shape: tuple[int, int, int] | None
    class_names: tuple[str, ...]
    train_size: int | None
    test_size: int | None
    description: str
    source: RemoteSource | None = None

    @property
    def downloadable(self) -> bool:
        return self.source is not None


IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _published_idx(*files: tuple[str, int]) -> tuple[RemoteFile, ...]:
    """The four IDX files as published, gzipped: the (MD5, size) of each, in `IDX_FILES`
    order (train images, train labels, test images, test labels)."""
    return tuple(
        RemoteFile(f"{stem}.gz", md5, size)
        for stem, (md5, size) in zip(IDX_FILES, files, strict=True)
    )


MNIST = DatasetEntry(
    name="mnist",
    title="MNIST handwritten digits",
    kind="idx",
    input_shape=(1, 28, 28),
    class_names=tuple(str(d) for d in range(10)),
    train_size=60_000,
    test_size=10_000,
    description="28×28 grayscale digits 0–9 (LeCun, Cortes and Burges).",
    source=RemoteSource(
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        files=_published_idx(
            ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
            ("d53e105ee54ea40749a09fcbcd1e9432", 28881),
            ("9fb629c4189551a2d022fa330f9573f3", 1648877),
            ("ec29112dd5afa0611ce80d1b7f02629c", 4542),
        ),
    ),
)

FASHION_MNIST = DatasetEntry(
    name="fashion-mnist",
    title="Fashion-MNIST clothing",
    kind="idx",
    input_shape=(1, 28, 28),
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    train_size=60_000,
    test_size=10_000,
    description="28×28 grayscale Zalando article images in 10 classes.",
    source=RemoteSource(
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            # The copy Keras downloads; used only if its bytes match the official checksums.
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        ),
        files=_published_idx(
            ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880),
            ("25c81989df183df01b3e8a0aad5dffbe", 29515),
            ("bef4ecab320f06d8554ea6380940ec79", 4422102),
            ("bb300cfdad3c16e7a12a480ee83cd310", 5148),
        ),
    ),
)

CIFAR10 = DatasetEntry(
    name="cifar10",
    title="CIFAR-10 small colour images",
    kind="cifar",
    input_shape=(3, 32, 32),
    class_names=(
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ),
    train_size=50_000,
    test_size=10_000,
    description="32×32 RGB photographs in 10 classes (Krizhevsky, 2009).",
    source=RemoteSource(
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        files=(
            RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", 170498071),
        ),
        archive_folder="cifar-10-batches-py",
    ),
)

SHAPES = DatasetEntry(
    name="shapes",
    title="Shapes",
    kind="shapes",
    input_shape=(1, 28, 28),
    class_names=SHAPE_CLASS_NAMES,
    train_size=12_000,
    test_size=2_000,
    description="Generated geometric shapes; needs no download and trains in seconds.",
)

FOLDER = DatasetEntry(
    name=FOLDER_PREFIX + "PATH",
    title="Image folder",
    kind="folder",
    input_shape=None,
    class_names=(),
    train_size=None,
    test_size=None,
    description="Your own folder: PNG/JPEG/BMP images, one sub-folder per class (optionally "
    "under train/ and test/), or MNIST-style IDX, CIFAR-10 or Keras mnist.npz files.",
)

CATALOGUE: tuple[DatasetEntry, ...] = (MNIST, FASHION_MNIST, CIFAR10, SHAPES, FOLDER)

_ALIASES = {
    "mnist": MNIST,
    "fashionmnist": FASHION_MNIST,
    "fashion": FASHION_MNIST,
    "cifar10": CIFAR10,
    "cifar": CIFAR10,
    "shapes": SHAPES,
}


def list_datasets() -> tuple[DatasetEntry, ...]:
    """Every catalogue entry, in display order; the image-folder entry is named "folder:PATH"."""
    return CATALOGUE


def valid_names() -> str:
    """The accepted names, for error messages."""
    return ", ".join(entry.name for entry in CATALOGUE)


def find_entry(name: str) -> DatasetEntry:
    """The entry for `name` (case, '-' and '_' ignored; "folder:PATH" for an image folder).

    Raises UnknownDatasetError, whose message lists the valid names.
    """
    if name.lower().startswith(FOLDER_PREFIX):
        return FOLDER
    entry = _ALIASES.get(_key(name))
    if entry is None:
        raise UnknownDatasetError(f"unknown dataset {name!r}; choose one of: {valid_names()}")
    return entry


def folder_path(name: str) -> Path:
    """The PATH of a "folder:PATH" name, with ~ expanded. Raises UnknownDatasetError if empty."""
    if not name.lower().startswith(FOLDER_PREFIX):
        raise UnknownDatasetError(f"{name!r} is not an image-folder name (folder:PATH)")
    raw = name[len(FOLDER_PREFIX) :].strip()
    if not raw:
        raise UnknownDatasetError("an image-folder dataset needs a path: folder:PATH")
    return Path(raw).expanduser()


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())
