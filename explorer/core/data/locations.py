"""Where datasets live on disk: the download cache, and the layouts torchvision and Keras use.

Search order for a dataset, first match wins:
1. the download cache, `<data dir>/<name>/` (CIFAR-10: `<data dir>/cifar10/cifar-10-batches-py/`);
2. the data dir itself, when it is the dataset's own folder (`.../mnist/`,
   `.../cifar-10-batches-py/`);
3. torchvision's layout under the data dir (`MNIST/raw/`, `FashionMNIST/raw/`,
   `cifar-10-batches-py/`);
4. Keras's cache (`$KERAS_HOME/datasets` or `~/.keras/datasets`): `mnist.npz`,
   `fashion-mnist/`, `cifar-10-batches-py/`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from explorer.core.data.catalogue import FASHION_MNIST, IDX_FILES, MNIST, DatasetEntry
from explorer.core.data.errors import DatasetError
from explorer.core.data.formats import IDX_LABELS_MAGIC, read_idx_header

DATA_DIR_ENV = "CNN_EXPLORER_DATA"
KERAS_HOME_ENV = "KERAS_HOME"
APP_DIR_NAME = "cnn-explorer"

CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_FILE = "test_batch"

# The first training labels of the published files: content, not a folder name, tells
# MNIST and Fashion-MNIST apart (their file names are the same).
FINGERPRINTS = {
    MNIST.name: bytes([5, 0, 4, 1, 9, 2, 1, 3, 1, 4, 3, 5, 3, 6, 1, 7]),
    FASHION_MNIST.name: bytes([9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9, 5, 5, 7, 9]),
}

# Folder names (compared without case, '-' or '_') that mark a folder as the dataset's own.
_OWN_FOLDER_NAMES = {"mnist": {"mnist"}, "fashion-mnist": {"fashionmnist", "fashion"}}
_TORCHVISION_NAMES = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}


@dataclass(frozen=True)
class LocalCopy:
    """Dataset files found on disk.

    `files` holds, for IDX data, the train images, train labels, test images and test labels
    (each raw or .gz); for a Keras `mnist.npz`, that one file; for CIFAR-10, the five training
    batches then the test batch. `layout` is "cache", "folder", "torchvision" or "keras";
    `managed` is True inside the download cache, where a damaged file may be replaced.
    """

    folder: Path
    layout: str
    files: tuple[Path, ...]
    managed: bool


def default_data_dir() -> Path:
    """The platform's per-user cache folder for datasets.

    Linux: `$XDG_CACHE_HOME/cnn-explorer/datasets` (default `~/.cache/...`); macOS:
    `~/Library/Caches/cnn-explorer/datasets`; Windows: `%LOCALAPPDATA%\\cnn-explorer\\datasets`.
    """
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")
    return base / APP_DIR_NAME / "datasets"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data folder to use: `data_dir` if given, else `$CNN_EXPLORER_DATA`, else the default."""
    if data_dir is not None and str(data_dir):
        return Path(data_dir).expanduser()
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return default_data_dir()


def keras_datasets_dir() -> Path:
    """Where Keras caches datasets: `$KERAS_HOME/datasets`, else `~/.keras/datasets`."""
    keras_home = os.environ.get(KERAS_HOME_ENV)
    return (Path(keras_home) if keras_home else Path.home() / ".keras") / "datasets"


def cache_folder(entry: DatasetEntry, data_dir: Path) -> Path:
    """The folder downloads of `entry` are written to (for CIFAR-10, the extracted folder)."""
    if entry.kind == "cifar":
        return data_dir / entry.name / CIFAR_FOLDER
    return data_dir / entry.name


def find_local_copy(entry: DatasetEntry, data_dir: Path) -> LocalCopy | None:
    """The first complete copy of `entry` in the search order above, or None.

    Only the presence of the files is checked here; their contents are validated on loading.
    """
    if entry.kind == "idx":
        return _find_idx(entry, data_dir)
    if entry.kind == "cifar":
        return _find_cifar(entry, data_dir)
    return None


def _find_idx(entry: DatasetEntry, data_dir: Path) -> LocalCopy | None:
    """The four IDX files in a place named for `entry`, or in the data dir itself, or in
    any sub-folder of it whose content (the first training labels) is `entry`'s."""
    keras = keras_datasets_dir()
    named: list[tuple[Path, str, bool]] = [
        (cache_folder(entry, data_dir), "cache", True),
        (data_dir / _TORCHVISION_NAMES[entry.name] / "raw", "torchvision", False),
    ]
    if entry.name == "fashion-mnist":
        named.append((keras / "fashion-mnist", "keras", False))
    for folder, layout, managed in named[:1]:
        files = idx_files_in(folder)
        if files is not None:
            return LocalCopy(folder, layout, files, managed)
    # The data dir itself, whatever its name, unless its name or content is the other
    # dataset's.
    files = idx_files_in(data_dir)
    key = _folder_key(data_dir)
    named_other = any(key in names for n, names in _OWN_FOLDER_NAMES.items() if n != entry.name)
    if files is not None and (
        key in _OWN_FOLDER_NAMES[entry.name]
        or (not named_other and identify_idx(files) in (entry.name, None))
    ):
        return LocalCopy(data_dir, "folder", files, False)
    for folder, layout, managed in named[1:]:
        files = idx_files_in(folder)
        if files is not None:
            return LocalCopy(folder, layout, files, managed)
    if entry.name == "mnist" and (keras / "mnist.npz").is_file():
        return LocalCopy(keras, "keras", (keras / "mnist.npz",), False)
    for folder in _sub_folders(data_dir):
        files = idx_files_in(folder)
        if files is not None and identify_idx(files) == entry.name:
            return LocalCopy(folder, "folder", files, False)
    return None


def identify_idx(files: tuple[Path, ...]) -> str | None:
    """ "mnist" or "fashion-mnist" when the training labels (`files[1]`) start as the
    published ones do, else None (the user's own IDX data, or damaged labels)."""
    try:
        _, start = read_idx_header(files[1], IDX_LABELS_MAGIC, peek=16)
    except DatasetError:
        return None
    for name, fingerprint in FINGERPRINTS.items():
        if start == fingerprint:
            return name
    return None


def _sub_folders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def idx_files_in(folder: Path) -> tuple[Path, ...] | None:
    """The four IDX files in `folder` (raw preferred over .gz, as it reads faster), or None."""
    found = []
    for stem in IDX_FILES:
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                found.append(candidate)
                break
        else:
            return None
    return tuple(found)


def _find_cifar(entry: DatasetEntry, data_dir: Path) -> LocalCopy | None:
    keras = keras_datasets_dir()
    candidates: list[tuple[Path, str, bool]] = [(cache_folder(entry, data_dir), "cache", True)]
    if data_dir.name == CIFAR_FOLDER:
        candidates.append((data_dir, "folder", False))
    candidates += [
        (data_dir / CIFAR_FOLDER, "torchvision", False),
        (keras / CIFAR_FOLDER, "keras", False),
        # Keras versions that extract into a folder named after the archive.
        (keras / CIFAR_FOLDER / CIFAR_FOLDER, "keras", False),
        (keras / f"{CIFAR_FOLDER}_extracted" / CIFAR_FOLDER, "keras", False),
    ]
    names = (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE)
    for folder, layout, managed in candidates:
        files = tuple(folder / name for name in names)
        if all(f.is_file() for f in files):
            return LocalCopy(folder, layout, files, managed)
    return None


def _folder_key(path: Path) -> str:
    return "".join(ch for ch in path.name.lower() if ch.isalnum())
