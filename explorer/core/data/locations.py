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

from explorer.core.data.catalogue import IDX_FILES, DatasetEntry

DATA_DIR_ENV = "CNN_EXPLORER_DATA"
KERAS_HOME_ENV = "KERAS_HOME"
APP_DIR_NAME = "cnn-explorer"

CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_FILE = "test_batch"

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
    candidates: list[tuple[Path, str, bool]] = [(cache_folder(entry, data_dir), "cache", True)]
    if _folder_key(data_dir) in _OWN_FOLDER_NAMES[entry.name]:
        candidates.append((data_dir, "folder", False))
    candidates.append((data_dir / _TORCHVISION_NAMES[entry.name] / "raw", "torchvision", False))
    keras = keras_datasets_dir()
    if entry.name == "fashion-mnist":
        candidates.append((keras / "fashion-mnist", "keras", False))
    for folder, layout, managed in candidates:
        files = idx_files_in(folder)
        if files is not None:
            return LocalCopy(folder, layout, files, managed)
    if entry.name == "mnist" and (keras / "mnist.npz").is_file():
        return LocalCopy(keras, "keras", (keras / "mnist.npz",), False)
    return None


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
