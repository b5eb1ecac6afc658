"""Readers for the published file formats: IDX (MNIST, Fashion-MNIST), Keras's mnist.npz, and
CIFAR-10's pickled batches.

Every reader validates what it reads (magic numbers, declared sizes against actual sizes,
image shapes, label ranges, image/label counts) and raises DatasetError naming the file, so a
damaged or truncated file is never loaded silently.
"""

from __future__ import annotations

import gzip
import math
import pickle
import struct
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import numpy as np

from explorer.core.data.catalogue import DatasetEntry
from explorer.core.data.errors import DatasetError
from explorer.core.data.memory import check_fits
from explorer.core.data.splits import ImageSplits
from explorer.core.dataset_split import Split

GZIP_MAGIC = b"\x1f\x8b"
IDX_UBYTE = 0x08
IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (N, rows, columns)
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (N,)
CIFAR_IMAGE_SHAPE = (3, 32, 32)


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """The uint8 array in an IDX file (raw or gzip-compressed, told apart by content).

    The header's dimensions bound everything read: a header declaring more than fits in
    memory is refused before any allocation, and a file (or a gzip stream, however small
    the .gz) holding more bytes than the header declares is refused once one byte past it
    has been read, so a decompression bomb inflates no further than the stated size.
    Raises DatasetError naming `path` for a file that cannot be decompressed, has another
    magic number, or holds more or fewer bytes than its header declares.
    """
    dims = expected_magic & 0xFF
    header_size = 4 + 4 * dims
    try:
        with path.open("rb") as raw:
            compressed = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            stream: Any = gzip.GzipFile(fileobj=raw) if compressed else raw
            head = stream.read(header_size)
            shape = _idx_shape(path, head, expected_magic, header_size)
            payload = math.prod(shape)  # Python ints: a hostile header cannot overflow
            if not compressed:
                on_disk = path.stat().st_size - header_size
                if on_disk != payload:
                    _wrong_length(path, header_size + on_disk, header_size + payload, shape)
            check_fits(payload, f"{path} declares {' × '.join(map(str, shape))} values, which")
            # A bytearray the size the header states, filled in place: a writable buffer
            # that torch can own, with no second copy.
            data = bytearray(payload)
            got = stream.readinto(memoryview(data)) if payload else 0
            while got < payload:
                more = stream.readinto(memoryview(data)[got:])
                if not more:
                    break
                got += more
            extra = len(stream.read(1))
    except (OSError, EOFError, zlib.error) as error:
        # gzip checks its CRC and length, so damage anywhere in the file ends up here.
        raise DatasetError(f"{path} is damaged or truncated ({error})") from error
    if got < payload or extra:
        _wrong_length(path, header_size + got + extra, header_size + payload, shape, extra > 0)
    return np.frombuffer(data, np.uint8).reshape(shape)


def _idx_shape(path: Path, head: bytes, expected_magic: int, header_size: int) -> tuple[int, ...]:
    if len(head) < 4:
        raise DatasetError(f"{path} is empty or truncated ({len(head)} bytes): not an IDX file")
    (magic,) = struct.unpack(">I", head[:4])
    if magic != expected_magic:
        what = "image" if expected_magic == IDX_IMAGES_MAGIC else "label"
        raise DatasetError(
            f"{path} has magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
            f"for an IDX {what} file: wrong or damaged file"
        )
    if len(head) < header_size:
        raise DatasetError(f"{path} is truncated: its header is incomplete")
    return tuple(int(v) for v in struct.unpack(f">{(header_size - 4) // 4}I", head[4:]))


def _wrong_length(
    path: Path, actual: int, expected: int, shape: tuple[int, ...], longer: bool | None = None
) -> NoReturn:
    if longer is None:
        longer = actual > expected
    if longer:
        raise DatasetError(
            f"{path} is longer than its header declares: more than {expected:,} bytes "
            f"for shape {shape} (read no further)"
            if actual == expected + 1
            else f"{path} is longer than its header declares: {actual:,} bytes, expected "
            f"{expected:,} for shape {shape}"
        )
    raise DatasetError(
        f"{path} is truncated: {actual} bytes, expected {expected} for shape {shape}"
    )


def read_idx_header(
    path: Path, expected_magic: int, peek: int = 0
) -> tuple[tuple[int, ...], bytes]:
    """The dimensions an IDX file (raw or .gz) declares and its first `peek` payload bytes,
    reading nothing more. Raises DatasetError naming `path` for a wrong or short header."""
    header_size = 4 + 4 * (expected_magic & 0xFF)
    try:
        with path.open("rb") as raw:
            compressed = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            stream: Any = gzip.GzipFile(fileobj=raw) if compressed else raw
            shape = _idx_shape(path, stream.read(header_size), expected_magic, header_size)
            start = stream.read(peek) if peek else b""
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(f"{path} is damaged or truncated ({error})") from error
    return shape, start


def read_idx_magic(path: Path) -> int:
    """The magic number of an IDX file (raw or .gz), reading only its first bytes."""
    try:
        with path.open("rb") as raw:
            start = raw.read(2)
            raw.seek(0)
            stream: Any = gzip.GzipFile(fileobj=raw) if start == GZIP_MAGIC else raw
            head = stream.read(4)
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(f"cannot read {path}: {error}") from error
    if len(head) < 4:
        raise DatasetError(f"{path} is empty or truncated: not an IDX file")
    return int(struct.unpack(">I", head)[0])


def load_idx_splits(
    files: Sequence[Path],
    class_names: tuple[str, ...],
    image_size: tuple[int, int],
) -> ImageSplits:
    """Train and test splits from the four IDX files (train images, train labels, test
    images, test labels), checking image size (H, W), counts and label range."""
    train_images_path, train_labels_path, test_images_path, test_labels_path = files
    train_images, train_labels = _read_idx_pair(
        train_images_path, train_labels_path, len(class_names), image_size
    )
    test_images, test_labels = _read_idx_pair(
        test_images_path, test_labels_path, len(class_names), image_size
    )
    return ImageSplits.from_numpy(
        train_images, train_labels, test_images, test_labels, class_names=class_names
    )


def _read_idx_pair(
    images_path: Path, labels_path: Path, num_classes: int, image_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    labels = read_idx(labels_path, IDX_LABELS_MAGIC)
    check_images(images_path, images, image_size)
    check_labels(labels_path, labels, num_classes)
    _check_counts(images_path, len(images), labels_path, len(labels))
    return images, labels


def read_dataset_files(entry: DatasetEntry, files: Sequence[Path]) -> ImageSplits:
    """The splits of catalogue entry `entry` (kind "idx" or "cifar") from its files: the
    four IDX files, a Keras mnist.npz alone, or the five CIFAR-10 training batches and the
    test batch."""
    assert entry.input_shape is not None
    image_size = (entry.input_shape[1], entry.input_shape[2])
    if entry.kind == "cifar":
        return load_cifar_batches(files[:-1], files[-1], entry.class_names)
    if files[0].suffix == ".npz":
        return load_keras_npz(files[0], entry.class_names, image_size)
    return load_idx_splits(files, entry.class_names, image_size)


def load_keras_npz(
    path: Path, class_names: tuple[str, ...], image_size: tuple[int, int]
) -> ImageSplits:
    """Keras's `mnist.npz`: arrays x_train, y_train, x_test, y_test (images (N, H, W) uint8)."""
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise DatasetError(f"{path} lacks the arrays {', '.join(missing)}")
            # numpy allocates what each .npy header declares: check that before reading.
            declared = npz_array_shapes(path, keys)
            check_fits(
                sum(math.prod(shape) * itemsize for shape, itemsize in declared.values()),
                f"{path} declares arrays "
                + ", ".join(f"{k} {'×'.join(map(str, v[0]))}" for k, v in declared.items())
                + ", which",
            )
            x_train, y_train, x_test, y_test = (archive[k] for k in keys)
    except (OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile) as error:
        raise DatasetError(f"cannot read {path}: {error}") from error
    for x, y, split in ((x_train, y_train, Split.TRAIN), (x_test, y_test, Split.TEST)):
        if x.dtype != np.uint8:
            raise DatasetError(f"{path}: x_{split} is {x.dtype}, expected uint8 images")
        check_images(path, x, image_size, f"x_{split}")
        check_labels(path, y.reshape(-1), len(class_names), f"y_{split}")
        _check_counts(path, len(x), path, y.size)
    return ImageSplits.from_numpy(x_train, y_train, x_test, y_test, class_names=class_names)


def npz_array_shapes(path: Path, names: Sequence[str]) -> dict[str, tuple[tuple[int, ...], int]]:
    """Each array's declared shape and item size in bytes, from the .npy headers inside
    the .npz at `path`, reading no array data. Raises OSError, ValueError or
    zipfile.BadZipFile for a file that is not a readable .npz (KeyError: no such array)."""
    shapes = {}
    with zipfile.ZipFile(path) as archive:
        for name in names:
            with archive.open(f"{name}.npy") as member:
                version = np.lib.format.read_magic(member)
                reader = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = reader(member)
                shapes[name] = (tuple(int(v) for v in shape), int(dtype.itemsize))
    return shapes


def load_cifar_batches(
    train_files: Sequence[Path], test_file: Path, class_names: tuple[str, ...]
) -> ImageSplits:
    """CIFAR-10 from its pickled batches: dicts with `data` (N, 3072) uint8, channel-major
    RGB rows, and `labels` (N ints); keys may be bytes (Python 2 pickles) or str."""
    train = [read_cifar_batch(path, len(class_names)) for path in train_files]
    test_images, test_labels = read_cifar_batch(test_file, len(class_names))
    return ImageSplits.from_numpy(
        np.concatenate([images for images, _ in train]),
        np.concatenate([labels for _, labels in train]),
        test_images,
        test_labels,
        class_names=class_names,
    )


def read_cifar_batch(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 from one CIFAR-10 batch file."""
    try:
        with path.open("rb") as handle:
            content = _SafeUnpickler(handle, encoding="latin1").load()
    except DatasetError:
        raise
    except Exception as error:
        # A damaged pickle fails in many ways (EOF, bad opcode, bad array state); all mean
        # the same thing to the user.
        raise DatasetError(f"{path} is not a readable CIFAR-10 batch: {error}") from error
    if not isinstance(content, dict):
        raise DatasetError(f"{path} holds a {type(content).__name__}, expected a dict")
    entries = {_text(key): value for key, value in content.items()}
    if "data" not in entries or "labels" not in entries:
        raise DatasetError(f"{path} lacks 'data' or 'labels': not a CIFAR-10 batch")
    data, labels = entries["data"], np.asarray(entries["labels"])
    size = int(np.prod(CIFAR_IMAGE_SHAPE))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DatasetError(f"{path}: 'data' must be a uint8 array (N, {size})")
    if data.shape[1] != size:
        raise DatasetError(f"{path}: images have {data.shape[1]} values, expected {size}")
    check_labels(path, labels, num_classes)
    _check_counts(path, data.shape[0], path, labels.size)
    return data.reshape(-1, *CIFAR_IMAGE_SHAPE), labels.astype(np.int64)


class _SafeUnpickler(pickle.Unpickler):
    """Loads only numpy arrays, lists, dicts and strings: a pickle found on disk must not be
    able to run code."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise DatasetError(f"refusing to load {module}.{name} from a dataset pickle")
        if module == "_codecs":
            import codecs

            return codecs.encode
        if module == "numpy":
            return getattr(np, name)
        # numpy 2 moved numpy.core to numpy._core; resolve either name without importing
        # the deprecated alias.
        import importlib

        core = "numpy._core" if hasattr(np, "_core") else "numpy.core"
        return getattr(importlib.import_module(f"{core}.{module.rsplit('.', 1)[1]}"), name)


def check_images(
    path: Path, images: np.ndarray, size: tuple[int, int], what: str = "images"
) -> None:
    """Raise DatasetError naming `path` unless `images` is (N, H, W) with (H, W) == `size`."""
    if images.ndim != 3 or tuple(images.shape[1:]) != size:
        raise DatasetError(
            f"{path}: {what} have shape {tuple(images.shape[1:])}, expected {size[0]}×{size[1]}"
        )


def check_labels(path: Path, labels: np.ndarray, num_classes: int, what: str = "labels") -> None:
    """Raise DatasetError naming `path` unless `labels` is a vector in 0..num_classes-1."""
    if labels.ndim != 1:
        raise DatasetError(f"{path}: {what} must be a vector, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(
            f"{path}: {what} range {labels.min()}..{labels.max()}, expected 0..{num_classes - 1}"
        )


def _check_counts(images_path: Path, n_images: int, labels_path: Path, n_labels: int) -> None:
    if n_images != n_labels:
        where = (
            str(images_path) if images_path == labels_path else f"{images_path} and {labels_path}"
        )
        raise DatasetError(f"{where}: {n_images} images but {n_labels} labels")


def _text(key: object) -> str:
    return key.decode("latin1") if isinstance(key, bytes) else str(key)
